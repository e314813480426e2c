#include "evals/dataset.h"

#include <fstream>
#include <set>
#include <sstream>

#include "api/json_util.h"

namespace keel::evals {

namespace {

Error at_line(size_t line, const std::string& message) {
  return Error(ErrorCode::kInvalidArgument, "line " + std::to_string(line) + ": " + message);
}

std::string_view without_bom(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  return text;
}

}  // namespace

Result<std::vector<Json>> parse_jsonl(std::string_view text) {
  text = without_bom(text);
  std::vector<Json> rows;
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    auto row = parse_json(line, ErrorCode::kInvalidArgument, "a JSON object");
    if (!row) return at_line(line_number, row.error().message);
    if (!row->is_object()) {
      return at_line(line_number, std::string("expected a JSON object, got ") + describe(*row));
    }
    rows.push_back(std::move(*row));
  }
  return rows;
}

Result<std::vector<Json>> parse_csv(std::string_view text) {
  text = without_bom(text);
  // Records of fields; quoted fields may span lines, so the record's first line is kept.
  std::vector<std::pair<size_t, std::vector<std::string>>> records;
  size_t line = 1;
  size_t i = 0;
  while (i < text.size()) {
    const size_t record_line = line;
    std::vector<std::string> fields;
    bool record_done = false;
    while (!record_done) {
      std::string field;
      if (i < text.size() && text[i] == '"') {
        ++i;
        while (true) {
          if (i >= text.size()) return at_line(record_line, "a quoted field is never closed");
          const char c = text[i++];
          if (c == '"') {
            if (i < text.size() && text[i] == '"') {
              field += '"';
              ++i;
              continue;
            }
            break;
          }
          if (c == '\n') ++line;
          field += c;
        }
        if (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
          return at_line(line, "text after a closing quote (write a quote inside a field as \"\")");
        }
      } else {
        while (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
          if (text[i] == '"') {
            return at_line(line, "a quote inside an unquoted field (quote the whole field)");
          }
          field += text[i++];
        }
      }
      fields.push_back(std::move(field));
      if (i >= text.size()) {
        record_done = true;
      } else if (text[i] == ',') {
        ++i;
      } else {
        if (text[i] == '\r') {
          ++i;
          if (i < text.size() && text[i] != '\n') return at_line(line, "a lone carriage return");
        }
        if (i < text.size()) ++i;  // the '\n'
        ++line;
        record_done = true;
      }
    }
    const bool blank = fields.size() == 1 && fields[0].empty();
    if (!blank) records.emplace_back(record_line, std::move(fields));
  }
  if (records.empty()) return std::vector<Json>{};
  const auto& header = records.front().second;
  std::set<std::string> seen;
  for (const auto& name : header) {
    if (name.empty()) return at_line(records.front().first, "an empty column name");
    if (!seen.insert(name).second) {
      return at_line(records.front().first, "repeated column name \"" + name + "\"");
    }
  }
  std::vector<Json> rows;
  for (size_t r = 1; r < records.size(); ++r) {
    const auto& [record_line, fields] = records[r];
    if (fields.size() != header.size()) {
      return at_line(record_line, std::to_string(fields.size()) + " fields, but the header has " +
                                      std::to_string(header.size()));
    }
    Json row = Json::object();
    for (size_t c = 0; c < header.size(); ++c) row[header[c]] = fields[c];
    rows.push_back(std::move(row));
  }
  return rows;
}

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(ErrorCode::kNotFound, path + ": cannot open");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

Result<std::vector<Json>> load_dataset(const std::string& path) {
  auto file = read_text_file(path);
  if (!file) return file.error();
  const std::string& text = *file;
  const bool csv = path.size() >= 4 && path.compare(path.size() - 4, 4, ".csv") == 0;
  auto rows = csv ? parse_csv(text) : parse_jsonl(text);
  if (!rows) return Error(rows.error().code, path + ": " + rows.error().message);
  return rows;
}

}  // namespace keel::evals
