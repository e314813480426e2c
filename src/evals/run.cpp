#include "evals/run.h"

#include <map>

#include "api/json_util.h"
#include "core/clock.h"
#include "core/log.h"
#include "http/asio.h"
#include "http/client.h"

namespace keel::evals {

namespace {

// The evaluator inputs that come from the data (the target's output is added later).
const char* const kDataInputs[] = {"question", "ground_truth", "context"};

Json score_json(const Score& score) {
  Json json = Json::object();
  if (score.value) {
    json["value"] = *score.value;
    json["passed"] = score.passed;
  } else {
    json["value"] = nullptr;
    json["error"] = score.error;
  }
  return json;
}

}  // namespace

Json RowResult::to_json() const {
  Json json = {{"line", line}, {"candidate", candidate}, {"inputs", inputs}};
  if (error.empty()) {
    json["output"] = output;
  } else {
    json["output"] = nullptr;
    json["error"] = error;
  }
  json["latency_ms"] = latency_ms;
  json["prompt_tokens"] = prompt_tokens;
  json["completion_tokens"] = completion_tokens;
  json["cost"] = cost ? Json(*cost) : Json(nullptr);
  Json scores_json = Json::object();
  for (const auto& [name, score] : scores) scores_json[name] = score_json(score);
  json["scores"] = std::move(scores_json);
  if (!trace_id.empty()) json["trace_id"] = trace_id;
  return json;
}

std::optional<RowResult> RowResult::from_json(const Json& json) {
  if (!json.is_object()) return std::nullopt;
  RowResult row;
  auto line = member(json, "line");
  auto candidate = member(json, "candidate");
  if (!line || !line->is_number_integer() || !candidate || !candidate->is_string()) {
    return std::nullopt;
  }
  row.line = line->get<int64_t>();
  row.candidate = candidate->get<std::string>();
  if (auto inputs = member(json, "inputs"); inputs && inputs->is_object()) row.inputs = *inputs;
  if (auto output = member(json, "output"); output && output->is_string()) {
    row.output = output->get<std::string>();
  }
  if (auto error = member(json, "error"); error && error->is_string()) {
    row.error = error->get<std::string>();
  }
  if (auto trace = member(json, "trace_id"); trace && trace->is_string()) {
    row.trace_id = trace->get<std::string>();
  }
  auto integer = [&](const char* key) -> int64_t {
    auto value = member(json, key);
    return value && value->is_number() ? value->get<int64_t>() : 0;
  };
  row.latency_ms = integer("latency_ms");
  row.prompt_tokens = integer("prompt_tokens");
  row.completion_tokens = integer("completion_tokens");
  if (auto cost = member(json, "cost"); cost && cost->is_number()) row.cost = cost->get<double>();
  if (auto scores = member(json, "scores"); scores && scores->is_object()) {
    for (const auto& [name, value] : scores->items()) {
      if (!value.is_object()) continue;
      Score score;
      if (auto v = member(value, "value"); v && v->is_number()) {
        score.value = v->get<double>();
        auto passed = member(value, "passed");
        score.passed = passed && passed->is_boolean() && passed->get<bool>();
      } else {
        score.error = optional_string(value, "error");
      }
      row.scores.emplace(name, std::move(score));
    }
  }
  return row;
}

Result<std::vector<std::unique_ptr<Evaluator>>> make_evaluators(
    const std::vector<std::string>& names, const EvaluatorOptions& options, ModelGateway& models) {
  std::vector<std::unique_ptr<Evaluator>> evaluators;
  std::set<std::string> seen;
  for (const auto& name : names) {
    if (!seen.insert(name).second) continue;
    auto evaluator = make_evaluator(name, options, models);
    if (!evaluator) return evaluator.error();
    evaluators.push_back(std::move(*evaluator));
  }
  return evaluators;
}

RunResult run_eval(ModelGateway& models, Store& store, const std::vector<Json>& data,
                   const RunOptions& options,
                   const std::vector<std::unique_ptr<Evaluator>>& evaluators) {
  RunResult run;
  const size_t candidates = options.candidates.size();
  const size_t total = data.size() * candidates;
  run.rows.resize(total);

  // What an earlier run with this id already has.
  std::map<std::pair<int64_t, std::string>, RowResult> earlier;
  if (auto stored = store.eval_rows(options.run_id)) {
    for (const auto& record : *stored) {
      auto json = try_parse_json(record.result);
      if (!json) continue;
      if (auto row = RowResult::from_json(*json)) {
        earlier.emplace(std::make_pair(row->line, row->candidate), std::move(*row));
      }
    }
  } else {
    KEEL_LOG(kWarn) << "eval: cannot read earlier rows of run " << options.run_id << ": "
                    << stored.error().message;
  }

  asio::io_context context;
  auto cancel = std::make_shared<CancelToken>();
  size_t next = 0;
  size_t done = 0;
  bool stop = false;

  auto run_one = [&](size_t index) -> Task<void> {
    RowResult& row = run.rows[index];
    const Json& line = data[index / candidates];
    row.line = static_cast<int64_t>(index / candidates);
    row.candidate = options.candidates[index % candidates];
    // The target's inputs first: `${run.inputs.x}` may name them.
    Json run_inputs = Json::object();
    run_inputs["question"] =
        as_text(options.mapping.value("question", line, Json::object(), Json::object()));
    for (const char* key : kDataInputs) {
      row.inputs[key] = as_text(options.mapping.value(key, line, run_inputs, Json::object()));
    }
    for (const auto& [key, value] : options.mapping.entries()) {
      if (key != "answer" && !row.inputs.contains(key)) {
        row.inputs[key] = as_text(options.mapping.value(key, line, run_inputs, Json::object()));
      }
    }
    if (!options.schema.empty() && !row.inputs.contains("schema"))
      row.inputs["schema"] = options.schema;
    // One trace per row (DESIGN.md "Traces"): the candidate's attempts and each evaluator.
    Trace trace(TraceId::time_ordered(unix_millis()), SpanId{});
    SpanScope row_span(trace.root_context(), "eval_row " + row.candidate);
    row_span.set(keel_attr::kEvalRun, options.run_id);
    row_span.set(keel_attr::kEvalLine, row.line);
    row_span.set(keel_attr::kCandidate, row.candidate);
    row_span.set(gen_ai::kRequestModel, row.candidate);
    row.trace_id = trace.id().hex();

    const RowResult* before = nullptr;
    if (auto it = earlier.find({row.line, row.candidate});
        it != earlier.end() && it->second.error.empty() &&
        same_json(it->second.inputs, row.inputs)) {
      before = &it->second;
    }
    bool priced = true;
    if (before != nullptr) {
      row.resumed = true;
      row.output = before->output;
      row.latency_ms = before->latency_ms;
      row.prompt_tokens = before->prompt_tokens;
      row.completion_tokens = before->completion_tokens;
      row.cost = before->cost;
      priced = before->cost.has_value();
    } else if (row.inputs["question"].get<std::string>().empty()) {
      row.error = "no question on this line (map one with --column-mapping question='${data.COL}')";
    } else {
      ChatRequest request;
      request.model = row.candidate;
      Message message;
      message.role = Role::kUser;
      set_string_content(message, row.inputs["question"].get<std::string>());
      request.messages.push_back(std::move(message));
      CallResult call = co_await models.chat(request, cancel, row_span.context());
      row.latency_ms = call.latency_ms;
      row.prompt_tokens = call.prompt_tokens;
      row.completion_tokens = call.completion_tokens;
      row.cost = call.cost;
      priced = call.cost.has_value();
      if (call.error) {
        row.error = call.error->message;
      } else {
        row.output = std::move(call.text);
      }
    }
    if (row.error.empty()) {
      Inputs inputs;
      for (const auto& [key, value] : row.inputs.items()) inputs[key] = as_text(value);
      Json run_outputs = {{"answer", row.output}};
      for (const auto& [key, value] : options.mapping.entries()) {
        inputs[key] = as_text(options.mapping.value(key, line, run_inputs, run_outputs));
      }
      if (!options.mapping.maps("answer")) inputs["answer"] = row.output;
      for (const auto& evaluator : evaluators) {
        if (before != nullptr) {
          auto it = before->scores.find(evaluator->name());
          if (it != before->scores.end() && it->second.value) {
            row.scores[evaluator->name()] = it->second;
            continue;
          }
        }
        SpanScope evaluate(row_span.context(), "evaluate " + evaluator->name());
        Score score = co_await evaluator->score(inputs, cancel);
        record_score(evaluate, score);
        row.prompt_tokens += score.prompt_tokens;
        row.completion_tokens += score.completion_tokens;
        if (score.prompt_tokens + score.completion_tokens > 0) {
          if (score.cost && row.cost) {
            *row.cost += *score.cost;
          } else {
            priced = false;
          }
        }
        row.scores[evaluator->name()] = std::move(score);
      }
    }
    if (!priced) row.cost.reset();
    if (row.error.empty()) {
      row_span.ok();
    } else {
      row_span.fail(row.error);
    }
    row_span.end();
    store.record_spans(std::move(trace));
    EvalRowRecord record;
    record.run_id = options.run_id;
    record.line = row.line;
    record.candidate = row.candidate;
    record.created_ms = unix_millis();
    record.result = row.to_json().dump(-1, ' ', false, Json::error_handler_t::replace);
    if (auto status = store.save_eval_row(record); !status) {
      KEEL_LOG(kWarn) << "eval: row " << row.line << " (" << row.candidate
                      << ") is not kept for a rerun: " << status.error().message;
    }
    if (options.max_cost && !priced && !stop) {
      stop = true;
      run.stopped = "a call had no price in the config's pricing: (" +
                    (models.unpriced().empty() ? std::string("?") : *models.unpriced().begin()) +
                    "), so --max-cost cannot be kept";
    }
    ++done;
    if (options.progress) options.progress(done, total);
  };

  std::vector<bool> started(total, false);
  auto worker = [&]() -> Task<void> {
    while (next < total) {
      if (stop) break;
      if (options.max_cost && models.spent() >= *options.max_cost) {
        stop = true;
        run.stopped = "the spend reached --max-cost";
        break;
      }
      const size_t index = next++;
      started[index] = true;
      co_await run_one(index);
    }
  };
  const int workers = std::max(1, std::min<int>(options.concurrency, static_cast<int>(total)));
  for (int i = 0; i < workers && total > 0; ++i) asio::co_spawn(context, worker(), asio::detached);
  context.run();
  // The upstream connections this thread pooled belong to `context`: dropped before it is.
  http_pool_clear();

  std::vector<RowResult> kept;
  for (size_t i = 0; i < total; ++i) {
    if (!started[i]) {
      ++run.not_run;
      continue;
    }
    if (run.rows[i].resumed) ++run.resumed;
    kept.push_back(std::move(run.rows[i]));
  }
  run.rows = std::move(kept);
  run.spent = models.spent();
  run.unpriced = models.unpriced();
  return run;
}

}  // namespace keel::evals
