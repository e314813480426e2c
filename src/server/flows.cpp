// POST /v1/flows/{name}/run (DESIGN.md "HTTP surface"): {"inputs": {...}} runs a configured
// Prompt flow once through the router and answers {"outputs": {...}}; with "include":
// ["nodes"] (the word OpenAI's Responses API uses for optional parts of an answer) also
// {"nodes": {node: output}}, which the console's Flows page shows. With "stream": true the
// answer is server-sent events: `data: {"delta": {OUTPUT: TEXT}}` for each piece of the llm node
// whose whole output a flow output names, then `data: {"outputs": {...}}` (with "nodes" when
// asked), then `data: [DONE]`; a failure after the first event is `data: {"error": {...}}`
// (OpenAI's error object). A client that goes away cancels the run: its llm calls and python
// workers are stopped.
#include <algorithm>
#include <deque>
#include <optional>

#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"
#include "core/text.h"
#include "flows/run.h"
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

// A streamed run's events. The run's nodes are coroutines of their own; they only queue
// frames here (on_text), and the request's handler writes them itself: every write to the
// client stays in the handler's own coroutine (writes from a coroutine of the handler's
// crashed with g++ 12: a frame resumed after its end; docs/dev.md "g++ 12 and coroutines").
class FlowEvents final : public FlowTextSink {
 public:
  FlowEvents(std::string output, const asio::any_io_executor& executor)
      : output(std::move(output)), wake(executor, asio::steady_timer::time_point::max()) {}
  Task<bool> on_text(const std::string& text) override {
    Json delta = Json::object();
    delta["delta"][output] = text;
    frames.push_back(event(delta));
    wake.cancel();
    co_return !gone;
  }
  std::string output;
  std::deque<std::string> frames;
  bool gone = false;        // the client is
  asio::steady_timer wake;  // cancelled when a frame is queued or the run ends
};

// The run, as a coroutine of its own beside the handler's relay.
Task<void> run_streamed(const Flow& flow, const Json& inputs, Router& router,
                        const FlowRunOptions& options, CancelPtr cancel,
                        std::optional<Result<Json>>& result, FlowEvents& events) {
  auto outcome = co_await run_flow(flow, inputs, router, options, std::move(cancel));
  result.emplace(std::move(outcome));
  events.wake.cancel();
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
  ResponseWriter& response = call.response;
  auto executor = co_await asio::this_coro::executor;
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"x-request-id", call.record.id}};
  FlowEvents events(stream_output(flow->flow), executor);
  std::optional<Result<Json>> outcome;
  if (stream) {
    options.stream = &events;
    asio::co_spawn(
        executor,
        run_streamed(flow->flow, inputs, *router, options, response.client_gone(), outcome, events),
        asio::detached);
    // Writes what the run queues until it ends.
    while (true) {
      while (!events.frames.empty() && !events.gone) {
        const std::string frame = std::move(events.frames.front());
        events.frames.pop_front();
        if (!response.started()) {
          const bool begun = co_await response.begin_stream(200, "text/event-stream", headers);
          events.gone = !begun;
        }
        if (!events.gone) {
          const bool sent = co_await response.write(frame);
          events.gone = !sent;
        }
      }
      events.frames.clear();
      if (outcome) break;
      boost::system::error_code ec;
      co_await events.wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
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
