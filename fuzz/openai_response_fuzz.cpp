// Upstream bytes from an OpenAI-compatible server: a whole chat.completion body, an embeddings
// body, an error body, and a stream of chat.completion.chunk payloads (the input split into
// lines, one SSE data payload per line, as relay_sse hands them to OpenAIStreamDecoder).
// Events then go where the server sends them: both front doors' stream encoders and the
// aggregator (a non-streamed answer), all dumped as the server dumps them (fuzz_events.h).
//
// Invariants beyond "no crash, no UB, no leak":
//  - upstream garbage is a 502, never another status;
//  - upstream_error_message is non-empty, bounded, and valid UTF-8;
//  - a stream's events, up to the first Error (where the router stops), start with Start and
//    carry at most one Finish; tool indices stay small;
//  - everything keel serialises is valid UTF-8 (dump_checked);
//  - the fast paths (bodies and chunks of the usual shape read without a Json tree) give the
//    same events and errors as the full parse.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/openai_chat/openai_chat.h"
#include "fuzz_check.h"
#include "fuzz_events.h"

namespace {

constexpr size_t kMaxChunks = 512;

using fuzz_events::check_stream_order;

void check_upstream_error(const keel::Error& error) {
  fuzz_events::check_upstream_error(error, fuzz_events::UpstreamCodes::kBadGatewayOnly);
}

void deliver(const std::vector<keel::ChatEvent>& events) {
  fuzz_events::deliver(events, fuzz_events::UpstreamCodes::kBadGatewayOnly);
}

bool same_event(const keel::ChatEvent& a, const keel::ChatEvent& b) {
  return a.kind == b.kind && a.text == b.text && a.tool_index == b.tool_index &&
         a.tool_id == b.tool_id && a.tool_name == b.tool_name && a.finish == b.finish &&
         a.usage.prompt_tokens == b.usage.prompt_tokens &&
         a.usage.completion_tokens == b.usage.completion_tokens &&
         a.usage.total_tokens == b.usage.total_tokens &&
         a.usage.cached_tokens == b.usage.cached_tokens && a.usage.present == b.usage.present &&
         a.error.code == b.error.code && a.error.message == b.error.message && a.id == b.id &&
         a.model == b.model;
}

bool same_events(const std::vector<keel::ChatEvent>& a, const std::vector<keel::ChatEvent>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!same_event(a[i], b[i])) return false;
  }
  return true;
}

void fuzz_whole_bodies(std::string_view input) {
  auto events = keel::chat_response_from_wire(input);
  auto parsed = keel::chat_response_from_wire_parsed(input);
  FUZZ_CHECK(events.ok() == parsed.ok(), "fast and full body paths disagree on success");
  if (events.ok()) {
    FUZZ_CHECK(same_events(*events, *parsed), "fast and full body paths give other events");
  } else {
    FUZZ_CHECK(events.error().message == parsed.error().message,
               "fast and full body paths give other errors");
  }
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

  fuzz_events::check_upstream_message(keel::upstream_error_message(input));
}

void fuzz_stream(std::string_view input) {
  keel::OpenAIStreamDecoder decoder;
  keel::OpenAIStreamDecoder full_decoder(/*fast_path=*/false);
  std::vector<keel::ChatEvent> events;
  std::vector<keel::ChatEvent> full_events;
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
    auto full_status = full_decoder.decode(line, full_events);
    FUZZ_CHECK(status.ok() == full_status.ok(), "fast and full chunk paths disagree on success");
    FUZZ_CHECK(same_events(events, full_events), "fast and full chunk paths give other events");
    if (!status.ok()) {
      FUZZ_CHECK(status.error().message == full_status.error().message,
                 "fast and full chunk paths give other errors");
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
