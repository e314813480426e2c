#include "api/json_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "api/json_scan.h"
#include "core/text.h"

namespace keel {

using namespace std::string_view_literals;
namespace {

// True when `text` nests arrays/objects deeper than `max_depth`. A scan, not a parse: deep
// input is turned away before the parser allocates anything for it.
bool nests_too_deep(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

// Builds a Json tree from nlohmann's SAX events, as its own DOM parser does, except that an
// object's members are appended without a search: an ordered object finds a key by comparing
// it with every member, so nlohmann's parser (which looks each key up to replace a duplicate)
// takes time quadratic in an object's size, seconds for one large object in a request body.
// Duplicates are resolved once, when the object ends, with nlohmann's result: the first
// position, the last value.
using Members = Json::object_t::Container;  // an object's members, a vector

class OrderedTreeBuilder {
 public:
  using number_integer_t = Json::number_integer_t;
  using number_unsigned_t = Json::number_unsigned_t;
  using number_float_t = Json::number_float_t;
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  explicit OrderedTreeBuilder(Json& root) : root_(root) {}

  bool null() { return put(nullptr); }
  bool boolean(bool value) { return put(value); }
  bool number_integer(number_integer_t value) { return put(value); }
  bool number_unsigned(number_unsigned_t value) { return put(value); }
  bool number_float(number_float_t value, const string_t&) { return put(value); }
  bool string(string_t& value) { return put(std::move(value)); }
  bool binary(binary_t& value) { return put(Json::binary(std::move(value))); }
  bool start_object(std::size_t) {
    stack_.push_back(place(Json::object()));
    return true;
  }
  bool key(string_t& key) {
    Json::object_t& object = stack_.back()->get_ref<Json::object_t&>();
    object.emplace_back(std::move(key), nullptr);  // the vector's, not the map's searching emplace
    member_ = &object.back().second;
    return true;
  }
  bool end_object() {
    drop_duplicate_keys(stack_.back()->get_ref<Json::object_t&>());
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) {
    stack_.push_back(place(Json::array()));
    return true;
  }
  bool end_array() {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& error) {
    failed_ = true;
    syntax_error_ = dynamic_cast<const nlohmann::detail::parse_error*>(&error) != nullptr;
    error_byte_ = position;
    return false;
  }

  bool failed() const { return failed_; }
  bool syntax_error() const { return syntax_error_; }
  std::size_t error_byte() const { return error_byte_; }

 private:
  // Where the next value goes: the root, the member whose key came last, or an array's end.
  Json* place(Json value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    if (stack_.back()->is_array()) {
      auto& array = stack_.back()->get_ref<Json::array_t&>();
      array.push_back(std::move(value));
      return &array.back();
    }
    *member_ = std::move(value);
    return member_;
  }
  bool put(Json value) {
    place(std::move(value));
    return true;
  }
  static void drop_duplicate_keys(Json::object_t& members) {
    auto& object = static_cast<Members&>(members);  // by position, not by key
    const size_t size = object.size();
    if (size < 2) return;
    bool duplicates = false;
    if (size <= 16) {
      for (size_t i = 1; i < size && !duplicates; ++i) {
        for (size_t j = 0; j < i && !duplicates; ++j) {
          duplicates = object[i].first == object[j].first;
        }
      }
    } else {
      std::vector<std::string_view> keys;
      keys.reserve(size);
      for (const auto& entry : object) keys.emplace_back(entry.first);
      std::sort(keys.begin(), keys.end());
      duplicates = std::adjacent_find(keys.begin(), keys.end()) != keys.end();
    }
    if (!duplicates) return;
    Members kept;
    std::unordered_map<std::string_view, size_t> position;
    for (auto& entry : object) {
      auto [at, fresh] = position.try_emplace(entry.first, kept.size());
      if (fresh) {
        kept.emplace_back(entry.first, std::move(entry.second));
      } else {
        kept[at->second].second = std::move(entry.second);
      }
    }
    object.swap(kept);
  }

  Json& root_;
  std::vector<Json*> stack_;
  Json* member_ = nullptr;
  bool failed_ = false;
  bool syntax_error_ = false;
  std::size_t error_byte_ = 0;
};

// Parses `text` into `out` (depth already checked); the builder says what failed.
void build_tree(std::string_view text, Json& out, OrderedTreeBuilder& builder) {
  Json::sax_parse(text.begin(), text.end(), &builder);
  if (builder.failed()) out = Json();
}

}  // namespace

// ---- writing -------------------------------------------------------------------------------

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. The same set that
// nlohmann's serializer accepts as-is (anything else it repairs under error_handler replace).
bool valid_utf8(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    // ASCII eight bytes at a time.
    while (n - i >= 8) {
      uint64_t word;
      std::memcpy(&word, text.data() + i, 8);
      if (word & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i == n) break;
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length;
    unsigned char low = 0x80, high = 0xBF;  // bounds of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;
      if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;
      if (c == 0xF4) high = 0x8F;
    } else {
      return false;
    }
    if (i + length > n) return false;
    auto second = static_cast<unsigned char>(text[i + 1]);
    if (second < low || second > high) return false;
    for (size_t k = 2; k < length; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if (next < 0x80 || next > 0xBF) return false;
    }
    i += length;
  }
  return true;
}

// Appends `text` as a JSON string the way Json::dump writes it (ensure_ascii off): the short
// escapes, \u00XX (lower-case hex) for other control characters, everything else as it is.
// Only for valid UTF-8 (see valid_utf8).
void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  // Runs of bytes that stay as they are go in one append each; json_plain_run_end finds the
  // next byte to look at eight bytes at a time (it also stops at non-ASCII bytes, which stay).
  const char* p = text.data();
  const char* const end = p + text.size();
  const char* run = p;
  while ((p = json_plain_run_end(p, end)) != end) {
    auto c = static_cast<unsigned char>(*p);
    if (c >= 0x80) {
      ++p;
      continue;
    }
    out.append(run, static_cast<size_t>(p - run));
    run = ++p;
    switch (c) {
      case '"':
        out += "\\\""sv;
        break;
      case '\\':
        out += "\\\\"sv;
        break;
      case '\b':
        out += "\\b"sv;
        break;
      case '\f':
        out += "\\f"sv;
        break;
      case '\n':
        out += "\\n"sv;
        break;
      case '\r':
        out += "\\r"sv;
        break;
      case '\t':
        out += "\\t"sv;
        break;
      default:
        static constexpr char kHex[] = "0123456789abcdef";
        out += "\\u00"sv;
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
  out.append(run, static_cast<size_t>(end - run));
  out += '"';
}

void append_json_string_checked(std::string& out, std::string_view text) {
  if (valid_utf8(text)) {
    append_json_string(out, text);
  } else {
    out += Json(std::string(text)).dump(-1, ' ', false, Json::error_handler_t::replace);
  }
}

void append_json(std::string& out, const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      out += "null";
      break;
    case Json::value_t::boolean:
      out += value.get<bool>() ? "true" : "false";
      break;
    case Json::value_t::number_integer:
      append_decimal(out, value.get<int64_t>());
      break;
    case Json::value_t::number_unsigned:
      append_decimal(out, value.get<uint64_t>());
      break;
    case Json::value_t::string:
      append_json_string_checked(out, value.get_ref<const std::string&>());
      break;
    case Json::value_t::array: {
      out += '[';
      bool first = true;
      for (const Json& element : value.get_ref<const Json::array_t&>()) {
        if (!first) out += ',';
        first = false;
        append_json(out, element);
      }
      out += ']';
      break;
    }
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, member] : value.get_ref<const Json::object_t&>()) {
        if (!first) out += ',';
        first = false;
        append_json_string_checked(out, key);
        out += ':';
        append_json(out, member);
      }
      out += '}';
      break;
    }
    case Json::value_t::number_float: {
      // What nlohmann's serializer writes (its dump_float): null for NaN and infinities, else
      // its own shortest round-trip form (detail::to_chars, "1.0" for 1), without building a
      // serializer per number.
      const double number = value.get<double>();
      if (!std::isfinite(number)) {
        out += "null";
        break;
      }
      char digits[64];
      const char* end = nlohmann::detail::to_chars(digits, digits + sizeof digits, number);
      out.append(digits, static_cast<size_t>(end - digits));
      break;
    }
    default:  // binary
      out += value.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
}

std::string json_text(const Json& value) {
  std::string out;
  append_json(out, value);
  return out;
}

// ---- parsing -------------------------------------------------------------------------------

Result<Json> parse_json(std::string_view text, ErrorCode code, const std::string& what) {
  if (nests_too_deep(text, kMaxJsonDepth)) {
    return Error(code, what + " nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  Json json;
  OrderedTreeBuilder builder(json);
  try {
    build_tree(text, json, builder);
  } catch (const std::exception&) {
    return Error(code, what + " is not valid JSON");
  }
  if (builder.failed()) {
    if (!builder.syntax_error()) return Error(code, what + " is not valid JSON");
    return Error(code, what + " is not valid JSON (syntax error at byte " +
                           std::to_string(builder.error_byte()) + ")");
  }
  return json;
}

std::optional<Json> try_parse_json(std::string_view text) {
  if (nests_too_deep(text, kMaxJsonDepth)) return std::nullopt;
  Json json;
  OrderedTreeBuilder builder(json);
  try {
    build_tree(text, json, builder);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (builder.failed()) return std::nullopt;
  return json;
}

// ---- building values -----------------------------------------------------------------------

void append_member(Json& object, std::string key, Json value) {
  object.get_ref<Json::object_t&>().emplace_back(std::move(key), std::move(value));
}

MemberIndex::MemberIndex(Json& object) : object_(object) {
  if (!object_.is_object()) object_ = Json::object();
  const Members& members = object_.get_ref<const Json::object_t&>();
  for (size_t i = 0; i < members.size(); ++i) positions_.try_emplace(members[i].first, i);
}

Json* MemberIndex::find(const std::string& key) {
  auto it = positions_.find(key);
  if (it == positions_.end()) return nullptr;
  Members& members = object_.get_ref<Json::object_t&>();
  return &members[it->second].second;
}

Json& MemberIndex::operator[](const std::string& key) {
  Members& members = object_.get_ref<Json::object_t&>();
  auto [it, fresh] = positions_.try_emplace(key, members.size());
  if (fresh) members.emplace_back(key, nullptr);
  return members[it->second].second;
}

void append_absent(Json& into, const Json& from, const char* skip) {
  if (!from.is_object() || !into.is_object()) return;
  Members& members = into.get_ref<Json::object_t&>();
  const size_t own = members.size();
  for (const auto& [key, value] : from.items()) {
    if (skip && key == skip) continue;
    bool present = false;
    for (size_t i = 0; i < own && !present; ++i) present = members[i].first == key;
    if (!present) members.emplace_back(key, value);
  }
}

void assign_members(Json& into, const Json& from) {
  if (!from.is_object()) return;
  MemberIndex index(into);
  for (const auto& [key, value] : from.items()) index[key] = value;
}

bool same_json(const Json& a, const Json& b) {
  if (a.type() != b.type()) return a == b;  // nlohmann compares numbers across their types
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!same_json(a[i], b[i])) return false;
    }
    return true;
  }
  if (!a.is_object()) return a == b;
  if (a.size() != b.size()) return false;
  using Member = const std::pair<const std::string, Json>*;
  auto sorted = [](const Json& object) {
    std::vector<Member> members;
    for (const auto& member : object.get_ref<const Json::object_t&>()) members.push_back(&member);
    std::sort(members.begin(), members.end(),
              [](Member x, Member y) { return x->first < y->first; });
    return members;
  };
  auto left = sorted(a), right = sorted(b);
  for (size_t i = 0; i < left.size(); ++i) {
    if (left[i]->first != right[i]->first || !same_json(left[i]->second, right[i]->second)) {
      return false;
    }
  }
  return true;
}

// ---- reading values ------------------------------------------------------------------------

const Json* member(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

const std::string& str(const Json& value) { return value.get_ref<const std::string&>(); }

std::string optional_string(const Json& object, const char* key) {
  const Json* value = member(object, key);
  return value && value->is_string() ? str(*value) : std::string();
}

std::optional<int64_t> as_int64(const Json& value) {
  if (value.is_number_unsigned()) {
    auto v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(v);
  }
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_number_float()) {
    double d = value.get<double>();
    // 2^63 is exactly representable; anything at or above it does not fit.
    if (!std::isfinite(d) || d != std::trunc(d) || d < -9223372036854775808.0 ||
        d >= 9223372036854775808.0) {
      return std::nullopt;
    }
    return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

Status read_reasoning_effort(const Json& object, const char* key, const std::string& param,
                             ReasoningConfig& out) {
  const Json* value = member(object, key);
  if (!value) return Status::Ok();
  if (!value->is_string()) return wrong_type(param, "a string", *value);
  const std::string& effort = value->get_ref<const std::string&>();
  for (const char* known : {"none", "minimal", "low", "medium", "high", "xhigh"}) {
    if (effort == known) {
      out.effort = effort;
      return Status::Ok();
    }
  }
  return invalid(
      param, param + " " + echo(effort) + " is not one of none, minimal, low, medium, high, xhigh");
}

Status read_number(const Json& object, const char* key, double low, double high,
                   std::optional<double>& out) {
  const Json* value = member(object, key);
  if (!value) return Status::Ok();
  if (!value->is_number()) return wrong_type(key, "a number", *value);
  double d = value->get<double>();
  if (!(d >= low && d <= high)) {
    char range[64];
    std::snprintf(range, sizeof range, "between %g and %g", low, high);
    return invalid(key, std::string(key) + " must be " + range);
  }
  out = d;
  return Status::Ok();
}

// ---- error messages ------------------------------------------------------------------------

const char* describe(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return "an object";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "an integer";
    case Json::value_t::number_float:
      return "a number";
    default:
      return "an unknown value";
  }
}

std::string indexed(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

std::string truncate_utf8(const std::string& text, size_t limit) {
  if (text.size() <= limit) return text;
  size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80) --end;
  return text.substr(0, end) + "...";
}

std::string echo(const std::string& value) { return "'" + truncate_utf8(value, 64) + "'"; }

Error invalid(std::string param, std::string message) {
  Error error(ErrorCode::kInvalidArgument, std::move(message));
  error.param = std::move(param);
  return error;
}

Error wrong_type(const std::string& param, const char* expected, const Json& got) {
  return invalid(param, param + " must be " + expected + ", got " + describe(got));
}

Error bad_gateway(std::string message) { return Error(ErrorCode::kBadGateway, std::move(message)); }

// ---- native messages -----------------------------------------------------------------------

void set_string_content(Message& message, std::string text) {
  message.content_is_string = true;
  ContentPart part;
  part.text = std::move(text);
  message.content.push_back(std::move(part));
}

// ---- text ----------------------------------------------------------------------------------

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

const Json* local_ref(const Json& root, const std::string& ref) {
  if (ref == "#") return &root;
  if (!ref.starts_with("#/")) return nullptr;
  try {
    const Json::json_pointer pointer(ref.substr(1));
    return root.contains(pointer) ? &root.at(pointer) : nullptr;
  } catch (const Json::exception&) {
    return nullptr;
  }
}

namespace {
constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

std::string base64_encode(const unsigned char* data, size_t size) {
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < size; i += 3) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += kBase64Alphabet[(v >> 18) & 63];
    out += kBase64Alphabet[(v >> 12) & 63];
    out += kBase64Alphabet[(v >> 6) & 63];
    out += kBase64Alphabet[v & 63];
  }
  if (i < size) {
    uint32_t v = uint32_t{data[i]} << 16;
    if (i + 1 < size) v |= uint32_t{data[i + 1]} << 8;
    out += kBase64Alphabet[(v >> 18) & 63];
    out += kBase64Alphabet[(v >> 12) & 63];
    out += i + 1 < size ? kBase64Alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+' || c == '-')
      v = 62;  // '-' and '_': the URL-safe alphabet
    else if (c == '/' || c == '_')
      v = 63;
    else
      return std::nullopt;
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  if (bits >= 6) return std::nullopt;  // a lone trailing character
  return out;
}

std::optional<Document> document_from_data_url(std::string_view url) {
  constexpr std::string_view kBase64 = ";base64";
  if (url.size() < 5 || ascii_lower(url.substr(0, 5)) != "data:") return std::nullopt;
  size_t comma = url.find(',');
  if (comma == std::string_view::npos || comma + 1 == url.size()) return std::nullopt;
  std::string meta = ascii_lower(url.substr(5, comma - 5));
  if (meta.size() <= kBase64.size() || !meta.ends_with(kBase64)) return std::nullopt;
  Document document;
  document.media_type = meta.substr(0, meta.find(';'));
  if (document.media_type.empty()) return std::nullopt;
  document.data = std::string(url.substr(comma + 1));
  return document;
}

std::string document_base64(const Document& document) {
  if (!document.is_text) return document.data;
  return base64_encode(reinterpret_cast<const unsigned char*>(document.data.data()),
                       document.data.size());
}

std::string document_data_url(const Document& document) {
  return "data:" + document.media_type + ";base64," + document_base64(document);
}

std::optional<std::string> document_text(const Document& document) {
  if (document.is_text) return document.data;
  return base64_decode(document.data);
}

Status parse_openai_file(const Json& file, const std::string& path, ContentPart& out) {
  if (!file.is_object()) return wrong_type(path, "an object", file);
  if (const Json* id = member(file, "file_id"); id && !id->is_null()) {
    return invalid(path + ".file_id", path +
                                          ".file_id is not supported: keel does not look files "
                                          "up by id here; send the file as file_data");
  }
  const Json* data = member(file, "file_data");
  if (!data) return invalid(path + ".file_data", path + ".file_data is required");
  if (!data->is_string()) return wrong_type(path + ".file_data", "a string", *data);
  auto document = document_from_data_url(str(*data));
  if (!document) {
    return invalid(
        path + ".file_data",
        path + ".file_data must be a base64 data: URL (data:application/pdf;base64,...)");
  }
  if (const Json* name = member(file, "filename"); name && !name->is_null()) {
    if (!name->is_string()) return wrong_type(path + ".filename", "a string", *name);
    document->filename = str(*name);
  }
  out.type = ContentPart::Type::kDocument;
  out.document = std::make_shared<const Document>(std::move(*document));
  return Status::Ok();
}

}  // namespace keel
