// The local provider end to end through the Provider interface, on a real trained model
// (../shared/models/stories260K.gguf; skipped, saying so, when absent): the plain transcript
// path, continuous batching, the prefix cache, cancellation, stop strings, max_tokens, the
// grammar for response_format, embeddings, and the bad-input cases of issue 4.
#include <gtest/gtest.h>

#include <unistd.h>

#include <common.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/cancel.h"
#include "core/config.h"
#include "http/asio.h"
#include "providers/local/engine.h"
#include "providers/local/fixture.h"
#include "providers/local/stop_filter.h"
#include "providers/provider.h"
#include "../http/test_server.h"

namespace keel {
namespace {

namespace fs = std::filesystem;
using testkit::run_until_done;

const fs::path kStories = fs::path(KEEL_SOURCE_DIR) / ".." / "shared" / "models" / "stories260K.gguf";
// stories260K's greedy continuation (../shared/models/README.md).
constexpr char kGreedyStart[] = ", there was a little girl named Lily";

class Collect final : public EventSink {
 public:
  explicit Collect(int stop_after_text = -1) : stop_after_text_(stop_after_text) {}
  Task<bool> on_event(ChatEvent event) override {
    if (event.kind == ChatEvent::Kind::kTextDelta) {
      text += event.text;
      ++text_events;
    }
    if (event.kind == ChatEvent::Kind::kFinish) finish = event.finish;
    if (event.kind == ChatEvent::Kind::kUsage) usage = event.usage;
    if (event.kind == ChatEvent::Kind::kError) error = event.error;
    events.push_back(std::move(event));
    co_return stop_after_text_ < 0 || text_events < stop_after_text_;
  }
  std::vector<ChatEvent> events;
  std::string text;
  int text_events = 0;
  FinishReason finish = FinishReason::kNone;
  Usage usage;
  std::optional<Error> error;

 private:
  int stop_after_text_;
};

ChatRequest user_says(const std::string& text, double temperature = 0.0) {
  ChatRequest request;
  request.model = "local";
  Message message;
  message.role = Role::kUser;
  ContentPart part;
  part.text = text;
  message.content.push_back(std::move(part));
  request.messages.push_back(std::move(message));
  request.sampling.temperature = temperature;
  return request;
}

ProviderConfig local_config(const std::string& path, int parallel = 4) {
  ProviderConfig config;
  config.name = "local";
  config.kind = ProviderKind::kLocal;
  config.model_path = path;
  config.threads = 1;  // see llama_smoke_test.cpp: 2 threads on a loaded 2-core box stall
  config.parallel = parallel;
  config.context = 512;
  return config;
}

class LocalProviderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kStories)) return;
    auto made = make_provider(local_config(kStories.string()));
    ASSERT_TRUE(made.ok()) << made.error().message;
    provider_ = std::move(made).value().release();
  }
  static void TearDownTestSuite() {
    delete provider_;
    provider_ = nullptr;
  }
  void SetUp() override {
    if (!fs::exists(kStories)) GTEST_SKIP() << "needs " << kStories << " (absent)";
  }

  Collect chat(const ChatRequest& request, CancelPtr cancel = std::make_shared<CancelToken>()) {
    Collect sink;
    run_until_done(io_, run(request, sink, cancel));
    return sink;
  }
  static Task<bool> run(const ChatRequest& request, EventSink& sink, CancelPtr cancel) {
    co_await provider_->chat(request, "default", sink, cancel);
    co_return true;
  }

  static Provider* provider_;
  asio::io_context io_;
};
Provider* LocalProviderTest::provider_ = nullptr;

TEST_F(LocalProviderTest, PlainTranscriptContinuesGreedily) {
  auto request = user_says("Once upon a time");
  request.sampling.max_tokens = 24;
  Collect sink = chat(request);
  ASSERT_FALSE(sink.error) << sink.error->message;
  EXPECT_EQ(sink.text.rfind(kGreedyStart, 0), 0u) << sink.text;
  EXPECT_EQ(sink.finish, FinishReason::kLength);
  EXPECT_EQ(sink.usage.completion_tokens, 24);
  EXPECT_GT(sink.usage.prompt_tokens, 3);
  EXPECT_EQ(sink.usage.total_tokens, sink.usage.prompt_tokens + 24);
  ASSERT_FALSE(sink.events.empty());
  EXPECT_EQ(sink.events.front().kind, ChatEvent::Kind::kStart);
  EXPECT_EQ(sink.events.back().kind, ChatEvent::Kind::kUsage);
}

TEST_F(LocalProviderTest, ConcurrentRequestsDecodeTogetherAndAgree) {
  auto request = user_says("Once upon a time");
  request.sampling.max_tokens = 40;
  std::vector<Collect> sinks(4);
  auto cancel = std::make_shared<CancelToken>();
  int done = 0;
  for (auto& sink : sinks) {
    asio::co_spawn(io_, run(request, sink, cancel), [&](std::exception_ptr, bool) { ++done; });
  }
  while (done < 4 && io_.run_one() > 0) {
  }
  ASSERT_EQ(done, 4);
  for (const auto& sink : sinks) {
    ASSERT_FALSE(sink.error) << sink.error->message;
    EXPECT_EQ(sink.text.rfind(kGreedyStart, 0), 0u) << sink.text;
    EXPECT_EQ(sink.usage.completion_tokens, 40);
  }
}

TEST_F(LocalProviderTest, SharedPrefixReusesTheKvCache) {
  // A long "system prompt" followed by different questions: the second request decodes only
  // what differs.
  std::string system;
  for (int i = 0; i < 20; ++i) system += "The little dog ran to the park and played with a ball. ";
  auto first = user_says(system + "Tom said");
  first.sampling.max_tokens = 4;
  Collect a = chat(first);
  ASSERT_FALSE(a.error) << a.error->message;
  auto second = user_says(system + "Lily asked");
  second.sampling.max_tokens = 4;
  Collect b = chat(second);
  ASSERT_FALSE(b.error) << b.error->message;
  ASSERT_TRUE(b.usage.cached_tokens.has_value());
  EXPECT_GT(*b.usage.cached_tokens, b.usage.prompt_tokens / 2)
      << "prompt " << b.usage.prompt_tokens;
}

TEST_F(LocalProviderTest, StopStringEndsGenerationAndIsNotSent) {
  auto request = user_says("Once upon a time");
  request.sampling.stop = {"Lily"};
  Collect sink = chat(request);
  ASSERT_FALSE(sink.error) << sink.error->message;
  EXPECT_EQ(sink.text, ", there was a little girl named ");
  EXPECT_EQ(sink.finish, FinishReason::kStop);
}

TEST_F(LocalProviderTest, ConsumerThatLeavesDropsTheSequenceAndTheEngineGoesOn) {
  auto request = user_says("Once upon a time");
  request.sampling.max_tokens = 400;
  Collect leaver(/*stop_after_text=*/2);
  auto cancel = std::make_shared<CancelToken>();
  run_until_done(io_, run(request, leaver, cancel));
  EXPECT_EQ(leaver.text_events, 2);
  // The engine is free for the next request at once.
  auto next = user_says("Once upon a time");
  next.sampling.max_tokens = 8;
  Collect sink = chat(next);
  ASSERT_FALSE(sink.error) << sink.error->message;
  EXPECT_EQ(sink.usage.completion_tokens, 8);
}

TEST_F(LocalProviderTest, CancelTokenEndsTheRequestPromptly) {
  auto request = user_says("Once upon a time");
  request.sampling.max_tokens = 100000;
  request.sampling.temperature = 1.0;
  Collect sink;
  auto cancel = std::make_shared<CancelToken>();
  asio::steady_timer timer(io_, std::chrono::milliseconds(50));
  timer.async_wait([&](boost::system::error_code) {
    cancel->cancel(ErrorCode::kCancelled, "client disconnected");
  });
  const auto started = std::chrono::steady_clock::now();
  run_until_done(io_, run(request, sink, cancel));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  EXPECT_EQ(sink.finish, FinishReason::kNone);
}

TEST_F(LocalProviderTest, JsonSchemaIsEnforcedByAGrammar) {
  auto request = user_says("Once upon a time");
  request.response_format = ResponseFormat{};
  request.response_format->type = ResponseFormat::Type::kJsonSchema;
  request.response_format->schema = Json::parse(R"({
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["answer"], "additionalProperties": false})");
  request.sampling.max_tokens = 64;
  Collect sink = chat(request);
  ASSERT_FALSE(sink.error) << sink.error->message;
  Json parsed = Json::parse(sink.text, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << sink.text;
  ASSERT_TRUE(parsed.contains("answer")) << sink.text;
  EXPECT_TRUE(parsed["answer"] == "yes" || parsed["answer"] == "no") << sink.text;
  EXPECT_EQ(sink.finish, FinishReason::kStop);
}

// stories260K has no chat template: a tool_choice naming a tool makes the engine emit the call
// as generic JSON under a grammar, and the provider hands it on as a tool call.
TEST_F(LocalProviderTest, ForcedToolCallWithoutATemplateBecomesACall) {
  auto request = user_says("Once upon a time");
  ToolSpec tool;
  tool.name = "current_time";
  tool.description = "The current time";
  tool.parameters =
      Json::parse(R"({"type":"object","properties":{"utc_offset_minutes":{"type":"integer",)"
                  R"("minimum":-840,"maximum":840}},"additionalProperties":false})");
  request.tools.push_back(tool);
  request.tool_choice.mode = ToolChoice::Mode::kNamed;
  request.tool_choice.name = "current_time";
  request.sampling.max_tokens = 200;
  Collect sink = chat(request);
  ASSERT_FALSE(sink.error) << sink.error->message;
  std::string name;
  std::string args;
  for (const auto& event : sink.events) {
    if (event.kind == ChatEvent::Kind::kToolCallStart) name = event.tool_name;
    if (event.kind == ChatEvent::Kind::kToolArgsDelta) args += event.text;
  }
  EXPECT_EQ(name, "current_time");
  Json parsed = Json::parse(args, nullptr, false);
  EXPECT_TRUE(parsed.is_object()) << args;
  EXPECT_EQ(sink.text, "");
  EXPECT_EQ(sink.finish, FinishReason::kToolCalls);
}

TEST_F(LocalProviderTest, PromptLongerThanTheContextIs400WithTokenCounts) {
  std::string text;
  for (int i = 0; i < 400; ++i) text += "dog cat ";
  Collect sink = chat(user_says(text));
  ASSERT_TRUE(sink.error);
  EXPECT_EQ(sink.error->code, ErrorCode::kInvalidArgument);
  EXPECT_NE(sink.error->message.find("512 tokens per sequence"), std::string::npos)
      << sink.error->message;
  EXPECT_NE(sink.error->message.find("the prompt is "), std::string::npos);
}

TEST_F(LocalProviderTest, ImagesAreRefusedByName) {
  auto request = user_says("look");
  ContentPart image;
  image.type = ContentPart::Type::kImage;
  image.image_url = "https://example.com/a.png";
  request.messages[0].content.push_back(image);
  Collect sink = chat(request);
  ASSERT_TRUE(sink.error);
  EXPECT_EQ(sink.error->code, ErrorCode::kInvalidArgument);
  EXPECT_NE(sink.error->message.find("images"), std::string::npos);
}

TEST_F(LocalProviderTest, EmbeddingsAreNormalisedAndDistinct) {
  EmbedRequest request;
  request.inputs = {"the dog ran", "the dog ran", "a ship sailed far away"};
  auto cancel = std::make_shared<CancelToken>();
  std::optional<Result<Embeddings>> result;
  auto task = [&]() -> Task<bool> {
    result = co_await provider_->embed(request, "default", cancel);
    co_return true;
  };
  run_until_done(io_, task());
  ASSERT_TRUE(result);
  ASSERT_TRUE(result->ok()) << result->error().message;
  const Embeddings& out = result->value();
  ASSERT_EQ(out.vectors.size(), 3u);
  double norm = 0;
  for (float v : out.vectors[0]) norm += double(v) * v;
  EXPECT_NEAR(norm, 1.0, 1e-3);
  EXPECT_EQ(out.vectors[0], out.vectors[1]);
  EXPECT_NE(out.vectors[0], out.vectors[2]);
  EXPECT_GT(out.usage.prompt_tokens, 6);
}

// The engine itself: a cancelled job leaves the batch at the next step, and the slot is free.
TEST(EngineTest, CancelledJobLeavesTheBatchAtOnce) {
  if (!fs::exists(kStories)) GTEST_SKIP() << "needs " << kStories << " (absent)";
  local::EngineOptions options;
  options.model_path = kStories.string();
  options.threads = 1;
  options.parallel = 2;
  options.context = 512;
  auto engine = local::Engine::load(options);
  ASSERT_TRUE(engine.ok()) << engine.error().message;
  auto& e = *engine.value();

  // A grammar that never lets the story end: only the context limit would stop it.
  common_params_sampling sampling;
  sampling.temp = 1.0f;
  sampling.grammar = {COMMON_GRAMMAR_TYPE_USER, R"(root ::= [a-z ]+)"};
  auto job = std::make_shared<local::GenerateJob>();
  job->prompt = common_tokenize(e.vocab(), "Once upon a time", true, false);
  job->sampler.reset(common_sampler_init(e.model(), sampling));
  ASSERT_TRUE(job->sampler);
  std::mutex mutex;
  std::condition_variable cv;
  int outputs = 0;
  bool done = false;
  job->deliver = [&](local::GenerateOutput out) {
    std::lock_guard lock(mutex);
    ++outputs;
    done = done || out.done;
    if (outputs == 3) job->cancel();  // on the inference thread: effective at the next step
    cv.notify_all();
  };
  e.submit(job);
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return outputs >= 3; }));
  }
  const auto decodes = e.stats().decode_calls;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(outputs, 3) << "a cancelled job must get nothing more";
    EXPECT_FALSE(done);
  }
  EXPECT_LE(e.stats().decode_calls, decodes + 1) << "the engine kept decoding a dropped job";

  // Both slots are free: two new jobs run together. The first job's outputs wait until the
  // second is queued: on a busy machine the first could otherwise finish its 16 tokens before
  // this thread submits the second, and the two would never share a batch.
  std::atomic<int> finished{0};
  std::promise<void> both_queued;
  std::shared_future<void> queued = both_queued.get_future().share();
  for (int i = 0; i < 2; ++i) {
    auto next = std::make_shared<local::GenerateJob>();
    next->prompt = job->prompt;
    common_params_sampling greedy;
    greedy.temp = 0;
    next->sampler.reset(common_sampler_init(e.model(), greedy));
    next->max_tokens = 16;
    next->deliver = [&finished, queued](local::GenerateOutput out) {
      queued.wait();
      if (out.done) ++finished;
    };
    e.submit(next);
  }
  both_queued.set_value();
  for (int i = 0; i < 2000 && finished < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(finished.load(), 2);
  EXPECT_EQ(e.stats().max_batch_sequences, 2u);
}

// The engine's compute threads are made once, at load, and kept: without a persistent pool ggml
// makes and joins a thread per decode, which on an idle VM made streamed tokens arrive in bursts
// with 10-25 ms gaps (issue 16). The threads alive after load are the inference thread and the
// pool's workers (threads - 1: the inference thread is the pool's first); generating changes none.
std::set<std::string> task_ids() {
  std::set<std::string> ids;
  for (const auto& entry : fs::directory_iterator("/proc/self/task")) {
    ids.insert(entry.path().filename().string());
  }
  return ids;
}

TEST(EngineTest, ComputeThreadsAreMadeOnceAtLoadAndKept) {
  if (!fs::exists(kStories)) GTEST_SKIP() << "needs " << kStories << " (absent)";
  const auto before = task_ids();
  local::EngineOptions options;
  options.model_path = kStories.string();
  options.threads = 2;  // more would crawl on a busy 2-core machine: ggml's barriers spin
  options.parallel = 1;
  options.context = 256;
  auto engine = local::Engine::load(options);
  ASSERT_TRUE(engine.ok()) << engine.error().message;
  auto& e = *engine.value();
  const auto loaded = task_ids();
  std::vector<std::string> added;
  std::set_difference(loaded.begin(), loaded.end(), before.begin(), before.end(),
                      std::back_inserter(added));
  EXPECT_EQ(added.size(), 2u) << "the inference thread and the pool's worker";

  for (int run = 0; run < 2; ++run) {
    auto job = std::make_shared<local::GenerateJob>();
    job->prompt = common_tokenize(e.vocab(), "Once upon a time", true, false);
    common_params_sampling greedy;
    greedy.temp = 0;
    job->sampler.reset(common_sampler_init(e.model(), greedy));
    job->max_tokens = 8;
    std::promise<void> done;
    std::set<std::string> seen_during;
    job->deliver = [&](local::GenerateOutput out) {
      // On the inference thread, between two decodes: the pool's workers are still there.
      if (seen_during.empty()) seen_during = task_ids();
      if (out.done) done.set_value();
    };
    e.submit(job);
    ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(60)), std::future_status::ready);
    EXPECT_EQ(seen_during, loaded) << "threads came or went while generating (run " << run << ")";
  }
  EXPECT_EQ(task_ids(), loaded);
  EXPECT_GE(e.stats().decode_calls, 14u);
}

// --- embedding inputs and their limit (the fixture BERT, generated here) ---------------------

// count_embed_tokens counts as embed() tokenizes, against the embeddings context: an input of
// exactly the limit embeds, one token more is refused as too long (knowledge::is_too_long's
// wording), so a knowledge base can cut its chunks to fit before embedding them.
TEST(LocalEmbedLimitTest, CountsAreWhatEmbedTakesAndTheLimitIsTheEmbeddingsContext) {
  const fs::path dir = fs::temp_directory_path() / ("keel-embed-limit-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "bert.gguf").string();
  ASSERT_TRUE(write_fixture_model(path, FixtureArch::kBert).ok());
  auto made = make_provider(local_config(path, 1));
  ASSERT_TRUE(made.ok()) << made.error().message;
  Provider& provider = *made.value();
  asio::io_context io;
  auto cancel = std::make_shared<CancelToken>();
  const auto count = [&](std::vector<std::string> inputs) {
    std::optional<Result<EmbedTokenCounts>> out;
    auto task = [&]() -> Task<bool> {
      out = co_await provider.count_embed_tokens(inputs, "default", cancel);
      co_return true;
    };
    run_until_done(io, task());
    return std::move(*out);
  };
  const auto embed = [&](std::string input) {
    EmbedRequest request;
    request.inputs = {std::move(input)};
    std::optional<Result<Embeddings>> out;
    auto task = [&]() -> Task<bool> {
      out = co_await provider.embed(request, "default", cancel);
      co_return true;
    };
    run_until_done(io, task());
    return std::move(*out);
  };

  auto counts = count({"hello world", "os.path.join(a, b)"});
  ASSERT_TRUE(counts.ok()) << counts.error().message;
  const int64_t limit = fixture_dims(FixtureArch::kBert).n_ctx_train;
  EXPECT_EQ(counts->max_tokens, limit);
  ASSERT_EQ(counts->tokens.size(), 2u);
  auto small = embed("hello world");
  ASSERT_TRUE(small.ok()) << small.error().message;
  EXPECT_EQ(small->usage.prompt_tokens, counts->tokens[0]) << "[CLS] hello world [SEP]";

  // "hello " n times: n + 2 tokens with [CLS] and [SEP].
  const auto hellos = [](int64_t n) {
    std::string text;
    for (int64_t i = 0; i < n; ++i) text += "hello ";
    return text;
  };
  auto edge = count({hellos(limit - 2), hellos(limit - 1)});
  ASSERT_TRUE(edge.ok());
  ASSERT_EQ(edge->tokens, (std::vector<int64_t>{limit, limit + 1}));
  auto at_limit = embed(hellos(limit - 2));
  EXPECT_TRUE(at_limit.ok()) << at_limit.error().message;
  auto over = embed(hellos(limit - 1));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(over.error().message, "input 0 is too long: " + std::to_string(limit + 1) +
                                      " tokens; this model embeds 1 to " + std::to_string(limit));
  fs::remove_all(dir);
}

// --- bad model files: the provider is made, and its requests get 503 naming the file -------

class BadModelTest : public ::testing::Test {
 protected:
  fs::path dir_ = fs::temp_directory_path() / ("keel-bad-model-" + std::to_string(getpid()));
  void SetUp() override { fs::create_directories(dir_); }
  void TearDown() override { fs::remove_all(dir_); }

  Error chat_error(const fs::path& path) {
    auto made = make_provider(local_config(path.string()));
    EXPECT_TRUE(made.ok()) << "a bad model file must not stop keel";
    if (!made.ok()) return made.error();
    asio::io_context io;
    Collect sink;
    auto cancel = std::make_shared<CancelToken>();
    auto task = [&]() -> Task<bool> {
      co_await made.value()->chat(user_says("hi"), "default", sink, cancel);
      co_return true;
    };
    run_until_done(io, task());
    EXPECT_TRUE(sink.error);
    return sink.error.value_or(Error());
  }
};

TEST_F(BadModelTest, MissingFile) {
  Error error = chat_error(dir_ / "nope.gguf");
  EXPECT_EQ(error.code, ErrorCode::kUnavailable);
  EXPECT_NE(error.message.find("nope.gguf"), std::string::npos) << error.message;
}

TEST_F(BadModelTest, NotAGguf) {
  std::ofstream(dir_ / "text.gguf") << "this is not a model";
  Error error = chat_error(dir_ / "text.gguf");
  EXPECT_EQ(error.code, ErrorCode::kUnavailable);
  EXPECT_NE(error.message.find("text.gguf"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("not a GGUF"), std::string::npos) << error.message;
}

TEST_F(BadModelTest, TruncatedGguf) {
  if (!fs::exists(kStories)) GTEST_SKIP() << "needs " << kStories << " (absent)";
  fs::copy_file(kStories, dir_ / "cut.gguf");
  fs::resize_file(dir_ / "cut.gguf", fs::file_size(kStories) / 2);
  Error error = chat_error(dir_ / "cut.gguf");
  EXPECT_EQ(error.code, ErrorCode::kUnavailable);
  EXPECT_NE(error.message.find("cut.gguf"), std::string::npos) << error.message;
}

TEST_F(BadModelTest, LargerThanFreeMemoryIsRefused) {
  // A sparse file bigger than any machine's free memory, with a GGUF magic.
  const fs::path path = dir_ / "huge.gguf";
  std::ofstream(path) << "GGUF";
  fs::resize_file(path, local::available_memory_bytes() + (uint64_t(1) << 30));  // sparse
  Error error = chat_error(path);
  EXPECT_EQ(error.code, ErrorCode::kUnavailable);
  EXPECT_NE(error.message.find("memory"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("huge.gguf"), std::string::npos) << error.message;
}

// --- the stop filter, without a model -------------------------------------------------------

TEST(StopFilterTest, HoldsBackAPossibleStopAndCutsAtIt) {
  local::StopFilter filter({"END"});
  EXPECT_EQ(filter.push("hello E"), "hello ");
  EXPECT_EQ(filter.push("N"), "");
  EXPECT_EQ(filter.push("X"), "ENX");
  EXPECT_EQ(filter.push(" and EN"), " and ");
  EXPECT_EQ(filter.push("D more"), "");
  EXPECT_TRUE(filter.stopped());
  EXPECT_EQ(filter.flush(), "");
}

TEST(StopFilterTest, HoldsBackAnIncompleteUtf8Sequence) {
  local::StopFilter filter;
  const std::string euro = "\xE2\x82\xAC";
  EXPECT_EQ(filter.push("a" + euro.substr(0, 2)), "a");
  EXPECT_EQ(filter.push(euro.substr(2)), euro);
  EXPECT_EQ(filter.push("\xF0\x9F"), "");
  EXPECT_EQ(filter.flush(), "\xF0\x9F");
}

}  // namespace
}  // namespace keel
