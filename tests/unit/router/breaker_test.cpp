#include "router/breaker.h"

#include <gtest/gtest.h>

#include <string>

#include "core/clock.h"

namespace keel {
namespace {

constexpr int kThreshold = 3;
constexpr Millis kCooldown{1000};

class BreakerTest : public ::testing::Test {
 protected:
  // Fails `n` requests in a row, each one allowed first, as the router does.
  void fail(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(breaker_.allow(clock_.now()));
      breaker_.on_failure(clock_.now());
    }
  }
  // Opens the breaker and lets its cooldown pass, so the next allow() is the probe.
  void open_and_cool_down() {
    fail(kThreshold);
    ASSERT_EQ(breaker_.state(clock_.now()), Breaker::State::kOpen);
    clock_.advance(kCooldown);
    ASSERT_EQ(breaker_.state(clock_.now()), Breaker::State::kHalfOpen);
  }

  ManualClock clock_;
  Breaker breaker_{kThreshold, kCooldown};
};

TEST_F(BreakerTest, StartsClosedAndAllows) {
  EXPECT_EQ(breaker_.state(clock_.now()), Breaker::State::kClosed);
  EXPECT_EQ(breaker_.consecutive_failures(), 0);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(breaker_.allow(clock_.now()));
}

TEST_F(BreakerTest, OpensAfterThresholdConsecutiveFailures) {
  fail(kThreshold - 1);
  EXPECT_EQ(breaker_.state(clock_.now()), Breaker::State::kClosed);
  EXPECT_EQ(breaker_.consecutive_failures(), kThreshold - 1);
  EXPECT_TRUE(breaker_.allow(clock_.now()));
  breaker_.on_failure(clock_.now());
  EXPECT_EQ(breaker_.state(clock_.now()), Breaker::State::kOpen);
  EXPECT_EQ(breaker_.consecutive_failures(), kThreshold);
}

TEST_F(BreakerTest, SuccessResetsTheCount) {
  fail(kThreshold - 1);
  breaker_.on_success();
  EXPECT_EQ(breaker_.consecutive_failures(), 0);
  // Another threshold-1 failures still leave it closed: the count started again.
  fail(kThreshold - 1);
  EXPECT_EQ(breaker_.state(clock_.now()), Breaker::State::kClosed);
  fail(1);
  EXPECT_EQ(breaker_.state(clock_.now()), Breaker::State::kOpen);
}

TEST_F(BreakerTest, OpenRefusesUntilCooldownPasses) {
  fail(kThreshold);
  EXPECT_FALSE(breaker_.allow(clock_.now()));
  clock_.advance(kCooldown - Millis(1));
  EXPECT_EQ(breaker_.state(clock_.now()), Breaker::State::kOpen);
  EXPECT_FALSE(breaker_.allow(clock_.now()));
  clock_.advance(Millis(1));
  EXPECT_EQ(breaker_.state(clock_.now()), Breaker::State::kHalfOpen);
}

TEST_F(BreakerTest, HalfOpenLetsExactlyOneProbeThrough) {
  open_and_cool_down();
  EXPECT_TRUE(breaker_.allow(clock_.now()));    // the probe
  EXPECT_FALSE(breaker_.allow(clock_.now()));   // probe in flight: nobody else
  clock_.advance(kCooldown * 10);               // time alone does not free the slot
  EXPECT_FALSE(breaker_.allow(clock_.now()));
  EXPECT_EQ(breaker_.state(clock_.now()), Breaker::State::kHalfOpen);
}

TEST_F(BreakerTest, ProbeSuccessCloses) {
  open_and_cool_down();
  ASSERT_TRUE(breaker_.allow(clock_.now()));
  breaker_.on_success();
  EXPECT_EQ(breaker_.state(clock_.now()), Breaker::State::kClosed);
  EXPECT_EQ(breaker_.consecutive_failures(), 0);
  EXPECT_TRUE(breaker_.allow(clock_.now()));
  EXPECT_TRUE(breaker_.allow(clock_.now()));
  // Closed again with a fresh count: one failure does not reopen it.
  breaker_.on_failure(clock_.now());
  EXPECT_EQ(breaker_.state(clock_.now()), Breaker::State::kClosed);
}

TEST_F(BreakerTest, ProbeFailureReopensWithFreshCooldown) {
  open_and_cool_down();
  clock_.advance(Millis(250));   // the probe starts a while after the cooldown ended
  ASSERT_TRUE(breaker_.allow(clock_.now()));
  breaker_.on_failure(clock_.now());   // one failure is enough in half-open
  EXPECT_EQ(breaker_.state(clock_.now()), Breaker::State::kOpen);
  EXPECT_FALSE(breaker_.allow(clock_.now()));
  // The cooldown counts from the probe's failure, not from the first opening.
  clock_.advance(kCooldown - Millis(1));
  EXPECT_EQ(breaker_.state(clock_.now()), Breaker::State::kOpen);
  EXPECT_FALSE(breaker_.allow(clock_.now()));
  clock_.advance(Millis(1));
  EXPECT_EQ(breaker_.state(clock_.now()), Breaker::State::kHalfOpen);
  EXPECT_TRUE(breaker_.allow(clock_.now()));   // a new probe
  EXPECT_FALSE(breaker_.allow(clock_.now()));
}

TEST_F(BreakerTest, ThresholdOfOneOpensOnFirstFailure) {
  Breaker breaker(1, kCooldown);
  ASSERT_TRUE(breaker.allow(clock_.now()));
  breaker.on_failure(clock_.now());
  EXPECT_EQ(breaker.state(clock_.now()), Breaker::State::kOpen);
}

TEST(BreakerStateNameTest, Names) {
  EXPECT_EQ(std::string(breaker_state_name(Breaker::State::kClosed)), "closed");
  EXPECT_EQ(std::string(breaker_state_name(Breaker::State::kOpen)), "open");
  EXPECT_EQ(std::string(breaker_state_name(Breaker::State::kHalfOpen)), "half_open");
}

}  // namespace
}  // namespace keel
