// GET /admin/flows: the config's flows as their checked graphs (flows/flow.h), for the console's
// Flows page to draw: inputs, outputs, and each node with what it reads. Running one is
// POST /v1/flows/{name}/run (server/flows.cpp).
#include "server/admin.h"
#include "server/admin_reply.h"

namespace keel {
namespace {

// A node input or an output as written, with the node or flow input it reads.
Json value_json(const FlowValue& value) {
  Json out = {
      {"value", value.kind == FlowValue::Kind::kLiteral ? value.literal : Json(value.text)}};
  if (value.kind == FlowValue::Kind::kNode) out["node"] = value.name;
  if (value.kind == FlowValue::Kind::kInput) out["input"] = value.name;
  return out;
}

Json node_json(const Flow& flow, const FlowNode& node) {
  Json inputs = Json::array();
  for (const auto& [name, value] : node.inputs) {
    Json input = value_json(value);
    input["name"] = name;
    inputs.push_back(std::move(input));
  }
  Json out = {{"name", node.name},
              {"type", node.type},
              {"source", node.source_path.empty() ? node.tool : node.source_path},
              {"inputs", std::move(inputs)},
              {"aggregation", node.aggregation},
              {"variant", node.variant}};
  if (!node.connection.empty()) out["connection"] = node.connection;
  if (!node.api.empty()) out["api"] = node.api;
  if (node.activate) {
    out["activate"] = value_json(node.activate->first);
    out["activate"]["is"] = node.activate->second;
  }
  if (auto variants = flow.variants.find(node.name); variants != flow.variants.end()) {
    out["variants"] = variants->second;
  }
  return out;
}

Json flow_json(const LoadedFlow& loaded) {
  const Flow& flow = loaded.flow;
  Json inputs = Json::array();
  for (const auto& input : flow.inputs) {
    Json entry = {{"name", input.name},
                  {"type", input.type},
                  {"is_chat_input", input.is_chat_input},
                  {"is_chat_history", input.is_chat_history}};
    if (input.default_value) entry["default"] = *input.default_value;
    inputs.push_back(std::move(entry));
  }
  Json outputs = Json::array();
  for (const auto& output : flow.outputs) {
    Json entry = value_json(output.reference);
    entry["name"] = output.name;
    entry["is_chat_output"] = output.is_chat_output;
    outputs.push_back(std::move(entry));
  }
  Json nodes = Json::array();
  for (const auto& node : flow.nodes) nodes.push_back(node_json(flow, node));
  Json order = Json::array();
  for (size_t index : flow.order) order.push_back(flow.nodes[index].name);
  return {{"name", loaded.name},         {"chat", flow.is_chat()},
          {"inputs", std::move(inputs)}, {"outputs", std::move(outputs)},
          {"nodes", std::move(nodes)},   {"order", std::move(order)}};
}

}  // namespace

Task<void> Admin::flows(const FlowSet* flows, ResponseWriter& response) {
  Json data = Json::array();
  const auto live = config_();
  for (const auto& config : live->flows) {
    const LoadedFlow* loaded = flows ? flows->find(config.name) : nullptr;
    if (loaded) data.push_back(flow_json(*loaded));
  }
  const Json body = {{"data", std::move(data)}};  // not in the co_await: g++ 12
  co_await send_admin_json(response, body);
}

}  // namespace keel
