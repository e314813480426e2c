// Small text helpers for writers that build wire bytes in a std::string.
#pragma once

#include <charconv>
#include <string>

namespace keel {

// Appends the decimal form of `value` (as std::to_string writes it, without the temporary).
template <typename Int>
void append_decimal(std::string& out, Int value) {
  char digits[24];
  const char* end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, static_cast<size_t>(end - digits));
}

}  // namespace keel
