// Citations for a copilot's answer: the retrieved passages go into the prompt as numbered
// sources, the model cites them with markers ("[2]"), and CitingSink turns each marker in the
// answer's text into a Citation event naming that passage's file, chunk and place. A marker
// whose number names no retrieved passage is dropped from the text and never cited.
//
//   std::string sources = sources_prompt(passages);      // a system message's text
//   CitingSink citing(client_sink, passages);
//   co_await router.chat(request, citing, cancel);        // text passes; Citation events added
//
// Single-threaded: a sink belongs to one request on one io thread.
#pragma once

#include <string>
#include <vector>

#include "knowledge/knowledge.h"
#include "providers/provider.h"

namespace keel::copilots {

// The sources block of a copilot's prompt: how to cite, then each passage as "[n] source >
// heading" and its text. Empty for no passages.
std::string sources_prompt(const std::vector<knowledge::Passage>& passages);

// The citation of passage `number` (from 1) at [text_start, text_end) of the answer.
Citation citation_of(const knowledge::Passage& passage, int number, int64_t text_start,
                     int64_t text_end);

// Finds citation markers in a stream of text, across deltas: "[n]" with n from 1 to
// `passages`. feed() returns the text to pass on (an unknown marker removed) and appends the
// spans of the known markers in it; text that may still become a marker is held back until
// the next feed() or flush().
class MarkerScanner {
 public:
  explicit MarkerScanner(size_t passages) : passages_(passages) {}
  struct Marker {
    int number = 0;
    int64_t text_start = 0;  // code points into everything passed on so far
    int64_t text_end = 0;
    size_t after = 0;  // bytes of this feed's output up to the marker's end
  };
  std::string feed(std::string_view text, std::vector<Marker>& markers);
  std::string flush();  // what is held back, as text
  // Markers from now on may name passages 1..`passages` (the list grew).
  void set_passages(size_t passages) { passages_ = passages; }

 private:
  void pass(std::string& out, std::string_view text);
  size_t passages_;
  std::string held_;    // "[" and digits so far
  int64_t points_ = 0;  // code points passed on
};

// An EventSink in front of the client's: text goes through a MarkerScanner, and each known
// marker adds a Citation event right after the text that ends with it. `passages` may grow
// between calls (the Responses file_search tool adds each search's results); it must outlive
// the sink.
class CitingSink final : public BatchEventSink {
 public:
  CitingSink(EventSink& client, const std::vector<knowledge::Passage>& passages)
      : client_(client), passages_(passages), scanner_(passages.size()) {}
  Task<bool> on_events(std::vector<ChatEvent>& events) override;

 private:
  EventSink& client_;
  const std::vector<knowledge::Passage>& passages_;
  MarkerScanner scanner_;
};

}  // namespace keel::copilots
