// `keel eval`'s data sets over arbitrary bytes, as the command reads a --data file: the first
// byte picks CSV (even) or JSONL (odd); the rest is the file. A third path, when the first
// byte's top bit is set, takes the lines as --column-mapping entries and resolves each key
// against a fixed row.
//
// Invariants beyond "no crash, no UB, no leak":
//  - every row is a JSON object; CSV rows all have the header's columns, as strings;
//  - round trip: the rows written back out (CSV with every field quoted; JSONL one dump per
//    line) parse to the same rows;
//  - every string in the rows dumps as valid UTF-8 when the input was (dump_checked).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "evals/dataset.h"
#include "evals/mapping.h"
#include "fuzz_check.h"

namespace {

std::string csv_field(const std::string& field) {
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

void check_csv(std::string_view text) {
  auto rows = keel::evals::parse_csv(text);
  if (!rows) {
    FUZZ_CHECK(rows.error().message.rfind("line ", 0) == 0, "a CSV error names no line");
    return;
  }
  if (rows->empty()) return;
  std::vector<std::string> header;
  for (const auto& [key, value] : (*rows)[0].items()) header.push_back(key);
  std::string again;
  for (size_t c = 0; c < header.size(); ++c) again += (c ? "," : "") + csv_field(header[c]);
  again += "\r\n";
  for (const auto& row : *rows) {
    FUZZ_CHECK(row.is_object() && row.size() == header.size(), "a row lacks the header's columns");
    size_t c = 0;
    for (const auto& [key, value] : row.items()) {
      FUZZ_CHECK(key == header[c], "a row's columns are out of order");
      FUZZ_CHECK(value.is_string(), "a CSV value is not a string");
      again += (c++ ? "," : "") + csv_field(value.get<std::string>());
    }
    again += "\r\n";
  }
  auto back = keel::evals::parse_csv(again);
  FUZZ_CHECK(back.ok(), "the rows written back out do not parse");
  FUZZ_CHECK(*back == *rows, "the rows written back out parse differently");
}

void check_jsonl(std::string_view text) {
  auto rows = keel::evals::parse_jsonl(text);
  if (!rows) {
    FUZZ_CHECK(rows.error().message.rfind("line ", 0) == 0, "a JSONL error names no line");
    return;
  }
  std::string again;
  for (const auto& row : *rows) {
    FUZZ_CHECK(row.is_object(), "a JSONL row is not an object");
    again += dump_checked(row) + "\n";
  }
  auto back = keel::evals::parse_jsonl(again);
  FUZZ_CHECK(back.ok(), "the rows written back out do not parse");
  FUZZ_CHECK(*back == *rows, "the rows written back out parse differently");
}

void check_mapping(std::string_view text) {
  std::vector<std::string> entries;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    entries.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  auto mapping = keel::evals::ColumnMapping::parse(entries);
  if (!mapping) return;
  const keel::Json data = {{"question", "q"}, {"answer", "a"}, {"nested", {{"x", 1}}}};
  const keel::Json run_inputs = {{"question", "q"}};
  const keel::Json run_outputs = {{"answer", "out"}};
  for (const auto& [key, value] : mapping->entries()) {
    (void)keel::evals::as_text(mapping->value(key, data, run_inputs, run_outputs));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (mode & 0x80) {
    check_mapping(text);
  } else if (mode & 1) {
    check_jsonl(text);
  } else {
    check_csv(text);
  }
  return 0;
}
