#include "core/trace.h"

#include <gtest/gtest.h>

#include "core/ids.h"

namespace keel {
namespace {

TEST(Trace, IdsRoundTripThroughHex) {
  const TraceId trace = TraceId::random();
  ASSERT_TRUE(trace.valid());
  const std::string hex = trace.hex();
  ASSERT_EQ(hex.size(), 32u);
  EXPECT_EQ(TraceId::from_hex(hex), trace);
  const SpanId span = SpanId::random();
  ASSERT_EQ(span.hex().size(), 16u);
  EXPECT_EQ(SpanId::from_hex(span.hex()), span);
  EXPECT_EQ(TraceId::from_hex("0123456789ABCDEF0123456789abcdef").hex(),
            "0123456789abcdef0123456789abcdef");
}

TEST(Trace, BadHexIsNoId) {
  EXPECT_FALSE(TraceId::from_hex("").valid());
  EXPECT_FALSE(TraceId::from_hex("0123456789abcdef0123456789abcde").valid());   // 31
  EXPECT_FALSE(TraceId::from_hex("0123456789abcdef0123456789abcdeg").valid());  // not hex
  EXPECT_FALSE(TraceId::from_hex("00000000000000000000000000000000").valid());  // all zero
  EXPECT_FALSE(SpanId::from_hex("0123456789abcdeX").valid());
  EXPECT_FALSE(SpanId::from_hex("0123").valid());
}

TEST(Trace, ARequestsTraceIdNamesTheRequestAndBack) {
  const std::string request_id = new_time_ordered_id("req_", 1764167000000);
  const TraceId trace = TraceId::for_request(request_id);
  EXPECT_EQ(trace.hex(), "00000000" + request_id.substr(4));
  EXPECT_EQ(trace.request_id(), request_id);
  EXPECT_EQ(TraceId::from_hex(trace.hex()).request_id(), request_id);
  // Another id hashes to a trace that names no request, the same every time.
  const TraceId other = TraceId::for_request("client-chosen-id");
  EXPECT_TRUE(other.valid());
  EXPECT_EQ(other, TraceId::for_request("client-chosen-id"));
  EXPECT_EQ(other.request_id(), "");
  EXPECT_EQ(TraceId::random().request_id().empty(), true);
}

TEST(Trace, TimeOrderedIdsSortByTimeAndNameNoRequest) {
  // The store's index on trace ids takes these at its end (sqlite_trace.cpp): their hex sorts
  // by the millisecond they were made, and the rest is random.
  const TraceId earlier = TraceId::time_ordered(1764167000000);
  const TraceId later = TraceId::time_ordered(1764167000001);
  EXPECT_LT(earlier.hex(), later.hex());
  EXPECT_EQ(earlier.hex().substr(0, 12), "019ac08c1fc0");  // 1764167000000 in 12 hex digits
  EXPECT_EQ(earlier.high >> 16, 1764167000000u);
  EXPECT_NE(TraceId::time_ordered(1764167000000), earlier);  // 80 random bits apart
  EXPECT_EQ(earlier.request_id(), "");
  EXPECT_EQ(TraceId::from_hex(earlier.hex()), earlier);
  // A clock at the epoch still gives an id that names no request.
  EXPECT_TRUE(TraceId::time_ordered(0).valid());
  EXPECT_EQ(TraceId::time_ordered(0).request_id(), "");
}

TEST(Trace, DerivedSpanIdsAreStableAndDistinct) {
  EXPECT_EQ(SpanId::derived(42, 0), SpanId::derived(42, 0));
  EXPECT_NE(SpanId::derived(42, 0), SpanId::derived(42, 1));
  EXPECT_NE(SpanId::derived(42, 0), SpanId::derived(43, 0));
  EXPECT_TRUE(SpanId::derived(0, 0).valid());
}

TEST(Trace, ARequestsTraceIsRootedAtItsDerivedSpan) {
  Trace trace = Trace::for_request("req_0123456789ab0123456789ab");
  EXPECT_TRUE(trace.recording());
  EXPECT_EQ(trace.id().hex(), "000000000123456789ab0123456789ab");
  EXPECT_EQ(trace.root(), derived_span_id(trace.id(), 0));
  EXPECT_NE(derived_span_id(trace.id(), 1), trace.root());
  EXPECT_EQ(trace.root_context().parent, trace.root());
}

TEST(Trace, NullContextRecordsNothing) {
  TraceContext none;
  EXPECT_FALSE(none);
  SpanScope span(none, "chat m");
  EXPECT_FALSE(span.recording());
  span.set(gen_ai::kRequestModel, "m");
  span.fail("nope");
  EXPECT_FALSE(span.context());
  SpanScope child(span.context(), "execute_tool t");
  EXPECT_FALSE(child.recording());
  Trace off;
  EXPECT_FALSE(off.recording());
  EXPECT_FALSE(off.root_context());
}

TEST(Trace, ScopesNestAndEndIntoTheTrace) {
  Trace trace(TraceId::random(), SpanId::random());
  {
    SpanScope tool(trace.root_context(), "execute_tool get_weather", SpanKind::kClient);
    ASSERT_TRUE(tool.recording());
    tool.set(gen_ai::kOperationName, "execute_tool");
    tool.set(gen_ai::kToolName, "get_weather");
    tool.set(keel_attr::kToolOutputBytes, 12);
    tool.set(keel_attr::kToolOutputBytes, 13);  // replaces
    {
      SpanScope inner(tool.context(), "inner");
      inner.fail("timed out after 5000 ms");
    }
    tool.ok();
  }
  const std::vector<Span>& spans = trace.spans();
  ASSERT_EQ(spans.size(), 2u);
  const Span& inner = spans[0];  // in the order they ended
  const Span& tool = spans[1];
  EXPECT_EQ(inner.name, "inner");
  EXPECT_EQ(inner.status, SpanStatus::kError);
  EXPECT_EQ(inner.status_message, "timed out after 5000 ms");
  EXPECT_EQ(inner.parent_id, tool.span_id);
  EXPECT_EQ(tool.parent_id, trace.root());
  EXPECT_EQ(tool.trace_id, trace.id());
  EXPECT_EQ(tool.kind, SpanKind::kClient);
  EXPECT_EQ(tool.status, SpanStatus::kOk);
  EXPECT_LE(tool.start_ns, inner.start_ns);
  EXPECT_GE(tool.end_ns, inner.end_ns);
  EXPECT_EQ(tool.attributes.size(), 3u);
  ASSERT_NE(tool.find(keel_attr::kToolOutputBytes), nullptr);
  EXPECT_EQ(std::get<int64_t>(*tool.find(keel_attr::kToolOutputBytes)), 13);
  EXPECT_EQ(std::get<std::string>(*tool.find(gen_ai::kToolName)), "get_weather");
  EXPECT_EQ(tool.find("nope"), nullptr);
  EXPECT_EQ(trace.take().size(), 2u);
  EXPECT_TRUE(trace.spans().empty());
}

TEST(Trace, EndIsIdempotent) {
  Trace trace(TraceId::random(), SpanId::random());
  SpanScope span(trace.root_context(), "x");
  span.end();
  span.end();
  EXPECT_EQ(trace.spans().size(), 1u);
  EXPECT_FALSE(span.recording());
}

}  // namespace
}  // namespace keel
