// Prompt flow's column mapping (`pf run create --column-mapping k='${data.col}'`): what each
// input of a row is, from the data line (`${data.col}`, `${data.a.b}`), the target's inputs
// (`${run.inputs.question}`) or its outputs (`${run.outputs.answer}`); any other value is a
// literal. Without an entry, an input takes the same-named column, except `answer`, which is the
// target's output (DESIGN.md: evaluators see the target's output as `answer`).
//
//   auto mapping = ColumnMapping::parse({"ground_truth=${data.answer}"});
//   Json inputs = mapping->resolve(row, run_inputs, run_outputs, {"question", "ground_truth"});
#pragma once

#include <map>
#include <string>
#include <vector>

#include "api/chat.h"

namespace keel::evals {

class ColumnMapping {
 public:
  // "key=value" entries. Errors: no '=', an empty key, a repeated key, a `${...}` reference to
  // an unknown source, or a mapping of literals only (Prompt flow refuses it too).
  static Result<ColumnMapping> parse(const std::vector<std::string>& entries);

  // The value of `key` for one row: a string when the source is a string, else the JSON value;
  // null when the source is absent.
  Json value(const std::string& key, const Json& data, const Json& run_inputs,
             const Json& run_outputs) const;
  bool maps(const std::string& key) const { return entries_.count(key) > 0; }
  const std::map<std::string, std::string>& entries() const { return entries_; }

 private:
  std::map<std::string, std::string> entries_;
};

// A row value as text: strings as they are, null as "", anything else as compact JSON.
std::string as_text(const Json& value);

}  // namespace keel::evals
