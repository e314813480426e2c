// From Gemini, streamed: GenerateContentResponse chunks -> native events (GeminiStreamDecoder
// in gemini.h).
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

namespace keel {

using namespace gemini_internal;

namespace {

ErrorCode code_for_status(const std::string& status) {
  if (status == "RESOURCE_EXHAUSTED") return ErrorCode::kResourceExhausted;
  if (status == "UNAVAILABLE") return ErrorCode::kUnavailable;
  if (status == "DEADLINE_EXCEEDED") return ErrorCode::kDeadlineExceeded;
  return ErrorCode::kBadGateway;
}

}  // namespace

Status GeminiStreamDecoder::decode(std::string_view data, std::vector<ChatEvent>& out) {
  const std::string prefix = "upstream sent an invalid Gemini stream chunk: ";
  try {
    if (state_.failed) return Status::Ok();  // nothing counts after an error
    auto json = try_parse_json(data);
    if (!json) return bad_gateway(prefix + "not valid JSON (or nested too deeply)");
    if (const Json* error = error_object(*json)) {
      Error failure(code_for_status(optional_string(*error, "status")),
                    "upstream error: " + error_text(*error));
      if (const Json* code = member(*error, "code"); code && code->is_number_integer()) {
        failure.upstream_status = code->get<int>();
      }
      state_.failed = true;
      state_.finished = true;
      out.push_back(ChatEvent::failure(std::move(failure)));
      return Status::Ok();
    }
    std::vector<ChatEvent> events;
    if (auto st = decode_response(*json, state_, events, prefix); !st.ok()) return st;
    for (auto& event : events) out.push_back(std::move(event));
    return Status::Ok();
  } catch (const std::exception& e) {
    return bad_gateway(prefix + e.what());
  }
}

void GeminiStreamDecoder::finish(std::vector<ChatEvent>& out) {
  if (!state_.started || state_.failed) return;
  if (!state_.finished) {
    state_.finished = true;
    out.push_back(ChatEvent::finished(state_.tool_count > 0 ? FinishReason::kToolCalls
                                                            : FinishReason::kStop));
  }
  if (state_.usage) {
    out.push_back(ChatEvent::usage_event(*state_.usage));
    state_.usage.reset();
  }
}

}  // namespace keel
