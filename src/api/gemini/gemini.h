// The Gemini wire format (generativelanguage.googleapis.com, v1beta generateContent and
// streamGenerateContent?alt=sse) <-> native types. Pure functions, no I/O, nothing throws.
// Wire reference: the official `@google/genai` npm package (genai.d.ts: GenerateContentParameters,
// Content, Part, FunctionDeclaration, Schema, ToolConfig, GenerationConfig,
// GenerateContentResponse) and its Gemini Developer API converters (dist/index.cjs
// `generateContentParametersToMldev`, `generateContentConfigToMldev`), which show the REST body:
// camelCase JSON with systemInstruction, tools and toolConfig at the top level and the sampling
// fields under generationConfig. tests/golden/gemini/README.md lists every rule below.
//
//   auto body = chat_request_to_gemini(req);          // native -> Gemini request body
//   if (!body) return body.error();                    // 400: a feature Gemini cannot honour
//   // POST {base}/v1beta/models/{model}:generateContent            (the model is in the URL)
//   auto events = gemini_response_from_wire(response_body);   // -> Start, ..., Finish, Usage
//   // or POST ...:streamGenerateContent?alt=sse, then for each SSE data payload:
//   GeminiStreamDecoder decoder;
//   decoder.decode(data, events);  ...;  decoder.finish(events);   // at the end of the body
//   // a non-2xx answer: Error(code_for(status), gemini_error_message(body))
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/chat.h"

namespace keel {

struct GeminiRequestOptions {
  // Gemini 3 rejects a replayed model turn whose first functionCall part has no
  // thoughtSignature. A turn keeps the signature Gemini gave its call (a ReasoningPart of vendor
  // gemini without text), but threads may come from other vendors or from clients that drop
  // it, so a model turn whose first call has none gets Google's documented
  // "skip_thought_signature_validator" sentinel (what gemini-cli sends). Off: only the calls'
  // own signatures.
  bool synthetic_thought_signatures = true;
};

// --- toward Gemini --------------------------------------------------------------------------
// The generateContent / streamGenerateContent request body (the same for both; the model and
// streaming are chosen by the URL). Errors are kInvalidArgument with `param` set and a message
// that names the feature and "provider kind gemini": a request that Gemini cannot honour
// without changing its meaning (logprobs, logit_bias, a tool result whose call is unknown, a
// recursive $ref, ...) is refused rather than silently altered. parallel_tool_calls=false (or
// Anthropic's disable_parallel_tool_use), which Gemini has no switch for, is kept by asking for
// one call in the system instruction and keeping only the first call of the answer (see
// gemini_single_tool_call).
Result<Json> chat_request_to_gemini(const ChatRequest& req,
                                    const GeminiRequestOptions& options = {});

// The countTokens body for `upstream_model`: {"generateContentRequest": the generateContent
// body with "model": "models/<upstream_model>"}; refuses what chat_request_to_gemini refuses.
Result<Json> chat_request_to_gemini_count(const ChatRequest& req, const std::string& upstream_model,
                                          const GeminiRequestOptions& options = {});
// A CountTokensResponse ({"totalTokens": N, ...}) -> N; anything else -> kBadGateway.
Result<int64_t> gemini_count_from_wire(std::string_view body);

// A JSON Schema (tool parameters, response_format) -> Gemini's OpenAPI-subset Schema: $ref/$defs
// inlined, type arrays and null branches -> nullable, const -> enum, unsupported keywords
// removed or, where they constrain values, described in `description`. `path` names the schema
// in error messages ("tools[0].function.parameters").
Result<Json> json_schema_to_gemini(const Json& schema, const std::string& path);

// --- from Gemini ----------------------------------------------------------------------------
// A whole GenerateContentResponse -> events: Start(responseId, modelVersion), ReasoningDelta per
// thought part (a part's thoughtSignature as ReasoningSignature, vendor gemini, which ends that
// reasoning part; a functionCall part's signature is a reasoning part without text), TextDelta
// per text part, ToolCallStart + ToolArgsDelta per functionCall part, Finish, Usage (when
// usageMetadata is present). A prompt blocked by promptFeedback.blockReason gives Start +
// Finish(content_filter). Garbage, or an {"error": ...} body -> kBadGateway.
Result<std::vector<ChatEvent>> gemini_response_from_wire(std::string_view body);
// The same, keeping only the answer's first functionCall (gemini_single_tool_call requests).
Result<std::vector<ChatEvent>> gemini_single_call_response_from_wire(std::string_view body);

// True when `req` asks for at most one tool call per turn (parallel_tool_calls false, with
// tools in play): chat_request_to_gemini asks for one, and the answer is decoded with
// single_tool_call, which drops any call after the first.
bool gemini_single_tool_call(const ChatRequest& req);

// streamGenerateContent?alt=sse chunks (each a GenerateContentResponse) -> events. Start once;
// each functionCall arrives whole in one chunk (ToolCallStart + one ToolArgsDelta; indices count
// across the stream); finishReason -> Finish; usageMetadata is running, so the last one seen is
// emitted as Usage by finish(). An {"error": {...}} chunk -> an Error event that ends the stream.
class GeminiStreamDecoder {
 public:
  // single_tool_call: keep only the stream's first functionCall (gemini_single_tool_call).
  explicit GeminiStreamDecoder(bool single_tool_call = false) {
    state_.single_tool_call = single_tool_call;
  }
  // `data` is one SSE data payload. Appends events to `out`; a chunk that is not the documented
  // shape -> kBadGateway and nothing appended.
  Status decode(std::string_view data, std::vector<ChatEvent>& out);
  // At the end of the body (Gemini sends no [DONE]): a Finish if none came, then Usage.
  void finish(std::vector<ChatEvent>& out);

  // Decoding state across chunks (public only so that the folder's shared decoder,
  // decode_response in internal.h, can use it).
  struct State {
    bool started = false;
    bool finished = false;
    bool failed = false;
    int tool_count = 0;
    int reasoning_count = 0;        // reasoning parts ended so far (by a signature)
    bool reasoning_text = false;    // the current reasoning part has text
    bool single_tool_call = false;  // drop every functionCall after the first
    std::string response_id;
    std::optional<Usage> usage;
  };

 private:
  State state_;
};

// An error body ({"error": {"code", "message", "status"}}, possibly wrapped in a one-element
// array) -> "message (STATUS)"; any other body -> a trimmed, printable excerpt.
std::string gemini_error_message(std::string_view body);

}  // namespace keel
