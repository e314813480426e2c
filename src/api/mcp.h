// MCP's JSON-RPC messages (modelcontextprotocol.io, "Base protocol", "Lifecycle", "Tools"), as
// pure functions shared by keel's MCP client (tools/mcp/) and server. No I/O.
//
//   auto message = parse_jsonrpc(line);                     // one message from a peer
//   if (message && message->kind == JsonRpcMessage::Kind::kResponse) ...
//   std::string out = jsonrpc_request(7, "tools/list", {{"cursor", cursor}});
//   auto page = parse_tools_list_result(message->result);   // tools + nextCursor
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/chat.h"
#include "core/result.h"

namespace keel {

// The protocol versions keel speaks, newest first: the first is what keel asks for.
inline constexpr const char* kMcpProtocolVersions[] = {"2025-06-18", "2025-03-26", "2024-11-05"};
bool mcp_version_supported(std::string_view version);

// JSON-RPC error codes.
inline constexpr int kJsonRpcParseError = -32700;
inline constexpr int kJsonRpcInvalidRequest = -32600;
inline constexpr int kJsonRpcMethodNotFound = -32601;
inline constexpr int kJsonRpcInvalidParams = -32602;
inline constexpr int kJsonRpcInternalError = -32603;

struct JsonRpcMessage {
  enum class Kind { kRequest, kNotification, kResponse, kError };
  Kind kind = Kind::kNotification;
  Json id;                 // request, response, error (null on an error about an unreadable id)
  std::string method;      // request, notification
  Json params;             // request, notification (null when absent)
  Json result;             // response
  int64_t error_code = 0;  // error
  std::string error_message;
  Json error_data;
};

// One JSON-RPC 2.0 message. kInvalidArgument when the text is not JSON, is a batch (MCP
// 2025-06-18 has none), or is not a valid request, notification, response or error.
Result<JsonRpcMessage> parse_jsonrpc(std::string_view text);
// The same, for a message already parsed as JSON.
Result<JsonRpcMessage> jsonrpc_from_json(const Json& json);

std::string jsonrpc_request(int64_t id, std::string_view method, const Json& params);
std::string jsonrpc_notification(std::string_view method, const Json& params = Json());
std::string jsonrpc_result(const Json& id, const Json& result);
std::string jsonrpc_error(const Json& id, int64_t code, std::string_view message);

// initialize: what keel sends, and what it reads back.
Json mcp_initialize_params(std::string_view client_name, std::string_view client_version);
struct McpServerInfo {
  std::string protocol_version;  // the one the server chose; one keel supports
  std::string name;
  std::string version;
  bool tools = false;  // the server has tools
  bool tools_list_changed = false;
  std::string instructions;
};
Result<McpServerInfo> parse_initialize_result(const Json& result);

// tools/list: one page.
struct McpToolsPage {
  std::vector<ToolSpec> tools;  // name, description (title when none), inputSchema
  std::string next_cursor;      // empty: the last page
};
Result<McpToolsPage> parse_tools_list_result(const Json& result);
Json mcp_tool_to_json(const ToolSpec& tool);

// tools/call.
Json mcp_call_params(std::string_view name, const Json& arguments);
struct McpCallResult {
  std::string text;  // text blocks joined by newlines; other blocks described
  bool is_error = false;
};
Result<McpCallResult> parse_call_tool_result(const Json& result);
Json mcp_call_result_to_json(const McpCallResult& result);

}  // namespace keel
