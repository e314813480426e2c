// A circuit breaker for one target (DESIGN.md "Router semantics"): opens after N consecutive
// failures, lets one half-open probe through after a cooldown, closes on a success.
//
//   Breaker breaker(5, Millis(30000));
//   if (breaker.allow(clock.now())) { ...; ok ? breaker.on_success() : breaker.on_failure(now); }
//
// Not thread-safe: the router guards it.
#pragma once

#include "core/clock.h"

namespace keel {

class Breaker {
 public:
  enum class State { kClosed = 0, kOpen = 1, kHalfOpen = 2 };

  Breaker(int failure_threshold, Millis cooldown)
      : threshold_(failure_threshold), cooldown_(cooldown) {}

  // May a request go to this target now? In half-open state only one probe at a time.
  bool allow(TimePoint now);
  void on_success();
  void on_failure(TimePoint now);
  // The probe ended without a verdict (the client went away): let the next one through.
  void on_abandoned() { probe_in_flight_ = false; }
  // The state as of `now` (open turns half-open once the cooldown has passed).
  State state(TimePoint now) const;
  int consecutive_failures() const { return failures_; }

 private:
  int threshold_;
  Millis cooldown_;
  State state_ = State::kClosed;
  int failures_ = 0;
  TimePoint opened_at_{};
  bool probe_in_flight_ = false;
};

const char* breaker_state_name(Breaker::State state);

}  // namespace keel
