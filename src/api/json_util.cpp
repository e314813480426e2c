#include "api/json_util.h"

#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <utility>

namespace keel {
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

}  // namespace

// ---- parsing -------------------------------------------------------------------------------

Result<Json> parse_json(std::string_view text, ErrorCode code, const std::string& what) {
  if (nests_too_deep(text, kMaxJsonDepth)) {
    return Error(code, what + " nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    return Error(code,
                 what + " is not valid JSON (syntax error at byte " + std::to_string(e.byte) + ")");
  } catch (const std::exception&) {
    return Error(code, what + " is not valid JSON");
  }
}

std::optional<Json> try_parse_json(std::string_view text) {
  if (nests_too_deep(text, kMaxJsonDepth)) return std::nullopt;
  Json json = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return std::nullopt;
  return json;
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

}  // namespace keel
