// Time, injectable: the router's breakers and latency stats take a Clock so tests can drive
// time by hand.
#pragma once

#include <chrono>
#include <cstdint>

namespace keel {

using Millis = std::chrono::milliseconds;
using TimePoint = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

class SteadyClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
  static const SteadyClock& instance() {
    static SteadyClock clock;
    return clock;
  }
};

// A clock that moves only when told to; for tests.
class ManualClock final : public Clock {
 public:
  TimePoint now() const override { return now_; }
  void advance(Millis by) { now_ += by; }

 private:
  TimePoint now_{std::chrono::seconds(1000)};
};

// Wall-clock time for logs and API `created` fields.
int64_t unix_seconds();
int64_t unix_millis();

}  // namespace keel
