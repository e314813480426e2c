// POST /mcp: keel as an MCP server (streamable HTTP, stateless: one JSON answer per POST, no
// session id, no server-sent stream). Its toolsets' tools are the MCP tools; a call goes through
// Toolbox::invoke like a call from the tool loop (schema check, timeout, output cap, metrics).
// Errors are JSON-RPC errors.
#include "api/json_util.h"
#include "api/mcp.h"
#include "server/app.h"
#include "tools/toolbox.h"

namespace keel {

namespace {

constexpr std::string_view kJson = "application/json";

// Every toolset's tools under names unique across toolsets: a name a former toolset took gets
// the toolset's name before it ("web_fetch").
Task<std::vector<OfferedTool>> all_tools(Toolbox& toolbox, CancelPtr cancel) {
  std::vector<OfferedTool> all;
  for (const auto& name : toolbox.toolset_names()) {
    const std::vector<std::string> one{name};
    auto tools = co_await toolbox.tools_of(one, cancel, /*skip_unavailable=*/true);
    if (!tools) continue;
    for (auto& tool : *tools) {
      const auto taken = [&all](const std::string& candidate) {
        return std::any_of(all.begin(), all.end(),
                           [&](const OfferedTool& t) { return t.name == candidate; });
      };
      if (taken(tool.name)) tool.name = tool_name_for_models(name + "_" + tool.name);
      if (!taken(tool.name)) all.push_back(std::move(tool));
    }
  }
  co_return all;
}

// The host of a Host header ("localhost:8080", "[::1]:80") or an Origin ("http://127.0.0.1:3000").
std::string_view host_part(std::string_view value) {
  if (const size_t scheme = value.find("://"); scheme != std::string_view::npos) {
    value.remove_prefix(scheme + 3);
  }
  value = value.substr(0, value.find('/'));
  if (value.starts_with('[')) return value.substr(0, value.find(']') + 1);
  return value.substr(0, value.find(':'));
}

// DNS rebinding: a web page whose name resolves to 127.0.0.1 must not reach a keel that takes no
// key. Without api_keys (then keel listens on loopback only), Host and Origin must name loopback.
bool rebinding_suspect(const Config& config, const bhttp::fields& fields) {
  if (!config.api_keys.empty()) return false;
  for (const auto field : {bhttp::field::host, bhttp::field::origin}) {
    const auto it = fields.find(field);
    if (it == fields.end()) continue;
    const std::string_view value(it->value().data(), it->value().size());
    if (!is_loopback_host(std::string(host_part(value)))) return true;
  }
  return false;
}

}  // namespace

Task<void> App::mcp(Request& request, ResponseWriter& response, RequestRecord& record) {
  record.endpoint = "/mcp";
  std::vector<std::pair<std::string, std::string>> headers{{"x-request-id", record.id}};
  if (rebinding_suspect(config_, request.message)) {
    record.status = 403;
    record.error_class = error_code_name(ErrorCode::kPermissionDenied);
    std::string body = jsonrpc_error(Json(), -32000,
                                     "keel takes no API key here, so /mcp answers only requests "
                                     "whose Host and Origin name a loopback address");
    co_await response.send(403, kJson, std::move(body), headers);
    co_return;
  }
  auto message = parse_jsonrpc(request.message.body());
  if (!message) {
    record.status = 400;
    record.error_class = error_code_name(ErrorCode::kInvalidArgument);
    std::string body = jsonrpc_error(Json(), kJsonRpcParseError, message.error().message);
    co_await response.send(400, kJson, std::move(body), headers);
    co_return;
  }
  using Kind = JsonRpcMessage::Kind;
  if (message->kind != Kind::kRequest) {  // notifications and responses: accepted, no body
    record.status = 202;
    co_await response.send(202, kJson, "", headers);
    co_return;
  }
  const Json& params = message->params.is_object() ? message->params : Json::object();
  std::string body;
  if (message->method == "initialize") {
    const auto asked = params.find("protocolVersion");
    const std::string version = asked != params.end() && asked->is_string() &&
                                        mcp_version_supported(asked->get<std::string>())
                                    ? asked->get<std::string>()
                                    : kMcpProtocolVersions[0];
    Json result = {{"protocolVersion", version},
                   {"capabilities", {{"tools", {{"listChanged", false}}}}},
                   {"serverInfo", {{"name", "keel"}, {"version", "0.1.0"}}}};
    body = jsonrpc_result(message->id, result);
  } else if (message->method == "ping") {
    body = jsonrpc_result(message->id, Json::object());
  } else if (message->method == "tools/list" || message->method == "tools/call") {
    std::vector<OfferedTool> tools;
    if (toolbox_) tools = co_await all_tools(*toolbox_, response.client_gone());
    if (message->method == "tools/list") {
      Json list = Json::array();
      for (const auto& tool : tools) list.push_back(mcp_tool_to_json(tool.spec()));
      body = jsonrpc_result(message->id, Json{{"tools", std::move(list)}});
    } else {
      const auto name = params.find("name");
      const OfferedTool* found = nullptr;
      for (const auto& tool : tools) {
        if (name != params.end() && name->is_string() && *name == tool.name) found = &tool;
      }
      if (found == nullptr) {
        body = jsonrpc_error(message->id, kJsonRpcInvalidParams,
                             "unknown tool: " + (name != params.end() && name->is_string()
                                                     ? name->get<std::string>()
                                                     : std::string("(no name)")));
      } else {
        const auto arguments = params.find("arguments");
        const std::string text = arguments == params.end() ? "{}" : arguments->dump();
        ToolOutput output = co_await toolbox_->invoke(*found, text, response.client_gone());
        body = jsonrpc_result(message->id,
                              mcp_call_result_to_json({std::move(output.text), output.is_error}));
      }
    }
  } else {
    body = jsonrpc_error(message->id, kJsonRpcMethodNotFound,
                         "keel does not serve " + message->method);
  }
  record.status = 200;
  co_await response.send(200, kJson, std::move(body), headers);
}

}  // namespace keel
