// Turns a model's token pieces into text safe to send: holds back an incomplete UTF-8 sequence
// (a token may end mid-character) and any tail that could be the start of a stop string, and
// cuts the text at the first stop string.
//
//   StopFilter filter({"\n\n", "END"});
//   std::string out = filter.push(piece);   // text to send now (may be empty)
//   if (filter.stopped()) ...               // a stop string was seen; it is never sent
//   out += filter.flush();                  // at the end: whatever was held back
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace keel::local {

class StopFilter {
 public:
  explicit StopFilter(std::vector<std::string> stops = {});

  std::string push(std::string_view piece);
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

// Length of the longest prefix of `text` that ends on a whole UTF-8 sequence.
size_t utf8_complete_prefix(std::string_view text);

}  // namespace keel::local
