// The Anthropic Messages wire format <-> native types: keel's Anthropic front door
// (POST /v1/messages) and the request/response translation for provider kind `anthropic`.
// Pure functions, no I/O; nothing throws out. Wire reference: the official `@anthropic-ai/sdk`
// npm package 1.14.0 (resources/messages/messages.d.ts: MessageCreateParams, Message,
// ContentBlock, RawMessageStreamEvent, Usage; resources/shared.d.ts: ErrorResponse, ErrorType).
// The mapping decisions (what is rejected, dropped or adapted) are listed at the top of
// src/api/anthropic/request.cpp, upstream_request.cpp and response.cpp, and in
// tests/golden/anthropic/README.md.
//
// Front door:
//   auto req = parse_messages_request(body);             // Anthropic client -> native
//   if (!req) reply(http_status_for(req.error().code), anthropic_error_to_wire(req.error()));
//   Json whole = messages_response_to_wire(aggregated, req->model);       // not streamed
//   AnthropicStreamEncoder enc(new_id("msg_"), req->model);               // streamed
//   for (const ChatEvent& e : events) enc.encode(e, frames);
//   enc.finish(frames);   // at the end of the native stream: flushes message_delta/message_stop
//   for (auto& f : frames) write("event: " + f.name + "\ndata: " + f.data.dump() + "\n\n");
//
// Provider kind anthropic:
//   auto body = chat_request_to_anthropic(req, "claude-sonnet-4-5");   // 400 on what it can't say
//   auto events = anthropic_response_from_wire(response_body);          // not streamed
//   AnthropicStreamDecoder dec; bool done = false;                       // streamed
//   dec.decode(sse.event, sse.data, events, done);
//   std::string why = anthropic_error_message(error_body);               // non-2xx bodies
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "api/chat.h"

namespace keel {

// Anthropic requires max_tokens; keel sends this when the native request has none.
inline constexpr int64_t kAnthropicDefaultMaxTokens = 4096;

// --- front door: an Anthropic client talking to keel ----------------------------------------

// A MessageCreateParams body -> native request. Validates like Anthropic (model, max_tokens
// and messages are required); errors are kInvalidArgument with `param` set to the dotted
// Anthropic path ("messages.0.content.1.source"). Fields that would change the answer and
// that keel cannot honour (container, mcp_servers, server tools, ...) are a 400 naming them;
// thinking is the native reasoning config and thinking blocks in history its reasoning parts; hints
// keel can ignore (cache_control, service_tier, speed, metadata other than user_id,
// output_config.effort, ...) are ignored.
Result<ChatRequest> parse_messages_request(std::string_view body);

// A MessageCountTokensParams body (POST /v1/messages/count_tokens) -> native request: as
// parse_messages_request, but max_tokens is not required.
Result<ChatRequest> parse_count_tokens_request(std::string_view body);

// A whole answer as an Anthropic Message (`id` is resp.id; the front door passes a "msg_" id).
Json messages_response_to_wire(const ChatResponse& resp, const std::string& model);

// One server-sent event for an Anthropic client: `event: <name>` and `data: <data>`.
struct AnthropicSseEvent {
  std::string name;
  Json data;
};

// Native events -> Anthropic stream events, in Anthropic's order: message_start, then per
// content block content_block_start / content_block_delta... / content_block_stop, then
// message_delta (stop_reason, usage) and message_stop. Native streams report Usage after
// Finish, so message_delta waits for Usage; call finish() when the native stream ends to flush
// it when no Usage came. An Error event becomes an `error` event and ends the stream.
class AnthropicStreamEncoder {
 public:
  // `request_id`: keel's id of the request, for the request_id of an `error` event.
  AnthropicStreamEncoder(std::string id, std::string model, std::string request_id = {});
  void encode(const ChatEvent& event, std::vector<AnthropicSseEvent>& out);
  // At the end of the native stream. Emits what is still owed (message_start when nothing came,
  // the open block's stop, message_delta, message_stop); nothing after an error or a second call.
  void finish(std::vector<AnthropicSseEvent>& out);

 private:
  void start_message(std::vector<AnthropicSseEvent>& out, const Usage& at_start = Usage{});
  void close_block(std::vector<AnthropicSseEvent>& out);
  void open_thinking_block(int reasoning_index, std::vector<AnthropicSseEvent>& out);
  int open_tool_block(int tool_index, const std::string& id, const std::string& name,
                      std::vector<AnthropicSseEvent>& out);
  void end_message(std::vector<AnthropicSseEvent>& out);

  std::string id_;
  std::string model_;
  std::string request_id_;
  bool started_ = false;
  bool ended_ = false;
  int next_block_ = 0;
  int open_block_ = -1;  // Anthropic block index of the open block, -1 when none
  bool open_is_text_ = false;
  int open_reasoning_ = -1;  // native reasoning index of the open thinking block, -1 when none
  std::map<int, int> tool_blocks_;  // native tool index -> Anthropic block index
  bool finish_pending_ = false;
  FinishReason finish_ = FinishReason::kNone;
  std::string stop_sequence_;  // of the Finish event: non-empty when a stop sequence ended it
  bool usage_seen_ = false;
  Usage usage_;
};

// Error::type_code of an overload (keel's own, or an upstream's overloaded_error).
inline constexpr const char* kOverloadedCode = "overloaded";

// {"type": "error", "error": {"type", "message"}, "request_id"}; error.type is one of the SDK's
// ErrorType values chosen from the code (kUnavailable -> overloaded_error when its type_code is
// kOverloadedCode, else api_error; ...). request_id is always a string, as Anthropic's is: pass
// the request's id. The HTTP status stays http_status_for(error.code)
// (api/openai_chat/openai_chat.h).
Json anthropic_error_to_wire(const Error& error, const std::string& request_id);
// The Anthropic error type keel uses for `code` ("invalid_request_error", ...).
const char* anthropic_error_type(ErrorCode code);

// --- toward an Anthropic upstream (provider kind `anthropic`) -------------------------------

// The Messages body for `upstream_model`. kInvalidArgument (a 400 naming the feature and the
// vendor) for what Anthropic cannot express: seed, presence/frequency penalties, temperature
// above 1, logprobs/n/logit_bias/audio in passthrough, tool-call
// arguments that are not a JSON object, images that are neither https nor base64 data URLs of
// a supported type.
Result<Json> chat_request_to_anthropic(const ChatRequest& req, const std::string& upstream_model);

// The count_tokens body (MessageCountTokensParams): the Messages body's model, messages, system,
// tools, tool_choice and output_config, nothing else. Refuses what chat_request_to_anthropic
// refuses.
Result<Json> chat_request_to_anthropic_count(const ChatRequest& req,
                                             const std::string& upstream_model);
// A MessageTokensCount answer ({"input_tokens": N}) -> N; anything else -> kBadGateway.
Result<int64_t> anthropic_count_from_wire(std::string_view body);

// A tool-call id as Anthropic accepts it (^[a-zA-Z0-9_-]+$): unchanged when it already
// matches; otherwise every other byte becomes '_' and "_" + 8 hex digits of a hash of the
// original id are appended, so distinct ids stay distinct. Deterministic: tool_use.id and the
// matching tool_result.tool_use_id get the same value.
std::string anthropic_tool_id(std::string_view id);

// The transformation the official SDK applies to JSON Schemas for strict tools and structured
// outputs (lib/transform-json-schema.js): keywords Anthropic does not enforce move into the
// description, objects get additionalProperties: false. Fails, like the SDK, on a schema
// without a type that is not an anyOf/oneOf/allOf/enum/const/$ref. Properties and the moved
// keywords keep the schema's order, as the SDK keeps them.
Result<Json> anthropic_strict_schema(const Json& schema);

// A whole Message body -> events (Start, TextDelta, ToolCallStart + ToolArgsDelta, Finish,
// Usage). Usage: prompt_tokens = input_tokens + cache_read_input_tokens +
// cache_creation_input_tokens (Anthropic's input_tokens excludes both), cached_tokens =
// cache_read_input_tokens, cache_creation_tokens = cache_creation_input_tokens. Finish carries
// the matched stop sequence (stop_reason "stop_sequence"). Garbage -> kBadGateway.
Result<std::vector<ChatEvent>> anthropic_response_from_wire(std::string_view body);
// The same for a request that emulated JSON mode (anthropic_emulates_json_object): the
// json_response tool's input is the answer's text, other text is dropped, and tool_use as the
// stop reason of that answer alone reads as a normal end.
Result<std::vector<ChatEvent>> anthropic_json_response_from_wire(std::string_view body);

// True when chat_request_to_anthropic emulates response_format json_object, which Anthropic has
// no switch for: a tool named json_response whose input is any JSON object, forced (or among the
// client's tools, under tool_choice auto, as tool_choice any). Not under tool_choice required or
// a named tool, whose answer is a tool call already.
bool anthropic_emulates_json_object(const ChatRequest& req);

// Streamed RawMessageStreamEvents -> events. `event_name` is the SSE event field (the data's
// own "type" wins when both are present). Sets `done` at message_stop and after an error
// event. An `error` event becomes an Error event: overloaded_error -> kUnavailable,
// rate_limit_error -> kResourceExhausted, timeout_error -> kDeadlineExceeded, anything else
// kBadGateway. Invalid JSON or an impossible sequence -> a kBadGateway Status.
class AnthropicStreamDecoder {
 public:
  // json_tool: the request emulated JSON mode (anthropic_emulates_json_object): the first
  // json_response tool's input streams as text, other text is dropped, and its tool_use stop
  // reason is end_turn.
  explicit AnthropicStreamDecoder(bool json_tool = false) : json_tool_(json_tool) {}
  Status decode(std::string_view event_name, std::string_view data, std::vector<ChatEvent>& out,
                bool& done);

 private:
  struct Block {
    // kJsonText: the JSON mode tool's input, relayed as text; kSkippedJson: a second one.
    enum class Type {
      kText,
      kTool,
      kJsonText,
      kSkippedJson,
      kThinking,
      kOther
    } type = Type::kOther;
    int tool_index = -1;
    int reasoning_index = -1;  // kThinking: its reasoning part among the answer's
    bool got_delta = false;
    std::string start_input;  // a non-empty `input` given in content_block_start
  };
  bool json_tool_ = false;
  bool json_answered_ = false;
  bool started_ = false;
  bool finished_ = false;
  bool ended_ = false;
  int tool_count_ = 0;
  int reasoning_count_ = 0;
  std::map<int, Block> blocks_;
  bool usage_seen_ = false;
  int64_t input_tokens_ = 0;
  int64_t cache_read_tokens_ = 0;
  int64_t cache_creation_tokens_ = 0;
  bool cache_read_seen_ = false;
  bool cache_creation_seen_ = false;
  int64_t output_tokens_ = 0;
};

// An Anthropic error body ({"type": "error", "error": {"type", "message"}}) -> its message;
// any other body -> upstream_error_message(body).
std::string anthropic_error_message(std::string_view body);

// GET /v1/models for an Anthropic client: a Page of ModelInfo (@anthropic-ai/sdk
// resources/models.d.ts) holding every name, `created` (unix seconds) as created_at; the fields
// keel does not know (capabilities, token limits, dates of deprecation) are null.
Json models_to_anthropic(const std::vector<std::string>& names, int64_t created);
// One of them (GET /v1/models/{model}).
Json model_to_anthropic(const std::string& name, int64_t created);

}  // namespace keel
