// Client and admin keys on requests (src/server/auth.h).
#include "server/auth.h"

#include <gtest/gtest.h>

namespace keel {
namespace {

TEST(AuthTest, PresentedKeyFromEitherHeader) {
  bhttp::fields bearer;
  bearer.set(bhttp::field::authorization, "Bearer sk-one");
  EXPECT_EQ(presented_key(bearer), "sk-one");
  bhttp::fields lower;
  lower.set(bhttp::field::authorization, "bearer sk-two");
  EXPECT_EQ(presented_key(lower), "sk-two");
  bhttp::fields anthropic;
  anthropic.set("x-api-key", "sk-three");
  EXPECT_EQ(presented_key(anthropic), "sk-three");
  EXPECT_EQ(presented_key(bhttp::fields{}), "");
}

TEST(AuthTest, KeyPositionMatchesWholeKeysOnly) {
  const std::vector<std::string> keys{"sk-a", "sk-bb"};
  EXPECT_EQ(key_position(keys, "sk-a"), 0);
  EXPECT_EQ(key_position(keys, "sk-bb"), 1);
  EXPECT_EQ(key_position(keys, "sk-b"), -1);
  EXPECT_EQ(key_position(keys, "sk-bbb"), -1);
  EXPECT_EQ(key_position(keys, ""), -1);
  EXPECT_TRUE(key_listed(keys, "sk-a"));
  EXPECT_FALSE(key_listed({}, "sk-a"));
}

TEST(AuthTest, KeyIdIsAShortSha256) {
  // SHA-256("abc") = ba7816bf 8f01cfea ... (FIPS 180-2's example)
  EXPECT_EQ(key_id_of("abc"), "key_ba7816bf");
  EXPECT_NE(key_id_of("sk-a"), key_id_of("sk-b"));
}

}  // namespace
}  // namespace keel
