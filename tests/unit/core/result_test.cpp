#include "core/result.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace keel {
namespace {

Result<int> half(int n) {
  if (n % 2 != 0) return Error(ErrorCode::kInvalidArgument, "odd");
  return n / 2;
}

Result<int> quarter(int n) {
  auto h = half(n);
  if (!h) return h.error();  // propagation, as the header shows
  return half(*h);
}

TEST(ResultTest, HoldsAValue) {
  Result<int> r = half(8);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(*r, 4);
  EXPECT_EQ(r.value(), 4);
  *r = 5;
  EXPECT_EQ(r.value(), 5);
}

TEST(ResultTest, HoldsAnError) {
  Result<int> r = half(3);
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message, "odd");
  EXPECT_EQ(r.error().upstream_status, 0);
  EXPECT_FALSE(r.error().retry_after_ms.has_value());
}

TEST(ResultTest, Propagates) {
  EXPECT_EQ(*quarter(8), 2);
  EXPECT_EQ(quarter(6).error().message, "odd");  // 6 -> 3 -> odd
  EXPECT_EQ(quarter(5).error().message, "odd");
}

TEST(ResultTest, CodeAndMessageConstructor) {
  Result<std::string> r(ErrorCode::kNotFound, "no such model");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  r.error().param = "model";
  EXPECT_EQ(r.error().param, "model");
}

TEST(ResultTest, MoveOnlyValuesAndArrow) {
  Result<std::unique_ptr<int>> r(std::make_unique<int>(7));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r->get(), 7);
  std::unique_ptr<int> taken = std::move(r).value();
  EXPECT_EQ(*taken, 7);

  Result<std::string> s(std::string("abc"));
  EXPECT_EQ(s->size(), 3u);
  std::string moved = *std::move(s);
  EXPECT_EQ(moved, "abc");
}

TEST(StatusTest, OkAndError) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_TRUE(Status::Ok().ok());
  Status bad(ErrorCode::kUnavailable, "down");
  EXPECT_FALSE(bad.ok());
  EXPECT_FALSE(static_cast<bool>(bad));
  EXPECT_EQ(bad.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(bad.error().message, "down");
  Status from_error = Error(ErrorCode::kInternal, "boom");
  EXPECT_EQ(from_error.error().message, "boom");
}

TEST(ErrorCodeTest, Names) {
  EXPECT_STREQ(error_code_name(ErrorCode::kInvalidArgument), "invalid_argument");
  EXPECT_STREQ(error_code_name(ErrorCode::kUnauthenticated), "unauthenticated");
  EXPECT_STREQ(error_code_name(ErrorCode::kPermissionDenied), "permission_denied");
  EXPECT_STREQ(error_code_name(ErrorCode::kNotFound), "not_found");
  EXPECT_STREQ(error_code_name(ErrorCode::kPayloadTooLarge), "payload_too_large");
  EXPECT_STREQ(error_code_name(ErrorCode::kUnsupportedMedia), "unsupported_media_type");
  EXPECT_STREQ(error_code_name(ErrorCode::kResourceExhausted), "resource_exhausted");
  EXPECT_STREQ(error_code_name(ErrorCode::kInternal), "internal");
  EXPECT_STREQ(error_code_name(ErrorCode::kBadGateway), "bad_gateway");
  EXPECT_STREQ(error_code_name(ErrorCode::kUnavailable), "unavailable");
  EXPECT_STREQ(error_code_name(ErrorCode::kDeadlineExceeded), "deadline_exceeded");
  EXPECT_STREQ(error_code_name(ErrorCode::kCancelled), "cancelled");
}

}  // namespace
}  // namespace keel
