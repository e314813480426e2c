// Toward an Anthropic client, streamed: native events -> RawMessageStreamEvents
// (AnthropicStreamEncoder in anthropic.h; the field decisions are at the top of response.cpp).
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

// A thinking block's thinking_delta or signature_delta (`key` "thinking" or "signature").
AnthropicSseEvent thinking_block_delta(int index, const std::string& key, const std::string& text) {
  return {"content_block_delta",
          {{"type", "content_block_delta"},
           {"index", index},
           {"delta", {{"type", key + "_delta"}, {key, text}}}}};
}

}  // namespace

AnthropicStreamEncoder::AnthropicStreamEncoder(std::string id, std::string model,
                                               std::string request_id)
    : id_(std::move(id)), model_(std::move(model)), request_id_(std::move(request_id)) {}

void AnthropicStreamEncoder::start_message(std::vector<AnthropicSseEvent>& out,
                                           const Usage& at_start) {
  if (started_) return;
  started_ = true;
  Json message = message_envelope(id_, model_);
  // The prompt's counts when the upstream gave them at the start (Anthropic, Gemini, the local
  // engine); else 0 here, and message_delta carries them (OpenAI-compatible upstreams report
  // usage at the end only). Clients such as LangChain's ChatAnthropic read them here.
  Usage usage;
  if (at_start.present) {
    usage.prompt_tokens = at_start.prompt_tokens;
    usage.cached_tokens = at_start.cached_tokens;
    usage.cache_creation_tokens = at_start.cache_creation_tokens;
  }
  message["usage"] = usage_to_anthropic(usage);
  out.push_back({"message_start", {{"type", "message_start"}, {"message", std::move(message)}}});
}

void AnthropicStreamEncoder::close_block(std::vector<AnthropicSseEvent>& out) {
  if (open_block_ < 0) return;
  out.push_back({"content_block_stop", {{"type", "content_block_stop"}, {"index", open_block_}}});
  open_block_ = -1;
  open_reasoning_ = -1;
}

void AnthropicStreamEncoder::open_thinking_block(int reasoning_index,
                                                 std::vector<AnthropicSseEvent>& out) {
  if (open_block_ >= 0 && open_reasoning_ == reasoning_index) return;
  close_block(out);
  open_block_ = next_block_++;
  open_is_text_ = false;
  open_reasoning_ = reasoning_index;
  out.push_back({"content_block_start",
                 {{"type", "content_block_start"},
                  {"index", open_block_},
                  {"content_block", reasoning_block(ReasoningPart{})}}});
}

int AnthropicStreamEncoder::open_tool_block(int tool_index, const std::string& id,
                                            const std::string& name,
                                            std::vector<AnthropicSseEvent>& out) {
  close_block(out);
  int block = next_block_++;
  out.push_back({"content_block_start",
                 {{"type", "content_block_start"},
                  {"index", block},
                  {"content_block", tool_use_block(id, name, Json::object())}}});
  open_block_ = block;
  open_is_text_ = false;
  tool_blocks_[tool_index] = block;
  return block;
}

void AnthropicStreamEncoder::end_message(std::vector<AnthropicSseEvent>& out) {
  close_block(out);
  FinishReason finish = finish_pending_ ? finish_ : FinishReason::kNone;
  Json usage = {{"input_tokens", usage_seen_ ? Json(input_tokens_of(usage_)) : Json(nullptr)},
                {"output_tokens", usage_seen_ ? usage_.completion_tokens : 0},
                {"cache_creation_input_tokens",
                 usage_seen_ ? optional_count(usage_.cache_creation_tokens) : Json(nullptr)},
                {"cache_read_input_tokens",
                 usage_seen_ ? optional_count(usage_.cached_tokens) : Json(nullptr)},
                {"output_tokens_details", nullptr},
                {"server_tool_use", nullptr}};
  Json delta = {{"stop_reason", stop_reason_for(finish, !tool_blocks_.empty(), stop_sequence_)},
                {"stop_sequence", stop_sequence_.empty() ? Json(nullptr) : Json(stop_sequence_)},
                {"stop_details", nullptr},
                {"container", nullptr}};
  out.push_back({"message_delta",
                 {{"type", "message_delta"}, {"delta", std::move(delta)}, {"usage", usage}}});
  out.push_back({"message_stop", {{"type", "message_stop"}}});
  ended_ = true;
}

void AnthropicStreamEncoder::encode(const ChatEvent& event, std::vector<AnthropicSseEvent>& out) {
  if (ended_) return;
  switch (event.kind) {
    case ChatEvent::Kind::kStart:
      start_message(out, event.usage);
      break;
    case ChatEvent::Kind::kTextDelta:
      if (event.text.empty()) break;
      start_message(out);
      if (open_block_ < 0 || !open_is_text_) {
        close_block(out);
        open_block_ = next_block_++;
        open_is_text_ = true;
        out.push_back({"content_block_start",
                       {{"type", "content_block_start"},
                        {"index", open_block_},
                        {"content_block", text_block("")}}});
      }
      out.push_back({"content_block_delta",
                     {{"type", "content_block_delta"},
                      {"index", open_block_},
                      {"delta", {{"type", "text_delta"}, {"text", event.text}}}}});
      break;
    case ChatEvent::Kind::kToolCallStart:
      start_message(out);
      open_tool_block(event.tool_index, event.tool_id, event.tool_name, out);
      break;
    case ChatEvent::Kind::kToolArgsDelta: {
      if (event.text.empty()) break;
      start_message(out);
      auto it = tool_blocks_.find(event.tool_index);
      // A call whose block is already closed (a server interleaving calls) keeps its index.
      int block =
          it != tool_blocks_.end() ? it->second : open_tool_block(event.tool_index, "", "", out);
      out.push_back({"content_block_delta",
                     {{"type", "content_block_delta"},
                      {"index", block},
                      {"delta", {{"type", "input_json_delta"}, {"partial_json", event.text}}}}});
      break;
    }
    case ChatEvent::Kind::kFinish:
      start_message(out);
      close_block(out);
      finish_pending_ = true;
      finish_ = event.finish;
      stop_sequence_ = event.text;
      if (usage_seen_) end_message(out);
      break;
    case ChatEvent::Kind::kUsage:
      usage_ = event.usage;
      usage_seen_ = true;
      if (finish_pending_) end_message(out);
      break;
    case ChatEvent::Kind::kReasoningDelta:
      if (event.text.empty()) break;
      start_message(out);
      open_thinking_block(event.tool_index, out);
      out.push_back(thinking_block_delta(open_block_, "thinking", event.text));
      break;
    case ChatEvent::Kind::kReasoningSignature: {
      // Another vendor's opaque reasoning has no meaning for an Anthropic client.
      if (event.id != kVendorAnthropic || event.text.empty()) break;
      start_message(out);
      if (event.redacted) {
        close_block(out);
        ReasoningPart part;
        part.signature = event.text;
        part.vendor = kVendorAnthropic;
        part.redacted = true;
        const int block = next_block_++;
        out.push_back({"content_block_start",
                       {{"type", "content_block_start"},
                        {"index", block},
                        {"content_block", reasoning_block(part)}}});
        out.push_back({"content_block_stop", {{"type", "content_block_stop"}, {"index", block}}});
        break;
      }
      open_thinking_block(event.tool_index, out);
      out.push_back(thinking_block_delta(open_block_, "signature", event.text));
      break;
    }
    case ChatEvent::Kind::kError:
      out.push_back({"error", anthropic_error_to_wire(event.error, request_id_)});
      ended_ = true;
      break;
    case ChatEvent::Kind::kCitation:
      // On the text block that holds the marker, as Anthropic streams its own citations.
      if (!event.citation || open_block_ < 0 || !open_is_text_) break;
      out.push_back({"content_block_delta",
                     {{"type", "content_block_delta"},
                      {"index", open_block_},
                      {"delta",
                       {{"type", "citations_delta"},
                        {"citation", citation_to_anthropic(*event.citation)}}}}});
      break;
  }
}

void AnthropicStreamEncoder::finish(std::vector<AnthropicSseEvent>& out) {
  if (ended_) return;
  start_message(out);
  end_message(out);
}

}  // namespace keel
