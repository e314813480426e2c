// The OpenAI wire format <-> native types (chat completions, embeddings, models, errors).
// Pure functions, no I/O. Wire reference: OpenAI's OpenAPI description
// (../shared/specs/openai-openapi.yaml: CreateChatCompletionRequest,
// CreateChatCompletionResponse, CreateChatCompletionStreamResponse, CreateEmbeddingRequest,
// CreateEmbeddingResponse).
//
//   auto req = parse_chat_request(body);                 // client -> native
//   if (!req) return error_body(req.error());            // 400 with the OpenAI error shape
//   Json upstream = chat_request_to_wire(*req, "gpt-4o-mini");   // native -> upstream
//   OpenAIStreamDecoder dec; for (chunk json : sse) dec.decode(chunk, events);
//   OpenAIStreamEncoder enc(id, model, created, include_usage); enc.encode(event) -> chunk json
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "api/chat.h"

namespace keel {

// --- client requests ----------------------------------------------------------------------
// Validates types and required fields; errors are kInvalidArgument with `param` set.
Result<ChatRequest> parse_chat_request(std::string_view body);
// The same, always through a full Json parse. parse_chat_request reads bodies of the usual shape
// (string messages, no sampling floats, no tools) without one and gives the same result; tests
// and the fuzz target compare the two.
Result<ChatRequest> parse_chat_request_parsed(std::string_view body);
// parse_chat_request's fast path alone: nullopt when the body needs the full parse.
std::optional<ChatRequest> scan_chat_request(std::string_view body);
Result<EmbedRequest> parse_embed_request(std::string_view body);

// --- toward an OpenAI-compatible upstream -------------------------------------------------
// The request body for `upstream_model`, passthrough fields merged in. `stream` follows
// req.stream; when streaming, stream_options.include_usage is always requested so keel can
// count tokens.
Json chat_request_to_wire(const ChatRequest& req, const std::string& upstream_model);
// Its JSON text: exactly what Json::dump (compact, invalid UTF-8 replaced) gives for it; written
// directly, without a Json tree, for requests of the usual shape (see scan_chat_request).
std::string chat_request_to_wire_text(const ChatRequest& req, const std::string& upstream_model);
Json embed_request_to_wire(const EmbedRequest& req, const std::string& upstream_model);

// --- from an OpenAI-compatible upstream ---------------------------------------------------
// A whole chat.completion body -> events (Start, content, Finish, Usage). Garbage (not the
// documented shape) -> kBadGateway.
Result<std::vector<ChatEvent>> chat_response_from_wire(std::string_view body);
// The same, always through a full Json parse. chat_response_from_wire reads bodies of the usual
// shape without one and gives the same result; tests and the fuzz target compare the two.
Result<std::vector<ChatEvent>> chat_response_from_wire_parsed(std::string_view body);

// Streaming chat.completion.chunk objects -> events. Keeps state across chunks (tool-call
// indices seen, whether Start was emitted). An `error` object inside a chunk becomes an Error
// event.
class OpenAIStreamDecoder {
 public:
  // fast_path: chunks of the usual shape are read without a Json tree, with the same result;
  // false forces the full parse (for tests and the fuzz target, which compare the two).
  explicit OpenAIStreamDecoder(bool fast_path = true) : fast_path_(fast_path) {}
  // `data` is one SSE data payload (not "[DONE]"). Appends events to `out`.
  Status decode(std::string_view data, std::vector<ChatEvent>& out);
  // Called at [DONE]: emits a Finish if none came.
  void finish(std::vector<ChatEvent>& out);

 private:
  // The fast path: false (nothing emitted, no state changed) when the chunk needs the full one.
  bool decode_scanned(std::string_view data, std::vector<ChatEvent>& out);

  bool fast_path_ = true;
  bool started_ = false;
  bool finished_ = false;
  std::vector<bool> tool_started_;
  // The fast path's bytes of the first chunk before its "choices" member (id, object, created,
  // model, ...): later chunks of a stream repeat them byte for byte, and then only the rest is
  // read (as "{" + rest, built in rest_).
  std::string prefix_;
  std::string rest_;
};

Result<Embeddings> embeddings_from_wire(std::string_view body);

// An upstream's error body ({"error": {...}}) or any other text -> its message, for keel's
// own error. Returns a trimmed excerpt of `body` when it has no recognised message.
std::string upstream_error_message(std::string_view body);

// --- toward the client --------------------------------------------------------------------
Json chat_response_to_wire(const ChatResponse& resp);
// A citation as chat's url_citation annotation (its span in the message's content).
Json citation_to_openai(const Citation& citation);
// Its JSON text: exactly what Json::dump (compact, invalid UTF-8 replaced) gives for it, written
// directly, without a Json tree, for answers without tool calls.
std::string chat_response_to_wire_text(const ChatResponse& resp);

// Native events -> chat.completion.chunk objects, in OpenAI's streaming order: the first
// chunk carries role "assistant"; tool calls carry id/name/type first then argument deltas;
// the finish chunk carries finish_reason; when include_usage, a last chunk with empty choices
// and usage.
class OpenAIStreamEncoder {
 public:
  OpenAIStreamEncoder(std::string id, std::string model, int64_t created, bool include_usage);
  // Appends zero or more chunks for `event`. Error events produce nothing here (the front door
  // writes the error event itself).
  void encode(const ChatEvent& event, std::vector<Json>& out);
  // The same chunks as JSON text, each handed to `emit` (the view is valid until it returns):
  // exactly what encode() then Json::dump (compact, invalid UTF-8 replaced) gives, but the hot
  // events (start, text, finish) are written directly, without building Json trees or a string
  // per chunk. Use one encoder with one of the two methods.
  void encode_text(const ChatEvent& event, const std::function<void(std::string_view)>& emit);

 private:
  Json base_chunk() const;
  // The held citations as one chunk whose delta carries `annotations`; nothing when none.
  void push_annotations(std::vector<Json>& out);
  Json annotations_ = Json::array();
  // One chunk's text, built in chunk_.
  std::string_view text_chunk(std::string_view delta, const char* finish_reason);
  std::string chunk_;  // text_chunk's scratch, kept for its capacity
  std::string delta_;  // encode_text's scratch for a text delta
  std::string head_;   // encode_text: the chunk's text up to the delta, escaped once
  bool head_ready_ = false;
  bool text_ok_ = false;  // id and model are valid UTF-8: the direct path may be used
  std::string id_;
  std::string model_;
  int64_t created_;
  bool include_usage_;
  bool role_sent_ = false;
};

Json embeddings_to_wire(const Embeddings& embeddings, bool base64);
Json models_to_wire(const std::vector<std::string>& names, int64_t created);
// One of them (GET /v1/models/{model}).
Json model_to_wire(const std::string& name, int64_t created);

// --- legacy text completions (POST /v1/completions) ----------------------------------------
// A CompletionCreateParams body -> a ChatRequest whose one user message is the prompt, with
// raw_prompt set. max_tokens defaults to 16, as OpenAI documents. What keel's targets cannot
// honour is a 400 naming the parameter, never dropped: a prompt of token ids or of more than one
// string, n or best_of above 1, echo, logprobs, suffix (fill in the middle).
Result<ChatRequest> parse_completion_request(std::string_view body);
// A whole answer as a text_completion object.
Json completion_response_to_wire(const ChatResponse& resp);

// Native events -> streamed text_completion objects: one per text delta, one with the
// finish_reason, then (include_usage) one with empty choices and the usage. Tool calls and
// reasoning have no place in a text completion and are left out.
class CompletionStreamEncoder {
 public:
  CompletionStreamEncoder(std::string id, std::string model, int64_t created, bool include_usage);
  void encode(const ChatEvent& event, std::vector<Json>& out);

 private:
  Json chunk(Json choices) const;
  std::string id_;
  std::string model_;
  int64_t created_;
  bool include_usage_;
};

// --- errors -------------------------------------------------------------------------------
// The one mapping from ErrorCode to HTTP status.
int http_status_for(ErrorCode code);
// {"error": {"message", "type", "param", "code"}}
Json error_to_wire(const Error& error);

}  // namespace keel
