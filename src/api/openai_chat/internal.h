// Helpers shared by the files of src/api/openai_chat/, not part of its interface
// (openai_chat.h): JSON readers, usage, error payloads, the fast scanner of answers, UTF-8 text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/json_scan.h"
#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"

namespace keel::openai_chat_internal {

struct ScannedChoice {
  std::optional<int64_t> index;
  bool has_message = false;  // message (whole body) or delta (chunk), not null
  std::string text;
  std::optional<std::string> finish_reason;  // when a string
};

struct ScannedBody {
  std::string id, model;
  bool has_choices = false;  // `choices` is an array
  std::vector<ScannedChoice> choices;
  std::optional<Usage> usage;
};

Status read_bool(const Json& object, const char* key, std::optional<bool>& out);

// `stop`: a string or an array of at most four strings.
Status parse_stop(const Json& wire, std::vector<std::string>& out);

// temperature, top_p, presence_penalty, frequency_penalty (in OpenAI's ranges) and seed.
Status read_sampling(const Json& body, Sampling& sampling);

// stream and stream_options.include_usage.
Status read_stream(const Json& body, ChatRequest& req);

// A client's body as JSON: an object with a non-empty string `model`, the rest read into the
// ChatRequest by `read_object`; any throw on the way is a 400, the last line of defence of a
// parser of untrusted bytes.
Result<ChatRequest> read_request_body(std::string_view body,
                                      Status (*read_object)(const Json&, ChatRequest&));

Status read_string(const Json& object, const char* key, const std::string& param, std::string& out);

Status read_integer(const Json& object, const char* key, std::optional<int64_t>& out);

Status read_positive_integer(const Json& object, const char* key, std::optional<int64_t>& out);

Json tool_call_to_wire(const ToolCall& call);

// Reads an integer count, tolerating absence/null (0) and floats; nullopt when the field has
// the wrong type. Clamped to [0, 2^53]: far above any real count, and low enough that the sums
// made from counts (total = prompt + completion) cannot overflow.
std::optional<int64_t> read_count(const Json& object, const char* key);

Result<Usage> usage_from_wire(const Json& wire);

Json usage_to_wire(const Usage& usage);

std::optional<std::string> error_payload_message_uncapped(const Json& body);

// An upstream's {"error": ...} payload -> its message (capped), or nullopt when `body` is not
// one. vLLM and some others send {"object": "error", "message": ...} instead.
std::optional<std::string> error_payload_message(const Json& body);

// Message text from a response's `content`: a string, or (some servers) an array of parts.
std::optional<std::string> content_text(const Json& content);

// Fast paths for the common shapes:
// chat.completion bodies and chunks of the usual shape (text, finish_reason, usage; no tool
// calls, no errors, no content parts, no floats) are read with JsonScanner, without a Json
// tree. Anything else, or any doubt, returns nullopt and the caller takes the full path, so
// these are only ever faster, never different: tests and openai_response_fuzz compare the two.
//
// A count in usage: an integer (clamped as read_count does) or null (absent).
bool scan_count(JsonScanner& scan, std::optional<int64_t>& out);

// usage_from_wire for a usage object of integers.
bool scan_usage(JsonScanner& scan, Usage& usage);

// A string member read by optional_string: the string, or "" for any other value.
bool scan_optional_string(JsonScanner& scan, std::string& out);

bool scan_choice(JsonScanner& scan, const char* message_key, ScannedChoice& choice);

// The top level of a chat.completion or chunk. Every choice is read (and must have the usual
// shape); `choices` absent or null sends the caller to the full path (errors live there).
// `choices_at`, when given, gets the offset of the "choices" key in `text` when no usage member
// came before it (else stays npos).
bool scan_body(std::string_view text, const char* message_key, ScannedBody& body,
               size_t* choices_at = nullptr);

std::string dump_chunk(const Json& chunk);

}  // namespace keel::openai_chat_internal
