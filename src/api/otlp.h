// OTLP/HTTP JSON (OpenTelemetry's ExportTraceServiceRequest, JSON encoding): spans as a
// collector's POST /v1/traces takes them. Pure; no I/O.
//
//   std::string body = otlp_traces_json(spans, "keel");   // Content-Type: application/json
//
// As the OTLP spec's JSON mapping has it: trace and span ids are lowercase hex (not base64),
// int64 values (times in unix nanoseconds, intValue) are decimal strings, enums (kind, status
// code) are numbers, attributes are {key, value: AnyValue}.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/trace.h"

namespace keel {

// One resourceSpans (service.name = `service_name`) with one scopeSpans (scope "keel").
std::string otlp_traces_json(const std::vector<Span>& spans, std::string_view service_name);

}  // namespace keel
