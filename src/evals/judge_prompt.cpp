#include "evals/judge_prompt.h"

#include <yaml-cpp/yaml.h>

#include <regex>

#include "api/json_util.h"
#include "prompts/prompty.h"
#include "prompts/yaml_json.h"

namespace keel::evals {

namespace {

Error bad(const std::string& source, const std::string& message) {
  return Error(ErrorCode::kInvalidArgument, source + ": " + message);
}

std::string trim(const std::string& text) {
  const size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  const size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

}  // namespace

Result<JudgePrompt> JudgePrompt::parse(const std::string& text, const std::string& source) {
  JudgePrompt prompt;
  prompt.source_ = source;
  // Front matter: the first line is ---, then YAML until the next --- line.
  std::string body = text;
  if (body.rfind("---", 0) != 0) return bad(source, "expected YAML front matter starting with ---");
  const size_t first_end = body.find('\n');
  const size_t close = body.find("\n---", first_end == std::string::npos ? 0 : first_end);
  if (first_end == std::string::npos || close == std::string::npos) {
    return bad(source, "the front matter is never closed with ---");
  }
  const std::string front = body.substr(first_end + 1, close - first_end);
  const size_t after = body.find('\n', close + 4);
  body = after == std::string::npos ? "" : body.substr(after + 1);
  try {
    YAML::Node meta = YAML::Load(front);
    if (!meta.IsMap()) return bad(source, "the front matter is not a map");
    prompt.name_ = meta["name"] ? meta["name"].as<std::string>() : source;
    if (auto inputs = meta["inputs"]) {
      if (!inputs.IsMap()) return bad(source, "inputs: expected a map");
      for (auto it = inputs.begin(); it != inputs.end(); ++it) {
        prompt.inputs_.push_back(it->first.as<std::string>());
      }
    }
    if (auto parameters = meta["model"]["parameters"]) {
      if (parameters["temperature"]) prompt.temperature_ = parameters["temperature"].as<double>();
      if (parameters["max_tokens"]) prompt.max_tokens_ = parameters["max_tokens"].as<int64_t>();
      if (parameters["response_format"]) {
        prompt.response_format_ = response_format_of(yaml_to_json(parameters["response_format"]));
      }
    }
  } catch (const YAML::Exception& e) {
    return bad(source, std::string("front matter: ") + e.what());
  }
  if (body.find("{%") != std::string::npos) {
    return bad(source,
               "{% ... %} blocks need a Jinja engine; keel's judge prompts take only "
               "{{ name }} substitutions");
  }
  // Role markers stand alone on their line (Prompt flow's rule).
  static const std::regex marker(R"(^\s*#?\s*(system|user|assistant)\s*:\s*$)", std::regex::icase);
  std::optional<Role> role;
  std::string content;
  auto flush = [&]() -> Status {
    if (!role) {
      if (!trim(content).empty()) return bad(source, "text before the first role marker");
      return Status::Ok();
    }
    prompt.sections_.emplace_back(*role, trim(content));
    return Status::Ok();
  };
  size_t start = 0;
  while (start <= body.size()) {
    size_t end = body.find('\n', start);
    if (end == std::string::npos) end = body.size();
    std::string line = body.substr(start, end - start);
    std::smatch match;
    if (std::regex_match(line, match, marker)) {
      if (auto status = flush(); !status) return status.error();
      const std::string name = ascii_lower(match[1].str());
      role = name == "system" ? Role::kSystem : name == "user" ? Role::kUser : Role::kAssistant;
      content.clear();
    } else {
      content += line;
      content += '\n';
    }
    start = end + 1;
  }
  if (auto status = flush(); !status) return status.error();
  if (prompt.sections_.empty()) return bad(source, "no system:/user: sections");
  return prompt;
}

Result<std::vector<Message>> JudgePrompt::render(
    const std::map<std::string, std::string>& values) const {
  for (const auto& input : inputs_) {
    auto it = values.find(input);
    if (it == values.end() || it->second.empty()) {
      return Error(ErrorCode::kInvalidArgument, name_ + " needs " + input + " (empty here)");
    }
  }
  static const std::regex placeholder(R"(\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\})");
  std::vector<Message> messages;
  for (const auto& [role, text] : sections_) {
    std::string out;
    auto begin = std::sregex_iterator(text.begin(), text.end(), placeholder);
    size_t last = 0;
    for (auto it = begin; it != std::sregex_iterator(); ++it) {
      out.append(text, last, static_cast<size_t>(it->position()) - last);
      auto value = values.find((*it)[1].str());
      if (value != values.end()) out += value->second;
      last = static_cast<size_t>(it->position() + it->length());
    }
    out.append(text, last, std::string::npos);
    Message message;
    message.role = role;
    set_string_content(message, std::move(out));
    messages.push_back(std::move(message));
  }
  return messages;
}

Result<double> parse_judge_score(const std::string& answer) {
  const std::string text = trim(answer);
  if (text.size() == 1 && text[0] >= '1' && text[0] <= '5')
    return static_cast<double>(text[0] - '0');
  return Error(ErrorCode::kBadGateway,
               "the judge answered " + echo(truncate_utf8(text, 60)) + ", not a rating 1-5");
}

}  // namespace keel::evals
