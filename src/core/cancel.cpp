#include "core/cancel.h"

namespace keel {

void CancelToken::cancel(ErrorCode code, std::string message) {
  if (cancelled_) return;
  cancelled_ = true;
  reason_ = Error(code, std::move(message));
  // Move out first: a callback may register or remove others.
  auto callbacks = std::move(callbacks_);
  callbacks_.clear();
  for (auto& callback : callbacks) {
    if (callback) callback();
  }
}

size_t CancelToken::on_cancel(Callback callback) {
  if (cancelled_) {
    callback();
    return static_cast<size_t>(-1);
  }
  // A proxied request registers about three (the connection, the client, a child token): room
  // for four at once instead of growing the vector three times.
  if (callbacks_.empty()) callbacks_.reserve(4);
  callbacks_.push_back(std::move(callback));
  return callbacks_.size() - 1;
}

void CancelToken::remove(size_t handle) {
  if (handle < callbacks_.size()) callbacks_[handle] = nullptr;
}

std::shared_ptr<CancelToken> CancelToken::child() {
  auto kid = std::make_shared<CancelToken>();
  std::weak_ptr<CancelToken> weak_kid = kid;
  std::weak_ptr<CancelToken> weak_self = weak_from_this();
  on_cancel([weak_kid, weak_self] {
    auto k = weak_kid.lock();
    auto self = weak_self.lock();
    if (k && self) k->cancel(self->reason().code, self->reason().message);
  });
  return kid;
}

}  // namespace keel
