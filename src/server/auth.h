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

// Which of `keys` is `given` (its index), or -1; constant time per key, so a timing probe
// learns nothing about a key's prefix. An empty `given` never matches.
int key_position(const std::vector<std::string>& keys, std::string_view given);
inline bool key_listed(const std::vector<std::string>& keys, std::string_view given) {
  return key_position(keys, given) >= 0;
}

// The name the request log and /admin give a client key: "key_" and the first 8 hex digits of
// its SHA-256, so an operator can tell keys apart (`printf %s "$KEY" | sha256sum | cut -c1-8`)
// and filter by one without the log ever holding a key.
std::string key_id_of(std::string_view key);

}  // namespace keel
