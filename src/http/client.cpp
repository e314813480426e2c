#include "http/client.h"

#include <sys/socket.h>

#include <array>
#include <charconv>
#include <chrono>
#include <limits>
#include <optional>
#include <unordered_map>

#include "core/log.h"
#include "core/text.h"
#include "http/parser.h"

namespace keel {

using namespace std::string_view_literals;

using namespace std::chrono_literals;

namespace {

constexpr auto kPoolIdleLimit = 30s;     // upstreams close idle keep-alive connections too
constexpr size_t kPoolPerHostLimit = 64;
constexpr size_t kReadChunk = 16 * 1024;
// What ClientResponse::finish_in_background reads, at most, to pool a connection.
constexpr size_t kDrainLimit = 64 * 1024;
constexpr auto kDrainTimeout = 1s;
// Bounds the response's header section, and separately its trailer section (http/parser.h).
constexpr std::uint32_t kHeaderLimit = 64 * 1024;

asio::ssl::context& tls_context() {
  static asio::ssl::context* context = [] {
    auto* ctx = new asio::ssl::context(asio::ssl::context::tls_client);
    ctx->set_default_verify_paths();     // the system CA store; honours SSL_CERT_FILE
    ctx->set_verify_mode(asio::ssl::verify_peer);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1);
    return ctx;
  }();
  return *context;
}

}  // namespace

class Connection {
 public:
  std::string key;
  bool reused = false;
  std::chrono::steady_clock::time_point idle_since;
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  std::unique_ptr<tcp::resolver> resolver;
  // At most kHeaderLimit bytes wait unparsed (a header, a chunk-size line, a trailer section):
  // Beast's reads fail with buffer_overflow past that, instead of buffering an upstream's
  // endless trailer. Body bytes never wait there for long: the reader takes them.
  beast::flat_buffer buffer{kHeaderLimit};
  std::optional<ResponseParser> parser;
  std::unique_ptr<char[]> body_scratch;   // ClientResponse::read_some's body buffer
  bool read_timeout = false;   // the current exchange armed the stream's timer (expires_after)

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

  void close() {
    if (resolver) resolver->cancel();
    beast::error_code ec;
    auto& socket = lowest().socket();
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
  }

  // Still usable: open, and the server has not closed it or sent stray bytes.
  bool alive() {
    auto& socket = lowest().socket();
    if (!socket.is_open()) return false;
    char byte;
    ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  // Calls f with what the exchange reads from: the TLS stream, else the tcp_stream when a read
  // timeout is armed on it, else the plain socket itself (the tcp_stream's per-operation layer,
  // its timer checks and shared state, is then pure cost: about 2% of a proxied request's
  // instructions per read).
  template <typename F>
  auto with_stream(F&& f) {
    if (tls) return f(*tls);
    if (read_timeout) return f(*plain);
    return f(plain->socket());
  }
};

namespace {

struct Pool {
  std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle;
};

Pool& pool() {
  thread_local Pool instance;
  return instance;
}

std::unique_ptr<Connection> pool_take(const std::string& key) {
  auto it = pool().idle.find(key);
  if (it == pool().idle.end()) return nullptr;
  auto& list = it->second;
  auto now = std::chrono::steady_clock::now();
  while (!list.empty()) {
    auto conn = std::move(list.back());
    list.pop_back();
    // Checked with a peek (a syscall) every time, however recently it was used: a server may
    // close a connection right after answering without saying so, and a request sent on it
    // then may or may not have been read. Not retrying after sending is only safe when the
    // request never goes out on a closed connection (failover.test.mjs has such a server).
    if (now - conn->idle_since < kPoolIdleLimit && conn->alive()) {
      conn->reused = true;
      return conn;
    }
  }
  return nullptr;
}

void pool_put(std::unique_ptr<Connection> conn) {
  auto& list = pool().idle[conn->key];
  if (list.size() >= kPoolPerHostLimit) return;
  conn->idle_since = std::chrono::steady_clock::now();
  conn->parser.reset();
  list.push_back(std::move(conn));
}

Error io_error(const beast::error_code& ec, const CancelPtr& cancel, const std::string& what) {
  if (cancel && cancel->cancelled()) return cancel->reason();
  if (ec == beast::error::timeout) return Error(ErrorCode::kDeadlineExceeded, what + ": timed out");
  if (ec == bhttp::error::partial_message || ec == asio::error::eof)
    return Error(ErrorCode::kUnavailable, what + ": upstream closed the connection");
  if (ec.category() == beast::error_code(bhttp::error::bad_version).category())
    return Error(ErrorCode::kBadGateway, what + ": malformed HTTP from upstream: " + ec.message());
  return Error(ErrorCode::kUnavailable, what + ": " + ec.message());
}

bool stale_connection_error(const beast::error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == bhttp::error::end_of_stream ||
         ec == bhttp::error::partial_message;
}

std::string pool_key(const Url& url, const void* context, const std::string& address) {
  char number[24];
  std::string key;
  key.reserve(40 + url.host.size());
  auto end = std::to_chars(number, number + sizeof number, reinterpret_cast<uintptr_t>(context),
                           16).ptr;
  key.append(number, end);
  key += url.tls ? "|https|"sv : "|http|"sv;
  key += url.host;
  key += ':';
  append_decimal(key, url.port);
  if (!address.empty()) key += "@" + address;
  return key;
}

Task<Result<std::unique_ptr<Connection>>> connect(const Url& url, const std::string& key,
                                                  int timeout_ms, const std::string& address,
                                                  CancelPtr cancel) {
  auto executor = co_await asio::this_coro::executor;
  auto conn = std::make_unique<Connection>();
  conn->key = key;
  // Beast reads as much as the buffer can take, and an empty flat_buffer grows from 512
  // bytes: without this an upstream answer arrived in 512-byte reads, a syscall each.
  conn->buffer.reserve(kReadChunk);
  conn->resolver = std::make_unique<tcp::resolver>(executor);
  if (url.tls) {
    conn->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(executor, tls_context());
  } else {
    conn->plain = std::make_unique<beast::tcp_stream>(executor);
  }
  Connection* raw = conn.get();
  size_t handle = cancel ? cancel->on_cancel([raw] { raw->close(); }) : static_cast<size_t>(-1);
  struct Unregister {
    CancelPtr cancel;
    size_t handle;
    ~Unregister() {
      if (cancel) cancel->remove(handle);
    }
  } unregister{cancel, handle};
  if (cancel && cancel->cancelled()) co_return cancel->reason();

  std::string where = url.host + ":" + std::to_string(url.port);
  beast::error_code ec;
  auto redirect = asio::redirect_error(asio::use_awaitable, ec);
  auto& stream = conn->lowest();
  stream.expires_after(std::chrono::milliseconds(timeout_ms));
  if (!address.empty()) {
    const auto pinned = asio::ip::make_address(address, ec);
    if (ec) co_return Error(ErrorCode::kInvalidArgument, "not an IP address: " + address);
    co_await stream.async_connect(tcp::endpoint(pinned, url.port), redirect);
  } else {
    auto endpoints = co_await conn->resolver->async_resolve(url.host, std::to_string(url.port),
                                                             redirect);
    if (ec) co_return io_error(ec, cancel, "cannot resolve " + url.host);
    co_await stream.async_connect(endpoints, redirect);
  }
  if (ec) co_return io_error(ec, cancel, "cannot connect to " + where);
  beast::error_code opt_ec;
  stream.socket().set_option(tcp::no_delay(true), opt_ec);
  if (url.tls) {
    // SNI carries host names only, never IP addresses (RFC 6066 section 3).
    beast::error_code ip_ec;
    asio::ip::make_address(url.host, ip_ec);
    if (ip_ec && !SSL_set_tlsext_host_name(conn->tls->native_handle(), url.host.c_str())) {
      co_return Error(ErrorCode::kUnavailable, "TLS: cannot set SNI for " + url.host);
    }
    conn->tls->set_verify_callback(asio::ssl::host_name_verification(url.host));
    co_await conn->tls->async_handshake(asio::ssl::stream_base::client, redirect);
    if (ec) co_return io_error(ec, cancel, "TLS handshake with " + where + " failed");
  }
  stream.expires_never();
  co_return conn;
}

struct ExchangeResult {
  beast::error_code ec;
  bool sent = false;   // the whole request went out
};

// The request's header block, written directly (RFC 9112 sections 3 and 5): request line, Host,
// User-Agent, the request's fields, Content-Length. False when a field (from configuration:
// provider headers) holds a line break, which would end the header early.
bool request_head(const ClientRequest& request, std::string& out) {
  const Url& url = request.url;
  if (has_line_break(request.method) || has_line_break(url.target)) return false;
  const auto& headers = request.headers;
  // A field given twice is sent once, with its last value (as a field set replaces); a Host or
  // User-Agent given replaces keel's; Content-Length is always keel's own.
  auto superseded = [&](size_t i) {
    for (size_t j = i + 1; j < headers.size(); ++j) {
      if (beast::iequals(headers[i].first, headers[j].first)) return true;
    }
    return beast::iequals(headers[i].first, "content-length");
  };
  auto given = [&](std::string_view name) {
    for (const auto& header : headers) {
      if (beast::iequals(header.first, beast::string_view(name.data(), name.size()))) return true;
    }
    return false;
  };
  out.reserve(256 + headers.size() * 48);
  out += request.method;
  out += ' ';
  out += url.target;
  out += " HTTP/1.1\r\n"sv;
  if (!given("host")) {
    // An IPv6 literal goes back in brackets (RFC 3986 3.2.2); the port only when not the default.
    out += "Host: "sv;
    bool ipv6 = url.host.find(':') != std::string::npos;
    if (ipv6) out += '[';
    out += url.host;
    if (ipv6) out += ']';
    if (url.port != (url.tls ? 443 : 80)) {
      out += ':';
      append_decimal(out, url.port);
    }
    out += "\r\n"sv;
  }
  if (!given("user-agent")) out += "User-Agent: keel/0.1\r\n"sv;
  for (size_t i = 0; i < headers.size(); ++i) {
    const auto& [name, value] = headers[i];
    if (has_line_break(name) || has_line_break(value)) return false;
    if (superseded(i)) continue;
    out += name;
    out += ": "sv;
    out += value;
    out += "\r\n"sv;
  }
  out += "Content-Length: "sv;
  append_decimal(out, request.body.size());
  out += "\r\n\r\n"sv;
  return true;
}

// Writes the request and reads the response header on `conn`.
Task<ExchangeResult> exchange(Connection& conn, const ClientRequest& request) {
  beast::error_code ec;
  auto redirect = asio::redirect_error(asio::use_awaitable, ec);
  std::string head;
  if (!request_head(request, head)) co_return ExchangeResult{bhttp::error::bad_field, false};
  // The stream's timer runs only while an exchange asks for a read timeout (connect() disarms
  // its own): a pooled connection's earlier deadline is disarmed here, not after every exchange.
  const bool timed_before = conn.read_timeout;
  conn.read_timeout = request.read_timeout_ms > 0;
  if (conn.read_timeout) {
    conn.lowest().expires_after(std::chrono::milliseconds(request.read_timeout_ms));
  } else if (timed_before) {
    conn.lowest().expires_never();
  }
  // Header and body in one plain write.
  std::array<asio::const_buffer, 2> wire{asio::buffer(head), asio::buffer(request.body)};
  if (conn.tls) {
    co_await asio::async_write(*conn.tls, wire, redirect);
  } else {
    co_await write_all(conn.plain->socket(), wire, ec);
  }
  if (ec) co_return ExchangeResult{ec, false};
  conn.parser.emplace(kHeaderLimit);
  // More than this request's own handler in progress: yield first (see after_queued_work).
  if (handlers_in_progress() > 1) co_await after_queued_work();
  // Streamed: the reader applies its own limit (read_all). boost::none does not lift the
  // default 8 MB limit on every Beast version, so give the largest value explicitly.
  conn.parser->body_limit(std::numeric_limits<std::uint64_t>::max());
  co_await conn.with_stream([&](auto& stream) -> Task<void> {
    co_await bhttp::async_read_header(stream, conn.buffer, *conn.parser, redirect);
  });
  co_return ExchangeResult{ec, true};
}

}  // namespace

Task<Result<std::unique_ptr<ClientResponse>>> http_send(ClientRequest request, CancelPtr cancel) {
  auto executor = co_await asio::this_coro::executor;
  std::string key = pool_key(request.url, &asio::query(executor, asio::execution::context),
                             request.connect_address);
  auto where = [&] { return request.url.host + ":" + std::to_string(request.url.port); };
  // A pooled connection may have been closed by the server in the meantime: one retry on a
  // fresh connection when writing the request failed that way. Once the request went out the
  // upstream may have acted on it, so a later failure is the router's to retry or not.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<Connection> conn = attempt == 0 ? pool_take(key) : nullptr;
    if (!conn) {
      auto fresh = co_await connect(request.url, key, request.connect_timeout_ms,
                                    request.connect_address, cancel);
      if (!fresh) co_return fresh.error();
      conn = std::move(fresh.value());
    }
    Connection* raw = conn.get();
    size_t handle = cancel ? cancel->on_cancel([raw] { raw->close(); }) : static_cast<size_t>(-1);
    auto [ec, sent] = co_await exchange(*conn, request);
    if (!ec) {
      auto response = std::make_unique<ClientResponse>(std::move(conn), cancel);
      if (cancel) cancel->remove(handle);
      co_return response;
    }
    if (cancel) cancel->remove(handle);
    bool retry = conn->reused && !sent && stale_connection_error(ec) &&
                 !(cancel && cancel->cancelled());
    if (!retry) co_return io_error(ec, cancel, "request to " + where() + " failed");
  }
  co_return Error(ErrorCode::kUnavailable, "request to " + where() + " failed");
}

ClientResponse::ClientResponse(std::unique_ptr<Connection> conn, CancelPtr cancel)
    : conn_(std::move(conn)), cancel_(std::move(cancel)) {
  Connection* raw = conn_.get();
  if (cancel_) cancel_handle_ = cancel_->on_cancel([raw] { raw->close(); });
}

ClientResponse::~ClientResponse() {
  if (cancel_) cancel_->remove(cancel_handle_);
  if (conn_ && conn_->parser && conn_->parser->is_done() && conn_->parser->keep_alive() &&
      !(cancel_ && cancel_->cancelled())) {
    pool_put(std::move(conn_));
  }
}

int ClientResponse::status() const { return conn_->parser->get().result_int(); }

std::string ClientResponse::header(std::string_view name) const {
  const auto& msg = conn_->parser->get();
  auto it = msg.find(beast::string_view(name.data(), name.size()));
  return it == msg.end() ? std::string() : std::string(it->value());
}

std::vector<std::string> ClientResponse::header_values(std::string_view name) const {
  const auto& msg = conn_->parser->get();
  std::vector<std::string> values;
  auto [first, last] = msg.equal_range(beast::string_view(name.data(), name.size()));
  for (auto it = first; it != last; ++it) values.emplace_back(it->value());
  return values;
}

bool ClientResponse::done() const { return conn_->parser->is_done(); }

Task<Result<std::string>> ClientResponse::read_some() {
  auto& parser = *conn_->parser;
  // The body lands in the connection's own scratch buffer and only the bytes that came are
  // copied out: a fresh 16 KiB string per read was allocated and zero-filled for a few hundred
  // bytes. Per connection, not per thread: several reads may be pending on one io thread.
  if (!conn_->body_scratch) conn_->body_scratch.reset(new char[kReadChunk]);
  char* scratch = conn_->body_scratch.get();
  std::string out;
  while (out.empty() && !parser.is_done()) {
    if (cancel_ && cancel_->cancelled()) co_return cancel_->reason();
    parser.get().body().data = scratch;
    parser.get().body().size = kReadChunk;
    beast::error_code ec;
    // Bytes already buffered (usually the whole body came with the header): parse them as
    // async_read_some would first, without its posted completion; read only when they are not
    // enough.
    bool parsed = false;
    if (conn_->buffer.size() > 0) {
      conn_->buffer.consume(parser.put(conn_->buffer.data(), ec));
      parsed = ec != bhttp::error::need_more;
      if (!parsed) ec = {};
    }
    if (!parsed) {
      co_await conn_->with_stream([&](auto& stream) -> Task<void> {
        co_await bhttp::async_read_some(stream, conn_->buffer, parser,
                                        asio::redirect_error(asio::use_awaitable, ec));
      });
    }
    out.assign(scratch, kReadChunk - parser.get().body().size);
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) co_return io_error(ec, cancel_, "reading the upstream response");
  }
  co_return out;
}

Task<Result<std::string>> ClientResponse::read_all(size_t limit) {
  std::string body;
  while (true) {
    auto chunk = co_await read_some();
    if (!chunk) co_return chunk.error();
    if (chunk->empty()) break;
    body += *chunk;
    if (body.size() > limit)
      co_return Error(ErrorCode::kBadGateway, "upstream response larger than " +
                                                  std::to_string(limit) + " bytes");
  }
  co_return body;
}

void ClientResponse::finish_in_background(std::unique_ptr<ClientResponse> response) {
  if (!response || !response->conn_ || !response->conn_->parser) return;
  if (response->done() || !response->conn_->parser->keep_alive()) return;  // the destructor decides
  if (response->cancel_) {
    if (response->cancel_->cancelled()) return;
    response->cancel_->remove(response->cancel_handle_);
    response->cancel_.reset();
  }
  Connection& conn = *response->conn_;
  conn.read_timeout = true;
  conn.lowest().expires_after(kDrainTimeout);
  auto executor = conn.lowest().get_executor();
  asio::co_spawn(
      executor,
      [](std::unique_ptr<ClientResponse> rest) -> Task<void> {
        size_t read = 0;
        while (!rest->done()) {
          auto chunk = co_await rest->read_some();  // empty at the body's end
          read += chunk ? chunk->size() : 0;
          if (!chunk || read > kDrainLimit) {
            rest->conn_.reset();  // not pooled
            co_return;
          }
        }
        // The body ended: ~ClientResponse pools the connection.
      }(std::move(response)),
      asio::detached);
}

size_t http_pool_idle_count() {
  size_t n = 0;
  for (const auto& [key, list] : pool().idle) n += list.size();
  return n;
}

void http_pool_clear() { pool().idle.clear(); }

}  // namespace keel
