// HTTP/1.1 server on Boost.Beast with C++20 coroutines. Knows nothing about LLMs.
//
//   Server server(options, [](Request& req, ResponseWriter& res) -> Task<void> {
//     co_await res.send(200, "application/json", R"({"ok":true})");
//   });
//   auto port = server.listen();        // binds (port 0: ephemeral)
//   server.run();                       // blocks until shutdown() and in-flight work is done
//
// Threads: `threads` io threads, each with its own io_context and acceptor (SO_REUSEPORT), so
// a connection and all work it starts stay on one thread. Handlers run on that thread.
// A handler must not throw; if it does, the client gets 500 and the connection closes.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/cancel.h"
#include "core/result.h"
#include "http/asio.h"

namespace keel {

// A whole response the server sends on the application's behalf (ServerOptions::header_check).
struct ServerReply {
  int status = 500;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// A request's start line and header fields, before its body is read. Trailer fields never
// appear here or in Request (http/parser.h): they are counted against the header limit and
// dropped.
using RequestHead = bhttp::request_header<>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  int threads = 1;
  size_t max_body_bytes = 8 * 1024 * 1024;
  int header_timeout_ms = 10000;
  int idle_timeout_ms = 60000;
  int body_timeout_ms = 30000;
  int shutdown_grace_ms = 10000;
  // The JSON body of errors the server itself answers before any handler runs (413, 400 for
  // malformed HTTP), given the status, a message and the request target (may be empty), so
  // each API path can keep its own error shape. Empty: a generic OpenAI-shaped body.
  std::function<std::string(int status, std::string_view message, std::string_view target)>
      error_body;
  // Called on the io thread once a request's header is read, before its body is read and
  // before `Expect: 100-continue` is answered: a ServerReply is sent instead of reading the body,
  // and the connection closes (so a client without a valid key uploads nothing). Must not throw.
  std::function<std::optional<ServerReply>(const RequestHead&)> header_check;
  // A response write the client does not take within this long closes the connection (nginx's
  // send_timeout): a client that stops reading a stream must not hold its slot.
  int send_timeout_ms = 60000;
};

// The path of a request target: no query, and for the absolute form (RFC 9112 3.2.2) no scheme
// and authority.
std::string_view request_path(std::string_view target);

struct Request {
  bhttp::request<bhttp::string_body> message;
  std::string remote;    // peer address
  bool header_checked = false;  // ServerOptions::header_check passed on this request's header
  std::string_view path() const;           // target without the query
  std::string_view header(std::string_view name) const;   // "" when absent; lives with message
};

class Session;

// Writes one response: either whole (send) or streamed (begin_stream, write*, end).
class ResponseWriter {
 public:
  explicit ResponseWriter(Session& session) : session_(session) {}

  Task<bool> send(int status, std::string_view content_type, std::string body,
                  const std::vector<std::pair<std::string, std::string>>& headers = {});
  // Starts a chunked response. Returns false when the client is gone.
  Task<bool> begin_stream(int status, std::string_view content_type,
                          const std::vector<std::pair<std::string, std::string>>& headers = {});
  Task<bool> write(std::string_view data);
  Task<void> end();

  bool started() const { return started_; }
  // Fires when the client disconnects while this request is in progress.
  const CancelPtr& client_gone() const;
  // Ask for the connection to be closed after this response.
  void close_after() { close_after_ = true; }
  bool closes_after() const { return close_after_; }

 private:
  Session& session_;
  bool started_ = false;
  bool close_after_ = false;
  bool failed_ = false;
};

using Handler = std::function<Task<void>(Request&, ResponseWriter&)>;

class Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();

  // Binds every io thread's acceptor. Returns the bound port.
  Result<uint16_t> listen();
  // Runs the io threads; returns after shutdown() once in-flight requests are done or the
  // grace period has passed. Installs SIGTERM/SIGINT handlers that call shutdown().
  void run();
  // Stops accepting, closes idle connections, lets in-flight requests finish. Thread-safe.
  void shutdown();

  size_t in_flight() const { return in_flight_.load(); }
  bool stopping() const { return stopping_.load(); }
  const ServerOptions& options() const { return options_; }
  // Every io_context, for work that must run on the io threads (e.g. tests).
  asio::io_context& context(size_t index);

 private:
  friend class Session;
  struct Worker;
  Task<void> accept_loop(Worker& worker);
  Task<void> drain();

  ServerOptions options_;
  Handler handler_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<size_t> in_flight_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace keel
