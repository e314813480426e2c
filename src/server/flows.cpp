// POST /v1/flows/{name}/run (DESIGN.md "HTTP surface"): {"inputs": {...}} runs a configured
// Prompt flow once through the router and answers {"outputs": {...}}; with "include":
// ["nodes"] (the word OpenAI's Responses API uses for optional parts of an answer) also
// {"nodes": {node: output}}, which the console's Flows page shows. With "stream": true the
// answer is server-sent events: `data: {"delta": {OUTPUT: TEXT}}` for each piece of the llm node
// whose whole output a flow output names, then `data: {"outputs": {...}}` (with "nodes" when
// asked), then `data: [DONE]`; a failure after the first event is `data: {"error": {...}}`
// (OpenAI's error object). A client that goes away cancels the run: its llm calls and python
// workers are stopped. A flow with aggregation nodes also answers "metrics": {...} (they run
// once over lists of one, as Prompt flow runs them for a single line). The run's spans go into
// the request's trace (flows/run.h: an invoke_workflow span, a span per node), and its llm
// nodes' tokens into the request's log row.
#include <algorithm>
#include <optional>

#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"
#include "core/text.h"
#include "flows/stream.h"
#include "server/app.h"

namespace keel {

namespace {

std::string event(const Json& data) {
  return "data: " + data.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n\n";
}

// The name of the output that a streamed run's deltas carry ("" when none streams).
std::string stream_output(const Flow& flow) {
  auto target = stream_target(flow);
  return target ? target->output : std::string();
}

}  // namespace

Task<void> App::run_flow_route(RouteCall& call) {
  const std::optional<std::string> name = percent_decode(call.params[0]);
  const LoadedFlow* flow = name && flows_ ? flows_->find(*name) : nullptr;
  if (flow == nullptr) {
    Error error(ErrorCode::kNotFound,
                "flow '" + name.value_or(std::string(call.params[0])) + "' does not exist");
    error.type_code = "flow_not_found";
    co_await send_error(call.response, error, &call.record);
    co_return;
  }
  call.record.model = flow->name;
  auto body = parse_json(call.request.message.body(), ErrorCode::kInvalidArgument, "request body");
  std::optional<Error> error;
  Json inputs = Json::object();
  bool include_nodes = false;
  bool stream = false;
  if (!body) {
    error = body.error();
  } else if (!body->is_object()) {
    error = Error(ErrorCode::kInvalidArgument, "request body must be a JSON object");
  } else {
    for (const auto& [key, value] : body->items()) {
      if (key == "inputs" && value.is_object()) {
        inputs = value;
      } else if (key == "stream" && (value.is_null() || value.is_boolean())) {
        stream = value.is_boolean() && value.get<bool>();
      } else if (key == "include" && value.is_array() &&
                 std::all_of(value.begin(), value.end(),
                             [](const Json& v) { return v == "nodes"; })) {
        include_nodes = !value.empty();
      } else {
        error = Error(ErrorCode::kInvalidArgument,
                      "unknown or malformed field '" + key +
                          "' (expected inputs: an object, stream: a boolean, include: [\"nodes\"])");
      }
      if (error) break;
    }
  }
  if (error) {
    co_await send_error(call.response, *error, &call.record);
    co_return;
  }
  call.record.stream = stream;
  // This request's router, kept through the run: a reload meanwhile does not change it.
  const std::shared_ptr<Router> router = current_router();
  FlowRunOptions options = flow->options;
  options.toolbox = toolbox_;
  options.trace = call.record.trace.root_context();
  RequestRecord& record = call.record;
  options.on_node = [&record](const FlowNodeRecord& node) {
    record.prompt_tokens += node.usage.prompt_tokens;
    record.completion_tokens += node.usage.completion_tokens;
  };
  ResponseWriter& response = call.response;
  auto executor = co_await asio::this_coro::executor;
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"x-request-id", call.record.id}};
  // Streamed, the run is a coroutine of its own (flows/stream.h) and this one writes its text.
  FlowStream run(executor);
  std::optional<Result<Json>> outcome;
  if (stream) {
    run.start(flow->flow, inputs, *router, std::move(options), response.client_gone(), true);
    const std::string output = stream_output(flow->flow);
    while (true) {
      const bool more = co_await run.next();
      for (std::string& piece : run.take()) {
        if (run.closed()) break;
        Json delta = Json::object();
        delta["delta"][output] = std::move(piece);
        if (!response.started()) {
          const bool begun = co_await response.begin_stream(200, "text/event-stream", headers);
          if (!begun) run.close();
        }
        if (!run.closed()) {
          const std::string frame = event(delta);
          const bool sent = co_await response.write(frame);
          if (!sent) run.close();
        }
      }
      if (!more) break;
    }
    outcome.emplace(std::move(run.result()));
  } else {
    outcome.emplace(
        co_await run_flow(flow->flow, inputs, *router, options, response.client_gone()));
  }
  Result<Json>& result = *outcome;
  if (!result && response.started()) {
    // The client has had events: the failure is the stream's last one.
    call.record.status = 200;
    call.record.error_class = error_code_name(result.error().code);
    co_await response.write(event(error_to_wire(result.error())));
    co_await response.end();
    co_return;
  }
  if (!result) {
    co_await send_failure(response, result.error(), call.record, ApiFormat::kOpenAI);
    co_return;
  }
  call.record.status = 200;
  Json answer = Json::object();
  answer["outputs"] = (*result)["outputs"];
  if (result->contains("metrics")) answer["metrics"] = (*result)["metrics"];
  if (include_nodes) answer["nodes"] = (*result)["nodes"];
  if (stream) {
    const std::string last = event(answer) + "data: [DONE]\n\n";
    if (!response.started()) {
      const bool begun = co_await response.begin_stream(200, "text/event-stream", headers);
      if (!begun) co_return;
    }
    const bool sent = co_await response.write(last);
    if (sent) co_await response.end();
    co_return;
  }
  co_await response.send(200, "application/json",
                         answer.dump(-1, ' ', false, Json::error_handler_t::replace), headers);
}

}  // namespace keel
