// Helpers shared by the files of src/api/anthropic/ (internal.h).
#include "api/anthropic/internal.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>
#include <optional>
#include <set>
#include <utility>

#include "api/anthropic/anthropic.h"
#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"

namespace keel {

namespace anthropic_internal {

bool is_anthropic_image_type(std::string_view media_type) {
  return media_type == "image/jpeg" || media_type == "image/png" || media_type == "image/gif" ||
         media_type == "image/webp";
}

const char* stop_reason_for(FinishReason finish, bool has_tool_calls,
                            const std::string& stop_sequence) {
  switch (finish) {
    case FinishReason::kStop:
      return stop_sequence.empty() ? "end_turn" : "stop_sequence";
    case FinishReason::kLength:
      return "max_tokens";
    case FinishReason::kToolCalls:
      return "tool_use";
    case FinishReason::kContentFilter:
      return "refusal";
    case FinishReason::kNone:
    case FinishReason::kError:
      break;
  }
  return has_tool_calls ? "tool_use" : "end_turn";
}

// Anthropic's input_tokens counts neither cache reads nor cache writes.
int64_t input_tokens_of(const Usage& usage) {
  return std::max<int64_t>(0, usage.prompt_tokens - usage.cached_tokens.value_or(0) -
                                  usage.cache_creation_tokens.value_or(0));
}

Json optional_count(const std::optional<int64_t>& count) {
  return count ? Json(*count) : Json(nullptr);
}

// Usage (SDK `Usage`): every declared field, null when keel does not know it.
Json usage_to_anthropic(const Usage& usage) {
  return {{"input_tokens", input_tokens_of(usage)},
          {"output_tokens", usage.completion_tokens},
          {"cache_creation_input_tokens", optional_count(usage.cache_creation_tokens)},
          {"cache_read_input_tokens", optional_count(usage.cached_tokens)},
          {"cache_creation", nullptr},
          {"inference_geo", nullptr},
          {"output_tokens_details", nullptr},
          {"server_tool_use", nullptr},
          {"service_tier", nullptr},
          {"speed", nullptr}};
}

// A Message without content, stop reason or usage.
Json message_envelope(const std::string& id, const std::string& model) {
  return {{"id", id},
          {"type", "message"},
          {"role", "assistant"},
          {"model", model},
          {"content", Json::array()},
          {"stop_reason", nullptr},
          {"stop_sequence", nullptr},
          {"stop_details", nullptr},
          {"container", nullptr},
          {"diagnostics", nullptr}};
}

Json text_block(const std::string& text) {
  return {{"type", "text"}, {"text", text}, {"citations", nullptr}};
}

// char_location: the passage as the cited document (document_index: its marker's number - 1,
// as the prompt listed it), the source file as its title, the chunk's id as file_id, and the
// passage's place in the source's text.
Json citation_to_anthropic(const Citation& citation) {
  return {{"type", "char_location"},
          {"cited_text", citation.cited_text},
          {"document_index", std::max(0, citation.number - 1)},
          {"document_title", citation.source},
          {"start_char_index", citation.source_start},
          {"end_char_index", citation.source_end},
          {"file_id", citation.chunk_id}};
}

Json tool_use_block(const std::string& id, const std::string& name, Json input) {
  return {{"type", "tool_use"},
          {"id", id},
          {"name", name},
          {"input", std::move(input)},
          {"caller", {{"type", "direct"}}}};
}

// A reasoning part as the block an Anthropic client (or Anthropic itself) reads. Another
// vendor's reasoning goes with its readable text only and an empty signature, so that when the
// client sends it back it is known not to be Anthropic's (parse_reasoning_block).
Json reasoning_block(const ReasoningPart& part) {
  const bool own = part.vendor == kVendorAnthropic;
  if (own && part.redacted) return {{"type", "redacted_thinking"}, {"data", part.signature}};
  return {{"type", "thinking"},
          {"thinking", part.text},
          {"signature", own ? part.signature : std::string()}};
}

FinishReason finish_from_stop_reason(const std::string& reason, bool has_tool_calls) {
  if (reason == "end_turn" || reason == "stop_sequence" || reason == "pause_turn") {
    return FinishReason::kStop;
  }
  if (reason == "max_tokens" || reason == "model_context_window_exceeded") {
    return FinishReason::kLength;
  }
  if (reason == "tool_use") return FinishReason::kToolCalls;
  if (reason == "refusal") return FinishReason::kContentFilter;
  return has_tool_calls ? FinishReason::kToolCalls : FinishReason::kStop;
}

// Reads a token count that may be absent or null (keeps `out`); false when it is not a number.
bool read_count(const Json& usage, const char* key, int64_t& out, bool* seen) {
  const Json* value = member(usage, key);
  if (!value) return true;
  if (!value->is_number()) return false;
  auto count = as_int64(*value);
  if (!count) {
    double d = value->get<double>();
    if (!std::isfinite(d)) return false;
    count = static_cast<int64_t>(std::clamp(d, 0.0, 9.0e18));
  }
  out = std::max<int64_t>(0, *count);
  if (seen) *seen = true;
  return true;
}

Usage native_usage(int64_t input, int64_t cache_read, bool cache_read_seen, int64_t cache_creation,
                   bool cache_creation_seen, int64_t output) {
  Usage usage;
  input = clamp_tokens(input);
  cache_read = clamp_tokens(cache_read);
  cache_creation = clamp_tokens(cache_creation);
  output = clamp_tokens(output);
  usage.prompt_tokens = input + cache_read + cache_creation;
  usage.completion_tokens = output;
  usage.total_tokens = usage.prompt_tokens + output;
  if (cache_read_seen) usage.cached_tokens = cache_read;
  if (cache_creation_seen) usage.cache_creation_tokens = cache_creation;
  usage.present = true;
  return usage;
}

ErrorCode code_for_error_type(const std::string& type) {
  if (type == "overloaded_error") return ErrorCode::kUnavailable;
  if (type == "rate_limit_error") return ErrorCode::kResourceExhausted;
  if (type == "timeout_error") return ErrorCode::kDeadlineExceeded;
  return ErrorCode::kBadGateway;
}

// An Anthropic {"type": "error", "error": {...}} payload -> keel's error.
Error upstream_error(const Json& body) {
  const Json* error = member(body, "error");
  std::string type = error ? optional_string(*error, "type") : std::string();
  std::string message = error ? optional_string(*error, "message") : std::string();
  message = truncate_utf8(message.empty() ? std::string("(no message)") : message,
                          kMaxUpstreamMessageBytes);
  std::string label = type.empty() ? std::string() : " (" + truncate_utf8(type, 64) + ")";
  Error out(code_for_error_type(type), "upstream error" + label + ": " + message);
  if (type == "overloaded_error") out.type_code = kOverloadedCode;
  return out;
}

}  // namespace anthropic_internal

}  // namespace keel
