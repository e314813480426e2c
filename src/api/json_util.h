// Small helpers shared by the wire translators (src/api/openai_chat/, anthropic/, gemini/):
// reading untrusted JSON, the error messages about it, and a few text helpers. None of them
// throws on bad input except str(), whose caller checks the value is a string first.
//
//   auto body = parse_json(text, ErrorCode::kInvalidArgument, "request body");
//   if (!body) return body.error();                  // depth, then syntax, checked
//   const Json* model = member(*body, "model");      // nullptr when absent or null
//   if (!model) return invalid("model", "model is required");
//   if (!model->is_string()) return wrong_type("model", "a string", *model);
//   // -> "model must be a string, got an integer", with param "model"
//   use(str(*model));
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "api/chat.h"

namespace keel {

// Deepest nesting of arrays/objects accepted from outside. Checked before parsing, so that no
// later recursive walk (dump(), schema conversions) can recurse without bound.
inline constexpr int kMaxJsonDepth = 256;
// An upstream's own error message is cut to this many bytes before it goes into keel's error.
inline constexpr size_t kMaxUpstreamMessageBytes = 1000;
// Token counts from upstreams are clamped to this, so sums of a few of them cannot overflow.
inline constexpr int64_t kMaxTokenCount = int64_t{1} << 53;
inline int64_t clamp_tokens(int64_t count) {
  return count < 0 ? 0 : (count > kMaxTokenCount ? kMaxTokenCount : count);
}

// ---- parsing -------------------------------------------------------------------------------

// Parses untrusted JSON. Errors have `code` and a short reason naming `what` ("request body
// nests deeper than 256 levels", "... is not valid JSON (syntax error at byte 7)"), never an
// echo of the input, which may not be valid UTF-8.
Result<Json> parse_json(std::string_view text, ErrorCode code, const std::string& what);

// The same check and parse, for callers that need no reason: nullopt on any failure.
std::optional<Json> try_parse_json(std::string_view text);

// ---- writing -------------------------------------------------------------------------------

// What Json::dump(-1, ' ', false, Json::error_handler_t::replace) gives, byte for byte, several
// times faster: nlohmann's serializer goes through a virtual call and a UTF-8 decoder per byte,
// which made dumping a Responses object cost more than the rest of the request. Strings that are
// valid UTF-8 are copied in runs; the rare one that is not, and floats, are written by nlohmann.
std::string json_text(const Json& value);
void append_json(std::string& out, const Json& value);

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. The same set that
// nlohmann's serializer accepts as-is (anything else it repairs under error_handler replace).
bool valid_utf8(std::string_view text);

// Appends `text` as a JSON string the way Json::dump writes it (ensure_ascii off): the short
// escapes, \u00XX (lower-case hex) for other control characters, everything else as it is.
// Only for valid UTF-8 (see valid_utf8).
void append_json_string(std::string& out, std::string_view text);
// The same for any bytes: invalid UTF-8 is repaired as json_text repairs it (U+FFFD).
void append_json_string_checked(std::string& out, std::string_view text);

// ---- building values -----------------------------------------------------------------------
// Json keeps an object's members in their order (a client's schema says "reason, then answer"),
// so it finds a key by comparing it with each member in turn. Loops that add or look up a
// member per member of a client's object use these, in time linear in the object's size.

// Appends `key` to `object` (an object) without looking for it: the caller knows it is new.
void append_member(Json& object, std::string key, Json value);

// An object's members by key, for many lookups and additions (a Json that is not an object
// becomes an empty one). Members added through operator[] go at the end, null until set.
class MemberIndex {
 public:
  explicit MemberIndex(Json& object);
  Json* find(const std::string& key);  // nullptr when absent
  Json& operator[](const std::string& key);

 private:
  Json& object_;
  std::unordered_map<std::string, size_t> positions_;
};

// Appends each member of `from` (an object; anything else adds nothing) whose key `into` does
// not have yet and that is not `skip`, in `from`'s order: passthrough fields after keel's own.
// Each key is looked for among `into`'s members before the call only, so it is linear in
// `from`'s size for a small `into`.
void append_absent(Json& into, const Json& from, const char* skip = nullptr);

// into[key] = value for each member of `from` (an object; anything else adds nothing), in
// `from`'s order; keys `into` already has keep their place.
void assign_members(Json& into, const Json& from);

// Equality that ignores the order of objects' members (Json's == compares them in order), for
// comparing two schemas.
bool same_json(const Json& a, const Json& b);

// ---- reading values ------------------------------------------------------------------------

// The member `key` of `object`, or nullptr when `object` is not an object, or the member is
// absent or null (null counts as absent).
const Json* member(const Json& object, const char* key);
// What a local JSON Reference ("#" or "#/a/b", RFC 6901 within `root`) points at in `root`;
// nullptr when it is not local, malformed, or points at nothing.
const Json* local_ref(const Json& root, const std::string& ref);

// The string in `value`, which the caller has checked is a string.
const std::string& str(const Json& value);

// The string member `key`, or "" when it is absent or not a string.
std::string optional_string(const Json& object, const char* key);

// A number that must be an integer in int64 range; integral floats (1.0) count.
std::optional<int64_t> as_int64(const Json& value);

// Optional number `key` in [low, high] into `out`; absent or null leaves `out` alone.
// Errors name `key` as the param.
Status read_number(const Json& object, const char* key, double low, double high,
                   std::optional<double>& out);

// Optional reasoning effort `key` (none, minimal, low, medium, high, xhigh) into
// `out.effort`; errors name `param`.
Status read_reasoning_effort(const Json& object, const char* key, const std::string& param,
                             ReasoningConfig& out);

// Standard base64 with padding; decoding also takes the URL-safe alphabet and no padding.
std::string base64_encode(const unsigned char* data, size_t size);
std::optional<std::string> base64_decode(std::string_view text);

// ---- documents (ContentPart::Type::kDocument) ------------------------------------------------

// A data: URL of base64 data ("data:application/pdf;base64,JVBERi0...") as a document (media
// type lower-cased); nullopt when `url` is not one, or its media type or data is empty.
std::optional<Document> document_from_data_url(std::string_view url);
// The document's bytes as base64 (a text document's text encoded), and as a data: URL.
std::string document_base64(const Document& document);
std::string document_data_url(const Document& document);
// The document's bytes as text (decoded when they are base64); nullopt when they do not decode.
std::optional<std::string> document_text(const Document& document);
// OpenAI's file object ({file_data, file_id, filename}: a chat `file` part's `file`, a
// Responses `input_file` item itself) at `path` -> a document part. file_data must be a base64
// data: URL; file_id is a 400 naming it (keel sends what it was given, it keeps no files for
// chat); errors name `path`.file_data etc.
Status parse_openai_file(const Json& file, const std::string& path, ContentPart& out);

// ---- error messages ------------------------------------------------------------------------

// "an object", "a string", "null", ...: a value's type, for "x must be ..., got <this>".
const char* describe(const Json& value);

// "messages[3]": an OpenAI-style path to an array element.
std::string indexed(const std::string& path, size_t index);

// `text` cut to at most `limit` bytes on a UTF-8 boundary, "..." added when cut.
std::string truncate_utf8(const std::string& text, size_t limit);

// A client-supplied value quoted in an error message, cut to 64 bytes: 'value'.
std::string echo(const std::string& value);

// kInvalidArgument naming the offending field in `param`.
Error invalid(std::string param, std::string message);
// "<param> must be <expected>, got <describe(got)>", as invalid().
Error wrong_type(const std::string& param, const char* expected, const Json& got);
// kBadGateway: the upstream sent something keel cannot use.
Error bad_gateway(std::string message);

// ---- native messages -----------------------------------------------------------------------

// Content sent as a plain string: appends one text part holding `text` and marks the content
// as a string, so that the message goes back on the wire the way it came.
void set_string_content(Message& message, std::string text);

// ---- text ----------------------------------------------------------------------------------

// `text` with A-Z lowered; other bytes as they are (no locale).
std::string ascii_lower(std::string_view text);

}  // namespace keel
