// Deadline / DeadlineService: many coarse timeouts behind one timer (http/deadline.h).
#include "http/deadline.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <random>
#include <vector>

namespace keel {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Fired {
  int count = 0;
  Clock::time_point at{};
};

void record(void* arg) {
  auto* fired = static_cast<Fired*>(arg);
  ++fired->count;
  fired->at = Clock::now();
}

// Runs the context until nothing is pending; returns how long that took.
milliseconds run(asio::io_context& io) {
  auto start = Clock::now();
  io.restart();
  io.run();
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

TEST(DeadlineTest, FiresOnceAtItsTime) {
  asio::io_context io;
  Fired fired;
  Deadline deadline;
  auto when = Clock::now() + milliseconds(30);
  deadline.arm(io, when, record, &fired);
  EXPECT_TRUE(deadline.armed());
  run(io);
  EXPECT_EQ(fired.count, 1);
  EXPECT_GE(fired.at, when);
  EXPECT_LT(fired.at, when + milliseconds(500));
  EXPECT_FALSE(deadline.armed());
}

TEST(DeadlineTest, CancelledNeverFiresAndLeavesNothingPending) {
  asio::io_context io;
  Fired fired;
  Deadline deadline;
  deadline.arm(io, Clock::now() + milliseconds(5000), record, &fired);
  deadline.cancel();
  EXPECT_FALSE(deadline.armed());
  // The service's timer wait goes with the last deadline: run() returns at once.
  EXPECT_LT(run(io).count(), 1000);
  EXPECT_EQ(fired.count, 0);
}

TEST(DeadlineTest, DestroyedDeadlineNeverFires) {
  asio::io_context io;
  Fired fired;
  {
    Deadline deadline;
    deadline.arm(io, Clock::now() + milliseconds(10), record, &fired);
  }
  EXPECT_LT(run(io).count(), 1000);
  EXPECT_EQ(fired.count, 0);
  EXPECT_EQ(asio::use_service<DeadlineService>(io).pending(), 0u);
}

TEST(DeadlineTest, MovedLaterAndEarlier) {
  asio::io_context io;
  Fired later, earlier;
  Deadline a, b;
  auto start = Clock::now();
  a.arm(io, start + milliseconds(20), record, &later);
  a.move_to(start + milliseconds(120));        // later than the timer's wait: fires then
  b.arm(io, start + milliseconds(400), record, &earlier);
  b.move_to(start + milliseconds(40));         // earlier than everything: re-arms the timer
  run(io);
  EXPECT_EQ(later.count, 1);
  EXPECT_GE(later.at, start + milliseconds(120));
  EXPECT_EQ(earlier.count, 1);
  EXPECT_GE(earlier.at, start + milliseconds(40));
  EXPECT_LT(earlier.at, start + milliseconds(300));
  EXPECT_LT(earlier.at, later.at);
}

TEST(DeadlineTest, MoveOfAFiredDeadlineDoesNothing) {
  asio::io_context io;
  Fired fired;
  Deadline deadline;
  deadline.arm(io, Clock::now(), record, &fired);
  run(io);
  ASSERT_EQ(fired.count, 1);
  deadline.move_to(Clock::now() + milliseconds(10));
  EXPECT_FALSE(deadline.armed());
  run(io);
  EXPECT_EQ(fired.count, 1);
}

// Each of many deadlines at random times fires exactly once, never early, and not much late.
TEST(DeadlineTest, ManyDeadlinesEachFireOnceNeverEarly) {
  asio::io_context io;
  constexpr int kCount = 500;
  std::vector<Fired> fired(kCount);
  std::vector<std::unique_ptr<Deadline>> deadlines;
  std::vector<Clock::time_point> when(kCount);
  std::mt19937 random(7);
  auto start = Clock::now();
  for (int i = 0; i < kCount; ++i) {
    when[i] = start + milliseconds(random() % 200);
    deadlines.push_back(std::make_unique<Deadline>());
    deadlines.back()->arm(io, when[i], record, &fired[i]);
  }
  EXPECT_EQ(asio::use_service<DeadlineService>(io).pending(), static_cast<size_t>(kCount));
  run(io);
  for (int i = 0; i < kCount; ++i) {
    ASSERT_EQ(fired[i].count, 1) << i;
    EXPECT_GE(fired[i].at, when[i]) << i;
    EXPECT_LT(fired[i].at, when[i] + milliseconds(500)) << i;
  }
  EXPECT_EQ(asio::use_service<DeadlineService>(io).pending(), 0u);
}

// A callback may cancel, destroy or arm other deadlines, and re-arm itself.
struct Juggler {
  explicit Juggler(asio::io_context& context) : io(&context) {}
  asio::io_context* io;
  std::unique_ptr<Deadline> victim = std::make_unique<Deadline>();
  Deadline self;
  Deadline armed_later;
  Fired victim_fired, later_fired;
  int self_runs = 0;

  static void on_self(void* arg) {
    auto* j = static_cast<Juggler*>(arg);
    if (++j->self_runs > 1) return;
    j->victim.reset();   // destroyed while possibly due
    j->armed_later.arm(*j->io, Clock::now() + milliseconds(20), record, &j->later_fired);
    j->self.arm(*j->io, Clock::now() + milliseconds(5), on_self, j);
  }
};

TEST(DeadlineTest, CallbacksMayChangeOtherDeadlines) {
  asio::io_context io;
  Juggler juggler(io);
  auto now = Clock::now();
  // Both due at once: whichever runs first, the victim never runs after it is destroyed.
  juggler.victim->arm(io, now + milliseconds(10), record, &juggler.victim_fired);
  juggler.self.arm(io, now + milliseconds(10), Juggler::on_self, &juggler);
  run(io);
  EXPECT_LE(juggler.victim_fired.count, 1);
  EXPECT_EQ(juggler.self_runs, 2);
  EXPECT_EQ(juggler.later_fired.count, 1);
}

// Deadlines left armed when their io_context goes away are forgotten, not touched later.
TEST(DeadlineTest, OutlivesItsContext) {
  Fired fired;
  Deadline deadline;
  {
    asio::io_context io;
    deadline.arm(io, Clock::now() + milliseconds(10), record, &fired);
  }
  EXPECT_FALSE(deadline.armed());
  deadline.cancel();
  EXPECT_EQ(fired.count, 0);
}

// A deadline remembers its context's service (use_service locks a registry); armed again after
// that context went, on a new one made at the same address, it uses the new context's service.
TEST(DeadlineTest, ArmedAgainOnANewContextAtTheSameAddress) {
  Fired first, second;
  Deadline deadline;
  std::optional<asio::io_context> io;
  io.emplace();
  deadline.arm(*io, Clock::now() + milliseconds(5), record, &first);
  run(*io);
  EXPECT_EQ(first.count, 1);
  asio::io_context* address = &*io;
  io.reset();
  io.emplace();
  ASSERT_EQ(&*io, address);   // the case that matters: the old service pointer would dangle
  deadline.arm(*io, Clock::now() + milliseconds(5), record, &second);
  EXPECT_TRUE(deadline.armed());
  run(*io);
  EXPECT_EQ(second.count, 1);
}

}  // namespace
}  // namespace keel
