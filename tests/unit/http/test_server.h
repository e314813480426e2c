// Test helpers shared by the http and providers unit tests: a keel::Server on a loopback
// ephemeral port running on its own thread, and ways to drive coroutines from a test.
//
//   TestServer server([](Request& req, ResponseWriter& res) -> Task<void> { ... });
//   auto reply = run_until_done(io, some_task(server.url("/v1")));
//   http_pool_clear();   // before io dies
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "http/client.h"
#include "http/server.h"

namespace keel::testkit {

// A keel::Server on 127.0.0.1, port 0, one io thread, run (Server::run) on a std::thread.
// Handlers run on that thread: share state with the test through atomics or a mutex.
class TestServer {
 public:
  explicit TestServer(Handler handler, ServerOptions options = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    options.threads = 1;
    options.shutdown_grace_ms = 3000;
    server_ = std::make_unique<Server>(options, std::move(handler));
    auto port = server_->listen();
    if (!port) throw std::runtime_error(port.error().message);
    port_ = *port;
    thread_ = std::thread([this] { server_->run(); });
  }
  ~TestServer() { stop(); }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  // Shuts down and waits for run() to return.
  void stop() {
    if (!thread_.joinable()) return;
    server_->shutdown();
    thread_.join();
  }

  std::string base(const std::string& path = "") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  Url url(const std::string& path = "/") const { return *Url::parse(base(path)); }
  Server& server() { return *server_; }
  uint16_t port() const { return port_; }

 private:
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::thread thread_;
};

// Runs `task` on `io` until it completes (not until `io` runs out of work).
template <typename T>
T run_until_done(asio::io_context& io, Task<T> task) {
  std::optional<T> result;
  std::exception_ptr failure;
  bool done = false;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T value) {
    failure = e;
    result = std::move(value);
    done = true;
  });
  io.restart();
  while (!done && io.run_one() > 0) {
  }
  if (failure) std::rethrow_exception(failure);
  EXPECT_TRUE(done);
  return std::move(*result);
}

// Waits on the calling coroutine's executor until `flag` is set (polled every millisecond).
inline Task<bool> wait_for(const std::atomic<bool>& flag, int limit_ms = 5000) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(limit_ms);
  while (!flag.load()) {
    if (std::chrono::steady_clock::now() > deadline) co_return false;
    timer.expires_after(std::chrono::milliseconds(1));
    co_await timer.async_wait(asio::use_awaitable);
  }
  co_return true;
}

// In a handler: waits until the client disconnects or `limit_ms` passes; true when it left.
inline Task<bool> wait_for_client_gone(ResponseWriter& res, int limit_ms) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor, std::chrono::milliseconds(limit_ms));
  const CancelPtr& gone = res.client_gone();
  size_t handle = gone->on_cancel([&timer] { timer.cancel(); });
  beast::error_code ec;
  if (!gone->cancelled()) co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  gone->remove(handle);
  co_return gone->cancelled();
}

// Polls `flag` from a plain thread for up to `limit_ms`.
inline bool eventually(const std::atomic<bool>& flag, int limit_ms = 2000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(limit_ms);
  while (!flag.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return flag.load();
}

}  // namespace keel::testkit
