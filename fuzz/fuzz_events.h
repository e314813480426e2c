// Shared by the upstream response targets (openai_response, anthropic_response,
// gemini_response): what keel does with a provider's native events, and the checks on them.
//
//   std::vector<ChatEvent> events = relay_sse_body(input, [&](const SseEvent& e, auto& out,
//                                                             bool& done) { ... });
//   check_stream_order(events);
//   deliver(events, kAnyUpstreamCode);   // every front door's encoder and aggregator
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "api/anthropic/anthropic.h"
#include "api/openai_chat/openai_chat.h"
#include "fuzz_check.h"
#include "http/sse.h"

namespace fuzz_events {

// Which error codes an upstream's bytes may produce.
enum class UpstreamCodes {
  kBadGatewayOnly,  // the OpenAI wire: garbage and error bodies are all 502s
  kAnyUpstream,     // vendors that name the failure: 502, 503 (overloaded), 429, 504
};

inline void check_upstream_error(const keel::Error& error, UpstreamCodes codes) {
  if (codes == UpstreamCodes::kBadGatewayOnly) {
    FUZZ_CHECK(error.code == keel::ErrorCode::kBadGateway, "upstream garbage is not a 502");
  } else {
    // Never a client-fault status: the client's request was fine, the upstream's answer was not.
    FUZZ_CHECK(error.code == keel::ErrorCode::kBadGateway ||
                   error.code == keel::ErrorCode::kUnavailable ||
                   error.code == keel::ErrorCode::kResourceExhausted ||
                   error.code == keel::ErrorCode::kDeadlineExceeded,
               "an upstream answer gave a status other than 502/503/429/504");
  }
  FUZZ_CHECK(!error.message.empty(), "an upstream error without a message");
  dump_checked(keel::error_to_wire(error));
  dump_checked(keel::anthropic_error_to_wire(error, "req_fuzz"));
}

// What keel tells a client about a non-2xx upstream body: non-empty, bounded (1000 bytes of
// message + "..." at most, json_util.h kMaxUpstreamMessageBytes), valid UTF-8.
// An upstream's token count answer, parsed: a count >= 0, or a 502.
inline void check_count(const keel::Result<int64_t>& count) {
  if (count) {
    FUZZ_CHECK(*count >= 0, "a negative token count");
  } else {
    FUZZ_CHECK(count.error().code == keel::ErrorCode::kBadGateway, "a bad count that is not a 502");
  }
}

inline void check_upstream_message(const std::string& message) {
  FUZZ_CHECK(!message.empty(), "empty upstream error message");
  FUZZ_CHECK(message.size() <= 1003, "upstream error message is not bounded");
  dump_checked(keel::Json(message));
}

inline int count_finishes(const std::vector<keel::ChatEvent>& events) {
  int finishes = 0;
  for (const auto& event : events) finishes += event.kind == keel::ChatEvent::Kind::kFinish;
  return finishes;
}

// Start first (or an Error), never another Start, at most one Finish.
inline void check_stream_order(const std::vector<keel::ChatEvent>& events) {
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

// What the server does with a provider's events, whichever front door the client used: OpenAI
// chunks and Anthropic stream events for streaming clients, one aggregated answer in either
// shape for the others. Everything is dumped as the server dumps it.
inline void deliver(const std::vector<keel::ChatEvent>& events, UpstreamCodes codes) {
  keel::OpenAIStreamEncoder openai("chatcmpl-fuzz", "fuzz-model", 1700000000, true);
  keel::AnthropicStreamEncoder anthropic("msg_fuzz", "fuzz-model");
  keel::ChatAggregator aggregator;
  std::vector<keel::Json> chunks;
  std::vector<keel::AnthropicSseEvent> frames;
  for (const auto& event : events) {
    FUZZ_CHECK(event.tool_index >= 0 && event.tool_index <= 1023, "tool index out of range");
    openai.encode(event, chunks);
    anthropic.encode(event, frames);
    aggregator.add(event);
    if (event.kind == keel::ChatEvent::Kind::kError) check_upstream_error(event.error, codes);
  }
  anthropic.finish(frames);
  for (const auto& chunk : chunks) dump_checked(chunk);
  for (const auto& frame : frames) {
    FUZZ_CHECK(!frame.name.empty(), "an Anthropic stream event without a name");
    dump_checked(frame.data);
  }
  dump_checked(keel::chat_response_to_wire(aggregator.response()));
  dump_checked(keel::messages_response_to_wire(aggregator.response(), "fuzz-model"));
}

// A whole (not streamed) answer: Start first, exactly one Finish, and the stream checks.
inline void check_whole_answer(const std::vector<keel::ChatEvent>& events) {
  FUZZ_CHECK(!events.empty() && events.front().kind == keel::ChatEvent::Kind::kStart,
             "a whole answer's events do not open with Start");
  FUZZ_CHECK(count_finishes(events) == 1, "a whole answer's events do not carry one Finish");
  check_stream_order(events);
}

// Tool events refer to calls that were started: ToolArgsDelta only after its ToolCallStart.
inline void check_tool_events(const std::vector<keel::ChatEvent>& events) {
  std::vector<bool> started(1024, false);
  for (const auto& event : events) {
    if (event.kind == keel::ChatEvent::Kind::kToolCallStart) {
      FUZZ_CHECK(!started[event.tool_index], "a tool call started twice");
      started[event.tool_index] = true;
    } else if (event.kind == keel::ChatEvent::Kind::kToolArgsDelta) {
      FUZZ_CHECK(started[event.tool_index], "tool arguments for a call never started");
    }
  }
}

struct RelayedStream {
  std::vector<keel::ChatEvent> events;
  bool ok = false;  // relay_sse's result: the stream finished without an error
};

// The events of an upstream SSE body as relay_sse (src/providers/upstream.cpp) passes them on:
// decoded event by event until `done`, the first decode failure (which the relay turns into a
// 502 Error event) or the first Error event (where the router's sink stops listening); a body
// that ends before `done` and before any Finish gets the relay's 503.
template <typename Decode>
RelayedStream relay_sse_body(std::string_view body, UpstreamCodes codes, Decode&& decode) {
  keel::SseParser parser;
  RelayedStream out;
  std::vector<keel::ChatEvent>& events = out.events;
  keel::Status status;
  bool done = false;
  parser.feed(body, [&](const keel::SseEvent& event) {
    if (done || !status.ok()) return;
    status = decode(event, events, done);
  });
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].kind == keel::ChatEvent::Kind::kError) {
      check_upstream_error(events[i].error, codes);
      events.resize(i + 1);
      return out;
    }
  }
  if (!status.ok()) {
    FUZZ_CHECK(status.error().code == keel::ErrorCode::kBadGateway,
               "a stream event that cannot be decoded is not a 502");
    check_upstream_error(status.error(), codes);
    events.push_back(keel::ChatEvent::failure(status.error()));
    return out;
  }
  bool finished = false;
  for (const auto& event : events) finished = finished || event.kind == keel::ChatEvent::Kind::kFinish;
  if (!done && !finished) {
    events.push_back(keel::ChatEvent::failure(
        keel::Error(keel::ErrorCode::kUnavailable, "upstream closed the stream before it finished")));
    return out;
  }
  out.ok = true;
  return out;
}

}  // namespace fuzz_events
