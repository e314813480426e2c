// The LLM judges' prompts: `.prompty` files (Prompt flow's dialect: YAML front matter between
// `---` lines, then `system:` / `user:` / `assistant:` sections), rendered simply: `{{ name }}`
// is replaced by the input's text, nothing else is a template construct (a `{%` block is
// refused at load, so a file that needs a real Jinja engine says so instead of rendering
// wrongly). keel's own judges are built in (evals/judges/*.prompty in the source tree); a
// folder given with `--judges DIR` overrides them by file name.
//
//   auto prompt = JudgePrompt::parse(text, "relevance.prompty");
//   auto messages = prompt->render({{"question", q}, {"answer", a}});
//   auto score = parse_judge_score(" 4\n");   // 4; "four", "4/5", "" -> error
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/chat.h"

namespace keel::evals {

class JudgePrompt {
 public:
  static Result<JudgePrompt> parse(const std::string& text, const std::string& source);

  const std::string& name() const { return name_; }
  // The inputs the front matter declares; each must be non-empty to render.
  const std::vector<std::string>& inputs() const { return inputs_; }
  std::optional<double> temperature() const { return temperature_; }
  std::optional<int64_t> max_tokens() const { return max_tokens_; }
  // model.parameters.response_format, as a .prompty gives it: a schema can force a parseable
  // rating from a model that would not write one (json_schema {type: integer, enum: [1..5]}).
  const std::optional<ResponseFormat>& response_format() const { return response_format_; }
  Result<std::vector<Message>> render(const std::map<std::string, std::string>& values) const;

 private:
  std::string name_;
  std::string source_;
  std::vector<std::string> inputs_;
  std::optional<double> temperature_;
  std::optional<int64_t> max_tokens_;
  std::optional<ResponseFormat> response_format_;
  std::vector<std::pair<Role, std::string>> sections_;
};

// The built-in judge prompts, by name (relevance, groundedness, coherence, fluency,
// similarity): the files' text.
const std::map<std::string, std::string>& builtin_judge_prompts();

// A judge's rating: the whole answer, trimmed, must be one digit 1-5. Anything else is an
// error naming what came (a failed score, never a zero).
Result<double> parse_judge_score(const std::string& answer);

}  // namespace keel::evals
