// `kind: openapi`: an OpenAPI 3.0/3.1 or Swagger 2.0 description's operations as tools.
//
//   auto spec = load_spec_file("jira.openapi.json");               // JSON or YAML
//   auto operations = import_openapi(*spec, {"createIssue"});      // empty list: all
//   // each: a tool name, method, path template, where each argument goes, one JSON Schema
//
// Import rules: a tool's name is the operationId, else method and path ("get_users_id"), made
// fit for every vendor ([A-Za-z0-9_-], at most 64) and unique ("_2", "_3" on a clash). Path-
// and operation-level parameters ($ref resolved) and the request body become one object
// schema: each parameter a property (its `in` remembered), the body a property "body". $refs
// are resolved inline; a $ref met again inside itself (a recursive schema), or deeper than
// kMaxRefDepth, becomes an open object, so every schema is finite.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "api/chat.h"
#include "core/result.h"

namespace keel {

struct OpenApiParameter {
  std::string name;
  std::string in;  // path | query | header | cookie | body (the request body) | formData
  bool required = false;
};

struct OpenApiOperation {
  std::string name;          // the tool name
  std::string operation_id;  // as the spec gives it ("" when none)
  std::string method;        // GET, POST, ...
  std::string path;          // "/rest/api/3/issue/{issueIdOrKey}"
  std::vector<OpenApiParameter> parameters;
  std::string body_type;  // the request body's media type ("" when none)
  ToolSpec spec;          // name, description, parameters (JSON Schema)
};

// The default server URL the spec names (3.x servers[0], 2.0 schemes+host+basePath); "" if none.
std::string openapi_server_url(const Json& spec);

// Whether to import an operation, by its method (upper case) and path as the spec writes them.
using RouteFilter = std::function<bool(const std::string& method, const std::string& path)>;

// Every operation (or only those whose operationId or tool name `allow` lists, and only those
// `routes` keeps when given). An unknown name in `allow` is an error naming it; so is a
// document that is neither OpenAPI 3 nor Swagger 2. Only the path items that can hold a wanted
// operation have their $refs resolved.
Result<std::vector<OpenApiOperation>> import_openapi(const Json& spec,
                                                     const std::vector<std::string>& allow,
                                                     const RouteFilter& routes = {});

// A spec file as JSON: .json parsed as JSON, anything else as YAML (JSON is YAML too).
Result<Json> load_spec_file(const std::string& path);

}  // namespace keel
