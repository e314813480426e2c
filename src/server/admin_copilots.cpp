// The console's Copilots page reads (admin.h): GET /admin/copilots (each copilot as configured,
// and its entry as YAML for the editor), GET /admin/knowledge (each base's sources and ingest
// state from its index), and POST /admin/copilots/validate (an edited entry checked by the
// config loader's own code against the running config). Nothing here writes the config file:
// the page says that the entry goes into keel.yaml, then `keel reload`.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <optional>
#include <string_view>

#include "copilots/copilot.h"
#include "knowledge/knowledge_set.h"
#include "server/admin.h"
#include "server/admin_reply.h"

namespace keel {
namespace {

// The entry as keel.yaml holds it under `copilots:` (a one-item list), defaults left out.
std::string copilot_yaml(const CopilotConfig& copilot) {
  const CopilotConfig defaults;
  YAML::Emitter out;
  auto flow_list = [&](const char* key, const std::vector<std::string>& values) {
    if (values.empty()) return;
    out << YAML::Key << key << YAML::Value << YAML::Flow << values;
  };
  out << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << copilot.name;
  if (!copilot.instructions_file.empty()) {
    out << YAML::Key << "instructions" << YAML::Value << copilot.instructions_file;
  } else if (!copilot.instructions.empty()) {
    out << YAML::Key << "instructions" << YAML::Value;
    if (copilot.instructions.find('\n') != std::string::npos) out << YAML::Literal;
    out << copilot.instructions;
  }
  out << YAML::Key << "model" << YAML::Value << copilot.model;
  flow_list("tools", copilot.tools);
  flow_list("knowledge", copilot.knowledge);
  if (!copilot.starters.empty()) {
    out << YAML::Key << "starters" << YAML::Value << YAML::BeginSeq;
    for (const auto& starter : copilot.starters) out << starter;
    out << YAML::EndSeq;
  }
  if (copilot.max_tool_rounds != defaults.max_tool_rounds) {
    out << YAML::Key << "max_tool_rounds" << YAML::Value << copilot.max_tool_rounds;
  }
  flow_list("approval", copilot.approval);
  if (copilot.top_k != defaults.top_k) out << YAML::Key << "top_k" << YAML::Value << copilot.top_k;
  out << YAML::EndMap << YAML::EndSeq;
  return std::string(out.c_str()) + "\n";
}

Json copilot_json(const CopilotConfig& copilot) {
  Json instructions = copilot.instructions_file.empty() ? Json{{"text", copilot.instructions}}
                                                        : Json{{"file", copilot.instructions_file}};
  return {{"name", copilot.name},
          {"instructions", std::move(instructions)},
          {"model", copilot.model},
          {"tools", copilot.tools},
          {"knowledge", copilot.knowledge},
          {"starters", copilot.starters},
          {"max_tool_rounds", copilot.max_tool_rounds},
          {"approval", copilot.approval},
          {"top_k", copilot.top_k},
          {"yaml", copilot_yaml(copilot)}};
}

// A base's configuration and what its index records; `base` null: configured but not opened.
Json knowledge_json(const KnowledgeConfig& config, knowledge::IndexedKnowledgeBase* base) {
  Json out = {{"name", config.name},
              {"sources", config.sources},
              {"embedding_model", config.embedding_model},
              {"rerank_model", config.rerank_model},
              {"chunk_tokens", config.chunk_tokens},
              {"overlap_tokens", config.overlap_tokens},
              {"ingesting", base != nullptr && base->ingesting()},
              {"ingested_at_ms", nullptr},
              {"files", 0},
              {"chunks", 0},
              {"failures", Json::array()}};
  if (base == nullptr) return out;
  knowledge::Index& index = base->index();
  if (const int64_t at = index.ingested_at(); at > 0) out["ingested_at_ms"] = at;
  out["chunks"] = index.chunk_count();
  auto files = index.files();
  if (!files) {
    out["error"] = files.error().message;
    return out;
  }
  out["files"] = files->size();
  for (const auto& [path, file] : *files) {
    if (!file.error.empty()) out["failures"].push_back(Json{{"path", path}, {"error", file.error}});
  }
  return out;
}

// The first non-blank column of `line` (1-based) in `text`: where an error with no column of
// its own is marked.
int first_column(const std::string& text, int line) {
  size_t start = 0;
  for (int i = 1; i < line && start != std::string::npos; ++i) {
    start = text.find('\n', start);
    if (start != std::string::npos) ++start;
  }
  if (start == std::string::npos) return 1;
  const size_t first = text.find_first_not_of(" \t-", start);
  const size_t end = text.find('\n', start);
  return first == std::string::npos || (end != std::string::npos && first > end)
             ? 1
             : static_cast<int>(first - start) + 1;
}

// The line (1-based) where `key:` starts a line of `text` (after indentation or "- ").
std::optional<int> line_of_key(const std::string& text, std::string_view key) {
  int line = 1;
  for (size_t start = 0; start < text.size(); ++line) {
    const size_t end = std::min(text.find('\n', start), text.size());
    const size_t first = text.find_first_not_of(" \t-", start);
    if (first < end && text.compare(first, key.size(), key) == 0 &&
        text.compare(first + key.size(), 1, ":") == 0) {
      return line;
    }
    start = end + 1;
  }
  return std::nullopt;
}

}  // namespace

Task<void> Admin::copilots(ResponseWriter& response) {
  Json data = Json::array();
  const auto live = config_();
  for (const auto& copilot : live->copilots) data.push_back(copilot_json(copilot));
  const Json body = {{"data", std::move(data)}};  // not in the co_await: g++ 12
  co_await send_admin_json(response, body);
}

Task<void> Admin::knowledge(knowledge::KnowledgeSet* set, ResponseWriter& response) {
  // The index's SQLite reads run on the Admin's thread, as the store's do.
  const auto live = config_();
  const Json body = co_await off_io(reads_, [&] {
    Json data = Json::array();
    for (const auto& config : live->knowledge) {
      data.push_back(knowledge_json(config, set ? set->find_indexed(config.name) : nullptr));
    }
    return Json{{"data", std::move(data)}};
  });
  co_await send_admin_json(response, body);
}

Task<void> Admin::validate_copilot(Request& request, ResponseWriter& response) {
  auto body = parse_json(request.message.body(), ErrorCode::kInvalidArgument, "request body");
  if (body && (!body->is_object() || !body->contains("yaml") || !(*body)["yaml"].is_string())) {
    body = Error(ErrorCode::kInvalidArgument,
                 "request body must be a JSON object with yaml: a copilots: entry as text");
  }
  if (!body) co_return co_await send_admin_error(response, body.error());
  const std::string& text = str((*body)["yaml"]);
  const auto live = config_();
  auto checked = parse_copilot_entry(text, *live);
  if (auto* copilot = std::get_if<CopilotConfig>(&checked)) {
    // The loader checks names; loading it as CopilotSet does reads its .prompty instructions.
    Config alone = *live;
    alone.copilots = {*copilot};
    if (auto loaded = copilots::CopilotSet::load(alone, nullptr); !loaded) {
      // Its message names keel.yaml's line; the editor's text has its own.
      std::string reason = loaded.error().message;
      constexpr std::string_view kPrefix = ": instructions: ";
      if (const size_t at = reason.find(kPrefix); at != std::string::npos) {
        reason.erase(0, at + kPrefix.size());
      }
      checked = ConfigProblem{line_of_key(text, "instructions").value_or(copilot->line), 0,
                              "instructions", std::move(reason)};
    }
  }
  Json out;
  if (auto* copilot = std::get_if<CopilotConfig>(&checked)) {
    out = {{"valid", true}, {"errors", Json::array()}, {"copilot", copilot_json(*copilot)}};
  } else {
    const auto& problem = std::get<ConfigProblem>(checked);
    const Json error = {
        {"line", problem.line},
        {"column", problem.column > 0 ? problem.column : first_column(text, problem.line)},
        {"path", problem.path},
        {"message", problem.reason}};
    out = {{"valid", false}, {"errors", Json::array({error})}};
  }
  co_await send_admin_json(response, out);
}

}  // namespace keel
