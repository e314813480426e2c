// POST /v1/flows/{name}/run (DESIGN.md "HTTP surface"): {"inputs": {...}} runs a configured
// Prompt flow once through the router and answers {"outputs": {...}}; with "include":
// ["nodes"] (the word OpenAI's Responses API uses for optional parts of an answer) also
// {"nodes": {node: output}}, which the console's Flows page shows. Streaming the final llm
// node is not there yet: "stream": true is refused.
#include <algorithm>

#include "api/json_util.h"
#include "core/text.h"
#include "flows/run.h"
#include "server/app.h"

namespace keel {

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
  if (!body) {
    error = body.error();
  } else if (!body->is_object()) {
    error = Error(ErrorCode::kInvalidArgument, "request body must be a JSON object");
  } else {
    for (const auto& [key, value] : body->items()) {
      if (key == "inputs" && value.is_object()) {
        inputs = value;
      } else if (key == "stream" && (value.is_null() || value == Json(false))) {
      } else if (key == "include" && value.is_array() &&
                 std::all_of(value.begin(), value.end(),
                             [](const Json& v) { return v == "nodes"; })) {
        include_nodes = !value.empty();
      } else if (key == "stream") {
        error = Error(ErrorCode::kInvalidArgument, "stream: streaming a flow is not supported yet");
      } else {
        error = Error(ErrorCode::kInvalidArgument,
                      "unknown or malformed field '" + key +
                          "' (expected inputs: an object; include: [\"nodes\"])");
      }
      if (error) break;
    }
  }
  if (error) {
    co_await send_error(call.response, *error, &call.record);
    co_return;
  }
  // This request's router, kept through the run: a reload meanwhile does not change it.
  const std::shared_ptr<Router> router = current_router();
  auto result =
      co_await run_flow(flow->flow, inputs, *router, flow->options, call.response.client_gone());
  if (!result) {
    co_await send_failure(call.response, result.error(), call.record, ApiFormat::kOpenAI);
    co_return;
  }
  call.record.status = 200;
  Json answer = Json::object();
  answer["outputs"] = (*result)["outputs"];
  if (include_nodes) answer["nodes"] = (*result)["nodes"];
  std::vector<std::pair<std::string, std::string>> headers{{"x-request-id", call.record.id}};
  co_await call.response.send(200, "application/json",
                              answer.dump(-1, ' ', false, Json::error_handler_t::replace), headers);
}

}  // namespace keel
