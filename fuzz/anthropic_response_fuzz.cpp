// Upstream bytes from the Anthropic Messages API (provider kind `anthropic`): the input as a
// whole Message body (anthropic_response_from_wire), as an error body
// (anthropic_error_message), as a count_tokens answer (anthropic_count_from_wire), and as an SSE
// body of RawMessageStreamEvents, parsed by SseParser
// and decoded by AnthropicStreamDecoder the way relay_sse does. The events then go to every
// front door's encoders and the aggregator (fuzz_events.h).
//
// Invariants beyond "no crash, no UB, no leak":
//  - garbage is a 502; an upstream error event or body is a 502/503/429/504, never a client
//    fault; the error message is non-empty, bounded and valid UTF-8;
//  - a whole Message gives Start first and exactly one Finish;
//  - a stream's events start with Start, carry at most one Finish, and a stream that reached
//    message_stop without an error carries exactly one Finish;
//  - tool arguments only follow their call's start; a whole Message's tool arguments are JSON;
//  - everything keel serialises is valid UTF-8 (dump_checked).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/anthropic/anthropic.h"
#include "fuzz_check.h"
#include "fuzz_events.h"

namespace {

using fuzz_events::count_finishes;
using fuzz_events::UpstreamCodes;

void fuzz_whole_body(std::string_view input) {
  auto events = keel::anthropic_response_from_wire(input);
  if (!events) {
    fuzz_events::check_upstream_error(events.error(), UpstreamCodes::kAnyUpstream);
    return;
  }
  fuzz_events::check_whole_answer(*events);
  for (const auto& event : *events) {
    if (event.kind == keel::ChatEvent::Kind::kToolArgsDelta) {
      FUZZ_CHECK(keel::Json::accept(event.text), "a whole tool_use input is not JSON");
    }
  }
  fuzz_events::check_tool_events(*events);
  fuzz_events::deliver(*events, UpstreamCodes::kAnyUpstream);
}

void fuzz_error_body(std::string_view input) {
  fuzz_events::check_upstream_message(keel::anthropic_error_message(input));
}

void fuzz_stream(std::string_view input) {
  keel::AnthropicStreamDecoder decoder;
  bool reached_stop = false;
  auto relayed = fuzz_events::relay_sse_body(
      input, UpstreamCodes::kAnyUpstream,
      [&](const keel::SseEvent& event, std::vector<keel::ChatEvent>& out, bool& done) {
        auto status = decoder.decode(event.event, event.data, out, done);
        reached_stop = done;
        return status;
      });
  const auto& events = relayed.events;
  fuzz_events::check_stream_order(events);
  fuzz_events::check_tool_events(events);
  bool failed = !events.empty() && events.back().kind == keel::ChatEvent::Kind::kError;
  if (reached_stop && !failed) {
    FUZZ_CHECK(count_finishes(events) == 1, "a stream that reached message_stop has no Finish");
  }
  fuzz_events::deliver(events, UpstreamCodes::kAnyUpstream);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  fuzz_whole_body(input);
  fuzz_error_body(input);
  fuzz_events::check_count(keel::anthropic_count_from_wire(input));
  fuzz_stream(input);
  return 0;
}
