#include "api/otlp.h"

#include "api/json_util.h"

namespace keel {
namespace {

Json any_value(const AttributeValue& value) {
  if (const auto* text = std::get_if<std::string>(&value)) return {{"stringValue", *text}};
  if (const auto* number = std::get_if<int64_t>(&value)) {
    return {{"intValue", std::to_string(*number)}};
  }
  if (const auto* flag = std::get_if<bool>(&value)) return {{"boolValue", *flag}};
  return {{"doubleValue", std::get<double>(value)}};
}

Json key_value(std::string key, const AttributeValue& value) {
  return {{"key", std::move(key)}, {"value", any_value(value)}};
}

}  // namespace

std::string otlp_traces_json(const std::vector<Span>& spans, std::string_view service_name) {
  Json out_spans = Json::array();
  for (const Span& span : spans) {
    Json attributes = Json::array();
    for (const SpanAttribute& attribute : span.attributes) {
      attributes.push_back(key_value(attribute.key, attribute.value));
    }
    Json status = {{"code", static_cast<int>(span.status)}};
    if (!span.status_message.empty()) status["message"] = span.status_message;
    Json wire = {{"traceId", span.trace_id.hex()},
                 {"spanId", span.span_id.hex()},
                 {"name", span.name},
                 {"kind", static_cast<int>(span.kind)},
                 {"startTimeUnixNano", std::to_string(span.start_ns)},
                 {"endTimeUnixNano", std::to_string(span.end_ns)},
                 {"attributes", std::move(attributes)},
                 {"status", std::move(status)}};
    if (span.parent_id.valid()) wire["parentSpanId"] = span.parent_id.hex();
    out_spans.push_back(std::move(wire));
  }
  Json resource = {
      {"attributes",
       Json::array({key_value("service.name", AttributeValue(std::string(service_name)))})}};
  Json scope_spans = Json::array(
      {{{"scope", {{"name", "keel"}, {"version", "0.1.0"}}}, {"spans", std::move(out_spans)}}});
  Json request = {{"resourceSpans", Json::array({{{"resource", std::move(resource)},
                                                  {"scopeSpans", std::move(scope_spans)}}})}};
  return request.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace keel
