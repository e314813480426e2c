#include "evals/shadow.h"

#include <algorithm>

#include "api/json_util.h"
#include "core/clock.h"
#include "core/log.h"
#include "evals/stats.h"

namespace keel::evals {

namespace {

void append_number(std::string& out, const std::optional<double>& value) {
  if (value) {
    append_json(out, Json(*value));  // nlohmann's float text, as dump writes it
  } else {
    out += "null";
  }
}

void append_key(std::string& out, const char* key) {
  out += '"';
  out += key;
  out += "\":";
}

// A side's numbers: "latency_ms":..,"prompt_tokens":..,"completion_tokens":..,"target":..,"cost":..
void append_side(std::string& out, int64_t latency_ms, int64_t prompt_tokens,
                 int64_t completion_tokens, const std::string& provider,
                 const std::string& upstream_model, const std::optional<double>& cost) {
  out += "\"latency_ms\":" + std::to_string(latency_ms);
  out += ",\"prompt_tokens\":" + std::to_string(prompt_tokens);
  out += ",\"completion_tokens\":" + std::to_string(completion_tokens);
  out += ",\"target\":";
  append_json_string_checked(out, provider + "/" + upstream_model);
  out += ",\"cost\":";
  append_number(out, cost);
}

}  // namespace

std::string shadow_pair_text(std::string_view question, const ServedAnswer& served,
                             std::optional<double> served_cost, const CallResult& call,
                             const std::vector<std::pair<std::string, Score>>& scores,
                             std::string_view trace_id) {
  std::string out;
  out.reserve(256 + question.size() + served.text.size() + call.text.size());
  auto string_member = [&out](const char* key, std::string_view value) {
    append_key(out, key);
    append_json_string_checked(out, value);
  };
  out += '{';
  string_member("question", question);
  out += ",\"served\":{";
  string_member("text", served.text);
  out += ',';
  append_side(out, served.latency_ms, served.prompt_tokens, served.completion_tokens,
              served.provider, served.upstream_model, served_cost);
  out += "},\"shadow\":{";
  append_side(out, call.latency_ms, call.prompt_tokens, call.completion_tokens, call.provider,
              call.upstream_model, call.cost);
  if (call.error) {
    out += ",\"text\":null,";
    string_member("error", call.error->message);
  } else {
    out += ',';
    string_member("text", call.text);
  }
  out += "},\"scores\":{";
  for (size_t i = 0; i < scores.size(); ++i) {
    const auto& [name, score] = scores[i];
    if (i) out += ',';
    append_json_string_checked(out, name);
    out += ":{\"value\":";
    append_number(out, score.value);
    if (score.value) {
      out += score.passed ? ",\"passed\":true}" : ",\"passed\":false}";
    } else {
      out += ',';
      string_member("error", score.error);
      out += '}';
    }
  }
  out += "},";
  string_member("trace_id", trace_id);
  out += '}';
  return out;
}

bool ShadowMirror::sample(const ShadowConfig& shadow) {
  if (shadow.percent <= 0) return false;
  if (shadow.percent < 100) {
    std::lock_guard lock(rng_mutex_);
    if (std::uniform_real_distribution<double>(0, 100)(rng_) >= shadow.percent) return false;
  }
  if (running_.load() >= shadow.max_concurrency) {
    dropped_.fetch_add(1);
    return false;
  }
  return true;
}

ShadowStats ShadowMirror::stats() const {
  return {mirrored_.load(), dropped_.load(), failed_.load()};
}

void ShadowMirror::mirror(asio::any_io_executor executor, std::shared_ptr<Router> router,
                          const ShadowConfig& shadow, ServedAnswer served) {
  if (running_.fetch_add(1) >= shadow.max_concurrency) {
    running_.fetch_sub(1);
    dropped_.fetch_add(1);
    return;
  }
  asio::co_spawn(executor, run(std::move(router), shadow, std::move(served)), asio::detached);
}

Task<void> ShadowMirror::run(std::shared_ptr<Router> router, ShadowConfig shadow,
                             ServedAnswer served) {
  // The slot is given back however the mirror ends: stored, failed, or abandoned when keel stops
  // (its io_context is destroyed with the frame still suspended).
  struct Slot {
    std::atomic<int>& running;
    ~Slot() { running.fetch_sub(1); }
  } slot{running_};
  auto cancel = std::make_shared<CancelToken>();
  const auto config = config_();  // held to the pair's end: a reload may come meanwhile
  ModelGateway models(*router, *config);
  std::string question;  // the last user turn, what evaluators see as the question
  for (const auto& message : served.request.messages) {
    if (message.role == Role::kUser) question = message.text();
  }
  ChatRequest& request = served.request;  // this mirror's own copy, sent to the candidate
  request.model = shadow.model;
  request.stream = false;
  // One trace per pair (DESIGN.md "Traces"): the candidate's attempts and each evaluator.
  Trace trace(TraceId::time_ordered(unix_millis()), SpanId{});
  SpanScope pair_span(trace.root_context(), "shadow " + shadow.model);
  pair_span.set(keel_attr::kRequestId, served.request_id);
  pair_span.set(gen_ai::kRequestModel, served.model);
  pair_span.set(keel_attr::kShadowModel, shadow.model);
  CallResult call = co_await models.chat(request, cancel, pair_span.context());

  std::vector<std::pair<std::string, Score>> scores;
  if (!call.error) {
    EvaluatorOptions options;  // judges and embeddings through this request's router
    options.judge = shadow.judge;
    options.embedding_model = shadow.embedding_model;
    Inputs inputs = {{"question", question}, {"answer", call.text}, {"ground_truth", served.text}};
    for (const auto& name : shadow.evaluators) {
      const bool repeated = std::any_of(scores.begin(), scores.end(),
                                        [&](const auto& scored) { return scored.first == name; });
      if (repeated) continue;
      auto evaluator = make_evaluator(name, options, models);
      if (!evaluator) {
        Score failed;
        failed.error = evaluator.error().message;
        scores.emplace_back(name, std::move(failed));
        continue;
      }
      Score score;
      if ((*evaluator)->calls_model()) {
        SpanScope evaluate(pair_span.context(), "evaluate " + name);
        score = co_await (*evaluator)->score(inputs, cancel);
        record_score(evaluate, score);
      } else {
        // Computed in place (f1, rouge_l, ...): an attribute of the pair's span, keel.score.NAME
        // (or keel.score.NAME.error). A span of its own is a row in `spans` and its two indexes:
        // f1's and rouge_l's were a quarter of the writer's work per pair (callgrind, 112k ->
        // 83k instructions; docs/dev.md, "Shadow pair").
        score = co_await (*evaluator)->score(inputs, cancel);
        if (score.value) {
          pair_span.set("keel.score." + name, *score.value);
        } else {
          pair_span.set("keel.score." + name + ".error", score.error);
        }
      }
      scores.emplace_back(name, std::move(score));
    }
  }
  std::optional<double> served_cost;
  if (const ModelPrice* price = config->find_price(served.provider, served.upstream_model)) {
    served_cost = (static_cast<double>(served.prompt_tokens) * price->input_per_mtok +
                   static_cast<double>(served.completion_tokens) * price->output_per_mtok) /
                  1e6;
  }
  if (call.error) failed_.fetch_add(1);
  if (call.error) {
    pair_span.fail(call.error->message);
  } else {
    pair_span.ok();
  }
  pair_span.end();
  ShadowPairRecord record;
  record.id = served.request_id;
  record.model = served.model;
  record.shadow_model = shadow.model;
  record.created_ms = unix_millis();
  record.result = shadow_pair_text(question, served, served_cost, call, scores, trace.id().hex());
  // Written by the log's writer, off this io thread (a full queue drops it, as it drops a
  // request record, and says so in the log and /metrics).
  store_.record_shadow_pair(std::move(record), std::move(trace));
  mirrored_.fetch_add(1);
}

Json shadow_report(const std::vector<ShadowPairRecord>& pairs) {
  std::map<std::string, std::vector<double>> values;
  std::map<std::string, int64_t> failed_scores;
  std::vector<double> served_latency, shadow_latency;
  int64_t failures = 0;
  double served_cost = 0, shadow_cost = 0;
  bool served_priced = true, shadow_priced = true;
  int64_t served_tokens = 0, shadow_tokens = 0;
  std::set<std::string> candidates;
  for (const auto& pair : pairs) {
    candidates.insert(pair.shadow_model);
    auto json = try_parse_json(pair.result);
    if (!json || !json->is_object()) continue;
    const Json& served = (*json)["served"];
    const Json& shadow = (*json)["shadow"];
    served_latency.push_back(served.value("latency_ms", 0.0));
    served_tokens +=
        served.value("prompt_tokens", int64_t{0}) + served.value("completion_tokens", int64_t{0});
    if (served["cost"].is_number())
      served_cost += served["cost"].get<double>();
    else
      served_priced = false;
    shadow_tokens +=
        shadow.value("prompt_tokens", int64_t{0}) + shadow.value("completion_tokens", int64_t{0});
    if (shadow["cost"].is_number())
      shadow_cost += shadow["cost"].get<double>();
    else
      shadow_priced = false;
    if (shadow.contains("error")) {
      ++failures;
      continue;
    }
    shadow_latency.push_back(shadow.value("latency_ms", 0.0));
    for (const auto& [name, score] : (*json)["scores"].items()) {
      if (score["value"].is_number()) {
        values[name].push_back(score["value"].get<double>());
      } else {
        ++failed_scores[name];
      }
    }
  }
  Json metrics = Json::object();
  for (const auto& [name, v] : values) {
    MeanCi ci = bootstrap_mean(v);
    metrics[name] = {{"mean", ci.mean},
                     {"ci_low", ci.low},
                     {"ci_high", ci.high},
                     {"n", ci.n},
                     {"failed", failed_scores[name]}};
  }
  auto latency = [](const std::vector<double>& v) {
    return Json{{"p50", percentile(v, 50)},
                {"p95", percentile(v, 95)},
                {"mean_ci", [&] {
                   MeanCi ci = bootstrap_mean(v);
                   return Json{{"mean", ci.mean}, {"low", ci.low}, {"high", ci.high}};
                 }()}};
  };
  Json report = {{"pairs", pairs.size()}, {"candidate_failures", failures}, {"metrics", metrics}};
  report["candidates"] = candidates;
  report["served"] = {{"latency_ms", latency(served_latency)},
                      {"tokens", served_tokens},
                      {"cost", served_priced ? Json(served_cost) : Json(nullptr)}};
  report["shadow"] = {{"latency_ms", latency(shadow_latency)},
                      {"tokens", shadow_tokens},
                      {"cost", shadow_priced ? Json(shadow_cost) : Json(nullptr)}};
  return report;
}

std::string describe_shadow_report(const std::string& model, const Json& report) {
  std::string text = model + " shadowed by ";
  for (const auto& c : report["candidates"]) text += c.get<std::string>() + " ";
  text += "over " + std::to_string(report["pairs"].get<size_t>()) + " pairs (" +
          std::to_string(report["candidate_failures"].get<int64_t>()) + " candidate failures)\n";
  char line[256];
  for (const auto& [name, m] : report["metrics"].items()) {
    std::snprintf(line, sizeof line, "  %-12s candidate vs served: %.3f [%.3f, %.3f] n=%zu\n",
                  name.c_str(), m["mean"].get<double>(), m["ci_low"].get<double>(),
                  m["ci_high"].get<double>(), m["n"].get<size_t>());
    text += line;
  }
  for (const char* side : {"served", "shadow"}) {
    const Json& s = report[side];
    std::snprintf(line, sizeof line,
                  "  %-7s latency p50 %.0f ms, p95 %.0f ms, mean %.1f [%.1f, %.1f] ms; tokens "
                  "%lld; cost %s\n",
                  side, s["latency_ms"]["p50"].get<double>(), s["latency_ms"]["p95"].get<double>(),
                  s["latency_ms"]["mean_ci"]["mean"].get<double>(),
                  s["latency_ms"]["mean_ci"]["low"].get<double>(),
                  s["latency_ms"]["mean_ci"]["high"].get<double>(),
                  static_cast<long long>(s["tokens"].get<int64_t>()),
                  s["cost"].is_number() ? s["cost"].dump().c_str() : "unpriced");
    text += line;
  }
  return text;
}

}  // namespace keel::evals
