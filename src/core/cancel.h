// A one-shot cancellation signal shared between a request and the work it started.
//
//   auto token = std::make_shared<CancelToken>();
//   token->on_cancel([&socket] { socket.close(); });   // runs now if already cancelled
//   ...
//   token->cancel(ErrorCode::kCancelled, "client disconnected");
//
// Contract: a token is used from one thread (the io thread that owns the request). Callbacks
// run inline on cancel(), once, in registration order. A child token (link) is cancelled when
// its parent is, never the other way round.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"

namespace keel {

class CancelToken : public std::enable_shared_from_this<CancelToken> {
 public:
  using Callback = std::function<void()>;

  bool cancelled() const { return cancelled_; }
  // Why it was cancelled: kCancelled (client gone), kDeadlineExceeded (a timeout), ...
  const Error& reason() const { return reason_; }

  void cancel(ErrorCode code, std::string message);

  // Registers a callback; returns a handle that unregisters it (pass to remove()).
  size_t on_cancel(Callback callback);
  void remove(size_t handle);

  // A child that is cancelled when this one is.
  std::shared_ptr<CancelToken> child();

 private:
  bool cancelled_ = false;
  Error reason_;
  std::vector<Callback> callbacks_;
};

using CancelPtr = std::shared_ptr<CancelToken>;

// A callback registered on a token for as long as this object lives (on_cancel + remove).
class CancelRegistration {
 public:
  CancelRegistration(CancelPtr token, CancelToken::Callback callback) : token_(std::move(token)) {
    handle_ = token_->on_cancel(std::move(callback));
  }
  ~CancelRegistration() { token_->remove(handle_); }
  CancelRegistration(const CancelRegistration&) = delete;
  CancelRegistration& operator=(const CancelRegistration&) = delete;

 private:
  CancelPtr token_;
  size_t handle_ = 0;
};

}  // namespace keel
