// A forward-only reader for JSON of a known, common shape: read the members you want, skip the
// rest, without building a Json tree. It is a fast path, never the only one: any doubt (a syntax
// error, a float, a long integer, deep nesting) makes it fail, and its caller then parses the
// same text with parse_json(), which gives the verdict and the error message.
//
//   JsonScanner scan(text);
//   std::string id;
//   bool ok = scan.object([&](std::string_view key) {
//     if (key == "id") return scan.string(id);
//     return scan.skip();
//   }) && scan.end();
//   if (!ok) { /* parse_json(text, ...) and read it the full way */ }
//
// Contract: when every call returns true and end() does, the values read are exactly what
// nlohmann::json::parse gives for the same text: strings unescaped and checked as its lexer
// does (UTF-8 well-formed per RFC 3629, no raw control characters, surrogate pairs), integers
// as int64. Duplicate keys are the caller's to refuse (nlohmann keeps the last one).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace keel {

class JsonScanner {
 public:
  explicit JsonScanner(std::string_view text) : at_(text.data()), end_(text.data() + text.size()) {}

  // True when the next value is null; consumes it then.
  bool null() {
    ws();
    return literal("null");
  }
  // The next value's first byte ('{', '[', '"', 'n', ...), or 0 at the end.
  char peek() {
    ws();
    return at_ < end_ ? *at_ : '\0';
  }
  // An object; `on_member(key)` must read or skip the member's value and return true.
  template <typename OnMember>
  bool object(OnMember&& on_member) {
    if (!open('{')) return false;
    if (close('}')) return leave();
    std::string scratch;   // only for keys with escapes or non-ASCII bytes
    do {
      std::string_view key;
      if (!key_view(key, scratch) || !colon() || !on_member(key)) return false;
    } while (comma());
    return close('}') && leave();
  }
  // An array; `on_element()` must read or skip one element and return true.
  template <typename OnElement>
  bool array(OnElement&& on_element) {
    if (!open('[')) return false;
    if (close(']')) return leave();
    do {
      if (!on_element()) return false;
    } while (comma());
    return close(']') && leave();
  }
  bool string(std::string& out) {
    out.clear();
    return scan_string(&out);
  }
  bool boolean(bool& out) {
    ws();
    if (literal("true")) {
      out = true;
      return true;
    }
    if (!literal("false")) return false;
    out = false;
    return true;
  }
  // An integer of at most 18 digits (no fraction, no exponent).
  bool integer(int64_t& out);
  // Any value, checked as the parser would check it.
  bool skip();
  // Any value, its text (without the whitespace around it) into `out`, numbers floats included:
  // for a member to parse on its own, whose parse then checks it (a number's digits are only
  // delimited here: 1e400, which nlohmann refuses, passes).
  bool raw(std::string_view& out);
  // Only whitespace is left.
  bool end() {
    ws();
    return at_ == end_;
  }

 private:
  static constexpr int kMaxDepth = 64;   // deeper input goes to the full parser
  void ws() {
    while (at_ < end_ && (*at_ == ' ' || *at_ == '\n' || *at_ == '\r' || *at_ == '\t')) ++at_;
  }
  bool open(char c) {
    ws();
    if (at_ == end_ || *at_ != c || depth_ >= kMaxDepth) return false;
    ++at_;
    ++depth_;
    return true;
  }
  bool leave() {
    --depth_;
    return true;
  }
  bool close(char c) {
    ws();
    if (at_ < end_ && *at_ == c) {
      ++at_;
      return true;
    }
    return false;
  }
  bool comma() { return close(','); }
  bool colon() { return close(':'); }
  // A string appended to *out, or only checked when out is null.
  bool scan_string(std::string* out);
  // A key: a view into the text when it is plain ASCII without escapes, else unescaped into
  // `scratch` (and a view of that).
  bool key_view(std::string_view& key, std::string& scratch);
  bool literal(std::string_view word);
  bool number();
  bool utf8_sequence(std::string& out);
  bool unicode_escape(std::string& out);
  bool hex4(uint32_t& out);

  const char* at_;
  const char* end_;
  int depth_ = 0;
  bool floats_ = false;  // raw(): numbers with a fraction or an exponent pass
};

// The first byte in [p, end) that ends a plain run of a JSON string: '"', a backslash, a control
// character (< 0x20) or a non-ASCII byte (>= 0x80); `end` when none. Reads eight bytes at a time.
const char* json_plain_run_end(const char* p, const char* end);

}  // namespace keel
