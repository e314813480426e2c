#include "api/json_scan.h"

#include <cstring>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "json_plain_run_end reads words low byte first");

namespace keel {

namespace {

bool in(unsigned char c, unsigned char low, unsigned char high) { return c >= low && c <= high; }

}  // namespace

// Eight bytes at a time (the classic "has a zero byte" / "has a byte less than n" bit tricks on
// a 64-bit word), then the last few byte by byte.
const char* json_plain_run_end(const char* p, const char* end) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  while (end - p >= 8) {
    uint64_t x;
    std::memcpy(&x, p, 8);
    const uint64_t quote = x ^ (kOnes * '"');
    const uint64_t backslash = x ^ (kOnes * '\\');
    const uint64_t special = ((x - kOnes * 0x20) & ~x) | x | ((quote - kOnes) & ~quote) |
                             ((backslash - kOnes) & ~backslash);
    // The lowest flagged byte is a true hit (a borrow only flags bytes above one); the bytes
    // are in memory order, low byte first, on the little-endian machines this runs on.
    if (const uint64_t hits = special & kHigh) return p + (__builtin_ctzll(hits) >> 3);
    p += 8;
  }
  for (; p < end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
  }
  return p;
}

bool JsonScanner::literal(std::string_view word) {
  // The first byte first: null() is mostly asked of values that are not null, and a memcmp
  // call per question cost more than the rest of it.
  if (at_ == end_ || *at_ != word.front()) return false;
  if (static_cast<size_t>(end_ - at_) < word.size() || std::string_view(at_, word.size()) != word)
    return false;
  at_ += word.size();
  return true;
}

bool JsonScanner::number() {
  if (!floats_) {
    int64_t ignored;
    return integer(ignored);
  }
  // JSON's number grammar, any length: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  auto digits = [this] {
    const char* first = at_;
    while (at_ < end_ && *at_ >= '0' && *at_ <= '9') ++at_;
    return at_ > first;
  };
  if (at_ < end_ && *at_ == '-') ++at_;
  const char* int_part = at_;
  if (!digits() || (*int_part == '0' && at_ - int_part > 1)) return false;
  if (at_ < end_ && *at_ == '.') {
    ++at_;
    if (!digits()) return false;
  }
  if (at_ < end_ && (*at_ == 'e' || *at_ == 'E')) {
    ++at_;
    if (at_ < end_ && (*at_ == '+' || *at_ == '-')) ++at_;
    if (!digits()) return false;
  }
  return true;
}

bool JsonScanner::raw(std::string_view& out) {
  ws();
  const char* start = at_;
  floats_ = true;
  const bool ok = skip();
  floats_ = false;
  out = std::string_view(start, static_cast<size_t>(at_ - start));
  return ok;
}

bool JsonScanner::integer(int64_t& out) {
  ws();
  bool negative = false;
  if (at_ < end_ && *at_ == '-') {
    negative = true;
    ++at_;
  }
  const char* digits = at_;
  int64_t value = 0;
  while (at_ < end_ && *at_ >= '0' && *at_ <= '9') {
    // A 19th digit may not fit in int64 (checked before it is added): the full parser decides.
    if (at_ - digits == 18) return false;
    value = value * 10 + (*at_ - '0');
    ++at_;
  }
  if (at_ == digits) return false;
  if (*digits == '0' && at_ - digits > 1) return false;   // a leading zero is a syntax error
  // A fraction or an exponent makes a float, which the parser may refuse (overflow): leave it.
  if (at_ < end_ && (*at_ == '.' || *at_ == 'e' || *at_ == 'E')) return false;
  out = negative ? -value : value;
  return true;
}

bool JsonScanner::hex4(uint32_t& out) {
  if (end_ - at_ < 4) return false;
  out = 0;
  for (int i = 0; i < 4; ++i) {
    char c = *at_++;
    uint32_t digit;
    if (c >= '0' && c <= '9') {
      digit = static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      digit = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      return false;
    }
    out = out << 4 | digit;
  }
  return true;
}

bool JsonScanner::unicode_escape(std::string& out) {
  // at_ is past "\u". A high surrogate must be followed by "\u" and a low one; a lone low
  // surrogate is an error (as in nlohmann's lexer).
  uint32_t code;
  if (!hex4(code)) return false;
  if (code >= 0xDC00 && code <= 0xDFFF) return false;
  if (code >= 0xD800 && code <= 0xDBFF) {
    uint32_t low;
    if (end_ - at_ < 2 || at_[0] != '\\' || at_[1] != 'u') return false;
    at_ += 2;
    if (!hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
  }
  if (code < 0x80) {
    out.push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code >> 6)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else if (code < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  }
  return true;
}

bool JsonScanner::utf8_sequence(std::string& out) {
  // RFC 3629 well-formed sequences (the Unicode standard's table 3-7), as nlohmann checks them.
  const auto* p = reinterpret_cast<const unsigned char*>(at_);
  const size_t left = static_cast<size_t>(end_ - at_);
  const unsigned char lead = p[0];
  size_t length;
  unsigned char low = 0x80, high = 0xBF;   // range of the second byte
  if (in(lead, 0xC2, 0xDF)) {
    length = 2;
  } else if (lead == 0xE0) {
    length = 3, low = 0xA0;
  } else if (in(lead, 0xE1, 0xEC) || in(lead, 0xEE, 0xEF)) {
    length = 3;
  } else if (lead == 0xED) {
    length = 3, high = 0x9F;
  } else if (lead == 0xF0) {
    length = 4, low = 0x90;
  } else if (in(lead, 0xF1, 0xF3)) {
    length = 4;
  } else if (lead == 0xF4) {
    length = 4, high = 0x8F;
  } else {
    return false;
  }
  if (left < length || !in(p[1], low, high)) return false;
  for (size_t i = 2; i < length; ++i) {
    if (!in(p[i], 0x80, 0xBF)) return false;
  }
  out.append(at_, length);
  at_ += length;
  return true;
}

bool JsonScanner::key_view(std::string_view& key, std::string& scratch) {
  ws();
  if (at_ == end_ || *at_ != '"') return false;
  const char* start = at_ + 1;
  const char* p = json_plain_run_end(start, end_);
  if (p < end_ && *p == '"') {
    key = std::string_view(start, static_cast<size_t>(p - start));
    at_ = p + 1;
    return true;
  }
  scratch.clear();
  if (!scan_string(&scratch)) return false;
  key = scratch;
  return true;
}

bool JsonScanner::scan_string(std::string* out) {
  ws();
  if (at_ == end_ || *at_ != '"') return false;
  ++at_;
  std::string ignored;   // what escapes and UTF-8 sequences write when only checking
  std::string& sink = out ? *out : ignored;
  for (;;) {
    const char* run = at_;
    at_ = json_plain_run_end(at_, end_);
    if (out) out->append(run, static_cast<size_t>(at_ - run));
    if (at_ == end_) return false;
    const auto c = static_cast<unsigned char>(*at_);
    if (c == '"') {
      ++at_;
      return true;
    }
    if (c < 0x20) return false;   // raw control characters are not allowed in strings
    if (c >= 0x80) {
      if (!utf8_sequence(sink)) return false;
      if (!out) ignored.clear();
      continue;
    }
    // A backslash escape.
    if (end_ - at_ < 2) return false;
    const char e = at_[1];
    at_ += 2;
    switch (e) {
      case '"': sink.push_back('"'); break;
      case '\\': sink.push_back('\\'); break;
      case '/': sink.push_back('/'); break;
      case 'b': sink.push_back('\b'); break;
      case 'f': sink.push_back('\f'); break;
      case 'n': sink.push_back('\n'); break;
      case 'r': sink.push_back('\r'); break;
      case 't': sink.push_back('\t'); break;
      case 'u':
        if (!unicode_escape(sink)) return false;
        break;
      default:
        return false;
    }
    if (!out) ignored.clear();
  }
}

bool JsonScanner::skip() {
  switch (peek()) {
    case '{':
      return object([this](std::string_view) { return skip(); });
    case '[':
      return array([this] { return skip(); });
    case '"':
      return scan_string(nullptr);
    case 't':
      return literal("true");
    case 'f':
      return literal("false");
    case 'n':
      return literal("null");
    default:
      return number();
  }
}

}  // namespace keel
