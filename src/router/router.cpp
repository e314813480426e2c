#include "router/router.h"

#include <algorithm>
#include <chrono>
#include <iterator>

#include "api/openai_chat/openai_chat.h"
#include "core/log.h"
#include "http/deadline.h"

namespace keel {

namespace {

// The client's 404 for a public name that is not a model here (OpenAI's model_not_found).
Error model_not_found(const std::string& name) {
  Error error(ErrorCode::kNotFound, "model '" + name + "' does not exist");
  error.type_code = "model_not_found";
  error.param = "model";
  return error;
}

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

int64_t elapsed_ms(steady_clock::time_point since) {
  return duration_cast<milliseconds>(steady_clock::now() - since).count();
}

// Cancels an attempt when its first-token or total deadline passes. Moved to the total deadline
// once the first content arrives; disarmed when destroyed. A Deadline, not a timer of its own:
// arming, moving and disarming one costs no syscall and no event-loop round (http/deadline.h).
class AttemptTimer {
 public:
  AttemptTimer(const asio::any_io_executor& executor, CancelPtr cancel, int first_token_ms,
               int total_ms)
      : cancel_(std::move(cancel)),
        first_token_ms_(first_token_ms),
        total_ms_(total_ms),
        total_deadline_(steady_clock::now() + milliseconds(total_ms)) {
    auto first_deadline = steady_clock::now() + milliseconds(first_token_ms);
    deadline_.arm(executor, std::min(first_deadline, total_deadline_), &AttemptTimer::expired,
                  this);
  }
  AttemptTimer(const AttemptTimer&) = delete;
  AttemptTimer& operator=(const AttemptTimer&) = delete;

  void on_first_content() {
    committed_ = true;
    deadline_.move_to(total_deadline_);   // no-op if it has fired already
  }

 private:
  static void expired(void* arg) {
    auto* self = static_cast<AttemptTimer*>(arg);
    bool total = self->committed_ || self->total_ms_ <= self->first_token_ms_;
    self->cancel_->cancel(
        ErrorCode::kDeadlineExceeded,
        total ? "no complete answer within " + std::to_string(self->total_ms_) + " ms"
              : "no first token within " + std::to_string(self->first_token_ms_) + " ms");
  }

  CancelPtr cancel_;
  int first_token_ms_;
  int total_ms_;
  bool committed_ = false;
  steady_clock::time_point total_deadline_;
  Deadline deadline_;
};

// Holds an attempt's events back until its first content (or its Finish), then passes them
// to the client. An Error event is kept for the router, never passed on.
class AttemptSink final : public BatchEventSink {
 public:
  AttemptSink(EventSink& client, std::function<void()> on_commit)
      : client_(client), on_commit_(std::move(on_commit)) {}

  // What may go to the client goes in one batch, in this very vector: held events once
  // committed, then the rest up to an Error (which is kept for the router and ends the attempt).
  Task<bool> on_events(std::vector<ChatEvent>& events) override {
    auto error = std::find_if(events.begin(), events.end(), [](const ChatEvent& event) {
      return event.kind == ChatEvent::Kind::kError;
    });
    const bool failed_now = error != events.end();
    if (failed_now) {
      error_ = std::move(error->error);
      failed_ = true;
      events.erase(error, events.end());
    }
    bool commit_point = false;   // content or a Finish: this attempt's answer has begun
    for (const auto& event : events) {
      if (event.kind == ChatEvent::Kind::kUsage) usage_ = event.usage;
      if (event.kind == ChatEvent::Kind::kFinish) finished_ = true;
      commit_point = commit_point || event.is_content() || event.kind == ChatEvent::Kind::kFinish;
    }
    if (!committed_) {
      if (!commit_point) {   // nothing the client may see yet: another attempt may still answer
        held_.insert(held_.end(), std::make_move_iterator(events.begin()),
                     std::make_move_iterator(events.end()));
        co_return !failed_now;
      }
      committed_ = true;
      on_commit_();
      events.insert(events.begin(), std::make_move_iterator(held_.begin()),
                    std::make_move_iterator(held_.end()));
      held_.clear();
    }
    if (!events.empty()) {
      const bool accepted = co_await client_.on_events(events);
      if (!accepted) co_return client_refused();
    }
    co_return !failed_now;
  }

  bool committed() const { return committed_; }
  bool failed() const { return failed_; }
  bool finished() const { return finished_; }
  bool client_gone() const { return client_gone_; }
  const Error& error() const { return error_; }
  const Usage& usage() const { return usage_; }

 private:
  bool client_refused() {
    client_gone_ = true;
    return false;
  }
  EventSink& client_;
  std::function<void()> on_commit_;
  std::vector<ChatEvent> held_;
  bool committed_ = false;
  bool failed_ = false;
  bool finished_ = false;
  bool client_gone_ = false;
  Error error_;
  Usage usage_;
};

int attempt_status(const Error& error) {
  return error.upstream_status != 0 ? error.upstream_status : http_status_for(error.code);
}

}  // namespace

bool is_retryable(const Error& error) {
  switch (error.code) {
    case ErrorCode::kUnavailable:
    case ErrorCode::kResourceExhausted:
    case ErrorCode::kDeadlineExceeded:
      return true;
    case ErrorCode::kBadGateway:
      // Garbage from a 2xx is retryable; a bad key or unknown deployment (4xx) is not.
      return error.upstream_status == 0;
    default:
      return false;
  }
}

Router::Router(const Config& config, std::map<std::string, std::unique_ptr<Provider>> providers,
               const Clock& clock, uint64_t seed)
    : clock_(clock), router_config_(config.router), providers_(std::move(providers)), rng_(seed) {
  for (const auto& model_config : config.models) {
    Model model;
    model.config = model_config;
    for (const auto& target_config : model_config.targets) {
      auto it = providers_.find(target_config.provider);
      if (it == providers_.end()) continue;   // config validation already rejects this
      Target target;
      target.config = target_config;
      target.provider = it->second.get();
      target.breaker = std::make_unique<Breaker>(router_config_.breaker_failures,
                                                 Millis(router_config_.breaker_cooldown_ms));
      model.targets.push_back(std::move(target));
    }
    models_.emplace(model_config.name, std::move(model));
  }
}

std::vector<std::string> Router::model_names() const {
  std::vector<std::string> names;
  for (const auto& [name, model] : models_) names.push_back(name);
  return names;
}

const Provider* Router::provider(const std::string& name) const {
  auto it = providers_.find(name);
  return it == providers_.end() ? nullptr : it->second.get();
}

Router::Plan Router::make_plan(Model& model) {
  std::lock_guard lock(mutex_);
  Plan plan;
  for (auto& target : model.targets) plan.order.push_back(&target);
  switch (model.config.strategy) {
    case Strategy::kFailover:
      break;
    case Strategy::kWeighted: {
      // Weighted sampling without replacement: the first pick follows the weights, the rest
      // are the fallbacks.
      std::vector<Target*> rest = plan.order;
      plan.order.clear();
      while (!rest.empty()) {
        double total = 0;
        for (auto* t : rest) total += t->config.weight;
        double pick = std::uniform_real_distribution<double>(0, total)(rng_);
        size_t chosen = rest.size() - 1;
        for (size_t i = 0; i < rest.size(); ++i) {
          pick -= rest[i]->config.weight;
          if (pick < 0) {
            chosen = i;
            break;
          }
        }
        plan.order.push_back(rest[chosen]);
        rest.erase(rest.begin() + static_cast<long>(chosen));
      }
      break;
    }
    case Strategy::kLeastLatency:
      // Unmeasured targets first so they get measured; then the fastest.
      std::stable_sort(plan.order.begin(), plan.order.end(), [](Target* a, Target* b) {
        return a->latency_ewma_ms < b->latency_ewma_ms;
      });
      break;
  }
  // Targets whose breaker is open go last: tried only when every other one has failed.
  auto now = clock_.now();
  std::stable_partition(plan.order.begin(), plan.order.end(), [now](Target* t) {
    return t->breaker->state(now) != Breaker::State::kOpen;
  });
  return plan;
}

bool Router::allow(Target& target, bool& probe) {
  std::lock_guard lock(mutex_);
  auto now = clock_.now();
  bool half_open = target.breaker->state(now) == Breaker::State::kHalfOpen;
  bool allowed = target.breaker->allow(now);
  probe = half_open && allowed;
  return allowed;
}

void Router::abandon_probe(Target& target) {
  std::lock_guard lock(mutex_);
  target.breaker->on_abandoned();
}

void Router::record_result(Target& target, bool ok, double latency_ms) {
  std::lock_guard lock(mutex_);
  if (ok) {
    target.breaker->on_success();
    constexpr double kAlpha = 0.3;
    target.latency_ewma_ms = target.latency_ewma_ms < 0
                                 ? latency_ms
                                 : kAlpha * latency_ms + (1 - kAlpha) * target.latency_ewma_ms;
  } else {
    target.breaker->on_failure(clock_.now());
  }
}

long Router::backoff_ms(int attempt, const Error& error, bool& give_up_target) {
  give_up_target = false;
  if (error.retry_after_ms) {
    // Waiting longer than the cap is worse than trying the next target.
    if (*error.retry_after_ms > router_config_.retry_after_cap_ms) {
      give_up_target = true;
      return 0;
    }
    return *error.retry_after_ms;
  }
  double base = std::min<double>(router_config_.backoff_max_ms,
                                 router_config_.backoff_base_ms * double(1L << std::min(attempt, 20)));
  std::lock_guard lock(mutex_);
  double jitter = std::uniform_real_distribution<double>(0.5, 1.0)(rng_);
  return static_cast<long>(base * jitter);
}

Task<bool> Router::sleep_ms(long ms, const CancelPtr& cancel) {
  if (ms <= 0) co_return !cancel->cancelled();
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor, milliseconds(ms));
  const CancelRegistration wake(cancel, [&timer] { timer.cancel(); });
  beast::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return !cancel->cancelled();
}

Error Router::final_error(const Model& model,
                          const std::vector<std::pair<Target*, Error>>& failures) {
  std::string detail;
  bool same_code = true;
  std::optional<long> retry_after;
  for (const auto& [target, error] : failures) {
    if (!detail.empty()) detail += "; ";
    detail += target->config.provider + "/" + target->config.model + ": " + error.message;
    same_code = same_code && error.code == failures.front().second.code;
    if (error.retry_after_ms && (!retry_after || *error.retry_after_ms < *retry_after))
      retry_after = error.retry_after_ms;
  }
  const std::string& name = model.config.name;
  if (failures.empty()) return Error(ErrorCode::kUnavailable, "model '" + name + "' has no targets");
  ErrorCode first = failures.front().second.code;
  Error error;
  if (same_code && first == ErrorCode::kDeadlineExceeded) {
    error = Error(first, "model '" + name + "' timed out: " + detail);
  } else if (same_code && first == ErrorCode::kBadGateway) {
    error = Error(first, "model '" + name + "' got an invalid upstream response: " + detail);
  } else if (same_code && first == ErrorCode::kInvalidArgument) {
    // The upstreams all rejected the request itself: that is the client's error to see, with
    // the field at fault when the last one named it (a vendor that cannot take logit_bias).
    error = Error(first, failures.back().second.message);
    error.param = failures.back().second.param;
  } else if (same_code && first == ErrorCode::kResourceExhausted) {
    error = Error(first, "model '" + name + "' is rate limited upstream: " + detail);
    error.retry_after_ms = retry_after;
  } else {
    error = Error(ErrorCode::kUnavailable,
                  "all targets failed for model '" + name + "': " + detail);
  }
  error.type_code = error.code == ErrorCode::kUnavailable ? "all_targets_failed" : "";
  return error;
}

// A request that carries a document goes only to targets whose provider takes documents; the
// others are skipped, and when none is left the request is a 400 naming the feature and the
// first target's provider, before any upstream call.
Status Router::keep_document_targets(const ChatRequest& request, Plan& plan) {
  const ContentPart* document = first_document(request.messages);
  if (!document || plan.order.empty()) return Status::Ok();
  Target* first = plan.order.front();
  std::erase_if(plan.order,
                [](Target* target) { return !target->provider->capabilities().documents; });
  if (!plan.order.empty()) return Status::Ok();
  return document_unsupported(*document->document,
                              "provider '" + first->config.provider + "' (kind " +
                                  provider_kind_name(first->provider->kind()) + ")");
}

Task<ChatOutcome> Router::chat(const ChatRequest& request, EventSink& client, CancelPtr client_gone,
                               const RequestShaper& shape) {
  ChatOutcome outcome;
  auto model_it = models_.find(request.model);
  if (model_it == models_.end()) {
    outcome.status = model_not_found(request.model);
    co_return outcome;
  }
  Model& model = model_it->second;
  auto executor = co_await asio::this_coro::executor;
  auto request_start = steady_clock::now();
  Plan plan = make_plan(model);
  if (auto refused = keep_document_targets(request, plan); !refused.ok()) {
    outcome.status = refused.error();
    co_return outcome;
  }
  size_t open_start = plan.order.size();
  {
    std::lock_guard lock(mutex_);
    auto now = clock_.now();
    for (size_t i = 0; i < plan.order.size(); ++i) {
      if (plan.order[i]->breaker->state(now) == Breaker::State::kOpen) {
        open_start = i;
        break;
      }
    }
  }
  std::vector<std::pair<Target*, Error>> failures;

  std::vector<Target*> order = plan.order;
  std::vector<Target*> skipped;
  for (size_t index = 0; index < order.size(); ++index) {
    Target& target = *order[index];
    // A target whose breaker says no is skipped while others remain; the open ones at the end
    // are tried anyway, as a last resort, and so are skipped ones when nothing else was tried
    // (DESIGN.md: never fail fast on breakers alone).
    bool probe = false;   // this request holds the target's half-open probe slot
    if (!allow(target, probe) && index < open_start) {
      skipped.push_back(&target);
      if (index + 1 == order.size() && failures.empty()) {
        open_start = order.size();
        order.insert(order.end(), skipped.begin(), skipped.end());
      }
      continue;
    }
    Error last_error;
    for (int attempt = 0; attempt <= model.config.retries; ++attempt) {
      if (client_gone->cancelled()) break;
      AttemptRecord record;
      record.started_ms = unix_millis();
      record.provider = target.config.provider;
      record.target_model = target.config.model;
      std::optional<ChatRequest> shaped;
      if (shape) {
        auto result = shape(
            AttemptTarget{target.config.provider, target.provider->kind(), target.config.model},
            record.variant);
        if (!result) {
          record.status = attempt_status(result.error());
          record.error_class = error_code_name(result.error().code);
          record.error_message = result.error().message;
          outcome.attempts.push_back(record);
          last_error = result.error();
          break;
        }
        shaped = std::move(*result);
      }
      const ChatRequest& attempt_request = shaped ? *shaped : request;
      auto attempt_start = steady_clock::now();
      auto attempt_cancel = client_gone->child();
      AttemptTimer timer(executor, attempt_cancel, model.config.first_token_timeout_ms,
                         model.config.timeout_ms);
      AttemptSink sink(client, [&] {
        timer.on_first_content();
        record.ttft_ms = elapsed_ms(attempt_start);
        outcome.ttft_ms = elapsed_ms(request_start);
      });
      co_await target.provider->chat(attempt_request, target.config.model, sink, attempt_cancel);
      record.latency_ms = elapsed_ms(attempt_start);
      record.prompt_tokens = sink.usage().prompt_tokens;
      record.completion_tokens = sink.usage().completion_tokens;
      outcome.provider = target.config.provider;
      outcome.upstream_model = target.config.model;
      outcome.committed = sink.committed();
      outcome.usage = sink.usage();

      Error error;
      bool ok = false;
      if (client_gone->cancelled() || sink.client_gone()) {
        error = Error(ErrorCode::kCancelled, "client disconnected");
      } else if (sink.failed()) {
        error = sink.error();
        if (attempt_cancel->cancelled()) error = attempt_cancel->reason();
      } else if (sink.finished()) {
        ok = true;
      } else {
        error = attempt_cancel->cancelled()
                    ? attempt_cancel->reason()
                    : Error(ErrorCode::kBadGateway, "upstream stream ended without finishing");
      }
      if (ok) {
        record.status = 200;
        outcome.attempts.push_back(record);
        record_result(target, true, sink.committed() && record.ttft_ms >= 0
                                        ? static_cast<double>(record.ttft_ms)
                                        : static_cast<double>(record.latency_ms));
        co_return outcome;
      }
      record.status = error.code == ErrorCode::kCancelled ? 499 : attempt_status(error);
      record.error_class = error_code_name(error.code);
      record.error_message = error.message;
      outcome.attempts.push_back(record);
      if (error.code == ErrorCode::kCancelled) {
        // No verdict on the target: free its probe slot for the next request.
        if (probe) abandon_probe(target);
        outcome.status = error;
        co_return outcome;
      }
      record_result(target, false, 0);
      probe = false;
      if (sink.committed()) {
        // Content already reached the client: never retried; the client gets a terminal
        // error event.
        KEEL_LOG(kWarn) << "model " << model.config.name << ": " << target.config.provider << "/"
                        << target.config.model << " failed mid-stream: " << error.message;
        co_await client.on_event(ChatEvent::failure(error));
        outcome.status = error;
        co_return outcome;
      }
      last_error = error;
      if (!is_retryable(error) || attempt == model.config.retries) break;
      bool give_up_target = false;
      long wait = backoff_ms(attempt, error, give_up_target);
      if (give_up_target) break;
      if (!co_await sleep_ms(wait, client_gone)) break;
    }
    if (client_gone->cancelled()) {
      if (probe) abandon_probe(target);
      outcome.status = Error(ErrorCode::kCancelled, "client disconnected");
      co_return outcome;
    }
    failures.emplace_back(&target, last_error);
  }
  outcome.status = final_error(model, failures);
  co_return outcome;
}

namespace {
// What an answered attempt logs as prompt tokens: embeddings are billed; a count is not usage.
int64_t billed_prompt_tokens(const Embeddings& embeddings) {
  return embeddings.usage.prompt_tokens;
}
int64_t billed_prompt_tokens(int64_t) { return 0; }
}  // namespace

template <typename T, typename Serves, typename Call>
Task<Result<T>> Router::unary(const std::string& model_name, Serves serves, Call call,
                              const char* none, CancelPtr client_gone,
                              std::vector<AttemptRecord>& attempts) {
  auto model_it = models_.find(model_name);
  if (model_it == models_.end()) co_return model_not_found(model_name);
  Model& model = model_it->second;
  auto executor = co_await asio::this_coro::executor;
  Plan plan = make_plan(model);
  std::vector<std::pair<Target*, Error>> failures;
  for (Target* target : plan.order) {
    if (!serves(target->provider->capabilities())) continue;
    Error last_error;
    for (int attempt = 0; attempt <= model.config.retries; ++attempt) {
      AttemptRecord record;
      record.started_ms = unix_millis();
      record.provider = target->config.provider;
      record.target_model = target->config.model;
      auto start = steady_clock::now();
      auto attempt_cancel = client_gone->child();
      AttemptTimer timer(executor, attempt_cancel, model.config.timeout_ms, model.config.timeout_ms);
      Result<T> result = co_await call(*target, attempt_cancel);
      record.latency_ms = elapsed_ms(start);
      if (result) {
        record.status = 200;
        record.prompt_tokens = billed_prompt_tokens(*result);
        attempts.push_back(record);
        record_result(*target, true, static_cast<double>(record.latency_ms));
        co_return result;
      }
      Error error = attempt_cancel->cancelled() ? attempt_cancel->reason() : result.error();
      record.status = error.code == ErrorCode::kCancelled ? 499 : attempt_status(error);
      record.error_class = error_code_name(error.code);
      record.error_message = error.message;
      attempts.push_back(record);
      if (client_gone->cancelled()) co_return Error(ErrorCode::kCancelled, "client disconnected");
      record_result(*target, false, 0);
      last_error = error;
      if (!is_retryable(error) || attempt == model.config.retries) break;
      bool give_up_target = false;
      long wait = backoff_ms(attempt, error, give_up_target);
      if (give_up_target) break;
      bool slept = co_await sleep_ms(wait, client_gone);
      if (!slept) break;
    }
    failures.emplace_back(target, last_error);
  }
  if (failures.empty()) {
    co_return Error(ErrorCode::kInvalidArgument, "model '" + model_name + "' " + none);
  }
  co_return final_error(model, failures);
}

Task<Result<Embeddings>> Router::embed(const EmbedRequest& request, CancelPtr client_gone,
                                       std::vector<AttemptRecord>& attempts) {
  co_return co_await unary<Embeddings>(
      request.model, [](const Capabilities& caps) { return caps.embeddings; },
      [&request](Target& target, CancelPtr cancel) {
        return target.provider->embed(request, target.config.model, std::move(cancel));
      },
      "has no target that serves embeddings", std::move(client_gone), attempts);
}

Task<Result<int64_t>> Router::count_tokens(const ChatRequest& request, CancelPtr client_gone,
                                           std::vector<AttemptRecord>& attempts) {
  co_return co_await unary<int64_t>(
      request.model,
      [&request](const Capabilities& caps) {
        return caps.count_tokens && (caps.documents || !first_document(request.messages));
      },
      [&request](Target& target, CancelPtr cancel) {
        return target.provider->count_tokens(request, target.config.model, std::move(cancel));
      },
      "has no target that can count tokens (provider kinds anthropic, gemini and local can)",
      std::move(client_gone), attempts);
}

Task<Result<EmbedTokenCounts>> Router::count_embed_tokens(const std::string& model_name,
                                                          const std::vector<std::string>& inputs,
                                                          CancelPtr cancel) {
  auto model_it = models_.find(model_name);
  if (model_it == models_.end()) co_return model_not_found(model_name);
  Error last(ErrorCode::kInvalidArgument,
             "model '" + model_name + "' has no target that serves embeddings");
  for (const Target& target : model_it->second.targets) {
    if (!target.provider->capabilities().embeddings) continue;
    auto counted =
        co_await target.provider->count_embed_tokens(inputs, target.config.model, cancel);
    if (counted) co_return counted;
    last = counted.error();
  }
  co_return last;
}

std::vector<TargetStatus> Router::status() const {
  std::lock_guard lock(mutex_);
  std::vector<TargetStatus> out;
  auto now = clock_.now();
  for (const auto& [name, model] : models_) {
    for (const auto& target : model.targets) {
      out.push_back(TargetStatus{name, target.config.provider, target.config.model,
                                 target.breaker->state(now), target.latency_ewma_ms});
    }
  }
  return out;
}

}  // namespace keel
