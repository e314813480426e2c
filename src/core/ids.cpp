#include "core/ids.h"

#include <random>

namespace keel {

namespace {

constexpr char kHex[] = "0123456789abcdef";

std::mt19937_64& rng() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return generator;
}

// 12 random hex digits (48 bits), appended in one go (a push_back per digit checked the
// capacity each time).
void append_random_hex(std::string& id) {
  uint64_t bits = rng()();
  char digits[12];
  for (char& digit : digits) {
    digit = kHex[bits & 0xf];
    bits >>= 4;
  }
  id.append(digits, sizeof digits);
}

}  // namespace

uint64_t random_bits() { return rng()(); }

std::string new_id(std::string_view prefix) {
  std::string id;
  id.reserve(prefix.size() + 24);
  id += prefix;
  append_random_hex(id);
  append_random_hex(id);
  return id;
}

std::string new_time_ordered_id(std::string_view prefix, int64_t unix_ms) {
  std::string id;
  id.reserve(prefix.size() + 24);
  id += prefix;
  // 12 hex digits of the time, highest first, so that ids sort by time.
  const uint64_t time = static_cast<uint64_t>(unix_ms);
  char digits[12];
  for (int i = 0; i < 12; ++i) digits[i] = kHex[(time >> (44 - 4 * i)) & 0xf];
  id.append(digits, sizeof digits);
  append_random_hex(id);
  return id;
}

}  // namespace keel
