// Prompt flow's flows (`flow.dag.yaml` and the files beside it), read and checked before
// anything runs (DESIGN.md "src/flows/"): the graph's inputs, outputs and nodes, the
// references between them, node variants, and an order that runs every node after the nodes it
// reads. Every error names the file, the line and the node.
//
//   auto flow = load_flow("flows/web-classification");
//   if (!flow) return flow.error();   // "flows/x/flow.dag.yaml:31: node classify: ..."
//   for (size_t i : flow->order) run(flow->nodes[i]);
//
// Facts of the format are Prompt flow's (../shared/promptflow/README.md): a reference is only a
// whole value "${...}": ${inputs.x} (alias ${flow.x}), ${node} = ${node.output}, and
// ${node.output.a.b} / ['k'] / [0] into it. Reads only the folder; thread-safe once loaded.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/chat.h"
#include "core/result.h"

namespace keel {

// One input value of a node (or an output's reference): a literal, or a reference.
struct FlowValue {
  enum class Kind { kLiteral, kInput, kNode };
  Kind kind = Kind::kLiteral;
  Json literal;            // kLiteral
  std::string name;        // kInput: the flow input; kNode: the node
  std::vector<Json> path;  // into the node's output: strings (keys), integers
  std::string text;        // as written
};

struct FlowInput {
  std::string name;
  std::string type;  // int, double, bool, string, list, object, image
  std::optional<Json> default_value;
  bool is_chat_input = false;
  bool is_chat_history = false;
  int line = 0;
};

struct FlowOutput {
  std::string name;
  FlowValue reference;
  bool is_chat_output = false;
  int line = 0;
};

struct FlowNode {
  std::string name;
  std::string type;         // python, prompt, llm, tool, flow (custom_llm: llm)
  std::string source_type;  // code, package, package_with_prompt
  std::string source_path;  // relative to the flow's folder ("" for package tools)
  std::string tool;         // source.tool (a tool node: TOOLSET/TOOL)
  std::string connection;
  std::string api;                                        // llm: chat | completion
  std::vector<std::pair<std::string, FlowValue>> inputs;  // in the file's order
  std::optional<std::pair<FlowValue, Json>> activate;     // {when, is}
  bool aggregation = false;
  std::string variant;  // the node variant chosen, "" when none
  // keel's own keys: `timeout` (seconds, per attempt; 0: none but python's 600 s) and
  // `retries` (extra attempts after a failure that is not the run's own cancellation).
  int64_t timeout_ms = 0;
  int retries = 0;
  int line = 0;
};

struct Flow {
  std::string folder;
  std::string file;  // folder/flow.dag.yaml, as errors name it
  std::vector<FlowInput> inputs;
  std::vector<FlowOutput> outputs;
  std::vector<FlowNode> nodes;  // as in the file, node variants resolved
  // Indices into `nodes`: every node after the nodes it reads (its inputs and its
  // activate.when), as in the file where that allows.
  std::vector<size_t> order;
  // node -> variant ids, from node_variants (the chosen one is FlowNode::variant).
  std::map<std::string, std::vector<std::string>> variants;

  const FlowNode* find(const std::string& name) const;
  bool is_chat() const;  // an input with is_chat_input
};

struct FlowLoadOptions {
  bool check_files = true;  // that source files and sub-flow folders exist
  // node -> variant id, instead of node_variants' default_variant_id.
  std::map<std::string, std::string> variants;
};

// Parses `${...}` (a whole value) or a literal; kInvalidArgument when a reference is malformed.
Result<FlowValue> parse_flow_value(const Json& value);

// Reads and checks `yaml_text` as the flow.dag.yaml of `folder` (`file` names it in errors).
Result<Flow> parse_flow(std::string_view yaml_text, const std::string& folder,
                        const std::string& file, const FlowLoadOptions& options = {});
// The same for FOLDER/flow.dag.yaml (PATH may also name the file itself).
Result<Flow> load_flow(const std::string& path, const FlowLoadOptions& options = {});

}  // namespace keel
