// Small text helpers: for writers that build wire bytes in a std::string, and for reading
// URL path segments.
#pragma once

#include <charconv>
#include <optional>
#include <string>
#include <string_view>

namespace keel {

// Appends the decimal form of `value` (as std::to_string writes it, without the temporary).
template <typename Int>
void append_decimal(std::string& out, Int value) {
  char digits[24];
  const char* end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, static_cast<size_t>(end - digits));
}

// `text` with every byte but RFC 3986's unreserved characters (letters, digits, - _ . ~) written
// as %XX: safe in a path segment, a query name or value, and a form field.
inline std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// A URL path segment with its %XX escapes decoded (RFC 3986 section 2.1; clients escape a model
// name such as "llama3:8b" in /v1/models/{model}); nullopt when an escape is malformed.
inline std::optional<std::string> percent_decode(std::string_view segment) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(segment.size());
  for (size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] != '%') {
      out += segment[i];
      continue;
    }
    if (i + 2 >= segment.size()) return std::nullopt;
    const int high = hex(segment[i + 1]);
    const int low = hex(segment[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

}  // namespace keel
