#include "core/ids.h"

#include <gtest/gtest.h>

#include <set>

namespace keel {
namespace {

bool all_hex(std::string_view text) {
  return text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

TEST(Ids, RandomIdIsPrefixAnd24HexDigits) {
  std::string id = new_id("chatcmpl-");
  ASSERT_EQ(id.size(), 9u + 24u);
  EXPECT_EQ(id.substr(0, 9), "chatcmpl-");
  EXPECT_TRUE(all_hex(id.substr(9)));
}

TEST(Ids, TimeOrderedIdHasTheSameShapeAndLeadsWithTheTime) {
  std::string id = new_time_ordered_id("req_", 0x0123456789ab);
  ASSERT_EQ(id.size(), 4u + 24u);
  EXPECT_EQ(id.substr(0, 16), "req_0123456789ab");
  EXPECT_TRUE(all_hex(id.substr(4)));
}

TEST(Ids, TimeOrderedIdsSortByTimeAndDifferWithinAMillisecond) {
  const int64_t now = 1764167000000;  // 2025-11-26
  std::set<std::string> same_ms;
  for (int i = 0; i < 1000; ++i) same_ms.insert(new_time_ordered_id("req_", now));
  EXPECT_EQ(same_ms.size(), 1000u);
  for (const auto& id : same_ms) {
    EXPECT_LT(id, new_time_ordered_id("req_", now + 1));
    EXPECT_GT(id, new_time_ordered_id("req_", now - 1));
  }
}

}  // namespace
}  // namespace keel
