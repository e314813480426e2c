// A flow run beside the coroutine that hands its streamed text to a client (POST
// /v1/flows/{name}/run with "stream": true, a chat flow's answer through the chat front doors).
// The run is a coroutine of its own on the consumer's executor; the stream target's text
// (FlowRunOptions::stream) only queues here and wakes the consumer, which writes to its client
// itself. Writing from the node's coroutine (the sink's on_text) crashed under g++ 12 with a
// frame resumed after its end (docs/dev.md "g++ 12 and coroutines"): only the consumer writes.
//
//   FlowStream stream(co_await asio::this_coro::executor);
//   stream.start(flow, inputs, router, options, cancel, /*stream_text=*/true);
//   while (true) {
//     const bool more = co_await stream.next();   // text queued, or the run ended
//     for (std::string& piece : stream.take()) { /* write it; when that fails: */ stream.close(); }
//     if (!more) break;
//   }
//   Result<Json>& result = stream.result();        // run_flow's
//
// The consumer must go on calling next() until it answers false (the run's frame refers to the
// FlowStream, the flow, the router and the trace); close() makes the run end soon: the next
// piece of text is refused, which cancels the node's model call.
#pragma once

#include <deque>
#include <optional>
#include <string>

#include "flows/run.h"
#include "http/asio.h"

namespace keel {

class FlowStream final : public FlowTextSink {
 public:
  explicit FlowStream(const asio::any_io_executor& executor);

  // Starts run_flow with options.stream set to this (or left null without `stream_text`: the
  // run is whole, and next() wakes only at its end).
  void start(const Flow& flow, Json inputs, Router& router, FlowRunOptions options,
             CancelPtr cancel, bool stream_text);
  // Waits until a piece of text is queued or the run has ended; false once it has ended (its
  // last pieces may still be queued: take() them).
  Task<bool> next();
  std::deque<std::string> take() { return std::exchange(pieces_, {}); }
  // The consumer's client is gone: further text is refused.
  void close() { closed_ = true; }
  bool closed() const { return closed_; }
  // run_flow's result; only once next() answered false.
  Result<Json>& result() { return *result_; }

  Task<bool> on_text(const std::string& text) override;

 private:
  static Task<void> run(FlowStream& self, const Flow& flow, Json inputs, Router& router,
                        FlowRunOptions options, CancelPtr cancel);

  std::deque<std::string> pieces_;
  std::optional<Result<Json>> result_;
  bool closed_ = false;
  asio::steady_timer wake_;  // cancelled when a piece is queued or the run ends
};

}  // namespace keel
