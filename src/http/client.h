// HTTP/1.1 client for upstreams: keep-alive connection pool per io thread, TLS with the
// system CA store (OpenSSL; SSL_CERT_FILE / SSL_CERT_DIR are honoured), bodies streamed as they
// arrive. Knows nothing about LLMs.
//
//   ClientRequest req{.method = "POST", .url = *Url::parse("https://api.example.com/v1/x")};
//   req.body = "...";
//   auto res = co_await http_send(std::move(req), cancel);    // headers received
//   if (!res) ...;                                             // connect/TLS/timeout error
//   while (auto chunk = co_await res.value()->read_some()) { if (chunk->empty()) break; ... }
//
// Cancellation: when `cancel` fires, the connection is closed and pending reads fail with
// kCancelled (or the token's reason). Must be called from an io thread's coroutine; the pool is
// per thread.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/cancel.h"
#include "core/result.h"
#include "http/asio.h"

namespace keel {

struct Url {
  bool tls = false;
  std::string host;
  uint16_t port = 80;
  std::string target = "/";   // path and query
  static Result<Url> parse(std::string_view text);
  // Appends a path to this URL's path ("/v1" + "/chat/completions").
  Url with_path(std::string_view suffix) const;
};

struct ClientRequest {
  std::string method = "GET";
  Url url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int connect_timeout_ms = 5000;
  // Longest wait for any single read (headers or a body chunk); 0: none (callers time out via
  // the cancel token instead).
  int read_timeout_ms = 0;
  // An IP address to connect to instead of resolving url.host (which still names the Host
  // header and TLS's SNI and certificate check): the egress guard's checked address, so a name
  // that resolves differently the second time (DNS rebinding) cannot slip past it.
  std::string connect_address;
};

class Connection;

class ClientResponse {
 public:
  ClientResponse(std::unique_ptr<Connection> conn, CancelPtr cancel);
  ~ClientResponse();
  ClientResponse(const ClientResponse&) = delete;
  ClientResponse& operator=(const ClientResponse&) = delete;

  int status() const;
  std::string header(std::string_view name) const;
  // Every value of a header that may repeat (set-cookie), in order.
  std::vector<std::string> header_values(std::string_view name) const;
  // The next piece of the body as it arrives; an empty string at the end. Errors:
  // kUnavailable (connection lost), kCancelled / the token's reason, kDeadlineExceeded.
  Task<Result<std::string>> read_some();
  // The rest of the body, up to `limit` bytes (more -> kBadGateway).
  Task<Result<std::string>> read_all(size_t limit = 64 << 20);
  bool done() const;

  // The caller needs no more of the body (an event stream's end marker came), but the body may
  // not have ended: a chunked answer's last chunk often comes in a later packet, and a connection
  // whose body was not read to its end cannot be pooled. Reads the rest (at most 64 KiB, within
  // a second) in a coroutine of its own on the connection's thread, apart from the request's
  // cancel token, then pools the connection; a body that does not end so is dropped with it.
  static void finish_in_background(std::unique_ptr<ClientResponse> response);

 private:
  std::unique_ptr<Connection> conn_;
  CancelPtr cancel_;
  size_t cancel_handle_ = static_cast<size_t>(-1);
};

Task<Result<std::unique_ptr<ClientResponse>>> http_send(ClientRequest request, CancelPtr cancel);

// Idle pooled connections on this thread (for tests and metrics).
size_t http_pool_idle_count();
// Drops every pooled connection of this thread; call before its io_context is destroyed.
void http_pool_clear();

}  // namespace keel
