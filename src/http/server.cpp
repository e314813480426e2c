#include "http/server.h"

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <set>
#include <thread>

#include "core/log.h"
#include "core/text.h"
#include "http/client.h"
#include "http/deadline.h"
#include "http/parser.h"

namespace keel {

using namespace std::string_view_literals;

using namespace std::chrono_literals;

struct Server::Worker {
  // Declared first so it outlives the context, whose destructor destroys sessions.
  std::set<Session*> sessions;   // touched only on this worker's thread
  asio::io_context context{1};
  std::unique_ptr<tcp::acceptor> acceptor;
};

// One client connection; lives as long as its coroutine (and any watcher) holds it.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server& server, Server::Worker& worker, tcp::socket socket)
      : server_(server), worker_(worker), socket_(std::move(socket)) {
    worker_.sessions.insert(this);
  }
  ~Session() { worker_.sessions.erase(this); }

  // `self` keeps the session alive for the coroutine's whole life. The one place a session's
  // exceptions stop (none is expected: handlers are wrapped, parsers keep their limits): it is
  // logged and the connection closed, never the process ended.
  static Task<void> run(std::shared_ptr<Session> self) {
    try {
      co_await self->serve(self);
    } catch (const std::exception& e) {
      KEEL_LOG(kError) << "connection closed after an exception: " << e.what();
    } catch (...) {
      KEEL_LOG(kError) << "connection closed after an exception";
    }
    self->busy_ = false;
    self->close();
  }
  void close_if_idle() {
    if (!busy_) close();
  }
  void close() {
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  tcp::socket& socket() { return socket_; }
  // Closes the connection `ms` from now unless re-armed or cancelled first: the idle, header
  // and body timeouts (a Deadline, not a timer per read: http/deadline.h).
  void expire_in(int ms) {
    timeout_.arm(worker_.context, std::chrono::steady_clock::now() + std::chrono::milliseconds(ms),
                 [](void* self) {
                   auto* session = static_cast<Session*>(self);
                   session->timed_out_ = true;
                   session->close();
                   // A handler still running (a send timeout) stops its upstream work too.
                   if (session->busy_ && session->client_gone_)
                     session->client_gone_->cancel(ErrorCode::kCancelled, "client timed out");
                 },
                 this);
  }
  bool keep_alive_ = true;
  bool head_ = false;   // a HEAD request: the response gets headers only
  bool chunked_started_ = false;
  CancelPtr client_gone_;

  // Streamed responses are corked: ResponseWriter appends wire bytes (header, chunks) to
  // pending_ and a handler posted on the first append (flush_posted) writes everything that
  // gathered once the handler yields (e.g. to read its upstream), in one write. Several SSE
  // events decoded from one upstream read thus leave in one syscall, in order.
  std::string pending_;
  bool flushing_ = false;       // a flush is posted (or a flusher writing)
  bool write_failed_ = false;   // a write of pending_ failed: the client is gone
  void queue(std::string_view bytes) {
    pending_.append(bytes);
    if (flushing_) return;
    flushing_ = true;
    // A posted handler, not a coroutine: by the time it runs, flush() at a short stream's end has
    // often written everything, and spawning a flusher coroutine cost more than the rest of it.
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->flush_posted(); });
  }
  // Waits for a scheduled flusher, then writes what is left; false when writing failed.
  Task<bool> flush();
  // write_all with the send timeout: armed only when the socket does not take everything at
  // once, so a client that keeps reading costs no timer work.
  template <size_t N>
  Task<void> send(std::array<asio::const_buffer, N> buffers, beast::error_code& ec) {
    size_t sent = send_now(socket_, buffers.data(), N, ec);
    if (ec) co_return;
    for (auto& buffer : buffers) {
      const size_t part = std::min(sent, buffer.size());
      buffer += part;
      sent -= part;
    }
    if (asio::buffer_size(buffers) == 0) co_return;
    expire_in(server_.options_.send_timeout_ms);
    co_await asio::async_write(socket_, buffers, asio::redirect_error(asio::use_awaitable, ec));
    timeout_.cancel();
  }

 private:
  Task<void> serve(std::shared_ptr<Session> self);
  // Once feed() asked for more: reads, with `timeout_ms` armed, until `parser` has the header
  // (header_only) or the whole message. Not called when the buffer held it all (the usual
  // case): a coroutine call costs a frame.
  Task<void> read_message(RequestParser& parser, bool header_only, int timeout_ms,
                          beast::error_code& ec);
  static constexpr size_t kMaxPipelinedBytes = 1 << 20;
  // Bounds the header section, and separately the trailer section (http/parser.h).
  static constexpr std::uint32_t kHeaderLimit = 64 * 1024;
  static constexpr std::chrono::milliseconds kWatchDelay{10};
  static void watch_disconnect(std::shared_ptr<Session> self, uint64_t generation);
  Task<void> send_error_and_linger(int status, std::string_view message,
                                   std::string_view target = {});
  // `head_only`: the answer to a HEAD request, without the body.
  Task<void> send_and_linger(const ServerReply& reply, bool head_only = false);
  // The answer to a request the parser refused (413, 431 or 400), with a lingering close.
  Task<void> send_parse_error(const beast::error_code& ec, std::string_view target);
  static Task<void> flusher(std::shared_ptr<Session> self);
  void flush_posted();
  // A write to the client failed: it is gone; what is corked or comes later is dropped.
  void writes_failed() {
    write_failed_ = true;
    keep_alive_ = false;
  }
  Task<void> write_pending();

  Server& server_;
  Server::Worker& worker_;
  // A plain socket, not beast::tcp_stream: timeouts are Deadlines (expire_in), and the stream's
  // per-operation layer (its timer checks, shared state, executor copies) cost every read.
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  bool busy_ = false;
  uint64_t watch_generation_ = 0;   // of the request being handled (watch_disconnect)
  bool timed_out_ = false;   // timeout_ fired and closed the connection
  Deadline timeout_;
  Deadline watch_start_;   // starts watch_disconnect once a handler has run kWatchDelay
  bool remote_known_ = false;
  std::string remote_;    // the peer's address, read once
  std::string writing_;   // the bytes of pending_ being written now
  bool writing_now_ = false;   // write_pending is running
  // Signalled (cancelled) when write_pending ends; flush() waits on it.
  asio::steady_timer flushed_{socket_.get_executor()};
};

Task<void> Session::write_pending() {
  // One writer at a time; one that is running (suspended on a full socket) writes whatever is
  // appended before it ends.
  if (writing_now_) co_return;
  writing_now_ = true;
  beast::error_code ec;
  while (!pending_.empty() && !write_failed_) {
    writing_.swap(pending_);
    pending_.clear();
    co_await send(std::array<asio::const_buffer, 1>{asio::buffer(writing_)}, ec);
    writing_.clear();
    if (ec) writes_failed();
  }
  if (write_failed_) pending_.clear();
  writing_now_ = false;
  flushed_.cancel();   // wakes a flush() waiting for this write
}

Task<void> Session::flusher(std::shared_ptr<Session> self) {
  co_await self->write_pending();   // nothing left when a flush() came first
  self->flushing_ = false;
}

// What queue() posts: writes what gathered if the socket takes it all now; the rest, if any,
// goes to a flusher coroutine (flushing_ stays set until it is done). Nothing to do when a
// flush() came first, or a write in progress will take the new bytes too.
void Session::flush_posted() {
  flushing_ = false;
  if (write_failed_) pending_.clear();
  if (writing_now_ || pending_.empty()) return;
  beast::error_code ec;
  const asio::const_buffer bytes = asio::buffer(pending_);
  const size_t sent = send_now(socket_, &bytes, 1, ec);
  if (ec) {
    writes_failed();
    pending_.clear();
    return;
  }
  pending_.erase(0, sent);
  if (pending_.empty()) return;
  flushing_ = true;
  asio::co_spawn(socket_.get_executor(), flusher(shared_from_this()), asio::detached);
}

Task<bool> Session::flush() {
  // Only a write in progress is waited for; a scheduled flusher that has not started yet is
  // not: this writes now, and the flusher finds nothing left when it runs.
  while (writing_now_) {
    beast::error_code ec;
    flushed_.expires_at(asio::steady_timer::time_point::max());
    co_await flushed_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_await write_pending();
  co_return !write_failed_;
}

std::string_view Request::path() const {
  return request_path(std::string_view(message.target().data(), message.target().size()));
}

std::string_view request_path(std::string_view target) {
  // Absolute form (RFC 9112 3.2.2), which servers must accept: drop scheme and authority.
  for (std::string_view scheme : {"http://", "https://"}) {
    std::string_view head = target.substr(0, scheme.size());
    if (target.size() > scheme.size() &&
        beast::iequals(beast::string_view(head.data(), head.size()),
                       beast::string_view(scheme.data(), scheme.size()))) {
      size_t slash = target.find('/', scheme.size());
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
      break;
    }
  }
  return target.substr(0, target.find('?'));
}

std::string_view Request::header(std::string_view name) const {
  auto it = message.find(beast::string_view(name.data(), name.size()));
  if (it == message.end()) return {};
  return std::string_view(it->value().data(), it->value().size());
}

namespace {

std::string error_json(std::string_view message, std::string_view type) {
  // Built by hand: http knows nothing of JSON libraries; messages here are fixed ASCII.
  std::string out = R"({"error":{"message":")";
  out += message;
  out += R"(","type":")";
  out += type;
  out += R"(","param":null,"code":null}})";
  return out;
}

// A response's header block, written directly (RFC 9112 sections 4 and 5): the status line,
// Content-Type, extra fields, "Connection: close" when the connection ends after it, then
// Content-Length (content_length set) or chunked framing. False when a field holds a line break
// (which would end the header early).
bool response_head(std::string& out, int status, std::string_view content_type,
                   const std::vector<std::pair<std::string, std::string>>& headers, bool keep_alive,
                   const size_t* content_length) {
  beast::string_view reason = bhttp::obsolete_reason(static_cast<bhttp::status>(status));
  out.reserve(160);
  out += "HTTP/1.1 "sv;
  append_decimal(out, status);
  out += ' ';
  out.append(reason.data(), reason.size());
  if (has_line_break(content_type)) return false;
  out += "\r\nContent-Type: "sv;
  out += content_type;
  out += "\r\n"sv;
  for (const auto& [name, value] : headers) {
    if (has_line_break(name) || has_line_break(value)) return false;
    out += name;
    out += ": "sv;
    out += value;
    out += "\r\n"sv;
  }
  if (!keep_alive) out += "Connection: close\r\n"sv;
  if (content_length) {
    out += "Content-Length: "sv;
    append_decimal(out, *content_length);
    out += "\r\n\r\n"sv;
  } else {
    out += "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"sv;
  }
  return true;
}

}  // namespace

void Session::watch_disconnect(std::shared_ptr<Session> self, uint64_t generation) {
  // While a handler runs, this owns reading the socket: bytes a client pipelines go into the
  // session's buffer for the next request, and end-of-stream or an error means the client has
  // gone, which cancels the request's work at once. A readiness wait, not a read: nothing points
  // into the buffer while it is pending, so serve() need not cancel it or wait for it when the
  // request ends. It bumps watch_generation_ instead, and the stale wait completes harmlessly
  // when the next request's bytes arrive (or the connection closes). It also saves the event
  // loop rounds that cancelling a pending read costs.
  auto& socket = self->socket_;
  socket.async_wait(tcp::socket::wait_read, [self = std::move(self), generation](
                                                const beast::error_code& ec) mutable {
    Session& session = *self;
    if (ec || generation != session.watch_generation_) return;
    for (;;) {
      if (session.buffer_.size() > kMaxPipelinedBytes) return;   // enough queued; stop reading
      auto space = session.buffer_.prepare(16 * 1024);
      ssize_t n = ::recv(session.socket_.native_handle(), space.data(), space.size(),
                         MSG_DONTWAIT);
      if (n > 0) {
        session.buffer_.commit(static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;   // drained: wait again
      session.client_gone_->cancel(ErrorCode::kCancelled, "client disconnected");
      return;
    }
    watch_disconnect(std::move(self), generation);
  });
}

Task<void> Session::send_error_and_linger(int status, std::string_view message,
                                          std::string_view target) {
  const auto& make_body = server_.options_.error_body;
  ServerReply reply;
  reply.status = status;
  reply.body =
      make_body ? make_body(status, message, target) : error_json(message, "invalid_request_error");
  co_await send_and_linger(reply);
}

Task<void> Session::send_and_linger(const ServerReply& reply, bool head_only) {
  // Answer, then read and discard what the client still sends for a while before closing, so
  // it sees the response instead of a connection reset (nginx's lingering close).
  std::string head;
  beast::error_code ec;
  const size_t length = reply.body.size();
  if (!response_head(head, reply.status, reply.content_type, reply.headers, /*keep_alive=*/false,
                     &length)) {
    KEEL_LOG(kError) << "response header with a line break not sent";
    co_return;
  }
  expire_in(5000);
  std::array<asio::const_buffer, 2> wire{asio::buffer(head), asio::const_buffer()};
  if (!head_only) wire[1] = asio::buffer(reply.body);
  co_await write_all(socket_, wire, ec);
  if (ec) co_return;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  expire_in(2000);
  char sink[16384];
  size_t drained = 0;
  while (!ec && drained < (64u << 20)) {
    drained += co_await socket_.async_read_some(asio::buffer(sink),
                                                asio::redirect_error(asio::use_awaitable, ec));
  }
}

Task<void> Session::send_parse_error(const beast::error_code& ec, std::string_view target) {
  if (ec == bhttp::error::body_limit) {
    co_await send_error_and_linger(413, "request body is larger than the server's limit", target);
  } else if (ec == bhttp::error::header_limit) {
    co_await send_error_and_linger(
        431, "request header or trailer fields are larger than the server's limit", target);
  } else {
    co_await send_error_and_linger(400, "malformed HTTP request", target);
  }
}

Task<void> Session::read_message(RequestParser& parser, bool header_only, int timeout_ms,
                                 beast::error_code& ec) {
  expire_in(timeout_ms);
  for (;;) {
    // As Beast's reads size them: what the buffer has room for, 8 to 64 KiB.
    const size_t room = buffer_.capacity() - buffer_.size();
    const size_t want = std::min<size_t>(std::max<size_t>(room, 8192), 65536);
    const size_t n = co_await socket_.async_read_some(
        buffer_.prepare(want), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    buffer_.commit(n);
    if (feed(parser, buffer_, ec, header_only) != Feed::kMore) co_return;
  }
}

Task<void> Session::serve(std::shared_ptr<Session> self) {
  const auto& opt = server_.options_;
  beast::error_code ec;
  auto redirect = asio::redirect_error(asio::use_awaitable, ec);
  while (!server_.stopping_) {
    busy_ = false;
    if (buffer_.size() == 0) {
      // Idle keep-alive: wait for the first byte of the next request.
      expire_in(opt.idle_timeout_ms);
      if (handlers_in_progress() > 0) co_await after_queued_work();
      size_t n = co_await socket_.async_read_some(buffer_.prepare(8192), redirect);
      if (ec) break;
      buffer_.commit(n);
    }
    busy_ = true;
    RequestParser parser(kHeaderLimit);
    parser.body_limit(opt.max_body_bytes);
    // Usually the whole request came with the first read: it is parsed from the buffer, and the
    // header timeout is armed only when more bytes are needed.
    if (feed(parser, buffer_, ec, /*header_only=*/true) == Feed::kMore)
      co_await read_message(parser, /*header_only=*/true, opt.header_timeout_ms, ec);
    std::string target(parser.get().target());
    if (timed_out_) break;
    if (ec) {
      KEEL_LOG(kDebug) << "bad request header: " << ec.message();
      if (ec == asio::error::eof || ec == asio::error::operation_aborted) break;
      co_await send_parse_error(ec, target);
      break;
    }
    const auto& header = parser.get();
    if (auto refusal = check_framing(header, parser.chunked())) {
      co_await send_error_and_linger(refusal->status, refusal->message, target);
      break;
    }
    // HTTP/1.0 has no chunked coding: a Transfer-Encoding there may be a smuggling attempt
    // through an HTTP/1.0 proxy, so the connection closes after the answer (RFC 9112 6.1).
    const bool close_after = header.version() < 11 && parser.chunked();
    // The application's look at the header (its key check) comes before the body is read and
    // before a 100 Continue invites it: an unauthenticated client uploads nothing.
    if (opt.header_check) {
      if (auto early = opt.header_check(header)) {
        co_await send_and_linger(*early, header.method() == bhttp::verb::head);
        break;
      }
    }
    if (beast::iequals(header[bhttp::field::expect], "100-continue") && !parser.is_done()) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      co_await write_all(socket_, asio::buffer(kContinue.data(), kContinue.size()), ec);
      if (ec) break;
    }
    if (feed(parser, buffer_, ec, /*header_only=*/false) == Feed::kMore)
      co_await read_message(parser, /*header_only=*/false, opt.body_timeout_ms, ec);
    if (timed_out_) break;
    if (ec) {
      KEEL_LOG(kDebug) << "bad request body: " << ec.message();
      if (ec == asio::error::eof || ec == asio::error::operation_aborted) break;
      co_await send_parse_error(ec, target);
      break;
    }
    timeout_.cancel();

    Request request;
    request.message = parser.release();
    if (!remote_known_) {   // a connection's peer does not change: one getpeername per connection
      beast::error_code addr_ec;
      auto endpoint = socket_.remote_endpoint(addr_ec);
      if (!addr_ec) remote_ = endpoint.address().to_string();
      remote_known_ = !addr_ec;
    }
    request.remote = remote_;
    request.header_checked = static_cast<bool>(opt.header_check);
    keep_alive_ = request.message.keep_alive() && !close_after;
    head_ = request.message.method() == bhttp::verb::head;
    chunked_started_ = false;
    write_failed_ = false;
    client_gone_ = std::make_shared<CancelToken>();
    // The watcher starts only when the handler is still running kWatchDelay from now: most
    // answers are done sooner, and then the readiness wait (an epoll_ctl(2) each) never
    // happens. A client that leaves is noticed that much later at most.
    ++watch_generation_;
    watch_start_.arm(worker_.context, std::chrono::steady_clock::now() + kWatchDelay,
                     [](void* arg) {
                       auto* session = static_cast<Session*>(arg);
                       watch_disconnect(session->shared_from_this(), session->watch_generation_);
                     },
                     this);

    ResponseWriter writer(*this);
    ++server_.in_flight_;
    ++handlers_in_progress();
    bool threw = false;
    try {
      co_await server_.handler_(request, writer);
    } catch (const std::exception& e) {
      KEEL_LOG(kError) << "handler threw: " << e.what();
      threw = true;
    }
    --handlers_in_progress();
    --server_.in_flight_;
    // Whatever a streamed response corked goes out before the next request is read.
    if (flushing_ || !pending_.empty()) co_await flush();
    watch_start_.cancel();
    ++watch_generation_;   // the watcher's pending wait, if any, is stale from here on
    if (threw) keep_alive_ = false;
    if (!writer.started()) {
      co_await writer.send(500, "application/json", error_json("internal error", "api_error"));
    } else if (threw) {
      break;   // a half-written response cannot be finished
    }
    if (writer.closes_after() || !keep_alive_ || client_gone_->cancelled()) break;
  }
  close();
}

const CancelPtr& ResponseWriter::client_gone() const { return session_.client_gone_; }

Task<bool> ResponseWriter::send(int status, std::string_view content_type, std::string body,
                                const std::vector<std::pair<std::string, std::string>>& headers) {
  started_ = true;
  bool keep = session_.keep_alive_ && !close_after_;
  std::string head;
  size_t length = body.size();
  beast::error_code ec = bhttp::error::bad_field;
  if (response_head(head, status, content_type, headers, keep, &length)) {
    // Header and body in one plain write; a HEAD request gets the header only.
    std::array<asio::const_buffer, 2> wire{asio::buffer(head), asio::const_buffer()};
    if (!session_.head_) wire[1] = asio::buffer(body);
    co_await session_.send(wire, ec);
  } else {
    KEEL_LOG(kError) << "response header with a line break not sent";
  }
  if (ec) {
    failed_ = true;
    session_.keep_alive_ = false;
  }
  co_return !ec;
}

Task<bool> ResponseWriter::begin_stream(
    int status, std::string_view content_type,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  started_ = true;
  // The header is corked with the first events: it leaves in the same write as they do.
  std::string head;
  bool ok = response_head(head, status, content_type, headers,
                          session_.keep_alive_ && !close_after_, nullptr);
  if (!ok || session_.client_gone_->cancelled()) {
    failed_ = true;
    session_.keep_alive_ = false;
    co_return false;
  }
  session_.queue(head);
  session_.chunked_started_ = true;
  co_return true;
}

Task<bool> ResponseWriter::write(std::string_view data) {
  if (failed_ || session_.write_failed_ || session_.client_gone_->cancelled()) {
    failed_ = true;
    session_.keep_alive_ = false;
    co_return false;
  }
  if (data.empty()) co_return true;
  // One HTTP/1.1 chunk (RFC 9112 7.1): size in hex, CRLF, data, CRLF.
  char size[24];
  char* size_end = std::to_chars(size, size + 16, data.size(), 16).ptr;
  *size_end++ = '\r';
  *size_end++ = '\n';
  session_.queue(std::string_view(size, static_cast<size_t>(size_end - size)));
  session_.queue(data);
  session_.queue("\r\n");
  // Backpressure: past this much corked, wait for the socket before producing more.
  constexpr size_t kCorkLimit = 64 * 1024;
  if (session_.pending_.size() < kCorkLimit) co_return true;
  // Not inside the condition: g++ 12 mishandles co_await in && / || operands (docs/dev.md).
  bool flushed = co_await session_.flush();
  if (!flushed) failed_ = true;
  co_return flushed;
}

Task<void> ResponseWriter::end() {
  if (failed_ || !session_.chunked_started_) co_return;
  session_.queue("0\r\n\r\n");
  co_await session_.flush();
  session_.chunked_started_ = false;
}

Server::Server(ServerOptions options, Handler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {
  int threads = options_.threads > 0 ? options_.threads
                                     : static_cast<int>(std::thread::hardware_concurrency());
  if (threads < 1) threads = 1;
  for (int i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>());
}

Server::~Server() = default;

asio::io_context& Server::context(size_t index) { return workers_.at(index)->context; }

Result<uint16_t> Server::listen() {
  beast::error_code ec;
  auto address = asio::ip::make_address(
      options_.host == "localhost" ? "127.0.0.1" : options_.host, ec);
  if (ec) return Error(ErrorCode::kInvalidArgument, "bad listen address '" + options_.host + "'");
  tcp::endpoint endpoint(address, options_.port);
  for (auto& worker : workers_) {
    auto acceptor = std::make_unique<tcp::acceptor>(worker->context);
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && workers_.size() > 1) {
      int one = 1;
      ::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    }
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Error(ErrorCode::kUnavailable, "cannot listen on " + options_.host + ":" +
                                                std::to_string(endpoint.port()) + ": " +
                                                ec.message());
    }
    // Port 0: every further worker binds the port the first one got.
    endpoint.port(acceptor->local_endpoint().port());
    worker->acceptor = std::move(acceptor);
  }
  options_.port = endpoint.port();
  return options_.port;
}

Task<void> Server::accept_loop(Worker& worker) {
  while (!stopping_) {
    beast::error_code ec;
    tcp::socket socket = co_await worker.acceptor->async_accept(
        asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) break;
      KEEL_LOG(kWarn) << "accept failed: " << ec.message();
      // Out of file descriptors and the like: back off a little rather than spin.
      asio::steady_timer timer(worker.context, 50ms);
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto session = std::make_shared<Session>(*this, worker, std::move(socket));
    asio::co_spawn(worker.context, Session::run(std::move(session)), asio::detached);
  }
}

void Server::shutdown() {
  if (stopping_.exchange(true)) return;
  asio::co_spawn(workers_[0]->context, drain(), asio::detached);
  for (auto& worker : workers_) {
    asio::post(worker->context, [w = worker.get()] {
      beast::error_code ec;
      if (w->acceptor) w->acceptor->close(ec);
      // Copy: closing a session may destroy it, which erases it from the set.
      std::vector<Session*> sessions(w->sessions.begin(), w->sessions.end());
      for (auto* s : sessions) s->close_if_idle();
    });
  }
}

Task<void> Server::drain() {
  // Stop every context once no request is in flight, or when the grace period is over.
  asio::steady_timer timer(workers_[0]->context);
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.shutdown_grace_ms);
  while (in_flight_ > 0 && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(10ms);
    co_await timer.async_wait(asio::use_awaitable);
  }
  if (in_flight_ > 0) {
    KEEL_LOG(kWarn) << "grace period over with " << in_flight_.load()
                    << " request(s) still in flight";
  }
  for (auto& worker : workers_) worker->context.stop();
}

namespace {

// The one place an io thread's exceptions stop. None is expected (sessions catch their own,
// handlers are wrapped, the parsers keep their limits), but one thrown inside an Asio operation
// (a Beast read in the upstream client) leaves run() rather than a coroutine: it is logged and
// the thread goes on serving. Asio allows run() again without restart().
void run_io(asio::io_context& context) {
  for (;;) {
    try {
      context.run();
      return;
    } catch (const std::exception& e) {
      KEEL_LOG(kError) << "io thread: exception from a handler: " << e.what();
    } catch (...) {
      KEEL_LOG(kError) << "io thread: exception from a handler";
    }
  }
}

}  // namespace

void Server::run() {
  asio::signal_set signals(workers_[0]->context, SIGTERM, SIGINT);
  signals.async_wait([this](const beast::error_code& ec, int sig) {
    if (ec) return;
    KEEL_LOG(kInfo) << "signal " << sig << ": shutting down, waiting for " << in_flight()
                    << " in-flight request(s)";
    shutdown();
  });
  for (auto& worker : workers_) {
    asio::co_spawn(worker->context, accept_loop(*worker), asio::detached);
  }
  std::vector<std::thread> threads;
  for (size_t i = 1; i < workers_.size(); ++i) {
    threads.emplace_back([this, i] {
      run_io(workers_[i]->context);
      http_pool_clear();
    });
  }
  run_io(workers_[0]->context);
  http_pool_clear();
  for (auto& thread : threads) thread.join();
}

}  // namespace keel
