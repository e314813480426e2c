#include "evals/gateway.h"

#include <chrono>

#include "store/request_spans.h"

namespace keel::evals {

namespace {

// Keeps the answer's text and the first error; the router already held back everything before
// the first content event, so what arrives here is the answering target's.
class CollectSink final : public EventSink {
 public:
  Task<bool> on_event(ChatEvent event) override {
    if (event.kind == ChatEvent::Kind::kTextDelta) text += event.text;
    if (event.kind == ChatEvent::Kind::kError && !error) error = event.error;
    co_return true;
  }
  std::string text;
  std::optional<Error> error;
};

}  // namespace

std::optional<double> ModelGateway::price(const std::string& provider, const std::string& model,
                                          int64_t prompt_tokens, int64_t completion_tokens) {
  const ModelPrice* price = config_.find_price(provider, model);
  if (price == nullptr) {
    unpriced_.insert(provider + "/" + model);
    return std::nullopt;
  }
  const double cost = (static_cast<double>(prompt_tokens) * price->input_per_mtok +
                       static_cast<double>(completion_tokens) * price->output_per_mtok) /
                      1e6;
  spent_ += cost;
  return cost;
}

Task<CallResult> ModelGateway::chat(const ChatRequest& request, CancelPtr cancel,
                                    TraceContext trace) {
  CallResult call;
  CollectSink sink;
  const auto start = std::chrono::steady_clock::now();
  ChatOutcome outcome = co_await router_.chat(request, sink, cancel);
  call.latency_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
  call.provider = outcome.provider;
  call.upstream_model = outcome.upstream_model;
  if (trace) {
    std::vector<Span> spans = attempt_spans(outcome.attempts, trace.trace->id(), trace.parent);
    name_providers(spans, config_.providers);
    for (Span& span : spans) trace.trace->add(std::move(span));
  }
  // Every attempt's tokens are billed, the failed ones' too.
  for (const auto& attempt : outcome.attempts) {
    call.prompt_tokens += attempt.prompt_tokens;
    call.completion_tokens += attempt.completion_tokens;
  }
  if (call.prompt_tokens == 0 && call.completion_tokens == 0) {
    call.prompt_tokens = outcome.usage.prompt_tokens;
    call.completion_tokens = outcome.usage.completion_tokens;
  }
  if (!outcome.provider.empty()) {
    call.cost =
        price(outcome.provider, outcome.upstream_model, call.prompt_tokens, call.completion_tokens);
  }
  if (!outcome.status.ok()) {
    call.error = outcome.status.error();
  } else if (sink.error) {
    call.error = sink.error;
  } else {
    call.text = std::move(sink.text);
  }
  co_return call;
}

Task<Result<std::vector<std::vector<float>>>> ModelGateway::embed(const std::string& model,
                                                                  std::vector<std::string> inputs,
                                                                  CancelPtr cancel) {
  EmbedRequest request;
  request.model = model;
  request.inputs = std::move(inputs);
  std::vector<AttemptRecord> attempts;
  auto result = co_await router_.embed(request, cancel, attempts);
  if (!result) co_return result.error();
  if (!attempts.empty()) {
    const auto& last = attempts.back();
    (void)price(last.provider, last.target_model, result->usage.prompt_tokens, 0);
  }
  co_return std::move(result->vectors);
}

}  // namespace keel::evals
