// Server-Sent Events: an incremental parser for upstream streams and a writer for clients.
// Format: WHATWG HTML "9.2 Server-sent events" (event stream interpretation).
//
//   SseParser parser;
//   parser.feed(bytes, [](const SseEvent& ev) { ... ev.data ... });
//   std::string frame = sse_frame(json.dump());          // "data: {...}\n\n"
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace keel {

struct SseEvent {
  std::string event;   // "" when no event: field (the spec's default type "message")
  std::string data;    // data: lines joined with "\n"
  std::string id;
};

class SseParser {
 public:
  using Handler = std::function<void(const SseEvent&)>;
  // Feeds bytes in any split; calls `on_event` for each complete event. Returns false when the
  // stream is not SSE at all (a line exceeds max_line_bytes), after which it stays failed.
  bool feed(std::string_view bytes, const Handler& on_event);
  bool failed() const { return failed_; }
  // Bytes held for an unfinished line or event.
  size_t pending() const { return line_.size(); }
  void set_max_line_bytes(size_t n) { max_line_bytes_ = n; }

 private:
  void process_line(std::string_view line, const Handler& on_event);
  std::string line_;
  SseEvent current_;
  bool has_data_ = false;
  bool last_was_cr_ = false;
  bool bom_checked_ = false;
  bool failed_ = false;
  size_t max_line_bytes_ = 16 * 1024 * 1024;
};

std::string sse_frame(std::string_view data, std::string_view event = {});
// The same frame appended to `out` (no temporary string per frame).
void append_sse_frame(std::string& out, std::string_view data, std::string_view event = {});
// A frame whose data is one line, such as JSON text (which escapes line ends), written in place:
// open_sse_frame(out, event), the data appended to `out`, close_sse_frame(out). The frame
// append_sse_frame writes, without a copy of the data to look for line ends in.
void open_sse_frame(std::string& out, std::string_view event);
void close_sse_frame(std::string& out);

}  // namespace keel
