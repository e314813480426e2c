// Upstream bytes from the Gemini API (provider kind `gemini`): the input as a whole
// GenerateContentResponse (gemini_response_from_wire), as an error body
// (gemini_error_message), and as a streamGenerateContent?alt=sse body, parsed by SseParser and
// decoded by GeminiStreamDecoder the way GeminiProvider::chat does (relay_sse, then finish()
// when the relay succeeded). The events then go to every front door's encoders and the
// aggregator (fuzz_events.h).
//
// Invariants beyond "no crash, no UB, no leak":
//  - garbage is a 502; an upstream error chunk is a 502/503/429/504, never a client fault;
//    the error message is non-empty, bounded and valid UTF-8;
//  - a whole response gives Start first and exactly one Finish; a stream that the relay
//    accepted ends with exactly one Finish after finish();
//  - tool arguments only follow their call's start and are JSON objects (Gemini sends whole
//    functionCall args, never fragments);
//  - everything keel serialises is valid UTF-8 (dump_checked).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/gemini/gemini.h"
#include "api/json_util.h"
#include "fuzz_check.h"
#include "fuzz_events.h"

namespace {

using fuzz_events::count_finishes;
using fuzz_events::UpstreamCodes;

void check_tool_arguments(const std::vector<keel::ChatEvent>& events) {
  for (const auto& event : events) {
    if (event.kind != keel::ChatEvent::Kind::kToolArgsDelta) continue;
    auto args = keel::try_parse_json(event.text);
    FUZZ_CHECK(args && args->is_object(), "functionCall arguments are not a JSON object");
  }
  fuzz_events::check_tool_events(events);
}

void fuzz_whole_body(std::string_view input) {
  auto events = keel::gemini_response_from_wire(input);
  if (!events) {
    fuzz_events::check_upstream_error(events.error(), UpstreamCodes::kAnyUpstream);
    return;
  }
  fuzz_events::check_whole_answer(*events);
  check_tool_arguments(*events);
  fuzz_events::deliver(*events, UpstreamCodes::kAnyUpstream);
}

void fuzz_error_body(std::string_view input) {
  fuzz_events::check_upstream_message(keel::gemini_error_message(input));
}

void fuzz_stream(std::string_view input) {
  keel::GeminiStreamDecoder decoder;
  auto relayed = fuzz_events::relay_sse_body(
      input, UpstreamCodes::kAnyUpstream,
      [&](const keel::SseEvent& event, std::vector<keel::ChatEvent>& out, bool&) {
        return decoder.decode(event.data, out);
      });
  auto& events = relayed.events;
  if (relayed.ok) {
    decoder.finish(events);
    FUZZ_CHECK(count_finishes(events) == 1, "a finished stream does not carry one Finish");
    FUZZ_CHECK(events.back().kind == keel::ChatEvent::Kind::kFinish ||
                   events.back().kind == keel::ChatEvent::Kind::kUsage,
               "a finished stream ends with neither Finish nor Usage");
  }
  fuzz_events::check_stream_order(events);
  check_tool_arguments(events);
  fuzz_events::deliver(events, UpstreamCodes::kAnyUpstream);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  fuzz_whole_body(input);
  fuzz_error_body(input);
  fuzz_events::check_count(keel::gemini_count_from_wire(input));
  fuzz_stream(input);
  return 0;
}
