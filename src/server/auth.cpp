#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

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

int key_position(const std::vector<std::string>& keys, std::string_view given) {
  if (given.empty()) return -1;
  int match = -1;
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string& key = keys[i];
    if (key.size() == given.size() && CRYPTO_memcmp(key.data(), given.data(), key.size()) == 0)
      match = static_cast<int>(i);
  }
  return match;
}

std::string key_id_of(std::string_view key) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
  constexpr char kHex[] = "0123456789abcdef";
  std::string id = "key_";
  for (int i = 0; i < 4; ++i) {
    id += kHex[digest[i] >> 4];
    id += kHex[digest[i] & 15];
  }
  return id;
}

}  // namespace keel
