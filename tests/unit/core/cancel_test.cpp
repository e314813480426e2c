#include "core/cancel.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace keel {
namespace {

TEST(CancelTest, StartsUncancelled) {
  auto token = std::make_shared<CancelToken>();
  EXPECT_FALSE(token->cancelled());
}

TEST(CancelTest, CallbacksRunOnceInOrderWithReason) {
  auto token = std::make_shared<CancelToken>();
  std::vector<int> order;
  token->on_cancel([&] { order.push_back(1); });
  token->on_cancel([&] { order.push_back(2); });
  token->cancel(ErrorCode::kDeadlineExceeded, "first token timeout");
  EXPECT_TRUE(token->cancelled());
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(token->reason().code, ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(token->reason().message, "first token timeout");

  // A second cancel changes nothing and runs nothing again.
  token->cancel(ErrorCode::kCancelled, "client disconnected");
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(token->reason().code, ErrorCode::kDeadlineExceeded);
}

TEST(CancelTest, LateCallbackRunsNow) {
  auto token = std::make_shared<CancelToken>();
  token->cancel(ErrorCode::kCancelled, "gone");
  int runs = 0;
  token->on_cancel([&] { ++runs; });
  EXPECT_EQ(runs, 1);
}

TEST(CancelTest, RemovedCallbackDoesNotRun) {
  auto token = std::make_shared<CancelToken>();
  int a = 0;
  int b = 0;
  const size_t handle = token->on_cancel([&] { ++a; });
  token->on_cancel([&] { ++b; });
  token->remove(handle);
  token->remove(12345);  // unknown handles are ignored
  token->cancel(ErrorCode::kCancelled, "gone");
  EXPECT_EQ(a, 0);
  EXPECT_EQ(b, 1);
}

TEST(CancelTest, CallbackMayRegisterAnother) {
  auto token = std::make_shared<CancelToken>();
  int inner = 0;
  token->on_cancel([&] { token->on_cancel([&] { ++inner; }); });
  token->cancel(ErrorCode::kCancelled, "gone");
  EXPECT_EQ(inner, 1);  // registered after cancellation, so it ran at once
}

TEST(CancelTest, ChildFollowsParent) {
  auto parent = std::make_shared<CancelToken>();
  auto child = parent->child();
  auto grandchild = child->child();
  int child_runs = 0;
  child->on_cancel([&] { ++child_runs; });
  parent->cancel(ErrorCode::kCancelled, "client disconnected");
  EXPECT_TRUE(child->cancelled());
  EXPECT_TRUE(grandchild->cancelled());
  EXPECT_EQ(child_runs, 1);
  EXPECT_EQ(child->reason().code, ErrorCode::kCancelled);
  EXPECT_EQ(grandchild->reason().message, "client disconnected");
}

TEST(CancelTest, ParentDoesNotFollowChild) {
  auto parent = std::make_shared<CancelToken>();
  auto child = parent->child();
  child->cancel(ErrorCode::kDeadlineExceeded, "attempt timeout");
  EXPECT_TRUE(child->cancelled());
  EXPECT_FALSE(parent->cancelled());
}

TEST(CancelTest, ChildOfCancelledParentIsCancelled) {
  auto parent = std::make_shared<CancelToken>();
  parent->cancel(ErrorCode::kCancelled, "gone");
  auto child = parent->child();
  EXPECT_TRUE(child->cancelled());
  EXPECT_EQ(child->reason().message, "gone");
}

TEST(CancelTest, DroppedChildIsHarmless) {
  auto parent = std::make_shared<CancelToken>();
  { auto child = parent->child(); }
  parent->cancel(ErrorCode::kCancelled, "gone");  // the weak link finds nothing
  EXPECT_TRUE(parent->cancelled());
}

}  // namespace
}  // namespace keel
