// `keel eval TARGET --data FILE ...` and `keel eval compare DIR_A DIR_B` (DESIGN.md "Commands"):
// thin over src/evals/. Candidates run in process through the same Router `keel serve` builds.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>

#include "cli/commands.h"
#include "core/log.h"
#include "evals/dataset.h"
#include "evals/report.h"
#include "evals/run.h"
#include "http/client.h"
#include "providers/provider.h"
#include "router/router.h"
#include "store/store.h"

namespace keel::cli {

namespace {

const char* const kEvalUsage =
    "usage: keel eval TARGET --data FILE [--models a,b] [--evaluators e1,e2] [--judge MODEL]\n"
    "                 [--column-mapping k='${data.col}' ...] [--out DIR] [--config FILE]\n"
    "                 [--embedding-model MODEL] [--judges DIR] [--schema FILE]\n"
    "                 [--concurrency N] [--max-cost X] [--run-id ID] [--threshold T] [--json]\n"
    "       keel eval compare DIR_A DIR_B [--json]\n";

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Every value after each --column-mapping, up to the next --flag (Prompt flow takes
// `--column-mapping a=b c=d`), and repeated flags.
std::vector<std::string> mapping_args(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] != "--column-mapping") continue;
    while (i + 1 < args.size() && !args[i + 1].starts_with("--")) out.push_back(args[++i]);
  }
  return out;
}

// The config cut down to the models this run calls and their providers: a local model that
// no candidate uses is not loaded.
Config only_models(const Config& config, const std::set<std::string>& names) {
  Config cut = config;
  cut.models.clear();
  std::set<std::string> providers;
  for (const auto& model : config.models) {
    if (!names.count(model.name)) continue;
    cut.models.push_back(model);
    for (const auto& target : model.targets) providers.insert(target.provider);
  }
  cut.providers.clear();
  for (const auto& provider : config.providers) {
    if (providers.count(provider.name)) cut.providers.push_back(provider);
  }
  return cut;
}

class ProgressBar {
 public:
  ProgressBar() : tty_(isatty(STDERR_FILENO) != 0) {}
  void update(size_t done, size_t total) {
    if (!tty_ || total == 0) return;
    const int width = 30;
    const int filled =
        static_cast<int>(static_cast<double>(done) / static_cast<double>(total) * width);
    std::fprintf(stderr, "\r[%s%s] %zu/%zu rows",
                 std::string(static_cast<size_t>(filled), '#').c_str(),
                 std::string(static_cast<size_t>(width - filled), '.').c_str(), done, total);
    if (done == total) std::fputc('\n', stderr);
    std::fflush(stderr);
  }

 private:
  bool tty_;
};

int compare(const std::vector<std::string>& args) {
  if (args.size() < 2 || args[0].starts_with("--") || args[1].starts_with("--")) {
    std::fputs(kEvalUsage, stderr);
    return 2;
  }
  auto a = evals::read_results(args[0]);
  if (!a) {
    std::fprintf(stderr, "keel eval compare: %s\n", a.error().message.c_str());
    return 1;
  }
  auto b = evals::read_results(args[1]);
  if (!b) {
    std::fprintf(stderr, "keel eval compare: %s\n", b.error().message.c_str());
    return 1;
  }
  auto comparison = evals::compare_runs(*a, *b);
  if (!comparison) {
    std::fprintf(stderr, "keel eval compare: %s\n", comparison.error().message.c_str());
    return 1;
  }
  const bool json = std::find(args.begin(), args.end(), "--json") != args.end();
  if (json) {
    std::puts(comparison->dump(2).c_str());
  } else {
    std::fputs(evals::describe_comparison(*comparison).c_str(), stdout);
  }
  return 0;
}

void print_summary(const Json& summary) {
  for (const auto& c : summary["candidates"]) {
    std::printf(
        "%s: %lld rows, %lld errors, pass rate %.1f%%, p50 %s ms, p95 %s ms, tokens %lld + %lld, "
        "cost %s\n",
        c["model"].get<std::string>().c_str(), static_cast<long long>(c["rows"].get<int64_t>()),
        static_cast<long long>(c["errors"].get<int64_t>()), c["pass_rate"].get<double>() * 100,
        c["latency_ms"]["p50"].dump().c_str(), c["latency_ms"]["p95"].dump().c_str(),
        static_cast<long long>(c["tokens"]["prompt"].get<int64_t>()),
        static_cast<long long>(c["tokens"]["completion"].get<int64_t>()),
        c["cost"].is_number() ? c["cost"].dump().c_str() : "unpriced");
    for (const auto& [name, m] : c["metrics"].items()) {
      if (m["mean"].is_number()) {
        std::printf("  %-22s %.3f [%.3f, %.3f]  n=%lld failed=%lld\n", name.c_str(),
                    m["mean"].get<double>(), m["ci_low"].get<double>(), m["ci_high"].get<double>(),
                    static_cast<long long>(m["n"].get<int64_t>()),
                    static_cast<long long>(m["failed"].get<int64_t>()));
      } else {
        std::printf("  %-22s no scores (failed=%lld)\n", name.c_str(),
                    static_cast<long long>(m["failed"].get<int64_t>()));
      }
    }
  }
}

}  // namespace

int eval(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "compare") return compare({args.begin() + 1, args.end()});
  if (args.empty() || args[0].starts_with("--")) {
    std::fputs(kEvalUsage, stderr);
    return 2;
  }
  const std::string target = args[0];
  const std::string data_path = flag(args, "--data");
  if (data_path.empty()) {
    std::fprintf(stderr, "keel eval: --data FILE is required (JSONL or CSV)\n%s", kEvalUsage);
    return 2;
  }
  auto loaded = load_config(args);
  if (!loaded) {
    std::fprintf(stderr, "keel eval: %s\n", loaded.error().message.c_str());
    return 1;
  }
  const Config& config = *loaded;
  auto rows = evals::load_dataset(data_path);
  if (!rows) {
    std::fprintf(stderr, "keel eval: --data %s\n", rows.error().message.c_str());
    return 1;
  }
  auto mapping = evals::ColumnMapping::parse(mapping_args(args));
  if (!mapping) {
    std::fprintf(stderr, "keel eval: %s\n", mapping.error().message.c_str());
    return 1;
  }

  evals::RunOptions options;
  options.mapping = std::move(*mapping);
  const std::string models_flag = flag(args, "--models");
  options.candidates =
      models_flag.empty() ? std::vector<std::string>{target} : split_list(models_flag);
  std::vector<std::string> evaluator_names = split_list(flag(args, "--evaluators"));
  if (evaluator_names.empty()) evaluator_names = {"exact_match", "f1"};
  evals::EvaluatorOptions evaluator_options;
  evaluator_options.judge = flag(args, "--judge");
  evaluator_options.embedding_model = flag(args, "--embedding-model");
  evaluator_options.judges_dir = flag(args, "--judges");
  if (std::string t = flag(args, "--threshold"); !t.empty())
    evaluator_options.threshold = std::atof(t.c_str());
  if (std::string n = flag(args, "--concurrency"); !n.empty()) {
    options.concurrency = std::atoi(n.c_str());
    if (options.concurrency < 1 || options.concurrency > 256) {
      std::fputs("keel eval: --concurrency must be 1-256\n", stderr);
      return 2;
    }
  }
  if (std::string cap = flag(args, "--max-cost"); !cap.empty()) {
    char* end = nullptr;
    const double value = std::strtod(cap.c_str(), &end);
    if (end == cap.c_str() || *end != '\0' || !(value >= 0)) {
      std::fprintf(stderr, "keel eval: --max-cost: expected a number, got '%s'\n", cap.c_str());
      return 2;
    }
    options.max_cost = value;
    if (config.pricing.empty()) {
      std::fputs(
          "keel eval: --max-cost needs prices: add a pricing: table to the config "
          "(keel ships none)\n",
          stderr);
      return 1;
    }
  }
  if (std::string schema = flag(args, "--schema"); !schema.empty()) {
    auto text = evals::read_text_file(schema);
    if (!text) {
      std::fprintf(stderr, "keel eval: --schema %s\n", text.error().message.c_str());
      return 1;
    }
    options.schema = std::move(*text);
  }
  std::string out = flag(args, "--out");
  if (out.empty()) out = "keel-eval";
  std::error_code ec;
  const std::string out_abs =
      std::filesystem::weakly_canonical(std::filesystem::absolute(out), ec).string();
  options.run_id = flag(args, "--run-id");
  if (options.run_id.empty()) options.run_id = "out:" + out_abs;

  std::set<std::string> needed(options.candidates.begin(), options.candidates.end());
  for (const auto& name : options.candidates) {
    if (config.find_model(name) == nullptr) {
      std::fprintf(stderr, "keel eval: no model named '%s' in %s\n", name.c_str(),
                   config.source.c_str());
      return 1;
    }
  }
  if (!evaluator_options.judge.empty()) needed.insert(evaluator_options.judge);
  if (!evaluator_options.embedding_model.empty()) needed.insert(evaluator_options.embedding_model);
  Config cut = only_models(config, needed);

  std::map<std::string, std::unique_ptr<Provider>> providers;
  for (const auto& provider_config : cut.providers) {
    auto provider = make_provider(provider_config);
    if (!provider) {
      std::fprintf(stderr, "keel eval: %s\n", provider.error().message.c_str());
      return 1;
    }
    providers.emplace(provider_config.name, std::move(provider.value()));
  }
  auto store = open_store(config.state);
  if (!store) {
    std::fprintf(stderr, "keel eval: state: %s\n", store.error().message.c_str());
    return 1;
  }
  Router router(cut, std::move(providers));
  evals::ModelGateway models(router, cut);
  auto evaluators = evals::make_evaluators(evaluator_names, evaluator_options, models);
  if (!evaluators) {
    std::fprintf(stderr, "keel eval: %s\n", evaluators.error().message.c_str());
    return 1;
  }
  Json describe = {{"target", target}, {"data", data_path}, {"out", out_abs}};
  describe["candidates"] = options.candidates;
  describe["evaluators"] = evaluator_names;
  if (auto status = (*store)->save_eval_run(options.run_id, describe.dump()); !status) {
    KEEL_LOG(kWarn) << "eval: the run is not kept for a rerun: " << status.error().message;
  }
  std::fprintf(
      stderr, "keel eval: %zu lines x %zu candidates, evaluators %s, run %s\n", rows->size(),
      options.candidates.size(),
      flag(args, "--evaluators").empty() ? "exact_match,f1" : flag(args, "--evaluators").c_str(),
      options.run_id.c_str());
  ProgressBar bar;
  options.progress = [&bar](size_t done, size_t total) { bar.update(done, total); };

  evals::RunResult run = evals::run_eval(models, **store, *rows, options, *evaluators);

  std::vector<std::string> metric_names;
  for (const auto& evaluator : *evaluators) metric_names.push_back(evaluator->name());
  Json summary = evals::summarize(run.rows, options.candidates, metric_names);
  summary["run_id"] = options.run_id;
  summary["target"] = target;
  summary["data"] = data_path;
  summary["versus_best"] = evals::compare_to_best(run.rows, summary);
  summary["resumed"] = run.resumed;
  summary["not_run"] = run.not_run;
  summary["stopped"] = run.stopped;
  summary["spent"] = run.spent;
  summary["unpriced"] = run.unpriced;
  if (auto status =
          evals::write_report(out, run.rows, summary, "keel eval: " + target + " on " + data_path);
      !status) {
    std::fprintf(stderr, "keel eval: %s\n", status.error().message.c_str());
    return 1;
  }
  if (std::find(args.begin(), args.end(), "--json") != args.end()) {
    std::puts(summary.dump(2).c_str());
  } else {
    print_summary(summary);
    if (!summary["versus_best"]["comparisons"].empty()) {
      std::printf("against the best ranked (%s):\n%s",
                  summary["versus_best"]["baseline"].get<std::string>().c_str(),
                  evals::describe_comparison(summary["versus_best"]).c_str());
    }
    std::printf("wrote %s/report.html, results.jsonl, summary.json\n", out.c_str());
  }
  if (run.resumed > 0)
    std::fprintf(stderr, "keel eval: %zu rows taken from the earlier run\n", run.resumed);
  if (!run.stopped.empty()) {
    std::fprintf(stderr, "keel eval: stopped early (%zu rows not run): %s\n", run.not_run,
                 run.stopped.c_str());
    return 3;
  }
  return 0;
}

}  // namespace keel::cli
