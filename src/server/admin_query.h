// The query strings of keel's /admin/... read endpoints: untrusted bytes from the URL, parsed
// here into the store's typed queries (fuzz/admin_query_fuzz.cpp drives this as the server does).
//
//   auto query = parse_request_query("model=smart&status=error&limit=20");
//   if (!query) -> 400 with query.error().message
//   store.query_requests(*query);
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "store/store.h"

namespace keel {

// "a=1&b=x%20y" -> {{"a","1"},{"b","x y"}} (application/x-www-form-urlencoded: '+' is a space).
// Empty pieces ("a=1&&b") are skipped; a malformed %XX escape, or more than 32 pairs, is an
// error.
Result<std::vector<std::pair<std::string, std::string>>> parse_query_string(std::string_view query);

// GET /admin/requests's parameters: model, status (ok | error | a 3-digit status), key_id
// (which client key: key_id_of in server/auth.h, never the key itself), since and
// until (unix millis), limit (1..500, default 50), offset (>= 0). An unknown parameter, a value
// that is not what its name says, or a repeated parameter is a kInvalidArgument naming it.
Result<RequestQuery> parse_request_query(std::string_view query);

}  // namespace keel
