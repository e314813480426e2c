#include "store/request_spans.h"

#include <algorithm>
#include <map>

namespace keel {
namespace {

constexpr int64_t kNanosPerMilli = 1'000'000;

bool is_error(int status, const std::string& error_class) {
  return status >= 400 || !error_class.empty();
}

}  // namespace

std::vector<Span> request_spans(const RequestRecord& record) {
  std::vector<Span> spans;
  if (record.id.empty()) return spans;
  spans.reserve(1 + record.attempts.size());
  const TraceId trace = TraceId::for_request(record.id);
  const SpanId root = derived_span_id(trace, 0);
  const bool embeddings = record.endpoint == "/v1/embeddings";

  Span& request = spans.emplace_back();
  request.trace_id = trace;
  request.span_id = root;
  request.name = "POST " + record.endpoint;
  request.kind = SpanKind::kServer;
  request.start_ns = record.started_ms * kNanosPerMilli;
  request.end_ns = (record.started_ms + record.latency_ms) * kNanosPerMilli;
  if (is_error(record.status, record.error_class)) {
    request.status = SpanStatus::kError;
    request.status_message =
        record.error_class.empty() ? "status " + std::to_string(record.status) : record.error_class;
  } else {
    request.status = SpanStatus::kOk;
  }
  request.attributes.reserve(8);
  request.set(keel_attr::kRequestId, record.id);
  request.set(keel_attr::kEndpoint, record.endpoint);
  if (!record.model.empty()) request.set(gen_ai::kRequestModel, record.model);
  request.set(keel_attr::kHttpStatus, int64_t{record.status});
  if (record.stream) request.set(keel_attr::kStream, true);
  if (record.prompt_tokens > 0 || record.completion_tokens > 0) {
    request.set(gen_ai::kUsageInputTokens, record.prompt_tokens);
    request.set(gen_ai::kUsageOutputTokens, record.completion_tokens);
  }
  if (record.ttft_ms >= 0) request.set(keel_attr::kTtftMs, record.ttft_ms);
  if (!record.error_class.empty()) request.set(gen_ai::kErrorType, record.error_class);

  for (size_t seq = 0; seq < record.attempts.size(); ++seq) {
    Span attempt = attempt_span(record.attempts[seq], trace, root, derived_span_id(trace, 1 + seq),
                                embeddings ? "embeddings" : "chat");
    attempt.set(keel_attr::kAttempt, static_cast<int64_t>(seq));
    spans.push_back(std::move(attempt));
  }
  return spans;
}

Span attempt_span(const AttemptRecord& attempt, const TraceId& trace, SpanId parent, SpanId id,
                  const char* operation) {
  Span span;
  span.trace_id = trace;
  span.span_id = id;
  span.parent_id = parent;
  span.name = std::string(operation) + " " + attempt.target_model;
  span.kind = SpanKind::kClient;
  span.start_ns = attempt.started_ms * kNanosPerMilli;
  span.end_ns = (attempt.started_ms + attempt.latency_ms) * kNanosPerMilli;
  if (is_error(attempt.status, attempt.error_class)) {
    span.status = SpanStatus::kError;
    span.status_message =
        attempt.error_message.empty() ? attempt.error_class : attempt.error_message;
  } else {
    span.status = SpanStatus::kOk;
  }
  span.attributes.reserve(10);
  span.set(gen_ai::kOperationName, operation);
  span.set(keel_attr::kProvider, attempt.provider);
  span.set(gen_ai::kRequestModel, attempt.target_model);
  if (!is_error(attempt.status, attempt.error_class)) {
    span.set(gen_ai::kResponseModel, attempt.target_model);
  }
  span.set(keel_attr::kHttpStatus, int64_t{attempt.status});
  if (attempt.prompt_tokens > 0 || attempt.completion_tokens > 0) {
    span.set(gen_ai::kUsageInputTokens, attempt.prompt_tokens);
    span.set(gen_ai::kUsageOutputTokens, attempt.completion_tokens);
  }
  if (attempt.ttft_ms >= 0) span.set(keel_attr::kTtftMs, attempt.ttft_ms);
  if (!attempt.variant.empty()) span.set(keel_attr::kVariant, attempt.variant);
  if (!attempt.error_class.empty()) span.set(gen_ai::kErrorType, attempt.error_class);
  return span;
}

std::vector<Span> attempt_spans(const std::vector<AttemptRecord>& attempts, const TraceId& trace,
                                SpanId parent) {
  std::vector<Span> spans;
  spans.reserve(attempts.size());
  for (size_t seq = 0; seq < attempts.size(); ++seq) {
    Span& span = spans.emplace_back(attempt_span(attempts[seq], trace, parent, SpanId::random()));
    span.set(keel_attr::kAttempt, static_cast<int64_t>(seq));
  }
  return spans;
}

std::vector<Span> tree_order(std::vector<Span> spans) {
  std::stable_sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.start_ns != b.start_ns ? a.start_ns < b.start_ns : a.name < b.name;
  });
  std::map<uint64_t, std::vector<size_t>> children;  // parent id -> indexes, by start
  std::vector<size_t> roots;
  std::map<uint64_t, size_t> index_of;
  for (size_t i = 0; i < spans.size(); ++i) index_of.emplace(spans[i].span_id.value, i);
  for (size_t i = 0; i < spans.size(); ++i) {
    const SpanId parent = spans[i].parent_id;
    if (parent.valid() && parent != spans[i].span_id && index_of.count(parent.value)) {
      children[parent.value].push_back(i);
    } else {
      roots.push_back(i);
    }
  }
  std::vector<Span> ordered;
  ordered.reserve(spans.size());
  std::vector<bool> placed(spans.size(), false);
  // Depth first, iteratively (a stored trace is untrusted input: no recursion on its depth).
  std::vector<size_t> stack(roots.rbegin(), roots.rend());
  while (!stack.empty()) {
    const size_t i = stack.back();
    stack.pop_back();
    if (placed[i]) continue;  // a cycle of parents
    placed[i] = true;
    ordered.push_back(spans[i]);
    auto it = children.find(spans[i].span_id.value);
    if (it == children.end()) continue;
    for (auto child = it->second.rbegin(); child != it->second.rend(); ++child) {
      stack.push_back(*child);
    }
  }
  // Spans caught in a cycle of parents that no root reaches: after the rest.
  for (size_t i = 0; i < spans.size(); ++i) {
    if (!placed[i]) ordered.push_back(spans[i]);
  }
  return ordered;
}

std::vector<int> tree_depths(const std::vector<Span>& ordered) {
  std::map<uint64_t, int> depth_of;
  std::vector<int> depths;
  depths.reserve(ordered.size());
  for (const Span& span : ordered) {
    auto parent = depth_of.find(span.parent_id.value);
    const int depth = span.parent_id.valid() && parent != depth_of.end() ? parent->second + 1 : 0;
    depth_of.emplace(span.span_id.value, depth);
    depths.push_back(depth);
  }
  return depths;
}

const char* genai_provider_name(ProviderKind kind) {
  switch (kind) {
    case ProviderKind::kOpenAI:
      return "openai";
    case ProviderKind::kAzure:
      return "azure.ai.openai";
    case ProviderKind::kAnthropic:
      return "anthropic";
    case ProviderKind::kGemini:
      return "gcp.gemini";
    case ProviderKind::kLocal:
      break;
  }
  return "llama.cpp";
}

void name_providers(std::vector<Span>& spans, const std::vector<ProviderConfig>& providers) {
  for (Span& span : spans) {
    const AttributeValue* provider = span.find(keel_attr::kProvider);
    if (!provider || !std::holds_alternative<std::string>(*provider)) continue;
    const std::string& name = std::get<std::string>(*provider);
    for (const ProviderConfig& config : providers) {
      if (config.name == name) {
        span.set(gen_ai::kProviderName, genai_provider_name(config.kind));
        break;
      }
    }
  }
}

}  // namespace keel
