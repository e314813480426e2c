// The spans a request's log rows already hold (store.h): the request's own span and one per
// attempt. They are never stored twice: the store derives them from `requests` and `attempts`
// when a trace is read, and the OTLP exporter from the record it is handed, with the same ids
// (derived_span_id, core/trace.h), so spans recorded during the request (tool calls, flow
// nodes) hang under them.
//
//   std::vector<Span> spans = request_spans(record);   // [request, attempt 0, attempt 1, ...]
//   spans.insert(spans.end(), record.trace.spans().begin(), record.trace.spans().end());
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "core/trace.h"
#include "store/store.h"

namespace keel {

// The request span (kind server, named "POST {endpoint}") and its attempts' spans (kind client,
// "chat {model}"), in that order. A record without an id has none.
std::vector<Span> request_spans(const RequestRecord& record);

// One attempt as a span under `parent`: gen_ai.operation.name, keel.provider, the request and
// response model, tokens, ttft, the prompt variant; status error with the attempt's message.
// `operation`: "chat" or "embeddings".
Span attempt_span(const AttemptRecord& attempt, const TraceId& trace, SpanId parent, SpanId id,
                  const char* operation = "chat");

// Each of `attempts` as attempt_span makes it, under `parent`, with random ids and keel.attempt
// (its index): the attempts of a call that is not the request's own (an eval row's, a flow
// node's), which the store does not derive.
std::vector<Span> attempt_spans(const std::vector<AttemptRecord>& attempts, const TraceId& trace,
                                SpanId parent);

// Every span of `trace` in the order a tree is printed: parents before children, siblings by
// start time (then name). Spans whose parent is missing are treated as roots.
std::vector<Span> tree_order(std::vector<Span> spans);
// Depth of each span of a tree_order() list (0 for roots), index for index.
std::vector<int> tree_depths(const std::vector<Span>& ordered);

// OpenTelemetry's gen_ai.provider.name for a provider kind: openai, azure.ai.openai, anthropic,
// gcp.gemini; "llama.cpp" for the local engine (not a well-known value).
const char* genai_provider_name(ProviderKind kind);
// Sets gen_ai.provider.name on every span whose keel.provider is one of `providers` (the kind
// is in the config, not in the log).
void name_providers(std::vector<Span>& spans, const std::vector<ProviderConfig>& providers);

}  // namespace keel
