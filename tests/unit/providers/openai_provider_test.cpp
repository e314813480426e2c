// OpenAIProvider against a fake OpenAI-compatible upstream (a keel::Server on loopback), plus
// the shared upstream error mapping and Retry-After parsing.
#include "providers/openai/openai_provider.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "../http/test_server.h"
#include "http/sse.h"
#include "providers/provider.h"
#include "providers/upstream.h"

namespace keel {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using testkit::run_until_done;
using testkit::TestServer;
using testkit::wait_for;
using K = ChatEvent::Kind;

class RecordingSink final : public EventSink {
 public:
  Task<bool> on_event(ChatEvent event) override {
    events.push_back(std::move(event));
    co_return true;
  }
  std::vector<K> kinds() const {
    std::vector<K> out;
    for (const auto& event : events) out.push_back(event.kind);
    return out;
  }
  std::string text() const {
    std::string out;
    for (const auto& event : events) {
      if (event.kind == K::kTextDelta) out += event.text;
    }
    return out;
  }
  const ChatEvent* find(K kind) const {
    for (const auto& event : events) {
      if (event.kind == kind) return &event;
    }
    return nullptr;
  }
  std::vector<ChatEvent> events;
};

// What the fake upstream saw of the last request.
struct Seen {
  std::string method;
  std::string path;
  std::string authorization;
  std::string content_type;
  std::string accept;
  std::string extra;   // the configured extra header
  nlohmann::json body;
};

// A fake upstream whose answer each test sets with `respond`.
class OpenAIProviderTest : public ::testing::Test {
 protected:
  using Respond = std::function<Task<void>(Request&, ResponseWriter&)>;

  void SetUp() override {
    server_ = std::make_unique<TestServer>([this](Request& req, ResponseWriter& res) -> Task<void> {
      {
        std::lock_guard lock(mutex_);
        seen_.method = std::string(req.message.method_string());
        seen_.path = std::string(req.message.target());
        seen_.authorization = req.header("authorization");
        seen_.content_type = req.header("content-type");
        seen_.accept = req.header("accept");
        seen_.extra = req.header("x-extra");
        seen_.body = nlohmann::json::parse(req.message.body(), nullptr, false);
        ++requests_;
      }
      co_await respond_(req, res);
    });
    ProviderConfig config;
    config.name = "fake";
    config.kind = ProviderKind::kOpenAI;
    config.base_url = server_->base("/v1");
    config.api_key = "sk-test-123";
    config.headers["x-extra"] = "present";
    auto provider = OpenAIProvider::create(config);
    ASSERT_TRUE(provider.ok()) << provider.error().message;
    provider_ = std::move(provider.value());
  }

  void TearDown() override {
    http_pool_clear();
    server_.reset();
  }

  // Replies with one whole body.
  void respond_with(int status, std::string content_type, std::string body,
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
    respond_ = [=](Request&, ResponseWriter& res) -> Task<void> {
      co_await res.send(status, content_type, body, headers);
    };
  }

  // Replies 200 text/event-stream with `frames` written one by one, then ends the body.
  void respond_with_stream(std::vector<std::string> frames) {
    respond_ = [frames](Request&, ResponseWriter& res) -> Task<void> {
      if (!co_await res.begin_stream(200, "text/event-stream")) co_return;
      for (const auto& frame : frames) {
        if (!co_await res.write(frame)) co_return;
      }
      co_await res.end();
    };
  }

  static ChatRequest request(bool stream) {
    ChatRequest req;
    req.model = "public-name";
    req.stream = stream;
    Message message;
    ContentPart part;
    part.text = "hi";
    message.content.push_back(part);
    req.messages.push_back(message);
    return req;
  }

  RecordingSink chat(bool stream, CancelPtr cancel = std::make_shared<CancelToken>()) {
    RecordingSink sink;
    auto req = request(stream);
    auto task = [&]() -> Task<bool> {
      co_await provider_->chat(req, "upstream-model", sink, cancel);
      co_return true;
    };
    run_until_done(io_, task());
    return sink;
  }

  // The single Error event a failed call must end with.
  static Error error_of(const RecordingSink& sink) {
    EXPECT_FALSE(sink.events.empty());
    if (sink.events.empty()) return Error();
    EXPECT_EQ(sink.events.back().kind, K::kError);
    int errors = 0;
    for (const auto& event : sink.events) errors += event.kind == K::kError;
    EXPECT_EQ(errors, 1);
    return sink.events.back().error;
  }

  Seen seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }

  asio::io_context io_;
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<Provider> provider_;
  Respond respond_;
  std::mutex mutex_;
  Seen seen_;
  int requests_ = 0;
};

std::string chunk(const std::string& delta_json, const std::string& finish = "null") {
  return sse_frame(R"({"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,)"
                   R"("model":"upstream-model","choices":[{"index":0,"delta":)" +
                   delta_json + R"(,"finish_reason":)" + finish + "}]}");
}

const char kWholeAnswer[] = R"({
  "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000,
  "model": "upstream-model",
  "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there"},
               "finish_reason": "stop"}],
  "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
})";

TEST_F(OpenAIProviderTest, SendsAuthAndUpstreamModel) {
  respond_with(200, "application/json", kWholeAnswer);
  auto sink = chat(false);
  ASSERT_EQ(sink.find(K::kError), nullptr) << sink.events.back().error.message;
  auto request = seen();
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/v1/chat/completions");
  EXPECT_EQ(request.authorization, "Bearer sk-test-123");
  EXPECT_EQ(request.content_type, "application/json");
  EXPECT_EQ(request.accept, "application/json");
  EXPECT_EQ(request.extra, "present");
  ASSERT_TRUE(request.body.is_object());
  EXPECT_EQ(request.body["model"], "upstream-model");   // not the public name
  ASSERT_TRUE(request.body["messages"].is_array());
  EXPECT_EQ(request.body["messages"][0]["role"], "user");
  EXPECT_EQ(request.body["messages"][0]["content"], "hi");
  EXPECT_FALSE(request.body.value("stream", false));
}

TEST_F(OpenAIProviderTest, StreamingRequestAsksForAnEventStream) {
  respond_with_stream({chunk(R"({"role":"assistant","content":"x"})", R"("stop")"),
                       sse_frame("[DONE]")});
  auto sink = chat(true);
  ASSERT_EQ(sink.find(K::kError), nullptr);
  auto request = seen();
  EXPECT_EQ(request.accept, "text/event-stream");
  EXPECT_EQ(request.body["stream"], true);
  EXPECT_EQ(request.body["stream_options"]["include_usage"], true);
}

TEST_F(OpenAIProviderTest, PlainJsonAnswerBecomesEvents) {
  respond_with(200, "application/json", kWholeAnswer);
  auto sink = chat(false);
  EXPECT_EQ(sink.kinds(), (std::vector<K>{K::kStart, K::kTextDelta, K::kFinish, K::kUsage}));
  ASSERT_EQ(sink.events.size(), 4u);
  EXPECT_EQ(sink.events[0].id, "chatcmpl-1");
  EXPECT_EQ(sink.events[0].model, "upstream-model");
  EXPECT_EQ(sink.text(), "Hello there");
  EXPECT_EQ(sink.events[2].finish, FinishReason::kStop);
  EXPECT_TRUE(sink.events[3].usage.present);
  EXPECT_EQ(sink.events[3].usage.prompt_tokens, 5);
  EXPECT_EQ(sink.events[3].usage.completion_tokens, 2);
}

TEST_F(OpenAIProviderTest, JsonAnswerToAStreamingRequestIsTaken) {
  // A server that ignores stream:true answers with one body; the provider takes it either way.
  respond_with(200, "application/json; charset=utf-8", kWholeAnswer);
  auto sink = chat(true);
  EXPECT_EQ(sink.kinds(), (std::vector<K>{K::kStart, K::kTextDelta, K::kFinish, K::kUsage}));
}

TEST_F(OpenAIProviderTest, SseAnswerBecomesEventsInOrder) {
  respond_with_stream({
      ": keep-alive comment\n\n",
      chunk(R"({"role":"assistant","content":""})"),
      chunk(R"({"content":"Hel"})"),
      chunk(R"({"content":"lo"})"),
      chunk(R"({})", R"("stop")"),
      sse_frame(R"({"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,)"
                R"("model":"upstream-model","choices":[],)"
                R"("usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}})"),
      sse_frame("[DONE]"),
  });
  auto sink = chat(true);
  EXPECT_EQ(sink.kinds(),
            (std::vector<K>{K::kStart, K::kTextDelta, K::kTextDelta, K::kFinish, K::kUsage}));
  EXPECT_EQ(sink.text(), "Hello");
  const ChatEvent* finish = sink.find(K::kFinish);
  ASSERT_NE(finish, nullptr);
  EXPECT_EQ(finish->finish, FinishReason::kStop);
  const ChatEvent* usage = sink.find(K::kUsage);
  ASSERT_NE(usage, nullptr);
  EXPECT_EQ(usage->usage.completion_tokens, 2);
}

TEST_F(OpenAIProviderTest, SseSplitAcrossWritesIsReassembled) {
  std::string whole = chunk(R"({"role":"assistant","content":"abc"})") +
                      chunk(R"({})", R"("length")") + sse_frame("[DONE]");
  std::vector<std::string> pieces;
  for (size_t i = 0; i < whole.size(); i += 7) pieces.push_back(whole.substr(i, 7));
  respond_with_stream(pieces);
  auto sink = chat(true);
  EXPECT_EQ(sink.kinds(), (std::vector<K>{K::kStart, K::kTextDelta, K::kFinish}));
  EXPECT_EQ(sink.text(), "abc");
  EXPECT_EQ(sink.find(K::kFinish)->finish, FinishReason::kLength);
}

TEST_F(OpenAIProviderTest, DoneWithoutFinishGetsOne) {
  respond_with_stream({chunk(R"({"role":"assistant","content":"hi"})"), sse_frame("[DONE]")});
  auto sink = chat(true);
  EXPECT_EQ(sink.kinds(), (std::vector<K>{K::kStart, K::kTextDelta, K::kFinish}));
}

TEST_F(OpenAIProviderTest, ServerErrorIsUnavailableWithStatusAndMessage) {
  respond_with(500, "application/json",
               R"({"error":{"message":"the model exploded","type":"server_error"}})");
  auto sink = chat(false);
  Error error = error_of(sink);
  EXPECT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(error.code, ErrorCode::kUnavailable);
  EXPECT_EQ(error.upstream_status, 500);
  EXPECT_NE(error.message.find("the model exploded"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("500"), std::string::npos) << error.message;
  EXPECT_FALSE(error.retry_after_ms.has_value());
}

TEST_F(OpenAIProviderTest, RateLimitCarriesRetryAfter) {
  respond_with(429, "application/json", R"({"error":{"message":"slow down"}})",
               {{"retry-after", "2"}});
  Error error = error_of(chat(true));
  EXPECT_EQ(error.code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(error.upstream_status, 429);
  ASSERT_TRUE(error.retry_after_ms.has_value());
  EXPECT_EQ(*error.retry_after_ms, 2000);
  EXPECT_NE(error.message.find("slow down"), std::string::npos);
}

TEST_F(OpenAIProviderTest, RetryAfterMsIsPreferred) {
  respond_with(429, "application/json", R"({"error":{"message":"slow down"}})",
               {{"retry-after", "2"}, {"retry-after-ms", "1500"}});
  Error error = error_of(chat(false));
  ASSERT_TRUE(error.retry_after_ms.has_value());
  EXPECT_EQ(*error.retry_after_ms, 1500);
}

TEST_F(OpenAIProviderTest, BadKeyIsBadGatewayWithStatus) {
  // OpenAI's own words, which quote the key masked: they go to keel's log only, and the client
  // gets keel's message naming the provider (issue 15).
  for (int status : {401, 403}) {
    respond_with(status, "application/json",
                 R"({"error":{"message":"Incorrect API key provided: sk-canar****-123. You can )"
                 R"(find your API key at https://platform.openai.com/account/api-keys.",)"
                 R"("type":"invalid_request_error"}})");
    Error error = error_of(chat(false));
    EXPECT_EQ(error.code, ErrorCode::kBadGateway);
    // A kBadGateway with an upstream status is what the router's is_retryable() refuses.
    EXPECT_EQ(error.upstream_status, status);
    EXPECT_NE(error.message.find("provider 'fake'"), std::string::npos) << error.message;
    EXPECT_EQ(error.message.find("Incorrect API key"), std::string::npos) << error.message;
    EXPECT_EQ(error.message.find("sk-"), std::string::npos) << error.message;
  }
}

TEST(RedactKeyTest, KeyItsEncodingsPrefixesAndMaskedFormsAreRedacted) {
  const std::string key = "sk-canary-0123456789-123";
  EXPECT_EQ(redact_key("bad key " + key + ".", key), "bad key [redacted].");
  EXPECT_EQ(redact_key("bad key sk-canar****-123 given", key), "bad key [redacted] given");
  EXPECT_EQ(redact_key("key sk-canary-01 is wrong", key), "key [redacted] is wrong");
  // base64 of the key, as in a Basic header a vendor quotes
  EXPECT_EQ(redact_key("Basic c2stY2FuYXJ5LTAxMjM0NTY3ODktMTIz", key).find("c2stY2FuYXJ5"),
            std::string::npos);
  EXPECT_EQ(redact_key("Basic c2stY2FuYXJ5LTAxMjM0NTY3ODktMTIz", key).find("[redacted]"), 6u);
  // Text without the key is kept.
  EXPECT_EQ(redact_key("model 'gpt-4o' not found (code: model_not_found)", key),
            "model 'gpt-4o' not found (code: model_not_found)");
}

TEST_F(OpenAIProviderTest, BadRequestIsInvalidArgument) {
  respond_with(400, "application/json",
               R"({"error":{"message":"context_length_exceeded","param":"messages"}})");
  Error error = error_of(chat(false));
  EXPECT_EQ(error.code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(error.upstream_status, 400);
}

TEST_F(OpenAIProviderTest, NonJsonErrorBodyStillGivesAMessage) {
  respond_with(502, "text/html", "<html><body>Bad Gateway</body></html>");
  Error error = error_of(chat(false));
  EXPECT_EQ(error.code, ErrorCode::kUnavailable);
  EXPECT_EQ(error.upstream_status, 502);
  EXPECT_NE(error.message.find("Bad Gateway"), std::string::npos) << error.message;
}

TEST_F(OpenAIProviderTest, GarbageOkIsBadGateway) {
  respond_with(200, "application/json", "this is not json at all");
  Error error = error_of(chat(false));
  EXPECT_EQ(error.code, ErrorCode::kBadGateway);
  EXPECT_EQ(error.upstream_status, 0);   // from a 2xx: the router may retry it
}

TEST_F(OpenAIProviderTest, WrongShapeOkIsBadGateway) {
  respond_with(200, "application/json", R"({"choices": "nope"})");
  Error error = error_of(chat(false));
  EXPECT_EQ(error.code, ErrorCode::kBadGateway);
}

TEST_F(OpenAIProviderTest, GarbageInStreamIsBadGateway) {
  respond_with_stream({chunk(R"({"role":"assistant","content":"ok"})"), sse_frame("{not json"),
                       sse_frame("[DONE]")});
  auto sink = chat(true);
  Error error = error_of(sink);
  EXPECT_EQ(error.code, ErrorCode::kBadGateway);
  EXPECT_EQ(sink.text(), "ok");   // what came before the garbage was passed on
}

TEST_F(OpenAIProviderTest, ErrorObjectInStreamIsAnError) {
  respond_with_stream({sse_frame(R"({"error":{"message":"overloaded","type":"server_error"}})")});
  Error error = error_of(chat(true));
  EXPECT_NE(error.message.find("overloaded"), std::string::npos) << error.message;
}

TEST_F(OpenAIProviderTest, StreamClosedBeforeDoneWithoutFinishIsUnavailable) {
  respond_with_stream({chunk(R"({"role":"assistant","content":"partial"})")});
  auto sink = chat(true);
  Error error = error_of(sink);
  EXPECT_EQ(error.code, ErrorCode::kUnavailable);
  EXPECT_EQ(sink.text(), "partial");
}

TEST_F(OpenAIProviderTest, StreamClosedAfterFinishWithoutDoneIsFine) {
  respond_with_stream({chunk(R"({"role":"assistant","content":"done"})", R"("stop")")});
  auto sink = chat(true);
  EXPECT_EQ(sink.find(K::kError), nullptr);
  EXPECT_EQ(sink.kinds(), (std::vector<K>{K::kStart, K::kTextDelta, K::kFinish}));
}

TEST_F(OpenAIProviderTest, EmptyStreamIsUnavailable) {
  respond_with_stream({});
  Error error = error_of(chat(true));
  EXPECT_EQ(error.code, ErrorCode::kUnavailable);
}

TEST_F(OpenAIProviderTest, CancelAbandonsAHangingUpstream) {
  std::atomic<bool> entered{false};
  std::atomic<bool> saw_gone{false};
  respond_ = [&](Request&, ResponseWriter& res) -> Task<void> {
    entered = true;
    saw_gone = co_await testkit::wait_for_client_gone(res, 5000);
  };
  auto cancel = std::make_shared<CancelToken>();
  asio::co_spawn(
      io_,
      [&]() -> Task<void> {
        co_await wait_for(entered);
        cancel->cancel(ErrorCode::kDeadlineExceeded, "no first token within 50 ms");
      },
      asio::detached);
  auto start = steady_clock::now();
  auto sink = chat(true, cancel);
  EXPECT_LT(std::chrono::duration_cast<milliseconds>(steady_clock::now() - start).count(), 2000);
  Error error = error_of(sink);
  EXPECT_EQ(error.code, ErrorCode::kDeadlineExceeded);
  EXPECT_TRUE(testkit::eventually(saw_gone));
}

TEST_F(OpenAIProviderTest, UnreachableUpstreamIsUnavailable) {
  uint16_t port = 0;
  {
    tcp::acceptor acceptor(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = acceptor.local_endpoint().port();
  }
  ProviderConfig config;
  config.name = "down";
  config.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  auto provider = OpenAIProvider::create(config);
  ASSERT_TRUE(provider.ok());
  provider_ = std::move(provider.value());
  Error error = error_of(chat(false));
  EXPECT_EQ(error.code, ErrorCode::kUnavailable);
  EXPECT_EQ(error.upstream_status, 0);
}

TEST_F(OpenAIProviderTest, NoApiKeyNoAuthorizationHeader) {
  ProviderConfig config;
  config.name = "local";
  config.base_url = server_->base("/v1");
  provider_ = std::move(OpenAIProvider::create(config).value());
  respond_with(200, "application/json", kWholeAnswer);
  auto sink = chat(false);
  EXPECT_EQ(sink.find(K::kError), nullptr);
  EXPECT_EQ(seen().authorization, "");
}

TEST(OpenAIProviderCreateTest, BadBaseUrlIsRefused) {
  ProviderConfig config;
  config.name = "bad";
  config.base_url = "api.example.com/v1";
  auto provider = OpenAIProvider::create(config);
  ASSERT_FALSE(provider.ok());
  EXPECT_EQ(provider.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(provider.error().message.find("bad"), std::string::npos);
}

TEST(OpenAIProviderCreateTest, DefaultsToOpenAI) {
  ProviderConfig config;
  config.name = "openai";
  auto provider = make_provider(config);
  ASSERT_TRUE(provider.ok()) << provider.error().message;
  EXPECT_EQ(provider.value()->name(), "openai");
  EXPECT_EQ(provider.value()->kind(), ProviderKind::kOpenAI);
  EXPECT_TRUE(provider.value()->capabilities().streaming);
}

// --- upstream_http_error and parse_retry_after -------------------------------------------------

TEST(UpstreamHttpErrorTest, StatusTable) {
  struct Case {
    int status;
    ErrorCode code;
  };
  const Case cases[] = {
      {400, ErrorCode::kInvalidArgument},   {413, ErrorCode::kInvalidArgument},
      {422, ErrorCode::kInvalidArgument},   {408, ErrorCode::kDeadlineExceeded},
      {429, ErrorCode::kResourceExhausted}, {409, ErrorCode::kUnavailable},
      {500, ErrorCode::kUnavailable},       {502, ErrorCode::kUnavailable},
      {503, ErrorCode::kUnavailable},       {504, ErrorCode::kUnavailable},
      {401, ErrorCode::kBadGateway},        {403, ErrorCode::kBadGateway},
      {404, ErrorCode::kBadGateway},        {418, ErrorCode::kBadGateway},
  };
  for (const auto& c : cases) {
    Error error = upstream_http_error(c.status, "msg", "", "");
    EXPECT_EQ(error.code, c.code) << c.status;
    EXPECT_EQ(error.upstream_status, c.status);
    EXPECT_EQ(error.message, "upstream returned " + std::to_string(c.status) + ": msg");
    EXPECT_FALSE(error.retry_after_ms.has_value());
  }
  EXPECT_EQ(upstream_http_error(503, "", "", "").message, "upstream returned 503");
}

TEST(UpstreamHttpErrorTest, RetryAfterHeaders) {
  EXPECT_EQ(upstream_http_error(429, "", "3", "").retry_after_ms, 3000);
  EXPECT_EQ(upstream_http_error(503, "", "1", "250").retry_after_ms, 250);
  EXPECT_EQ(upstream_http_error(429, "", "", "20").retry_after_ms, 20);
  EXPECT_FALSE(upstream_http_error(429, "", "soon", "").retry_after_ms.has_value());
}

std::string http_date(std::time_t when) {
  std::tm tm{};
  gmtime_r(&when, &tm);
  char buffer[64];
  std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buffer;
}

TEST(ParseRetryAfterTest, Seconds) {
  EXPECT_EQ(parse_retry_after("0"), 0);
  EXPECT_EQ(parse_retry_after("2"), 2000);
  EXPECT_EQ(parse_retry_after("120"), 120000);
  EXPECT_EQ(parse_retry_after(" 3 "), 3000);
  EXPECT_EQ(parse_retry_after("1.5"), 1500);   // not in RFC 9110, but some servers send it
  EXPECT_EQ(parse_retry_after("86400"), 86400000);
}

TEST(ParseRetryAfterTest, HttpDate) {
  auto future = parse_retry_after(http_date(std::time(nullptr) + 30));
  ASSERT_TRUE(future.has_value());
  EXPECT_GT(*future, 27000);
  EXPECT_LE(*future, 30000);
  // A date in the past means "now".
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), 0);
}

TEST(ParseRetryAfterTest, GarbageIsNone) {
  for (const char* text : {"", "   ", "soon", "-1", "1e3", ".", "86401", "99999999999999999999",
                           "Wed, 21 Oct 2015", "21 Oct 2015 07:28:00 GMT", "2 seconds"}) {
    EXPECT_FALSE(parse_retry_after(text).has_value()) << "'" << text << "'";
  }
}

}  // namespace
}  // namespace keel
