// A stored trace as people and the console read it: `keel trace ID` (text or --json) and
// GET /admin/traces/{id} (JSON), from StoreReader::trace_spans.
//
//   auto id = parse_trace_ref("req_0190f3...");               // core/trace.h; or 32 hex digits
//   auto spans = read_trace(store, *id, config.providers);     // tree order
//   Json json = trace_to_json(*spans);  std::string text = describe_trace(*spans);
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/json_util.h"
#include "core/config.h"
#include "core/trace.h"
#include "store/store.h"

namespace keel {

// The trace's spans in tree order (store/request_spans.h), gen_ai.provider.name set from the
// config's providers. kNotFound when the store has no span of it.
Result<std::vector<Span>> read_trace(StoreReader& store, const TraceId& id,
                                     const std::vector<ProviderConfig>& providers);

// {"trace_id", "request_id" (or null), "start_unix_nano" (a string, as OTLP/JSON has it),
//  "duration_ms", "spans": [{"span_id", "parent_id" (or null), "name", "kind", "status",
//  "status_message", "depth", "start_ms" (from the trace's start), "duration_ms",
//  "attributes": {name: value}}]}; spans in tree order.
Json trace_to_json(const std::vector<Span>& ordered);

// One line per span, indented by depth: name, offset and duration, status, key attributes.
std::string describe_trace(const std::vector<Span>& ordered);

}  // namespace keel
