// Spans of a trace (DESIGN.md "Traces"): one trace per request, eval row or shadow pair; a span
// per step (a model attempt, a tool call, a flow node), named with OpenTelemetry's GenAI
// semantic conventions. Spans are kept in the state store and exported over OTLP/HTTP.
//
//   // Whoever starts the work owns the Trace (the request's record owns the request's).
//   Trace trace(TraceId::random(), SpanId::random());       // the root span's id
//   TraceContext ctx = trace.root_context();                  // {trace, parent}: pass it down
//
//   // A callee records a step; with a null context (not recorded) every call is a no-op.
//   SpanScope span(ctx, "execute_tool get_weather", SpanKind::kInternal);
//   span.set(gen_ai::kOperationName, "execute_tool");
//   span.set(gen_ai::kToolName, tool_name);
//   child_work(span.context());                               // children nest under it
//   if (failed) span.fail("timeout");
//   // ~SpanScope (or span.end()) stamps the end time and appends the span to the trace.
//
// Cost: a callee that gets a null TraceContext pays one branch per call and allocates nothing.
// A recorded span is one Span value appended to the trace's vector at its end; nothing is
// formatted (no JSON, no hex) until the store's writer thread or the exporter writes it.
//
// Threads: a Trace is not synchronised. It belongs to the thread its work runs on (a request's
// io thread: the tool loop's parallel calls are coroutines on that thread); work that runs
// elsewhere posts its results back before recording them. Attribute names: the gen_ai:: and
// keel_attr:: constants below (OpenTelemetry's names where it has one).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/result.h"

namespace keel {

// 16 bytes, as W3C Trace Context and OTLP have it; all zero is "no trace".
struct TraceId {
  uint64_t high = 0;
  uint64_t low = 0;

  bool valid() const { return high != 0 || low != 0; }
  std::string hex() const;  // 32 lowercase hex digits
  // 32 hex digits (either case) -> the id; an invalid TraceId for anything else.
  static TraceId from_hex(std::string_view hex);
  static TraceId random();
  // A new trace that is not a request's (an eval row's, a shadow pair's, a flow run's): the
  // time in milliseconds, then 80 random bits, so that the store's index on trace ids takes
  // each new trace at its end instead of on a random page (as AWS X-Ray's ids lead with the
  // time). Never reads as a request's trace id (request_id() is "").
  static TraceId time_ordered(int64_t unix_ms);
  // The trace of a request: keel's request id ("req_" + 24 hex digits, core/ids.h) is the id's
  // low 96 bits, so the trace id is "00000000" + those digits and either names the other
  // (request_id_of). Another id gets a trace id hashed from it.
  static TraceId for_request(std::string_view request_id);
  // The request id a for_request trace id came from; "" when it has none.
  std::string request_id() const;

  friend bool operator==(const TraceId&, const TraceId&) = default;
};

// 8 bytes; 0 is "no span" (a root span's parent).
struct SpanId {
  uint64_t value = 0;

  bool valid() const { return value != 0; }
  std::string hex() const;  // 16 lowercase hex digits
  static SpanId from_hex(std::string_view hex);
  static SpanId random();
  // A fixed id made from `base` and `index`, never 0: spans that the store derives from rows
  // it already keeps (a request and its attempts) get the same ids every time they are read.
  static SpanId derived(uint64_t base, uint64_t index);

  friend bool operator==(const SpanId&, const SpanId&) = default;
};

// The ids of the spans the store derives from a request's log rows: index 0 is the request's
// own span (the trace's root), 1 + i its attempt i (AttemptRecord, seq i).
SpanId derived_span_id(const TraceId& trace, uint64_t index);

// What `keel trace ID` and GET /admin/traces/{id} take: "req_" + 24 hex digits (a request id:
// its trace) or 32 hex digits (a trace id); kInvalidArgument naming both forms for the rest.
Result<TraceId> parse_trace_ref(std::string_view text);

// OTLP's Span.SpanKind numbers.
enum class SpanKind : uint8_t {
  kInternal = 1,
  kServer = 2,  // the request as keel received it
  kClient = 3,  // a call keel makes: a model attempt, an MCP or OpenAPI tool call
};
// OTLP's Status.StatusCode numbers.
enum class SpanStatus : uint8_t { kUnset = 0, kOk = 1, kError = 2 };

const char* span_kind_name(SpanKind kind);        // "internal", "server", "client"
const char* span_status_name(SpanStatus status);  // "unset", "ok", "error"

// Attribute names. OpenTelemetry's GenAI semantic conventions (semconv 1.37 and later: the
// provider is gen_ai.provider.name, which replaced gen_ai.system).
namespace gen_ai {
inline constexpr const char* kOperationName =
    "gen_ai.operation.name";  // chat, embeddings, execute_tool, invoke_workflow
inline constexpr const char* kProviderName =
    "gen_ai.provider.name";  // openai, anthropic, gcp.gemini, azure.ai.openai
inline constexpr const char* kRequestModel = "gen_ai.request.model";
inline constexpr const char* kResponseModel = "gen_ai.response.model";
inline constexpr const char* kUsageInputTokens = "gen_ai.usage.input_tokens";
inline constexpr const char* kUsageOutputTokens = "gen_ai.usage.output_tokens";
inline constexpr const char* kToolName = "gen_ai.tool.name";
inline constexpr const char* kToolCallId = "gen_ai.tool.call.id";
inline constexpr const char* kToolType = "gen_ai.tool.type";  // function, extension, datastore
inline constexpr const char* kConversationId = "gen_ai.conversation.id";
inline constexpr const char* kErrorType = "error.type";  // semconv's general error attribute
}  // namespace gen_ai
// keel's own attributes, where the conventions have no name.
namespace keel_attr {
inline constexpr const char* kRequestId = "keel.request.id";
inline constexpr const char* kEndpoint = "keel.endpoint";                // the route pattern
inline constexpr const char* kHttpStatus = "http.response.status_code";  // semconv's HTTP name
inline constexpr const char* kStream = "keel.stream";
inline constexpr const char* kProvider = "keel.provider";  // the provider's name in the config
inline constexpr const char* kAttempt = "keel.attempt";    // 0-based, within the request
inline constexpr const char* kTtftMs = "keel.ttft_ms";
inline constexpr const char* kVariant = "keel.prompt.variant";
inline constexpr const char* kToolset = "keel.tool.toolset";
inline constexpr const char* kToolOutputBytes = "keel.tool.output_bytes";
inline constexpr const char* kToolStatus =
    "keel.tool.status";  // ok, tool_error, timeout, invalid_arguments, error
inline constexpr const char* kFlowName = "keel.flow.name";
inline constexpr const char* kFlowNode = "keel.flow.node";
inline constexpr const char* kNodeType = "keel.flow.node.type";
inline constexpr const char* kNodeAttempts = "keel.flow.node.attempts";
inline constexpr const char* kNodeBypassed = "keel.flow.node.bypassed";
inline constexpr const char* kInputs = "keel.inputs";  // JSON text
inline constexpr const char* kOutput = "keel.output";  // JSON text
inline constexpr const char* kEvalRun = "keel.eval.run_id";
inline constexpr const char* kEvalLine = "keel.eval.line";
inline constexpr const char* kCandidate = "keel.eval.candidate";
inline constexpr const char* kShadowModel = "keel.shadow.model";
}  // namespace keel_attr

// OTLP's AnyValue, the kinds keel uses.
using AttributeValue = std::variant<std::string, int64_t, double, bool>;

struct SpanAttribute {
  std::string key;
  AttributeValue value;
};

struct Span {
  TraceId trace_id;
  SpanId span_id;
  SpanId parent_id;  // invalid for the trace's root
  std::string name;  // semconv style: "chat gpt-4o-mini", "execute_tool get_weather"
  SpanKind kind = SpanKind::kInternal;
  int64_t start_ns = 0;  // unix nanoseconds
  int64_t end_ns = 0;
  SpanStatus status = SpanStatus::kUnset;
  std::string status_message;  // with kError: why, in a line
  std::vector<SpanAttribute> attributes;

  // Replaces the value of `key` when already set.
  void set(std::string_view key, AttributeValue value);
  const AttributeValue* find(std::string_view key) const;
  int64_t duration_ns() const { return end_ns - start_ns; }
};

// Unix nanoseconds now (the system clock: OTLP's times are wall-clock).
int64_t unix_nanos();

class Trace;

// Where a callee records: the trace and the span its spans hang under. Cheap to copy; a
// default-constructed one records nothing. Valid while its Trace lives.
struct TraceContext {
  Trace* trace = nullptr;
  SpanId parent;

  explicit operator bool() const { return trace != nullptr; }
};

// The spans of one trace, in the order they ended. A copy is a copy of its spans (contexts
// point at the Trace they came from).
class Trace {
 public:
  Trace() = default;  // records nothing: root_context() is null
  Trace(TraceId id, SpanId root) : id_(id), root_(root) {}
  // A request's trace: TraceId::for_request, rooted at its request span (derived_span_id 0).
  static Trace for_request(std::string_view request_id);

  bool recording() const { return id_.valid(); }
  const TraceId& id() const { return id_; }
  SpanId root() const { return root_; }
  TraceContext root_context() { return recording() ? TraceContext{this, root_} : TraceContext{}; }

  void add(Span span) { spans_.push_back(std::move(span)); }
  const std::vector<Span>& spans() const { return spans_; }
  std::vector<Span> take() { return std::exchange(spans_, {}); }

 private:
  TraceId id_;
  SpanId root_;
  std::vector<Span> spans_;
};

// One span, from construction to end() or destruction. With a null context it holds nothing
// and does nothing (context() is null too, so children are not recorded either).
class SpanScope {
 public:
  SpanScope(TraceContext parent, std::string_view name, SpanKind kind = SpanKind::kInternal);
  ~SpanScope() { end(); }
  SpanScope(const SpanScope&) = delete;
  SpanScope& operator=(const SpanScope&) = delete;

  bool recording() const { return trace_ != nullptr; }
  // The context for this span's children.
  TraceContext context() const {
    return trace_ ? TraceContext{trace_, span_.span_id} : TraceContext{};
  }
  SpanId id() const { return span_.span_id; }

  void set(std::string_view key, std::string_view value) {
    if (trace_) span_.set(key, std::string(value));
  }
  void set(std::string_view key, const char* value) { set(key, std::string_view(value)); }
  void set(std::string_view key, int64_t value) {
    if (trace_) span_.set(key, value);
  }
  void set(std::string_view key, int value) { set(key, static_cast<int64_t>(value)); }
  void set(std::string_view key, double value) {
    if (trace_) span_.set(key, value);
  }
  void set(std::string_view key, bool value) {
    if (trace_) span_.set(key, value);
  }
  void ok() {
    if (trace_) span_.status = SpanStatus::kOk;
  }
  // Status error with a one-line reason (never a secret: spans are stored and exported).
  void fail(std::string_view message);
  // Stamps the end time and hands the span to its trace; later calls do nothing.
  void end();

 private:
  Trace* trace_ = nullptr;
  Span span_;
};

}  // namespace keel
