#include "flows/run.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "api/json_util.h"
#include "core/log.h"
#include "flows/python.h"
#include "http/asio.h"
#include "prompts/jinja.h"
#include "prompts/prompty.h"
#include "store/request_spans.h"
#include "tools/toolbox.h"

namespace keel {

namespace {

constexpr int64_t kPythonTimeoutMs = 600000;  // Prompt flow's default node timeout
constexpr int kPythonThreads = 8;             // python nodes running at once, per keel

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

Error node_failure(const Flow& flow, const FlowNode& node, const Error& error) {
  Error out = error;
  out.message =
      flow.file + ":" + std::to_string(node.line) + ": node " + node.name + ": " + error.message;
  return out;
}

// A python node on a thread of its own pool, so that the caller's io thread goes on serving
// (and hears its cancellation) while python3 runs. co_spawn on the pool's executor runs the
// call there and resumes the caller on its own executor (a bare `co_await post(pool)` would
// not: the coroutine resumes on its own executor). `cancel` (on the io thread) kills the
// worker's process.
Task<Result<PythonResult>> python_node(const std::string& folder, const std::string& file,
                                       const Json& args, int64_t timeout_ms, CancelPtr cancel) {
  static asio::thread_pool pool(kPythonThreads);
  auto stop = std::make_shared<PythonCancel>();
  CancelRegistration registration(cancel, [stop, cancel] { stop->cancel(cancel->reason()); });
  // optional: co_spawn's value type must be default-constructible.
  std::optional<Result<PythonResult>> result = co_await asio::co_spawn(
      pool.get_executor(),
      [&]() -> Task<std::optional<Result<PythonResult>>> {
        co_return run_python_node(folder, file, args, static_cast<int>(timeout_ms), stop);
      },
      asio::use_awaitable);
  co_return std::move(*result);
}

// Collects an answer's text and usage; the stream target's text also goes to options.stream.
class NodeSink final : public BatchEventSink {
 public:
  explicit NodeSink(FlowTextSink* stream) : stream_(stream) {}
  // A batch's text goes to the stream as one piece.
  Task<bool> on_events(std::vector<ChatEvent>& events) override {
    std::string piece;
    for (const auto& event : events) {
      if (event.kind == ChatEvent::Kind::kUsage) usage = event.usage;
      if (event.kind == ChatEvent::Kind::kTextDelta) piece += event.text;
    }
    text += piece;
    if (stream_ == nullptr || piece.empty()) co_return true;
    streamed = true;
    const bool more = co_await stream_->on_text(piece);
    co_return more;
  }
  std::string text;
  Usage usage;
  bool streamed = false;

 private:
  FlowTextSink* stream_;
};

struct NodeResult {
  Json output;
  Json metrics = Json::object();
  Usage usage;
  std::string model;
  bool streamed = false;
};

NodeResult node_result(Json output, Json metrics = Json::object()) {
  NodeResult result;
  result.output = std::move(output);
  result.metrics = std::move(metrics);
  return result;
}

// The public model of an llm node: its connection, deployment or model name, mapped.
std::string model_of(const FlowNode& node, const Json& args, Router& router,
                     const FlowRunOptions& options) {
  for (const char* key : {"", "deployment_name", "model"}) {
    const Json value = *key ? args.value(key, Json()) : Json(node.connection);
    if (!value.is_string() || value.get<std::string>().empty()) continue;
    const std::string name = value.get<std::string>();
    if (auto it = options.models.find(name); it != options.models.end()) return it->second;
    if (router.has_model(name)) return name;
  }
  return "";
}

Task<Result<NodeResult>> run_llm(const Flow& flow, const FlowNode& node, const Json& args,
                                 const std::string& rendered, Router& router,
                                 const FlowRunOptions& options, CancelPtr cancel, bool stream,
                                 TraceContext trace) {
  ChatRequest request;
  request.model = model_of(node, args, router, options);
  if (request.model.empty()) {
    co_return node_error(flow, node,
                         "no public model for connection '" + node.connection +
                             "' (map it under the flow's `models:`, or name a public model)");
  }
  // Prompt flow's chat API: text before the first role marker is an error.
  auto parts =
      split_messages(rendered, /*preamble_is_error=*/true, flow.folder + "/" + node.source_path, 1);
  if (!parts) co_return node_error(flow, node, parts.error().message);
  auto messages = to_chat_messages(*parts, flow.file);
  if (!messages) co_return node_error(flow, node, messages.error().message);
  request.messages = std::move(*messages);
  if (auto v = number_of(args.value("temperature", Json()))) request.sampling.temperature = *v;
  if (auto v = number_of(args.value("top_p", Json()))) request.sampling.top_p = *v;
  if (auto v = number_of(args.value("max_tokens", Json()))) {
    request.sampling.max_tokens = static_cast<int64_t>(*v);
  }
  request.stream = stream;
  NodeSink sink(stream ? options.stream : nullptr);
  ChatOutcome outcome = co_await router.chat(request, sink, cancel);
  // The node's model attempts, under the node's span (the request's own log keeps none of a
  // flow's attempts, so they are recorded once).
  if (trace) {
    for (Span& span : attempt_spans(outcome.attempts, trace.trace->id(), trace.parent)) {
      trace.trace->add(std::move(span));
    }
  }
  NodeResult result;
  result.streamed = sink.streamed;
  result.model = request.model;
  if (!outcome.status.ok()) co_return outcome.status.error();
  result.output = sink.text;
  result.usage = outcome.usage.present ? outcome.usage : sink.usage;
  co_return result;
}

// A tool node: the node's inputs are the tool's arguments; its text is the output, as JSON
// when it parses as JSON.
Task<Result<NodeResult>> run_tool(const Flow& flow, const FlowNode& node, const Json& args,
                                  const FlowRunOptions& options, CancelPtr cancel,
                                  TraceContext trace) {
  if (options.toolbox == nullptr) {
    co_return node_error(flow, node, "no toolsets here to run tool " + node.tool);
  }
  const size_t slash = node.tool.find('/');
  const std::string toolset = node.tool.substr(0, slash);
  const std::string name = node.tool.substr(slash + 1);
  const std::vector<std::string> toolsets{toolset};
  auto offered = co_await options.toolbox->tools_of(toolsets, cancel);
  if (!offered) co_return node_failure(flow, node, offered.error());
  for (const auto& tool : *offered) {
    if (tool.name != name && tool.tool->spec().name != name) continue;
    ToolOutput output = co_await options.toolbox->invoke(tool, args.dump(), cancel, trace);
    if (output.is_error) co_return node_error(flow, node, node.tool + ": " + output.text);
    NodeResult result;
    auto json = try_parse_json(output.text);
    result.output = json ? std::move(*json) : Json(output.text);
    co_return result;
  }
  co_return node_error(flow, node, "toolset " + toolset + " has no tool " + name);
}

// One attempt at one node.
Task<Result<NodeResult>> run_node_once(const Flow& flow, const FlowNode& node, const Json& args,
                                       Router& router, const FlowRunOptions& options,
                                       CancelPtr cancel, bool stream, TraceContext trace) {
  if (node.type == "python") {
    // With a node timeout its timer cancels the call (one message for every kind of node); the
    // worker's own deadline is only the backstop.
    const int64_t timeout = node.timeout_ms > 0 ? node.timeout_ms + 1000 : kPythonTimeoutMs;
    auto result = co_await python_node(flow.folder, node.source_path, args, timeout, cancel);
    if (!result) co_return result.error();
    co_return node_result(std::move(result->output), std::move(result->metrics));
  }
  if (node.type == "tool") co_return co_await run_tool(flow, node, args, options, cancel, trace);
  if (node.type == "flow") {
    if (options.max_depth <= 0) co_return node_error(flow, node, "sub-flows nest too deep");
    auto sub = load_flow((std::filesystem::path(flow.folder) / node.source_path).string());
    if (!sub) co_return node_error(flow, node, sub.error().message);
    FlowRunOptions inner = options;
    --inner.max_depth;
    inner.stream = nullptr;
    inner.on_node = nullptr;
    inner.trace = trace;
    inner.name = node.name;
    auto result = co_await run_flow(*sub, args, router, inner, cancel);
    if (!result) co_return result.error();
    co_return node_result((*result)["outputs"]);
  }
  auto source = read_template(flow, node);
  if (!source) co_return source.error();
  auto rendered =
      render_jinja(*source, args, flow.folder + "/" + node.source_path, /*first_line=*/1);
  if (!rendered) co_return node_error(flow, node, rendered.error().message);
  if (node.type == "prompt") co_return node_result(*rendered);
  co_return co_await run_llm(flow, node, args, *rendered, router, options, cancel, stream, trace);
}

std::string seconds_text(int64_t ms) {
  std::ostringstream out;
  out << static_cast<double>(ms) / 1000;
  return out.str();
}

// A node with its `timeout` per attempt and its `retries`. The run's cancellation is never
// retried, nor a stream target that has sent text.
Task<Result<NodeResult>> run_node(const Flow& flow, const FlowNode& node, const Json& args,
                                  Router& router, const FlowRunOptions& options,
                                  CancelPtr run_cancel, bool stream, int& attempts,
                                  TraceContext trace) {
  auto executor = co_await asio::this_coro::executor;
  for (attempts = 1;; ++attempts) {
    CancelPtr node_cancel = run_cancel->child();
    asio::steady_timer timer(executor);
    if (node.timeout_ms > 0) {
      timer.expires_after(std::chrono::milliseconds(node.timeout_ms));
      timer.async_wait([node_cancel, ms = node.timeout_ms](const boost::system::error_code& ec) {
        if (!ec) {
          node_cancel->cancel(ErrorCode::kDeadlineExceeded,
                              "timed out after " + seconds_text(ms) + " s (its timeout)");
        }
      });
    }
    auto result =
        co_await run_node_once(flow, node, args, router, options, node_cancel, stream, trace);
    timer.cancel();
    if (result) co_return result;
    Error error = result.error();
    if (node_cancel->cancelled() && !run_cancel->cancelled()) error = node_cancel->reason();
    const bool prefixed = error.message.rfind(flow.file + ":", 0) == 0;
    if (run_cancel->cancelled() || attempts > node.retries ||
        result.error().code == ErrorCode::kCancelled) {
      co_return prefixed ? error : node_failure(flow, node, error);
    }
    KEEL_LOG(kInfo) << flow.file << ": node " << node.name << " failed (attempt " << attempts
                    << " of " << node.retries + 1 << "), trying again: " << error.message;
  }
}

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One line's run: what the scheduler and the node coroutines it starts share (one thread).
struct LineRun {
  const Flow& flow;
  Router& router;
  const FlowRunOptions& options;
  CancelPtr cancel;         // the run's own: cancelled by the caller's, or by the first failure
  asio::steady_timer wake;  // cancelled when a node ends
  TraceContext trace;       // the run's span
  std::vector<std::pair<size_t, Result<NodeResult>>> ended;
  size_t running = 0;
};

// `text` cut to at most `max_bytes` at a UTF-8 boundary, with "..." when it was cut.
std::string cut_text(std::string text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  text.resize(end);
  return text + "...";
}

// A failed node's or run's span: error.type is the code's name, the status its first line.
void fail_span(SpanScope& span, const Error& error) {
  span.set(gen_ai::kErrorType, error_code_name(error.code));
  span.fail(cut_text(error.message.substr(0, error.message.find('\n')), 512));
}

// What a node's span says of it once it ended (FlowRunOptions::trace).
void describe_node(SpanScope& span, const FlowNode& node, const Json& args,
                   const Result<NodeResult>& result, int attempts, bool content) {
  span.set(keel_attr::kFlowNode, node.name);
  span.set(keel_attr::kNodeType, node.type);
  if (node.type == "tool") span.set(gen_ai::kToolName, node.tool);
  span.set(keel_attr::kNodeAttempts, attempts);
  if (content) span.set(keel_attr::kInputs, span_content(args));
  if (!result) {
    fail_span(span, result.error());
    return;
  }
  if (!result->model.empty()) span.set(gen_ai::kRequestModel, result->model);
  if (node.type == "llm") {
    span.set(gen_ai::kUsageInputTokens, result->usage.prompt_tokens);
    span.set(gen_ai::kUsageOutputTokens, result->usage.completion_tokens);
  }
  if (content) span.set(keel_attr::kOutput, span_content(result->output));
  span.ok();
}

// One node with what records it: its span under `trace` (its attempts' own spans under that)
// and options.on_node.
Task<Result<NodeResult>> traced_node(const Flow& flow, const FlowNode& node, Json args,
                                     Router& router, const FlowRunOptions& options,
                                     CancelPtr cancel, bool stream, TraceContext trace) {
  SpanScope span(trace, trace ? "flow_node " + node.name : std::string());
  FlowNodeRecord record;
  record.start_unix_ms = unix_ms();
  const auto start = std::chrono::steady_clock::now();
  Result<NodeResult> result = Error(ErrorCode::kInternal, "not run");
  try {
    result = co_await run_node(flow, node, args, router, options, std::move(cancel), stream,
                               record.attempts, span.context());
  } catch (const std::exception& e) {
    result = node_error(flow, node, std::string("internal error: ") + e.what());
  }
  if (span.recording()) {
    describe_node(span, node, args, result, record.attempts, options.trace_content);
  }
  if (options.on_node) {
    record.node = node.name;
    record.type = node.type;
    record.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - start)
                             .count();
    record.inputs = std::move(args);
    if (result) {
      record.output = result->output;
      record.usage = result->usage;
      record.model = result->model;
    } else {
      record.error = result.error().message;
    }
    options.on_node(record);
  }
  co_return result;
}

// A bypassed node: a span of no length (keel.flow.node.bypassed) and its record.
void record_bypassed(const FlowNode& node, const FlowRunOptions& options, TraceContext trace) {
  SpanScope span(trace, trace ? "flow_node " + node.name : std::string());
  if (span.recording()) {
    span.set(keel_attr::kFlowNode, node.name);
    span.set(keel_attr::kNodeType, node.type);
    span.set(keel_attr::kNodeBypassed, true);
  }
  if (!options.on_node) return;
  FlowNodeRecord record;
  record.node = node.name;
  record.type = node.type;
  record.bypassed = true;
  record.start_unix_ms = unix_ms();
  options.on_node(record);
}

Task<void> node_task(LineRun& run, size_t index, Json args, bool stream) {
  const FlowNode& node = run.flow.nodes[index];
  Result<NodeResult> result = co_await traced_node(run.flow, node, std::move(args), run.router,
                                                   run.options, run.cancel, stream, run.trace);
  run.ended.emplace_back(index, std::move(result));
  run.wake.cancel();
}

// The nodes a node waits for: those its inputs and activate.when name (aggregation nodes
// aside: they run over a batch, after every line).
std::vector<size_t> dependencies(const Flow& flow, const FlowNode& node) {
  std::vector<size_t> out;
  auto add = [&](const FlowValue& value) {
    if (value.kind != FlowValue::Kind::kNode) return;
    const FlowNode* other = flow.find(value.name);
    if (other != nullptr && !other->aggregation) {
      out.push_back(static_cast<size_t>(other - flow.nodes.data()));
    }
  };
  for (const auto& [name, value] : node.inputs) add(value);
  if (node.activate) add(node.activate->first);
  return out;
}

}  // namespace

std::optional<FlowStreamTarget> stream_target(const Flow& flow) {
  std::vector<const FlowOutput*> outputs;
  for (const auto& output : flow.outputs) {
    if (output.is_chat_output)
      outputs.insert(outputs.begin(), &output);
    else
      outputs.push_back(&output);
  }
  for (const FlowOutput* output : outputs) {
    const FlowValue& ref = output->reference;
    if (ref.kind != FlowValue::Kind::kNode || !ref.path.empty()) continue;
    const FlowNode* node = flow.find(ref.name);
    if (node != nullptr && node->type == "llm" && !node->aggregation) {
      return FlowStreamTarget{node->name, output->name};
    }
  }
  return std::nullopt;
}

namespace {

// One line's run (run_flow without the aggregation nodes), its nodes' spans under `trace`.
Task<Result<Json>> run_line(const Flow& flow, const Json& given, Router& router,
                            const FlowRunOptions& options, CancelPtr cancel, TraceContext trace) {
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
  const size_t count = flow.nodes.size();
  std::vector<std::vector<size_t>> waits_for(count);
  for (size_t i = 0; i < count; ++i) waits_for[i] = dependencies(flow, flow.nodes[i]);
  std::string streamed_node;
  if (options.stream != nullptr) {
    if (auto target = stream_target(flow)) streamed_node = target->node;
  }
  auto executor = co_await asio::this_coro::executor;
  LineRun run{flow,
              router,
              options,
              cancel->child(),
              asio::steady_timer(executor, asio::steady_timer::time_point::max()),
              trace,
              {},
              0};
  enum class State { kWaiting, kRunning, kDone };
  std::vector<State> state(count, State::kWaiting);
  Json outputs = Json::object();
  std::set<std::string> bypassed;
  std::optional<Error> failure;
  auto fail = [&](Error error) {
    if (!failure) failure = std::move(error);
    run.cancel->cancel(ErrorCode::kCancelled, "another node of the flow failed");
  };
  // Prompt flow's bypass rule: a node with `activate` is bypassed when its `when` node was or
  // the condition is false; one without, when all of its node inputs were bypassed.
  auto bypass = [&](const FlowNode& node) -> Result<bool> {
    if (node.activate) {
      const FlowValue& when = node.activate->first;
      if (when.kind == FlowValue::Kind::kNode && bypassed.count(when.name)) return true;
      auto value = resolve(when, inputs, outputs);
      if (!value) return node_error(flow, node, value.error().message);
      return *value != node.activate->second;
    }
    int node_inputs = 0, skipped = 0;
    for (const auto& [name, value] : node.inputs) {
      if (value.kind != FlowValue::Kind::kNode) continue;
      ++node_inputs;
      skipped += bypassed.count(value.name) ? 1 : 0;
    }
    return node_inputs > 0 && skipped == node_inputs;
  };
  // Starts every node whose inputs are ready (bypassing those that are bypassed) until none is.
  auto start_ready = [&] {
    for (bool progressed = true; progressed && !failure;) {
      progressed = false;
      for (size_t index : flow.order) {
        const FlowNode& node = flow.nodes[index];
        if (state[index] != State::kWaiting || node.aggregation) continue;
        bool ready = true;
        for (size_t other : waits_for[index]) ready = ready && state[other] == State::kDone;
        if (!ready) continue;
        progressed = true;
        auto skip = bypass(node);
        if (!skip) return fail(skip.error());
        if (*skip) {
          state[index] = State::kDone;
          bypassed.insert(node.name);
          outputs[node.name] = nullptr;
          record_bypassed(node, options, trace);
          continue;
        }
        Json args = Json::object();
        for (const auto& [name, value] : node.inputs) {
          if (value.kind == FlowValue::Kind::kNode && bypassed.count(value.name)) {
            args[name] = nullptr;
            continue;
          }
          auto resolved = resolve(value, inputs, outputs);
          if (!resolved) return fail(node_error(flow, node, resolved.error().message));
          args[name] = std::move(*resolved);
        }
        state[index] = State::kRunning;
        ++run.running;
        asio::co_spawn(executor, node_task(run, index, std::move(args), node.name == streamed_node),
                       asio::detached);
      }
    }
  };
  while (true) {
    for (auto& [index, result] : run.ended) {
      --run.running;
      state[index] = State::kDone;
      if (!result) {
        fail(result.error());
        continue;
      }
      outputs[flow.nodes[index].name] = std::move(result->output);
    }
    run.ended.clear();
    if (!failure && cancel->cancelled()) fail(cancel->reason());
    if (!failure) start_ready();
    if (run.running == 0) break;
    boost::system::error_code ec;
    co_await run.wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (failure) co_return *failure;
  Json result = {{"outputs", Json::object()}, {"nodes", outputs}, {"inputs", inputs}};
  for (const auto& output : flow.outputs) {
    auto value = resolve(output.reference, inputs, outputs);
    result["outputs"][output.name] = value ? *value : Json();
  }
  co_return result;
}

// The aggregation nodes, once, over the lines that ran (run_line's results): a reference
// becomes the list of its per-line values (an aggregation node's own output stays one value).
// {"nodes": {node: output}, "metrics": {log_metric's}}.
Task<Result<Json>> run_aggregation(const Flow& flow, const std::vector<Json>& done, Router& router,
                                   const FlowRunOptions& options, CancelPtr cancel,
                                   TraceContext trace) {
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
    auto result =
        co_await traced_node(flow, node, std::move(args), router, options, cancel, false, trace);
    if (!result) co_return result.error();
    for (const auto& [key, value] : result->metrics.items()) metrics[key] = value;
    aggregated[node.name] = std::move(result->output);
  }
  co_return Json{{"nodes", std::move(aggregated)}, {"metrics", std::move(metrics)}};
}

bool has_aggregation(const Flow& flow) {
  return std::any_of(flow.nodes.begin(), flow.nodes.end(),
                     [](const FlowNode& node) { return node.aggregation; });
}

// A line's run as an invoke_workflow span under options.trace; with `aggregate`, the
// aggregation nodes after it over lists of one.
Task<Result<Json>> run_traced(const Flow& flow, const Json& given, Router& router,
                              const FlowRunOptions& options, CancelPtr cancel, bool aggregate) {
  const std::string name =
      options.name.empty() ? std::filesystem::path(flow.folder).filename().string() : options.name;
  SpanScope span(options.trace, options.trace ? "invoke_workflow " + name : std::string());
  if (span.recording()) {
    span.set(gen_ai::kOperationName, "invoke_workflow");
    span.set(keel_attr::kFlowName, name);
  }
  Result<Json> result = co_await run_line(flow, given, router, options, cancel, span.context());
  if (result && aggregate && has_aggregation(flow)) {
    const std::vector<Json> done{*result};
    auto aggregated = co_await run_aggregation(flow, done, router, options, cancel, span.context());
    if (aggregated) {
      for (auto& [node, output] : (*aggregated)["nodes"].items()) (*result)["nodes"][node] = output;
      (*result)["metrics"] = std::move((*aggregated)["metrics"]);
    } else {
      result = aggregated.error();
    }
  }
  if (span.recording()) {
    if (result) {
      span.ok();
    } else {
      fail_span(span, result.error());
    }
  }
  co_return result;
}

}  // namespace

std::string span_content(const Json& json, size_t max_bytes) {
  return cut_text(json.dump(-1, ' ', false, Json::error_handler_t::replace), max_bytes);
}

Task<Result<Json>> run_flow(const Flow& flow, const Json& inputs, Router& router,
                            const FlowRunOptions& options, CancelPtr cancel) {
  co_return co_await run_traced(flow, inputs, router, options, std::move(cancel), true);
}

Task<Result<Json>> run_flow_batch(const Flow& flow, const std::vector<Json>& lines, Router& router,
                                  const FlowRunOptions& options, CancelPtr cancel) {
  Json results = Json::array();
  std::vector<Json> done;  // the lines that ran: their inputs and node outputs
  for (const auto& line : lines) {
    auto result = co_await run_traced(flow, line, router, options, cancel, false);
    if (!result) {
      results.push_back({{"error", result.error().message}});
      continue;
    }
    results.push_back((*result)["outputs"]);
    done.push_back(std::move(*result));
  }
  auto aggregated = co_await run_aggregation(flow, done, router, options, cancel, options.trace);
  if (!aggregated) co_return aggregated.error();
  co_return Json{{"lines", std::move(results)}, {"metrics", std::move((*aggregated)["metrics"])}};
}

}  // namespace keel
