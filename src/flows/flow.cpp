#include "flows/flow.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>

#include "prompts/yaml_json.h"

namespace keel {

namespace {

namespace fs = std::filesystem;

struct FlowFailure {
  int line;
  std::string reason;
};

[[noreturn]] void fail(int line, std::string reason) { throw FlowFailure{line, std::move(reason)}; }

int line_of(const YAML::Node& node, int fallback) {
  const int line = node.Mark().line;
  return line >= 0 ? line + 1 : fallback;
}

// A map's entries with their key lines; unknown keys are errors naming `what`.
std::vector<std::tuple<std::string, YAML::Node, int>> entries(
    const YAML::Node& map, int line, const std::string& what,
    std::initializer_list<std::string_view> known) {
  std::vector<std::tuple<std::string, YAML::Node, int>> out;
  if (!map || map.IsNull()) return out;
  if (!map.IsMap()) fail(line, what + ": expected a map");
  for (auto it = map.begin(); it != map.end(); ++it) {
    const int key_line = line_of(it->first, line);
    if (!it->first.IsScalar()) fail(key_line, what + ": expected a key");
    const std::string key = it->first.Scalar();
    if (known.size() > 0 && std::find(known.begin(), known.end(), key) == known.end()) {
      std::string list;
      for (auto name : known) list += (list.empty() ? "" : ", ") + std::string(name);
      fail(key_line, what + ": unknown key '" + key + "' (expected one of " + list + ")");
    }
    out.emplace_back(key, it->second, key_line);
  }
  return out;
}

std::string scalar_text(const YAML::Node& node, int line, const std::string& what) {
  if (!node.IsScalar()) fail(line, what + " must be a string");
  return node.Scalar();
}

bool truthy(const YAML::Node& node) {
  Json value = yaml_scalar(node);
  return value.is_boolean() ? value.get<bool>() : false;
}

const std::set<std::string>& node_types() {
  static const std::set<std::string> kTypes = {"python",     "prompt", "llm",
                                               "custom_llm", "tool",   "flow"};
  return kTypes;
}

class FlowReader {
 public:
  FlowReader(Flow& flow, const FlowLoadOptions& options) : flow_(flow), options_(options) {}

  void read(const YAML::Node& root) {
    if (!root.IsMap()) fail(1, "expected a map (inputs, outputs, nodes)");
    YAML::Node nodes_node, variants_node;
    int nodes_line = 1, variants_line = 1;
    for (auto& [key, value, line] :
         entries(root, 1, "flow",
                 {"$schema", "inputs", "outputs", "nodes", "node_variants", "environment",
                  "environment_variables", "additional_includes", "language", "id", "name",
                  "description", "tags", "models"})) {
      if (key == "inputs") read_inputs(value, line);
      if (key == "outputs") outputs_ = {value, line};
      if (key == "nodes") nodes_node = value, nodes_line = line;
      if (key == "node_variants") variants_node = value, variants_line = line;
    }
    read_variants(variants_node, variants_line);
    if (!nodes_node || nodes_node.IsNull()) fail(1, "a flow needs nodes");
    if (!nodes_node.IsSequence()) fail(nodes_line, "nodes must be a list");
    for (const auto& item : nodes_node) read_node(item, line_of(item, nodes_line));
    read_outputs(outputs_.first, outputs_.second);
    check_references();
    order();
  }

 private:
  void read_inputs(const YAML::Node& map, int line) {
    for (auto& [name, spec, key_line] : entries(map, line, "inputs", {})) {
      FlowInput input;
      input.name = name;
      input.line = key_line;
      for (auto& [key, value, value_line] : entries(
               spec, key_line, "inputs." + name,
               {"type", "default", "description", "is_chat_input", "is_chat_history", "enum"})) {
        if (key == "type") input.type = scalar_text(value, value_line, "inputs." + name + ".type");
        if (key == "default") input.default_value = yaml_to_json(value);
        if (key == "is_chat_input") input.is_chat_input = truthy(value);
        if (key == "is_chat_history") input.is_chat_history = truthy(value);
      }
      static const std::set<std::string> kTypes = {"int",  "double", "bool",  "string",
                                                   "list", "object", "image", ""};
      if (!kTypes.count(input.type)) {
        fail(key_line, "inputs." + name + ": unknown type '" + input.type +
                           "' (expected int, double, bool, string, list, object or image)");
      }
      flow_.inputs.push_back(std::move(input));
    }
  }

  void read_outputs(const YAML::Node& map, int line) {
    for (auto& [name, spec, key_line] : entries(map, line, "outputs", {})) {
      FlowOutput output;
      output.name = name;
      output.line = key_line;
      for (auto& [key, value, value_line] :
           entries(spec, key_line, "outputs." + name,
                   {"type", "reference", "description", "is_chat_output", "evaluation_only"})) {
        if (key == "reference") output.reference = value_at(value, value_line, "outputs." + name);
        if (key == "is_chat_output") output.is_chat_output = truthy(value);
      }
      flow_.outputs.push_back(std::move(output));
    }
  }

  void read_variants(const YAML::Node& map, int line) {
    for (auto& [node, spec, key_line] : entries(map, line, "node_variants", {})) {
      std::string default_id;
      YAML::Node variants;
      int variants_line = key_line;
      for (auto& [key, value, value_line] :
           entries(spec, key_line, "node_variants." + node, {"default_variant_id", "variants"})) {
        if (key == "default_variant_id") default_id = scalar_text(value, value_line, key);
        if (key == "variants") variants = value, variants_line = value_line;
      }
      auto chosen = options_.variants.count(node) ? options_.variants.at(node) : default_id;
      bool found = false;
      for (auto& [id, variant, id_line] :
           entries(variants, variants_line, "node_variants." + node + ".variants", {})) {
        flow_.variants[node].push_back(id);
        if (id != chosen) continue;
        found = true;
        YAML::Node body;
        for (auto& [key, value, body_line] :
             entries(variant, id_line, "node_variants." + node + ".variants." + id, {"node"})) {
          body = value;
        }
        variant_nodes_[node] = {body, id_line, id};
      }
      if (!found) {
        fail(key_line, "node_variants." + node + ": no variant '" + chosen + "'");
      }
    }
  }

  void read_node(const YAML::Node& item, int line) {
    FlowNode node;
    node.line = line;
    bool use_variants = false;
    YAML::Node body = item;
    if (!item.IsMap()) fail(line, "nodes: each node must be a map");
    if (const YAML::Node name = item["name"]; name) {
      node.name = scalar_text(name, line, "node name");
    }
    if (node.name.empty()) fail(line, "a node needs a name");
    const std::string what = "node " + node.name;
    if (flow_.find(node.name) != nullptr) fail(line, what + ": repeated node name");
    if (const YAML::Node flag = item["use_variants"]; flag && truthy(flag)) {
      use_variants = true;
      auto it = variant_nodes_.find(node.name);
      if (it == variant_nodes_.end()) {
        fail(line, what + ": use_variants, but node_variants has no entry for it");
      }
      body = std::get<0>(it->second);
      node.variant = std::get<2>(it->second);
    }
    static const std::initializer_list<std::string_view> kNodeKeys = {
        "name",     "type",   "source",       "inputs",          "connection", "api",
        "provider", "module", "activate",     "aggregation",     "reduce",     "use_variants",
        "comment",  "tool",   "enable_cache", "deployment_name", "timeout",    "retries"};
    auto read_body = [&](const YAML::Node& map, int map_line) {
      for (auto& [key, value, key_line] : entries(map, map_line, what, kNodeKeys)) {
        if (key == "type") node.type = scalar_text(value, key_line, what + ": type");
        if (key == "connection")
          node.connection = scalar_text(value, key_line, what + ": connection");
        if (key == "api") node.api = scalar_text(value, key_line, what + ": api");
        if (key == "aggregation" || key == "reduce") node.aggregation = truthy(value);
        if (key == "timeout") {
          Json seconds = yaml_scalar(value);
          if (!seconds.is_number() || seconds.get<double>() <= 0 || seconds.get<double>() > 86400) {
            fail(key_line, what + ": timeout must be a number of seconds (0 < timeout <= 86400)");
          }
          node.timeout_ms = static_cast<int64_t>(seconds.get<double>() * 1000);
        }
        if (key == "retries") {
          Json count = yaml_scalar(value);
          if (!count.is_number_integer() || count.get<int64_t>() < 0 || count.get<int64_t>() > 10) {
            fail(key_line, what + ": retries must be an integer from 0 to 10");
          }
          node.retries = static_cast<int>(count.get<int64_t>());
        }
        if (key == "source") read_source(node, value, key_line, what);
        if (key == "inputs") {
          for (auto& [name, input, input_line] : entries(value, key_line, what + ": inputs", {})) {
            node.inputs.emplace_back(name, value_at(input, input_line, what + ": inputs." + name));
          }
        }
        if (key == "activate") {
          FlowValue when;
          std::optional<Json> is;
          for (auto& [k, v, l] : entries(value, key_line, what + ": activate", {"when", "is"})) {
            if (k == "when") when = value_at(v, l, what + ": activate.when");
            if (k == "is") is = yaml_to_json(v);
          }
          if (!is) fail(key_line, what + ": activate needs `is`");
          node.activate = std::pair{when, *is};
        }
      }
    };
    read_body(item, line);
    if (use_variants) read_body(body, std::get<1>(variant_nodes_.at(node.name)));
    if (node.type.empty()) fail(line, what + ": no type");
    if (!node_types().count(node.type)) {
      fail(line, what + ": unknown node type '" + node.type +
                     "' (expected python, prompt, llm, tool or flow)");
    }
    if (node.type == "custom_llm") node.type = "llm";
    if (options_.check_files && !node.source_path.empty()) {
      const fs::path path = fs::path(flow_.folder) / node.source_path;
      std::error_code ec;
      if (!fs::exists(path, ec)) fail(line, what + ": missing file " + node.source_path);
      if (node.type == "flow" && !fs::exists(path / "flow.dag.yaml", ec) &&
          !fs::is_regular_file(path, ec)) {
        fail(line, what + ": " + node.source_path + " holds no flow.dag.yaml");
      }
    }
    if (node.type == "tool") {
      const size_t slash = node.tool.find('/');
      if (slash == std::string::npos || slash == 0 || slash + 1 == node.tool.size()) {
        fail(line, what + ": a tool node needs source.tool: TOOLSET/TOOL (a configured toolset)");
      }
    }
    if (node.source_path.empty() && node.source_type == "code") {
      fail(line, what + ": source.path is required for a code source");
    }
    flow_.nodes.push_back(std::move(node));
  }

  void read_source(FlowNode& node, const YAML::Node& value, int line, const std::string& what) {
    for (auto& [key, v, l] : entries(value, line, what + ": source", {"type", "path", "tool"})) {
      if (key == "type") node.source_type = scalar_text(v, l, what + ": source.type");
      if (key == "path") node.source_path = scalar_text(v, l, what + ": source.path");
      if (key == "tool") node.tool = scalar_text(v, l, what + ": source.tool");
    }
  }

  FlowValue value_at(const YAML::Node& node, int line, const std::string& what) {
    auto value = parse_flow_value(yaml_to_json(node));
    if (!value) fail(line, what + ": " + value.error().message);
    references_.push_back({*value, line, what});
    return *value;
  }

  void check_references() {
    std::set<std::string> inputs;
    for (const auto& input : flow_.inputs) inputs.insert(input.name);
    for (const auto& [value, line, what] : references_) {
      if (value.kind == FlowValue::Kind::kInput && !inputs.count(value.name)) {
        fail(line, what + ": " + value.text + " names no flow input");
      }
      if (value.kind == FlowValue::Kind::kNode && flow_.find(value.name) == nullptr) {
        fail(line, what + ": " + value.text + " names no node");
      }
    }
  }

  // Depth-first, in the file's order; a node met again while on the path closes a cycle.
  void order() {
    std::map<std::string, int> state;  // 1: on the path, 2: done
    std::vector<std::string> path;
    std::function<void(const FlowNode&)> visit = [&](const FlowNode& node) {
      int& mark = state[node.name];
      if (mark == 2) return;
      if (mark == 1) {
        std::string cycle;
        auto start = std::find(path.begin(), path.end(), node.name);
        for (auto it = start; it != path.end(); ++it) cycle += *it + " -> ";
        fail(node.line, "node " + node.name + ": a cycle: " + cycle + node.name);
      }
      mark = 1;
      path.push_back(node.name);
      auto depend = [&](const FlowValue& value) {
        if (value.kind == FlowValue::Kind::kNode) visit(*flow_.find(value.name));
      };
      for (const auto& [name, value] : node.inputs) depend(value);
      if (node.activate) depend(node.activate->first);
      path.pop_back();
      state[node.name] = 2;
      flow_.order.push_back(static_cast<size_t>(&node - flow_.nodes.data()));
    };
    for (const auto& node : flow_.nodes) visit(node);
  }

  Flow& flow_;
  const FlowLoadOptions& options_;
  std::pair<YAML::Node, int> outputs_;
  std::map<std::string, std::tuple<YAML::Node, int, std::string>> variant_nodes_;
  std::vector<std::tuple<FlowValue, int, std::string>> references_;
};

}  // namespace

const FlowNode* Flow::find(const std::string& name) const {
  for (const auto& node : nodes) {
    if (node.name == name) return &node;
  }
  return nullptr;
}

bool Flow::is_chat() const {
  return std::any_of(inputs.begin(), inputs.end(),
                     [](const FlowInput& input) { return input.is_chat_input; });
}

Result<FlowValue> parse_flow_value(const Json& value) {
  FlowValue out;
  out.literal = value;
  if (!value.is_string()) return out;
  const std::string text = value.get<std::string>();
  static const std::regex kReference(R"(^\$\{([^{}]+)\}$)");
  std::smatch match;
  if (text.size() > 4096 || !std::regex_match(text, match, kReference)) return out;
  out.text = text;
  const std::string inner = match[1].str();
  // First segment up to '.' or '['; then .key, ['key'] or [index] accessors.
  size_t pos = inner.find_first_of(".[");
  const std::string head = inner.substr(0, pos);
  std::vector<Json> path;
  while (pos != std::string::npos && pos < inner.size()) {
    if (inner[pos] == '.') {
      size_t end = inner.find_first_of(".[", pos + 1);
      std::string key = inner.substr(pos + 1, end == std::string::npos ? end : end - pos - 1);
      if (key.empty()) return Error(ErrorCode::kInvalidArgument, "malformed reference " + text);
      path.emplace_back(key);
      pos = end;
    } else {
      size_t end = inner.find(']', pos);
      if (end == std::string::npos) {
        return Error(ErrorCode::kInvalidArgument, "malformed reference " + text);
      }
      std::string index = inner.substr(pos + 1, end - pos - 1);
      if (index.size() >= 2 && (index.front() == '\'' || index.front() == '"') &&
          index.back() == index.front()) {
        path.emplace_back(index.substr(1, index.size() - 2));
      } else if (!index.empty() && index.size() < 10 &&
                 index.find_first_not_of("0123456789") == std::string::npos) {
        path.emplace_back(std::stoll(index));
      } else {
        return Error(ErrorCode::kInvalidArgument, "malformed reference " + text);
      }
      pos = end + 1 < inner.size() ? end + 1 : std::string::npos;
    }
  }
  if (head.empty()) return Error(ErrorCode::kInvalidArgument, "malformed reference " + text);
  if (head == "inputs" || head == "flow") {
    if (path.size() != 1 || !path[0].is_string()) {
      return Error(ErrorCode::kInvalidArgument,
                   "malformed reference " + text + " (expected ${inputs.NAME})");
    }
    out.kind = FlowValue::Kind::kInput;
    out.name = path[0].get<std::string>();
    return out;
  }
  out.kind = FlowValue::Kind::kNode;
  out.name = head;
  if (!path.empty()) {
    if (path[0] != Json("output")) {
      return Error(ErrorCode::kInvalidArgument,
                   "malformed reference " + text + " (expected ${NODE.output...})");
    }
    path.erase(path.begin());
  }
  out.path = std::move(path);
  return out;
}

Result<Flow> parse_flow(std::string_view yaml_text, const std::string& folder,
                        const std::string& file, const FlowLoadOptions& options) {
  Flow flow;
  flow.folder = folder;
  flow.file = file;
  try {
    YAML::Node root = YAML::Load(std::string(yaml_text));
    FlowReader(flow, options).read(root);
  } catch (const YAML::Exception& e) {
    return Error(ErrorCode::kInvalidArgument,
                 file + ":" + std::to_string(e.mark.line >= 0 ? e.mark.line + 1 : 1) +
                     ": invalid YAML: " + e.msg);
  } catch (const FlowFailure& failure) {
    return Error(ErrorCode::kInvalidArgument,
                 file + ":" + std::to_string(failure.line) + ": " + failure.reason);
  }
  return flow;
}

Result<Flow> load_flow(const std::string& path, const FlowLoadOptions& options) {
  std::error_code ec;
  fs::path folder = path;
  fs::path file = folder / "flow.dag.yaml";
  if (fs::is_regular_file(folder, ec)) {
    file = folder;
    folder = folder.parent_path();
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return Error(ErrorCode::kNotFound, file.string() + ": cannot open the flow (no flow.dag.yaml)");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_flow(text.str(), folder.string(), file.string(), options);
}

}  // namespace keel
