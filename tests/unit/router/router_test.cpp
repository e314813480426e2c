// Router semantics (DESIGN.md "Router semantics") against a scripted Provider double: each
// call to chat() plays the next step of that provider's script.
#include "router/router.h"

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "http/asio.h"
#include "../http/test_server.h"

namespace keel {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr char kModel[] = "m";

// --- the scripted provider --------------------------------------------------------------------

struct Step {
  enum class Kind {
    kEvents,             // emit `events` (a whole answer when they end in Finish)
    kError,              // emit `events`, then an Error event carrying `error`
    kHang,               // emit `events`, then wait until cancelled
  };
  Kind kind = Kind::kEvents;
  std::vector<ChatEvent> events;
  Error error;
  int delay_ms = 0;      // waited (cancellably) before anything is emitted
};

Step answer(std::string text = "hello", int delay_ms = 0) {
  Usage usage;
  usage.prompt_tokens = 3;
  usage.completion_tokens = 1;
  usage.total_tokens = 4;
  usage.present = true;
  Step step;
  step.kind = Step::Kind::kEvents;
  step.events = {ChatEvent::start("id-" + text, "up"), ChatEvent::text_delta(text),
                 ChatEvent::finished(FinishReason::kStop), ChatEvent::usage_event(usage)};
  step.delay_ms = delay_ms;
  return step;
}

Step fail(ErrorCode code, std::string message = "boom", int upstream_status = 0,
          std::optional<long> retry_after_ms = std::nullopt) {
  Step step;
  step.kind = Step::Kind::kError;
  step.error = Error(code, std::move(message));
  step.error.upstream_status = upstream_status;
  step.error.retry_after_ms = retry_after_ms;
  return step;
}

Step hang() {
  Step step;
  step.kind = Step::Kind::kHang;
  return step;
}

// Start (held back), then an error before any content.
Step start_then_fail(ErrorCode code) {
  Step step = fail(code, "failed after start");
  step.events = {ChatEvent::start("id-failed", "up")};
  return step;
}

// Content reaches the client, then the upstream fails.
Step content_then_fail(ErrorCode code) {
  Step step = fail(code, "failed mid-stream");
  step.events = {ChatEvent::start("id-partial", "up"), ChatEvent::text_delta("partial")};
  return step;
}

// Waits `ms` (forever when negative); false when `cancel` fired first.
Task<bool> wait_or_cancel(int ms, const CancelPtr& cancel) {
  if (cancel->cancelled()) co_return false;
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  if (ms < 0) {
    timer.expires_at(asio::steady_timer::time_point::max());
  } else {
    timer.expires_after(milliseconds(ms));
  }
  size_t handle = cancel->on_cancel([&timer] { timer.cancel(); });
  beast::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  cancel->remove(handle);
  co_return !cancel->cancelled();
}

class ScriptedProvider final : public Provider {
 public:
  explicit ScriptedProvider(std::string name) : name_(std::move(name)) {}

  // Steps played in order; once they run out, every call plays `fallback`.
  void push(Step step) { script_.push_back(std::move(step)); }
  Step fallback = answer();
  // Runs when a call starts hanging (after it listens for cancellation).
  std::function<void()> on_hang;

  int calls = 0;
  std::vector<std::string> models_seen;
  std::vector<std::string> texts_seen;  // each call's first message
  std::vector<Error> cancel_reasons;   // one per call that saw its token fire

  const std::string& name() const override { return name_; }
  ProviderKind kind() const override { return ProviderKind::kOpenAI; }
  Capabilities capabilities() const override {
    return Capabilities{.streaming = true, .count_tokens = counts, .documents = documents};
  }
  bool documents = false;  // Capabilities::documents
  // Token counting: off unless `counts`; each call plays the next of `count_results` (then 42).
  bool counts = false;
  std::deque<Result<int64_t>> count_results;
  int count_calls = 0;

  Task<void> chat(const ChatRequest& request, const std::string& upstream_model, EventSink& sink,
                  CancelPtr cancel) override {
    ++calls;
    models_seen.push_back(upstream_model);
    texts_seen.push_back(request.messages.empty() ? "" : request.messages.front().text());
    Step step = fallback;
    if (!script_.empty()) {
      step = std::move(script_.front());
      script_.pop_front();
    }
    if (step.delay_ms > 0 && !co_await wait_or_cancel(step.delay_ms, cancel)) {
      co_await cancelled(sink, cancel);
      co_return;
    }
    for (auto& event : step.events) {
      if (!co_await sink.on_event(std::move(event))) co_return;
    }
    switch (step.kind) {
      case Step::Kind::kEvents:
        break;
      case Step::Kind::kError:
        co_await sink.on_event(ChatEvent::failure(step.error));
        break;
      case Step::Kind::kHang: {
        if (cancel->cancelled()) {
          co_await cancelled(sink, cancel);
          break;
        }
        auto executor = co_await asio::this_coro::executor;
        if (on_hang) asio::post(executor, on_hang);
        co_await wait_or_cancel(-1, cancel);
        co_await cancelled(sink, cancel);
        break;
      }
    }
  }

  Task<Result<Embeddings>> embed(const EmbedRequest&, const std::string&, CancelPtr) override {
    co_return Error(ErrorCode::kUnavailable, "no embeddings here");
  }

  Task<Result<int64_t>> count_tokens(const ChatRequest&, const std::string& upstream_model,
                                     CancelPtr) override {
    ++count_calls;
    models_seen.push_back(upstream_model);
    if (count_results.empty()) co_return int64_t{42};
    Result<int64_t> result = std::move(count_results.front());
    count_results.pop_front();
    co_return result;
  }

 private:
  // What a real provider does when its token fires: report the token's reason.
  Task<void> cancelled(EventSink& sink, const CancelPtr& cancel) {
    cancel_reasons.push_back(cancel->reason());
    co_await sink.on_event(ChatEvent::failure(cancel->reason()));
  }

  std::string name_;
  std::deque<Step> script_;
};

// The client's side: records everything the router passes on.
class RecordingSink final : public EventSink {
 public:
  Task<bool> on_event(ChatEvent event) override {
    events.push_back(std::move(event));
    co_return true;
  }
  std::vector<ChatEvent::Kind> kinds() const {
    std::vector<ChatEvent::Kind> out;
    for (const auto& event : events) out.push_back(event.kind);
    return out;
  }
  std::string text() const {
    std::string out;
    for (const auto& event : events) {
      if (event.kind == ChatEvent::Kind::kTextDelta) out += event.text;
    }
    return out;
  }
  std::vector<ChatEvent> events;
};

using K = ChatEvent::Kind;

// Not io.run(): work the router leaves behind (an attempt's deadline watcher) must not hold
// the test up.
using testkit::run_until_done;

// --- the fixture ------------------------------------------------------------------------------

class RouterTest : public ::testing::Test {
 protected:
  // Declares provider `name` (target model "<name>-model" unless given) on model "m".
  ScriptedProvider* add_target(const std::string& name, double weight = 1.0,
                               std::string upstream_model = "") {
    auto provider = std::make_unique<ScriptedProvider>(name);
    ScriptedProvider* raw = provider.get();
    providers_[name] = std::move(provider);
    ProviderConfig provider_config;
    provider_config.name = name;
    config_.providers.push_back(provider_config);
    TargetConfig target;
    target.provider = name;
    target.model = upstream_model.empty() ? name + "-model" : upstream_model;
    target.weight = weight;
    model().targets.push_back(target);
    return raw;
  }

  ModelConfig& model() {
    if (config_.models.empty()) {
      ModelConfig model;
      model.name = kModel;
      model.retries = 0;
      model.timeout_ms = 5000;
      model.first_token_timeout_ms = 2000;
      config_.models.push_back(model);
    }
    return config_.models.front();
  }

  void SetUp() override {
    config_.source = "<test>";
    config_.router.backoff_base_ms = 1;
    config_.router.backoff_max_ms = 2;
    config_.router.retry_after_cap_ms = 1000;
    config_.router.breaker_failures = 1000;   // out of the way unless a test wants it
    config_.router.breaker_cooldown_ms = 30000;
  }

  Router& router(const Clock& clock = SteadyClock::instance(), uint64_t seed = 42) {
    if (!router_) router_ = std::make_unique<Router>(config_, std::move(providers_), clock, seed);
    return *router_;
  }

  // Runs one request to completion on the test's io_context.
  ChatOutcome chat(RecordingSink& sink, CancelPtr cancel = std::make_shared<CancelToken>(),
                   std::string model_name = kModel) {
    ChatRequest request;
    request.model = std::move(model_name);
    Message message;
    ContentPart part;
    part.text = "hi";
    message.content.push_back(part);
    request.messages.push_back(message);
    return run(router().chat(request, sink, std::move(cancel)));
  }

  ChatOutcome chat() {
    RecordingSink sink;
    return chat(sink);
  }

  // A request whose user message carries a PDF document.
  ChatOutcome chat_with_document() {
    ChatRequest request;
    request.model = kModel;
    Message message;
    ContentPart part;
    part.type = ContentPart::Type::kDocument;
    auto document = std::make_shared<Document>();
    document->media_type = "application/pdf";
    document->data = "JVBERi0xLjQK";
    part.document = std::move(document);
    message.content.push_back(std::move(part));
    request.messages.push_back(std::move(message));
    RecordingSink sink;
    return run(router().chat(request, sink, std::make_shared<CancelToken>()));
  }

  // Router::count_tokens to completion (its Result has no default for run() to start from).
  Result<int64_t> count_tokens(const ChatRequest& request, std::vector<AttemptRecord>& attempts) {
    std::optional<Result<int64_t>> out;
    auto task = [&]() -> Task<bool> {
      out = co_await router().count_tokens(request, std::make_shared<CancelToken>(), attempts);
      co_return true;
    };
    run(task());
    return std::move(*out);
  }

  template <typename T>
  T run(Task<T> task) {
    return run_until_done(io_, std::move(task));
  }

  static long elapsed_ms(steady_clock::time_point since) {
    return static_cast<long>(
        std::chrono::duration_cast<milliseconds>(steady_clock::now() - since).count());
  }

  static std::vector<std::string> attempt_providers(const ChatOutcome& outcome) {
    std::vector<std::string> out;
    for (const auto& attempt : outcome.attempts) out.push_back(attempt.provider);
    return out;
  }

  static ErrorCode code_of(const ChatOutcome& outcome) {
    EXPECT_FALSE(outcome.status.ok());
    return outcome.status.ok() ? ErrorCode::kInternal : outcome.status.error().code;
  }

  asio::io_context io_;
  Config config_;
  std::map<std::string, std::unique_ptr<Provider>> providers_;
  std::unique_ptr<Router> router_;
};

// --- order, retries, failover -----------------------------------------------------------------

TEST_F(RouterTest, FailsOverInConfiguredOrder) {
  auto* a = add_target("a");
  auto* b = add_target("b");
  auto* c = add_target("c");
  a->fallback = fail(ErrorCode::kUnavailable, "a down");
  b->fallback = fail(ErrorCode::kUnavailable, "b down");
  c->fallback = answer("from-c");

  RecordingSink sink;
  auto outcome = chat(sink);
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error().message;
  EXPECT_EQ(attempt_providers(outcome), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(a->calls, 1);
  EXPECT_EQ(b->calls, 1);
  EXPECT_EQ(c->calls, 1);
  // Each target is asked for its own upstream model.
  EXPECT_EQ(a->models_seen, std::vector<std::string>{"a-model"});
  EXPECT_EQ(c->models_seen, std::vector<std::string>{"c-model"});
  EXPECT_EQ(outcome.provider, "c");
  EXPECT_EQ(outcome.upstream_model, "c-model");
  EXPECT_TRUE(outcome.committed);
  EXPECT_TRUE(outcome.usage.present);
  EXPECT_EQ(outcome.usage.completion_tokens, 1);
  EXPECT_GE(outcome.ttft_ms, 0);
  EXPECT_EQ(sink.text(), "from-c");
  ASSERT_EQ(outcome.attempts.size(), 3u);
  EXPECT_EQ(outcome.attempts[0].status, 503);
  EXPECT_EQ(outcome.attempts[0].error_class, "unavailable");
  EXPECT_EQ(outcome.attempts[0].error_message, "a down");
  EXPECT_EQ(outcome.attempts[2].status, 200);
  EXPECT_EQ(outcome.attempts[2].error_class, "");
  EXPECT_EQ(outcome.attempts[2].completion_tokens, 1);
}

// A request with a document skips the targets that cannot take one; with none left it is a
// 400 naming the feature and the first target, and no target is called.
TEST_F(RouterTest, DocumentsGoOnlyToTargetsThatTakeThem) {
  auto* a = add_target("a");
  auto* b = add_target("b");
  b->documents = true;
  b->fallback = answer("from-b");
  auto outcome = chat_with_document();
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error().message;
  EXPECT_EQ(attempt_providers(outcome), std::vector<std::string>{"b"});
  EXPECT_EQ(a->calls, 0);
  // Requests without one still start at the first target.
  EXPECT_TRUE(chat().status.ok());
  EXPECT_EQ(a->calls, 1);

  b->documents = false;
  outcome = chat_with_document();
  ASSERT_FALSE(outcome.status.ok());
  EXPECT_EQ(outcome.status.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(outcome.status.error().message,
            "document input (application/pdf) is not supported by provider 'a' (kind openai)");
  EXPECT_EQ(outcome.status.error().param, "messages");
  EXPECT_TRUE(outcome.attempts.empty());
  EXPECT_EQ(a->calls, 1);
  EXPECT_EQ(b->calls, 1);
}

// The RequestShaper (prompt variants) is asked before every attempt, retries and failovers
// included, and each attempt's record names what it chose.
TEST_F(RouterTest, ShaperShapesEveryAttemptForItsTarget) {
  auto* a = add_target("a");
  auto* b = add_target("b");
  model().retries = 1;
  a->fallback = fail(ErrorCode::kUnavailable, "a down");
  RecordingSink sink;
  ChatRequest request;
  request.model = kModel;
  int asked = 0;
  RequestShaper shape = [&](const AttemptTarget& target,
                            std::string& variant) -> Result<ChatRequest> {
    ++asked;
    variant = "variant-for-" + target.provider;
    ChatRequest shaped = request;
    Message message;
    ContentPart part;
    part.text = "text for " + target.provider + " " + target.model;
    message.content.push_back(part);
    shaped.messages.push_back(message);
    return shaped;
  };
  auto outcome = run(router().chat(request, sink, std::make_shared<CancelToken>(), shape));
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error().message;
  EXPECT_EQ(asked, 3);
  EXPECT_EQ(a->texts_seen, (std::vector<std::string>{"text for a a-model", "text for a a-model"}));
  EXPECT_EQ(b->texts_seen, (std::vector<std::string>{"text for b b-model"}));
  ASSERT_EQ(outcome.attempts.size(), 3u);
  EXPECT_EQ(outcome.attempts[0].variant, "variant-for-a");
  EXPECT_EQ(outcome.attempts[1].variant, "variant-for-a");
  EXPECT_EQ(outcome.attempts[2].variant, "variant-for-b");
}

// A shaper that cannot shape the request for a target fails that target, without a retry and
// without calling it; the next target is tried.
TEST_F(RouterTest, ShaperErrorFailsOnlyThatTarget) {
  auto* a = add_target("a");
  auto* b = add_target("b");
  model().retries = 2;
  RecordingSink sink;
  ChatRequest request;
  request.model = kModel;
  RequestShaper shape = [&](const AttemptTarget& target,
                            std::string& variant) -> Result<ChatRequest> {
    variant = target.provider + ".prompty";
    if (target.provider == "a") return Error(ErrorCode::kInvalidArgument, "a.prompty:3: bad");
    return request;
  };
  auto outcome = run(router().chat(request, sink, std::make_shared<CancelToken>(), shape));
  ASSERT_TRUE(outcome.status.ok());
  EXPECT_EQ(a->calls, 0);
  EXPECT_EQ(b->calls, 1);
  ASSERT_EQ(outcome.attempts.size(), 2u);
  EXPECT_EQ(outcome.attempts[0].status, 400);
  EXPECT_EQ(outcome.attempts[0].error_message, "a.prompty:3: bad");
  EXPECT_EQ(outcome.attempts[0].variant, "a.prompty");
  EXPECT_EQ(outcome.attempts[1].variant, "b.prompty");
}

TEST_F(RouterTest, RetriesRetryableErrorsOnTheSameTarget) {
  model().retries = 2;
  auto* a = add_target("a");
  auto* b = add_target("b");
  a->fallback = fail(ErrorCode::kUnavailable);
  auto outcome = chat();
  ASSERT_TRUE(outcome.status.ok());
  EXPECT_EQ(a->calls, 3);   // retries: 2 means 3 calls
  EXPECT_EQ(b->calls, 1);
  EXPECT_EQ(attempt_providers(outcome), (std::vector<std::string>{"a", "a", "a", "b"}));
}

TEST_F(RouterTest, RetryThatSucceedsStaysOnTarget) {
  model().retries = 3;
  auto* a = add_target("a");
  auto* b = add_target("b");
  a->push(fail(ErrorCode::kResourceExhausted, "slow down", 429));
  a->push(fail(ErrorCode::kBadGateway, "garbage"));   // garbage from a 2xx: retryable
  auto outcome = chat();
  ASSERT_TRUE(outcome.status.ok());
  EXPECT_EQ(a->calls, 3);
  EXPECT_EQ(b->calls, 0);
  EXPECT_EQ(outcome.provider, "a");
}

TEST_F(RouterTest, NonRetryableErrorIsNotRetriedButFailsOver) {
  model().retries = 3;
  auto* a = add_target("a");
  auto* b = add_target("b");
  auto* c = add_target("c");
  a->fallback = fail(ErrorCode::kInvalidArgument, "bad request", 400);
  b->fallback = fail(ErrorCode::kBadGateway, "bad key", 401);   // a 4xx: not retryable either
  auto outcome = chat();
  ASSERT_TRUE(outcome.status.ok());
  EXPECT_EQ(a->calls, 1);
  EXPECT_EQ(b->calls, 1);
  EXPECT_EQ(c->calls, 1);
  ASSERT_EQ(outcome.attempts.size(), 3u);
  EXPECT_EQ(outcome.attempts[0].status, 400);
  EXPECT_EQ(outcome.attempts[1].status, 401);
}

TEST_F(RouterTest, StreamEndingWithoutFinishIsRetryableBadGateway) {
  model().retries = 1;
  auto* a = add_target("a");
  add_target("b");
  Step truncated;
  truncated.events = {ChatEvent::start()};   // no content, no Finish, no Error
  a->push(truncated);
  auto outcome = chat();
  ASSERT_TRUE(outcome.status.ok());
  EXPECT_EQ(a->calls, 2);
  ASSERT_GE(outcome.attempts.size(), 1u);
  EXPECT_EQ(outcome.attempts[0].error_class, "bad_gateway");
}

TEST_F(RouterTest, RetryAfterAboveCapSkipsToNextTargetWithoutWaiting) {
  config_.router.retry_after_cap_ms = 1000;
  model().retries = 3;
  auto* a = add_target("a");
  auto* b = add_target("b");
  a->fallback = fail(ErrorCode::kResourceExhausted, "rate limited", 429, 60000);
  auto start = steady_clock::now();
  auto outcome = chat();
  long took = elapsed_ms(start);
  ASSERT_TRUE(outcome.status.ok());
  EXPECT_EQ(a->calls, 1);
  EXPECT_EQ(b->calls, 1);
  EXPECT_LT(took, 500);
}

TEST_F(RouterTest, RetryAfterBelowCapIsWaited) {
  config_.router.retry_after_cap_ms = 1000;
  model().retries = 1;
  auto* a = add_target("a");
  auto* b = add_target("b");
  a->push(fail(ErrorCode::kResourceExhausted, "rate limited", 429, 150));
  auto start = steady_clock::now();
  auto outcome = chat();
  long took = elapsed_ms(start);
  ASSERT_TRUE(outcome.status.ok());
  EXPECT_EQ(a->calls, 2);
  EXPECT_EQ(b->calls, 0);
  EXPECT_GE(took, 145);
  EXPECT_LT(took, 900);
}

// --- timeouts and holding events back --------------------------------------------------------

TEST_F(RouterTest, FirstTokenTimeoutCancelsHangingTargetAndFailsOver) {
  model().first_token_timeout_ms = 50;
  auto* a = add_target("a");
  auto* b = add_target("b");
  a->fallback = hang();
  auto start = steady_clock::now();
  RecordingSink sink;
  auto outcome = chat(sink);
  long took = elapsed_ms(start);
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error().message;
  EXPECT_EQ(a->calls, 1);
  EXPECT_EQ(b->calls, 1);
  ASSERT_EQ(a->cancel_reasons.size(), 1u);
  EXPECT_EQ(a->cancel_reasons[0].code, ErrorCode::kDeadlineExceeded);
  ASSERT_EQ(outcome.attempts.size(), 2u);
  EXPECT_EQ(outcome.attempts[0].error_class, "deadline_exceeded");
  EXPECT_EQ(outcome.attempts[0].status, 504);
  EXPECT_NE(outcome.attempts[0].error_message.find("first token"), std::string::npos)
      << outcome.attempts[0].error_message;
  EXPECT_EQ(sink.text(), "hello");
  EXPECT_GE(took, 45);
  EXPECT_LT(took, 1500);
}

TEST_F(RouterTest, SlowButInTimeTargetIsNotCut) {
  model().first_token_timeout_ms = 500;
  auto* a = add_target("a");
  a->fallback = answer("late", 30);
  auto outcome = chat();
  ASSERT_TRUE(outcome.status.ok());
  EXPECT_EQ(a->calls, 1);
  EXPECT_TRUE(a->cancel_reasons.empty());
}

TEST_F(RouterTest, FailureAfterContentIsTerminalAndNotFailedOver) {
  model().retries = 2;
  auto* a = add_target("a");
  auto* b = add_target("b");
  a->fallback = content_then_fail(ErrorCode::kUnavailable);
  RecordingSink sink;
  auto outcome = chat(sink);
  EXPECT_EQ(code_of(outcome), ErrorCode::kUnavailable);
  EXPECT_TRUE(outcome.committed);
  EXPECT_EQ(a->calls, 1);
  EXPECT_EQ(b->calls, 0);
  EXPECT_EQ(sink.kinds(), (std::vector<K>{K::kStart, K::kTextDelta, K::kError}));
  EXPECT_EQ(sink.events.back().error.code, ErrorCode::kUnavailable);
  EXPECT_EQ(sink.text(), "partial");
  ASSERT_EQ(outcome.attempts.size(), 1u);
  EXPECT_GE(outcome.attempts[0].ttft_ms, 0);
}

TEST_F(RouterTest, TimeoutAfterContentIsTerminalToo) {
  model().first_token_timeout_ms = 2000;
  model().timeout_ms = 60;
  auto* a = add_target("a");
  auto* b = add_target("b");
  Step step = hang();
  step.events = {ChatEvent::start(), ChatEvent::text_delta("partial")};
  a->fallback = step;
  RecordingSink sink;
  auto outcome = chat(sink);
  EXPECT_EQ(code_of(outcome), ErrorCode::kDeadlineExceeded);
  EXPECT_TRUE(outcome.committed);
  EXPECT_EQ(b->calls, 0);
  EXPECT_EQ(sink.kinds(), (std::vector<K>{K::kStart, K::kTextDelta, K::kError}));
}

TEST_F(RouterTest, EventsBeforeFirstContentAreHeldBack) {
  auto* a = add_target("a");
  auto* b = add_target("b");
  a->fallback = start_then_fail(ErrorCode::kUnavailable);
  b->fallback = answer("from-b");
  RecordingSink sink;
  auto outcome = chat(sink);
  ASSERT_TRUE(outcome.status.ok());
  EXPECT_EQ(a->calls, 1);
  // Nothing of a's attempt: one Start (b's), no Error.
  EXPECT_EQ(sink.kinds(), (std::vector<K>{K::kStart, K::kTextDelta, K::kFinish, K::kUsage}));
  EXPECT_EQ(sink.events[0].id, "id-from-b");
  EXPECT_EQ(sink.text(), "from-b");
}

TEST_F(RouterTest, FinishWithoutContentCommitsAnEmptyAnswer) {
  auto* a = add_target("a");
  auto* b = add_target("b");
  Step empty;
  empty.events = {ChatEvent::start(), ChatEvent::finished(FinishReason::kStop)};
  a->fallback = empty;
  RecordingSink sink;
  auto outcome = chat(sink);
  ASSERT_TRUE(outcome.status.ok());
  EXPECT_EQ(b->calls, 0);
  EXPECT_EQ(sink.kinds(), (std::vector<K>{K::kStart, K::kFinish}));
}

// --- strategies -------------------------------------------------------------------------------

TEST_F(RouterTest, WeightedStrategyFollowsWeights) {
  model().strategy = Strategy::kWeighted;
  auto* a = add_target("a", 3.0);
  auto* b = add_target("b", 1.0);
  Router& r = router(SteadyClock::instance(), 1234);
  constexpr int kRuns = 4000;
  auto many = [&]() -> Task<int> {
    int ok = 0;
    for (int i = 0; i < kRuns; ++i) {
      RecordingSink sink;
      ChatRequest request;
      request.model = kModel;
      auto outcome = co_await r.chat(request, sink, std::make_shared<CancelToken>());
      if (outcome.status.ok()) ++ok;
    }
    co_return ok;
  };
  EXPECT_EQ(run(many()), kRuns);
  EXPECT_EQ(a->calls + b->calls, kRuns);
  double share_a = static_cast<double>(a->calls) / kRuns;
  EXPECT_NEAR(share_a, 0.75, 0.04) << "a=" << a->calls << " b=" << b->calls;
}

TEST_F(RouterTest, WeightedFallbacksAreTheOtherTargets) {
  model().strategy = Strategy::kWeighted;
  auto* a = add_target("a", 1.0);
  auto* b = add_target("b", 1.0);
  a->fallback = fail(ErrorCode::kUnavailable);
  b->fallback = fail(ErrorCode::kUnavailable);
  for (int i = 0; i < 20; ++i) {
    auto outcome = chat();
    EXPECT_EQ(outcome.attempts.size(), 2u);   // both tried, whichever came first
  }
  EXPECT_EQ(a->calls, 20);
  EXPECT_EQ(b->calls, 20);
}

TEST_F(RouterTest, WeightedIsDeterministicForASeed) {
  auto first_picks = [](uint64_t seed) {
    Config config;
    ModelConfig model;
    model.name = kModel;
    model.strategy = Strategy::kWeighted;
    model.retries = 0;
    std::map<std::string, std::unique_ptr<Provider>> providers;
    for (std::string name : {"a", "b", "c"}) {
      providers[name] = std::make_unique<ScriptedProvider>(name);
      model.targets.push_back(TargetConfig{name, name + "-model", 1.0});
    }
    config.models.push_back(model);
    Router router(config, std::move(providers), SteadyClock::instance(), seed);
    asio::io_context io;
    std::string picks;
    auto many = [&]() -> Task<bool> {
      for (int i = 0; i < 50; ++i) {
        RecordingSink sink;
        ChatRequest request;
        request.model = kModel;
        auto outcome = co_await router.chat(request, sink, std::make_shared<CancelToken>());
        picks += outcome.provider;
      }
      co_return true;
    };
    run_until_done(io, many());
    return picks;
  };
  EXPECT_EQ(first_picks(7), first_picks(7));
  EXPECT_NE(first_picks(7), first_picks(8));
}

TEST_F(RouterTest, LeastLatencyPrefersFasterTargetAfterSamples) {
  model().strategy = Strategy::kLeastLatency;
  auto* slow = add_target("slow");
  auto* fast = add_target("fast");
  slow->fallback = answer("slow", 40);
  fast->fallback = answer("fast", 0);
  // Unmeasured targets go first so they get measured: slow (config order), then fast.
  EXPECT_EQ(chat().provider, "slow");
  EXPECT_EQ(chat().provider, "fast");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(chat().provider, "fast");
  EXPECT_EQ(slow->calls, 1);
  EXPECT_EQ(fast->calls, 6);
  auto status = router().status();
  ASSERT_EQ(status.size(), 2u);
  for (const auto& target : status) {
    EXPECT_GE(target.latency_ewma_ms, 0) << target.provider;
    if (target.provider == "slow") {
      EXPECT_GE(target.latency_ewma_ms, 35);
    }
  }
}

// --- circuit breakers -------------------------------------------------------------------------

Breaker::State breaker_of(const Router& router, const std::string& provider) {
  for (const auto& target : router.status()) {
    if (target.provider == provider) return target.breaker;
  }
  ADD_FAILURE() << "no target " << provider;
  return Breaker::State::kClosed;
}

TEST_F(RouterTest, OpenBreakerSkipsTargetUntilCooldown) {
  config_.router.breaker_failures = 2;
  config_.router.breaker_cooldown_ms = 30000;
  ManualClock clock;
  auto* a = add_target("a");
  auto* b = add_target("b");
  a->fallback = fail(ErrorCode::kUnavailable, "a down");
  Router& r = router(clock);

  EXPECT_TRUE(chat().status.ok());
  EXPECT_EQ(breaker_of(r, "a"), Breaker::State::kClosed);
  EXPECT_TRUE(chat().status.ok());
  EXPECT_EQ(breaker_of(r, "a"), Breaker::State::kOpen);
  EXPECT_EQ(a->calls, 2);

  // Open: a is skipped while b answers.
  auto outcome = chat();
  ASSERT_TRUE(outcome.status.ok());
  EXPECT_EQ(attempt_providers(outcome), std::vector<std::string>{"b"});
  EXPECT_EQ(a->calls, 2);

  // Still open; when b fails, a goes last as a last resort.
  b->push(fail(ErrorCode::kUnavailable, "b down"));
  outcome = chat();
  EXPECT_EQ(attempt_providers(outcome), (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(a->calls, 3);

  // After the cooldown a gets its half-open probe, first in order again; success closes it.
  clock.advance(Millis(30000));
  EXPECT_EQ(breaker_of(r, "a"), Breaker::State::kHalfOpen);
  a->push(answer("a-back"));
  outcome = chat();
  ASSERT_TRUE(outcome.status.ok());
  EXPECT_EQ(attempt_providers(outcome), std::vector<std::string>{"a"});
  EXPECT_EQ(breaker_of(r, "a"), Breaker::State::kClosed);
}

TEST_F(RouterTest, EveryTargetOpenStillTries) {
  config_.router.breaker_failures = 1;
  ManualClock clock;
  auto* a = add_target("a");
  auto* b = add_target("b");
  a->push(fail(ErrorCode::kUnavailable));
  b->push(fail(ErrorCode::kUnavailable));
  Router& r = router(clock);
  auto outcome = chat();
  EXPECT_EQ(code_of(outcome), ErrorCode::kUnavailable);
  EXPECT_EQ(breaker_of(r, "a"), Breaker::State::kOpen);
  EXPECT_EQ(breaker_of(r, "b"), Breaker::State::kOpen);

  // Both open: rather than fail fast, the router tries them anyway.
  outcome = chat();
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error().message;
  EXPECT_EQ(a->calls, 2);
  EXPECT_EQ(outcome.provider, "a");
  EXPECT_EQ(breaker_of(r, "a"), Breaker::State::kClosed);
}

// A client that goes away during a half-open probe must not leave the probe "in flight"
// forever. DISABLED: fails until the fix reported with these tests is applied to
// src/router/router.cpp (record_result is skipped on kCancelled, so Breaker::probe_in_flight_
// stays true and allow() refuses the target for good).
TEST_F(RouterTest, CancelledProbeDoesNotWedgeBreaker) {
  config_.router.breaker_failures = 1;
  config_.router.breaker_cooldown_ms = 1000;
  ManualClock clock;
  auto* a = add_target("a");
  auto* b = add_target("b");
  a->push(fail(ErrorCode::kUnavailable));
  Router& r = router(clock);
  EXPECT_TRUE(chat().status.ok());   // a fails (opens), b answers
  EXPECT_EQ(breaker_of(r, "a"), Breaker::State::kOpen);

  clock.advance(Millis(1000));
  auto cancel = std::make_shared<CancelToken>();
  a->push(hang());
  a->on_hang = [cancel] { cancel->cancel(ErrorCode::kCancelled, "client disconnected"); };
  RecordingSink sink;
  auto outcome = chat(sink, cancel);   // the probe; the client leaves
  EXPECT_EQ(code_of(outcome), ErrorCode::kCancelled);
  EXPECT_EQ(a->calls, 2);
  a->on_hang = nullptr;

  // The next request must be allowed to probe a again.
  outcome = chat();
  ASSERT_TRUE(outcome.status.ok());
  EXPECT_EQ(a->calls, 3);
  EXPECT_EQ(b->calls, 1);
  EXPECT_EQ(outcome.provider, "a");
}

// An attempt's deadline watcher must end with the attempt, not linger until the attempt's
// deadline: otherwise every fast request leaves a timer and a coroutine frame behind for
// timeout_ms (60 s by default). DISABLED: fails until the AttemptTimer fix reported with these
// tests is applied to src/router/router.cpp (watch() starts waiting after the attempt ended).
TEST_F(RouterTest, AttemptLeavesNoTimerBehind) {
  model().timeout_ms = 3000;
  model().first_token_timeout_ms = 3000;
  add_target("a");
  ASSERT_TRUE(chat().status.ok());
  auto start = steady_clock::now();
  io_.restart();
  io_.run();   // returns once nothing is pending
  EXPECT_LT(elapsed_ms(start), 1000);
}

// --- client cancellation ----------------------------------------------------------------------

TEST_F(RouterTest, ClientCancelStopsAtOnce) {
  model().retries = 3;
  auto* a = add_target("a");
  auto* b = add_target("b");
  auto cancel = std::make_shared<CancelToken>();
  a->fallback = hang();
  a->on_hang = [cancel] { cancel->cancel(ErrorCode::kCancelled, "client disconnected"); };
  RecordingSink sink;
  auto start = steady_clock::now();
  auto outcome = chat(sink, cancel);
  EXPECT_LT(elapsed_ms(start), 500);
  EXPECT_EQ(code_of(outcome), ErrorCode::kCancelled);
  EXPECT_EQ(a->calls, 1);
  EXPECT_EQ(b->calls, 0);
  ASSERT_EQ(a->cancel_reasons.size(), 1u);
  EXPECT_EQ(a->cancel_reasons[0].code, ErrorCode::kCancelled);
  ASSERT_EQ(outcome.attempts.size(), 1u);
  EXPECT_EQ(outcome.attempts[0].status, 499);
  EXPECT_TRUE(sink.events.empty());
}

TEST_F(RouterTest, ClientCancelDuringBackoffStopsAtOnce) {
  config_.router.retry_after_cap_ms = 5000;
  model().retries = 3;
  auto* a = add_target("a");
  auto* b = add_target("b");
  a->fallback = fail(ErrorCode::kResourceExhausted, "wait", 429, 3000);
  auto cancel = std::make_shared<CancelToken>();
  asio::steady_timer timer(io_, milliseconds(30));
  timer.async_wait([cancel](const beast::error_code&) {
    cancel->cancel(ErrorCode::kCancelled, "client disconnected");
  });
  RecordingSink sink;
  auto start = steady_clock::now();
  auto outcome = chat(sink, cancel);
  EXPECT_LT(elapsed_ms(start), 1000);
  EXPECT_EQ(code_of(outcome), ErrorCode::kCancelled);
  EXPECT_EQ(a->calls, 1);
  EXPECT_EQ(b->calls, 0);
}

TEST_F(RouterTest, AlreadyCancelledClientTriesNothing) {
  auto* a = add_target("a");
  auto cancel = std::make_shared<CancelToken>();
  cancel->cancel(ErrorCode::kCancelled, "client disconnected");
  RecordingSink sink;
  auto outcome = chat(sink, cancel);
  EXPECT_EQ(code_of(outcome), ErrorCode::kCancelled);
  EXPECT_EQ(a->calls, 0);
}

// --- the final error --------------------------------------------------------------------------

TEST_F(RouterTest, AllTimeoutsGiveDeadlineExceeded) {
  model().first_token_timeout_ms = 20;
  auto* a = add_target("a");
  auto* b = add_target("b");
  a->fallback = hang();
  b->fallback = hang();
  auto outcome = chat();
  EXPECT_EQ(code_of(outcome), ErrorCode::kDeadlineExceeded);
  EXPECT_FALSE(outcome.committed);
  EXPECT_EQ(outcome.attempts.size(), 2u);
}

TEST_F(RouterTest, AllGarbageGivesBadGateway) {
  auto* a = add_target("a");
  auto* b = add_target("b");
  a->fallback = fail(ErrorCode::kBadGateway, "not json");
  b->fallback = fail(ErrorCode::kBadGateway, "not json either");
  auto outcome = chat();
  EXPECT_EQ(code_of(outcome), ErrorCode::kBadGateway);
}

TEST_F(RouterTest, MixedFailuresGiveUnavailableNamingEachTarget) {
  auto* a = add_target("a");
  auto* b = add_target("b");
  auto* c = add_target("c");
  a->fallback = fail(ErrorCode::kDeadlineExceeded, "too slow");
  b->fallback = fail(ErrorCode::kBadGateway, "garbage");
  c->fallback = fail(ErrorCode::kUnavailable, "down");
  auto outcome = chat();
  ASSERT_EQ(code_of(outcome), ErrorCode::kUnavailable);
  const Error& error = outcome.status.error();
  EXPECT_EQ(error.type_code, "all_targets_failed");
  for (const char* part : {"a/a-model: too slow", "b/b-model: garbage", "c/c-model: down", "'m'"})
    EXPECT_NE(error.message.find(part), std::string::npos) << error.message;
}

TEST_F(RouterTest, AllRateLimitedGivesResourceExhaustedWithShortestRetryAfter) {
  config_.router.retry_after_cap_ms = 1000;   // both waits exceed it: no sleeping here
  auto* a = add_target("a");
  auto* b = add_target("b");
  a->fallback = fail(ErrorCode::kResourceExhausted, "slow down", 429, 9000);
  b->fallback = fail(ErrorCode::kResourceExhausted, "slow down", 429, 4000);
  auto outcome = chat();
  ASSERT_EQ(code_of(outcome), ErrorCode::kResourceExhausted);
  ASSERT_TRUE(outcome.status.error().retry_after_ms.has_value());
  EXPECT_EQ(*outcome.status.error().retry_after_ms, 4000);
}

TEST_F(RouterTest, AllRejectingTheRequestGivesInvalidArgument) {
  auto* a = add_target("a");
  auto* b = add_target("b");
  a->fallback = fail(ErrorCode::kInvalidArgument, "messages too long");
  b->fallback = fail(ErrorCode::kInvalidArgument, "context length exceeded");
  auto outcome = chat();
  ASSERT_EQ(code_of(outcome), ErrorCode::kInvalidArgument);
  EXPECT_EQ(outcome.status.error().message, "context length exceeded");
}

TEST_F(RouterTest, UnknownModelIsNotFound) {
  auto* a = add_target("a");
  RecordingSink sink;
  auto outcome = chat(sink, std::make_shared<CancelToken>(), "no-such-model");
  ASSERT_EQ(code_of(outcome), ErrorCode::kNotFound);
  EXPECT_EQ(outcome.status.error().type_code, "model_not_found");
  EXPECT_EQ(outcome.status.error().param, "model");
  EXPECT_EQ(a->calls, 0);
  EXPECT_TRUE(outcome.attempts.empty());
  EXPECT_FALSE(router().has_model("no-such-model"));
  EXPECT_TRUE(router().has_model(kModel));
}

// --- is_retryable -----------------------------------------------------------------------------

TEST(IsRetryableTest, Table) {
  struct Case {
    ErrorCode code;
    int upstream_status;
    bool retryable;
  };
  const Case cases[] = {
      {ErrorCode::kUnavailable, 0, true},          // connect error, closed early
      {ErrorCode::kUnavailable, 503, true},        // 5xx
      {ErrorCode::kUnavailable, 409, true},
      {ErrorCode::kResourceExhausted, 429, true},
      {ErrorCode::kDeadlineExceeded, 0, true},     // our own timeout
      {ErrorCode::kDeadlineExceeded, 408, true},
      {ErrorCode::kBadGateway, 0, true},           // garbage from a 2xx
      {ErrorCode::kBadGateway, 401, false},        // bad key
      {ErrorCode::kBadGateway, 404, false},        // unknown deployment
      {ErrorCode::kInvalidArgument, 400, false},
      {ErrorCode::kInvalidArgument, 0, false},
      {ErrorCode::kCancelled, 0, false},
      {ErrorCode::kNotFound, 0, false},
      {ErrorCode::kInternal, 0, false},
      {ErrorCode::kUnauthenticated, 0, false},
      {ErrorCode::kPermissionDenied, 0, false},
      {ErrorCode::kPayloadTooLarge, 0, false},
  };
  for (const auto& c : cases) {
    Error error(c.code, "x");
    error.upstream_status = c.upstream_status;
    EXPECT_EQ(is_retryable(error), c.retryable)
        << error_code_name(c.code) << " upstream " << c.upstream_status;
  }
}

// --- token counts -----------------------------------------------------------------------------

// count_tokens asks only the targets that can count, in plan order, and fails over from one that
// is down; the attempts are logged, with no prompt tokens (a count is not usage).
TEST_F(RouterTest, CountTokensAsksOnlyTargetsThatCanCountAndFailsOver) {
  auto* cannot = add_target("a");
  auto* down = add_target("b");
  down->counts = true;
  down->count_results.push_back(Error(ErrorCode::kUnavailable, "overloaded"));
  auto* up = add_target("c");
  up->counts = true;
  up->count_results.push_back(int64_t{17});
  ChatRequest request;
  request.model = kModel;
  std::vector<AttemptRecord> attempts;
  auto count = count_tokens(request, attempts);
  ASSERT_TRUE(count.ok()) << count.error().message;
  EXPECT_EQ(*count, 17);
  EXPECT_EQ(cannot->count_calls, 0);
  EXPECT_EQ(down->count_calls, 1);
  EXPECT_EQ(up->models_seen, std::vector<std::string>{"c-model"});
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0].provider, "b");
  EXPECT_EQ(attempts[0].status, 503);
  EXPECT_EQ(attempts[1].status, 200);
  EXPECT_EQ(attempts[1].prompt_tokens, 0);
}

TEST_F(RouterTest, CountTokensWithNoTargetThatCanCountIsA400NamingTheModel) {
  add_target("a");
  ChatRequest request;
  request.model = kModel;
  std::vector<AttemptRecord> attempts;
  auto count = count_tokens(request, attempts);
  ASSERT_FALSE(count.ok());
  EXPECT_EQ(count.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(count.error().message.find("'" + std::string(kModel) + "' has no target that can count"),
            std::string::npos)
      << count.error().message;
  EXPECT_TRUE(attempts.empty());
}

}  // namespace
}  // namespace keel
