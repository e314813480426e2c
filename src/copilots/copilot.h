// Copilots (`copilots:`, DESIGN.md): a declarative copilot is instructions, a public model,
// toolsets and knowledge bases under one public name. Answering a turn: the instructions as the
// system message, the user's last message searched in its knowledge bases (the passages put
// into the prompt as numbered sources, and the answer's markers turned into citations), its
// tools offered through the tool loop with `max_tool_rounds`, and the tools under `approval`
// returned to the client instead of run.
//
//   auto copilots = CopilotSet::load(config, find_knowledge);   // reads .prompty instructions
//   const Copilot* helpdesk = copilots->find("helpdesk");
//   ChatOutcome outcome = co_await helpdesk->answer(router, &toolbox, request, sink, cancel);
//
// Immutable once loaded; shared between io threads. A copilot's events reach `sink` exactly as
// Router::chat's do (Start, deltas, Finish, Usage; an Error may end them), plus Citation events.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "knowledge/knowledge.h"
#include "router/router.h"
#include "tools/toolbox.h"

namespace keel::copilots {

// The knowledge base named so, or null when there is none. It must outlive the CopilotSet.
using KnowledgeLookup = std::function<knowledge::KnowledgeBase*(const std::string& name)>;

class Copilot {
 public:
  const CopilotConfig& config() const { return config_; }
  const std::string& name() const { return config_.name; }
  // The instructions' messages (a .prompty file may hold several), rendered at load.
  const std::vector<Message>& instructions() const { return instructions_; }

  // One turn: `request` as a front door parsed it (its model is this copilot's name). What
  // reaches `sink` is described above; the outcome is the router's (or the tool loop's), or a
  // failure to search a knowledge base (kUnavailable naming it) before anything was sent.
  // `toolbox` may be null when the copilot has no tools.
  Task<ChatOutcome> answer(Router& router, Toolbox* toolbox, ChatRequest request, EventSink& sink,
                           CancelPtr cancel) const;

  // The passages for `query` from every knowledge base, best first, at most top_k in all.
  Task<Result<std::vector<knowledge::Passage>>> retrieve(const std::string& query,
                                                         CancelPtr cancel) const;
  // The request the model gets: instructions, then the sources, then the client's messages;
  // the model is the copilot's.
  ChatRequest prompt(ChatRequest request, const std::vector<knowledge::Passage>& passages) const;

 private:
  friend class CopilotSet;
  CopilotConfig config_;
  std::vector<Message> instructions_;
  std::vector<knowledge::KnowledgeBase*> knowledge_;
};

class CopilotSet {
 public:
  // Every copilots[] entry: instructions read and rendered (a .prompty file relative to the
  // config file's folder; errors name the file and line), knowledge bases looked up (an unknown
  // one is an error naming the copilot and the base). A null `knowledge` checks the rest only
  // (keel config check); such a set has no knowledge bases and must not answer.
  static Result<std::shared_ptr<const CopilotSet>> load(const Config& config,
                                                        const KnowledgeLookup& knowledge);

  const Copilot* find(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, Copilot> copilots_;
};

// The text of the last user message: what a turn searches its knowledge bases for.
std::string last_user_text(const ChatRequest& request);

}  // namespace keel::copilots
