#include "server/public_names.h"

#include "copilots/copilot.h"
#include "flows/flow_set.h"

namespace keel {

Status PublicNames::add(PublicName name) {
  if (names_.count(name.name)) {
    return Error(ErrorCode::kInvalidArgument, "public name \"" + name.name + "\" is taken");
  }
  std::string key = name.name;
  names_.emplace(std::move(key), std::move(name));
  return Status();
}

const PublicName* PublicNames::find(const std::string& name) const {
  auto it = names_.find(name);
  return it == names_.end() ? nullptr : &it->second;
}

std::vector<std::string> PublicNames::names() const {
  std::vector<std::string> out;
  for (const auto& [name, entry] : names_) out.push_back(name);
  return out;
}

Status add_copilots(PublicNames& names, std::shared_ptr<const copilots::CopilotSet> copilots,
                    Toolbox* toolbox) {
  for (const std::string& name : copilots->names()) {
    const copilots::Copilot* copilot = copilots->find(name);
    // The set stays alive in every handler that points into it.
    NameHandler handler = [copilots, copilot, toolbox](Router& router, const ChatRequest& request,
                                                       EventSink& sink, CancelPtr cancel) {
      return copilot->answer(router, toolbox, request, sink, std::move(cancel));
    };
    if (Status status = names.add({name, "copilot", std::move(handler)}); !status.ok()) {
      return status;
    }
  }
  return Status();
}

namespace {

// The flow's inputs from a chat: the last user message is the chat input; the user and
// assistant turns before it pair up as the chat history.
Result<Json> chat_flow_inputs(const Flow& flow, const ChatRequest& request) {
  std::string input_name, history_name, output_name;
  for (const FlowInput& input : flow.inputs) {
    if (input.is_chat_input) input_name = input.name;
    if (input.is_chat_history) history_name = input.name;
  }
  // Prompt flow's chat flows name it by convention when no input says is_chat_history
  // (chat-basic's `chat_history: {type: list}`).
  if (history_name.empty()) {
    for (const FlowInput& input : flow.inputs) {
      if (input.name == "chat_history" && input.type == "list") history_name = input.name;
    }
  }
  for (const FlowOutput& output : flow.outputs) {
    if (output.is_chat_output) output_name = output.name;
  }
  int last_user = -1;
  for (int i = static_cast<int>(request.messages.size()) - 1; i >= 0; --i) {
    if (request.messages[static_cast<size_t>(i)].role == Role::kUser) {
      last_user = i;
      break;
    }
  }
  if (last_user < 0) {
    return Error(ErrorCode::kInvalidArgument,
                 "flow '" + request.model + "' is a chat flow: the messages need a user message");
  }
  Json inputs = Json::object();
  inputs[input_name] = request.messages[static_cast<size_t>(last_user)].text();
  if (!history_name.empty()) {
    Json history = Json::array();
    std::optional<std::string> question;
    for (int i = 0; i < last_user; ++i) {
      const Message& message = request.messages[static_cast<size_t>(i)];
      if (message.role == Role::kUser) {
        question = message.text();
      } else if (message.role == Role::kAssistant && question) {
        history.push_back(
            {{"inputs", {{input_name, *question}}},
             {"outputs", {{output_name.empty() ? "answer" : output_name, message.text()}}}});
        question.reset();
      }
    }
    inputs[history_name] = std::move(history);
  }
  return inputs;
}

Task<ChatOutcome> answer_with_flow(const LoadedFlow& flow, Toolbox* toolbox, Router& router,
                                   const ChatRequest& request, EventSink& sink, CancelPtr cancel) {
  ChatOutcome outcome;
  outcome.provider = "flow";
  outcome.upstream_model = flow.name;
  auto inputs = chat_flow_inputs(flow.flow, request);
  if (!inputs) {
    outcome.status = inputs.error();
    co_return outcome;
  }
  FlowRunOptions options = flow.options;
  options.toolbox = toolbox;
  auto result = co_await run_flow(flow.flow, *inputs, router, options, std::move(cancel));
  if (!result) {
    outcome.status = result.error();
    co_return outcome;
  }
  std::string answer;
  const Json& outputs = (*result)["outputs"];
  for (const FlowOutput& output : flow.flow.outputs) {
    if (!output.is_chat_output || !outputs.contains(output.name)) continue;
    const Json& value = outputs[output.name];
    answer = value.is_string() ? value.get<std::string>()
                               : value.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  std::vector<ChatEvent> events;
  events.push_back(ChatEvent::start({}, request.model));
  events.push_back(ChatEvent::text_delta(std::move(answer)));
  events.push_back(ChatEvent::finished(FinishReason::kStop));
  events.push_back(ChatEvent::usage_event(Usage{}));
  for (ChatEvent& event : events) {
    if (!co_await sink.on_event(std::move(event))) {
      outcome.status = Error(ErrorCode::kCancelled, "client disconnected");
      co_return outcome;
    }
    outcome.committed = true;
  }
  outcome.ttft_ms = 0;
  co_return outcome;
}

}  // namespace

Status add_chat_flows(PublicNames& names, std::shared_ptr<const FlowSet> flows, Toolbox* toolbox,
                      const std::function<bool(const std::string&)>& router_has) {
  if (!flows) return Status();
  for (const std::string& name : flows->names()) {
    const LoadedFlow* flow = flows->find(name);
    if (!flow->flow.is_chat()) continue;
    if (router_has(name)) {
      return Error(ErrorCode::kInvalidArgument,
                   "flow '" + name +
                       "' is a chat flow named like a model (models, copilots and chat flows "
                       "share one namespace)");
    }
    NameHandler handler = [flows, flow, toolbox](Router& router, const ChatRequest& request,
                                                 EventSink& sink, CancelPtr cancel) {
      return answer_with_flow(*flow, toolbox, router, request, sink, std::move(cancel));
    };
    if (Status status = names.add({name, "flow", std::move(handler)}); !status.ok()) {
      return status;
    }
  }
  return Status();
}

}  // namespace keel
