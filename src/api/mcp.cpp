#include "api/mcp.h"

#include "api/json_util.h"

namespace keel {

namespace {

Error invalid(std::string message) {
  return Error(ErrorCode::kInvalidArgument, "MCP: " + std::move(message));
}

std::string dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string string_member(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// One content block as text for a model.
std::string block_text(const Json& block) {
  if (!block.is_object()) return {};
  const std::string type = string_member(block, "type");
  if (type == "text") return string_member(block, "text");
  if (type == "image" || type == "audio") {
    return "[" + type + " " + string_member(block, "mimeType") + "]";
  }
  if (type == "resource") {
    auto resource = block.find("resource");
    if (resource == block.end() || !resource->is_object()) return "[resource]";
    if (resource->contains("text")) return string_member(*resource, "text");
    return "[resource " + string_member(*resource, "uri") + "]";
  }
  if (type == "resource_link") return "[resource link " + string_member(block, "uri") + "]";
  return "[" + type + " content]";
}

}  // namespace

bool mcp_version_supported(std::string_view version) {
  for (const char* known : kMcpProtocolVersions) {
    if (version == known) return true;
  }
  return false;
}

Result<JsonRpcMessage> jsonrpc_from_json(const Json& json) {
  if (json.is_array()) return invalid("JSON-RPC batches are not supported");
  if (!json.is_object()) return invalid("a JSON-RPC message must be an object");
  auto version = json.find("jsonrpc");
  if (version == json.end() || !version->is_string() || *version != "2.0") {
    return invalid("jsonrpc must be \"2.0\"");
  }
  JsonRpcMessage message;
  auto id = json.find("id");
  const bool has_id = id != json.end();
  if (has_id && !(id->is_string() || id->is_number_integer() || id->is_null())) {
    return invalid("id must be a string or an integer");
  }
  if (has_id) message.id = *id;
  auto method = json.find("method");
  if (method != json.end()) {
    if (!method->is_string() || method->get_ref<const std::string&>().empty()) {
      return invalid("method must be a non-empty string");
    }
    message.method = method->get<std::string>();
    if (auto params = json.find("params"); params != json.end()) {
      if (!params->is_object() && !params->is_array()) {
        return invalid("params must be an object or an array");
      }
      message.params = *params;
    }
    if (has_id && id->is_null()) return invalid("a request's id must not be null");
    message.kind = has_id ? JsonRpcMessage::Kind::kRequest : JsonRpcMessage::Kind::kNotification;
    return message;
  }
  if (!has_id) return invalid("a message without method must be a response with an id");
  auto result = json.find("result");
  auto error = json.find("error");
  if ((result != json.end()) == (error != json.end())) {
    return invalid("a response has exactly one of result and error");
  }
  if (result != json.end()) {
    if (id->is_null()) return invalid("a result's id must not be null");
    message.kind = JsonRpcMessage::Kind::kResponse;
    message.result = *result;
    return message;
  }
  if (!error->is_object()) return invalid("error must be an object");
  auto code = error->find("code");
  if (code == error->end() || !code->is_number_integer()) {
    return invalid("error.code must be an integer");
  }
  message.kind = JsonRpcMessage::Kind::kError;
  message.error_code = code->get<int64_t>();
  message.error_message = string_member(*error, "message");
  if (auto data = error->find("data"); data != error->end()) message.error_data = *data;
  return message;
}

Result<JsonRpcMessage> parse_jsonrpc(std::string_view text) {
  auto json = try_parse_json(text);
  if (!json) return invalid("not JSON");
  return jsonrpc_from_json(*json);
}

std::string jsonrpc_request(int64_t id, std::string_view method, const Json& params) {
  Json message = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.is_null()) message["params"] = params;
  return dump(message);
}

std::string jsonrpc_notification(std::string_view method, const Json& params) {
  Json message = {{"jsonrpc", "2.0"}, {"method", method}};
  if (!params.is_null()) message["params"] = params;
  return dump(message);
}

std::string jsonrpc_result(const Json& id, const Json& result) {
  return dump(Json{{"jsonrpc", "2.0"}, {"id", id}, {"result", result}});
}

std::string jsonrpc_error(const Json& id, int64_t code, std::string_view message) {
  return dump(
      Json{{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}});
}

Json mcp_initialize_params(std::string_view client_name, std::string_view client_version) {
  return Json{{"protocolVersion", kMcpProtocolVersions[0]},
              {"capabilities", Json::object()},
              {"clientInfo", {{"name", client_name}, {"version", client_version}}}};
}

Result<McpServerInfo> parse_initialize_result(const Json& result) {
  if (!result.is_object()) return invalid("initialize result must be an object");
  McpServerInfo info;
  info.protocol_version = string_member(result, "protocolVersion");
  if (info.protocol_version.empty()) return invalid("initialize result has no protocolVersion");
  if (!mcp_version_supported(info.protocol_version)) {
    return invalid("the server speaks protocol version " + info.protocol_version +
                   ", which keel does not (" + kMcpProtocolVersions[0] + ", " +
                   kMcpProtocolVersions[1] + ", " + kMcpProtocolVersions[2] + ")");
  }
  if (auto server = result.find("serverInfo"); server != result.end() && server->is_object()) {
    info.name = string_member(*server, "name");
    info.version = string_member(*server, "version");
  }
  if (auto caps = result.find("capabilities"); caps != result.end() && caps->is_object()) {
    if (auto tools = caps->find("tools"); tools != caps->end() && tools->is_object()) {
      info.tools = true;
      auto changed = tools->find("listChanged");
      info.tools_list_changed =
          changed != tools->end() && changed->is_boolean() && changed->get<bool>();
    }
  }
  info.instructions = string_member(result, "instructions");
  return info;
}

Result<McpToolsPage> parse_tools_list_result(const Json& result) {
  if (!result.is_object()) return invalid("tools/list result must be an object");
  auto tools = result.find("tools");
  if (tools == result.end() || !tools->is_array())
    return invalid("tools/list result has no tools list");
  McpToolsPage page;
  for (const auto& tool : *tools) {
    if (!tool.is_object()) return invalid("a tool must be an object");
    ToolSpec spec;
    spec.name = string_member(tool, "name");
    if (spec.name.empty()) return invalid("a tool has no name");
    spec.description = string_member(tool, "description");
    if (spec.description.empty()) spec.description = string_member(tool, "title");
    auto schema = tool.find("inputSchema");
    if (schema == tool.end() || !schema->is_object()) {
      return invalid("tool " + spec.name + " has no inputSchema object");
    }
    spec.parameters = *schema;
    page.tools.push_back(std::move(spec));
  }
  if (auto cursor = result.find("nextCursor"); cursor != result.end() && !cursor->is_null()) {
    if (!cursor->is_string()) return invalid("nextCursor must be a string");
    page.next_cursor = cursor->get<std::string>();
  }
  return page;
}

Json mcp_tool_to_json(const ToolSpec& tool) {
  return Json{
      {"name", tool.name}, {"description", tool.description}, {"inputSchema", tool.parameters}};
}

Json mcp_call_params(std::string_view name, const Json& arguments) {
  return Json{{"name", name}, {"arguments", arguments}};
}

Result<McpCallResult> parse_call_tool_result(const Json& result) {
  if (!result.is_object()) return invalid("tools/call result must be an object");
  McpCallResult call;
  if (auto is_error = result.find("isError"); is_error != result.end()) {
    if (!is_error->is_boolean()) return invalid("isError must be a boolean");
    call.is_error = is_error->get<bool>();
  }
  auto content = result.find("content");
  if (content != result.end() && !content->is_array()) return invalid("content must be a list");
  if (content != result.end()) {
    for (const auto& block : *content) {
      std::string text = block_text(block);
      if (text.empty()) continue;
      if (!call.text.empty()) call.text += '\n';
      call.text += text;
    }
  }
  if (call.text.empty()) {
    if (auto structured = result.find("structuredContent"); structured != result.end()) {
      call.text = dump(*structured);
    }
  }
  return call;
}

Json mcp_call_result_to_json(const McpCallResult& result) {
  Json out = {{"content", Json::array({{{"type", "text"}, {"text", result.text}}})}};
  if (result.is_error) out["isError"] = true;
  return out;
}

}  // namespace keel
