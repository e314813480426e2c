// Public names that are not router models (DESIGN.md: a public name in GET /v1/models is a
// model, a copilot or a chat flow, and every front door serves all three).
//
// Every front door (/v1/chat/completions, /v1/messages, /v1/responses) parses its body into a
// native ChatRequest and asks App::route_chat for the answer stream. A name listed here is
// answered by its handler instead of the router: the handler gets the request as parsed
// (`model` is the public name), the request's router, the client's sink and cancel token, and
// must behave as Router::chat does: events in order (Start, deltas, Finish, Usage; Citation
// events may follow the text that cites), an Error event only once content reached the sink,
// and the outcome's status saying how it ended. The front door writes the events in its own
// format, streamed or not, so a handler never sees a wire format.
//
//   PublicNames names;
//   names.add({"helpdesk", "copilot", [copilot](Router& router, const ChatRequest& request,
//                                               EventSink& sink, CancelPtr cancel, TraceContext) {
//     return copilot->answer(router, toolbox, request, sink, std::move(cancel));
//   }});
//   app.set_public_names(std::make_shared<const PublicNames>(std::move(names)));
//
// Filled once before the server starts, then read-only: shared between io threads.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/trace.h"
#include "router/router.h"

namespace keel {

class FlowSet;

namespace copilots {
class CopilotSet;
}
class Toolbox;

// Answers one request under a public name; see above. The Router is the request's (a reload
// meanwhile does not change it); `trace` is where its spans go (the request's trace; null when
// not recorded). Whatever the handler captures must outlive the App.
using NameHandler =
    std::function<Task<ChatOutcome>(Router& router, const ChatRequest& request, EventSink& sink,
                                    CancelPtr cancel, TraceContext trace)>;

struct PublicName {
  std::string name;
  std::string kind;  // "copilot" or "flow"
  NameHandler handler;
};

class PublicNames {
 public:
  // A name given twice is refused (config already keeps models, copilots and flows apart).
  Status add(PublicName name);
  const PublicName* find(const std::string& name) const;
  std::vector<std::string> names() const;
  bool empty() const { return names_.empty(); }

 private:
  std::map<std::string, PublicName, std::less<>> names_;
};

// Each copilot of `copilots` as a public name of kind "copilot", its tools run by `toolbox`
// (may be null when no copilot has tools). Both must outlive the App.
Status add_copilots(PublicNames& names, std::shared_ptr<const copilots::CopilotSet> copilots,
                    Toolbox* toolbox);

// Each chat flow of `flows` (a flow with an is_chat_input input) as a public name of kind
// "flow": the client's last user message is the chat input, its earlier user and assistant turns
// the chat history (Prompt flow's [{"inputs": {...}, "outputs": {...}}]), and the chat output
// the answer. When the chat output is an llm node's whole output (stream_target) the node's
// text goes out as it arrives; otherwise the answer is one piece once the flow has run. The run's
// spans go under the handler's TraceContext. `router_has` names the router's models: a chat flow
// named like one is refused.
Status add_chat_flows(PublicNames& names, std::shared_ptr<const FlowSet> flows, Toolbox* toolbox,
                      const std::function<bool(const std::string&)>& router_has);

}  // namespace keel
