// The models an evaluation calls (candidates, judges, embeddings), through the same Router
// that `keel serve` builds, in process. Counts tokens and spend (`pricing:` in the config) for
// the spend cap. One io_context thread uses it: no locks.
//
//   ModelGateway models(router, config);
//   auto call = co_await models.chat(request, cancel);   // call.text or call.error
//   models.spent();                                       // so far, in the pricing's unit
#pragma once

#include <optional>
#include <set>
#include <string>

#include "router/router.h"

namespace keel::evals {

struct CallResult {
  std::optional<Error> error;  // the call failed: no text
  std::string text;
  int64_t latency_ms = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::optional<double> cost;  // unset: the answering target has no price
  std::string provider;        // the target that answered
  std::string upstream_model;
};

class ModelGateway {
 public:
  ModelGateway(Router& router, const Config& config) : router_(router), config_(config) {}

  // With a trace, each attempt is a span under `trace.parent` (store/request_spans.h).
  Task<CallResult> chat(const ChatRequest& request, CancelPtr cancel, TraceContext trace = {});
  // Embeddings of `inputs`, in order, from the public model `model`.
  Task<Result<std::vector<std::vector<float>>>> embed(const std::string& model,
                                                      std::vector<std::string> inputs,
                                                      CancelPtr cancel);

  bool has_model(const std::string& name) const { return router_.has_model(name); }
  double spent() const { return spent_; }
  // "provider/model" of answering targets that had no price.
  const std::set<std::string>& unpriced() const { return unpriced_; }

 private:
  std::optional<double> price(const std::string& provider, const std::string& model,
                              int64_t prompt_tokens, int64_t completion_tokens);

  Router& router_;
  const Config& config_;
  double spent_ = 0;
  std::set<std::string> unpriced_;
};

}  // namespace keel::evals
