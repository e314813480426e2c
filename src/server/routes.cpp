#include "server/routes.h"

#include <algorithm>
#include <boost/container/small_vector.hpp>

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

RouteTable::RouteTable(std::span<const Route> routes) : routes_(routes) {
  for (uint32_t row = 0; row < routes.size(); ++row) {
    const std::string_view pattern = routes[row].pattern;
    const size_t brace = pattern.find('{');
    if (brace == std::string_view::npos) {
      literal_[pattern].push_back(row);
    } else {
      patterned_.emplace_back(pattern.substr(0, brace), row);
    }
  }
  // A path equal to a literal pattern may fit pattern rows too: they join its list, in table
  // order, so that a lookup of that path looks at nothing else.
  std::vector<std::string_view> params;
  for (auto& [path, rows] : literal_) {
    for (const auto& [prefix, row] : patterned_) {
      params.clear();
      if (path.starts_with(prefix) && fits(routes[row].pattern, path, params)) rows.push_back(row);
    }
    std::sort(rows.begin(), rows.end());
  }
}

RouteMatch RouteTable::match(std::string_view path, bhttp::verb method) const {
  // The rows that could fit, in table order.
  boost::container::small_vector<uint32_t, 8> candidates;
  std::span<const uint32_t> rows;
  if (auto it = literal_.find(path); it != literal_.end()) {
    rows = it->second;  // every row that fits this path (the constructor added the patterns)
  } else {
    for (const auto& [prefix, row] : patterned_) {
      if (path.starts_with(prefix)) candidates.push_back(row);
    }
    rows = std::span<const uint32_t>(candidates.data(), candidates.size());
  }

  RouteMatch match;
  std::vector<std::string_view> params;
  for (uint32_t row : rows) {
    const Route& route = routes_[row];
    params.clear();
    if (!fits(route.pattern, path, params)) continue;
    if (!match.path_known) {
      match.path_known = true;
      match.path_route = &route;
    }
    const bool takes = std::any_of(route.methods.begin(), route.methods.end(), [&](bhttp::verb m) {
      return m == method || (m == bhttp::verb::get && method == bhttp::verb::head);
    });
    if (takes) {
      match.route = &route;
      match.params = std::move(params);
      return match;
    }
  }
  // A known path without this method: the 405's Allow list, from every row of the path.
  for (uint32_t row : rows) {
    const Route& route = routes_[row];
    params.clear();
    if (!fits(route.pattern, path, params)) continue;
    for (bhttp::verb m : route.methods) {
      if (!match.allow.empty()) match.allow += ", ";
      match.allow += std::string_view(bhttp::to_string(m).data(), bhttp::to_string(m).size());
      if (m == bhttp::verb::get) match.allow += ", HEAD";
    }
  }
  return match;
}

RouteMatch match_route(std::span<const Route> routes, std::string_view path, bhttp::verb method) {
  return RouteTable(routes).match(path, method);
}

ApiFormat route_format(const Route& route, const bhttp::fields& fields) {
  if (!route.format_by_client) return route.format;
  return fields.find("anthropic-version") != fields.end() ? ApiFormat::kAnthropic
                                                          : ApiFormat::kOpenAI;
}

}  // namespace keel
