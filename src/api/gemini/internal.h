// Helpers shared by the files of src/api/gemini/, not part of its interface (gemini.h):
// usage, finish reasons, tool-call ids, error bodies, decoding one response.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/gemini/gemini.h"
#include "api/json_util.h"

namespace keel::gemini_internal {

inline constexpr const char* kVendor = "provider kind gemini";

// "<what> is not supported by provider kind gemini", the one phrasing for refused features.
Error unsupported(std::string param, const std::string& what);

FinishReason finish_from_gemini(const std::string& reason, bool has_tool_calls);

std::optional<int64_t> read_count(const Json& object, const char* key);

// usageMetadata -> Usage. completion_tokens counts thinking tokens too, as OpenAI's does with
// reasoning tokens (Gemini bills thoughtsTokenCount as output).
Result<Usage> usage_from_gemini(const Json& wire);

// FNV-1a, for deterministic tool-call ids.
uint64_t fnv1a(std::string_view text);

// A tool-call id for a functionCall part that carries none: deterministic (the same response
// gives the same ids, streamed or not), unique within the response (the index), distinct across
// a thread's turns (the responseId), and short and plain enough for every vendor's id rules
// (OpenAI: at most 40 characters; Anthropic: [a-zA-Z0-9_-]).
std::string generated_tool_id(const std::string& response_id, int index, const std::string& name,
                              const std::string& args);

// {"error": {...}} (or [{"error": {...}}]) -> the error object; nullptr otherwise.
const Json* error_object(const Json& body);

std::string error_text(const Json& error);

// Decodes one GenerateContentResponse (a whole answer, or one stream chunk) into events,
// validating everything before emitting anything.
Status decode_response(const Json& body, GeminiStreamDecoder::State& state,
                       std::vector<ChatEvent>& out, const std::string& prefix);

}  // namespace keel::gemini_internal
