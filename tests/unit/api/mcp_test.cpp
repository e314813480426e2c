// MCP's JSON-RPC messages (api/mcp.h), against the spec's own examples
// (modelcontextprotocol.io/specification/2025-06-18: lifecycle, tools).
#include "api/mcp.h"

#include <gtest/gtest.h>

namespace keel {
namespace {

TEST(McpMessageTest, ParsesEachKind) {
  auto request =
      parse_jsonrpc(R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"c"}})");
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->kind, JsonRpcMessage::Kind::kRequest);
  EXPECT_EQ(request->id, 1);
  EXPECT_EQ(request->params["cursor"], "c");

  auto note = parse_jsonrpc(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})");
  ASSERT_TRUE(note.ok());
  EXPECT_EQ(note->kind, JsonRpcMessage::Kind::kNotification);

  auto response = parse_jsonrpc(R"({"jsonrpc":"2.0","id":"abc","result":{}})");
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->kind, JsonRpcMessage::Kind::kResponse);
  EXPECT_EQ(response->id, "abc");

  auto error = parse_jsonrpc(
      R"({"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"Unknown tool: invalid_tool_name"}})");
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->kind, JsonRpcMessage::Kind::kError);
  EXPECT_EQ(error->error_code, kJsonRpcInvalidParams);
  EXPECT_EQ(error->error_message, "Unknown tool: invalid_tool_name");
}

TEST(McpMessageTest, RefusesWhatIsNotJsonRpc) {
  const char* bad[] = {
      "",
      "not json",
      "[]",
      R"([{"jsonrpc":"2.0","method":"x"}])",
      R"({"id":1,"method":"x"})",
      R"({"jsonrpc":"1.0","id":1,"method":"x"})",
      R"({"jsonrpc":"2.0","id":1.5,"method":"x"})",
      R"({"jsonrpc":"2.0","id":{},"method":"x"})",
      R"({"jsonrpc":"2.0","id":null,"method":"x"})",
      R"({"jsonrpc":"2.0","id":1,"method":""})",
      R"({"jsonrpc":"2.0","id":1,"method":"x","params":3})",
      R"({"jsonrpc":"2.0","id":1})",
      R"({"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1}})",
      R"({"jsonrpc":"2.0","id":1,"error":{"message":"no code"}})",
      R"({"jsonrpc":"2.0","result":{}})",
  };
  for (const char* text : bad) {
    auto message = parse_jsonrpc(text);
    EXPECT_FALSE(message.ok()) << text;
    if (!message.ok()) {
      EXPECT_EQ(message.error().code, ErrorCode::kInvalidArgument);
    }
  }
}

TEST(McpMessageTest, WritesRequestsAsTheSpecShowsThem) {
  EXPECT_EQ(
      jsonrpc_request(1, "tools/call", mcp_call_params("get_weather", {{"location", "New York"}})),
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather","arguments":{"location":"New York"}}})");
  EXPECT_EQ(jsonrpc_notification("notifications/initialized"),
            R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  EXPECT_EQ(jsonrpc_error(Json(7), kJsonRpcMethodNotFound, "no"),
            R"({"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"no"}})");
  EXPECT_EQ(
      mcp_initialize_params("keel", "0.1.0").dump(),
      R"({"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"keel","version":"0.1.0"}})");
}

TEST(McpMessageTest, InitializeResultNegotiatesTheVersion) {
  auto info = parse_initialize_result(Json::parse(R"({
    "protocolVersion": "2025-03-26",
    "capabilities": {"logging": {}, "tools": {"listChanged": true}},
    "serverInfo": {"name": "ExampleServer", "version": "1.0.0"},
    "instructions": "Optional instructions for the client"})"));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->protocol_version, "2025-03-26");
  EXPECT_EQ(info->name, "ExampleServer");
  EXPECT_TRUE(info->tools);
  EXPECT_TRUE(info->tools_list_changed);
  auto old =
      parse_initialize_result(Json::parse(R"({"protocolVersion":"2023-01-01","capabilities":{}})"));
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.error().message.find("2023-01-01"), std::string::npos);
  EXPECT_FALSE(parse_initialize_result(Json::parse(R"({"capabilities":{}})")).ok());
}

TEST(McpMessageTest, ToolsListPage) {
  auto page = parse_tools_list_result(Json::parse(R"({
    "tools": [{
      "name": "get_weather", "title": "Weather Information Provider",
      "description": "Get current weather information for a location",
      "inputSchema": {"type": "object", "properties": {"location": {"type": "string"}},
                      "required": ["location"]}},
      {"name": "titled", "title": "Only a title", "inputSchema": {"type": "object"}}],
    "nextCursor": "next-page-cursor"})"));
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->tools.size(), 2u);
  EXPECT_EQ(page->tools[0].name, "get_weather");
  EXPECT_EQ(page->tools[0].description, "Get current weather information for a location");
  EXPECT_EQ(page->tools[0].parameters["required"][0], "location");
  EXPECT_EQ(page->tools[1].description, "Only a title");
  EXPECT_EQ(page->next_cursor, "next-page-cursor");
  EXPECT_FALSE(parse_tools_list_result(Json::parse(R"({"tools":[{"name":"x"}]})")).ok());
  EXPECT_FALSE(parse_tools_list_result(Json::parse(R"({"tools":{}})")).ok());
  EXPECT_FALSE(parse_tools_list_result(Json::parse(R"({"tools":[],"nextCursor":5})")).ok());
}

TEST(McpMessageTest, CallResultsBecomeText) {
  auto ok = parse_call_tool_result(Json::parse(R"({
    "content": [{"type": "text", "text": "Current weather in New York: 72°F"},
                {"type": "image", "data": "AAAA", "mimeType": "image/png"},
                {"type": "resource", "resource": {"uri": "file:///a.rs", "text": "fn main() {}"}},
                {"type": "resource_link", "uri": "file:///b.rs", "name": "b"}],
    "isError": false})"));
  ASSERT_TRUE(ok.ok());
  EXPECT_FALSE(ok->is_error);
  EXPECT_EQ(ok->text,
            "Current weather in New York: 72°F\n[image image/png]\nfn main() {}\n"
            "[resource link file:///b.rs]");
  auto failed = parse_call_tool_result(Json::parse(
      R"({"content":[{"type":"text","text":"Failed to fetch weather data: API rate limit exceeded"}],"isError":true})"));
  ASSERT_TRUE(failed.ok());
  EXPECT_TRUE(failed->is_error);
  auto structured =
      parse_call_tool_result(Json::parse(R"({"content":[],"structuredContent":{"t":22.5}})"));
  ASSERT_TRUE(structured.ok());
  EXPECT_EQ(structured->text, R"({"t":22.5})");
  EXPECT_FALSE(parse_call_tool_result(Json::parse(R"({"isError":"yes"})")).ok());
}

}  // namespace
}  // namespace keel
