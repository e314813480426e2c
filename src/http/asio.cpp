#include "http/asio.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>

namespace keel {

size_t send_now(tcp::socket& socket, const asio::const_buffer* buffers, size_t count,
                beast::error_code& ec) {
  ec = {};
  constexpr size_t kMaxBuffers = 8;
  iovec iov[kMaxBuffers];
  size_t used = 0;
  for (size_t i = 0; i < count && used < kMaxBuffers; ++i) {
    if (buffers[i].size() == 0) continue;
    iov[used].iov_base = const_cast<void*>(buffers[i].data());
    iov[used].iov_len = buffers[i].size();
    ++used;
  }
  if (used == 0) return 0;
  msghdr message{};
  message.msg_iov = iov;
  message.msg_iovlen = used;
  for (;;) {
    // MSG_NOSIGNAL: a peer that has gone is an EPIPE here, not a SIGPIPE (as in Asio's sends).
    ssize_t n = ::sendmsg(socket.native_handle(), &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      ec = beast::error_code(errno, asio::error::get_system_category());
    }
    return 0;
  }
}

int& handlers_in_progress() {
  thread_local int count = 0;
  return count;
}

Task<void> write_all(tcp::socket& socket, asio::const_buffer buffer, beast::error_code& ec) {
  co_await write_all(socket, std::array<asio::const_buffer, 1>{buffer}, ec);
}

}  // namespace keel
