// Runs a checked flow once (one line of inputs), node after node in `Flow::order`, as Prompt
// flow runs it: ${...} references resolved, `activate` conditions, `prompt` nodes rendered with
// Jinja, `llm` nodes rendered, split on role markers and sent through keel's router, `python`
// nodes in python3 workers (flows/python.h), `flow` nodes as a sub-flow run with the node's
// inputs (its output: the sub-flow's outputs). tool nodes are not run yet (an error naming
// the node); aggregation nodes run in run_flow_batch.
//
//   FlowRunOptions options;
//   options.models = {{"open_ai_connection", "smart"}};   // else the name itself
//   Json outputs = co_await run_flow(*flow, inputs, router, options, cancel);
#pragma once

#include <map>
#include <string>

#include "flows/flow.h"
#include "router/router.h"

namespace keel {

struct FlowRunOptions {
  // An llm node's connection, deployment_name or model -> a public model (tried in that
  // order); a name not in the map is taken as a public model when the router has it.
  std::map<std::string, std::string> models;
  int max_depth = 8;  // sub-flows within sub-flows, at most
};

// The flow's inputs checked (undeclared ones refused, defaults filled), then every node run;
// the result is {"outputs": {...}, "nodes": {node: output}, "inputs": {...}}. Aggregation
// nodes are left out. Errors name the file and node.
Task<Result<Json>> run_flow(const Flow& flow, const Json& inputs, Router& router,
                            const FlowRunOptions& options, CancelPtr cancel);

// Every line (one object of inputs each) as run_flow runs it, then the aggregation nodes once
// with per-line lists (${inputs.x} too) over the lines that ran: {"lines": [outputs or
// {"error"}], "metrics": {log_metric's}}. A failed line drops out of the aggregation.
Task<Result<Json>> run_flow_batch(const Flow& flow, const std::vector<Json>& lines, Router& router,
                                  const FlowRunOptions& options, CancelPtr cancel);

}  // namespace keel
