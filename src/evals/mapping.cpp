#include "evals/mapping.h"

namespace keel::evals {

namespace {

// Only a whole value `${...}` is a reference (Prompt flow: ^\${([^{}]+)}$).
bool reference_of(const std::string& value, std::string& inner) {
  if (value.size() < 4 || value.compare(0, 2, "${") != 0 || value.back() != '}') return false;
  inner = value.substr(2, value.size() - 3);
  return !inner.empty() && inner.find_first_of("{}") == std::string::npos;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    parts.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

Json lookup(const Json& root, const std::vector<std::string>& parts, size_t from) {
  const Json* node = &root;
  for (size_t i = from; i < parts.size(); ++i) {
    if (!node->is_object()) return nullptr;
    auto it = node->find(parts[i]);
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return *node;
}

}  // namespace

std::string as_text(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<ColumnMapping> ColumnMapping::parse(const std::vector<std::string>& entries) {
  ColumnMapping mapping;
  bool any_reference = false;
  for (const auto& entry : entries) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Error(ErrorCode::kInvalidArgument, "column mapping \"" + entry +
                                                    "\": expected KEY=VALUE, e.g. "
                                                    "ground_truth='${data.answer}'");
    }
    std::string key = entry.substr(0, eq);
    std::string value = entry.substr(eq + 1);
    if (mapping.entries_.count(key)) {
      return Error(ErrorCode::kInvalidArgument, "column mapping: \"" + key + "\" is mapped twice");
    }
    std::string inner;
    if (reference_of(value, inner)) {
      const auto parts = split_path(inner);
      const bool data = parts.size() >= 2 && parts[0] == "data";
      const bool run =
          parts.size() >= 3 && parts[0] == "run" && (parts[1] == "inputs" || parts[1] == "outputs");
      if (!data && !run) {
        return Error(ErrorCode::kInvalidArgument,
                     "column mapping \"" + entry +
                         "\": a reference is ${data.COLUMN}, ${run.inputs.NAME} or "
                         "${run.outputs.NAME}");
      }
      for (const auto& part : parts) {
        if (part.empty()) {
          return Error(ErrorCode::kInvalidArgument,
                       "column mapping \"" + entry + "\": an empty name in the reference");
        }
      }
      any_reference = true;
    }
    mapping.entries_.emplace(std::move(key), std::move(value));
  }
  if (!entries.empty() && !any_reference) {
    return Error(ErrorCode::kInvalidArgument,
                 "column mapping: every value is a literal; map at least one input to "
                 "${data.COLUMN} (as Prompt flow requires)");
  }
  return mapping;
}

Json ColumnMapping::value(const std::string& key, const Json& data, const Json& run_inputs,
                          const Json& run_outputs) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (key == "answer") return lookup(run_outputs, {"answer"}, 0);
    return lookup(data, {key}, 0);
  }
  std::string inner;
  if (!reference_of(it->second, inner)) return it->second;
  const auto parts = split_path(inner);
  if (parts[0] == "data") return lookup(data, parts, 1);
  return lookup(parts[1] == "inputs" ? run_inputs : run_outputs, parts, 2);
}

}  // namespace keel::evals
