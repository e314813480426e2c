#include "router/breaker.h"

namespace keel {

bool Breaker::allow(TimePoint now) {
  switch (state(now)) {
    case State::kClosed:
      return true;
    case State::kOpen:
      return false;
    case State::kHalfOpen:
      if (probe_in_flight_) return false;
      state_ = State::kHalfOpen;
      probe_in_flight_ = true;
      return true;
  }
  return true;
}

void Breaker::on_success() {
  state_ = State::kClosed;
  failures_ = 0;
  probe_in_flight_ = false;
}

void Breaker::on_failure(TimePoint now) {
  ++failures_;
  bool was_probe = probe_in_flight_;
  probe_in_flight_ = false;
  if (was_probe || state_ == State::kHalfOpen || failures_ >= threshold_) {
    state_ = State::kOpen;
    opened_at_ = now;
  }
}

Breaker::State Breaker::state(TimePoint now) const {
  if (state_ == State::kOpen && now - opened_at_ >= cooldown_) return State::kHalfOpen;
  return state_;
}

const char* breaker_state_name(Breaker::State state) {
  switch (state) {
    case Breaker::State::kClosed: return "closed";
    case Breaker::State::kOpen: return "open";
    case Breaker::State::kHalfOpen: return "half_open";
  }
  return "closed";
}

}  // namespace keel
