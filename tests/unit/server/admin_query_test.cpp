// The /admin/requests query string (src/server/admin_query.h).
#include "server/admin_query.h"

#include <gtest/gtest.h>

namespace keel {
namespace {

TEST(AdminQueryTest, SplitsAndDecodes) {
  auto pairs = parse_query_string("a=1&&b=x%20y+z&flag&=v&");
  ASSERT_TRUE(pairs.ok()) << pairs.error().message;
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(*pairs, (Pairs{{"a", "1"}, {"b", "x y z"}, {"flag", ""}, {"", "v"}}));
  EXPECT_TRUE(parse_query_string("").ok());
  EXPECT_FALSE(parse_query_string("a=%4").ok());
  EXPECT_FALSE(parse_query_string("a=%zz").ok());
  std::string many;
  for (int i = 0; i < 33; ++i) many += "k" + std::to_string(i) + "=1&";
  EXPECT_FALSE(parse_query_string(many).ok());
}

TEST(AdminQueryTest, ReadsEveryFilter) {
  auto query = parse_request_query(
      "model=gpt-4o%2Fmini&status=error&since=1700000000000&until=1700000060000&limit=20&offset="
      "40");
  ASSERT_TRUE(query.ok()) << query.error().message;
  EXPECT_EQ(query->model, "gpt-4o/mini");
  EXPECT_EQ(query->status, "error");
  EXPECT_EQ(query->since_ms, 1'700'000'000'000);
  EXPECT_EQ(query->until_ms, 1'700'000'060'000);
  EXPECT_EQ(query->limit, 20);
  EXPECT_EQ(query->offset, 40);
  auto defaults = parse_request_query("");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->limit, 50);
  EXPECT_EQ(defaults->offset, 0);
  EXPECT_EQ(parse_request_query("status=502")->status, "502");
  EXPECT_EQ(parse_request_query("key_id=key_0123abcd")->key_id, "key_0123abcd");
}

TEST(AdminQueryTest, RefusesWithTheParameterNamed) {
  auto message = [](std::string_view text) {
    auto query = parse_request_query(text);
    EXPECT_FALSE(query.ok()) << text;
    if (query.ok()) return std::string();
    EXPECT_EQ(query.error().code, ErrorCode::kInvalidArgument);
    return query.error().message;
  };
  EXPECT_EQ(message("limit=0"), "'limit' must be a whole number from 1 to 500");
  EXPECT_EQ(message("limit=501"), "'limit' must be a whole number from 1 to 500");
  EXPECT_EQ(message("limit=1x"), "'limit' must be a whole number from 1 to 500");
  EXPECT_EQ(message("offset=-1"), "'offset' must be a whole number from 0");
  EXPECT_EQ(message("since=yesterday"), "'since' must be a time in unix milliseconds");
  EXPECT_EQ(message("status=5xx"), "'status' must be ok, error or a three-digit HTTP status");
  EXPECT_EQ(message("status=999"), "'status' must be ok, error or a three-digit HTTP status");
  EXPECT_EQ(message("model=a&model=b"), "query parameter 'model' is repeated");
  EXPECT_EQ(message("key=sk-123"),
            "unknown query parameter 'key' (known: model, status, key_id, since, until, limit, "
            "offset)");
  EXPECT_EQ(message(std::string(100, 'n') + "=1"),
            "unknown query parameter '" + std::string(64, 'n') +
                "...' (known: model, status, key_id, since, until, limit, offset)");
}

}  // namespace
}  // namespace keel
