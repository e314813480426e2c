// Public model name -> targets, with the strategies, retries, timeouts and circuit breakers
// of DESIGN.md "Router semantics". Sees only the Provider interface.
//
//   Router router(config, std::move(providers));
//   auto outcome = co_await router.chat(request, client_sink, client_gone);
//   if (!outcome.error.ok() && !outcome.committed) -> send outcome.error as an HTTP error
//
// Events are held back until the first content event of an attempt, so a failure before it
// fails over invisibly; from then on they go straight to `client`, and a later failure is
// delivered to `client` as a terminal Error event (never retried). Thread-safe: one Router
// serves every io thread; each call runs on its caller's thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "providers/provider.h"
#include "router/breaker.h"
#include "store/store.h"

namespace keel {

struct ChatOutcome {
  Status status;                 // ok, or why the request failed
  bool committed = false;        // content reached the client before any failure
  Usage usage;
  int64_t ttft_ms = -1;          // from the start of the request to the first content
  std::string provider;          // the target that answered (or failed last)
  std::string upstream_model;
  std::vector<AttemptRecord> attempts;
};

struct TargetStatus {
  std::string model;             // public name
  std::string provider;
  std::string upstream_model;
  Breaker::State breaker = Breaker::State::kClosed;
  double latency_ewma_ms = -1;   // -1: no sample yet
};

// The target of one attempt, as a RequestShaper sees it.
struct AttemptTarget {
  const std::string& provider;  // the provider's name in the config
  ProviderKind kind;
  const std::string& model;  // the upstream's model name
};

// "What does this request look like for this target?" (DESIGN.md "Layers"): called before
// every attempt, retries and failovers included, on the request's thread; `prompts` supplies
// it (per-model prompt variants). It names what it chose in `variant`, which the attempt's
// record keeps. An error fails that target without a retry, and the router goes on to the next.
using RequestShaper =
    std::function<Result<ChatRequest>(const AttemptTarget& target, std::string& variant)>;

class Router {
 public:
  Router(const Config& config, std::map<std::string, std::unique_ptr<Provider>> providers,
         const Clock& clock = SteadyClock::instance(), uint64_t seed = std::random_device{}());

  std::vector<std::string> model_names() const;
  bool has_model(const std::string& name) const { return models_.count(name) > 0; }
  // The model's config as this router was built with it; null for an unknown name.
  const ModelConfig* model_config(const std::string& name) const {
    auto it = models_.find(name);
    return it == models_.end() ? nullptr : &it->second.config;
  }
  const Provider* provider(const std::string& name) const;

  Task<ChatOutcome> chat(const ChatRequest& request, EventSink& client, CancelPtr client_gone,
                         const RequestShaper& shape = {});
  Task<Result<Embeddings>> embed(const EmbedRequest& request, CancelPtr client_gone,
                                 std::vector<AttemptRecord>& attempts);
  // The prompt's token count from the first of the model's targets whose provider can count
  // (capabilities().count_tokens), with failover like embed(); kInvalidArgument when none can.
  Task<Result<int64_t>> count_tokens(const ChatRequest& request, CancelPtr client_gone,
                                     std::vector<AttemptRecord>& attempts);

  // How the model's embeddings target measures `inputs` (Provider::count_embed_tokens): its
  // targets that serve embeddings in config order, the first that answers (a local target whose
  // model failed to load does not). No upstream is called, so there are no retries, no attempts
  // and no breaker or latency verdicts.
  Task<Result<EmbedTokenCounts>> count_embed_tokens(const std::string& model_name,
                                                    const std::vector<std::string>& inputs,
                                                    CancelPtr cancel);

  std::vector<TargetStatus> status() const;

 private:
  struct Target {
    TargetConfig config;
    Provider* provider = nullptr;
    std::unique_ptr<Breaker> breaker;
    double latency_ewma_ms = -1;
  };
  struct Model {
    ModelConfig config;
    std::vector<Target> targets;
  };
  struct Plan {
    std::vector<Target*> order;
  };

  Plan make_plan(Model& model);
  static Status keep_document_targets(const ChatRequest& request, Plan& plan);
  // `probe`: this call took the target's half-open probe slot.
  bool allow(Target& target, bool& probe);
  void abandon_probe(Target& target);
  void record_result(Target& target, bool ok, double latency_ms);
  long backoff_ms(int attempt, const Error& error, bool& give_up_target);
  Error final_error(const Model& model, const std::vector<std::pair<Target*, Error>>& failures);
  Task<bool> sleep_ms(long ms, const CancelPtr& cancel);
  // A request that is not a chat (embeddings, a token count): the model's targets whose
  // capabilities pass `serves`, in plan order, each with the model's retries and timeout, until
  // one answers; `call(target, cancel)` makes one attempt. `none` ends the message when no
  // target serves it.
  template <typename T, typename Serves, typename Call>
  Task<Result<T>> unary(const std::string& model_name, Serves serves, Call call,
                        const char* none, CancelPtr client_gone,
                        std::vector<AttemptRecord>& attempts);

  const Clock& clock_;
  RouterConfig router_config_;
  std::map<std::string, std::unique_ptr<Provider>> providers_;
  std::map<std::string, Model> models_;
  mutable std::mutex mutex_;     // breakers, latency stats, rng
  std::mt19937_64 rng_;
};

// Retryable on the same target (DESIGN.md): connect errors, 408, 409, 429, 5xx, and an
// upstream that closes or sends garbage before the first token.
bool is_retryable(const Error& error);

}  // namespace keel
