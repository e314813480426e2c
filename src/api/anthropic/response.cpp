// Toward an Anthropic client: a whole Message, errors, the model list (anthropic.h).
//
// Toward an Anthropic client (messages_response_to_wire, AnthropicStreamEncoder): every field
// that SDK 1.14 declares as required is present, null when keel does not know it
// (stop_details, container, diagnostics, most usage details; stop_sequence unless the upstream
// named the one that matched, when stop_reason is "stop_sequence"). input_tokens = prompt_tokens
// - cached_tokens - cache_creation_tokens, cache_read_input_tokens = cached_tokens,
// cache_creation_input_tokens = cache_creation_tokens. Reasoning parts come first as thinking
// blocks (redacted_thinking for Anthropic's redacted ones; another vendor's reasoning as
// thinking with its readable text and an empty signature); streamed as thinking_delta and
// signature_delta. A tool call whose
// arguments are not a JSON object is given `input: {}` in a whole Message (streams carry the
// raw text as input_json_delta).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>
#include <optional>
#include <set>
#include <utility>

#include "api/anthropic/anthropic.h"
#include "api/anthropic/internal.h"
#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"

namespace keel {

using namespace anthropic_internal;

Json messages_response_to_wire(const ChatResponse& resp, const std::string& model) {
  Json wire = message_envelope(resp.id, model);
  Json& content = wire["content"];
  for (const ReasoningPart& part : resp.message.reasoning) {
    // Another vendor's opaque part alone (a Gemini call's signature) says nothing to the client.
    if (part.vendor == kVendorAnthropic || !part.text.empty()) {
      content.push_back(reasoning_block(part));
    }
  }
  std::string text = resp.message.text();
  if (!text.empty()) {
    Json block = text_block(text);
    if (!resp.message.citations.empty()) {
      block["citations"] = Json::array();
      for (const Citation& citation : resp.message.citations) {
        block["citations"].push_back(citation_to_anthropic(citation));
      }
    }
    content.push_back(std::move(block));
  }
  for (const auto& call : resp.message.tool_calls) {
    Json input = Json::object();
    if (auto parsed = parse_json(call.arguments, ErrorCode::kInvalidArgument, "arguments");
        parsed && parsed->is_object()) {
      input = std::move(*parsed);
    }
    content.push_back(tool_use_block(call.id, call.name, std::move(input)));
  }
  wire["stop_reason"] =
      stop_reason_for(resp.finish, !resp.message.tool_calls.empty(), resp.stop_sequence);
  if (!resp.stop_sequence.empty()) wire["stop_sequence"] = resp.stop_sequence;
  wire["usage"] = usage_to_anthropic(resp.usage);
  return wire;
}

const char* anthropic_error_type(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kPayloadTooLarge:   // Anthropic's docs say request_too_large; SDK 1.14's
    case ErrorCode::kUnsupportedMedia:  // ErrorType has no such value.
      return "invalid_request_error";
    case ErrorCode::kUnauthenticated:
      return "authentication_error";
    case ErrorCode::kPermissionDenied:
      return "permission_error";
    case ErrorCode::kNotFound:
      return "not_found_error";
    case ErrorCode::kResourceExhausted:
      return "rate_limit_error";
    case ErrorCode::kUnavailable:
      return "overloaded_error";
    case ErrorCode::kDeadlineExceeded:
      return "timeout_error";
    case ErrorCode::kInternal:
    case ErrorCode::kBadGateway:
    case ErrorCode::kCancelled:
      return "api_error";
  }
  return "api_error";
}

Json anthropic_error_to_wire(const Error& error, const std::string& request_id) {
  std::string message = error.message.empty() ? error_code_name(error.code) : error.message;
  // overloaded_error (HTTP 529 to Anthropic's SDKs, retried as an overload) only for an
  // overload: keel's own, or one an upstream named. Anything else unavailable (a connection
  // lost, an upstream that closed mid-stream, every target failed) is an api_error.
  const char* type = error.code == ErrorCode::kUnavailable && error.type_code != kOverloadedCode
                         ? "api_error"
                         : anthropic_error_type(error.code);
  return {{"type", "error"},
          {"error", {{"type", type}, {"message", std::move(message)}}},
          {"request_id", request_id}};
}

Json model_to_anthropic(const std::string& name, int64_t created) {
  // RFC 3339, as ModelInfo.created_at is.
  std::time_t seconds = static_cast<std::time_t>(created);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return {{"type", "model"},
          {"id", name},
          {"display_name", name},
          {"created_at", stamp},
          {"capabilities", nullptr},
          {"deprecated_at", nullptr},
          {"lifecycle", "active"},
          {"line", nullptr},
          {"max_input_tokens", nullptr},
          {"max_tokens", nullptr},
          {"retires_at", nullptr}};
}

Json models_to_anthropic(const std::vector<std::string>& names, int64_t created) {
  Json data = Json::array();
  for (const auto& name : names) data.push_back(model_to_anthropic(name, created));
  return {{"data", data},
          {"has_more", false},
          {"first_id", names.empty() ? Json(nullptr) : Json(names.front())},
          {"last_id", names.empty() ? Json(nullptr) : Json(names.back())}};
}

}  // namespace keel
