#include "tools/loop.h"

#include <algorithm>
#include <set>

#include "core/log.h"

namespace keel {

namespace {

// One round's view of the client: everything is aggregated for the loop; only what belongs to
// the client's answer is passed on.
class RoundSink final : public EventSink {
 public:
  RoundSink(EventSink& client, const std::set<std::string>& client_tools, bool& start_sent,
            int& client_calls)
      : client_(client),
        client_tools_(client_tools),
        start_sent_(start_sent),
        client_calls_(client_calls) {}

  Task<bool> on_event(ChatEvent event) override {
    round_.add(event);
    switch (event.kind) {
      case ChatEvent::Kind::kStart:
        if (start_sent_) co_return true;
        start_sent_ = true;
        forwarded_ = true;
        co_return co_await client_.on_event(std::move(event));
      case ChatEvent::Kind::kTextDelta:
      case ChatEvent::Kind::kReasoningDelta:
      case ChatEvent::Kind::kReasoningSignature:
      case ChatEvent::Kind::kError:
        forwarded_ = true;
        co_return co_await client_.on_event(std::move(event));
      case ChatEvent::Kind::kToolCallStart:
        if (!client_tools_.count(event.tool_name)) co_return true;  // keel's: held
        client_index_[event.tool_index] = client_calls_++;
        event.tool_index = client_index_[event.tool_index];
        forwarded_ = true;
        co_return co_await client_.on_event(std::move(event));
      case ChatEvent::Kind::kToolArgsDelta: {
        auto it = client_index_.find(event.tool_index);
        if (it == client_index_.end()) co_return true;
        event.tool_index = it->second;
        co_return co_await client_.on_event(std::move(event));
      }
      case ChatEvent::Kind::kFinish:
      case ChatEvent::Kind::kUsage:
        co_return true;  // the loop sends one of each at the end
      case ChatEvent::Kind::kCitation:
        co_return co_await client_.on_event(std::move(event));
    }
    co_return true;
  }

  ChatResponse& response() { return round_.response(); }
  bool forwarded() const { return forwarded_; }

 private:
  EventSink& client_;
  const std::set<std::string>& client_tools_;
  bool& start_sent_;
  int& client_calls_;
  std::map<int, int> client_index_;
  ChatAggregator round_;
  bool forwarded_ = false;
};

ContentPart text_part(std::string text) {
  ContentPart part;
  part.text = std::move(text);
  return part;
}

struct CallJob {
  const OfferedTool* tool;
  const ToolCall* call;
  Message result;
};

Task<void> run_call(Toolbox& toolbox, CallJob& job, CancelPtr cancel, TraceContext trace,
                    size_t& remaining, asio::steady_timer& all_done) {
  ToolOutput output =
      co_await toolbox.invoke(*job.tool, job.call->arguments, cancel, trace, job.call->id);
  job.result.role = Role::kTool;
  job.result.tool_call_id = job.call->id;
  job.result.name = job.call->name;
  job.result.is_error = output.is_error;
  job.result.content.push_back(text_part(std::move(output.text)));
  if (--remaining == 0) all_done.cancel();
}

// Runs every call at once; returns when all have answered.
Task<void> run_calls(Toolbox& toolbox, std::vector<CallJob>& jobs, CancelPtr cancel,
                     TraceContext trace) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer all_done(executor, asio::steady_timer::time_point::max());
  size_t remaining = jobs.size();
  for (auto& job : jobs) {
    asio::co_spawn(executor, run_call(toolbox, job, cancel, trace, remaining, all_done),
                   asio::detached);
  }
  while (remaining > 0) {
    beast::error_code ec;
    co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

void add_usage(Usage& total, const Usage& round) {
  if (!round.present) return;
  total.present = true;
  total.prompt_tokens += round.prompt_tokens;
  total.completion_tokens += round.completion_tokens;
  total.total_tokens += round.total_tokens;
  if (round.cached_tokens)
    total.cached_tokens = total.cached_tokens.value_or(0) + *round.cached_tokens;
}

}  // namespace

bool needs_approval(const OfferedTool& tool, const std::vector<std::string>& approval) {
  for (const std::string& entry : approval) {
    if (entry == tool.name || entry == tool.toolset) return true;
    if (entry.size() == tool.toolset.size() + 1 + tool.name.size() &&
        entry.compare(0, tool.toolset.size(), tool.toolset) == 0 &&
        entry[tool.toolset.size()] == '/' &&
        entry.compare(tool.toolset.size() + 1, std::string::npos, tool.name) == 0) {
      return true;
    }
  }
  return false;
}

Task<ChatOutcome> run_tool_loop(Router& router, Toolbox& toolbox, ChatRequest request,
                                const ModelConfig& model, EventSink& client, CancelPtr cancel,
                                const std::vector<std::string>& approval, TraceContext trace,
                                const std::vector<OfferedTool>& request_tools) {
  ChatOutcome total;
  // A toolset that is down (an MCP server restarting) leaves its tools out; the model still
  // answers.
  auto offered = co_await toolbox.tools_of(model.tools, cancel, /*skip_unavailable=*/true);
  if (!offered) {
    KEEL_LOG(kWarn) << "model " << model.name << ": " << offered.error().message;
    Error error(ErrorCode::kUnavailable, "the tools of model " + model.name +
                                             " are unavailable: " + offered.error().message);
    total.status = error;
    co_return total;
  }
  offered->insert(offered->end(), request_tools.begin(), request_tools.end());
  std::set<std::string> client_tools;
  for (const auto& spec : request.tools) client_tools.insert(spec.name);
  std::map<std::string, const OfferedTool*> keel_tools;
  const bool client_declared = !client_tools.empty();
  for (const auto& tool : *offered) {
    if (client_tools.count(tool.name)) continue;  // the client's own tool of that name wins
    request.tools.push_back(tool.spec());
    // A tool that needs approval is the client's to run, like one it declared.
    if (needs_approval(tool, approval)) {
      client_tools.insert(tool.name);
    } else {
      keel_tools[tool.name] = &tool;
    }
  }
  // A choice that names one of keel's tools (take_server_tool_choice) is checked here, where the
  // tools are known.
  const bool named_known =
      std::any_of(request.tools.begin(), request.tools.end(),
                  [&](const ToolSpec& spec) { return spec.name == request.tool_choice.name; });
  if ((request.tool_choice.mode == ToolChoice::Mode::kNamed && !named_known) ||
      (request.tool_choice.mode == ToolChoice::Mode::kRequired && request.tools.empty())) {
    Error error(ErrorCode::kInvalidArgument,
                request.tool_choice.mode == ToolChoice::Mode::kRequired
                    ? "tool_choice 'required' needs at least one tool, and model " + model.name +
                          " offers none now"
                    : "tool_choice names function '" + request.tool_choice.name +
                          "', which is neither in tools nor a tool of model " + model.name);
    error.param = "tool_choice";
    total.status = error;
    co_return total;
  }
  const ToolChoice client_choice = request.tool_choice;
  bool start_sent = false;
  int client_calls = 0;
  bool client_saw_content = false;
  for (int round = 0; round < model.max_tool_rounds; ++round) {
    const bool last = round + 1 == model.max_tool_rounds;
    // A forced call is forced once (the loop would never end otherwise); the last round must
    // answer, so it gets no tool calls unless the client asked for them.
    if (round > 0 && (client_choice.mode == ToolChoice::Mode::kRequired ||
                      client_choice.mode == ToolChoice::Mode::kNamed)) {
      request.tool_choice.mode = ToolChoice::Mode::kAuto;
    }
    // Tools needing approval do not count: the client did not ask for tool calls.
    if (last && !client_declared) request.tool_choice.mode = ToolChoice::Mode::kNone;
    RoundSink sink(client, client_tools, start_sent, client_calls);
    ChatOutcome outcome = co_await router.chat(request, sink, cancel);
    for (auto& attempt : outcome.attempts) total.attempts.push_back(std::move(attempt));
    add_usage(total.usage, outcome.usage);
    total.provider = outcome.provider;
    total.upstream_model = outcome.upstream_model;
    if (total.ttft_ms < 0 && sink.forwarded()) total.ttft_ms = outcome.ttft_ms;
    client_saw_content = client_saw_content || sink.forwarded();
    if (!outcome.status.ok()) {
      total.status = outcome.status;
      total.committed = outcome.committed || client_saw_content;
      // The client's stream began in an earlier round: end it with the error, as a router does.
      if (!outcome.committed && client_saw_content) {
        co_await client.on_event(ChatEvent::failure(outcome.status.error()));
      }
      co_return total;
    }
    total.committed = total.committed || outcome.committed;
    ChatResponse& response = sink.response();
    std::vector<CallJob> jobs;
    std::vector<Message> unknown;  // calls of tools nobody offered: an error each
    for (const auto& call : response.message.tool_calls) {
      auto it = keel_tools.find(call.name);
      if (it != keel_tools.end()) {
        jobs.push_back(CallJob{it->second, &call, {}});
      } else if (!client_tools.count(call.name)) {
        Message result;
        result.role = Role::kTool;
        result.tool_call_id = call.id;
        result.name = call.name;
        result.is_error = true;
        result.content.push_back(text_part("there is no tool named " + call.name));
        unknown.push_back(std::move(result));
      }
    }
    if ((jobs.empty() && unknown.empty()) || client_calls > 0 || last) {
      FinishReason finish = response.finish;
      if (client_calls > 0) {
        finish = FinishReason::kToolCalls;
      } else if (finish == FinishReason::kToolCalls) {
        finish = FinishReason::kStop;  // keel's own calls, never run: out of rounds
      }
      std::vector<ChatEvent> ending;
      if (!start_sent) ending.push_back(ChatEvent::start());
      ending.push_back(ChatEvent::finished(finish));
      if (total.usage.present) ending.push_back(ChatEvent::usage_event(total.usage));
      co_await client.on_events(ending);
      total.committed = true;
      co_return total;
    }
    co_await run_calls(toolbox, jobs, cancel, trace);
    if (cancel->cancelled()) {
      total.status = cancel->reason();
      co_return total;
    }
    Message assistant = response.message;
    assistant.content_is_string = true;
    request.messages.push_back(std::move(assistant));
    for (auto& job : jobs) request.messages.push_back(std::move(job.result));
    for (auto& result : unknown) request.messages.push_back(std::move(result));
  }
  co_return total;  // unreachable: the last round always returns
}

}  // namespace keel
