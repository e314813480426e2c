#include "server/public_names.h"

#include <chrono>

#include "copilots/copilot.h"
#include "flows/flow_set.h"
#include "flows/stream.h"

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
                                                       EventSink& sink, CancelPtr cancel,
                                                       TraceContext) {
      return copilot->answer(router, toolbox, request, sink, std::move(cancel));
    };
    if (Status status = names.add({name, "copilot", std::move(handler)}); !status.ok()) {
      return status;
    }
  }
  return Status();
}

namespace {

// The name of the flow's chat output ("" when none says is_chat_output).
std::string chat_output_name(const Flow& flow) {
  for (const FlowOutput& output : flow.outputs) {
    if (output.is_chat_output) return output.name;
  }
  return "";
}

// The flow's inputs from a chat: the last user message is the chat input; the user and
// assistant turns before it pair up as the chat history.
Result<Json> chat_flow_inputs(const Flow& flow, const ChatRequest& request) {
  std::string input_name, history_name;
  const std::string output_name = chat_output_name(flow);
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

// The chat output's value as the answer's text.
std::string answer_text(const Json& outputs, const std::string& output) {
  if (!outputs.contains(output)) return "";
  const Json& value = outputs[output];
  return value.is_string() ? value.get<std::string>()
                           : value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// The run is a coroutine of its own (flows/stream.h); this one hands its text to the sink as it
// arrives (the chat output's llm node's, when that is the stream target), then the rest of the
// events. A sink that refuses an event (the client went away) cancels the run.
Task<ChatOutcome> answer_with_flow(const LoadedFlow& flow, Toolbox* toolbox, Router& router,
                                   const ChatRequest& request, EventSink& sink, CancelPtr cancel,
                                   TraceContext trace) {
  const auto start = std::chrono::steady_clock::now();
  ChatOutcome outcome;
  outcome.provider = "flow";
  outcome.upstream_model = flow.name;
  auto inputs = chat_flow_inputs(flow.flow, request);
  if (!inputs) {
    outcome.status = inputs.error();
    co_return outcome;
  }
  const std::string output = chat_output_name(flow.flow);
  const auto target = stream_target(flow.flow);
  const bool stream_text = target && target->output == output;
  FlowRunOptions options = flow.options;
  options.toolbox = toolbox;
  options.trace = trace;
  // The answer's usage: every llm node's tokens.
  options.on_node = [&outcome](const FlowNodeRecord& node) {
    outcome.usage.prompt_tokens += node.usage.prompt_tokens;
    outcome.usage.completion_tokens += node.usage.completion_tokens;
  };
  const auto executor = co_await asio::this_coro::executor;
  FlowStream run(executor);
  run.start(flow.flow, std::move(*inputs), router, std::move(options), std::move(cancel),
            stream_text);
  std::vector<ChatEvent> events;
  bool started = false;  // the Start event is queued
  bool streamed = false;
  while (true) {
    const bool more = co_await run.next();
    for (std::string& piece : run.take()) {
      if (!started) {
        events.push_back(ChatEvent::start({}, request.model));
        started = true;
      }
      events.push_back(ChatEvent::text_delta(std::move(piece)));
      streamed = true;
    }
    if (!more) {
      const Result<Json>& result = run.result();
      if (!result) {
        outcome.status = result.error();
        if (started) events.push_back(ChatEvent::failure(result.error()));
      } else {
        if (!started) events.push_back(ChatEvent::start({}, request.model));
        if (!streamed) {
          events.push_back(ChatEvent::text_delta(answer_text((*result)["outputs"], output)));
        }
        events.push_back(ChatEvent::finished(FinishReason::kStop));
        Usage& usage = outcome.usage;
        usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
        usage.present = usage.total_tokens > 0;
        events.push_back(ChatEvent::usage_event(usage));
      }
    }
    for (ChatEvent& event : events) {
      if (run.closed()) break;
      if (outcome.ttft_ms < 0) {
        outcome.ttft_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - start)
                              .count();
      }
      const bool sent = co_await sink.on_event(std::move(event));
      if (sent) {
        outcome.committed = true;
      } else {
        run.close();
      }
    }
    events.clear();
    if (!more) break;
  }
  if (run.closed()) outcome.status = Error(ErrorCode::kCancelled, "client disconnected");
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
                                                 EventSink& sink, CancelPtr cancel,
                                                 TraceContext trace) {
      return answer_with_flow(*flow, toolbox, router, request, sink, std::move(cancel), trace);
    };
    if (Status status = names.add({name, "flow", std::move(handler)}); !status.ok()) {
      return status;
    }
  }
  return Status();
}

}  // namespace keel
