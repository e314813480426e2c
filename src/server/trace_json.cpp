#include "server/trace_json.h"

#include <algorithm>
#include <cstdio>

#include "store/request_spans.h"

namespace keel {
namespace {

int64_t trace_start(const std::vector<Span>& spans) {
  int64_t start = 0;
  for (const Span& span : spans) {
    if (start == 0 || span.start_ns < start) start = span.start_ns;
  }
  return start;
}

int64_t trace_end(const std::vector<Span>& spans) {
  int64_t end = 0;
  for (const Span& span : spans) end = std::max(end, span.end_ns);
  return end;
}

double millis(int64_t nanos) { return static_cast<double>(nanos) / 1e6; }

Json value_json(const AttributeValue& value) {
  return std::visit([](const auto& v) { return Json(v); }, value);
}

std::string value_text(const AttributeValue& value) {
  if (const auto* text = std::get_if<std::string>(&value)) return *text;
  if (const auto* number = std::get_if<int64_t>(&value)) return std::to_string(*number);
  if (const auto* flag = std::get_if<bool>(&value)) return *flag ? "true" : "false";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", std::get<double>(value));
  return buffer;
}

// What `keel trace` shows of a span's attributes, short name first.
constexpr std::pair<const char*, const char*> kShown[] = {
    {"model", gen_ai::kRequestModel},   {"provider", keel_attr::kProvider},
    {"system", gen_ai::kProviderName},  {"status", keel_attr::kHttpStatus},
    {"in", gen_ai::kUsageInputTokens},  {"out", gen_ai::kUsageOutputTokens},
    {"ttft_ms", keel_attr::kTtftMs},    {"variant", keel_attr::kVariant},
    {"call", gen_ai::kToolCallId},      {"toolset", keel_attr::kToolset},
    {"result", keel_attr::kToolStatus}, {"bytes", keel_attr::kToolOutputBytes},
    {"node", keel_attr::kFlowNode},     {"score", "gen_ai.evaluation.score.value"},
    {"request", keel_attr::kRequestId},
};

}  // namespace

Result<std::vector<Span>> read_trace(StoreReader& store, const TraceId& id,
                                     const std::vector<ProviderConfig>& providers) {
  auto spans = store.trace_spans(id);
  if (!spans) return spans.error();
  name_providers(*spans, providers);
  return tree_order(std::move(*spans));
}

Json trace_to_json(const std::vector<Span>& ordered) {
  const int64_t start = trace_start(ordered);
  const std::vector<int> depths = tree_depths(ordered);
  Json json = Json::object();
  const TraceId id = ordered.empty() ? TraceId{} : ordered.front().trace_id;
  json["trace_id"] = id.hex();
  const std::string request = id.request_id();
  json["request_id"] = request.empty() ? Json(nullptr) : Json(request);
  json["start_unix_nano"] = std::to_string(start);
  json["duration_ms"] = millis(trace_end(ordered) - start);
  Json spans = Json::array();
  for (size_t i = 0; i < ordered.size(); ++i) {
    const Span& span = ordered[i];
    Json attributes = Json::object();
    for (const SpanAttribute& attribute : span.attributes) {
      attributes[attribute.key] = value_json(attribute.value);
    }
    spans.push_back({
        {"span_id", span.span_id.hex()},
        {"parent_id", span.parent_id.valid() ? Json(span.parent_id.hex()) : Json(nullptr)},
        {"name", span.name},
        {"kind", span_kind_name(span.kind)},
        {"status", span_status_name(span.status)},
        {"status_message", span.status_message},
        {"depth", depths[i]},
        {"start_ms", millis(span.start_ns - start)},
        {"duration_ms", millis(span.duration_ns())},
        {"attributes", std::move(attributes)},
    });
  }
  json["spans"] = std::move(spans);
  return json;
}

std::string describe_trace(const std::vector<Span>& ordered) {
  if (ordered.empty()) return "";
  const int64_t start = trace_start(ordered);
  const TraceId id = ordered.front().trace_id;
  std::string text = "trace " + id.hex();
  if (const std::string request = id.request_id(); !request.empty()) {
    text += " (request " + request + ")";
  }
  char line[96];
  std::snprintf(line, sizeof line, ", %zu spans, %.1f ms\n", ordered.size(),
                millis(trace_end(ordered) - start));
  text += line;
  const std::vector<int> depths = tree_depths(ordered);
  for (size_t i = 0; i < ordered.size(); ++i) {
    const Span& span = ordered[i];
    text += std::string(2 * static_cast<size_t>(depths[i]), ' ') + span.name;
    std::snprintf(line, sizeof line, "  +%.1f ms  %.1f ms  ", millis(span.start_ns - start),
                  millis(span.duration_ns()));
    text += line;
    text += span_status_name(span.status);
    if (!span.status_message.empty()) text += " (" + span.status_message + ")";
    for (const auto& [label, key] : kShown) {
      if (const AttributeValue* value = span.find(key)) {
        text += std::string("  ") + label + "=" + value_text(*value);
      }
    }
    text += '\n';
  }
  return text;
}

}  // namespace keel
