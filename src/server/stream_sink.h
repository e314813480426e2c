// The client's side of a streamed answer, shared by the front doors (server/app.cpp,
// server/responses.cpp): a subclass writes each event in its API's format.
//
//   class MySink final : public StreamSink { append_frames(...), closing_frames() };
//   outcome = co_await router.chat(request, sink, cancel);
//   if (outcome.status.ok()) co_await sink.done();
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "http/server.h"
#include "providers/provider.h"

namespace keel {

// The client's side of a streamed chat. Headers go out with the first event the router lets
// through; each front door writes events in its own format.
class StreamSink : public BatchEventSink {
 public:
  StreamSink(ResponseWriter& writer, std::string request_id, ChatAggregator* transcript)
      : writer_(writer), request_id_(std::move(request_id)), transcript_(transcript) {
    frames_.reserve(4096);  // a short answer's frames without regrowth
  }

  // Every event's frames in one write (one HTTP chunk).
  Task<bool> on_events(std::vector<ChatEvent>& events) override {
    if (!writer_.started()) {
      std::vector<std::pair<std::string, std::string>> headers{{"x-request-id", request_id_}};
      if (!co_await writer_.begin_stream(200, "text/event-stream", headers)) co_return false;
    }
    frames_.clear();
    for (const auto& event : events) {
      if (transcript_) transcript_->add(event);
      append_frames(event, frames_);
    }
    co_return co_await writer_.write(frames_);
  }
  // The stream ended well: the format's closing frames, then the end of the response.
  Task<void> done() {
    co_await writer_.write(closing_frames());
    co_await writer_.end();
  }

 protected:
  // Appends the event's frames to `out`.
  virtual void append_frames(const ChatEvent& event, std::string& out) = 0;
  virtual std::string closing_frames() = 0;

 private:
  ResponseWriter& writer_;
  std::string request_id_;
  ChatAggregator* transcript_;
  std::string frames_;  // on_events' bytes, kept for its capacity
};

}  // namespace keel
