// keel::SseParser over arbitrary upstream bytes. The first input byte picks how the rest is
// cut into feed() calls (the parser promises the same events for any split) and, when its top
// bit is set, a small line limit to exercise the failure path.
//
// Invariants beyond "no crash, no UB, no leak":
//  - no event's data holds a CR, and no event's type or id holds a CR or LF (they end lines);
//  - the events do not depend on how the bytes were split: whole, cut at one position, and
//    byte by byte all agree, and so do failed() and the point of failure;
//  - with the default limit, the events are those of a plain reference implementation of the
//    WHATWG event-stream interpretation (bytes in, a leading UTF-8 BOM dropped);
//  - pending() stays within the line limit (a partial BOM's 2 bytes aside).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "http/sse.h"

namespace {

struct Outcome {
  std::vector<keel::SseEvent> events;
  bool failed = false;
};

bool same_events(const std::vector<keel::SseEvent>& a, const std::vector<keel::SseEvent>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].event != b[i].event || a[i].data != b[i].data || a[i].id != b[i].id) return false;
  }
  return true;
}

void check_event(const keel::SseEvent& event) {
  FUZZ_CHECK(event.data.find('\r') == std::string::npos, "event data holds a CR");
  FUZZ_CHECK(event.event.find_first_of("\r\n") == std::string::npos, "event type holds CR/LF");
  FUZZ_CHECK(event.id.find_first_of("\r\n") == std::string::npos, "event id holds CR/LF");
  FUZZ_CHECK(event.id.find('\0') == std::string::npos, "event id holds NUL");
}

// Feeds `input` in pieces whose ends are `cuts` (ascending, each < input.size()).
Outcome run(std::string_view input, const std::vector<size_t>& cuts, size_t max_line) {
  keel::SseParser parser;
  if (max_line != 0) parser.set_max_line_bytes(max_line);
  Outcome outcome;
  auto on_event = [&](const keel::SseEvent& event) {
    check_event(event);
    outcome.events.push_back(event);
  };
  size_t start = 0;
  auto feed = [&](size_t end) {
    bool ok = parser.feed(input.substr(start, end - start), on_event);
    FUZZ_CHECK(ok == !parser.failed(), "feed()'s result disagrees with failed()");
    // The up to 2 bytes of a partial BOM at the very start are held outside the line limit.
    if (ok && max_line != 0) {
      FUZZ_CHECK(parser.pending() <= std::max<size_t>(max_line, 2), "pending() over the limit");
    }
    start = end;
  };
  for (size_t cut : cuts) feed(cut);
  feed(input.size());
  outcome.failed = parser.failed();
  // Once failed, it stays failed and emits nothing more.
  if (outcome.failed) {
    size_t before = outcome.events.size();
    FUZZ_CHECK(!parser.feed("data: x\n\n", on_event), "a failed parser accepted bytes");
    FUZZ_CHECK(outcome.events.size() == before, "a failed parser emitted an event");
  }
  return outcome;
}

// The WHATWG "event stream interpretation", written plainly over bytes.
std::vector<keel::SseEvent> reference(std::string_view input) {
  std::vector<keel::SseEvent> events;
  if (input.substr(0, 3) == "\xEF\xBB\xBF") input.remove_prefix(3);
  std::string data, type, last_id;
  bool has_data = false;
  auto process = [&](std::string_view line) {
    if (line.empty()) {
      if (has_data) events.push_back({type, data, last_id});
      data.clear();
      type.clear();
      has_data = false;
      return;
    }
    if (line.front() == ':') return;
    std::string_view field = line, value;
    if (size_t colon = line.find(':'); colon != std::string_view::npos) {
      field = line.substr(0, colon);
      value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field == "data") {
      if (has_data) data += '\n';
      data += value;
      has_data = true;
    } else if (field == "event") {
      type = value;
    } else if (field == "id") {
      if (value.find('\0') == std::string_view::npos) last_id = value;
    }
  };
  size_t start = 0;
  for (size_t i = 0; i < input.size(); ++i) {
    if (input[i] != '\r' && input[i] != '\n') continue;
    process(input.substr(start, i - start));
    if (input[i] == '\r' && i + 1 < input.size() && input[i + 1] == '\n') ++i;
    start = i + 1;
  }
  return events;  // an unterminated last line or event is dropped, as the spec says
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t control = data[0];
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t max_line = (control & 0x80) ? (control & 0x3f) + 1 : 0;

  const Outcome whole = run(input, {}, max_line);

  std::vector<size_t> one_cut;
  if (!input.empty()) one_cut.push_back((control & 0x7f) * input.size() / 128);
  const Outcome split = run(input, one_cut, max_line);

  std::vector<size_t> every_byte;
  for (size_t i = 1; i < input.size() && input.size() <= 4096; ++i) every_byte.push_back(i);
  const Outcome bytewise = every_byte.empty() ? whole : run(input, every_byte, max_line);

  FUZZ_CHECK(split.failed == whole.failed && bytewise.failed == whole.failed,
             "failed() depends on how the bytes were split");
  FUZZ_CHECK(same_events(split.events, whole.events), "events depend on the split (one cut)");
  FUZZ_CHECK(same_events(bytewise.events, whole.events), "events depend on the split (bytewise)");

  if (max_line == 0) {
    const auto expected = reference(input);
    if (!same_events(whole.events, expected)) {
      std::fprintf(stderr, "keel: %zu events, reference: %zu events\n", whole.events.size(),
                   expected.size());
    }
    FUZZ_CHECK(same_events(whole.events, expected), "events differ from the WHATWG reference");
  }
  return 0;
}
