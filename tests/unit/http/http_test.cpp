// Url parsing, and the HTTP client against a real keel::Server on a loopback ephemeral port.
// The server runs its io thread (Server::run) on a std::thread; the client runs on the test
// thread's own io_context.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "http/client.h"
#include "http/server.h"
#include "test_server.h"

namespace keel {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

long elapsed_ms(steady_clock::time_point since) {
  return static_cast<long>(
      std::chrono::duration_cast<milliseconds>(steady_clock::now() - since).count());
}

// --- Url ---------------------------------------------------------------------------------------

TEST(UrlTest, HttpDefaults) {
  auto url = Url::parse("http://example.com");
  ASSERT_TRUE(url.ok()) << url.error().message;
  EXPECT_FALSE(url->tls);
  EXPECT_EQ(url->host, "example.com");
  EXPECT_EQ(url->port, 80);
  EXPECT_EQ(url->target, "/");
}

TEST(UrlTest, HttpsDefaultsAndPath) {
  auto url = Url::parse("https://api.openai.com/v1");
  ASSERT_TRUE(url.ok());
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->host, "api.openai.com");
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(url->target, "/v1");
}

TEST(UrlTest, ExplicitPortAndQuery) {
  auto url = Url::parse("http://127.0.0.1:8080/v1/models?limit=2");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 8080);
  EXPECT_EQ(url->target, "/v1/models?limit=2");
  auto tls = Url::parse("https://h:8443");
  ASSERT_TRUE(tls.ok());
  EXPECT_EQ(tls->port, 8443);
  EXPECT_EQ(tls->target, "/");
}

TEST(UrlTest, Ipv6Hosts) {
  auto url = Url::parse("http://[::1]:8080/v1");
  ASSERT_TRUE(url.ok()) << url.error().message;
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 8080);
  EXPECT_EQ(url->target, "/v1");
  auto no_port = Url::parse("https://[2001:db8::1]/x");
  ASSERT_TRUE(no_port.ok());
  EXPECT_EQ(no_port->host, "2001:db8::1");
  EXPECT_EQ(no_port->port, 443);
  EXPECT_FALSE(Url::parse("http://[::1/v1").ok());   // unclosed bracket
}

TEST(UrlTest, BadPortsAreRefused) {
  for (const char* text : {"http://h:0", "http://h:65536", "http://h:99999999999", "http://h:8o",
                           "http://h:-1", "http://[::1]:x"}) {
    auto url = Url::parse(text);
    EXPECT_FALSE(url.ok()) << text;
    if (!url.ok()) {
      EXPECT_EQ(url.error().code, ErrorCode::kInvalidArgument) << text;
    }
  }
  auto max = Url::parse("http://h:65535");
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(max->port, 65535);
}

TEST(UrlTest, SchemeIsRequired) {
  for (const char* text : {"example.com", "example.com:80/v1", "ftp://example.com", "//h/x",
                           "HTTPX://h", ""}) {
    auto url = Url::parse(text);
    EXPECT_FALSE(url.ok()) << text;
  }
}

TEST(UrlTest, NoHostIsRefused) {
  EXPECT_FALSE(Url::parse("http://").ok());
  EXPECT_FALSE(Url::parse("http:///v1").ok());
  EXPECT_FALSE(Url::parse("http://:8080/v1").ok());
}

TEST(UrlTest, CredentialsAreRefused) {
  auto url = Url::parse("https://user:secret@api.example.com/v1");
  ASSERT_FALSE(url.ok());
  EXPECT_EQ(url.error().code, ErrorCode::kInvalidArgument);
  // The message must not echo the secret back.
  EXPECT_EQ(url.error().message.find("secret"), std::string::npos);
  EXPECT_FALSE(Url::parse("http://user@h").ok());
}

TEST(UrlTest, WithPathJoinsOneSlash) {
  auto base = *Url::parse("http://h:1234/v1");
  EXPECT_EQ(base.with_path("/chat/completions").target, "/v1/chat/completions");
  EXPECT_EQ(base.with_path("models").target, "/v1/models");
  auto trailing = *Url::parse("http://h/v1/");
  EXPECT_EQ(trailing.with_path("/embeddings").target, "/v1/embeddings");
  auto root = *Url::parse("http://h");
  EXPECT_EQ(root.with_path("/chat/completions").target, "/chat/completions");
  // The base's query stays at the end (Azure's ?api-version=...).
  auto query = *Url::parse("https://x.openai.azure.com/openai/deployments/d?api-version=2024");
  auto joined = query.with_path("/chat/completions");
  EXPECT_EQ(joined.target, "/openai/deployments/d/chat/completions?api-version=2024");
  // Everything else is kept.
  EXPECT_EQ(joined.host, "x.openai.azure.com");
  EXPECT_TRUE(joined.tls);
  EXPECT_EQ(joined.port, 443);
  EXPECT_EQ(base.target, "/v1");   // with_path does not modify the original
}

// --- a loopback server and the client ----------------------------------------------------------

using testkit::run_until_done;
using testkit::TestServer;
using testkit::wait_for;
using testkit::wait_for_client_gone;
using testkit::eventually;

struct Reply {
  int status = 0;
  std::string body;
  std::string header;
  Error error;
  bool ok = false;
};

class HttpTest : public ::testing::Test {
 protected:
  void TearDown() override {
    // Pooled connections belong to io_; drop them before it goes.
    http_pool_clear();
  }

  // Sends `request` and reads the whole body; `header` names a response header to keep.
  Reply send(ClientRequest request, CancelPtr cancel = std::make_shared<CancelToken>(),
             std::string header = "", size_t limit = 64 << 20) {
    return run_until_done(io_, send_task(std::move(request), std::move(cancel), header, limit));
  }

  static Task<Reply> send_task(ClientRequest request, CancelPtr cancel, std::string header,
                               size_t limit) {
    Reply reply;
    auto response = co_await http_send(std::move(request), cancel);
    if (!response) {
      reply.error = response.error();
      co_return reply;
    }
    reply.status = response.value()->status();
    if (!header.empty()) reply.header = response.value()->header(header);
    auto body = co_await response.value()->read_all(limit);
    if (!body) {
      reply.error = body.error();
      co_return reply;
    }
    reply.body = *body;
    reply.ok = true;
    co_return reply;
  }

  ClientRequest get(const TestServer& server, const std::string& path = "/") {
    ClientRequest request;
    request.method = "GET";
    request.url = server.url(path);
    return request;
  }

  asio::io_context io_;
};

// A handler that echoes what it got: "<method> <target> <x-test header> <body>".
Handler echo_handler() {
  return [](Request& req, ResponseWriter& res) -> Task<void> {
    std::string out = std::string(req.message.method_string()) + " " +
                      std::string(req.message.target()) + " " +
                      std::string(req.header("x-test")) + " " + req.message.body();
    // A named vector: g++ 12 rejects a braced list as a coroutine call's argument.
    std::vector<std::pair<std::string, std::string>> headers{{"x-reply", "yes"}};
    co_await res.send(200, "text/plain", out, headers);
  };
}

TEST_F(HttpTest, GetRoundTrip) {
  TestServer server(echo_handler());
  auto request = get(server, "/hello?x=1");
  request.headers.emplace_back("x-test", "42");
  auto reply = send(request, std::make_shared<CancelToken>(), "x-reply");
  ASSERT_TRUE(reply.ok) << reply.error.message;
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.header, "yes");
  EXPECT_EQ(reply.body, "GET /hello?x=1 42 ");
}

TEST_F(HttpTest, PostRoundTrip) {
  TestServer server(echo_handler());
  ClientRequest request;
  request.method = "POST";
  request.url = server.url("/v1/chat/completions");
  request.headers.emplace_back("content-type", "application/json");
  request.body = R"({"model":"m"})";
  auto reply = send(request);
  ASSERT_TRUE(reply.ok) << reply.error.message;
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, R"(POST /v1/chat/completions  {"model":"m"})");
}

TEST_F(HttpTest, ServerSeesRequestHeadersAndHost) {
  std::mutex mutex;
  std::string host;
  std::string user_agent;
  TestServer server([&](Request& req, ResponseWriter& res) -> Task<void> {
    {
      std::lock_guard lock(mutex);
      host = req.header("host");
      user_agent = req.header("user-agent");
    }
    co_await res.send(204, "text/plain", "");
  });
  auto reply = send(get(server));
  ASSERT_TRUE(reply.ok) << reply.error.message;
  EXPECT_EQ(reply.status, 204);
  std::lock_guard lock(mutex);
  EXPECT_EQ(host, "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(user_agent.rfind("keel/", 0), 0u) << user_agent;
}

TEST_F(HttpTest, KeepAliveConnectionIsPooledAndReused) {
  TestServer server(echo_handler());
  EXPECT_EQ(http_pool_idle_count(), 0u);
  ASSERT_TRUE(send(get(server, "/one")).ok);
  // Fully read and released: the connection waits in the pool.
  EXPECT_EQ(http_pool_idle_count(), 1u);

  size_t idle_during = 99;
  auto second = [&]() -> Task<bool> {
    auto response = co_await http_send(get(server, "/two"), std::make_shared<CancelToken>());
    if (!response) co_return false;
    idle_during = http_pool_idle_count();   // taken out of the pool, not a new one
    auto body = co_await response.value()->read_all();
    co_return body.ok() && *body == "GET /two  ";
  };
  EXPECT_TRUE(run_until_done(io_, second()));
  EXPECT_EQ(idle_during, 0u);
  EXPECT_EQ(http_pool_idle_count(), 1u);

  http_pool_clear();
  EXPECT_EQ(http_pool_idle_count(), 0u);
}

// A server that answers one request per connection and then closes it without saying so (no
// "Connection: close"), as one whose keep-alive timeout just ran out would: the pooled
// connection's peek sees the close, and the next request goes out on a fresh connection (it
// must not be sent on the closed one: whether a request sent there was read is unknowable).
TEST_F(HttpTest, PooledConnectionClosedByTheServerIsNotReused) {
  asio::io_context server_io;
  tcp::acceptor acceptor(server_io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const uint16_t port = acceptor.local_endpoint().port();
  std::atomic<int> accepted{0};
  std::thread server([&] {
    for (int i = 0; i < 3; ++i) {
      beast::error_code ec;
      tcp::socket socket(server_io);
      acceptor.accept(socket, ec);
      if (ec) return;
      ++accepted;
      beast::flat_buffer buffer;
      bhttp::request<bhttp::string_body> request;
      bhttp::read(socket, buffer, request, ec);
      if (ec) continue;
      std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
      asio::write(socket, asio::buffer(answer), ec);
      socket.shutdown(tcp::socket::shutdown_both, ec);
      socket.close(ec);
    }
  });
  auto request = [&] {
    ClientRequest r;
    r.url = *Url::parse("http://127.0.0.1:" + std::to_string(port) + "/x");
    return r;
  };
  auto first = send(request());
  ASSERT_TRUE(first.ok) << first.error.message;
  EXPECT_EQ(first.body, "ok");
  EXPECT_EQ(http_pool_idle_count(), 1u);   // pooled: the server did not say it would close
  std::this_thread::sleep_for(std::chrono::milliseconds(50));   // its FIN has arrived
  auto second = send(request());
  ASSERT_TRUE(second.ok) << second.error.message;
  EXPECT_EQ(second.body, "ok");
  EXPECT_EQ(accepted.load(), 2);
  http_pool_clear();
  // The server thread waits for a third connection: give it one, empty, and it ends.
  beast::error_code ec;
  {
    tcp::socket poke(io_);
    poke.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  }
  server.join();
}

TEST_F(HttpTest, UnreadResponseIsNotPooled) {
  TestServer server([](Request&, ResponseWriter& res) -> Task<void> {
    co_await res.send(200, "text/plain", std::string(100000, 'x'));
  });
  auto headers_only = [&]() -> Task<int> {
    auto response = co_await http_send(get(server), std::make_shared<CancelToken>());
    co_return response ? response.value()->status() : 0;
  };
  EXPECT_EQ(run_until_done(io_, headers_only()), 200);
  // The body was left unread: the connection cannot carry another request.
  EXPECT_EQ(http_pool_idle_count(), 0u);
}

// An event stream's end marker comes before its body's end (a chunked body's last chunk often
// comes in a later packet): finish_in_background reads the rest off the caller's path, and the
// connection is pooled; before it, every streamed request through keel opened a new upstream
// connection (a TLS handshake each, against a real vendor).
TEST_F(HttpTest, FinishInBackgroundPoolsAStreamWhoseEndCameLater) {
  std::atomic<bool> marker_read{false};
  TestServer server([&](Request&, ResponseWriter& res) -> Task<void> {
    if (!co_await res.begin_stream(200, "text/event-stream")) co_return;
    co_await res.write("data: [DONE]\n\n");
    co_await wait_for(marker_read);
    co_await res.end();
  });
  auto stream = [&]() -> Task<bool> {
    auto response = co_await http_send(get(server), std::make_shared<CancelToken>());
    if (!response) co_return false;
    auto chunk = co_await response.value()->read_some();
    if (!chunk || chunk->find("[DONE]") == std::string::npos || response.value()->done()) {
      co_return false;
    }
    ClientResponse::finish_in_background(std::move(response.value()));
    marker_read = true;
    // The background read ends the body on this thread and pools the connection.
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor);
    for (int i = 0; i < 2000 && http_pool_idle_count() == 0; ++i) {
      timer.expires_after(std::chrono::milliseconds(1));
      co_await timer.async_wait(asio::use_awaitable);
    }
    co_return http_pool_idle_count() == 1;
  };
  EXPECT_TRUE(run_until_done(io_, stream()));
}

// A body that does not end within the background read's second is dropped with its connection.
TEST_F(HttpTest, FinishInBackgroundDropsABodyThatDoesNotEnd) {
  TestServer server([&](Request&, ResponseWriter& res) -> Task<void> {
    if (!co_await res.begin_stream(200, "text/event-stream")) co_return;
    co_await res.write("data: [DONE]\n\n");
    co_await wait_for_client_gone(res, 5000);
  });
  auto stream = [&]() -> Task<bool> {
    auto response = co_await http_send(get(server), std::make_shared<CancelToken>());
    if (!response) co_return false;
    auto chunk = co_await response.value()->read_some();
    if (!chunk) co_return false;
    ClientResponse::finish_in_background(std::move(response.value()));
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor, std::chrono::milliseconds(1500));
    co_await timer.async_wait(asio::use_awaitable);
    co_return http_pool_idle_count() == 0;
  };
  EXPECT_TRUE(run_until_done(io_, stream()));
}

TEST_F(HttpTest, ChunkedResponseArrivesInPieces) {
  std::atomic<bool> first_seen{false};
  TestServer server([&](Request&, ResponseWriter& res) -> Task<void> {
    if (!co_await res.begin_stream(200, "text/event-stream")) co_return;
    co_await res.write("data: first\n\n");
    // The second piece goes out only once the client has read the first.
    co_await wait_for(first_seen);
    co_await res.write("data: second\n\n");
    co_await res.end();
  });
  auto stream = [&]() -> Task<std::vector<std::string>> {
    std::vector<std::string> pieces;
    auto response = co_await http_send(get(server), std::make_shared<CancelToken>());
    if (!response) co_return pieces;
    auto& res = *response.value();
    EXPECT_EQ(res.header("content-type"), "text/event-stream");
    EXPECT_EQ(res.header("transfer-encoding"), "chunked");
    std::string before;
    while (before.size() < std::string("data: first\n\n").size()) {
      auto chunk = co_await res.read_some();
      if (!chunk || chunk->empty()) co_return pieces;
      before += *chunk;
    }
    pieces.push_back(before);
    EXPECT_FALSE(res.done());
    first_seen = true;
    std::string after;
    while (true) {
      auto chunk = co_await res.read_some();
      if (!chunk) {
        ADD_FAILURE() << chunk.error().message;
        break;
      }
      if (chunk->empty()) break;
      after += *chunk;
    }
    pieces.push_back(after);
    EXPECT_TRUE(res.done());
    co_return pieces;
  };
  auto pieces = run_until_done(io_, stream());
  EXPECT_EQ(pieces, (std::vector<std::string>{"data: first\n\n", "data: second\n\n"}));
  // A complete chunked response leaves a reusable connection.
  EXPECT_EQ(http_pool_idle_count(), 1u);
}

// A stream larger than the socket takes, to a client that starts reading late: the posted
// flush sends what the socket takes, a flusher coroutine the rest, and pieces appended
// meanwhile follow in order.
TEST_F(HttpTest, CorkedStreamLargerThanTheSocketArrivesWholeInOrder) {
  constexpr int kPieces = 400;
  constexpr size_t kPieceBytes = 20 * 1024;   // under the cork limit: each yield posts a flush
  TestServer server([&](Request&, ResponseWriter& res) -> Task<void> {
    if (!co_await res.begin_stream(200, "text/plain")) co_return;
    for (int i = 0; i < kPieces; ++i) {
      if (!co_await res.write(std::string(kPieceBytes, static_cast<char>('a' + i % 26)))) co_return;
      co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    }
    co_await res.end();
  });
  auto cancel = std::make_shared<CancelToken>();
  asio::steady_timer deadline(io_, std::chrono::seconds(20));   // a server that loses bytes
  deadline.async_wait([cancel](const beast::error_code& ec) {    // fails, not hangs
    if (!ec) cancel->cancel(ErrorCode::kDeadlineExceeded, "stream incomplete after 20 s");
  });
  auto read_late = [&]() -> Task<std::string> {
    auto response = co_await http_send(get(server), cancel);
    if (!response) co_return std::string("send failed: " + response.error().message);
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(200));
    co_await timer.async_wait(asio::use_awaitable);   // the server's socket fills meanwhile
    auto body = co_await response.value()->read_all(64 << 20);
    co_return body ? *body : "read failed: " + body.error().message;
  };
  std::string body = run_until_done(io_, read_late());
  deadline.cancel();
  ASSERT_EQ(body.size(), kPieces * kPieceBytes) << body.substr(0, 200);
  for (int i = 0; i < kPieces; ++i) {
    const char want = static_cast<char>('a' + i % 26);
    const std::string_view piece(body.data() + i * kPieceBytes, kPieceBytes);
    ASSERT_EQ(piece.find_first_not_of(want), std::string_view::npos) << "piece " << i;
  }
}

TEST_F(HttpTest, BodyOverLimitGets413) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  std::atomic<int> handled{0};
  TestServer server(
      [&](Request& req, ResponseWriter& res) -> Task<void> {
        ++handled;
        co_await res.send(200, "text/plain", std::to_string(req.message.body().size()));
      },
      options);
  ClientRequest request;
  request.method = "POST";
  request.url = server.url("/upload");
  request.body = std::string(1024, 'a');   // exactly the limit: fine
  auto reply = send(request);
  ASSERT_TRUE(reply.ok) << reply.error.message;
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "1024");

  request.body = std::string(4096, 'a');
  reply = send(request);
  ASSERT_TRUE(reply.ok) << reply.error.message;
  EXPECT_EQ(reply.status, 413);
  EXPECT_NE(reply.body.find("\"error\""), std::string::npos) << reply.body;
  EXPECT_EQ(handled.load(), 1);
}

TEST_F(HttpTest, HandlerThatThrowsGives500) {
  TestServer server([](Request&, ResponseWriter&) -> Task<void> {
    throw std::runtime_error("handler bug");
    co_return;
  });
  auto reply = send(get(server));
  ASSERT_TRUE(reply.ok) << reply.error.message;
  EXPECT_EQ(reply.status, 500);
}

TEST_F(HttpTest, HandlerThatSendsNothingGives500) {
  TestServer server([](Request&, ResponseWriter&) -> Task<void> { co_return; });
  auto reply = send(get(server));
  ASSERT_TRUE(reply.ok) << reply.error.message;
  EXPECT_EQ(reply.status, 500);
}

// The server counts the handlers running on its io thread (after_queued_work yields before a
// read only when others are in progress): one while a handler runs alone, two while a second
// overlaps it, and back to none after each, a handler that throws included.
TEST_F(HttpTest, HandlersInProgressCountsRunningHandlers) {
  std::mutex mutex;
  std::vector<std::pair<std::string, int>> seen;   // path, count inside its handler
  std::atomic<bool> slow_entered{false}, fast_done{false};
  auto note = [&](std::string_view path) {
    std::lock_guard lock(mutex);
    seen.emplace_back(std::string(path), handlers_in_progress());
  };
  TestServer server([&](Request& req, ResponseWriter& res) -> Task<void> {
    std::string path(req.message.target());
    note(path);
    if (path == "/slow") {
      slow_entered = true;
      co_await wait_for(fast_done);   // the second request runs its handler meanwhile
    } else if (path == "/throw") {
      throw std::runtime_error("handler bug");
    }
    if (path == "/fast") fast_done = true;
    co_await res.send(200, "text/plain", "ok");
  });
  ASSERT_TRUE(send(get(server, "/alone")).ok);
  EXPECT_EQ(send(get(server, "/throw")).status, 500);
  int slow_status = 0;
  asio::co_spawn(
      io_,
      [&]() -> Task<void> {
        auto reply = co_await send_task(get(server, "/slow"), std::make_shared<CancelToken>(), "",
                                        1 << 20);
        slow_status = reply.status;
      },
      asio::detached);
  auto fast = run_until_done(io_, [&]() -> Task<Reply> {
    co_await wait_for(slow_entered);
    co_return co_await send_task(get(server, "/fast"), std::make_shared<CancelToken>(), "",
                                 1 << 20);
  }());
  EXPECT_EQ(fast.status, 200);
  io_.restart();
  io_.run_for(std::chrono::seconds(5));
  EXPECT_EQ(slow_status, 200);
  ASSERT_TRUE(send(get(server, "/after")).ok);
  std::lock_guard lock(mutex);
  std::vector<std::pair<std::string, int>> expected{
      {"/alone", 1}, {"/throw", 1}, {"/slow", 1}, {"/fast", 2}, {"/after", 1}};
  EXPECT_EQ(seen, expected);
}

TEST_F(HttpTest, MalformedRequestGets400) {
  TestServer server(echo_handler());
  tcp::socket socket(io_);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  asio::write(socket, asio::buffer(std::string("THIS IS NOT HTTP\r\n\r\n")));
  std::string received;
  beast::error_code ec;
  char buffer[4096];
  while (!ec) {
    size_t n = socket.read_some(asio::buffer(buffer), ec);
    received.append(buffer, n);
  }
  EXPECT_EQ(received.rfind("HTTP/1.1 400", 0), 0u) << received;
}

TEST_F(HttpTest, CancelClosesPendingRequestPromptly) {
  std::atomic<bool> entered{false};
  std::atomic<bool> saw_gone{false};
  TestServer server([&](Request&, ResponseWriter& res) -> Task<void> {
    entered = true;
    // Never answers; leaves when the client does.
    saw_gone = co_await wait_for_client_gone(res, 5000);
  });
  auto cancel = std::make_shared<CancelToken>();
  steady_clock::time_point cancelled_at;
  asio::co_spawn(
      io_,
      [&]() -> Task<void> {
        co_await wait_for(entered);
        cancelled_at = steady_clock::now();
        cancel->cancel(ErrorCode::kCancelled, "client disconnected");
      },
      asio::detached);
  auto reply = send(get(server), cancel);
  long took = elapsed_ms(cancelled_at);
  ASSERT_FALSE(reply.ok);
  EXPECT_EQ(reply.error.code, ErrorCode::kCancelled);
  EXPECT_EQ(reply.error.message, "client disconnected");
  EXPECT_LT(took, 500);
  // The server notices the disconnect and tells the handler.
  EXPECT_TRUE(eventually(saw_gone));
  EXPECT_EQ(http_pool_idle_count(), 0u);
}

TEST_F(HttpTest, CancelDuringBodyReadFailsTheRead) {
  std::atomic<bool> saw_gone{false};
  TestServer server([&](Request&, ResponseWriter& res) -> Task<void> {
    if (!co_await res.begin_stream(200, "text/plain")) co_return;
    co_await res.write("x");
    saw_gone = co_await wait_for_client_gone(res, 5000);
  });
  auto cancel = std::make_shared<CancelToken>();
  auto task = [&]() -> Task<Error> {
    auto response = co_await http_send(get(server), cancel);
    if (!response) co_return response.error();
    auto first = co_await response.value()->read_some();
    EXPECT_TRUE(first.ok() && *first == "x");
    // Cancel while the next read is pending.
    auto executor = co_await asio::this_coro::executor;
    asio::post(executor, [cancel] { cancel->cancel(ErrorCode::kDeadlineExceeded, "too slow"); });
    auto next = co_await response.value()->read_some();
    co_return next ? Error(ErrorCode::kInternal, "read succeeded") : next.error();
  };
  auto start = steady_clock::now();
  Error error = run_until_done(io_, task());
  EXPECT_LT(elapsed_ms(start), 1000);
  // The token's reason, not a generic I/O error.
  EXPECT_EQ(error.code, ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(error.message, "too slow");
  EXPECT_TRUE(eventually(saw_gone));
}

TEST_F(HttpTest, AlreadyCancelledTokenSendsNothing) {
  std::atomic<int> handled{0};
  TestServer server([&](Request&, ResponseWriter& res) -> Task<void> {
    ++handled;
    co_await res.send(200, "text/plain", "");
  });
  auto cancel = std::make_shared<CancelToken>();
  cancel->cancel(ErrorCode::kCancelled, "gone");
  auto reply = send(get(server), cancel);
  ASSERT_FALSE(reply.ok);
  EXPECT_EQ(reply.error.code, ErrorCode::kCancelled);
  EXPECT_EQ(handled.load(), 0);
}

TEST_F(HttpTest, ConnectRefusedIsUnavailable) {
  // A port that was free a moment ago and has nothing listening.
  uint16_t port = 0;
  {
    tcp::acceptor acceptor(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = acceptor.local_endpoint().port();
  }
  ClientRequest request;
  request.url = *Url::parse("http://127.0.0.1:" + std::to_string(port) + "/");
  auto start = steady_clock::now();
  auto reply = send(request);
  EXPECT_LT(elapsed_ms(start), 2000);
  ASSERT_FALSE(reply.ok);
  EXPECT_EQ(reply.error.code, ErrorCode::kUnavailable);
  EXPECT_NE(reply.error.message.find(std::to_string(port)), std::string::npos)
      << reply.error.message;
}

TEST_F(HttpTest, ReadAllOverLimitIsBadGateway) {
  TestServer server([](Request&, ResponseWriter& res) -> Task<void> {
    co_await res.send(200, "text/plain", std::string(10000, 'x'));
  });
  auto reply = send(get(server), std::make_shared<CancelToken>(), "", 1000);
  ASSERT_FALSE(reply.ok);
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.error.code, ErrorCode::kBadGateway);
  // Exactly at the limit is fine.
  reply = send(get(server), std::make_shared<CancelToken>(), "", 10000);
  ASSERT_TRUE(reply.ok) << reply.error.message;
  EXPECT_EQ(reply.body.size(), 10000u);
}

TEST_F(HttpTest, GracefulShutdownLetsInFlightRequestFinish) {
  std::atomic<bool> entered{false};
  std::atomic<bool> release{false};
  auto server = std::make_unique<TestServer>([&](Request&, ResponseWriter& res) -> Task<void> {
    entered = true;
    co_await wait_for(release);
    co_await res.send(200, "text/plain", "finished");
  });
  asio::co_spawn(
      io_,
      [&]() -> Task<void> {
        co_await wait_for(entered);
        server->server().shutdown();
        EXPECT_TRUE(server->server().stopping());
        EXPECT_EQ(server->server().in_flight(), 1u);
        release = true;
      },
      asio::detached);
  auto reply = send(get(*server));
  ASSERT_TRUE(reply.ok) << reply.error.message;
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "finished");
  // run() returns as soon as nothing is in flight, well before the grace period ends.
  auto start = steady_clock::now();
  server->stop();
  EXPECT_LT(elapsed_ms(start), 1500);
  EXPECT_EQ(server->server().in_flight(), 0u);
  // No longer listening.
  http_pool_clear();
  auto after = send(get(*server));
  EXPECT_FALSE(after.ok);
}

// A request to an IPv6 literal must send "Host: [::1]:port" (RFC 9110 7.2 / RFC 3986 3.2.2).
// DISABLED: fails until the fix reported with these tests is applied to src/http/client.cpp
// (exchange() writes "Host: ::1:port").
TEST_F(HttpTest, Ipv6HostHeaderIsBracketed) {
  std::mutex mutex;
  std::string host;
  ServerOptions options;
  options.host = "::1";
  options.port = 0;
  options.threads = 1;
  Server server(options, [&](Request& req, ResponseWriter& res) -> Task<void> {
    {
      std::lock_guard lock(mutex);
      host = req.header("host");
    }
    co_await res.send(200, "text/plain", "v6");
  });
  auto port = server.listen();
  if (!port) GTEST_SKIP() << "no IPv6 loopback here: " << port.error().message;
  std::thread thread([&] { server.run(); });
  ClientRequest request;
  request.url = *Url::parse("http://[::1]:" + std::to_string(*port) + "/");
  auto reply = send(request);
  server.shutdown();
  thread.join();
  ASSERT_TRUE(reply.ok) << reply.error.message;
  EXPECT_EQ(reply.body, "v6");
  std::lock_guard lock(mutex);
  EXPECT_EQ(host, "[::1]:" + std::to_string(*port));
}

}  // namespace
}  // namespace keel
