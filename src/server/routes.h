// keel's routes as one table (DESIGN.md "src/server/"): method + path pattern → handler, with
// what the route needs around it (a key, a request record, a JSON body) and the API whose shape
// its errors take. App::handle looks a request up here; each API family's handlers live in a file
// of their own in src/server/.
//
//   RouteMatch m = match_route(routes, "/v1/models/gpt-4o", bhttp::verb::get);
//   // m.route: the GET /v1/models/{model...} row; m.params[0] == "gpt-4o"
//
// A pattern is a path whose segments are literal or "{name}" (one non-empty segment) or, last,
// "{name...}" (the rest of the path, slashes included, non-empty). Literal rows are listed before
// pattern rows that could shadow them.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/server.h"

namespace keel {

// Which API a route speaks, for its error bodies and stream format.
// kOpenAICompletions: /v1/completions (OpenAI's errors, text_completion objects); kJsonRpc: /mcp
// (MCP's JSON-RPC).
enum class ApiFormat { kOpenAI, kAnthropic, kJsonRpc, kOpenAICompletions };

enum class Access {
  kOpen,    // /healthz, the console's files: no key
  kApiKey,  // one of `api_keys` when any are configured
  kAdmin,   // /admin/...: one of `admin_keys` (server/admin.h says when it is open or off)
};

class App;
struct RouteCall;

struct Route {
  std::string_view pattern;
  std::vector<bhttp::verb> methods;  // GET also answers HEAD
  Access access = Access::kApiKey;
  ApiFormat format = ApiFormat::kOpenAI;
  // The format follows the client: Anthropic's SDKs send anthropic-version on every request,
  // OpenAI's never do (GET /v1/models serves both APIs).
  bool format_by_client = false;
  // A request record (the log, metrics, the in-flight limit) and a JSON body are required.
  bool logged = false;
  Task<void> (App::*handler)(RouteCall&) = nullptr;
};

struct RouteMatch {
  const Route* route = nullptr;          // null: no row has this path, or none this method
  bool path_known = false;               // some row has this path (a wrong method is then a 405)
  const Route* path_route = nullptr;     // the first row with this path, for access and format
  std::vector<std::string_view> params;  // the pattern's {names}, in order, into the path
  std::string allow;                     // "GET, HEAD, DELETE": the methods this path takes
};

// The rows of a table, indexed so that a lookup looks only at the rows that could fit a path:
// a path equal to a literal pattern finds, by one hash lookup, every row that fits it (worked out
// at construction); any other path is tried against the rows whose literal prefix (the pattern up
// to its first "{") starts it. A lookup answers as a scan of every row in order would. Built once
// per table (App keeps one for its routes()); a lookup allocates nothing unless the path has
// {params} or the method is wrong (the Allow list).
class RouteTable {
 public:
  explicit RouteTable(std::span<const Route> routes);
  RouteMatch match(std::string_view path, bhttp::verb method) const;

 private:
  std::span<const Route> routes_;
  std::unordered_map<std::string_view, std::vector<uint32_t>> literal_;  // pattern -> rows
  std::vector<std::pair<std::string_view, uint32_t>> patterned_;         // literal prefix, row
};

// One lookup in a table indexed for it (tests, rare paths); App keeps a RouteTable.
RouteMatch match_route(std::span<const Route> routes, std::string_view path, bhttp::verb method);

// The format of a request's errors on `route` (format_by_client decided by the header fields).
ApiFormat route_format(const Route& route, const bhttp::fields& fields);

}  // namespace keel
