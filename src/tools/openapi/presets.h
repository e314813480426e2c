// OpenAPI presets (`preset: jira | trello | servicenow | sap` on a `kind: openapi` toolset): the
// operations of a known API that a copilot needs (search, read, create, comment, transition),
// under names and descriptions a model can act on, and the auth scheme the API documents. The
// user still gives the spec (keel ships none); the preset picks operations out of it by method
// and path, so it works on any edition of the spec that has them.
//
//   const OpenApiPreset* jira = find_openapi_preset("jira");
//   auto all = import_openapi(spec, {}, preset_routes(*jira));
//   auto picked = select_preset_operations(*jira, *all);   // .operations, .missing
//   Status auth = check_preset_auth(*jira, config.auth);
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/result.h"
#include "tools/openapi/openapi.h"

namespace keel {

struct PresetOperation {
  const char* tool;     // the tool's name ("jira_search_issues")
  const char* service;  // the API of the vendor it belongs to ("" when the vendor has one)
  // Where the operation lives, first found wins ("GET /rest/api/3/search/jql", then the
  // deprecated "GET /rest/api/3/search"); path parameters' names do not matter.
  std::vector<const char*> candidates;
  const char* description;  // for the model: what it does and what to send
};

struct OpenApiPreset {
  const char* name;
  std::vector<const char*> auth_types;  // what the API documents ("basic", "bearer", "api_key")
  const char* auth_hint;                // the config that fits, for error messages
  // api_key auth: in `query`, with exactly these names (Trello's key and token).
  std::vector<const char*> query_keys;
  // SAP Gateway refuses a write without an X-CSRF-Token fetched (with its session cookies) by a
  // GET carrying `X-CSRF-Token: Fetch`.
  bool csrf = false;
  std::vector<PresetOperation> operations;
};

const OpenApiPreset* find_openapi_preset(std::string_view name);

struct PresetSelection {
  std::vector<OpenApiOperation> operations;  // renamed and described as the preset says
  std::vector<std::string> missing;          // "jira_search_issues (GET /rest/api/3/search/jql)"
};

// Keeps the operations at the preset's routes (any candidate), so that importing a large spec
// for a preset resolves only those: import_openapi(spec, {}, preset_routes(*jira)).
RouteFilter preset_routes(const OpenApiPreset& preset);

// Picks the preset's operations out of a spec's imported operations. Only services the spec
// has at least one operation of count (SAP's business partner and sales order APIs are two
// specs); an operation of such a service that the spec lacks is in `missing`. A spec with none
// of the preset's operations is an error.
Result<PresetSelection> select_preset_operations(const OpenApiPreset& preset,
                                                 const std::vector<OpenApiOperation>& all);

// The toolset's auth against what the API documents: a missing or other scheme is an error
// saying what to write.
Status check_preset_auth(const OpenApiPreset& preset, const ToolsetConfig::Auth& auth);

}  // namespace keel
