// Keys on requests: the client keys (api_keys) of the API routes and the admin keys
// (admin_keys) of /admin/....
//
//   if (!key_listed(config.admin_keys, presented_key(request.message))) -> 401
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "http/server.h"

namespace keel {

// The key a request presents: "Authorization: Bearer KEY" (the OpenAI SDKs), else "x-api-key:
// KEY" (the Anthropic SDKs); "" when neither.
std::string_view presented_key(const bhttp::fields& fields);

// Whether `given` is one of `keys`; constant time per key, so a timing probe learns nothing
// about a key's prefix. An empty `given` never matches.
bool key_listed(const std::vector<std::string>& keys, std::string_view given);

}  // namespace keel
