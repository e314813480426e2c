// `keel flow check PATH` and `keel flow run PATH` (DESIGN.md "Commands"): check reads a Prompt
// flow folder (flow.dag.yaml and the files it names) and checks the graph before anything runs:
// cycles, unknown references, unknown node types, missing files, with errors naming the file,
// line and node; run runs it once through this process's router and prints its outputs (a
// single run of a flow with aggregation nodes prints its metrics to stderr). The run is a trace
// of its own in the config's state store (`keel trace ID`), its id printed to stderr.
#include "flows/flow.h"

#include <cstdio>
#include <fstream>

#include "api/json_util.h"
#include "cli/commands.h"
#include "core/clock.h"
#include "flows/run.h"
#include "http/client.h"
#include "store/store.h"
#include "tools/toolbox.h"

namespace keel::cli {

namespace {

constexpr const char* kUsage =
    "usage: keel flow check PATH [--variant NODE=ID ...]\n"
    "       keel flow run PATH [--inputs k=v ... | --inputs FILE] [--model NAME=PUBLIC ...]\n"
    "                     [--variant NODE=ID ...] [--config FILE]\n";

// `keel flow run`: the flow once, llm nodes through this process's router; prints the outputs.
int run(const std::string& path, const std::vector<std::string>& args,
        const FlowLoadOptions& load_options) {
  auto flow = load_flow(path, load_options);
  if (!flow) {
    std::fprintf(stderr, "%s\n", flow.error().message.c_str());
    return 1;
  }
  FlowRunOptions options;
  Json inputs = Json::object();
  std::vector<Json> lines;  // from an --inputs FILE
  bool batch = false;       // a *.jsonl FILE, or more than one line
  for (size_t i = 2; i < args.size(); ++i) {
    if (args[i] == "--model" && i + 1 < args.size() && args[i + 1].find('=') != std::string::npos) {
      const std::string& pair = args[++i];
      options.models[pair.substr(0, pair.find('='))] = pair.substr(pair.find('=') + 1);
    } else if (args[i] == "--inputs") {
      // k=v ... up to the next flag, or one FILE: a JSON object, or JSON lines (the first).
      while (i + 1 < args.size() && !args[i + 1].starts_with("--")) {
        const std::string& item = args[++i];
        const size_t eq = item.find('=');
        if (eq == std::string::npos) {
          // A JSON object (one run), or JSON lines (*.jsonl, Prompt flow's data.jsonl): a batch
          // run over every line, with the aggregation nodes.
          std::ifstream in(item);
          if (!in) {
            std::fprintf(stderr, "keel: --inputs %s: cannot read it\n", item.c_str());
            return 2;
          }
          std::string text;
          while (std::getline(in, text)) {
            if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
            auto json = try_parse_json(text);
            if (!json || !json->is_object()) {
              std::fprintf(stderr, "keel: --inputs %s: a line that is not a JSON object\n",
                           item.c_str());
              return 2;
            }
            lines.push_back(std::move(*json));
          }
          batch = batch || item.ends_with(".jsonl");
          continue;
        }
        const std::string name = item.substr(0, eq);
        const std::string text = item.substr(eq + 1);
        std::string type = "string";
        for (const auto& input : flow->inputs) {
          if (input.name == name) type = input.type;
        }
        auto json = type == "string" ? std::optional<Json>() : try_parse_json(text);
        inputs[name] = json ? *json : Json(text);
      }
    } else if ((args[i] == "--config" || args[i] == "--variant") && i + 1 < args.size()) {
      ++i;
    } else {
      std::fprintf(stderr, "keel flow run: unknown argument '%s'\n%s", args[i].c_str(), kUsage);
      return 2;
    }
  }
  auto config = load_config(args);
  if (!config) {
    std::fprintf(stderr, "keel: %s\n", config.error().message.c_str());
    return 1;
  }
  auto router = make_router(*config);
  if (!router) {
    std::fprintf(stderr, "keel: %s\n", router.error().message.c_str());
    return 1;
  }
  auto pins = ToolPins::open(config->state);
  if (!pins) {
    std::fprintf(stderr, "keel: %s\n", pins.error().message.c_str());
    return 1;
  }
  auto store = open_store(config->state);
  if (!store) {
    std::fprintf(stderr, "keel: state: %s\n", store.error().message.c_str());
    return 1;
  }
  // The run's trace: an invoke_workflow span, a span per node (flows/run.h).
  Trace trace(TraceId::time_ordered(unix_millis()), SpanId{});
  options.trace = trace.root_context();
  options.trace_content = config->log_content;
  Result<Json> result = Error(ErrorCode::kInternal, "not run");
  asio::io_context context;
  batch = batch || lines.size() > 1;
  if (!batch && lines.size() == 1) {
    for (const auto& [key, value] : lines[0].items()) {
      if (!inputs.contains(key)) inputs[key] = value;
    }
  }
  {
    // Tool nodes' toolsets; their servers (MCP over stdio) end with it.
    Toolbox toolbox(config->toolsets);
    toolbox.set_pins(pins->get());
    for (const auto& error : toolbox.errors()) std::fprintf(stderr, "keel: %s\n", error.c_str());
    options.toolbox = &toolbox;
    auto task = [&]() -> Task<void> {
      auto cancel = std::make_shared<CancelToken>();
      if (batch) {
        for (auto& line : lines) {
          for (const auto& [key, value] : inputs.items()) line[key] = value;
        }
        result = co_await run_flow_batch(*flow, lines, **router, options, cancel);
      } else {
        result = co_await run_flow(*flow, inputs, **router, options, cancel);
      }
      context.stop();
    };
    asio::co_spawn(context, task(), asio::detached);
    context.run();
  }
  http_pool_clear();
  const std::string trace_id = trace.id().hex();
  (*store)->record_spans(std::move(trace));
  (*store)->flush();
  std::fprintf(stderr, "keel: trace %s\n", trace_id.c_str());
  if (!result) {
    std::fprintf(stderr, "keel: %s\n", result.error().message.c_str());
    return 1;
  }
  if (!batch && result->contains("metrics")) {
    std::fprintf(stderr, "keel: metrics %s\n", (*result)["metrics"].dump().c_str());
  }
  std::printf("%s\n", (batch ? *result : (*result)["outputs"]).dump(2).c_str());
  return 0;
}

}  // namespace

int flow(const std::vector<std::string>& args) {
  if (args.size() < 2 || (args[0] != "check" && args[0] != "run")) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  FlowLoadOptions options;
  for (size_t i = 2; i < args.size(); ++i) {
    const size_t eq = i + 1 < args.size() ? args[i + 1].find('=') : std::string::npos;
    if (args[i] == "--variant" && eq != std::string::npos) {
      options.variants[args[i + 1].substr(0, eq)] = args[i + 1].substr(eq + 1);
      ++i;
    } else if (args[0] == "check") {
      std::fprintf(stderr, "keel flow check: unknown argument '%s'\n", args[i].c_str());
      return 2;
    }
  }
  if (args[0] == "run") return run(args[1], args, options);
  auto flow = load_flow(args[1], options);
  if (!flow) {
    std::fprintf(stderr, "%s\n", flow.error().message.c_str());
    return 1;
  }
  std::string order;
  for (size_t index : flow->order) {
    order += (order.empty() ? "" : ", ") + flow->nodes[index].name;
  }
  std::printf("%s: ok (%zu inputs, %zu nodes, %zu outputs%s; runs %s)\n", flow->file.c_str(),
              flow->inputs.size(), flow->nodes.size(), flow->outputs.size(),
              flow->is_chat() ? ", a chat flow" : "", order.c_str());
  return 0;
}

}  // namespace keel::cli
