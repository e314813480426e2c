// core/text.h: the wire writers' decimal appender and URL path-segment decoding.
#include "core/text.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace keel {
namespace {

TEST(AppendDecimalTest, WritesWhatToStringWrites) {
  for (int64_t value : {int64_t{0}, int64_t{-7}, int64_t{1234567890123},
                        std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}) {
    std::string out = "x";
    append_decimal(out, value);
    EXPECT_EQ(out, "x" + std::to_string(value));
  }
}

TEST(PercentDecodeTest, DecodesEscapesAndRefusesBrokenOnes) {
  EXPECT_EQ(percent_decode("llama3%3A8b"), "llama3:8b");
  EXPECT_EQ(percent_decode("a%2fb%2F"), "a/b/");
  EXPECT_EQ(percent_decode("plain-name_1.5"), "plain-name_1.5");
  EXPECT_EQ(percent_decode(""), "");
  for (const char* bad : {"%", "%4", "x%zz", "%G0", "end%"}) {
    EXPECT_FALSE(percent_decode(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace keel
