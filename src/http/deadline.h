// Coarse timeouts for one io_context: any number of deadlines behind one steady_timer.
//
//   Deadline idle;                                     // a member of whatever it guards
//   idle.arm(context, now + 60s, [](void* s) { static_cast<Session*>(s)->close(); }, this);
//   idle.arm(context, now + 90s, ...);                 // moved: no timer operation, no syscall
//   idle.cancel();                                     // or destroy it
//
// Why not a steady_timer each: arming, re-arming and cancelling an Asio timer each cost a timer
// queue update, and when it becomes the earliest a timerfd_settime(2) syscall; a cancel posts
// the waiter's completion, an extra round of the event loop. A proxied request used three such
// timers (idle connection, attempt deadline, its re-arm on the first token). Here arming,
// moving and cancelling are a few pointer writes; the one timer is re-armed only when a new
// deadline is earlier than everything else pending, and fires at the earliest deadline, which
// keep-alive traffic keeps pushing out. When the last deadline goes, the wait is cancelled unless
// it ends within kLinger, so that an io_context with nothing else to do returns from run() soon.
//
// A deadline fires at most once per arm(), on the io_context's thread, within kSlack after its
// time; its callback may arm, cancel or destroy any deadline, itself included. Not thread-safe:
// arm and cancel only on the thread that runs the io_context.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "http/asio.h"

namespace keel {

class DeadlineService;

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;
  using Callback = void (*)(void* arg);

  Deadline() = default;
  ~Deadline() { cancel(); }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  // Calls callback(arg) once at `when` (or up to kSlack later) unless cancelled or re-armed first.
  void arm(asio::io_context& context, Clock::time_point when, Callback callback, void* arg);
  void arm(const asio::any_io_executor& executor, Clock::time_point when, Callback callback,
           void* arg);
  // An armed deadline's new time (same callback); nothing when it is not armed.
  void move_to(Clock::time_point when);
  void cancel();
  bool armed() const { return service_ != nullptr; }
  Clock::time_point when() const { return when_; }

 private:
  friend class DeadlineService;
  DeadlineService* service_ = nullptr;   // set while armed
  // The context last armed on and its service, valid while DeadlineService::shutdowns_ stays
  // at home_epoch_ (no service was shut down, so none was destroyed).
  asio::io_context* home_context_ = nullptr;
  DeadlineService* home_ = nullptr;
  uint64_t home_epoch_ = 0;
  Deadline* prev_ = nullptr;
  Deadline* next_ = nullptr;
  Clock::time_point when_{};
  Callback callback_ = nullptr;
  void* arg_ = nullptr;
};

// One per io_context (asio::use_service); used through Deadline.
class DeadlineService : public asio::execution_context::service {
 public:
  using key_type = DeadlineService;
  static asio::execution_context::id id;
  // Deadlines this close together share a timer expiry: a new deadline re-arms the timer only
  // when it is earlier than the timer's expiry by more than this.
  static constexpr std::chrono::milliseconds kSlack{5};
  // When the last deadline goes, a pending wait that ends later than this from now is
  // cancelled (so that an idle io_context's run() returns); a nearer one is left to expire.
  static constexpr std::chrono::milliseconds kLinger{100};

  explicit DeadlineService(asio::io_context& context);
  size_t pending() const { return count_; }

 private:
  friend class Deadline;
  void shutdown() override;
  void link(Deadline& deadline);
  void unlink(Deadline& deadline);
  void schedule(Deadline::Clock::time_point when);
  void expire();

  asio::steady_timer timer_;
  Deadline* head_ = nullptr;
  size_t count_ = 0;
  bool waiting_ = false;   // timer_ has a wait pending, for timer_.expiry()
  uint64_t generation_ = 0;   // of the pending wait; an older wait's completion is ignored
  bool shut_down_ = false;
  static std::atomic<uint64_t> shutdowns_;   // services shut down so far, process-wide
};

}  // namespace keel
