// Helpers shared by the files of src/api/gemini/ (internal.h).
#include "api/gemini/internal.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <map>
#include <set>
#include <unordered_set>
#include <utility>

#include "api/gemini/gemini.h"
#include "api/json_util.h"

namespace keel {

namespace {

struct ToolPart {
  std::string id, name, args;
};

}  // namespace

namespace gemini_internal {

// "<what> is not supported by provider kind gemini", the one phrasing for refused features.
Error unsupported(std::string param, const std::string& what) {
  return invalid(std::move(param), what + " is not supported by " + kVendor);
}

FinishReason finish_from_gemini(const std::string& reason, bool has_tool_calls) {
  static const std::set<std::string, std::less<>> kFiltered = {"SAFETY",
                                                               "RECITATION",
                                                               "BLOCKLIST",
                                                               "PROHIBITED_CONTENT",
                                                               "SPII",
                                                               "IMAGE_SAFETY",
                                                               "IMAGE_PROHIBITED_CONTENT",
                                                               "IMAGE_RECITATION"};
  static const std::set<std::string, std::less<>> kFailed = {
      "MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS"};
  if (reason == "MAX_TOKENS" || reason == "CONTINUATION") return FinishReason::kLength;
  if (kFiltered.count(reason)) return FinishReason::kContentFilter;
  if (kFailed.count(reason)) return FinishReason::kError;
  // STOP, OTHER, LANGUAGE, FINISH_REASON_UNSPECIFIED and reasons added later.
  return has_tool_calls ? FinishReason::kToolCalls : FinishReason::kStop;
}

std::optional<int64_t> read_count(const Json& object, const char* key) {
  const Json* value = member(object, key);
  if (!value) return 0;
  if (value->is_number_unsigned()) {
    return static_cast<int64_t>(std::min<uint64_t>(value->get<uint64_t>(), 9000000000000000000ull));
  }
  if (value->is_number_integer()) return std::max<int64_t>(value->get<int64_t>(), 0);
  if (value->is_number_float() && std::isfinite(value->get<double>())) {
    return static_cast<int64_t>(std::clamp(value->get<double>(), 0.0, 9.0e18));
  }
  if (value->is_string()) {  // proto3 JSON may quote int64s
    int64_t parsed = 0;
    const std::string& text = str(*value);
    if (text.empty() || text.size() > 18 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    for (char c : text) parsed = parsed * 10 + (c - '0');
    return parsed;
  }
  return std::nullopt;
}

// usageMetadata -> Usage. completion_tokens counts thinking tokens too, as OpenAI's does with
// reasoning tokens (Gemini bills thoughtsTokenCount as output).
Result<Usage> usage_from_gemini(const Json& wire) {
  if (!wire.is_object()) return bad_gateway("usageMetadata is not an object");
  auto prompt = read_count(wire, "promptTokenCount");
  auto candidates = read_count(wire, "candidatesTokenCount");
  auto thoughts = read_count(wire, "thoughtsTokenCount");
  auto tool_use = read_count(wire, "toolUsePromptTokenCount");
  auto total = read_count(wire, "totalTokenCount");
  auto cached = read_count(wire, "cachedContentTokenCount");
  if (!prompt || !candidates || !thoughts || !tool_use || !total || !cached) {
    return bad_gateway("usageMetadata counts are not numbers");
  }
  Usage usage;
  usage.prompt_tokens = clamp_tokens(*prompt) + clamp_tokens(*tool_use);
  usage.completion_tokens = clamp_tokens(*candidates) + clamp_tokens(*thoughts);
  usage.total_tokens =
      member(wire, "totalTokenCount") ? *total : usage.prompt_tokens + usage.completion_tokens;
  if (member(wire, "cachedContentTokenCount")) usage.cached_tokens = *cached;
  usage.present = true;
  return usage;
}

// FNV-1a, for deterministic tool-call ids.
uint64_t fnv1a(std::string_view text) {
  uint64_t hash = 1469598103934665603ull;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return hash;
}

// A tool-call id for a functionCall part that carries none: deterministic (the same response
// gives the same ids, streamed or not), unique within the response (the index), distinct across
// a thread's turns (the responseId), and short and plain enough for every vendor's id rules
// (OpenAI: at most 40 characters; Anthropic: [a-zA-Z0-9_-]).
std::string generated_tool_id(const std::string& response_id, int index, const std::string& name,
                              const std::string& args) {
  std::string key = response_id + '\x1f' + std::to_string(index) + '\x1f' + name + '\x1f' + args;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a(key)));
  return "call_" + std::string(hex) + "_" + std::to_string(index);
}

// {"error": {...}} (or [{"error": {...}}]) -> the error object; nullptr otherwise.
const Json* error_object(const Json& body) {
  const Json* object = &body;
  if (body.is_array() && body.size() == 1) object = &body[0];
  const Json* error = member(*object, "error");
  return error && error->is_object() ? error : nullptr;
}

std::string error_text(const Json& error) {
  std::string message = optional_string(error, "message");
  std::string status = optional_string(error, "status");
  if (message.empty())
    message = status.empty() ? std::string("(no message)") : status;
  else if (!status.empty())
    message += " (" + status + ")";
  return truncate_utf8(message, kMaxUpstreamMessageBytes);
}

// Decodes one GenerateContentResponse (a whole answer, or one stream chunk) into events,
// validating everything before emitting anything.
Status decode_response(const Json& body, GeminiStreamDecoder::State& state,
                       std::vector<ChatEvent>& out, const std::string& prefix) {
  if (!body.is_object()) return bad_gateway(prefix + "the body is not a JSON object");
  const Json* candidates = member(body, "candidates");
  if (candidates && !candidates->is_array())
    return bad_gateway(prefix + "candidates is not an array");
  const Json* candidate = nullptr;
  if (candidates) {
    for (const auto& item : *candidates) {
      if (!item.is_object()) return bad_gateway(prefix + "a candidate is not an object");
      const Json* index = member(item, "index");
      if (!index || (index->is_number() && index->get<double>() == 0)) {
        candidate = &item;
        break;
      }
    }
  }
  std::vector<std::string> texts;
  std::vector<ToolPart> tools;
  // Thought parts and functionCall signatures, in order. A signature ends its reasoning part;
  // a call's signature is a part of its own.
  struct Thought {
    std::string text, signature;
    bool of_call = false;
  };
  std::vector<Thought> thoughts;
  std::string finish_reason;
  if (candidate) {
    if (const Json* content = member(*candidate, "content")) {
      if (!content->is_object()) return bad_gateway(prefix + "candidate content is not an object");
      const Json* parts = member(*content, "parts");
      if (parts && !parts->is_array()) return bad_gateway(prefix + "content.parts is not an array");
      for (const auto& part : parts ? *parts : Json::array()) {
        if (!part.is_object()) return bad_gateway(prefix + "a part is not an object");
        const Json* thought = member(part, "thought");
        bool is_thought = thought && thought->is_boolean() && thought->get<bool>();
        const Json* signature = member(part, "thoughtSignature");
        if (signature && !signature->is_string()) {
          return bad_gateway(prefix + "a part's thoughtSignature is not a string");
        }
        if (const Json* text = member(part, "text")) {
          if (!text->is_string()) return bad_gateway(prefix + "a part's text is not a string");
          if (is_thought) {
            thoughts.push_back({str(*text), signature ? str(*signature) : std::string()});
          } else if (!str(*text).empty()) {
            texts.push_back(str(*text));
          }
          // A signature on a text part is not kept: Gemini does not require it back.
        }
        if (const Json* call = member(part, "functionCall")) {
          if (!call->is_object()) return bad_gateway(prefix + "functionCall is not an object");
          const Json* name = member(*call, "name");
          if (!name || !name->is_string() || str(*name).empty()) {
            return bad_gateway(prefix + "a functionCall has no name");
          }
          const Json* args = member(*call, "args");
          if (args && !args->is_object())
            return bad_gateway(prefix + "functionCall.args is not an object");
          ToolPart tool;
          tool.name = str(*name);
          tool.args = args ? args->dump(-1, ' ', false, Json::error_handler_t::replace) : "{}";
          tool.id = optional_string(*call, "id");
          // Its signature is a reasoning part of its own, before the turn's content; it goes
          // back on the turn's first call (convert_messages).
          if (signature && !str(*signature).empty()) {
            thoughts.push_back({"", str(*signature), true});
          }
          tools.push_back(std::move(tool));
        }
        // Other parts (inlineData, executableCode, ...) come only from features keel does not
        // request; they are skipped.
      }
    }
    if (const Json* reason = member(*candidate, "finishReason")) {
      if (!reason->is_string()) return bad_gateway(prefix + "finishReason is not a string");
      finish_reason = str(*reason);
    }
  }
  std::string block_reason;
  if (const Json* feedback = member(body, "promptFeedback")) {
    if (!feedback->is_object()) return bad_gateway(prefix + "promptFeedback is not an object");
    block_reason = optional_string(*feedback, "blockReason");
  }
  std::optional<Usage> usage;
  if (const Json* wire_usage = member(body, "usageMetadata")) {
    auto parsed = usage_from_gemini(*wire_usage);
    if (!parsed) return bad_gateway(prefix + parsed.error().message);
    usage = *parsed;
  }

  if (!state.started) {
    state.started = true;
    state.response_id = optional_string(body, "responseId");
    ChatEvent& start = ChatEvent::start(out.emplace_back(), state.response_id,
                                        optional_string(body, "modelVersion"));
    if (usage && member(*member(body, "usageMetadata"), "promptTokenCount")) {
      // A stream's first chunk already counts the prompt: the client may read it at the start.
      start.usage.prompt_tokens = usage->prompt_tokens;
      start.usage.cached_tokens = usage->cached_tokens;
      start.usage.present = true;
    }
  }
  if (state.finished) {  // content after Finish is not the documented order; only usage counts
    if (usage) state.usage = usage;
    return Status::Ok();
  }
  for (Thought& thought : thoughts) {
    if (state.reasoning_count > 1023) break;
    if (thought.of_call && state.reasoning_text) ++state.reasoning_count;
    if (!thought.text.empty()) {
      state.reasoning_text = true;
      out.push_back(ChatEvent::reasoning_delta(state.reasoning_count, std::move(thought.text)));
    }
    if (!thought.signature.empty()) {
      state.reasoning_text = false;
      out.push_back(ChatEvent::reasoning_signature(state.reasoning_count++,
                                                   std::move(thought.signature), kVendorGemini));
    }
  }
  for (auto& text : texts) out.push_back(ChatEvent::text_delta(std::move(text)));
  for (auto& tool : tools) {
    if (state.single_tool_call && state.tool_count > 0) break;  // the promise: one call a turn
    int index = state.tool_count++;
    std::string id = tool.id.empty()
                         ? generated_tool_id(state.response_id, index, tool.name, tool.args)
                         : tool.id;
    out.push_back(ChatEvent::tool_call_start(index, std::move(id), std::move(tool.name)));
    out.push_back(ChatEvent::tool_args_delta(index, std::move(tool.args)));
  }
  if (!finish_reason.empty()) {
    state.finished = true;
    out.push_back(ChatEvent::finished(finish_from_gemini(finish_reason, state.tool_count > 0)));
  } else if (!candidate && !block_reason.empty() && block_reason != "BLOCKED_REASON_UNSPECIFIED") {
    state.finished = true;  // the prompt itself was blocked: no candidates at all
    out.push_back(ChatEvent::finished(FinishReason::kContentFilter));
  }
  if (usage) state.usage = usage;
  return Status::Ok();
}

}  // namespace gemini_internal

}  // namespace keel
