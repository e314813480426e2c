#include "core/ids.h"

#include <random>

namespace keel {

namespace {

constexpr char kHex[] = "0123456789abcdef";

std::mt19937_64& rng() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return generator;
}

// 12 random hex digits (48 bits).
void append_random_hex(std::string& id) {
  uint64_t bits = rng()();
  for (int i = 0; i < 12; ++i) {
    id.push_back(kHex[bits & 0xf]);
    bits >>= 4;
  }
}

}  // namespace

std::string new_id(std::string_view prefix) {
  std::string id(prefix);
  append_random_hex(id);
  append_random_hex(id);
  return id;
}

std::string new_time_ordered_id(std::string_view prefix, int64_t unix_ms) {
  std::string id(prefix);
  const uint64_t time = static_cast<uint64_t>(unix_ms);
  for (int shift = 44; shift >= 0; shift -= 4) id.push_back(kHex[(time >> shift) & 0xf]);
  append_random_hex(id);
  return id;
}

}  // namespace keel
