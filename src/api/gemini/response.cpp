// From Gemini: a whole GenerateContentResponse, countTokens answers and error bodies -> native
// (gemini.h).
// None of the functions that read untrusted bytes throws: JSON is depth-checked before it is
// parsed, every value's type is checked before it is read, and each public function also
// catches at its own boundary as a last line of defence.
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
#include "api/gemini/internal.h"
#include "api/json_util.h"
// upstream_error_message, for bodies that are not Gemini's shape
#include "api/openai_chat/openai_chat.h"

namespace keel {

using namespace gemini_internal;

namespace {

Result<std::vector<ChatEvent>> response_from_wire(std::string_view body, bool single_tool_call) {
  const std::string prefix = "upstream returned an invalid Gemini response: ";
  try {
    auto json = try_parse_json(body);
    if (!json) return bad_gateway(prefix + "not valid JSON (or nested too deeply)");
    if (const Json* error = error_object(*json)) {
      Error out = bad_gateway("upstream error: " + error_text(*error));
      if (const Json* code = member(*error, "code"); code && code->is_number_integer()) {
        out.upstream_status = code->get<int>();
      }
      return out;
    }
    const Json* candidates = member(*json, "candidates");
    if (json->is_object() && (!candidates || (candidates->is_array() && candidates->empty()))) {
      const Json* feedback = member(*json, "promptFeedback");
      if (!feedback || optional_string(*feedback, "blockReason").empty()) {
        return bad_gateway(prefix + "no candidates");
      }
    }
    GeminiStreamDecoder::State state;
    state.single_tool_call = single_tool_call;
    std::vector<ChatEvent> events;
    if (auto st = decode_response(*json, state, events, prefix); !st.ok()) return st.error();
    if (!state.finished) {
      events.push_back(ChatEvent::finished(state.tool_count > 0 ? FinishReason::kToolCalls
                                                                : FinishReason::kStop));
    }
    if (state.usage) events.push_back(ChatEvent::usage_event(*state.usage));
    return events;
  } catch (const std::exception& e) {
    return bad_gateway(prefix + e.what());
  }
}

}  // namespace

Result<int64_t> gemini_count_from_wire(std::string_view body) {
  auto json = try_parse_json(body);
  std::optional<int64_t> count;
  if (json && json->is_object() && member(*json, "totalTokens")) {
    count = read_count(*json, "totalTokens");
  }
  if (!count) return bad_gateway("upstream returned an invalid token count (no totalTokens)");
  return *count;
}

Result<std::vector<ChatEvent>> gemini_response_from_wire(std::string_view body) {
  return response_from_wire(body, false);
}

Result<std::vector<ChatEvent>> gemini_single_call_response_from_wire(std::string_view body) {
  return response_from_wire(body, true);
}

std::string gemini_error_message(std::string_view body) {
  try {
    if (auto json = try_parse_json(body)) {
      if (const Json* error = error_object(*json)) return error_text(*error);
    }
    return upstream_error_message(body);
  } catch (const std::exception&) {
    return "(unreadable body)";
  }
}

}  // namespace keel
