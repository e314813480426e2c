// A batch evaluation run: every data line on every candidate model, scored by the evaluators,
// with bounded concurrency, a spend cap, and resumption (rows already scored in the state store
// under the same run id are not sent again).
//
//   RunOptions options;  options.run_id = "…";  options.candidates = {"a", "b"};
//   auto evaluators = make_evaluators(names, evaluator_options, models);
//   RunResult run = run_eval(models, store, rows, options, evaluators);   // blocks; own io_context
//
// The candidate is sent the line's `question` (after the column mapping) as the user message.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "evals/evaluators.h"
#include "evals/mapping.h"
#include "store/store.h"

namespace keel::evals {

// One data line on one candidate.
struct RowResult {
  int64_t line = 0;
  std::string candidate;
  Json inputs = Json::object();  // question, ground_truth, context and other mapped inputs
  std::string output;
  std::string error;     // the candidate failed: no output, no scores
  bool resumed = false;  // taken from the store, not sent again
  int64_t latency_ms = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::optional<double> cost;  // candidate and evaluator calls; unset when any was unpriced
  std::map<std::string, Score> scores;
  std::string trace_id;  // the row's trace in the state store (`keel trace ID`)

  Json to_json() const;
  static std::optional<RowResult> from_json(const Json& json);
};

struct RunOptions {
  std::string run_id;
  std::vector<std::string> candidates;
  ColumnMapping mapping;
  std::string schema;  // --schema FILE's text: the json_schema input by default
  int concurrency = 4;
  std::optional<double> max_cost;  // stop starting rows once the spend reaches it
  std::function<void(size_t done, size_t total)> progress;
};

struct RunResult {
  std::vector<RowResult> rows;  // by line, then candidate in the order given
  size_t resumed = 0;
  size_t not_run = 0;   // left out by the spend cap
  std::string stopped;  // why the run stopped early; "" when it ran every row
  double spent = 0;
  std::set<std::string> unpriced;  // "provider/model" of calls without a price
};

Result<std::vector<std::unique_ptr<Evaluator>>> make_evaluators(
    const std::vector<std::string>& names, const EvaluatorOptions& options, ModelGateway& models);

RunResult run_eval(ModelGateway& models, Store& store, const std::vector<Json>& data,
                   const RunOptions& options,
                   const std::vector<std::unique_ptr<Evaluator>>& evaluators);

}  // namespace keel::evals
