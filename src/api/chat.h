// The native chat types: every front door parses into them, every provider produces them.
// N front doors x M providers cost N + M translators, not N x M (DESIGN.md).
//
//   ChatRequest req = ...;                    // parse_chat_request(), api/openai_chat/
//   provider.chat(req, target, sink, cancel); // emits ChatEvents into sink
//   ChatAggregator agg; agg.add(event) ...;   // folds a stream into one ChatResponse
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace keel {

// Objects keep their members in the order they came (or were added): a client's JSON Schema
// lists "reasoning" before "answer" because structured output follows that order, and a sorted
// object (nlohmann::json's std::map) would quietly ask every upstream for the answer first.
// Parse untrusted text with parse_json / try_parse_json (api/json_util.h), never Json::parse,
// whose time grows with the square of an object's size for this type.
using Json = nlohmann::ordered_json;

enum class Role { kSystem, kDeveloper, kUser, kAssistant, kTool };
const char* role_name(Role role);

// A file the user attached for the model to read: an Anthropic `document` block, an OpenAI
// chat `file` part, a Responses `input_file`. Which vendors take one, and the 400 elsewhere:
// docs/dev.md "Documents".
struct Document {
  std::string media_type;  // application/pdf, text/plain, ...
  std::string data;        // base64 of the bytes; the text itself when `is_text`
  bool is_text = false;    // Anthropic's text source: `data` is plain text, not base64
  std::string filename;    // OpenAI's filename; "" when not given
  std::string title;       // Anthropic's title and context; "" when not given
  std::string context;
  Json citations;  // Anthropic's citations config as it came; null when absent
};

// A piece of message content. Text, an image by URL (https: or data:), or a document.
struct ContentPart {
  enum class Type { kText, kImage, kDocument };
  Type type = Type::kText;
  std::string text;
  std::string image_url;      // https://... or data:image/png;base64,...
  std::string image_detail;   // auto | low | high; empty when unset
  // kDocument. Behind a pointer so that the parts without one (nearly all) stay small.
  std::shared_ptr<const Document> document;
};

struct ToolCall {
  std::string id;             // the vendor's id; kept as-is so threads move between vendors
  std::string name;
  std::string arguments;      // JSON text, as produced by the model (may be partial/invalid)
};

// A source an answer cites (a copilot's retrieved passage, src/copilots/citations.h), at a place
// in the answer's text. Each front door writes it in its own shape: OpenAI chat `annotations`
// (url_citation), Responses `file_citation`, Anthropic `citations` (char_location).
struct Citation {
  int64_t text_start = 0;  // the marker's span in the answer's text, in code points
  int64_t text_end = 0;
  int number = 0;         // the marker's number: the passage's place in the prompt, from 1
  std::string knowledge;  // the knowledge base
  std::string source;     // the file the passage came from
  std::string chunk_id;
  std::string heading;       // "Title > Section", may be empty
  int64_t source_start = 0;  // the passage's byte range in the source's extracted text
  int64_t source_end = 0;
  std::string cited_text;  // the passage's text
};

// Code points in UTF-8 text (bytes that do not continue a sequence): where citations count.
inline int64_t utf8_code_points(std::string_view text) {
  int64_t points = 0;
  for (unsigned char c : text) points += (c & 0xC0) != 0x80;
  return points;
}
// Which vendor made a piece of opaque reasoning (kVendor*): it goes back to that vendor only.
inline constexpr const char* kVendorAnthropic = "anthropic";
inline constexpr const char* kVendorOpenAI = "openai";
inline constexpr const char* kVendorGemini = "gemini";

// Reasoning that came with an assistant turn, in the order it came; it precedes the turn's text
// and tool calls (Anthropic: thinking blocks before text and tool_use; OpenAI: reasoning items
// before the message; Gemini: thought parts first).
struct ReasoningPart {
  // What may be read: Anthropic's (summarised) thinking, OpenAI's reasoning summary, Gemini's
  // thought summary. Empty when the vendor gave only the opaque part (Gemini: the
  // thoughtSignature of a functionCall part, which goes back on the turn's first call).
  std::string text;
  // Opaque, valid only at `vendor`: Anthropic's thinking signature (redacted_thinking's data when
  // `redacted`), OpenAI's encrypted_content, Gemini's thoughtSignature. Sent back byte for byte.
  std::string signature;
  std::string vendor;     // kVendor*; "" when the origin is unknown (then only `text` is used)
  bool redacted = false;  // Anthropic redacted_thinking
  std::string id;         // OpenAI's reasoning item id (rs_...), when it came from one
};

// What a request asks of the model's reasoning. Vendors' knobs map by the table in docs/dev.md
// (reasoning_effort_for_budget / reasoning_budget_for_effort).
struct ReasoningConfig {
  enum class Mode { kUnset, kDisabled, kEnabled, kAdaptive };
  Mode mode = Mode::kUnset;
  std::optional<int64_t> budget_tokens;  // Anthropic budget_tokens, Gemini thinkingBudget
  // none | minimal | low | medium | high | xhigh | max: OpenAI reasoning_effort / Responses
  // reasoning.effort, Anthropic output_config.effort, Gemini thinkingLevel. "" when unset.
  std::string effort;
  std::string summary;  // Responses reasoning.summary: auto | concise | detailed; "" unset
  bool is_set() const { return mode != Mode::kUnset || !effort.empty(); }
};

// The effort a thinking budget stands for, and the budget an effort stands for (docs/dev.md).
const char* reasoning_effort_for_budget(int64_t budget_tokens);
int64_t reasoning_budget_for_effort(std::string_view effort);

struct Message {
  Role role = Role::kUser;
  std::vector<ContentPart> content;   // empty for an assistant turn with only tool calls
  std::vector<ToolCall> tool_calls;   // assistant
  std::string tool_call_id;           // tool
  std::string name;                   // optional participant name
  // True when the wire had content as a plain string (kept so a round trip is exact).
  bool content_is_string = true;
  // tool: the result reports a failure (Anthropic's tool_result is_error). Wire formats without
  // such a flag get the text with_error_marked() makes.
  bool is_error = false;
  // assistant: the sources its text cites, in the order of their markers.
  std::vector<Citation> citations;
  // assistant: the model's reasoning before this turn's content (see ReasoningPart).
  std::vector<ReasoningPart> reasoning;

  std::string text() const;           // all text parts joined
};

// A tool result with is_error set, for a model that reads only its text: "Error: " before the
// first text part ("Error" alone when there is none), is_error cleared. Others: a plain copy.
Message with_error_marked(const Message& message);

// The first document part of any message, nullptr when there is none.
const ContentPart* first_document(const std::vector<Message>& messages);
// The 400 for a document `provider` cannot take: "document input (application/pdf) is not
// supported by <provider>", param "messages".
Error document_unsupported(const Document& document, const std::string& provider);

struct ToolSpec {
  std::string name;
  std::string description;
  Json parameters = Json::object();   // JSON Schema
  std::optional<bool> strict;
};

struct ToolChoice {
  enum class Mode { kUnset, kAuto, kNone, kRequired, kNamed };
  Mode mode = Mode::kUnset;
  std::string name;                   // kNamed
};

struct Sampling {
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> max_tokens;
  std::vector<std::string> stop;
  std::optional<int64_t> seed;
  std::optional<double> presence_penalty;
  std::optional<double> frequency_penalty;
};

struct ResponseFormat {
  enum class Type { kText, kJsonObject, kJsonSchema };
  Type type = Type::kText;
  std::string name;                   // json_schema
  Json schema;                        // json_schema
  std::optional<bool> strict;
};

struct ChatRequest {
  std::string model;                  // the public name; the router replaces it per target
  std::vector<Message> messages;
  std::vector<ToolSpec> tools;
  ToolChoice tool_choice;
  std::optional<bool> parallel_tool_calls;
  Sampling sampling;
  std::optional<ResponseFormat> response_format;
  ReasoningConfig reasoning;
  bool stream = false;
  bool include_usage = false;         // stream_options.include_usage
  std::string user;
  // A text completion (POST /v1/completions): the one user message is a prompt to continue,
  // not a turn of a chat. A provider that completes raw text (the local engine) reads it
  // without a chat template; the chat-only vendors get it as one user message (as LiteLLM
  // does). A request that grew more messages or tools (a copilot, a tool loop) is a chat again.
  bool raw_prompt = false;
  // Fields keel does not model, passed through to OpenAI-compatible upstreams unchanged.
  Json passthrough = Json::object();
};

enum class FinishReason { kNone, kStop, kLength, kToolCalls, kContentFilter, kError };
const char* finish_reason_name(FinishReason reason);   // OpenAI spelling; kNone -> ""
FinishReason parse_finish_reason(std::string_view openai_name);

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t total_tokens = 0;
  std::optional<int64_t> cached_tokens;     // prompt tokens served from a cache
  bool present = false;                     // false: the upstream reported none
  // Prompt tokens written to a cache (Anthropic reports and bills them apart); like
  // cached_tokens, a part of prompt_tokens.
  std::optional<int64_t> cache_creation_tokens;
};

// One event of a provider's stream. Order: Start, (ReasoningDelta | ReasoningSignature |
// TextDelta | ToolCallStart | ToolArgsDelta)*, Finish, Usage. An Error may end the stream at any
// point. Reasoning events come before the text and calls of their turn. Citation events (never
// from a provider; a copilot adds them) follow the text delta that completed their marker.
struct ChatEvent {
  enum class Kind {
    kStart,
    kTextDelta,
    kToolCallStart,
    kToolArgsDelta,
    kFinish,
    kUsage,
    kError,
    kCitation,
    kReasoningDelta,      // text: readable reasoning; tool_index: its part among the turn's
    kReasoningSignature,  // text: the opaque part (ReasoningPart::signature); tool_index: part;
                          // id: the vendor (kVendor*); redacted: Anthropic redacted_thinking
  };
  Kind kind = Kind::kStart;
  std::string text;            // TextDelta: text; ToolArgsDelta: argument text; Finish: the
                               // stop sequence that ended the turn, when the upstream names it
  int tool_index = 0;          // ToolCallStart / ToolArgsDelta: index among this turn's calls
  std::string tool_id;         // ToolCallStart
  std::string tool_name;       // ToolCallStart
  FinishReason finish = FinishReason::kNone;
  // Usage: the counts. Start: the prompt's counts when the upstream gives them at the start
  // (usage.present: Anthropic's message_start, Gemini's first chunk, the local engine).
  Usage usage;
  Error error;
  std::string id;              // Start: the upstream's response id (may be empty);
                               // ReasoningSignature: the vendor (kVendor*)
  std::string model;           // Start: the upstream's model name (may be empty)
  std::shared_ptr<const Citation> citation;  // Citation
  bool redacted = false;       // ReasoningSignature: an Anthropic redacted_thinking block

  static ChatEvent start(std::string id = {}, std::string model = {});
  static ChatEvent text_delta(std::string text);
  static ChatEvent tool_call_start(int index, std::string id, std::string name);
  static ChatEvent tool_args_delta(int index, std::string args);
  static ChatEvent finished(FinishReason reason);
  static ChatEvent usage_event(Usage usage);
  static ChatEvent failure(Error error);
  static ChatEvent cited(Citation citation);
  static ChatEvent reasoning_delta(int index, std::string text);
  static ChatEvent reasoning_signature(int index, std::string signature, const char* vendor,
                                       bool redacted = false);
  // The hot ones, made in place in `into` (say `events.emplace_back()`): a ChatEvent holds
  // eight strings, and a temporary moved into a vector and destroyed cost more than the rest of
  // reading a short answer's event. The value forms above are these on a local.
  static ChatEvent& start(ChatEvent& into, std::string id, std::string model);
  static ChatEvent& text_delta(ChatEvent& into, std::string text);
  static ChatEvent& finished(ChatEvent& into, FinishReason reason);
  static ChatEvent& usage_event(ChatEvent& into, Usage usage);

  // Content: once one of these reaches a client, the router can no longer fail over.
  bool is_content() const {
    return kind == Kind::kTextDelta || kind == Kind::kToolCallStart ||
           kind == Kind::kToolArgsDelta || kind == Kind::kReasoningDelta ||
           kind == Kind::kReasoningSignature;
  }
};

// A whole, non-streamed answer.
struct ChatResponse {
  std::string id;
  std::string model;
  int64_t created = 0;
  Message message;             // role assistant; text and tool calls
  FinishReason finish = FinishReason::kNone;
  std::string stop_sequence;   // the stop sequence that ended it, when the upstream named it
  Usage usage;
};

// Folds events into a ChatResponse (for clients that did not ask to stream).
class ChatAggregator {
 public:
  void add(const ChatEvent& event);
  const ChatResponse& response() const { return response_; }
  ChatResponse& response() { return response_; }

 private:
  ChatResponse response_;
  std::string text_;
};

// Embeddings.
struct EmbedRequest {
  std::string model;
  std::vector<std::string> inputs;    // strings; token arrays are decoded upstream-side as text
  Json raw_input;                     // the wire `input` as given, for same-format upstreams
  std::optional<int64_t> dimensions;
  bool base64 = false;                // encoding_format: "base64"
  std::string user;
  Json passthrough = Json::object();
};

struct Embeddings {
  std::vector<std::vector<float>> vectors;
  std::string model;
  Usage usage;
};

// How an embedding model measures its inputs (Provider::count_embed_tokens): the most tokens one
// input may hold, and each input's count as the model's own tokenizer makes it.
struct EmbedTokenCounts {
  int64_t max_tokens = 0;       // per input; 0: not known
  std::vector<int64_t> tokens;  // one per input; empty: no tokenizer for this model here
};

}  // namespace keel
