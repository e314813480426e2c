// A copilot's citation markers (copilots/citations.h: MarkerScanner) over arbitrary model text,
// cut into deltas where the model's stream could cut it. The first byte picks how many passages
// were retrieved, the second the delta size. Invariants: every marker found is "[n]" with n a
// retrieved passage's number and spans exactly those code points of the text passed on; what is
// passed on (with the final flush) is the input with only unknown markers taken out.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "copilots/citations.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t passages = data[0] % 12;
  const size_t delta = 1 + data[1] % 16;
  const std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
  keel::copilots::MarkerScanner scanner(passages);
  std::string passed;
  std::vector<keel::copilots::MarkerScanner::Marker> markers;
  for (size_t at = 0; at < input.size(); at += delta) {
    const size_t before_bytes = passed.size();
    markers.clear();
    const std::string out = scanner.feed(input.substr(at, delta), markers);
    passed += out;
    for (const auto& marker : markers) {
      FUZZ_CHECK(marker.number >= 1 && static_cast<size_t>(marker.number) <= passages,
                 "a marker naming no retrieved passage");
      FUZZ_CHECK(marker.after <= out.size(), "a marker past its delta");
      const std::string text = "[" + std::to_string(marker.number) + "]";
      const size_t end = before_bytes + marker.after;
      FUZZ_CHECK(end >= text.size(), "a marker before the text");
      // Leading zeros ("[01]") are one marker; the span is the marker as written.
      const std::string_view written(passed.data() + end - (marker.text_end - marker.text_start),
                                     marker.text_end - marker.text_start);
      FUZZ_CHECK(written.front() == '[' && written.back() == ']', "a span that is not a marker");
      FUZZ_CHECK(keel::utf8_code_points(std::string_view(passed).substr(0, end)) == marker.text_end,
                 "a marker's end is not its place in the text");
    }
  }
  passed += scanner.flush();
  // The reference: the input with every "[" + 1 to 3 digits + "]" that names no retrieved
  // passage taken out, everything else as it was.
  std::string expected;
  for (size_t i = 0; i < input.size();) {
    size_t digits = 0;
    while (i + 1 + digits < input.size() && digits < 4 && input[i + 1 + digits] >= '0' &&
           input[i + 1 + digits] <= '9') {
      ++digits;
    }
    const bool marker = input[i] == '[' && digits >= 1 && digits <= 3 &&
                        i + 1 + digits < input.size() && input[i + 1 + digits] == ']';
    if (marker) {
      const size_t number = std::stoul(std::string(input.substr(i + 1, digits)));
      if (number < 1 || number > passages) {
        i += digits + 2;
        continue;
      }
    }
    expected += input[i++];
  }
  FUZZ_CHECK(passed == expected, "the text passed on is not the input less its unknown markers");
  return 0;
}
