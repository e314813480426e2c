// GET /admin/evals...: evaluation runs from the store (`keel eval` writes them) for the console's
// Evaluations page, summarised and compared by src/evals' own code (report.h: bootstrap CIs,
// paired bootstrap, sign test), so the console draws numbers and computes none. And
// GET /admin/shadow: the public models whose traffic is mirrored to a candidate.
#include <algorithm>
#include <set>

#include "core/text.h"
#include "evals/report.h"
#include "server/admin.h"
#include "server/admin_reply.h"

namespace keel {
namespace {

constexpr int kMaxRuns = 1000;     // the list's length; a run's lookup scans as many
constexpr size_t kMaxRows = 5000;  // rows sent with a run (its summary counts every row)

Json describe_json(const std::string& text) {
  auto json = try_parse_json(text);
  return json && json->is_object() ? *json : Json::object();
}

Json run_json(const EvalRunRecord& run) {
  return {{"id", run.id},
          {"created_ms", run.created_ms},
          {"describe", describe_json(run.describe)},
          {"rows", run.rows},
          {"last_ms", run.last_ms}};
}

std::vector<evals::RowResult> parse_rows(const std::vector<EvalRowRecord>& records) {
  std::vector<evals::RowResult> rows;
  rows.reserve(records.size());
  for (const auto& record : records) {
    auto json = try_parse_json(record.result);
    if (!json) continue;
    if (auto row = evals::RowResult::from_json(*json)) rows.push_back(std::move(*row));
  }
  return rows;
}

// The names in `preferred` (the run's own order) that occur in `present`, then the rest of
// `present` in its order.
std::vector<std::string> ordered(const Json& preferred, const std::vector<std::string>& present) {
  std::vector<std::string> out;
  if (preferred.is_array()) {
    for (const auto& name : preferred) {
      if (name.is_string() &&
          std::find(present.begin(), present.end(), name.get<std::string>()) != present.end()) {
        out.push_back(name.get<std::string>());
      }
    }
  }
  for (const auto& name : present) {
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  return out;
}

// A run's summary as `keel eval` writes it into summary.json: per candidate and metric.
Json summary_of(const std::vector<evals::RowResult>& rows, const Json& describe) {
  std::vector<std::string> candidates, metrics;
  std::set<std::string> metric_set;
  for (const auto& row : rows) {
    if (std::find(candidates.begin(), candidates.end(), row.candidate) == candidates.end()) {
      candidates.push_back(row.candidate);
    }
    for (const auto& [name, score] : row.scores) metric_set.insert(name);
  }
  metrics.assign(metric_set.begin(), metric_set.end());
  candidates = ordered(describe.value("candidates", Json()), candidates);
  metrics = ordered(describe.value("evaluators", Json()), metrics);
  Json summary = evals::summarize(rows, candidates, metrics);
  summary["versus_best"] = evals::compare_to_best(rows, summary);
  return summary;
}

Error bad_id() { return Error(ErrorCode::kInvalidArgument, "a malformed %-escape in the run id"); }

Error no_run(const std::string& id) {
  Error error(ErrorCode::kNotFound, "no evaluation run '" + id + "'");
  error.type_code = "eval_run_not_found";
  return error;
}

}  // namespace

Task<void> Admin::eval_runs(ResponseWriter& response) {
  auto runs = co_await off_io(reads_, [&] { return store_.eval_runs(kMaxRuns); });
  if (!runs) {
    co_await send_admin_error(response, runs.error());
    co_return;
  }
  Json data = Json::array();
  for (const auto& run : *runs) data.push_back(run_json(run));
  const Json body = {{"data", std::move(data)}};  // not in the co_await: g++ 12
  co_await send_admin_json(response, body);
}

Task<void> Admin::eval_run(std::string_view escaped_id, ResponseWriter& response) {
  const std::optional<std::string> id = percent_decode(escaped_id);
  if (!id) {
    co_await send_admin_error(response, bad_id());
    co_return;
  }
  auto body = co_await off_io(reads_, [&]() -> Result<Json> {
    auto runs = store_.eval_runs(kMaxRuns);
    if (!runs) return runs.error();
    auto records = store_.eval_rows(*id);
    if (!records) return records.error();
    auto run = std::find_if(runs->begin(), runs->end(), [&](auto& r) { return r.id == *id; });
    if (run == runs->end() && records->empty()) return no_run(*id);
    Json out =
        run != runs->end() ? run_json(*run) : Json{{"id", *id}, {"describe", Json::object()}};
    const std::vector<evals::RowResult> rows = parse_rows(*records);
    out["summary"] = summary_of(rows, out["describe"]);
    Json list = Json::array();
    for (size_t i = 0; i < rows.size() && i < kMaxRows; ++i) list.push_back(rows[i].to_json());
    out["results"] = std::move(list);
    out["results_truncated"] = rows.size() > kMaxRows;
    return out;
  });
  if (!body) {
    co_await send_admin_error(response, body.error());
    co_return;
  }
  co_await send_admin_json(response, *body);
}

Task<void> Admin::compare_eval_runs(std::string_view escaped_a, std::string_view escaped_b,
                                    ResponseWriter& response) {
  const std::optional<std::string> a = percent_decode(escaped_a), b = percent_decode(escaped_b);
  if (!a || !b) {
    co_await send_admin_error(response, bad_id());
    co_return;
  }
  auto body = co_await off_io(reads_, [&]() -> Result<Json> {
    auto records_a = store_.eval_rows(*a);
    if (!records_a) return records_a.error();
    if (records_a->empty()) return no_run(*a);
    auto records_b = store_.eval_rows(*b);
    if (!records_b) return records_b.error();
    if (records_b->empty()) return no_run(*b);
    auto comparison = evals::compare_runs(parse_rows(*records_a), parse_rows(*records_b));
    if (!comparison) return comparison.error();
    Json out = *comparison;
    out["a"] = *a;
    out["b"] = *b;
    return out;
  });
  if (!body) {
    co_await send_admin_error(response, body.error());
    co_return;
  }
  co_await send_admin_json(response, *body);
}

Task<void> Admin::shadows(ResponseWriter& response) {
  Json data = Json::array();
  const auto live = config_();
  for (const auto& model : live->models) {
    if (!model.shadow) continue;
    data.push_back({{"model", model.name},
                    {"candidate", model.shadow->model},
                    {"percent", model.shadow->percent},
                    {"evaluators", model.shadow->evaluators}});
  }
  const Json body = {{"data", std::move(data)}};  // not in the co_await: g++ 12
  co_await send_admin_json(response, body);
}

}  // namespace keel
