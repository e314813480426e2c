#include "providers/local/stop_filter.h"

#include <algorithm>

namespace keel::local {

StopFilter::StopFilter(std::vector<std::string> stops) {
  for (auto& stop : stops) {
    if (!stop.empty()) stops_.push_back(std::move(stop));
  }
}

size_t utf8_complete_prefix(std::string_view text) {
  // Walk back over at most 3 continuation bytes to the lead byte of the last sequence.
  size_t n = text.size();
  size_t i = n;
  int continuation = 0;
  while (i > 0 && continuation < 4) {
    unsigned char c = static_cast<unsigned char>(text[i - 1]);
    if ((c & 0xC0) != 0x80) break;
    --i;
    ++continuation;
  }
  if (i == 0) return continuation > 0 ? 0 : n;  // only continuation bytes: hold them
  unsigned char lead = static_cast<unsigned char>(text[i - 1]);
  size_t want = 1;
  if ((lead & 0xE0) == 0xC0) want = 2;
  else if ((lead & 0xF0) == 0xE0) want = 3;
  else if ((lead & 0xF8) == 0xF0) want = 4;
  size_t have = static_cast<size_t>(continuation) + 1;
  // An invalid lead byte or an over-long run is passed through as is: the model made it.
  if (want == 1 || have >= want) return n;
  return i - 1;
}

std::string StopFilter::push(std::string_view piece) {
  if (stopped_) return {};
  pending_.append(piece);
  size_t cut = std::string::npos;
  for (const auto& stop : stops_) cut = std::min(cut, pending_.find(stop));
  if (cut != std::string::npos) {
    stopped_ = true;
    std::string out = pending_.substr(0, cut);
    pending_.clear();
    return out;
  }
  // Hold back the longest tail that is a proper prefix of some stop string.
  size_t hold = 0;
  for (const auto& stop : stops_) {
    size_t max_len = std::min(stop.size() - 1, pending_.size());
    for (size_t len = max_len; len > hold; --len) {
      if (std::string_view(pending_).substr(pending_.size() - len) ==
          std::string_view(stop).substr(0, len)) {
        hold = len;
        break;
      }
    }
  }
  size_t emit = std::min(pending_.size() - hold, utf8_complete_prefix(pending_));
  std::string out = pending_.substr(0, emit);
  pending_.erase(0, emit);
  return out;
}

std::string StopFilter::flush() {
  if (stopped_) return {};
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace keel::local
