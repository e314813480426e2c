// Upstream bytes from an OpenAI-compatible server: a whole chat.completion body, an embeddings
// body, an error body, and a stream of chat.completion.chunk payloads (the input split into
// lines, one SSE data payload per line, as relay_sse hands them to OpenAIStreamDecoder).
// Events then go where the server sends them: the stream encoder (client chunks) and the
// aggregator (a non-streamed answer), all dumped as the server dumps them.
//
// Invariants beyond "no crash, no UB, no leak":
//  - upstream garbage is a 502, never another status;
//  - upstream_error_message is non-empty, bounded, and valid UTF-8;
//  - a stream's events, up to the first Error (where the router stops), start with Start and
//    carry at most one Finish; tool indices stay small;
//  - everything keel serialises is valid UTF-8 (dump_checked).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/openai_chat.h"
#include "fuzz_check.h"

namespace {

constexpr size_t kMaxChunks = 512;

void check_upstream_error(const keel::Error& error) {
  FUZZ_CHECK(error.code == keel::ErrorCode::kBadGateway, "upstream garbage is not a 502");
  dump_checked(keel::error_to_wire(error));
}

// What the server does with events: OpenAI chunks for a streaming client, one aggregated
// response for the others.
void deliver(const std::vector<keel::ChatEvent>& events) {
  keel::OpenAIStreamEncoder encoder("chatcmpl-fuzz", "fuzz-model", 1700000000, true);
  keel::ChatAggregator aggregator;
  std::vector<keel::Json> chunks;
  for (const auto& event : events) {
    FUZZ_CHECK(event.tool_index >= 0 && event.tool_index <= 1023, "tool index out of range");
    encoder.encode(event, chunks);
    aggregator.add(event);
    if (event.kind == keel::ChatEvent::Kind::kError) check_upstream_error(event.error);
  }
  for (const auto& chunk : chunks) dump_checked(chunk);
  dump_checked(keel::chat_response_to_wire(aggregator.response()));
}

void check_stream_order(const std::vector<keel::ChatEvent>& events) {
  int finishes = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const auto kind = events[i].kind;
    if (i == 0) {
      FUZZ_CHECK(kind == keel::ChatEvent::Kind::kStart || kind == keel::ChatEvent::Kind::kError,
                 "a stream's first event is neither Start nor Error");
    } else {
      FUZZ_CHECK(kind != keel::ChatEvent::Kind::kStart, "Start after the first event");
    }
    if (kind == keel::ChatEvent::Kind::kFinish) ++finishes;
  }
  FUZZ_CHECK(finishes <= 1, "more than one Finish in a stream");
}

void fuzz_whole_bodies(std::string_view input) {
  auto events = keel::chat_response_from_wire(input);
  if (events) {
    FUZZ_CHECK(!events->empty() && events->front().kind == keel::ChatEvent::Kind::kStart,
               "a chat completion's events do not open with Start");
    check_stream_order(*events);
    deliver(*events);
  } else {
    check_upstream_error(events.error());
  }

  auto embeddings = keel::embeddings_from_wire(input);
  if (embeddings) {
    dump_checked(keel::embeddings_to_wire(*embeddings, false));
    dump_checked(keel::embeddings_to_wire(*embeddings, true));
  } else {
    check_upstream_error(embeddings.error());
  }

  std::string message = keel::upstream_error_message(input);
  FUZZ_CHECK(!message.empty(), "empty upstream error message");
  // 1000 bytes of message + "..." at most (openai_chat.cpp: kMaxUpstreamMessageBytes).
  FUZZ_CHECK(message.size() <= 1003, "upstream error message is not bounded");
  dump_checked(keel::Json(message));
}

void fuzz_stream(std::string_view input) {
  keel::OpenAIStreamDecoder decoder;
  std::vector<keel::ChatEvent> events;
  size_t chunks = 0;
  bool done = false;
  size_t start = 0;
  while (start <= input.size() && chunks < kMaxChunks) {
    size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    std::string_view line = input.substr(start, end - start);
    start = end + 1;
    if (line.substr(0, 6) == "data: ") line.remove_prefix(6);
    if (line.empty()) continue;
    ++chunks;
    if (line == "[DONE]") {
      decoder.finish(events);
      done = true;
      break;
    }
    auto status = decoder.decode(line, events);
    if (!status.ok()) {
      check_upstream_error(status.error());
      break;  // relay_sse stops at the first bad chunk
    }
  }
  if (!done) decoder.finish(events);
  // The router's sink refuses everything from an Error on, so relay_sse stops there.
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].kind == keel::ChatEvent::Kind::kError) {
      events.resize(i + 1);
      break;
    }
  }
  check_stream_order(events);
  deliver(events);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  fuzz_whole_bodies(input);
  fuzz_stream(input);
  return 0;
}
