#include "copilots/citations.h"

#include <charconv>

namespace keel::copilots {

namespace {
constexpr size_t kMaxMarkerDigits = 3;
}

std::string sources_prompt(const std::vector<knowledge::Passage>& passages) {
  if (passages.empty()) return {};
  std::string text =
      "Sources retrieved for this question follow. Answer from them where they apply. Cite a "
      "source by writing its number in square brackets right after the statement it supports, "
      "for example [1]. Cite only the numbers listed here.\n";
  for (size_t i = 0; i < passages.size(); ++i) {
    const knowledge::Passage& passage = passages[i];
    text += "\n[" + std::to_string(i + 1) + "] " + passage.source;
    if (!passage.heading.empty()) text += " > " + passage.heading;
    text += "\n" + passage.text + "\n";
  }
  return text;
}

Citation citation_of(const knowledge::Passage& passage, int number, int64_t text_start,
                     int64_t text_end) {
  Citation citation;
  citation.text_start = text_start;
  citation.text_end = text_end;
  citation.number = number;
  citation.knowledge = passage.knowledge;
  citation.source = passage.source;
  citation.chunk_id = passage.chunk_id;
  citation.heading = passage.heading;
  citation.source_start = passage.start;
  citation.source_end = passage.end;
  citation.cited_text = passage.text;
  return citation;
}

void MarkerScanner::pass(std::string& out, std::string_view text) {
  out += text;
  points_ += utf8_code_points(text);
}

std::string MarkerScanner::feed(std::string_view text, std::vector<Marker>& markers) {
  std::string out;
  out.reserve(text.size() + held_.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (held_.empty()) {
      if (c == '[') {
        held_ = "[";
      } else {
        out += c;
        points_ += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
      }
      continue;
    }
    if (c >= '0' && c <= '9' && held_.size() <= kMaxMarkerDigits) {
      held_ += c;
      continue;
    }
    if (c == ']' && held_.size() > 1) {
      int number = 0;
      std::from_chars(held_.data() + 1, held_.data() + held_.size(), number);
      if (number >= 1 && static_cast<size_t>(number) <= passages_) {
        const int64_t start = points_;
        held_ += ']';
        pass(out, held_);
        markers.push_back({number, start, points_, out.size()});
      }
      held_.clear();  // an unknown marker is dropped: nothing cites what was not retrieved
      continue;
    }
    // Not a marker after all: what was held is text; `c` starts afresh.
    pass(out, held_);
    held_.clear();
    --i;
  }
  return out;
}

std::string MarkerScanner::flush() {
  std::string out;
  pass(out, held_);
  held_.clear();
  return out;
}

Task<bool> CitingSink::on_events(std::vector<ChatEvent>& events) {
  std::vector<ChatEvent> out;
  out.reserve(events.size() + 2);
  std::vector<MarkerScanner::Marker> markers;
  scanner_.set_passages(passages_.size());  // a search between rounds may have added some
  for (ChatEvent& event : events) {
    if (event.kind != ChatEvent::Kind::kTextDelta) {
      // Anything else ends a run of text: what was held back was not a marker.
      if (std::string held = scanner_.flush(); !held.empty()) {
        out.push_back(ChatEvent::text_delta(std::move(held)));
      }
      out.push_back(std::move(event));
      continue;
    }
    markers.clear();
    std::string text = scanner_.feed(event.text, markers);
    size_t sent = 0;
    for (const auto& marker : markers) {
      out.push_back(ChatEvent::text_delta(text.substr(sent, marker.after - sent)));
      sent = marker.after;
      out.push_back(ChatEvent::cited(citation_of(passages_[marker.number - 1], marker.number,
                                                 marker.text_start, marker.text_end)));
    }
    if (sent < text.size()) out.push_back(ChatEvent::text_delta(text.substr(sent)));
  }
  if (out.empty()) co_return true;
  co_return co_await client_.on_events(out);
}

}  // namespace keel::copilots
