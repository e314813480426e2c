#include "providers/local/local_provider.h"

#include <chat.h>
#include <common.h>
#include <json-schema-to-grammar.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>

#include "core/ids.h"
#include "core/log.h"
#include "providers/local/engine.h"
#include "providers/provider.h"

namespace keel {
namespace {

using local::EmbedJob;
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

// Cancels an engine job when the request's token fires, for as long as it lives.
class CancelLink {
 public:
  CancelLink(CancelPtr cancel, std::function<void()> on_cancel) : cancel_(std::move(cancel)) {
    handle_ = cancel_->on_cancel(std::move(on_cancel));
  }
  ~CancelLink() { cancel_->remove(handle_); }
  CancelLink(const CancelLink&) = delete;
  CancelLink& operator=(const CancelLink&) = delete;

 private:
  CancelPtr cancel_;
  size_t handle_ = 0;
};

// What a ChatRequest becomes before it reaches the engine.
struct Prepared {
  std::string prompt;
  bool parse_special = false;         // template output may hold special tokens; user text not
  common_params_sampling sampling;
  std::vector<std::string> stops;
  std::vector<std::string> preserved;
  bool parse_output = false;          // run llama.cpp's chat parser over the generated text
  common_chat_parser_params parser;
  int max_tokens = -1;
};

double number_or(const Json& object, const char* key, double fallback) {
  if (!object.is_object()) return fallback;
  auto it = object.find(key);
  return (it != object.end() && it->is_number()) ? it->get<double>() : fallback;
}

Error bad_request(std::string message, std::string param = {}) {
  Error error(ErrorCode::kInvalidArgument, std::move(message));
  error.param = std::move(param);
  return error;
}

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
    if (llama_model_chat_template(engine_->model(), nullptr) != nullptr) {
      try {
        templates_ = common_chat_templates_init(engine_->model(), "");
      } catch (const std::exception& e) {
        KEEL_LOG(kWarn) << "provider '" << config_.name << "': the model's chat template does "
                        << "not parse (" << e.what() << "); using a plain transcript";
      }
    }
    KEEL_LOG(kInfo) << "provider '" << config_.name << "': loaded " << config_.model_path << " ("
                    << (templates_ ? "chat template" : "no chat template: plain transcript")
                    << ", " << engine_->parallel() << " sequences of "
                    << engine_->context_per_sequence() << " tokens)";
  }

  const std::string& name() const override { return config_.name; }
  ProviderKind kind() const override { return ProviderKind::kLocal; }
  Capabilities capabilities() const override {
    return Capabilities{.streaming = true, .tools = true, .parallel_tools = true,
                        .images = false, .json_schema = true, .embeddings = true};
  }

  Task<void> chat(const ChatRequest& request, const std::string& upstream_model, EventSink& sink,
                  CancelPtr cancel) override;
  Task<Result<Embeddings>> embed(const EmbedRequest& request, const std::string& upstream_model,
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
  Result<Prepared> prepare(const ChatRequest& request) const;
  Status apply_template(const ChatRequest& request, const std::string& schema,
                        Prepared& out) const;
  Result<std::shared_ptr<GenerateJob>> make_job(const ChatRequest& request, Prepared& prepared,
                                                int& prompt_tokens) const;

  ProviderConfig config_;
  std::unique_ptr<Engine> engine_;
  std::optional<Error> load_error_;
  std::string model_name_;
  bool can_generate_ = false;
  common_chat_templates_ptr templates_;
  mutable std::mutex templates_mutex_;  // io threads share the template (jinja state)
};

std::string schema_for(const ChatRequest& request) {
  if (!request.response_format) return {};
  switch (request.response_format->type) {
    case ResponseFormat::Type::kJsonObject:
      return R"({"type":"object"})";
    case ResponseFormat::Type::kJsonSchema:
      return request.response_format->schema.is_object() ? request.response_format->schema.dump()
                                                         : std::string(R"({"type":"object"})");
    case ResponseFormat::Type::kText:
      break;
  }
  return {};
}

Status LocalProvider::apply_template(const ChatRequest& request, const std::string& schema,
                                     Prepared& out) const {
  common_chat_templates_inputs inputs;
  for (const auto& message : request.messages) {
    common_chat_msg msg;
    msg.role = message.role == Role::kDeveloper ? "system" : role_name(message.role);
    msg.content = message.text();
    for (const auto& call : message.tool_calls) {
      msg.tool_calls.push_back({call.name, call.arguments, call.id});
    }
    msg.tool_call_id = message.tool_call_id;
    if (message.role == Role::kTool) msg.tool_name = message.name;
    inputs.messages.push_back(std::move(msg));
  }
  const bool named = request.tool_choice.mode == ToolChoice::Mode::kNamed;
  for (const auto& tool : request.tools) {
    if (named && tool.name != request.tool_choice.name) continue;
    inputs.tools.push_back({tool.name, tool.description, tool.parameters.dump()});
  }
  if (named && inputs.tools.empty()) {
    return bad_request("tool_choice names '" + request.tool_choice.name +
                           "', which is not among the tools",
                       "tool_choice");
  }
  switch (request.tool_choice.mode) {
    case ToolChoice::Mode::kNone: inputs.tool_choice = COMMON_CHAT_TOOL_CHOICE_NONE; break;
    case ToolChoice::Mode::kRequired:
    case ToolChoice::Mode::kNamed: inputs.tool_choice = COMMON_CHAT_TOOL_CHOICE_REQUIRED; break;
    default: inputs.tool_choice = COMMON_CHAT_TOOL_CHOICE_AUTO; break;
  }
  inputs.parallel_tool_calls = request.parallel_tool_calls.value_or(true);
  inputs.json_schema = schema;
  inputs.reasoning_format = COMMON_REASONING_FORMAT_NONE;  // native types have no reasoning
  inputs.add_generation_prompt = true;
  inputs.use_jinja = true;

  common_chat_params params;
  {
    std::lock_guard lock(templates_mutex_);
    params = common_chat_templates_apply(templates_.get(), inputs);
  }
  KEEL_LOG(kDebug) << "local chat template: format " << common_chat_format_name(params.format)
                   << ", grammar " << params.grammar.size() << " bytes"
                   << (params.grammar_lazy ? " (lazy)" : "") << ", "
                   << params.grammar_triggers.size() << " triggers, parser "
                   << params.parser.size() << " bytes";
  out.prompt = std::move(params.prompt);
  out.parse_special = true;
  if (!params.grammar.empty()) {
    const bool tools = !inputs.tools.empty() && inputs.tool_choice != COMMON_CHAT_TOOL_CHOICE_NONE;
    out.sampling.grammar = {tools ? COMMON_GRAMMAR_TYPE_TOOL_CALLS : COMMON_GRAMMAR_TYPE_OUTPUT_FORMAT,
                            std::move(params.grammar)};
  }
  out.sampling.grammar_lazy = params.grammar_lazy;
  out.sampling.generation_prompt = params.generation_prompt;
  out.preserved = params.preserved_tokens;
  for (const auto& trigger : params.grammar_triggers) out.sampling.grammar_triggers.push_back(trigger);
  for (auto& stop : params.additional_stops) out.stops.push_back(std::move(stop));
  out.parse_output = true;
  out.parser = common_chat_parser_params(params);
  out.parser.reasoning_format = COMMON_REASONING_FORMAT_NONE;
  if (!params.parser.empty()) out.parser.parser.load(params.parser);
  return Status();
}

Result<Prepared> LocalProvider::prepare(const ChatRequest& request) const {
  Prepared out;
  for (const auto& message : request.messages) {
    for (const auto& part : message.content) {
      if (part.type == ContentPart::Type::kImage) {
        return bad_request("provider '" + config_.name + "' (kind local) does not accept images",
                           "messages");
      }
    }
  }
  const std::string schema = schema_for(request);
  try {
    if (templates_) {
      if (auto status = apply_template(request, schema, out); !status.ok()) return status.error();
    } else {
      // No chat template: a plain transcript, which is what a base model continues best.
      if (!request.tools.empty() && request.tool_choice.mode != ToolChoice::Mode::kNone) {
        return bad_request("model '" + model_name_ + "' of provider '" + config_.name +
                               "' has no chat template, so it cannot call tools",
                           "tools");
      }
      for (const auto& message : request.messages) {
        const std::string text = message.text();
        if (text.empty()) continue;
        if (!out.prompt.empty()) out.prompt += "\n";
        out.prompt += text;
      }
    }
    if (!schema.empty() && out.sampling.grammar.empty()) {
      out.sampling.grammar = {COMMON_GRAMMAR_TYPE_OUTPUT_FORMAT,
                              json_schema_to_grammar(common_json::parse(schema))};
    }
  } catch (const std::exception& e) {
    return bad_request(std::string("local model cannot serve this request: ") + e.what());
  }

  const Sampling& s = request.sampling;
  auto& sp = out.sampling;
  // llama-server's defaults where the request says nothing.
  sp.temp = static_cast<float>(s.temperature.value_or(0.8));
  sp.top_p = static_cast<float>(s.top_p.value_or(0.95));
  sp.top_k = static_cast<int32_t>(number_or(request.passthrough, "top_k", 40));
  sp.min_p = static_cast<float>(number_or(request.passthrough, "min_p", 0.05));
  sp.penalty_present = static_cast<float>(s.presence_penalty.value_or(0.0));
  sp.penalty_freq = static_cast<float>(s.frequency_penalty.value_or(0.0));
  sp.penalty_repeat =
      static_cast<float>(number_or(request.passthrough, "repeat_penalty", 1.0));
  if (s.seed) sp.seed = static_cast<uint32_t>(*s.seed);
  sp.no_perf = true;
  for (const auto& stop : s.stop) out.stops.push_back(stop);
  if (s.max_tokens) out.max_tokens = static_cast<int>(std::clamp<int64_t>(*s.max_tokens, 0, 1 << 30));
  return out;
}

Result<std::shared_ptr<GenerateJob>> LocalProvider::make_job(const ChatRequest& request,
                                                             Prepared& prepared,
                                                             int& prompt_tokens) const {
  const llama_vocab* vocab = engine_->vocab();
  auto job = std::make_shared<GenerateJob>();
  job->prompt = common_tokenize(vocab, prepared.prompt, /*add_special=*/true,
                                prepared.parse_special);
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
  (void)request;
  return job;
}

// Turns the generated text into native events. With a chat template, llama.cpp's chat parser
// splits it into content and tool calls; it is re-run over the whole text as it grows (as
// llama-server does), and only what extends what was already sent is sent.
class OutputParser {
 public:
  OutputParser(bool parse, common_chat_parser_params params)
      : parse_(parse), params_(std::move(params)) {}

  std::vector<ChatEvent> feed(const std::string& text, bool final) {
    std::vector<ChatEvent> events;
    if (!parse_) {
      if (!text.empty()) events.push_back(ChatEvent::text_delta(text));
      return events;
    }
    raw_ += text;
    common_chat_msg msg;
    try {
      msg = common_chat_parse(raw_, !final, params_);
    } catch (const std::exception&) {
      if (!final) return events;  // a partial parse that fails waits for more text
      msg = common_chat_msg();
      msg.content = raw_;         // the model broke its own format: give the text back
    }
    if (msg.content.size() > content_sent_ &&
        msg.content.compare(0, content_sent_, sent_content_) == 0) {
      std::string delta = msg.content.substr(content_sent_);
      sent_content_ += delta;
      content_sent_ = sent_content_.size();
      events.push_back(ChatEvent::text_delta(std::move(delta)));
    }
    for (size_t i = 0; i < msg.tool_calls.size(); ++i) {
      const auto& call = msg.tool_calls[i];
      // A call is announced once its name is whole: when its arguments have begun, or at the end.
      if (i >= calls_.size()) {
        if (call.name.empty() || (call.arguments.empty() && !final)) break;
        calls_.push_back({call.id.empty() ? new_id("call_") : call.id, 0});
        events.push_back(ChatEvent::tool_call_start(static_cast<int>(i), calls_[i].id, call.name));
      }
      auto& sent = calls_[i];
      if (call.arguments.size() > sent.args_sent) {
        events.push_back(ChatEvent::tool_args_delta(static_cast<int>(i),
                                                    call.arguments.substr(sent.args_sent)));
        sent.args_sent = call.arguments.size();
      }
    }
    return events;
  }
  bool has_tool_calls() const { return !calls_.empty(); }

 private:
  struct SentCall {
    std::string id;
    size_t args_sent = 0;
  };
  bool parse_;
  common_chat_parser_params params_;
  std::string raw_;
  std::string sent_content_;
  size_t content_sent_ = 0;
  std::vector<SentCall> calls_;
};

Task<void> LocalProvider::chat(const ChatRequest& request, const std::string& upstream_model,
                               EventSink& sink, CancelPtr cancel) {
  if (auto status = available(); !status.ok()) {
    co_await sink.on_event(ChatEvent::failure(status.error()));
    co_return;
  }
  if (!can_generate_) {
    const Error error = bad_request("model '" + model_name_ + "' of provider '" + config_.name +
                                    "' is an embedding model; it cannot chat");
    co_await sink.on_event(ChatEvent::failure(error));
    co_return;
  }
  auto prepared = prepare(request);
  if (!prepared.ok()) {
    co_await sink.on_event(ChatEvent::failure(prepared.error()));
    co_return;
  }
  int prompt_tokens = 0;
  auto made = make_job(request, prepared.value(), prompt_tokens);
  if (!made.ok()) {
    co_await sink.on_event(ChatEvent::failure(made.error()));
    co_return;
  }
  std::shared_ptr<GenerateJob> job = std::move(made).value();
  auto executor = co_await asio::this_coro::executor;
  auto mailbox = std::make_shared<Mailbox<GenerateOutput>>(executor);
  job->deliver = [mailbox](GenerateOutput out) { mailbox->post(std::move(out)); };
  Engine* engine = engine_.get();
  const CancelLink link(cancel, [job, engine, mailbox] {
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
  if (!co_await sink.on_event(ChatEvent::start(new_id("chatcmpl-"), model_name_))) co_return;
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
  (void)upstream_model;
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
  const CancelLink link(cancel, [mailbox] { mailbox->interrupt(); });
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
  (void)upstream_model;
  co_return out;
}

}  // namespace

Result<std::unique_ptr<Provider>> make_local_provider(const ProviderConfig& config) {
  local::EngineOptions options;
  options.model_path = config.model_path;
  options.threads = config.threads;
  options.parallel = config.parallel;
  options.context = config.context;
  std::unique_ptr<Provider> provider =
      std::make_unique<LocalProvider>(config, Engine::load(options));
  return provider;
}

}  // namespace keel
