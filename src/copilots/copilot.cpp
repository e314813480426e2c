#include "copilots/copilot.h"

#include <algorithm>
#include <filesystem>

#include "copilots/citations.h"
#include "prompts/prompty.h"
#include "tools/loop.h"

namespace keel::copilots {

namespace {

namespace fs = std::filesystem;

Message system_message(std::string text) {
  Message message;
  message.role = Role::kSystem;
  ContentPart part;
  part.text = std::move(text);
  message.content.push_back(std::move(part));
  return message;
}

Result<std::vector<Message>> load_instructions(const Config& config, const CopilotConfig& copilot) {
  std::vector<Message> messages;
  if (copilot.instructions_file.empty()) {
    if (!copilot.instructions.empty()) messages.push_back(system_message(copilot.instructions));
    return messages;
  }
  const std::string path =
      (fs::path(config.source).parent_path() / copilot.instructions_file).lexically_normal();
  auto prompt = load_prompty(path);
  if (!prompt) return prompt.error();
  // Rendered once, with the file's own defaults: instructions take no per-turn inputs.
  auto inputs = check_inputs(*prompt, Json::object());
  if (!inputs) return inputs.error();
  auto rendered = render_prompty(*prompt, *inputs);
  if (!rendered) return rendered.error();
  return to_chat_messages(*rendered, path);
}

}  // namespace

std::string last_user_text(const ChatRequest& request) {
  for (auto it = request.messages.rbegin(); it != request.messages.rend(); ++it) {
    if (it->role == Role::kUser) return it->text();
  }
  return {};
}

Result<std::shared_ptr<const CopilotSet>> CopilotSet::load(const Config& config,
                                                           const KnowledgeLookup& knowledge) {
  auto set = std::make_shared<CopilotSet>();
  for (const CopilotConfig& entry : config.copilots) {
    const std::string where =
        config.source + ":" + std::to_string(entry.line) + ": copilot " + entry.name;
    Copilot copilot;
    copilot.config_ = entry;
    auto instructions = load_instructions(config, entry);
    if (!instructions) {
      return Error(ErrorCode::kInvalidArgument,
                   where + ": instructions: " + instructions.error().message);
    }
    copilot.instructions_ = std::move(*instructions);
    for (const std::string& name : entry.knowledge) {
      if (!knowledge) continue;  // checking only (keel config check): no bases are opened
      knowledge::KnowledgeBase* base = knowledge(name);
      if (base == nullptr) {
        return Error(ErrorCode::kInvalidArgument,
                     where + ": no knowledge base named \"" + name + "\" (knowledge:)");
      }
      copilot.knowledge_.push_back(base);
    }
    set->copilots_.emplace(entry.name, std::move(copilot));
  }
  return std::shared_ptr<const CopilotSet>(std::move(set));
}

const Copilot* CopilotSet::find(const std::string& name) const {
  auto it = copilots_.find(name);
  return it == copilots_.end() ? nullptr : &it->second;
}

std::vector<std::string> CopilotSet::names() const {
  std::vector<std::string> names;
  for (const auto& [name, copilot] : copilots_) names.push_back(name);
  return names;
}

Task<Result<std::vector<knowledge::Passage>>> Copilot::retrieve(const std::string& query,
                                                                CancelPtr cancel) const {
  std::vector<knowledge::Passage> passages;
  if (query.empty()) co_return passages;
  knowledge::SearchOptions options;
  options.k = config_.top_k;
  for (knowledge::KnowledgeBase* base : knowledge_) {
    auto found = co_await base->search(query, options, cancel);
    if (!found) {
      co_return Error(found.error().code == ErrorCode::kCancelled ? ErrorCode::kCancelled
                                                                  : ErrorCode::kUnavailable,
                      "copilot " + config_.name + ": knowledge base " + base->name() + ": " +
                          found.error().message);
    }
    for (auto& passage : *found) passages.push_back(std::move(passage));
  }
  // Fused scores of different bases are on one scale (reciprocal rank fusion); keep the best.
  std::stable_sort(passages.begin(), passages.end(),
                   [](const auto& a, const auto& b) { return a.score > b.score; });
  if (passages.size() > static_cast<size_t>(config_.top_k)) passages.resize(config_.top_k);
  co_return passages;
}

ChatRequest Copilot::prompt(ChatRequest request,
                            const std::vector<knowledge::Passage>& passages) const {
  std::vector<Message> messages = instructions_;
  if (std::string sources = sources_prompt(passages); !sources.empty()) {
    messages.push_back(system_message(std::move(sources)));
  }
  for (Message& message : request.messages) messages.push_back(std::move(message));
  request.messages = std::move(messages);
  request.model = config_.model;
  return request;
}

Task<ChatOutcome> Copilot::answer(Router& router, Toolbox* toolbox, ChatRequest request,
                                  EventSink& sink, CancelPtr cancel) const {
  auto passages = co_await retrieve(last_user_text(request), cancel);
  if (!passages) {
    ChatOutcome failed;
    failed.status = passages.error();
    co_return failed;
  }
  ChatRequest prompted = prompt(std::move(request), *passages);
  CitingSink citing(sink, *passages);
  EventSink& out = passages->empty() ? sink : static_cast<EventSink&>(citing);
  if (config_.tools.empty() || toolbox == nullptr) {
    co_return co_await router.chat(prompted, out, std::move(cancel));
  }
  ModelConfig loop;  // the tool loop's view of this copilot
  loop.name = config_.name;
  loop.tools = config_.tools;
  loop.max_tool_rounds = config_.max_tool_rounds;
  co_return co_await run_tool_loop(router, *toolbox, std::move(prompted), loop, out,
                                   std::move(cancel), config_.approval);
}

}  // namespace keel::copilots
