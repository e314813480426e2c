// Every parser error and limit, driven with raw bytes on both sides (issue 15): the server
// answers each with a status and a closed connection, the client turns each into an error;
// neither side throws, aborts or buffers without bound. Trailer fields never reach headers.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

#include "http/client.h"
#include "http/parser.h"
#include "http/server.h"
#include "test_server.h"

namespace keel {
namespace {

using testkit::run_until_done;
using testkit::TestServer;

// A handler that reports what the request header held: "<authorization>|<content-type>|<body>".
Handler header_echo() {
  return [](Request& req, ResponseWriter& res) -> Task<void> {
    std::string out = std::string(req.header("authorization")) + "|" +
                      std::string(req.header("content-type")) + "|" + req.message.body();
    co_await res.send(200, "text/plain", out);
  };
}

// Sends `bytes` on a fresh connection and returns everything the server sends until it closes.
std::string exchange(uint16_t port, const std::string& bytes, bool half_close = false) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  beast::error_code ec;
  asio::write(socket, asio::buffer(bytes), ec);
  if (half_close) socket.shutdown(tcp::socket::shutdown_send, ec);
  std::string received;
  char buffer[4096];
  ec = {};
  while (!ec) {
    size_t n = socket.read_some(asio::buffer(buffer), ec);
    received.append(buffer, n);
  }
  return received;
}

std::string chunked_post(const std::string& trailer, const std::string& path = "/x") {
  return "POST " + path +
         " HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nConnection: close\r\n"
         "Transfer-Encoding: chunked\r\n\r\n"
         "3\r\nabc\r\n0\r\n" +
         trailer + "\r\n";
}

int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return 0;
  return std::stoi(response.substr(9, 3));
}

// --- the server --------------------------------------------------------------------------------

TEST(ServerLimitsTest, TrailerFieldValueOf64KiBIsRefusedNotFatal) {
  TestServer server(header_echo());
  // The bytes of issue 15: a trailer value of 65,534 bytes aborted the process.
  const std::string request =
      "POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " +
      std::string(65534, 'a') + "\r\n\r\n";
  EXPECT_EQ(status_of(exchange(server.port(), request)), 431);
  // The server is still there.
  EXPECT_EQ(status_of(exchange(server.port(), chunked_post(""))), 200);
}

TEST(ServerLimitsTest, TrailerFieldNameOf64KiBIsRefusedNotFatal) {
  TestServer server(header_echo());
  const std::string request =
      "POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" +
      std::string(65534, 'a') + ": v\r\n\r\n";
  EXPECT_EQ(status_of(exchange(server.port(), request)), 431);
  EXPECT_EQ(status_of(exchange(server.port(), chunked_post(""))), 200);
}

TEST(ServerLimitsTest, ManySmallTrailerFieldsHitTheHeaderLimit) {
  TestServer server(header_echo());
  std::string trailer;
  for (int i = 0; i < 20000; ++i) trailer += "X-" + std::to_string(i) + ": v\r\n";  // ~200 KB
  EXPECT_EQ(status_of(exchange(server.port(), chunked_post(trailer))), 431);
}

TEST(ServerLimitsTest, TrailerWithoutEndIsNotBufferedWithoutBound) {
  TestServer server(header_echo());
  // A trailer section that never ends: refused once 64 KiB wait unparsed, not read forever.
  std::string request = chunked_post("").substr(0, chunked_post("").size() - 2);
  request += "X: " + std::string(200000, 'a');
  EXPECT_EQ(status_of(exchange(server.port(), request)), 431);
}

TEST(ServerLimitsTest, TrailerFieldsNeverCountAsHeaders) {
  TestServer server(header_echo());
  const std::string response = exchange(
      server.port(),
      "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
      "2\r\nhi\r\n0\r\nAuthorization: Bearer secret\r\nContent-Type: application/json\r\n\r\n");
  EXPECT_EQ(status_of(response), 200) << response;
  EXPECT_NE(response.find("\r\n\r\n||hi"), std::string::npos) << response;
}

TEST(ServerLimitsTest, HeaderSentInPiecesStillHitsTheHeaderLimit) {
  // Beast 1.74 checks its header limit against what one put() sees; fields already consumed
  // are counted here.
  TestServer server(header_echo());
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  beast::error_code ec;
  asio::write(socket, asio::buffer(std::string("GET /x HTTP/1.1\r\nHost: x\r\n")), ec);
  for (int i = 0; i < 200 && !ec; ++i) {
    asio::write(socket,
                asio::buffer("X-" + std::to_string(i) + ": " + std::string(1000, 'a') + "\r\n"),
                ec);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::string received;
  char buffer[4096];
  ec = {};
  while (!ec) {
    size_t n = socket.read_some(asio::buffer(buffer), ec);
    received.append(buffer, n);
  }
  EXPECT_EQ(status_of(received), 431) << received.substr(0, 200);
}

TEST(ServerLimitsTest, HeaderFieldOver64KiBIsRefused) {
  TestServer server(header_echo());
  EXPECT_EQ(status_of(exchange(server.port(), "GET /x HTTP/1.1\r\nHost: x\r\nX: " +
                                                  std::string(70000, 'a') + "\r\n\r\n")),
            431);
  EXPECT_EQ(status_of(exchange(server.port(), "GET /x HTTP/1.1\r\nHost: x\r\n" +
                                                  std::string(70000, 'a') + ": v\r\n\r\n")),
            431);
}

TEST(ServerLimitsTest, ChunkErrorsGet400) {
  TestServer server(header_echo());
  const std::string head = "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(status_of(exchange(server.port(), head + "zz\r\nabc\r\n0\r\n\r\n")), 400);  // bad size
  EXPECT_EQ(status_of(exchange(server.port(), head + "3\r\nabcXY0\r\n\r\n")), 400);     // no CRLF
  EXPECT_EQ(status_of(exchange(server.port(), head + "3;=\r\nabc\r\n0\r\n\r\n")),
            400);  // bad extension
  EXPECT_EQ(status_of(exchange(server.port(), head + "ffffffffffffffffff\r\nabc\r\n0\r\n\r\n")),
            400);  // size overflows
  // A chunk-size line whose extensions never end: refused at the limit, not buffered.
  EXPECT_EQ(status_of(exchange(server.port(), head + "3;" + std::string(100000, 'a'))), 431);
}

TEST(ServerLimitsTest, ChunkedBodyOverLimitGets413) {
  ServerOptions options;
  options.max_body_bytes = 100;
  TestServer server(header_echo(), options);
  EXPECT_EQ(status_of(exchange(server.port(),
                               "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "65\r\n" +
                                   std::string(101, 'a') + "\r\n0\r\n\r\n")),
            413);
}

TEST(ServerLimitsTest, FramingAsNginxTreatsIt) {
  TestServer server(header_echo());
  EXPECT_EQ(status_of(exchange(server.port(), "GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")),
            400);
  EXPECT_EQ(status_of(exchange(server.port(), "GET /x HTTP/1.1\r\n\r\n")), 400);
  EXPECT_EQ(
      status_of(exchange(server.port(),
                         "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                         "0\r\n\r\n")),
      501);
  EXPECT_EQ(status_of(exchange(server.port(),
                               "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")),
            400);
  // HTTP/1.0 with Transfer-Encoding: answered, then closed although it asked for keep-alive.
  const std::string response = exchange(
      server.port(),
      "POST /x HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
      "GET /second HTTP/1.0\r\n\r\n");
  EXPECT_EQ(status_of(response), 200) << response;
  EXPECT_NE(response.find("Connection: close"), std::string::npos) << response;
  EXPECT_EQ(response.find("HTTP/1.1", 5), std::string::npos) << "a second response: " << response;
}

TEST(ServerLimitsTest, HeaderCheckAnswersBeforeTheBodyAndBeforeContinue) {
  ServerOptions options;
  std::atomic<int> handled{0};
  options.header_check = [](const RequestHead& head) -> std::optional<ServerReply> {
    if (head["authorization"] == "ok") return std::nullopt;
    ServerReply reply;
    reply.status = 401;
    reply.body = "{}";
    return reply;
  };
  TestServer server(
      [&](Request& req, ResponseWriter& res) -> Task<void> {
        ++handled;
        co_await res.send(200, "text/plain", req.message.body());
      },
      options);
  // Expect: 100-continue without the key: the 401 comes first, no 100, and the body is not
  // waited for (the client never sends it).
  std::string response = exchange(
      server.port(),
      "POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n\r\n");
  EXPECT_EQ(status_of(response), 401) << response;
  EXPECT_EQ(response.find("100 Continue"), std::string::npos) << response;
  // With the key: 100 Continue, then the answer.
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  asio::write(socket,
              asio::buffer(std::string(
                  "POST /x HTTP/1.1\r\nHost: x\r\nAuthorization: ok\r\nExpect: 100-continue\r\n"
                  "Content-Length: 2\r\nConnection: close\r\n\r\n")));
  char buffer[4096];
  size_t n = socket.read_some(asio::buffer(buffer));
  EXPECT_EQ(std::string(buffer, n), "HTTP/1.1 100 Continue\r\n\r\n");
  asio::write(socket, asio::buffer(std::string("ok")));
  beast::error_code ec;
  response.clear();
  while (!ec) {
    n = socket.read_some(asio::buffer(buffer), ec);
    response.append(buffer, n);
  }
  EXPECT_EQ(status_of(response), 200) << response;
  EXPECT_EQ(handled.load(), 1);
}

TEST(ServerLimitsTest, ClientThatStopsReadingIsCutAfterTheSendTimeout) {
  ServerOptions options;
  options.send_timeout_ms = 300;
  std::atomic<bool> write_failed{false};
  std::atomic<bool> gone{false};
  TestServer server(
      [&](Request&, ResponseWriter& res) -> Task<void> {
        if (!co_await res.begin_stream(200, "text/plain")) co_return;
        const std::string piece(64 * 1024, 'a');
        // Far more than the socket buffers hold; the client reads none of it.
        for (int i = 0; i < 4096; ++i) {
          if (!co_await res.write(piece)) {
            write_failed = true;
            break;
          }
        }
        gone = res.client_gone()->cancelled();
        co_await res.end();
      },
      options);
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  // A small receive buffer, so the server's writes block soon.
  socket.set_option(asio::socket_base::receive_buffer_size(4096));
  asio::write(socket, asio::buffer(std::string("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")));
  const auto start = std::chrono::steady_clock::now();
  while (server.server().in_flight() == 0 &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  while (server.server().in_flight() > 0 &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(10)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(server.server().in_flight(), 0u) << "the slot is still held";
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(write_failed.load());
  EXPECT_TRUE(gone.load());
}

// --- the client --------------------------------------------------------------------------------

// A one-shot upstream on a loopback port that answers any request with `response`.
class RawUpstream {
 public:
  explicit RawUpstream(std::string response) : response_(std::move(response)) {
    acceptor_.open(tcp::v4());
    acceptor_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] {
      beast::error_code ec;
      tcp::socket socket = acceptor_.accept(ec);
      if (ec) return;
      char buffer[4096];
      socket.read_some(asio::buffer(buffer), ec);  // the request (small)
      asio::write(socket, asio::buffer(response_), ec);
      socket.shutdown(tcp::socket::shutdown_send, ec);
      while (!ec) socket.read_some(asio::buffer(buffer), ec);
    });
  }
  ~RawUpstream() {
    beast::error_code ec;
    acceptor_.close(ec);
    thread_.join();
  }
  Url url() const { return *Url::parse("http://127.0.0.1:" + std::to_string(port_) + "/x"); }

 private:
  std::string response_;
  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  uint16_t port_ = 0;
  std::thread thread_;
};

struct Fetched {
  Result<std::string> body = std::string();
  std::string header;
};

Fetched fetch(const RawUpstream& upstream) {
  asio::io_context io;
  auto task = [&]() -> Task<Fetched> {
    ClientRequest request;
    request.url = upstream.url();
    auto response = co_await http_send(std::move(request), std::make_shared<CancelToken>());
    Fetched out;
    if (!response) {
      out.body = response.error();
      co_return out;
    }
    out.body = co_await response.value()->read_all();
    out.header = response.value()->header("x-secret");
    co_return out;
  };
  Fetched result = run_until_done(io, task());
  http_pool_clear();
  return result;
}

const std::string kChunkedHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n";

TEST(ClientLimitsTest, TrailerFieldValueOf64KiBIsAnErrorNotFatal) {
  RawUpstream upstream(kChunkedHead + "2\r\nhi\r\n0\r\nX: " + std::string(65534, 'a') + "\r\n\r\n");
  auto got = fetch(upstream);
  ASSERT_FALSE(got.body.ok());
  EXPECT_EQ(got.body.error().code, ErrorCode::kBadGateway) << got.body.error().message;
}

TEST(ClientLimitsTest, TrailerFieldNameOf64KiBIsAnErrorNotFatal) {
  RawUpstream upstream(kChunkedHead + "2\r\nhi\r\n0\r\n" + std::string(65534, 'a') + ": v\r\n\r\n");
  auto got = fetch(upstream);
  ASSERT_FALSE(got.body.ok());
  EXPECT_EQ(got.body.error().code, ErrorCode::kBadGateway) << got.body.error().message;
}

TEST(ClientLimitsTest, ManyTrailerFieldsAreAnError) {
  std::string trailer;
  for (int i = 0; i < 20000; ++i) trailer += "X-" + std::to_string(i) + ": v\r\n";
  RawUpstream upstream(kChunkedHead + "2\r\nhi\r\n0\r\n" + trailer + "\r\n");
  auto got = fetch(upstream);
  ASSERT_FALSE(got.body.ok());
  EXPECT_EQ(got.body.error().code, ErrorCode::kBadGateway) << got.body.error().message;
}

TEST(ClientLimitsTest, SmallTrailersAreReadAndKeptApart) {
  RawUpstream upstream(kChunkedHead + "2\r\nhi\r\n0\r\nX-Secret: from-trailer\r\n\r\n");
  auto got = fetch(upstream);
  ASSERT_TRUE(got.body.ok()) << got.body.error().message;
  EXPECT_EQ(*got.body, "hi");
  EXPECT_EQ(got.header, "");
}

TEST(ClientLimitsTest, HeaderLimitsAndChunkErrors) {
  const std::vector<std::string> responses = {
      "HTTP/1.1 200 OK\r\nX: " + std::string(70000, 'a') + "\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\n" + std::string(70000, 'a') + ": v\r\nContent-Length: 0\r\n\r\n",
      kChunkedHead + "zz\r\nhi\r\n0\r\n\r\n",
      kChunkedHead + "2;" + std::string(100000, 'e') + "\r\nhi\r\n0\r\n\r\n",
      kChunkedHead + "2\r\nhiXX0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
      "HTTP/9.9 200 OK\r\n\r\n",
  };
  for (const auto& response : responses) {
    RawUpstream upstream(response);
    auto got = fetch(upstream);
    ASSERT_FALSE(got.body.ok()) << response.substr(0, 80);
    EXPECT_EQ(got.body.error().code, ErrorCode::kBadGateway)
        << response.substr(0, 80) << ": " << got.body.error().message;
  }
}

// --- the parser itself -------------------------------------------------------------------------

TEST(BoundedParserTest, TrailerFieldsAreCountedAndDropped) {
  RequestParser parser(1024);
  beast::flat_buffer buffer;
  const std::string bytes =
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n"
      "Authorization: Bearer k\r\nX-Other: 1\r\n\r\n";
  asio::buffer_copy(buffer.prepare(bytes.size()), asio::buffer(bytes));
  buffer.commit(bytes.size());
  beast::error_code ec;
  ASSERT_EQ(feed(parser, buffer, ec, false), Feed::kDone) << ec.message();
  EXPECT_EQ(parser.trailer_fields(), 2u);
  EXPECT_EQ(parser.get().find(bhttp::field::authorization), parser.get().end());
  EXPECT_EQ(parser.get().body(), "a");
}

}  // namespace
}  // namespace keel
