// The flow reader over arbitrary bytes, as `keel flow check` reads a flow.dag.yaml: parse_flow
// (YAML, inputs, outputs, nodes, node_variants, references, the order), without looking for
// the files the nodes name (a folder that does not exist would stop every input there).
//
// Invariants beyond "no crash, no UB, no leak":
//  - every error is kInvalidArgument and its message starts with "<file>:<line>: ";
//  - an accepted flow has unique node names, every reference names a flow input or a node,
//    and `order` is a permutation of the nodes in which each node comes after those it reads.
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "flows/flow.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  keel::FlowLoadOptions options;
  options.check_files = false;
  auto flow = keel::parse_flow(text, "/nonexistent-keel-fuzz", "fuzz/flow.dag.yaml", options);
  if (!flow) {
    FUZZ_CHECK(flow.error().code == keel::ErrorCode::kInvalidArgument, "wrong error code");
    FUZZ_CHECK(flow.error().message.rfind("fuzz/flow.dag.yaml:", 0) == 0,
               "an error that does not name the file");
    return 0;
  }
  std::set<std::string> inputs;
  for (const auto& input : flow->inputs) inputs.insert(input.name);
  std::map<std::string, size_t> position;  // node -> its place in `order`
  FUZZ_CHECK(flow->order.size() == flow->nodes.size(), "order is not every node once");
  for (size_t i = 0; i < flow->order.size(); ++i) {
    FUZZ_CHECK(flow->order[i] < flow->nodes.size(), "order names no node");
    FUZZ_CHECK(position.emplace(flow->nodes[flow->order[i]].name, i).second,
               "a node twice in order (or a repeated name)");
  }
  auto check = [&](const keel::FlowValue& value, size_t before) {
    if (value.kind == keel::FlowValue::Kind::kInput) {
      FUZZ_CHECK(inputs.count(value.name) == 1, "a reference to no input");
    } else if (value.kind == keel::FlowValue::Kind::kNode) {
      FUZZ_CHECK(position.count(value.name) == 1, "a reference to no node");
      FUZZ_CHECK(position[value.name] < before, "a node ordered before what it reads");
    }
  };
  for (const auto& node : flow->nodes) {
    const size_t at = position[node.name];
    for (const auto& [name, value] : node.inputs) check(value, at);
    if (node.activate) check(node.activate->first, at);
  }
  for (const auto& output : flow->outputs) check(output.reference, flow->order.size());
  return 0;
}
