// What an evaluation run writes (DESIGN.md "Commands"): DIR/results.jsonl (one row per data line
// and candidate), DIR/summary.json ({"candidates": [{"model", "metrics": {NAME: {"mean",
// "ci_low", "ci_high", ...}}, ...}]}) and DIR/report.html (self-contained: inline CSS and SVG,
// no script, no network). And `keel eval compare`: two runs' paired differences.
//
//   Json summary = summarize(run.rows, candidates, metric_names);
//   write_report("out/", run.rows, summary, title);
//   auto comparison = compare_runs(rows_a, rows_b);   // Json; each metric says "significant"
#pragma once

#include <string>
#include <vector>

#include "evals/run.h"

namespace keel::evals {

// Per candidate: each metric's mean with a 95% bootstrap CI, n, failed (scores that could not
// be computed), pass rate; rows, errors, p50/p95 latency, tokens, cost (null when unpriced).
Json summarize(const std::vector<RowResult>& rows, const std::vector<std::string>& candidates,
               const std::vector<std::string>& metrics);

Status write_report(const std::string& dir, const std::vector<RowResult>& rows, const Json& summary,
                    const std::string& title);

// DIR/results.jsonl back.
Result<std::vector<RowResult>> read_results(const std::string& dir);

// Pairs rows by line: same-named candidates when both runs have them, else each run's only
// candidate. Per metric present in both: n, means, mean difference (b - a) with a paired
// bootstrap 95% CI, sign test p, and "significant" when the CI excludes 0.
Result<Json> compare_runs(const std::vector<RowResult>& a, const std::vector<RowResult>& b);
// Within one run: each candidate against the best ranked one (summary's first), paired by
// line as compare_runs does; {"baseline", "comparisons": [...]}.
Json compare_to_best(const std::vector<RowResult>& rows, const Json& summary);
// The comparison for people: one line per candidate pair and metric.
std::string describe_comparison(const Json& comparison);

}  // namespace keel::evals
