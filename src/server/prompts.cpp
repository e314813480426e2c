// POST /v1/prompts/{name}/run (DESIGN.md "HTTP surface"): {"inputs": {...}, "stream": bool}
// runs a configured prompt on its public model and answers as /v1/chat/completions does
// (chat.completion, or chat.completion.chunk events when streamed). The router renders the
// prompt's variant for each attempt's target (prompts/prompt_set.h).
#include "api/json_util.h"
#include "core/text.h"
#include "server/app.h"

namespace keel {

namespace {

Error bad_body(const std::string& param, const std::string& message) {
  Error error(ErrorCode::kInvalidArgument, message);
  error.param = param;
  return error;
}

}  // namespace

Task<void> App::run_prompt(RouteCall& call) {
  const std::optional<std::string> name = percent_decode(call.params[0]);
  const LoadedPrompt* prompt = name && prompts_ ? prompts_->find(*name) : nullptr;
  if (prompt == nullptr) {
    Error error(ErrorCode::kNotFound,
                "prompt '" + name.value_or(std::string(call.params[0])) + "' does not exist");
    error.type_code = "prompt_not_found";
    co_await send_error(call.response, error, &call.record);
    co_return;
  }
  call.record.model = prompt->model();
  const std::string& text = call.request.message.body();
  auto body = parse_json(text, ErrorCode::kInvalidArgument, "request body");
  if (!body) {
    co_await send_error(call.response, body.error(), &call.record);
    co_return;
  }
  Json inputs = Json::object();
  bool stream = false;
  std::optional<Error> error;
  if (!body->is_object()) {
    error = bad_body("", "request body must be a JSON object");
  } else {
    for (const auto& [key, value] : body->items()) {
      if (key == "inputs") {
        if (!value.is_object() && !value.is_null()) {
          error = bad_body("inputs", "inputs must be an object");
        } else if (value.is_object()) {
          inputs = value;
        }
      } else if (key == "stream") {
        if (!value.is_boolean() && !value.is_null()) {
          error = bad_body("stream", "stream must be a boolean");
        } else {
          stream = value.is_boolean() && value.get<bool>();
        }
      } else {
        error = bad_body(key, "unknown field '" + key + "' (expected inputs, stream)");
      }
      if (error) break;
    }
  }
  if (error) {
    co_await send_error(call.response, *error, &call.record);
    co_return;
  }
  call.record.stream = stream;
  // The default variant, rendered now: bad inputs and template errors are the client's 400
  // before any attempt; each attempt then renders its own target's variant.
  auto request = prompt->request(inputs, stream);
  if (!request) {
    Error failure = request.error();
    if (failure.param.empty()) failure.param = "inputs";
    co_await send_error(call.response, failure, &call.record);
    co_return;
  }
  co_await answer_chat(current_router(), *request, text, call.response, call.record,
                       ApiFormat::kOpenAI,
                       prompt->shaper(std::move(inputs), *request));
}

}  // namespace keel
