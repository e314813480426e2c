// From an Anthropic upstream: a whole Message, count_tokens answers and error bodies -> native
// (anthropic.h).
// None of the functions that read untrusted bytes throws: JSON is depth-checked before it is
// parsed, every value's type is checked before it is read, and each public function also
// catches at its own boundary as a last line of defence.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>
#include <optional>
#include <set>
#include <utility>

#include "api/anthropic/anthropic.h"
#include "api/anthropic/internal.h"
#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"

namespace keel {

using namespace anthropic_internal;

namespace {

// `json_tool`: the request emulated JSON mode; the json_response tool's input is the text.
Result<std::vector<ChatEvent>> message_events(const Json& body, bool json_tool) {
  const std::string prefix = "upstream returned an invalid message: ";
  if (!body.is_object()) return bad_gateway(prefix + "body is " + describe(body));
  if (optional_string(body, "type") == "error") return upstream_error(body);
  const Json* content = member(body, "content");
  if (!content) return bad_gateway(prefix + "no content");
  if (!content->is_array()) return bad_gateway(prefix + "content is not an array");

  std::vector<ChatEvent> events;
  events.push_back(ChatEvent::start(optional_string(body, "id"), optional_string(body, "model")));
  int tool_count = 0;
  int reasoning_count = 0;
  bool json_answer = false;
  for (const auto& block : *content) {
    if (!block.is_object()) return bad_gateway(prefix + "a content block is not an object");
    std::string type = optional_string(block, "type");
    if (type == "text") {
      const Json* text = member(block, "text");
      if (!text || !text->is_string()) return bad_gateway(prefix + "a text block has no text");
      // JSON mode: the answer is the tool's input; text around it is not JSON.
      if (!json_tool && !str(*text).empty()) events.push_back(ChatEvent::text_delta(str(*text)));
    } else if (type == "tool_use") {
      const Json* name = member(block, "name");
      if (!name || !name->is_string()) return bad_gateway(prefix + "a tool_use block has no name");
      if (tool_count > kMaxToolIndex) return bad_gateway(prefix + "too many tool calls");
      const Json* input = member(block, "input");
      std::string arguments = input ? input->dump() : std::string("{}");
      if (json_tool && str(*name) == kJsonToolName) {
        if (!json_answer) events.push_back(ChatEvent::text_delta(std::move(arguments)));
        json_answer = true;
        continue;
      }
      events.push_back(
          ChatEvent::tool_call_start(tool_count, optional_string(block, "id"), str(*name)));
      events.push_back(ChatEvent::tool_args_delta(tool_count, std::move(arguments)));
      ++tool_count;
    } else if (type == "thinking") {
      const Json* thinking = member(block, "thinking");
      const Json* signature = member(block, "signature");
      if (!thinking || !thinking->is_string() || !signature || !signature->is_string()) {
        return bad_gateway(prefix + "a thinking block without thinking and signature");
      }
      if (reasoning_count > kMaxToolIndex) return bad_gateway(prefix + "too many thinking blocks");
      if (!str(*thinking).empty()) {
        events.push_back(ChatEvent::reasoning_delta(reasoning_count, str(*thinking)));
      }
      events.push_back(
          ChatEvent::reasoning_signature(reasoning_count, str(*signature), kVendorAnthropic));
      ++reasoning_count;
    } else if (type == "redacted_thinking") {
      const Json* data = member(block, "data");
      if (!data || !data->is_string()) return bad_gateway(prefix + "redacted_thinking has no data");
      if (reasoning_count > kMaxToolIndex) return bad_gateway(prefix + "too many thinking blocks");
      events.push_back(
          ChatEvent::reasoning_signature(reasoning_count++, str(*data), kVendorAnthropic, true));
    }
    // server-tool blocks carry nothing keel relays.
  }
  std::string reason = optional_string(body, "stop_reason");
  // A JSON mode answer ends with tool_use, but what the client gets is text.
  if (json_answer && tool_count == 0 && reason == "tool_use") reason = "end_turn";
  ChatEvent& finish = events.emplace_back();
  ChatEvent::finished(finish, finish_from_stop_reason(reason, tool_count > 0));
  if (reason == "stop_sequence") finish.text = optional_string(body, "stop_sequence");

  if (const Json* usage = member(body, "usage")) {
    if (!usage->is_object()) return bad_gateway(prefix + "usage is not an object");
    int64_t input = 0, output = 0, cache_read = 0, cache_creation = 0;
    bool cache_read_seen = false, cache_creation_seen = false;
    if (!read_count(*usage, "input_tokens", input) ||
        !read_count(*usage, "output_tokens", output) ||
        !read_count(*usage, "cache_read_input_tokens", cache_read, &cache_read_seen) ||
        !read_count(*usage, "cache_creation_input_tokens", cache_creation, &cache_creation_seen)) {
      return bad_gateway(prefix + "usage counts are not numbers");
    }
    events.push_back(ChatEvent::usage_event(native_usage(
        input, cache_read, cache_read_seen, cache_creation, cache_creation_seen, output)));
  }
  return events;
}

Result<std::vector<ChatEvent>> response_from_wire(std::string_view body, bool json_tool) {
  try {
    auto json = parse_json(body, ErrorCode::kBadGateway, "upstream response");
    if (!json) {
      return bad_gateway("upstream returned an invalid message: " + json.error().message);
    }
    return message_events(*json, json_tool);
  } catch (const std::exception& e) {
    return bad_gateway(std::string("upstream returned an invalid message: ") + e.what());
  }
}

}  // namespace

Result<int64_t> anthropic_count_from_wire(std::string_view body) {
  auto json = try_parse_json(body);
  int64_t count = 0;
  if (!json || !json->is_object() || !member(*json, "input_tokens") ||
      !read_count(*json, "input_tokens", count)) {
    return bad_gateway("upstream returned an invalid token count (no input_tokens)");
  }
  return count;
}

Result<std::vector<ChatEvent>> anthropic_response_from_wire(std::string_view body) {
  return response_from_wire(body, false);
}

Result<std::vector<ChatEvent>> anthropic_json_response_from_wire(std::string_view body) {
  return response_from_wire(body, true);
}

std::string anthropic_error_message(std::string_view body) {
  try {
    auto json = parse_json(body, ErrorCode::kBadGateway, "body");
    if (json && json->is_object()) {
      if (const Json* error = member(*json, "error"); error && error->is_object()) {
        if (const Json* message = member(*error, "message"); message && message->is_string()) {
          return truncate_utf8(str(*message), kMaxUpstreamMessageBytes);
        }
      }
    }
    return upstream_error_message(body);
  } catch (const std::exception&) {
    return "(unreadable body)";
  }
}

}  // namespace keel
