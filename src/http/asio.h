// The one place that pulls in Boost.Asio/Beast, with the workarounds Boost 1.74 needs.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace keel {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;
template <typename T>
using Task = boost::asio::awaitable<T>;

// True when `text` holds a CR or LF: in an HTTP field or start line it would end the line early
// (header injection); the header writers refuse such values.
// (A plain loop: find_first_of with a two-byte set costs a memchr per byte of `text`.)
inline bool has_line_break(std::string_view text) {
  for (char c : text) {
    if (c == '\r' || c == '\n') return true;
  }
  return false;
}

// Writes every byte of `buffers` to a plain TCP socket. First one sendmsg(2) right away: the
// kernel usually takes it all, and then no asynchronous operation is started at all (an
// async_write that completes at once still posts its completion: a round of the event loop
// and a suspension of the calling coroutine). What the kernel did not take goes through
// async_write. `ec` is set on failure.
template <size_t N>
Task<void> write_all(tcp::socket& socket, std::array<asio::const_buffer, N> buffers,
                     beast::error_code& ec);
Task<void> write_all(tcp::socket& socket, asio::const_buffer buffer, beast::error_code& ec);
// The synchronous part: sends what the socket takes now without blocking; returns the count,
// or sets `ec` on an error other than "would block".
size_t send_now(tcp::socket& socket, const asio::const_buffer* buffers, size_t count,
                beast::error_code& ec);

template <size_t N>
Task<void> write_all(tcp::socket& socket, std::array<asio::const_buffer, N> buffers,
                     beast::error_code& ec) {
  size_t sent = send_now(socket, buffers.data(), N, ec);
  if (ec) co_return;
  for (auto& buffer : buffers) {
    size_t part = std::min(sent, buffer.size());
    buffer += part;
    sent -= part;
  }
  if (asio::buffer_size(buffers) == 0) co_return;
  co_await asio::async_write(socket, buffers, asio::redirect_error(asio::use_awaitable, ec));
}

// Requests whose handlers are running on this thread now (the server's sessions count them).
int& handlers_in_progress();

// Lets the handlers already queued on this thread run first. Worth it before a read whose bytes
// were only just asked for (the upstream's answer to a request just written; a keep-alive
// client's next request) while other requests are in progress on this thread: Asio tries every
// read once before waiting for readiness, and right after the ask that try finds nothing (a
// receive syscall answering EAGAIN, then a wait); run after the others' ready work, it often
// finds the bytes. With 50 connections on one io thread (`make bench-gateway`), read syscalls
// per proxied request (the pooled connection's peek aside) fell from 3.9 to 2.4 and CPU per
// request by 5-10% (medians of interleaved runs). With nothing else in progress it is not
// worth it: a queued handler turns Asio's next epoll_wait(2) into a poll, and at one
// connection that was one more syscall per read.
inline Task<void> after_queued_work() { return asio::defer(asio::use_awaitable); }

}  // namespace keel
