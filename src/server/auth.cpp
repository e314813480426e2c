#include "server/auth.h"

#include <openssl/crypto.h>

namespace keel {

std::string_view presented_key(const bhttp::fields& fields) {
  auto value = [&fields](bhttp::field name) -> std::string_view {
    auto it = fields.find(name);
    if (it == fields.end()) return {};
    return std::string_view(it->value().data(), it->value().size());
  };
  std::string_view given = value(bhttp::field::authorization);
  if (given.size() > 7 && beast::iequals(beast::string_view(given.data(), 7), "bearer ")) {
    return given.substr(7);
  }
  auto it = fields.find("x-api-key");
  if (it == fields.end()) return {};
  return std::string_view(it->value().data(), it->value().size());
}

bool key_listed(const std::vector<std::string>& keys, std::string_view given) {
  if (given.empty()) return false;
  bool match = false;
  for (const auto& key : keys) {
    if (key.size() == given.size() && CRYPTO_memcmp(key.data(), given.data(), key.size()) == 0)
      match = true;
  }
  return match;
}

}  // namespace keel
