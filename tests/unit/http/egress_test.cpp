// The egress guard (http/egress.h): address classes, every spelling of a blocked address, and a
// corpus of URLs and redirects proving that no connection reaches a blocked address.
#include "http/egress.h"

#include <gtest/gtest.h>

#include "test_server.h"

namespace keel {
namespace {

using testkit::run_until_done;
using testkit::TestServer;

asio::ip::address ip(const char* text) { return asio::ip::make_address(text); }

TEST(EgressRulesTest, BlockedAddressClasses) {
  for (const char* blocked : {"127.0.0.1",
                              "127.255.0.9",
                              "10.1.2.3",
                              "172.16.0.1",
                              "172.31.255.255",
                              "192.168.1.1",
                              "169.254.169.254",
                              "0.0.0.0",
                              "100.64.0.1",
                              "224.0.0.1",
                              "255.255.255.255",
                              "::1",
                              "::",
                              "fd00:ec2::254",
                              "fc00::1",
                              "fe80::1",
                              "ff02::1",
                              "::ffff:127.0.0.1",
                              "::ffff:169.254.169.254",
                              "::127.0.0.1",
                              "64:ff9b::a9fe:a9fe",
                              "2002:7f00:1::1",
                              "fec0::1"}) {
    EXPECT_NE(egress_blocked_reason(ip(blocked)), nullptr) << blocked;
  }
  for (const char* open : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "192.169.0.1", "2606:4700::1111",
                           "::ffff:8.8.8.8", "64:ff9b::808:808"}) {
    EXPECT_EQ(egress_blocked_reason(ip(open)), nullptr) << open;
  }
  EXPECT_STREQ(egress_blocked_reason(ip("169.254.169.254")), "link-local (cloud metadata)");
  EXPECT_STREQ(egress_blocked_reason(ip("fd00:ec2::254")), "unique local (ULA)");
}

TEST(EgressRulesTest, EveryIpv4SpellingIsRead) {
  for (const char* loopback : {"127.0.0.1", "2130706433", "0x7f000001", "0x7f.1", "0177.0.0.1",
                               "0177.0.0.01", "127.1", "127.0.1", "[::ffff:127.0.0.1]",
                               "[::ffff:7f00:1]", "[0:0:0:0:0:0:0:1]", "[::1]", "127.0.0.1."}) {
    auto address = parse_ip_literal(loopback);
    ASSERT_TRUE(address.has_value()) << loopback;
    EXPECT_STREQ(egress_blocked_reason(*address), "loopback") << loopback;
  }
  EXPECT_EQ(parse_ip_literal("169.254.43518")->to_string(), "169.254.169.254");
  EXPECT_EQ(parse_ip_literal("0xa9fea9fe")->to_string(), "169.254.169.254");
  EXPECT_FALSE(parse_ip_literal("example.com").has_value());
  EXPECT_EQ(parse_ip_literal("localhost.")->to_string(), "127.0.0.1");
  EXPECT_EQ(parse_ip_literal("a.LOCALHOST")->to_string(), "127.0.0.1");
  EXPECT_FALSE(parse_ip_literal("").has_value());
}

TEST(EgressRulesTest, CheckUrlRefusesLiteralsAndBadSchemes) {
  const EgressPolicy none;
  for (const char* url :
       {"http://127.0.0.1/", "http://2130706433/", "http://0x7f.1:8080/x", "http://[::1]/",
        "http://[::ffff:169.254.169.254]/latest/meta-data", "http://169.254.169.254/",
        "http://[fd00:ec2::254]/", "http://0/", "http://10.0.0.1/", "https://0177.1/"}) {
    Status status = egress_check_url(url, none);
    ASSERT_FALSE(status.ok()) << url;
    EXPECT_EQ(status.error().code, ErrorCode::kPermissionDenied) << url;
  }
  EXPECT_FALSE(egress_check_url("file:///etc/passwd", none).ok());
  EXPECT_FALSE(egress_check_url("gopher://127.0.0.1/", none).ok());
  EXPECT_TRUE(egress_check_url("https://example.com/a", none).ok());
  EXPECT_TRUE(
      egress_check_url("http://10.0.0.1/", EgressPolicy{.allow_hosts = {"10.0.0.0/8"}}).ok());
  EXPECT_TRUE(
      egress_check_url("http://127.0.0.1/", EgressPolicy{.allow_hosts = {"127.0.0.1"}}).ok());
  EXPECT_FALSE(
      egress_check_url("http://127.0.0.2/", EgressPolicy{.allow_hosts = {"127.0.0.1"}}).ok());
}

TEST(EgressRulesTest, AllowHostsMatchNamesAddressesAndRanges) {
  const EgressPolicy policy{.allow_hosts = {"Intranet.Example.", "192.168.0.0/16", "fd00::/8"}};
  EXPECT_TRUE(egress_allowed(policy, "intranet.example"));
  EXPECT_TRUE(egress_allowed(policy, "INTRANET.example."));
  EXPECT_FALSE(egress_allowed(policy, "other.example"));
  const auto inside = ip("192.168.4.5");
  const auto outside = ip("10.0.0.1");
  const auto ula = ip("fd00:ec2::254");
  EXPECT_TRUE(egress_allowed(policy, "x", &inside));
  EXPECT_FALSE(egress_allowed(policy, "x", &outside));
  EXPECT_TRUE(egress_allowed(policy, "x", &ula));
}

// A listener that only counts connections: the proof that none reached it.
class CountingListener {
 public:
  CountingListener(asio::io_context& io, const char* address)
      : acceptor_(io, tcp::endpoint(asio::ip::make_address(address), 0)) {
    accept();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int connections() const { return connections_; }

 private:
  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;
      ++connections_;
      accept();
    });
  }
  tcp::acceptor acceptor_;
  int connections_ = 0;
};

struct Fetched {
  bool ok = false;
  int status = 0;
  std::string body;
  Error error;
  std::string final_url;
};

Task<Fetched> fetch(std::string url, EgressPolicy policy) {
  Fetched out;
  ClientRequest request;
  request.url = *Url::parse(url);
  request.connect_timeout_ms = 1000;
  auto response = co_await egress_send(std::move(request), policy, std::make_shared<CancelToken>(),
                                       &out.final_url);
  if (!response) {
    out.error = response.error();
    co_return out;
  }
  out.ok = true;
  out.status = (*response)->status();
  auto body = co_await (*response)->read_all();
  if (body) out.body = *body;
  co_return out;
}

class EgressTest : public ::testing::Test {
 protected:
  void TearDown() override { http_pool_clear(); }
  asio::io_context io_;
};

TEST_F(EgressTest, NoSpellingOfLoopbackGetsAConnection) {
  CountingListener listener(io_, "127.0.0.1");
  const std::string port = std::to_string(listener.port());
  for (const char* host :
       {"127.0.0.1", "2130706433", "0x7f000001", "0x7f.1", "0177.0.0.1", "127.1", "localhost",
        "localhost.", "LOCALHOST", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]"}) {
    Fetched got = run_until_done(
        io_, fetch(std::string("http://") + host + ":" + port + "/", EgressPolicy{}));
    EXPECT_FALSE(got.ok) << host;
    EXPECT_EQ(got.error.code, ErrorCode::kPermissionDenied) << host << ": " << got.error.message;
  }
  io_.poll();
  EXPECT_EQ(listener.connections(), 0);
}

TEST_F(EgressTest, AnAllowedHostIsReachedAtTheCheckedAddress) {
  TestServer server([](Request& req, ResponseWriter& res) -> Task<void> {
    co_await res.send(200, "text/plain", "host=" + std::string(req.header("host")));
  });
  Fetched got =
      run_until_done(io_, fetch(server.base("/x"), EgressPolicy{.allow_hosts = {"127.0.0.1"}}));
  ASSERT_TRUE(got.ok) << got.error.message;
  EXPECT_EQ(got.body, "host=127.0.0.1:" + std::to_string(server.port()));
}

TEST_F(EgressTest, ThePinnedAddressIsUsedNotTheName) {
  // The name never resolves; the connection goes to connect_address, the Host header keeps it.
  TestServer server([](Request& req, ResponseWriter& res) -> Task<void> {
    co_await res.send(200, "text/plain", std::string(req.header("host")));
  });
  ClientRequest request;
  request.url = *Url::parse("http://rebind.invalid:" + std::to_string(server.port()) + "/");
  request.connect_address = "127.0.0.1";
  auto body = run_until_done(io_, [](ClientRequest request) -> Task<std::string> {
    auto response = co_await http_send(std::move(request), std::make_shared<CancelToken>());
    if (!response) co_return "error: " + response.error().message;
    auto text = co_await (*response)->read_all();
    co_return text ? *text : "error";
  }(std::move(request)));
  EXPECT_EQ(body, "rebind.invalid:" + std::to_string(server.port()));
}

TEST_F(EgressTest, RedirectsToBlockedAddressesAreRefusedBeforeConnecting) {
  CountingListener hidden(io_, "127.0.0.2");
  const std::string port = std::to_string(hidden.port());
  std::atomic<int> hits{0};
  TestServer redirector([&hits](Request& req, ResponseWriter& res) -> Task<void> {
    ++hits;
    std::string target(req.message.target());
    std::vector<std::pair<std::string, std::string>> headers{
        {"location", target.substr(std::string("/to?").size())}};
    co_await res.send(302, "text/plain", "", headers);
  });
  const EgressPolicy policy{.allow_hosts = {"127.0.0.1"}};
  for (const std::string& location :
       {"http://127.0.0.2:" + port + "/", "http://2130706434:" + port + "/",
        "http://0x7f.0.0.2:" + port + "/", "http://[::ffff:127.0.0.2]:" + port + "/",
        std::string("http://169.254.169.254/latest/meta-data/"),
        std::string("http://[fd00:ec2::254]/latest/meta-data/"), "http://127.2:" + port + "/"}) {
    Fetched got = run_until_done(io_, fetch(redirector.base("/to?" + location), policy));
    EXPECT_FALSE(got.ok) << location;
    EXPECT_EQ(got.error.code, ErrorCode::kPermissionDenied)
        << location << ": " << got.error.message;
  }
  io_.poll();
  EXPECT_EQ(hidden.connections(), 0);
  EXPECT_EQ(hits.load(), 7);
}

TEST_F(EgressTest, RedirectsAreFollowedWithinTheLimit) {
  TestServer server([](Request& req, ResponseWriter& res) -> Task<void> {
    std::string target(req.message.target());
    if (target == "/end") {
      co_await res.send(200, "text/plain", "arrived");
      co_return;
    }
    const int left = std::stoi(target.substr(1));
    std::vector<std::pair<std::string, std::string>> headers{
        {"location", left == 0 ? "/end" : "/" + std::to_string(left - 1)}};
    co_await res.send(301, "text/plain", "", headers);
  });
  const EgressPolicy policy{.allow_hosts = {"127.0.0.1"}, .max_redirects = 3};
  Fetched near = run_until_done(io_, fetch(server.base("/1"), policy));
  ASSERT_TRUE(near.ok) << near.error.message;
  EXPECT_EQ(near.body, "arrived");
  EXPECT_EQ(near.final_url, server.base("/end"));
  Fetched far = run_until_done(io_, fetch(server.base("/5"), policy));
  EXPECT_FALSE(far.ok);
  EXPECT_NE(far.error.message.find("too many redirects"), std::string::npos);
}

}  // namespace
}  // namespace keel
