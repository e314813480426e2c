#include "server/routes.h"

#include <algorithm>

namespace keel {

namespace {

// Whether `path` fits `pattern`; appends the values of its {names} to `params`.
bool fits(std::string_view pattern, std::string_view path, std::vector<std::string_view>& params) {
  if (pattern == path) return true;  // the common case: a literal route
  if (pattern.find('{') == std::string_view::npos) return false;
  const size_t first_param = params.size();
  size_t pi = 0;  // at a '/' of the pattern
  size_t qi = 0;  // at a '/' of the path
  while (true) {
    if (pi == pattern.size() && qi == path.size()) return true;
    if (pi >= pattern.size() || qi >= path.size() || pattern[pi] != '/' || path[qi] != '/') break;
    ++pi;
    ++qi;
    const size_t pattern_end = std::min(pattern.find('/', pi), pattern.size());
    const std::string_view want = pattern.substr(pi, pattern_end - pi);
    const bool param = want.size() > 2 && want.front() == '{' && want.back() == '}';
    if (param && want.ends_with("...}")) {  // the rest of the path, slashes included
      const std::string_view rest = path.substr(qi);
      if (rest.empty() || pattern_end != pattern.size()) break;
      params.push_back(rest);
      return true;
    }
    const size_t path_end = std::min(path.find('/', qi), path.size());
    const std::string_view have = path.substr(qi, path_end - qi);
    if (param ? have.empty() : want != have) break;
    if (param) params.push_back(have);
    pi = pattern_end;
    qi = path_end;
  }
  params.resize(first_param);
  return false;
}

}  // namespace

RouteMatch match_route(std::span<const Route> routes, std::string_view path, bhttp::verb method) {
  RouteMatch match;
  std::vector<std::string_view> params;
  for (const Route& route : routes) {
    params.clear();
    if (!fits(route.pattern, path, params)) continue;
    if (!match.path_known) {
      match.path_known = true;
      match.path_route = &route;
    }
    const bool takes = std::any_of(route.methods.begin(), route.methods.end(), [&](bhttp::verb m) {
      return m == method || (m == bhttp::verb::get && method == bhttp::verb::head);
    });
    for (bhttp::verb m : route.methods) {
      if (!match.allow.empty()) match.allow += ", ";
      match.allow += std::string_view(bhttp::to_string(m).data(), bhttp::to_string(m).size());
      if (m == bhttp::verb::get) match.allow += ", HEAD";
    }
    if (takes && !match.route) {
      match.route = &route;
      match.params = params;
    }
  }
  return match;
}

ApiFormat route_format(const Route& route, const bhttp::fields& fields) {
  if (!route.format_by_client) return route.format;
  return fields.find("anthropic-version") != fields.end() ? ApiFormat::kAnthropic
                                                          : ApiFormat::kOpenAI;
}

}  // namespace keel
