// From an Anthropic upstream, streamed: RawMessageStreamEvents -> native events
// (AnthropicStreamDecoder in anthropic.h).
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

constexpr int kMaxBlockIndex = 4095;  // likewise content blocks

// A content block index in a stream event.
std::optional<int> block_index(const Json& event) {
  const Json* index = member(event, "index");
  if (!index) return std::nullopt;
  auto value = as_int64(*index);
  if (!value || *value < 0 || *value > kMaxBlockIndex) return std::nullopt;
  return static_cast<int>(*value);
}

}  // namespace

Status AnthropicStreamDecoder::decode(std::string_view event_name, std::string_view data,
                                      std::vector<ChatEvent>& out, bool& done) {
  const std::string prefix = "upstream sent an invalid stream event: ";
  try {
    if (ended_) {
      done = true;
      return Status::Ok();
    }
    if (event_name == "ping" && data.empty()) return Status::Ok();
    auto parsed = parse_json(data, ErrorCode::kBadGateway, "event data");
    if (!parsed) return bad_gateway(prefix + parsed.error().message);
    const Json& event = *parsed;
    if (!event.is_object()) return bad_gateway(prefix + "data is " + describe(event));
    std::string type = optional_string(event, "type");
    if (type.empty() || event_name == "error") type = std::string(event_name);

    if (type == "ping") return Status::Ok();
    if (type == "error") {
      out.push_back(ChatEvent::failure(upstream_error(event)));
      ended_ = true;
      done = true;
      return Status::Ok();
    }
    if (type == "message_start") {
      if (started_) return bad_gateway(prefix + "a second message_start");
      const Json* message = member(event, "message");
      if (!message || !message->is_object()) {
        return bad_gateway(prefix + "message_start has no message");
      }
      if (const Json* usage = member(*message, "usage")) {
        if (!usage->is_object()) return bad_gateway(prefix + "usage is not an object");
        if (!read_count(*usage, "input_tokens", input_tokens_) ||
            !read_count(*usage, "cache_read_input_tokens", cache_read_tokens_, &cache_read_seen_) ||
            !read_count(*usage, "cache_creation_input_tokens", cache_creation_tokens_,
                        &cache_creation_seen_) ||
            !read_count(*usage, "output_tokens", output_tokens_)) {
          return bad_gateway(prefix + "usage counts are not numbers");
        }
        usage_seen_ = true;
      }
      started_ = true;
      ChatEvent& start = ChatEvent::start(out.emplace_back(), optional_string(*message, "id"),
                                          optional_string(*message, "model"));
      if (usage_seen_) {  // the prompt's counts, for a client that reads them here
        start.usage = native_usage(input_tokens_, cache_read_tokens_, cache_read_seen_,
                                   cache_creation_tokens_, cache_creation_seen_, 0);
      }
      return Status::Ok();
    }
    if (type != "content_block_start" && type != "content_block_delta" &&
        type != "content_block_stop" && type != "message_delta" && type != "message_stop") {
      return Status::Ok();  // an event type newer than keel: ignored, as the SDKs do
    }
    if (!started_) return bad_gateway(prefix + type + " before message_start");

    if (type == "content_block_start") {
      auto index = block_index(event);
      if (!index) return bad_gateway(prefix + "content_block_start has no valid index");
      if (blocks_.count(*index)) return bad_gateway(prefix + "content block started twice");
      const Json* block = member(event, "content_block");
      if (!block || !block->is_object()) {
        return bad_gateway(prefix + "content_block_start has no content_block");
      }
      std::string block_type = optional_string(*block, "type");
      Block state;
      if ((block_type == "thinking" || block_type == "redacted_thinking") &&
          reasoning_count_ > kMaxToolIndex) {
        return bad_gateway(prefix + "too many thinking blocks");
      }
      if (block_type == "thinking") {
        state.type = Block::Type::kThinking;
        state.reasoning_index = reasoning_count_++;
        std::string thinking = optional_string(*block, "thinking");
        if (!thinking.empty()) {
          out.push_back(ChatEvent::reasoning_delta(state.reasoning_index, std::move(thinking)));
        }
        std::string signature = optional_string(*block, "signature");
        if (!signature.empty()) {
          out.push_back(ChatEvent::reasoning_signature(state.reasoning_index, std::move(signature),
                                                       kVendorAnthropic));
        }
      } else if (block_type == "redacted_thinking") {
        const Json* data = member(*block, "data");
        if (!data || !data->is_string()) {
          return bad_gateway(prefix + "redacted_thinking has no data");
        }
        out.push_back(
            ChatEvent::reasoning_signature(reasoning_count_++, str(*data), kVendorAnthropic, true));
      } else if (block_type == "text") {
        state.type = Block::Type::kText;
        std::string text = optional_string(*block, "text");
        if (!text.empty()) out.push_back(ChatEvent::text_delta(std::move(text)));
      } else if (block_type == "tool_use" && json_tool_ &&
                 optional_string(*block, "name") == kJsonToolName) {
        // JSON mode: the tool's input streams as the answer's text (the first such block).
        state.type = json_answered_ ? Block::Type::kSkippedJson : Block::Type::kJsonText;
        json_answered_ = true;
        if (const Json* input = member(*block, "input");
            input && !(input->is_object() && input->empty())) {
          state.start_input = input->dump();
        }
      } else if (block_type == "tool_use") {
        const Json* name = member(*block, "name");
        if (!name || !name->is_string()) return bad_gateway(prefix + "a tool_use has no name");
        if (tool_count_ > kMaxToolIndex) return bad_gateway(prefix + "too many tool calls");
        state.type = Block::Type::kTool;
        state.tool_index = tool_count_++;
        if (const Json* input = member(*block, "input");
            input && !(input->is_object() && input->empty())) {
          state.start_input = input->dump();
        }
        out.push_back(ChatEvent::tool_call_start(state.tool_index, optional_string(*block, "id"),
                                                 str(*name)));
      }
      blocks_[*index] = std::move(state);
      return Status::Ok();
    }
    if (type == "content_block_delta") {
      auto index = block_index(event);
      auto it = index ? blocks_.find(*index) : blocks_.end();
      if (it == blocks_.end()) return bad_gateway(prefix + "a delta for a block never started");
      const Json* delta = member(event, "delta");
      if (!delta || !delta->is_object())
        return bad_gateway(prefix + "content_block_delta has no delta");
      std::string delta_type = optional_string(*delta, "type");
      Block& block = it->second;
      if (delta_type == "text_delta") {
        const Json* text = member(*delta, "text");
        if (!text || !text->is_string() || block.type != Block::Type::kText) {
          return bad_gateway(prefix + "a text_delta that is not text");
        }
        if (!str(*text).empty() && !json_tool_) out.push_back(ChatEvent::text_delta(str(*text)));
      } else if (delta_type == "input_json_delta") {
        const Json* partial = member(*delta, "partial_json");
        const bool json_text = block.type == Block::Type::kJsonText;
        const bool skipped = block.type == Block::Type::kSkippedJson;  // a second JSON answer
        if (!partial || !partial->is_string() ||
            (block.type != Block::Type::kTool && !json_text && !skipped)) {
          return bad_gateway(prefix + "an input_json_delta that is not a tool's input");
        }
        if (skipped) return Status::Ok();
        if (json_text) {
          if (!str(*partial).empty()) {
            block.got_delta = true;
            out.push_back(ChatEvent::text_delta(str(*partial)));
          }
          return Status::Ok();
        }
        if (!str(*partial).empty()) {
          block.got_delta = true;
          out.push_back(ChatEvent::tool_args_delta(block.tool_index, str(*partial)));
        }
      } else if (delta_type == "thinking_delta" || delta_type == "signature_delta") {
        const bool thinking = delta_type == "thinking_delta";
        const Json* value = member(*delta, thinking ? "thinking" : "signature");
        if (!value || !value->is_string() || block.type != Block::Type::kThinking) {
          return bad_gateway(prefix + "a " + delta_type + " that is not in a thinking block");
        }
        if (str(*value).empty()) return Status::Ok();
        out.push_back(thinking ? ChatEvent::reasoning_delta(block.reasoning_index, str(*value))
                               : ChatEvent::reasoning_signature(block.reasoning_index, str(*value),
                                                                kVendorAnthropic));
      }
      // citations_delta: nothing keel relays.
      return Status::Ok();
    }
    if (type == "content_block_stop") {
      auto index = block_index(event);
      auto it = index ? blocks_.find(*index) : blocks_.end();
      if (it == blocks_.end()) return Status::Ok();
      Block& block = it->second;
      // Some servers put the whole input in content_block_start and send no deltas; a call
      // without arguments streams one empty input_json_delta. Either way the client gets a
      // JSON object, as the whole-message path gives it.
      if (block.type == Block::Type::kTool && !block.got_delta) {
        std::string input = block.start_input.empty() ? "{}" : std::move(block.start_input);
        out.push_back(ChatEvent::tool_args_delta(block.tool_index, std::move(input)));
        block.start_input.clear();
      } else if (block.type == Block::Type::kJsonText && !block.got_delta) {
        std::string input = block.start_input.empty() ? "{}" : std::move(block.start_input);
        out.push_back(ChatEvent::text_delta(std::move(input)));
        block.start_input.clear();
      }
      return Status::Ok();
    }
    if (type == "message_delta") {
      if (const Json* usage = member(event, "usage")) {  // cumulative totals: overwrite
        if (!usage->is_object()) return bad_gateway(prefix + "usage is not an object");
        if (!read_count(*usage, "output_tokens", output_tokens_) ||
            !read_count(*usage, "input_tokens", input_tokens_) ||
            !read_count(*usage, "cache_read_input_tokens", cache_read_tokens_, &cache_read_seen_) ||
            !read_count(*usage, "cache_creation_input_tokens", cache_creation_tokens_,
                        &cache_creation_seen_)) {
          return bad_gateway(prefix + "usage counts are not numbers");
        }
        usage_seen_ = true;
      }
      const Json* delta = member(event, "delta");
      if (delta && !delta->is_object())
        return bad_gateway(prefix + "message_delta.delta is not an object");
      if (const Json* reason = delta ? member(*delta, "stop_reason") : nullptr) {
        if (!reason->is_string()) return bad_gateway(prefix + "stop_reason is not a string");
        if (!finished_) {
          finished_ = true;
          std::string stop_reason = str(*reason);
          // A JSON mode answer ends with tool_use, but what the client gets is text.
          if (json_answered_ && tool_count_ == 0 && stop_reason == "tool_use") {
            stop_reason = "end_turn";
          }
          ChatEvent& finish = out.emplace_back();
          ChatEvent::finished(finish, finish_from_stop_reason(stop_reason, tool_count_ > 0));
          const Json* sequence = member(*delta, "stop_sequence");
          if (str(*reason) == "stop_sequence" && sequence && sequence->is_string()) {
            finish.text = str(*sequence);
          }
        }
      }
      return Status::Ok();
    }
    // message_stop
    if (!finished_) {
      finished_ = true;
      out.push_back(
          ChatEvent::finished(tool_count_ > 0 ? FinishReason::kToolCalls : FinishReason::kStop));
    }
    if (usage_seen_) {
      out.push_back(ChatEvent::usage_event(native_usage(input_tokens_, cache_read_tokens_,
                                                        cache_read_seen_, cache_creation_tokens_,
                                                        cache_creation_seen_, output_tokens_)));
    }
    ended_ = true;
    done = true;
    return Status::Ok();
  } catch (const std::exception& e) {
    return bad_gateway(prefix + e.what());
  }
}

}  // namespace keel
