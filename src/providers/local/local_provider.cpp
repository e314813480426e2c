#include "providers/local/local_provider.h"

#include <common.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>

#include "core/ids.h"
#include "core/log.h"
#include "providers/local/chat_format.h"
#include "providers/local/engine.h"
#include "providers/provider.h"

namespace keel {
namespace {

using local::bad_request;
using local::EmbedJob;
using local::OutputParser;
using local::Prepared;
using local::Engine;
using local::GenerateJob;
using local::GenerateOutput;

// Carries items from the inference thread to one coroutine on its io thread. post() may be
// called from any thread; next() and interrupt() only on the io thread.
template <typename T>
class Mailbox : public std::enable_shared_from_this<Mailbox<T>> {
 public:
  explicit Mailbox(asio::any_io_executor executor) : executor_(executor), timer_(executor) {}

  void post(T item) {
    asio::post(executor_, [self = this->shared_from_this(), item = std::move(item)]() mutable {
      self->items_.push_back(std::move(item));
      self->timer_.cancel();
    });
  }
  void interrupt() { timer_.cancel(); }

  // The next item, or nullopt when interrupted with nothing queued.
  Task<std::optional<T>> next() {
    if (items_.empty()) {
      boost::system::error_code ec;
      timer_.expires_at(asio::steady_timer::time_point::max());
      co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (items_.empty()) co_return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    co_return item;
  }

 private:
  asio::any_io_executor executor_;
  asio::steady_timer timer_;
  std::deque<T> items_;
};

class LocalProvider final : public Provider {
 public:
  LocalProvider(ProviderConfig config, Result<std::unique_ptr<Engine>> engine)
      : config_(std::move(config)) {
    if (!engine.ok()) {
      load_error_ = engine.error();
      KEEL_LOG(kError) << "provider '" << config_.name << "': " << load_error_->message
                       << " (its requests get 503; other providers keep serving)";
      return;
    }
    engine_ = std::move(engine).value();
    model_name_ = std::filesystem::path(config_.model_path).stem().string();
    if (engine_->parallel() > 0 && engine_->context_per_sequence() > 0) can_generate_ = true;
    const llama_vocab* vocab = engine_->vocab();
    for (llama_token token = 0; token < llama_vocab_n_tokens(vocab); ++token) {
      if (llama_vocab_is_eog(vocab, token)) end_tokens_.push_back(token);
    }
    format_ = std::make_unique<local::ChatFormat>(engine_->model(), config_.name, model_name_);
    KEEL_LOG(kInfo) << "provider '" << config_.name << "': loaded " << config_.model_path << " ("
                    << (format_->has_template() ? "chat template"
                                                : "no chat template: plain transcript")
                    << ", " << engine_->parallel() << " sequences of "
                    << engine_->context_per_sequence() << " tokens)";
  }

  const std::string& name() const override { return config_.name; }
  ProviderKind kind() const override { return ProviderKind::kLocal; }
  Capabilities capabilities() const override { return local_capabilities(); }

  Task<void> chat(const ChatRequest& request, const std::string& upstream_model, EventSink& sink,
                  CancelPtr cancel) override;
  Task<Result<Embeddings>> embed(const EmbedRequest& request, const std::string& upstream_model,
                                 CancelPtr cancel) override;
  Task<Result<int64_t>> count_tokens(const ChatRequest& request, const std::string& upstream_model,
                                     CancelPtr cancel) override;
  Task<Result<EmbedTokenCounts>> count_embed_tokens(const std::vector<std::string>& inputs,
                                                    const std::string& upstream_model,
                                                    CancelPtr cancel) override;

 private:
  Status available() const {
    if (load_error_) {
      return Error(ErrorCode::kUnavailable,
                   "local model of provider '" + config_.name + "' is not available: " +
                       load_error_->message);
    }
    return Status();
  }
  // The prompt chat() decodes for `request`: the model is loaded and can chat, and the chat
  // template renders the request.
  Result<Prepared> prepare(const ChatRequest& request) const {
    if (auto status = available(); !status.ok()) return status.error();
    if (!can_generate_) {
      return bad_request("model '" + model_name_ + "' of provider '" + config_.name +
                         "' is an embedding model; it cannot chat");
    }
    return format_->prepare(request);
  }
  std::vector<llama_token> tokenize(const Prepared& prepared) const {
    return common_tokenize(engine_->vocab(), prepared.prompt, /*add_special=*/true,
                           /*parse_special=*/prepared.templated);
  }
  // Tokenizes the prompt (checking it fits the context) and builds the job's sampler.
  Result<std::shared_ptr<GenerateJob>> make_job(Prepared& prepared, int& prompt_tokens) const;

  ProviderConfig config_;
  std::unique_ptr<Engine> engine_;
  std::optional<Error> load_error_;
  std::string model_name_;
  bool can_generate_ = false;
  std::vector<llama_token> end_tokens_;  // end-of-generation tokens, for ignore_eos
  std::unique_ptr<local::ChatFormat> format_;
};

Result<std::shared_ptr<GenerateJob>> LocalProvider::make_job(Prepared& prepared,
                                                             int& prompt_tokens) const {
  const llama_vocab* vocab = engine_->vocab();
  auto job = std::make_shared<GenerateJob>();
  job->prompt = tokenize(prepared);
  prompt_tokens = static_cast<int>(job->prompt.size());
  const int context = engine_->context_per_sequence();
  if (job->prompt.empty()) return bad_request("the prompt is empty", "messages");
  if (prompt_tokens >= context) {
    Error error = bad_request("the prompt is " + std::to_string(prompt_tokens) +
                                  " tokens, but the context of model '" + model_name_ +
                                  "' holds " + std::to_string(context) +
                                  " tokens per sequence (prompt plus answer)",
                              "messages");
    error.type_code = "context_length_exceeded";
    return error;
  }
  // Tokens that must come out as text (tool-call tags) and single-token grammar triggers.
  for (const auto& text : prepared.preserved) {
    auto ids = common_tokenize(vocab, text, false, true);
    if (ids.size() == 1) {
      prepared.sampling.preserved_tokens.insert(ids[0]);
      job->special_ok.push_back(ids[0]);
    }
  }
  for (auto& trigger : prepared.sampling.grammar_triggers) {
    if (trigger.type != COMMON_GRAMMAR_TRIGGER_TYPE_WORD) continue;
    auto ids = common_tokenize(vocab, trigger.value, false, true);
    if (ids.size() == 1 && prepared.sampling.preserved_tokens.count(ids[0])) {
      trigger.type = COMMON_GRAMMAR_TRIGGER_TYPE_TOKEN;
      trigger.token = ids[0];
    }
  }
  if (prepared.sampling.ignore_eos) {
    for (llama_token token : end_tokens_) {
      prepared.sampling.logit_bias.push_back({token, -INFINITY});
    }
  }
  if (prepared.sampling.grammar_lazy && prepared.sampling.grammar_triggers.empty()) {
    prepared.sampling.grammar_lazy = false;
  }
  try {
    job->sampler.reset(common_sampler_init(engine_->model(), prepared.sampling));
  } catch (const std::exception& e) {
    return bad_request(std::string("could not build the sampler: ") + e.what());
  }
  if (!job->sampler) {
    return bad_request("the response_format schema could not be turned into a grammar",
                       "response_format");
  }
  job->stop = prepared.stops;
  job->max_tokens = prepared.max_tokens;
  return job;
}

// Turns the generated text into native events. With a chat template, llama.cpp's chat parser
// splits it into content and tool calls; it is re-run over the whole text as it grows (as
// llama-server does), and only what extends what was already sent is sent.
// A local provider serves one model file: the target's model name (`upstream_model`) is not used.
Task<void> LocalProvider::chat(const ChatRequest& request, const std::string& upstream_model,
                               EventSink& sink, CancelPtr cancel) {
  auto prepared = prepare(request);
  if (!prepared.ok()) {
    co_await sink.on_event(ChatEvent::failure(prepared.error()));
    co_return;
  }
  int prompt_tokens = 0;
  auto made = make_job(prepared.value(), prompt_tokens);
  if (!made.ok()) {
    co_await sink.on_event(ChatEvent::failure(made.error()));
    co_return;
  }
  std::shared_ptr<GenerateJob> job = std::move(made).value();
  auto executor = co_await asio::this_coro::executor;
  auto mailbox = std::make_shared<Mailbox<GenerateOutput>>(executor);
  job->deliver = [mailbox](GenerateOutput out) { mailbox->post(std::move(out)); };
  Engine* engine = engine_.get();
  const CancelRegistration link(cancel, [job, engine, mailbox] {
    job->cancel();
    engine->wake();
    mailbox->interrupt();
  });
  engine_->submit(job);

  // Whatever ends this coroutine early (client gone, consumer refused an event) drops the job.
  struct DropOnExit {
    std::shared_ptr<GenerateJob> job;
    Engine* engine;
    ~DropOnExit() {
      job->cancel();
      engine->wake();
    }
  } drop{job, engine};

  OutputParser parser(prepared->parse_output, prepared->parser);
  // The prompt's length is known now; how much of it the prefix cache serves is not yet.
  ChatEvent start = ChatEvent::start(new_id("chatcmpl-"), model_name_);
  start.usage.prompt_tokens = prompt_tokens;
  start.usage.present = true;
  if (!co_await sink.on_event(std::move(start))) co_return;
  while (true) {
    if (cancel->cancelled()) co_return;
    std::optional<GenerateOutput> out = co_await mailbox->next();
    if (!out) continue;
    if (out->error) {
      co_await sink.on_event(ChatEvent::failure(*out->error));
      co_return;
    }
    for (auto& event : parser.feed(out->text, out->done)) {
      const bool more = co_await sink.on_event(std::move(event));
      if (!more) co_return;
    }
    if (!out->done) continue;
    FinishReason finish = out->finish;
    if (finish == FinishReason::kStop && parser.has_tool_calls()) finish = FinishReason::kToolCalls;
    if (!co_await sink.on_event(ChatEvent::finished(finish))) co_return;
    Usage usage;
    usage.prompt_tokens = out->prompt_tokens;
    usage.completion_tokens = out->completion_tokens;
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    usage.cached_tokens = out->cached_tokens;
    usage.present = true;
    co_await sink.on_event(ChatEvent::usage_event(usage));
    co_return;
  }
}

// The prompt chat() would decode, tokenized as chat() tokenizes it: the count equals the
// prompt_tokens a chat with the same request reports.
Task<Result<int64_t>> LocalProvider::count_tokens(const ChatRequest& request, const std::string&,
                                                  CancelPtr) {
  auto prepared = prepare(request);
  if (!prepared.ok()) co_return prepared.error();
  co_return static_cast<int64_t>(tokenize(*prepared).size());
}

// Tokenized as embed() tokenizes, on the calling thread (the vocabulary is read-only).
Task<Result<EmbedTokenCounts>> LocalProvider::count_embed_tokens(
    const std::vector<std::string>& inputs, const std::string&, CancelPtr) {
  if (auto status = available(); !status.ok()) co_return status.error();
  EmbedTokenCounts counts;
  counts.max_tokens = engine_->embedding_input_limit();
  counts.tokens.reserve(inputs.size());
  for (const auto& input : inputs) {
    counts.tokens.push_back(static_cast<int64_t>(
        common_tokenize(engine_->vocab(), input, /*add_special=*/true, false).size()));
  }
  co_return counts;
}

Task<Result<Embeddings>> LocalProvider::embed(const EmbedRequest& request,
                                              const std::string& upstream_model,
                                              CancelPtr cancel) {
  if (auto status = available(); !status.ok()) co_return status.error();
  const int n_embd = llama_model_n_embd(engine_->model());
  if (request.dimensions && *request.dimensions != n_embd) {
    co_return bad_request("model '" + model_name_ + "' makes " + std::to_string(n_embd) +
                              "-dimensional embeddings; dimensions " +
                              std::to_string(*request.dimensions) + " is not supported",
                          "dimensions");
  }
  auto job = std::make_shared<EmbedJob>();
  int64_t tokens = 0;
  for (const auto& input : request.inputs) {
    job->inputs.push_back(common_tokenize(engine_->vocab(), input, /*add_special=*/true, false));
    tokens += static_cast<int64_t>(job->inputs.back().size());
  }
  using Vectors = Result<std::vector<std::vector<float>>>;
  auto executor = co_await asio::this_coro::executor;
  auto mailbox = std::make_shared<Mailbox<Vectors>>(executor);
  job->deliver = [mailbox](Vectors result) { mailbox->post(std::move(result)); };
  const CancelRegistration link(cancel, [mailbox] { mailbox->interrupt(); });
  engine_->submit(job);
  std::optional<Vectors> result;
  while (!result) {
    if (cancel->cancelled()) co_return cancel->reason();
    result = co_await mailbox->next();
  }
  if (!result->ok()) co_return result->error();
  Embeddings out;
  out.vectors = std::move(*result).value();
  out.model = model_name_;
  out.usage.prompt_tokens = tokens;
  out.usage.total_tokens = tokens;
  out.usage.present = true;
  co_return out;
}

}  // namespace

Result<std::unique_ptr<Provider>> make_local_provider(const ProviderConfig& config) {
  local::EngineOptions options;
  options.model_path = config.model_path;
  options.threads = config.threads;
  options.parallel = config.parallel;
  options.context = config.context;
  options.poll = config.poll;
  std::unique_ptr<Provider> provider =
      std::make_unique<LocalProvider>(config, Engine::load(options));
  return provider;
}

}  // namespace keel
