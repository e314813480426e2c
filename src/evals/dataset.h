// Evaluation data sets: JSONL (one JSON object per line, as Prompt flow's data.jsonl) and CSV
// (RFC 4180: a header row, quoted fields with "" for a quote and line breaks inside quotes).
//
//   auto rows = load_dataset("data.jsonl");     // Result<std::vector<Json>>, each an object
//   auto rows = parse_csv("q,a\n\"1, 2\",3\n");  // [{"q": "1, 2", "a": "3"}]
//
// Errors name the line (1-based) where the input went wrong. CSV values are strings.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/chat.h"

namespace keel::evals {

Result<std::vector<Json>> parse_jsonl(std::string_view text);
Result<std::vector<Json>> parse_csv(std::string_view text);
// A whole file's bytes; kNotFound naming the path when it cannot be opened.
Result<std::string> read_text_file(const std::string& path);
// By the file's extension: .csv is CSV, anything else JSONL.
Result<std::vector<Json>> load_dataset(const std::string& path);

}  // namespace keel::evals
