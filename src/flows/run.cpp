#include "flows/run.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "flows/python.h"
#include "http/asio.h"
#include "prompts/jinja.h"
#include "prompts/prompty.h"

namespace keel {

namespace {

constexpr int kPythonTimeoutMs = 600000;  // Prompt flow's default node timeout

Error node_error(const Flow& flow, const FlowNode& node, const std::string& reason) {
  return Error(ErrorCode::kInvalidArgument,
               flow.file + ":" + std::to_string(node.line) + ": node " + node.name + ": " + reason);
}

// A reference's value: the flow input, or a node's output and the path into it.
Result<Json> resolve(const FlowValue& value, const Json& inputs, const Json& outputs) {
  if (value.kind == FlowValue::Kind::kLiteral) return value.literal;
  if (value.kind == FlowValue::Kind::kInput) return inputs.value(value.name, Json());
  Json current = outputs.value(value.name, Json());
  for (const auto& step : value.path) {
    if (step.is_string() && current.is_object() && current.contains(step.get<std::string>())) {
      current = current[step.get<std::string>()];
    } else if (step.is_number_integer() && current.is_array() &&
               step.get<int64_t>() < static_cast<int64_t>(current.size())) {
      current = current[static_cast<size_t>(step.get<int64_t>())];
    } else {
      return Error(ErrorCode::kInvalidArgument, value.text + ": no " + step.dump() + " there");
    }
  }
  return current;
}

Result<std::string> read_template(const Flow& flow, const FlowNode& node) {
  std::ifstream in(flow.folder + "/" + node.source_path, std::ios::binary);
  if (!in) return node_error(flow, node, "cannot open " + node.source_path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::optional<double> number_of(const Json& value) {
  if (value.is_number()) return value.get<double>();
  if (value.is_string()) {
    try {
      return std::stod(value.get<std::string>());
    } catch (...) {
    }
  }
  return std::nullopt;
}

// A python node on a worker thread of its own pool, so that the caller's io thread goes on
// serving while python3 runs; the coroutine resumes on the caller's executor.
Task<Result<PythonResult>> python_node(const std::string& folder, const std::string& file,
                                       const Json& args) {
  static asio::thread_pool pool(4);
  auto home = co_await asio::this_coro::executor;
  co_await asio::post(pool, asio::use_awaitable);
  Result<PythonResult> result = run_python_node(folder, file, args, kPythonTimeoutMs);
  co_await asio::post(home, asio::use_awaitable);
  co_return result;
}

// Collects an answer's text.
class TextSink final : public EventSink {
 public:
  Task<bool> on_event(ChatEvent event) override {
    if (event.kind == ChatEvent::Kind::kTextDelta) text += event.text;
    co_return true;
  }
  std::string text;
};

}  // namespace

Task<Result<Json>> run_flow(const Flow& flow, const Json& given, Router& router,
                            const FlowRunOptions& options, CancelPtr cancel) {
  Json inputs = Json::object();
  for (const auto& [name, value] : given.items()) {
    bool declared = false;
    for (const auto& input : flow.inputs) declared = declared || input.name == name;
    if (!declared) {
      co_return Error(ErrorCode::kInvalidArgument, flow.file + ": unknown input '" + name + "'");
    }
    inputs[name] = value;
  }
  for (const auto& input : flow.inputs) {
    if (inputs.contains(input.name)) continue;
    if (!input.default_value) {
      co_return Error(ErrorCode::kInvalidArgument, flow.file + ":" + std::to_string(input.line) +
                                                       ": missing input '" + input.name + "'");
    }
    inputs[input.name] = *input.default_value;
  }
  Json outputs = Json::object();
  std::set<std::string> bypassed;
  for (size_t index : flow.order) {
    const FlowNode& node = flow.nodes[index];
    if (node.aggregation) continue;  // aggregation runs over a batch's lines
    // Prompt flow: a node with `activate` is bypassed when its `when` node was or the
    // condition is false; one without, when all of its node inputs were bypassed.
    bool skip = false;
    if (node.activate) {
      const FlowValue& when = node.activate->first;
      if (when.kind == FlowValue::Kind::kNode && bypassed.count(when.name)) {
        skip = true;
      } else {
        auto value = resolve(when, inputs, outputs);
        if (!value) co_return node_error(flow, node, value.error().message);
        skip = *value != node.activate->second;
      }
    } else {
      int node_inputs = 0, skipped = 0;
      for (const auto& [name, value] : node.inputs) {
        if (value.kind != FlowValue::Kind::kNode) continue;
        ++node_inputs;
        skipped += bypassed.count(value.name) ? 1 : 0;
      }
      skip = node_inputs > 0 && skipped == node_inputs;
    }
    if (skip) {
      bypassed.insert(node.name);
      outputs[node.name] = nullptr;
      continue;
    }
    Json args = Json::object();
    for (const auto& [name, value] : node.inputs) {
      if (value.kind == FlowValue::Kind::kNode && bypassed.count(value.name)) {
        args[name] = nullptr;
        continue;
      }
      auto resolved = resolve(value, inputs, outputs);
      if (!resolved) co_return node_error(flow, node, resolved.error().message);
      args[name] = std::move(*resolved);
    }
    if (node.type == "python") {
      auto result = co_await python_node(flow.folder, node.source_path, args);
      if (!result) co_return node_error(flow, node, result.error().message);
      outputs[node.name] = std::move(result->output);
      continue;
    }
    if (node.type == "flow") {
      if (options.max_depth <= 0) co_return node_error(flow, node, "sub-flows nest too deep");
      auto sub = load_flow((std::filesystem::path(flow.folder) / node.source_path).string());
      if (!sub) co_return node_error(flow, node, sub.error().message);
      FlowRunOptions inner = options;
      --inner.max_depth;
      auto result = co_await run_flow(*sub, args, router, inner, cancel);
      if (!result) co_return node_error(flow, node, result.error().message);
      outputs[node.name] = (*result)["outputs"];
      continue;
    }
    if (node.type != "prompt" && node.type != "llm") {
      co_return node_error(flow, node, "node type " + node.type + " is not run by keel yet");
    }
    auto source = read_template(flow, node);
    if (!source) co_return source.error();
    auto rendered =
        render_jinja(*source, args, flow.folder + "/" + node.source_path, /*first_line=*/1);
    if (!rendered) co_return node_error(flow, node, rendered.error().message);
    if (node.type == "prompt") {
      outputs[node.name] = *rendered;
      continue;
    }
    // llm: the public model, from the connection, deployment or model name.
    std::string model;
    for (const std::string& name :
         {node.connection,
          args.value("deployment_name", Json("")).is_string()
              ? args.value("deployment_name", std::string())
              : std::string(),
          args.value("model", Json("")).is_string() ? args.value("model", std::string())
                                                    : std::string()}) {
      if (name.empty()) continue;
      if (auto it = options.models.find(name); it != options.models.end()) {
        model = it->second;
        break;
      }
      if (model.empty() && router.has_model(name)) model = name;
    }
    if (model.empty()) {
      co_return node_error(flow, node,
                           "no public model for connection '" + node.connection +
                               "' (map it under the flow's `models:`, or name a public model)");
    }
    ChatRequest request;
    request.model = model;
    // Prompt flow's chat API: text before the first role marker is an error.
    auto parts = split_messages(*rendered, /*preamble_is_error=*/true,
                                flow.folder + "/" + node.source_path, 1);
    if (!parts) co_return node_error(flow, node, parts.error().message);
    auto messages = to_chat_messages(*parts, flow.file);
    if (!messages) co_return node_error(flow, node, messages.error().message);
    request.messages = std::move(*messages);
    if (auto v = number_of(args.value("temperature", Json()))) request.sampling.temperature = *v;
    if (auto v = number_of(args.value("top_p", Json()))) request.sampling.top_p = *v;
    if (auto v = number_of(args.value("max_tokens", Json()))) {
      request.sampling.max_tokens = static_cast<int64_t>(*v);
    }
    TextSink sink;
    ChatOutcome outcome = co_await router.chat(request, sink, cancel);
    if (!outcome.status.ok()) {
      co_return node_error(flow, node, outcome.status.error().message);
    }
    outputs[node.name] = sink.text;
  }
  Json result = {{"outputs", Json::object()}, {"nodes", outputs}, {"inputs", inputs}};
  for (const auto& output : flow.outputs) {
    auto value = resolve(output.reference, inputs, outputs);
    result["outputs"][output.name] = value ? *value : Json();
  }
  co_return result;
}

Task<Result<Json>> run_flow_batch(const Flow& flow, const std::vector<Json>& lines, Router& router,
                                  const FlowRunOptions& options, CancelPtr cancel) {
  Json results = Json::array();
  std::vector<Json> done;  // the lines that ran: their inputs and node outputs
  for (const auto& line : lines) {
    auto result = co_await run_flow(flow, line, router, options, cancel);
    if (!result) {
      results.push_back({{"error", result.error().message}});
      continue;
    }
    results.push_back((*result)["outputs"]);
    done.push_back(std::move(*result));
  }
  // Aggregation nodes, once, over the lines that ran: a reference becomes the list of its
  // per-line values (an aggregation node's own output stays one value).
  Json metrics = Json::object();
  Json aggregated = Json::object();
  for (size_t index : flow.order) {
    const FlowNode& node = flow.nodes[index];
    if (!node.aggregation) continue;
    Json args = Json::object();
    for (const auto& [name, value] : node.inputs) {
      if (value.kind == FlowValue::Kind::kLiteral) {
        args[name] = value.literal;
        continue;
      }
      if (value.kind == FlowValue::Kind::kNode && flow.find(value.name)->aggregation) {
        auto one = resolve(value, Json::object(), aggregated);
        args[name] = one ? *one : Json();
        continue;
      }
      Json list = Json::array();
      for (const auto& line : done) {
        auto item = resolve(value, line["inputs"], line["nodes"]);
        list.push_back(item ? *item : Json());
      }
      args[name] = std::move(list);
    }
    if (node.type != "python") {
      co_return node_error(flow, node,
                           "an aggregation node of type " + node.type + " is not run by keel yet");
    }
    auto result = co_await python_node(flow.folder, node.source_path, args);
    if (!result) co_return node_error(flow, node, result.error().message);
    for (const auto& [key, value] : result->metrics.items()) metrics[key] = value;
    aggregated[node.name] = std::move(result->output);
  }
  co_return Json{{"lines", std::move(results)}, {"metrics", std::move(metrics)}};
}

}  // namespace keel
