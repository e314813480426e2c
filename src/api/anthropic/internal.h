// Helpers shared by the files of src/api/anthropic/, not part of its interface (anthropic.h):
// usage and stop reasons in both directions, the blocks a Message is made of, error types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/anthropic/anthropic.h"
#include "api/json_util.h"

namespace keel::anthropic_internal {

inline constexpr int kMaxToolIndex = 1023;  // more tool calls than this in one answer is garbage

// The tool that carries a JSON mode answer (response_format json_object) from Anthropic.
inline constexpr const char* kJsonToolName = "json_response";

bool is_anthropic_image_type(std::string_view media_type);

const char* stop_reason_for(FinishReason finish, bool has_tool_calls,
                            const std::string& stop_sequence);

// Anthropic's input_tokens counts neither cache reads nor cache writes.
int64_t input_tokens_of(const Usage& usage);

Json optional_count(const std::optional<int64_t>& count);

// Usage (SDK `Usage`): every declared field, null when keel does not know it.
Json usage_to_anthropic(const Usage& usage);

// A Message without content, stop reason or usage.
Json message_envelope(const std::string& id, const std::string& model);

Json text_block(const std::string& text);

// char_location: the passage as the cited document (document_index: its marker's number - 1,
// as the prompt listed it), the source file as its title, the chunk's id as file_id, and the
// passage's place in the source's text.
Json citation_to_anthropic(const Citation& citation);

Json tool_use_block(const std::string& id, const std::string& name, Json input);

// A reasoning part as the block an Anthropic client (or Anthropic itself) reads. Another
// vendor's reasoning goes with its readable text only and an empty signature, so that when the
// client sends it back it is known not to be Anthropic's (parse_reasoning_block).
Json reasoning_block(const ReasoningPart& part);

FinishReason finish_from_stop_reason(const std::string& reason, bool has_tool_calls);

// Reads a token count that may be absent or null (keeps `out`); false when it is not a number.
bool read_count(const Json& usage, const char* key, int64_t& out, bool* seen = nullptr);

Usage native_usage(int64_t input, int64_t cache_read, bool cache_read_seen, int64_t cache_creation,
                   bool cache_creation_seen, int64_t output);

ErrorCode code_for_error_type(const std::string& type);

// An Anthropic {"type": "error", "error": {...}} payload -> keel's error.
Error upstream_error(const Json& body);

}  // namespace keel::anthropic_internal
