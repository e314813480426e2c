#include "http/deadline.h"

namespace keel {

asio::execution_context::id DeadlineService::id;
std::atomic<uint64_t> DeadlineService::shutdowns_{0};

void Deadline::arm(asio::io_context& context, Clock::time_point when, Callback callback,
                   void* arg) {
  // use_service locks the context's service registry and searches it: done once per context,
  // and again after any service shut down (its context may be gone, and another made at the
  // same address).
  const uint64_t epoch = DeadlineService::shutdowns_.load(std::memory_order_acquire);
  if (home_context_ != &context || home_epoch_ != epoch) {
    home_ = &asio::use_service<DeadlineService>(context);
    home_context_ = &context;
    home_epoch_ = epoch;
  }
  DeadlineService& service = *home_;
  if (service_ != &service) {
    cancel();
    if (service.shut_down_) return;
    service.link(*this);
  }
  when_ = when;
  callback_ = callback;
  arg_ = arg;
  service.schedule(when);
}

void Deadline::arm(const asio::any_io_executor& executor, Clock::time_point when,
                   Callback callback, void* arg) {
  // keel's executors all belong to io_contexts (one per io thread).
  auto& context = static_cast<asio::io_context&>(asio::query(executor, asio::execution::context));
  arm(context, when, callback, arg);
}

void Deadline::move_to(Clock::time_point when) {
  if (!service_) return;
  when_ = when;
  service_->schedule(when);
}

void Deadline::cancel() {
  if (service_) service_->unlink(*this);
}

DeadlineService::DeadlineService(asio::io_context& context)
    : asio::execution_context::service(context), timer_(context) {}

void DeadlineService::shutdown() {
  // The io_context is going away: forget every deadline (their owners may outlive it, and
  // cancel() is then a no-op) and never wait again.
  shut_down_ = true;
  shutdowns_.fetch_add(1, std::memory_order_acq_rel);
  while (head_) unlink(*head_);
  timer_.cancel();
}

void DeadlineService::link(Deadline& deadline) {
  deadline.service_ = this;
  deadline.prev_ = nullptr;
  deadline.next_ = head_;
  if (head_) head_->prev_ = &deadline;
  head_ = &deadline;
  ++count_;
}

void DeadlineService::unlink(Deadline& deadline) {
  if (deadline.prev_) {
    deadline.prev_->next_ = deadline.next_;
  } else {
    head_ = deadline.next_;
  }
  if (deadline.next_) deadline.next_->prev_ = deadline.prev_;
  deadline.prev_ = deadline.next_ = nullptr;
  deadline.service_ = nullptr;
  if (--count_ == 0 && waiting_ && timer_.expiry() > Deadline::Clock::now() + kLinger) {
    // Nothing left to wait for: a pending wait would keep io_context::run() from returning
    // (and hold the thread's timer) until it expired. A near one is left to expire instead:
    // under steady traffic the list empties and fills again with every request, and each
    // cancel (a posted completion) and re-arm (a timerfd_settime) would cost more than the one
    // idle expiry.
    waiting_ = false;
    ++generation_;
    timer_.cancel();
  }
}

void DeadlineService::schedule(Deadline::Clock::time_point when) {
  // A pending wait that ends no more than kSlack after `when` serves it too: expire() looks at
  // every deadline and waits again for the earliest left.
  if (shut_down_ || (waiting_ && when + kSlack >= timer_.expiry())) return;
  timer_.expires_at(when);   // cancels a pending wait, whose completion the generation ignores
  waiting_ = true;
  uint64_t generation = ++generation_;
  timer_.async_wait([this, generation](const beast::error_code& ec) {
    if (ec || generation != generation_) return;
    waiting_ = false;
    expire();
  });
}

void DeadlineService::expire() {
  // One callback at a time, each found by a fresh scan: a callback may cancel, re-arm or
  // destroy any deadline, so no pointer is kept across one.
  for (;;) {
    const auto now = Deadline::Clock::now();
    Deadline* due = head_;
    while (due && due->when_ > now) due = due->next_;
    if (!due) break;
    unlink(*due);
    due->callback_(due->arg_);
  }
  // A callback may have armed a deadline (and the timer, for it); wait for the earliest of all.
  if (!head_) return;
  auto earliest = head_->when_;
  for (Deadline* d = head_->next_; d; d = d->next_) earliest = std::min(earliest, d->when_);
  schedule(earliest);
}

}  // namespace keel
