// Runs a checked flow once (one line of inputs) as Prompt flow runs it: ${...} references
// resolved, `activate` conditions and bypassing, `prompt` nodes rendered with Jinja, `llm` nodes
// rendered, split on role markers and sent through keel's router, `python` nodes on a pool of
// python3 workers (flows/python.h), `tool` nodes as a call of a configured toolset's tool through
// the Toolbox, `flow` nodes as a sub-flow run with the node's inputs (its output: the sub-flow's
// outputs). Nodes whose inputs are ready run concurrently (coroutines on the caller's executor;
// python nodes on a thread pool); each node gets its `timeout` per attempt and its `retries`.
// The first node that fails cancels the others and fails the run; so does `cancel`.
// Aggregation nodes run once after the line (run_flow: over lists of one) or after every line
// (run_flow_batch). With FlowRunOptions::trace the run is an invoke_workflow span with a span
// per node under it (an llm node's model attempts and a tool node's execute_tool under that).
//
//   FlowRunOptions options;
//   options.models = {{"open_ai_connection", "smart"}};   // else the name itself
//   Json outputs = co_await run_flow(*flow, inputs, router, options, cancel);
//
// Runs on the caller's io thread (one io_context per thread); `router`, `options` and the
// toolbox must outlive the call.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "core/trace.h"
#include "flows/flow.h"
#include "router/router.h"

namespace keel {

class Toolbox;

// What happened in one node, for a caller that records it (a trace span per node).
struct FlowNodeRecord {
  std::string node;
  std::string type;
  Json inputs;
  Json output;        // null when it failed or was bypassed
  std::string error;  // "" when it did not fail
  bool bypassed = false;
  int attempts = 0;
  int64_t start_unix_ms = 0;
  int64_t duration_ms = 0;
  Usage usage;        // llm nodes: the answer's tokens
  std::string model;  // llm nodes: the public model
};

// Takes the text of a streamed run's stream target as it arrives (FlowRunOptions::stream).
// Called on the run's thread; one call at a time.
class FlowTextSink {
 public:
  virtual ~FlowTextSink() = default;
  // False when the consumer is gone: the run is cancelled.
  virtual Task<bool> on_text(const std::string& text) = 0;
};

struct FlowRunOptions {
  // An llm node's connection, deployment_name or model -> a public model (tried in that
  // order); a name not in the map is taken as a public model when the router has it.
  std::map<std::string, std::string> models;
  int max_depth = 8;  // sub-flows within sub-flows, at most
  // Tool nodes' tools; without one a tool node fails naming itself.
  Toolbox* toolbox = nullptr;
  // Gets each piece of text of the stream target's llm node as it arrives (at the top level
  // only); must outlive the run. Once a piece has gone out the node is not retried.
  FlowTextSink* stream = nullptr;
  // Called on the run's thread as each node ends (ran, failed or was bypassed).
  std::function<void(const FlowNodeRecord&)> on_node;
  // Where the run's spans go (core/trace.h): "invoke_workflow NAME", under it "flow_node NODE"
  // per node (type, duration, status and error, attempts; an llm node's model and tokens, its
  // model attempts as children; a tool node's execute_tool span; a flow node's sub-run). Null:
  // nothing is recorded. Valid through the run, on the run's thread.
  TraceContext trace;
  // Node spans carry the node's inputs and output (keel.inputs, keel.output: JSON text, cut at
  // kSpanContentBytes) only with this set: the request log's log_content.
  bool trace_content = false;
  std::string name;  // the flow's name in its spans; "" is the folder's name
};

// What a node span keeps of a node's inputs or output (bytes of JSON text; longer is cut, at a
// UTF-8 boundary, and marked with "...").
inline constexpr size_t kSpanContentBytes = 4096;
// `json` as span content: its JSON text, cut at `max_bytes` (a UTF-8 boundary) with "...".
std::string span_content(const Json& json, size_t max_bytes = kSpanContentBytes);

// The llm node whose whole output a flow output names (an is_chat_output first), with that
// output's name: what "stream": true streams.
struct FlowStreamTarget {
  std::string node;
  std::string output;
};
std::optional<FlowStreamTarget> stream_target(const Flow& flow);

// The flow's inputs checked (undeclared ones refused, defaults filled), then every node run;
// the result is {"outputs": {...}, "nodes": {node: output}, "inputs": {...}}. Aggregation
// nodes then run once as Prompt flow runs them for a single line: each reference is a list of
// one (the line's value); their outputs join "nodes" and their log_metric's are "metrics": {...}
// (present only when the flow has aggregation nodes). Errors name the file and node, and keep
// the failure's code (a timeout is kDeadlineExceeded, a cancelled run kCancelled, an upstream's
// failure the router's code).
Task<Result<Json>> run_flow(const Flow& flow, const Json& inputs, Router& router,
                            const FlowRunOptions& options, CancelPtr cancel);

// Every line (one object of inputs each) as run_flow runs it, then the aggregation nodes once
// with per-line lists (${inputs.x} too) over the lines that ran: {"lines": [outputs or
// {"error"}], "metrics": {log_metric's}}. A failed line drops out of the aggregation.
Task<Result<Json>> run_flow_batch(const Flow& flow, const std::vector<Json>& lines, Router& router,
                                  const FlowRunOptions& options, CancelPtr cancel);

}  // namespace keel
