// MCP's JSON-RPC message parser (api/mcp.h) over arbitrary bytes, as keel's MCP client reads a
// server's lines (stdio) or bodies and SSE data (streamable HTTP), and then reads the result as
// the client does: initialize, tools/list, tools/call.
//
// Invariants beyond "no crash, no UB, no leak":
//  - a parsed message has the shape of its kind (a request has a method and a non-null id, a
//    response a non-null id, ...);
//  - a parsed request, notification or response written back out parses to the same message.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/mcp.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto message = keel::parse_jsonrpc(input);
  if (!message) return 0;
  using Kind = keel::JsonRpcMessage::Kind;
  switch (message->kind) {
    case Kind::kRequest: {
      FUZZ_CHECK(!message->method.empty() && !message->id.is_null(), "request shape");
      if (message->id.is_number_integer()) {
        auto again = keel::parse_jsonrpc(
            keel::jsonrpc_request(message->id.get<int64_t>(), message->method, message->params));
        FUZZ_CHECK(again.ok() && again->method == message->method, "request round trip");
      }
      break;
    }
    case Kind::kNotification: {
      FUZZ_CHECK(!message->method.empty(), "notification shape");
      auto again =
          keel::parse_jsonrpc(keel::jsonrpc_notification(message->method, message->params));
      FUZZ_CHECK(again.ok() && again->kind == Kind::kNotification, "notification round trip");
      break;
    }
    case Kind::kResponse: {
      FUZZ_CHECK(!message->id.is_null(), "response shape");
      auto again = keel::parse_jsonrpc(keel::jsonrpc_result(message->id, message->result));
      FUZZ_CHECK(again.ok() && again->result == message->result, "response round trip");
      (void)keel::parse_initialize_result(message->result);
      (void)keel::parse_tools_list_result(message->result);
      (void)keel::parse_call_tool_result(message->result);
      break;
    }
    case Kind::kError:
      break;
  }
  return 0;
}
