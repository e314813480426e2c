// The Anthropic Messages wire format <-> native types. See anthropic.h for the contract.
//
// Untrusted bytes come in through parse_messages_request, anthropic_response_from_wire,
// AnthropicStreamDecoder::decode and anthropic_error_message. None of them throws: JSON is
// depth-checked before it is parsed, every value's type is checked before it is read, and each
// function also catches at its own boundary as a last line of defence.
//
// Front door (parse_messages_request), decisions:
//  - thinking ({type: enabled, budget_tokens}, adaptive, disabled; display) is the native
//    reasoning config: Anthropic upstreams get it back as it came, others in their own terms
//    (docs/dev.md's table). Other thinking types are a 400.
//  - Rejected with a 400 naming the field, because keel would otherwise answer a different
//    question: container, mcp_servers, compaction, thread; tools other than custom tools (server
//    tools such as web_search_*, bash_*, text_editor_*); content blocks other than text, image,
//    tool_use, tool_result (documents, search results, server tool blocks); image sources of
//    type file (keel has no Files API); max_tokens 0 (cache pre-warming).
//  - Ignored, because they are hints that do not change what the answer may say:
//    cache_control (top level and on blocks), citations on text blocks, diagnostics,
//    context_management (context editing, which Claude Code sends on its own),
//    inference_geo, service_tier, speed, fallbacks, metadata keys other than user_id,
//    output_config.effort, and tool fields defer_loading, eager_input_streaming,
//    input_examples, allowed_callers. Unknown top-level fields are ignored too (forward
//    compatibility with newer SDKs); they are not put in `passthrough`, which goes to
//    OpenAI-compatible upstreams unchanged.
//  - thinking / redacted_thinking blocks in assistant history become the turn's reasoning
//    parts, byte for byte and in order (vendor anthropic when signed), and go back to Anthropic
//    as they came, before the turn's text and tool_use (interleaved thinking between tool_use
//    blocks moves to the front of its turn). A thinking block with an empty signature is one
//    keel made from another vendor's reasoning: readable only, never sent to Anthropic.
//  - temperature / top_p go to native sampling; top_k (no native field) to passthrough["top_k"].
//    SDK 1.14 no longer declares these three, but older clients send them.
//  - A user message's tool_result blocks become one native Role::kTool message each, in place;
//    its other blocks become user messages between them. is_error is the native message's
//    is_error (OpenAI-compatible and local models read "Error: " before the text, Gemini an
//    "error" response).
//  - output_config.format (and the beta output_format) {type: json_schema, schema} becomes
//    response_format json_schema named "output".
//  - role "system" inside messages (SDK 1.14 SystemMessageParam) is a native system message in
//    place; the top-level `system` is a native system message first.
//
// Toward Anthropic (chat_request_to_anthropic), decisions:
//  - Every system/developer message goes to the top-level `system`, in order: a string when
//    there is exactly one plain-string system message, else one text block per text part.
//    Mid-conversation system messages therefore move to the front.
//  - A run of native tool messages becomes one user message of tool_result blocks; a user
//    message right after the run joins it (Anthropic combines consecutive user turns anyway).
//  - Tool-call ids go through anthropic_tool_id(); arguments text must parse to a JSON object
//    (empty text counts as {}).
//  - max_tokens defaults to kAnthropicDefaultMaxTokens; stop -> stop_sequences; user ->
//    metadata.user_id; response_format json_schema -> output_config.format with the SDK's
//    strict-schema transformation (anthropic_strict_schema), which is also applied to the
//    input_schema of strict tools. json_object has no Anthropic equivalent: 400.
//  - 400 naming feature and vendor: seed; presence/frequency penalty other than 0;
//    temperature above 1; passthrough n other than 1, logprobs true, top_logprobs > 0,
//    logit_bias, audio, modalities other than text, web_search_options, functions,
//    function_call. Other passthrough fields (OpenAI's store, metadata, service_tier,
//    prediction, verbosity, prompt_cache_key, ...) are not sent; top_k is.
//  - Reasoning: the native config as thinking (an effort as the budget docs/dev.md's table
//    gives it, shrunk below max_tokens); the assistant turns' Anthropic reasoning parts as
//    thinking / redacted_thinking blocks first. Another vendor's reasoning is not sent.
//  - Message `name`, image `detail` and empty text parts are dropped; tool_choice is sent only
//    with tools.
//
// Toward an Anthropic client (messages_response_to_wire, AnthropicStreamEncoder): every field
// that SDK 1.14 declares as required is present, null when keel does not know it
// (stop_details, container, diagnostics, most usage details; stop_sequence unless the upstream
// named the one that matched, when stop_reason is "stop_sequence"). input_tokens = prompt_tokens
// - cached_tokens - cache_creation_tokens, cache_read_input_tokens = cached_tokens,
// cache_creation_input_tokens = cache_creation_tokens. Reasoning parts come first as thinking
// blocks (redacted_thinking for Anthropic's redacted ones; another vendor's reasoning as
// thinking with its readable text and an empty signature); streamed as thinking_delta and
// signature_delta. A tool call whose
// arguments are not a JSON object is given `input: {}` in a whole Message (streams carry the
// raw text as input_json_delta).
#include "api/anthropic.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>
#include <optional>
#include <set>
#include <utility>

#include "api/json_util.h"
#include "api/openai_chat.h"

namespace keel {
namespace {

constexpr int kMaxToolIndex = 1023;   // more tool calls than this in one answer is garbage
constexpr int kMaxBlockIndex = 4095;  // likewise content blocks
constexpr const char* kVendor = "provider kind anthropic";
constexpr const char* kOutputFormatName = "output";
// The tool that carries a JSON mode answer (response_format json_object) from Anthropic.
constexpr const char* kJsonToolName = "json_response";

// ==== small helpers (the shared JSON ones are in json_util.h) ================================

Error required(const std::string& param) { return invalid(param, param + " is required"); }

Error unsupported(const std::string& param, const std::string& what) {
  return invalid(param, what + " is not supported by " + kVendor);
}

// Anthropic's dotted paths: messages.0.content.1 (native requests' paths use indexed(), as
// their indices are the OpenAI client's).
std::string dotted(const std::string& path, size_t index) {
  return path + "." + std::to_string(index);
}

bool is_anthropic_image_type(std::string_view media_type) {
  return media_type == "image/jpeg" || media_type == "image/png" || media_type == "image/gif" ||
         media_type == "image/webp";
}

// ==== shapes toward an Anthropic client ======================================================

const char* stop_reason_for(FinishReason finish, bool has_tool_calls,
                            const std::string& stop_sequence) {
  switch (finish) {
    case FinishReason::kStop:
      return stop_sequence.empty() ? "end_turn" : "stop_sequence";
    case FinishReason::kLength:
      return "max_tokens";
    case FinishReason::kToolCalls:
      return "tool_use";
    case FinishReason::kContentFilter:
      return "refusal";
    case FinishReason::kNone:
    case FinishReason::kError:
      break;
  }
  return has_tool_calls ? "tool_use" : "end_turn";
}

// Anthropic's input_tokens counts neither cache reads nor cache writes.
int64_t input_tokens_of(const Usage& usage) {
  return std::max<int64_t>(0, usage.prompt_tokens - usage.cached_tokens.value_or(0) -
                                  usage.cache_creation_tokens.value_or(0));
}

Json optional_count(const std::optional<int64_t>& count) {
  return count ? Json(*count) : Json(nullptr);
}

// Usage (SDK `Usage`): every declared field, null when keel does not know it.
Json usage_to_anthropic(const Usage& usage) {
  return {
      {"input_tokens", input_tokens_of(usage)},
      {"output_tokens", usage.completion_tokens},
      {"cache_creation_input_tokens", optional_count(usage.cache_creation_tokens)},
      {"cache_read_input_tokens", optional_count(usage.cached_tokens)},
      {"cache_creation", nullptr},
      {"inference_geo", nullptr},
      {"output_tokens_details", nullptr},
      {"server_tool_use", nullptr},
      {"service_tier", nullptr},
      {"speed", nullptr}};
}

// A Message without content, stop reason or usage.
Json message_envelope(const std::string& id, const std::string& model) {
  return {{"id", id},
          {"type", "message"},
          {"role", "assistant"},
          {"model", model},
          {"content", Json::array()},
          {"stop_reason", nullptr},
          {"stop_sequence", nullptr},
          {"stop_details", nullptr},
          {"container", nullptr},
          {"diagnostics", nullptr}};
}

Json text_block(const std::string& text) {
  return {{"type", "text"}, {"text", text}, {"citations", nullptr}};
}

// char_location: the passage as the cited document (document_index: its marker's number - 1,
// as the prompt listed it), the source file as its title, the chunk's id as file_id, and the
// passage's place in the source's text.
Json citation_to_anthropic(const Citation& citation) {
  return {{"type", "char_location"},
          {"cited_text", citation.cited_text},
          {"document_index", std::max(0, citation.number - 1)},
          {"document_title", citation.source},
          {"start_char_index", citation.source_start},
          {"end_char_index", citation.source_end},
          {"file_id", citation.chunk_id}};
}

Json tool_use_block(const std::string& id, const std::string& name, Json input) {
  return {{"type", "tool_use"},
          {"id", id},
          {"name", name},
          {"input", std::move(input)},
          {"caller", {{"type", "direct"}}}};
}

// A thinking block's thinking_delta or signature_delta (`key` "thinking" or "signature").
AnthropicSseEvent thinking_block_delta(int index, const std::string& key, const std::string& text) {
  return {"content_block_delta",
          {{"type", "content_block_delta"},
           {"index", index},
           {"delta", {{"type", key + "_delta"}, {key, text}}}}};
}

// A reasoning part as the block an Anthropic client (or Anthropic itself) reads. Another
// vendor's reasoning goes with its readable text only and an empty signature, so that when the
// client sends it back it is known not to be Anthropic's (parse_reasoning_block).
Json reasoning_block(const ReasoningPart& part) {
  const bool own = part.vendor == kVendorAnthropic;
  if (own && part.redacted) return {{"type", "redacted_thinking"}, {"data", part.signature}};
  return {{"type", "thinking"},
          {"thinking", part.text},
          {"signature", own ? part.signature : std::string()}};
}

// ==== front door: MessageCreateParams -> native ==============================================

Status read_type(const Json& block, const std::string& path, std::string& type) {
  if (!block.is_object()) return wrong_type(path, "an object", block);
  const Json* value = member(block, "type");
  if (!value) return required(path + ".type");
  if (!value->is_string()) return wrong_type(path + ".type", "a string", *value);
  type = str(*value);
  return Status::Ok();
}

Status parse_text_block(const Json& block, const std::string& path, ContentPart& out) {
  const Json* text = member(block, "text");
  if (!text) return required(path + ".text");
  if (!text->is_string()) return wrong_type(path + ".text", "a string", *text);
  out.type = ContentPart::Type::kText;
  out.text = str(*text);
  return Status::Ok();
}

Status parse_image_block(const Json& block, const std::string& path, ContentPart& out) {
  out.type = ContentPart::Type::kImage;
  const Json* source = member(block, "source");
  if (!source) return required(path + ".source");
  std::string type;
  if (auto st = read_type(*source, path + ".source", type); !st.ok()) return st;
  if (type == "base64") {
    const Json* media_type = member(*source, "media_type");
    if (!media_type) return required(path + ".source.media_type");
    if (!media_type->is_string()) {
      return wrong_type(path + ".source.media_type", "a string", *media_type);
    }
    if (!is_anthropic_image_type(str(*media_type))) {
      return invalid(path + ".source.media_type",
                     path + ".source.media_type " + echo(str(*media_type)) +
                         " is not one of image/jpeg, image/png, image/gif, image/webp");
    }
    const Json* data = member(*source, "data");
    if (!data) return required(path + ".source.data");
    if (!data->is_string()) return wrong_type(path + ".source.data", "a string", *data);
    out.image_url = "data:" + str(*media_type) + ";base64," + str(*data);
  } else if (type == "url") {
    const Json* url = member(*source, "url");
    if (!url) return required(path + ".source.url");
    if (!url->is_string()) return wrong_type(path + ".source.url", "a string", *url);
    out.image_url = str(*url);
  } else if (type == "file") {
    return invalid(path + ".source.type", path +
                                              ".source.type 'file' is not supported: keel has "
                                              "no Files API; send the image as base64 or a URL");
  } else {
    return invalid(path + ".source.type",
                   path + ".source.type " + echo(type) + " is not one of base64, url");
  }
  return Status::Ok();
}

Status parse_tool_result(const Json& block, const std::string& path, Message& out) {
  out.role = Role::kTool;
  const Json* id = member(block, "tool_use_id");
  if (!id) return required(path + ".tool_use_id");
  if (!id->is_string()) return wrong_type(path + ".tool_use_id", "a string", *id);
  if (str(*id).empty()) return invalid(path + ".tool_use_id", path + ".tool_use_id is empty");
  out.tool_call_id = str(*id);
  out.content_is_string = true;
  if (const Json* content = member(block, "content")) {
    if (content->is_string()) {
      if (!str(*content).empty()) set_string_content(out, str(*content));
    } else if (content->is_array()) {
      out.content_is_string = false;
      for (size_t i = 0; i < content->size(); ++i) {
        const Json& item = (*content)[i];
        std::string item_path = dotted(path + ".content", i);
        std::string type;
        if (auto st = read_type(item, item_path, type); !st.ok()) return st;
        ContentPart part;
        if (type == "text") {
          if (auto st = parse_text_block(item, item_path, part); !st.ok()) return st;
        } else if (type == "image") {
          if (auto st = parse_image_block(item, item_path, part); !st.ok()) return st;
        } else {
          return invalid(item_path + ".type", item_path + ".type " + echo(type) +
                                                  " is not supported in a tool_result (keel "
                                                  "supports text and image)");
        }
        out.content.push_back(std::move(part));
      }
    } else {
      return wrong_type(path + ".content", "a string or an array of blocks", *content);
    }
  }
  if (const Json* is_error = member(block, "is_error")) {
    if (!is_error->is_boolean()) return wrong_type(path + ".is_error", "a boolean", *is_error);
    out.is_error = is_error->get<bool>();
  }
  return Status::Ok();
}

Status unsupported_block(const std::string& path, const std::string& type, const char* role) {
  return invalid(path + ".type", path + ".type " + echo(type) + " is not supported in " + role +
                                     " messages by keel");
}

// A system prompt: a string or text blocks.
Status parse_system_content(const Json& content, const std::string& path, Message& out) {
  out.role = Role::kSystem;
  if (content.is_string()) {
    set_string_content(out, str(content));
    return Status::Ok();
  }
  if (!content.is_array()) return wrong_type(path, "a string or an array of text blocks", content);
  out.content_is_string = false;
  for (size_t i = 0; i < content.size(); ++i) {
    std::string item_path = dotted(path, i);
    std::string type;
    if (auto st = read_type(content[i], item_path, type); !st.ok()) return st;
    if (type != "text") {
      return invalid(item_path + ".type", item_path + ".type " + echo(type) +
                                              " is not supported; system blocks are text");
    }
    ContentPart part;
    if (auto st = parse_text_block(content[i], item_path, part); !st.ok()) return st;
    out.content.push_back(std::move(part));
  }
  return Status::Ok();
}

Status parse_user_message(const Json& content, const std::string& path, std::vector<Message>& out) {
  if (content.is_string()) {
    Message message;
    message.role = Role::kUser;
    set_string_content(message, str(content));
    out.push_back(std::move(message));
    return Status::Ok();
  }
  if (!content.is_array()) return wrong_type(path, "a string or an array of blocks", content);
  if (content.empty()) return invalid(path, path + " must not be empty");
  Message pending;  // user blocks since the last tool_result
  pending.role = Role::kUser;
  pending.content_is_string = false;
  auto flush = [&] {
    if (pending.content.empty()) return;
    out.push_back(std::move(pending));
    pending = Message();
    pending.role = Role::kUser;
    pending.content_is_string = false;
  };
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& block = content[i];
    std::string block_path = dotted(path, i);
    std::string type;
    if (auto st = read_type(block, block_path, type); !st.ok()) return st;
    ContentPart part;
    if (type == "text") {
      if (auto st = parse_text_block(block, block_path, part); !st.ok()) return st;
      pending.content.push_back(std::move(part));
    } else if (type == "image") {
      if (auto st = parse_image_block(block, block_path, part); !st.ok()) return st;
      pending.content.push_back(std::move(part));
    } else if (type == "tool_result") {
      flush();
      Message result;
      if (auto st = parse_tool_result(block, block_path, result); !st.ok()) return st;
      out.push_back(std::move(result));
    } else {
      return unsupported_block(block_path, type, "user");
    }
  }
  flush();
  return Status::Ok();
}

// thinking {thinking, signature} / redacted_thinking {data} -> a reasoning part, kept byte for
// byte for Anthropic. A thinking block with an empty signature is one keel made from another
// vendor's reasoning (reasoning_block): readable only, never sent to Anthropic as thinking.
Status parse_reasoning_block(const Json& block, const std::string& path, const std::string& type,
                             Message& message) {
  ReasoningPart part;
  auto read = [&](const char* key, std::string& into) -> Status {
    const Json* value = member(block, key);
    if (!value) return required(path + "." + key);
    if (!value->is_string()) return wrong_type(path + "." + key, "a string", *value);
    into = str(*value);
    return Status::Ok();
  };
  if (type == "redacted_thinking") {
    if (auto st = read("data", part.signature); !st.ok()) return st;
    part.redacted = true;
  } else {
    if (auto st = read("thinking", part.text); !st.ok()) return st;
    if (auto st = read("signature", part.signature); !st.ok()) return st;
  }
  if (!part.signature.empty()) part.vendor = kVendorAnthropic;
  message.reasoning.push_back(std::move(part));
  return Status::Ok();
}

Status parse_assistant_message(const Json& content, const std::string& path,
                               std::vector<Message>& out) {
  Message message;
  message.role = Role::kAssistant;
  if (content.is_string()) {
    set_string_content(message, str(content));
    out.push_back(std::move(message));
    return Status::Ok();
  }
  if (!content.is_array()) return wrong_type(path, "a string or an array of blocks", content);
  std::set<std::string, std::less<>> ids;
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& block = content[i];
    std::string block_path = dotted(path, i);
    std::string type;
    if (auto st = read_type(block, block_path, type); !st.ok()) return st;
    if (type == "text") {
      ContentPart part;
      if (auto st = parse_text_block(block, block_path, part); !st.ok()) return st;
      message.content.push_back(std::move(part));
    } else if (type == "tool_use") {
      ToolCall call;
      const Json* id = member(block, "id");
      if (!id) return required(block_path + ".id");
      if (!id->is_string()) return wrong_type(block_path + ".id", "a string", *id);
      if (str(*id).empty()) return invalid(block_path + ".id", block_path + ".id is empty");
      call.id = str(*id);
      const Json* name = member(block, "name");
      if (!name) return required(block_path + ".name");
      if (!name->is_string()) return wrong_type(block_path + ".name", "a string", *name);
      if (str(*name).empty()) return invalid(block_path + ".name", block_path + ".name is empty");
      call.name = str(*name);
      auto input = block.find("input");
      if (input == block.end()) return required(block_path + ".input");
      if (!input->is_object()) return wrong_type(block_path + ".input", "an object", *input);
      call.arguments = input->dump();
      message.tool_calls.push_back(std::move(call));
    } else if (type == "thinking" || type == "redacted_thinking") {
      if (auto st = parse_reasoning_block(block, block_path, type, message); !st.ok()) return st;
    } else {
      return unsupported_block(block_path, type, "assistant");
    }
  }
  // Text parts make it a block list; a turn of tool calls alone reads as content: null.
  message.content_is_string = message.content.empty();
  if (message.content.empty() && message.tool_calls.empty() && message.reasoning.empty()) {
    return Status::Ok();
  }
  out.push_back(std::move(message));
  return Status::Ok();
}

Status parse_messages(const Json& wire, std::vector<Message>& out) {
  if (!wire.is_array()) return wrong_type("messages", "an array", wire);
  if (wire.empty()) return invalid("messages", "messages must not be empty");
  for (size_t i = 0; i < wire.size(); ++i) {
    const Json& message = wire[i];
    std::string path = dotted("messages", i);
    if (!message.is_object()) return wrong_type(path, "an object", message);
    const Json* role = member(message, "role");
    if (!role) return required(path + ".role");
    if (!role->is_string()) return wrong_type(path + ".role", "a string", *role);
    const Json* content = member(message, "content");
    if (!content) return required(path + ".content");
    const std::string& role_name = str(*role);
    std::string content_path = path + ".content";
    if (role_name == "user") {
      if (auto st = parse_user_message(*content, content_path, out); !st.ok()) return st;
    } else if (role_name == "assistant") {
      if (auto st = parse_assistant_message(*content, content_path, out); !st.ok()) return st;
    } else if (role_name == "system") {
      Message system;
      if (auto st = parse_system_content(*content, content_path, system); !st.ok()) return st;
      out.push_back(std::move(system));
    } else {
      return invalid(path + ".role",
                     path + ".role " + echo(role_name) + " is not one of user, assistant, system");
    }
  }
  return Status::Ok();
}

Status parse_anthropic_tools(const Json& wire, std::vector<ToolSpec>& out) {
  if (!wire.is_array()) return wrong_type("tools", "an array", wire);
  std::set<std::string, std::less<>> names;
  for (size_t i = 0; i < wire.size(); ++i) {
    const Json& tool = wire[i];
    std::string path = dotted("tools", i);
    if (!tool.is_object()) return wrong_type(path, "an object", tool);
    if (const Json* type = member(tool, "type")) {
      if (!type->is_string()) return wrong_type(path + ".type", "a string", *type);
      if (str(*type) != "custom") {
        return invalid(path + ".type", path + ".type " + echo(str(*type)) +
                                           " is not supported: keel supports custom tools only");
      }
    }
    ToolSpec spec;
    const Json* name = member(tool, "name");
    if (!name) return required(path + ".name");
    if (!name->is_string()) return wrong_type(path + ".name", "a string", *name);
    if (str(*name).empty()) return invalid(path + ".name", path + ".name is empty");
    spec.name = str(*name);
    if (!names.insert(spec.name).second) {
      return invalid(path + ".name",
                     path + ".name " + echo(spec.name) + " is used by another tool");
    }
    if (const Json* description = member(tool, "description")) {
      if (!description->is_string()) {
        return wrong_type(path + ".description", "a string", *description);
      }
      spec.description = str(*description);
    }
    const Json* schema = member(tool, "input_schema");
    if (!schema) return required(path + ".input_schema");
    if (!schema->is_object()) {
      return wrong_type(path + ".input_schema", "an object (JSON Schema)", *schema);
    }
    spec.parameters = *schema;
    if (const Json* strict = member(tool, "strict")) {
      if (!strict->is_boolean()) return wrong_type(path + ".strict", "a boolean", *strict);
      spec.strict = strict->get<bool>();
    }
    out.push_back(std::move(spec));
  }
  return Status::Ok();
}

Status parse_anthropic_tool_choice(const Json& wire, ChatRequest& req) {
  std::string type;
  if (auto st = read_type(wire, "tool_choice", type); !st.ok()) return st;
  ToolChoice& choice = req.tool_choice;
  if (type == "auto") {
    choice.mode = ToolChoice::Mode::kAuto;
  } else if (type == "any") {
    choice.mode = ToolChoice::Mode::kRequired;
  } else if (type == "none") {
    choice.mode = ToolChoice::Mode::kNone;
  } else if (type == "tool") {
    const Json* name = member(wire, "name");
    if (!name) return required("tool_choice.name");
    if (!name->is_string()) return wrong_type("tool_choice.name", "a string", *name);
    bool known = std::any_of(req.tools.begin(), req.tools.end(),
                             [&](const ToolSpec& tool) { return tool.name == str(*name); });
    if (!known) {
      return invalid("tool_choice.name",
                     "tool_choice.name " + echo(str(*name)) + " is not a tool in tools");
    }
    choice.mode = ToolChoice::Mode::kNamed;
    choice.name = str(*name);
  } else {
    return invalid("tool_choice.type",
                   "tool_choice.type " + echo(type) + " is not one of auto, any, tool, none");
  }
  if ((type == "any" || type == "tool") && req.tools.empty()) {
    return invalid("tool_choice", "tool_choice " + echo(type) + " needs at least one tool");
  }
  if (const Json* disable = member(wire, "disable_parallel_tool_use")) {
    if (!disable->is_boolean()) {
      return wrong_type("tool_choice.disable_parallel_tool_use", "a boolean", *disable);
    }
    if (disable->get<bool>()) req.parallel_tool_calls = false;
  }
  if (req.tools.empty()) {  // meaningless without tools, and OpenAI upstreams refuse it
    choice = ToolChoice();
    req.parallel_tool_calls.reset();
  }
  return Status::Ok();
}

// output_config.format / output_format: {type: json_schema, schema}.
Status parse_output_format(const Json& wire, const std::string& path, ChatRequest& req) {
  std::string type;
  if (auto st = read_type(wire, path, type); !st.ok()) return st;
  if (type != "json_schema") {
    return invalid(path + ".type", path + ".type " + echo(type) + " is not json_schema");
  }
  const Json* schema = member(wire, "schema");
  if (!schema) return required(path + ".schema");
  if (!schema->is_object()) return wrong_type(path + ".schema", "an object", *schema);
  ResponseFormat format;
  format.type = ResponseFormat::Type::kJsonSchema;
  format.name = kOutputFormatName;
  format.schema = *schema;
  req.response_format = std::move(format);
  return Status::Ok();
}

// thinking: {type: enabled, budget_tokens, display?} | {type: adaptive, display?} |
// {type: disabled}. Anthropic's own checks: a budget of at least 1024, below max_tokens.
Status parse_thinking(const Json& thinking, ChatRequest& req) {
  if (!thinking.is_object()) return wrong_type("thinking", "an object", thinking);
  std::string type;
  if (auto st = read_type(thinking, "thinking", type); !st.ok()) return st;
  ReasoningConfig& config = req.reasoning;
  if (type == "disabled") {
    config.mode = ReasoningConfig::Mode::kDisabled;
    return Status::Ok();
  }
  if (type == "enabled") {
    const Json* budget = member(thinking, "budget_tokens");
    if (!budget) return required("thinking.budget_tokens");
    auto tokens = budget->is_number() ? as_int64(*budget) : std::nullopt;
    if (!tokens) return wrong_type("thinking.budget_tokens", "an integer", *budget);
    if (*tokens < 1024) {
      return invalid("thinking.budget_tokens", "thinking.budget_tokens must be at least 1024");
    }
    if (req.sampling.max_tokens && *tokens >= *req.sampling.max_tokens) {
      return invalid("thinking.budget_tokens",
                     "thinking.budget_tokens must be less than max_tokens");
    }
    config.mode = ReasoningConfig::Mode::kEnabled;
    config.budget_tokens = *tokens;
  } else if (type == "adaptive") {
    config.mode = ReasoningConfig::Mode::kAdaptive;
  } else {
    return invalid("thinking.type", "thinking.type " + echo(type) +
                                        " is not supported by keel (use enabled, adaptive or "
                                        "disabled)");
  }
  if (const Json* display = member(thinking, "display"); display && !display->is_null()) {
    if (!display->is_string()) return wrong_type("thinking.display", "a string", *display);
    if (str(*display) != "summarized" && str(*display) != "omitted") {
      return invalid("thinking.display", "thinking.display " + echo(str(*display)) +
                                             " is not one of summarized, omitted");
    }
    // Responses' reasoning.summary is the same knob: whether readable reasoning comes back.
    config.summary = str(*display) == "omitted" ? "none" : "auto";
  }
  return Status::Ok();
}

// Request fields that would change the answer and that keel cannot honour.
Status reject_unsupported_fields(const Json& body) {
  for (const char* field : {"container", "compaction", "thread"}) {
    if (member(body, field)) {
      return invalid(field, std::string(field) + " is not supported by keel");
    }
  }
  // Context editing (Anthropic clears old tool results or thinking once a threshold is passed)
  // saves context; it does not change the question, and Claude Code sends it on its own. keel
  // takes it and sends it nowhere (other vendors have no such thing; a beta header enables it
  // at Anthropic, which keel does not forward).
  if (const Json* editing = member(body, "context_management"); editing && !editing->is_object()) {
    return wrong_type("context_management", "an object", *editing);
  }
  if (const Json* servers = member(body, "mcp_servers");
      servers && !(servers->is_array() && servers->empty())) {
    return invalid("mcp_servers",
                   "mcp_servers is not supported by keel; declare the tools in "
                   "tools instead");
  }
  return Status::Ok();
}

// `counting`: a MessageCountTokensParams body (POST /v1/messages/count_tokens), which has no
// max_tokens; one that comes anyway is read and checked as usual.
Status parse_messages_object(const Json& body, ChatRequest& req, bool counting) {
  if (!body.is_object()) {
    return invalid("", std::string("request body must be a JSON object, got ") + describe(body));
  }
  const Json* model = member(body, "model");
  if (!model) return required("model");
  if (!model->is_string()) return wrong_type("model", "a string", *model);
  if (str(*model).empty()) return invalid("model", "model must not be empty");
  req.model = str(*model);

  const Json* max_tokens = member(body, "max_tokens");
  if (!max_tokens && !counting) return required("max_tokens");
  if (max_tokens) {
    if (!max_tokens->is_number()) return wrong_type("max_tokens", "an integer", *max_tokens);
    auto max = as_int64(*max_tokens);
    if (!max) return invalid("max_tokens", "max_tokens must be an integer");
    if (*max < 1) {
      return invalid("max_tokens",
                     "max_tokens must be at least 1 (keel does not support "
                     "max_tokens 0, which only pre-warms Anthropic's prompt cache)");
    }
    req.sampling.max_tokens = *max;
  }

  if (auto st = reject_unsupported_fields(body); !st.ok()) return st;
  if (const Json* thinking = member(body, "thinking")) {
    if (auto st = parse_thinking(*thinking, req); !st.ok()) return st;
  }

  if (const Json* system = member(body, "system")) {
    Message message;
    if (auto st = parse_system_content(*system, "system", message); !st.ok()) return st;
    if (!message.text().empty()) req.messages.push_back(std::move(message));
  }
  const Json* messages = member(body, "messages");
  if (!messages) return required("messages");
  if (auto st = parse_messages(*messages, req.messages); !st.ok()) return st;

  if (const Json* tools = member(body, "tools")) {
    if (auto st = parse_anthropic_tools(*tools, req.tools); !st.ok()) return st;
  }
  if (const Json* choice = member(body, "tool_choice")) {
    if (auto st = parse_anthropic_tool_choice(*choice, req); !st.ok()) return st;
  }

  if (auto st = read_number(body, "temperature", 0, 1, req.sampling.temperature); !st.ok()) {
    return st;
  }
  if (auto st = read_number(body, "top_p", 0, 1, req.sampling.top_p); !st.ok()) return st;
  if (const Json* top_k = member(body, "top_k")) {
    if (!top_k->is_number()) return wrong_type("top_k", "an integer", *top_k);
    auto k = as_int64(*top_k);
    if (!k || *k < 0) return invalid("top_k", "top_k must be a non-negative integer");
    req.passthrough["top_k"] = *k;
  }
  if (const Json* stop = member(body, "stop_sequences")) {
    if (!stop->is_array()) return wrong_type("stop_sequences", "an array of strings", *stop);
    for (size_t i = 0; i < stop->size(); ++i) {
      if (!(*stop)[i].is_string()) {
        return wrong_type(dotted("stop_sequences", i), "a string", (*stop)[i]);
      }
      req.sampling.stop.push_back(str((*stop)[i]));
    }
  }
  if (const Json* stream = member(body, "stream")) {
    if (!stream->is_boolean()) return wrong_type("stream", "a boolean", *stream);
    req.stream = stream->get<bool>();
  }
  if (const Json* metadata = member(body, "metadata")) {
    if (!metadata->is_object()) return wrong_type("metadata", "an object", *metadata);
    if (const Json* user = member(*metadata, "user_id")) {
      if (!user->is_string()) return wrong_type("metadata.user_id", "a string", *user);
      req.user = str(*user);
    }
  }
  if (const Json* config = member(body, "output_config")) {
    if (!config->is_object()) return wrong_type("output_config", "an object", *config);
    if (const Json* format = member(*config, "format")) {
      if (auto st = parse_output_format(*format, "output_config.format", req); !st.ok()) return st;
    }
  }
  if (const Json* format = member(body, "output_format")) {  // the beta spelling
    if (auto st = parse_output_format(*format, "output_format", req); !st.ok()) return st;
  }
  // Anthropic streams always report usage; ask every upstream for it so the client gets it.
  req.include_usage = req.stream;
  return Status::Ok();
}

// ==== toward Anthropic: native -> MessageCreateParams ========================================

// An image part -> an Anthropic image block (base64 source for data: URLs, url source else).
Result<Json> image_to_anthropic(const ContentPart& part, const std::string& param) {
  const std::string& url = part.image_url;
  std::string scheme = ascii_lower(std::string_view(url).substr(0, url.find(':') + 1));
  if (scheme == "data:") {
    size_t comma = url.find(',');
    if (comma == std::string::npos) {
      return invalid(param, param + " is not a valid data: URL (no comma), as " + kVendor +
                                " needs for a base64 image");
    }
    std::string meta = ascii_lower(std::string_view(url).substr(5, comma - 5));
    if (meta.size() < 7 || meta.compare(meta.size() - 7, 7, ";base64") != 0) {
      return invalid(param, param + ": a data: URL must be base64-encoded for " + kVendor);
    }
    std::string media_type = meta.substr(0, meta.find(';'));
    if (media_type == "image/jpg") media_type = "image/jpeg";
    if (!is_anthropic_image_type(media_type)) {
      return invalid(param, param + ": image type " + echo(media_type) + " is not supported by " +
                                kVendor + " (use image/jpeg, image/png, image/gif or image/webp)");
    }
    if (comma + 1 == url.size()) {
      return invalid(param, param + ": the data: URL is empty; " + kVendor + " needs image data");
    }
    return Json{
        {"type", "image"},
        {"source",
         {{"type", "base64"}, {"media_type", media_type}, {"data", url.substr(comma + 1)}}}};
  }
  // https only, as the message says: a plain http: URL would have Anthropic fetch the image
  // unencrypted, and keel would forward what it says it refuses.
  if (scheme == "https:") {
    return Json{{"type", "image"}, {"source", {{"type", "url"}, {"url", url}}}};
  }
  return invalid(param,
                 param + ": only https: and base64 data: image URLs are supported by " + kVendor);
}

// Content parts -> text and image blocks; empty text parts are dropped (Anthropic rejects them).
Status append_blocks(const Message& message, const std::string& param, Json& blocks) {
  for (size_t i = 0; i < message.content.size(); ++i) {
    const ContentPart& part = message.content[i];
    if (part.type == ContentPart::Type::kText) {
      if (!part.text.empty()) blocks.push_back({{"type", "text"}, {"text", part.text}});
    } else {
      auto image = image_to_anthropic(part, indexed(param, i) + ".image_url");
      if (!image) return image.error();
      blocks.push_back(std::move(*image));
    }
  }
  return Status::Ok();
}

bool has_image(const Message& message) {
  return std::any_of(message.content.begin(), message.content.end(),
                     [](const ContentPart& p) { return p.type == ContentPart::Type::kImage; });
}

// A user turn's content: a string when the client sent one, else blocks.
Result<Json> user_content(const Message& message, const std::string& path) {
  if (message.content_is_string && !has_image(message)) return Json(message.text());
  Json blocks = Json::array();
  if (auto st = append_blocks(message, path + ".content", blocks); !st.ok()) return st.error();
  return blocks;
}

Result<Json> tool_result_block(const Message& message, const std::string& path) {
  Json block = {{"type", "tool_result"}, {"tool_use_id", anthropic_tool_id(message.tool_call_id)}};
  if (message.content_is_string && !has_image(message)) {
    std::string text = message.text();
    if (!text.empty()) block["content"] = std::move(text);
  } else {
    Json blocks = Json::array();
    if (auto st = append_blocks(message, path + ".content", blocks); !st.ok()) return st.error();
    if (!blocks.empty()) block["content"] = std::move(blocks);
  }
  if (message.is_error) block["is_error"] = true;
  return block;
}

// Anthropic's own reasoning parts, in order (another vendor's are not sent: Anthropic would
// refuse a thinking block it did not sign).
bool has_own_reasoning(const Message& message) {
  return std::any_of(message.reasoning.begin(), message.reasoning.end(),
                     [](const ReasoningPart& p) { return p.vendor == kVendorAnthropic; });
}

Result<Json> assistant_content(const Message& message, const std::string& path) {
  const bool reasoning = has_own_reasoning(message);
  if (message.tool_calls.empty() && message.content_is_string && !has_image(message) &&
      !reasoning) {
    return Json(message.text());
  }
  Json blocks = Json::array();
  for (const ReasoningPart& part : message.reasoning) {
    if (part.vendor == kVendorAnthropic) blocks.push_back(reasoning_block(part));
  }
  if (auto st = append_blocks(message, path + ".content", blocks); !st.ok()) return st.error();
  for (size_t i = 0; i < message.tool_calls.size(); ++i) {
    const ToolCall& call = message.tool_calls[i];
    std::string param = indexed(path + ".tool_calls", i) + ".function.arguments";
    Json input = Json::object();
    bool blank = std::all_of(call.arguments.begin(), call.arguments.end(), [](char c) {
      return c == ' ' || c == '\n' || c == '\t' || c == '\r';
    });
    if (!blank) {
      auto parsed = parse_json(call.arguments, ErrorCode::kInvalidArgument, "arguments");
      if (!parsed || !parsed->is_object()) {
        return invalid(param, "tool call " + echo(call.id) + " (" + call.name +
                                  ") has arguments that " + "are not a JSON object; " + kVendor +
                                  " needs an object");
      }
      input = std::move(*parsed);
    }
    blocks.push_back({{"type", "tool_use"},
                      {"id", anthropic_tool_id(call.id)},
                      {"name", call.name},
                      {"input", std::move(input)}});
  }
  return blocks;
}

Result<Json> system_to_anthropic(const ChatRequest& req) {
  std::vector<const Message*> systems;
  for (const auto& message : req.messages) {
    if (message.role == Role::kSystem || message.role == Role::kDeveloper) {
      systems.push_back(&message);
    }
  }
  if (systems.empty()) return Json(nullptr);
  if (systems.size() == 1 && systems[0]->content_is_string) {
    std::string text = systems[0]->text();
    return text.empty() ? Json(nullptr) : Json(std::move(text));
  }
  Json blocks = Json::array();
  for (const Message* message : systems) {
    for (const auto& part : message->content) {
      if (part.type == ContentPart::Type::kText && !part.text.empty()) {
        blocks.push_back({{"type", "text"}, {"text", part.text}});
      }
    }
  }
  return blocks.empty() ? Json(nullptr) : blocks;
}

Result<Json> messages_to_anthropic(const ChatRequest& req) {
  Json messages = Json::array();
  const auto& native = req.messages;
  for (size_t i = 0; i < native.size();) {
    const Message& message = native[i];
    std::string path = indexed("messages", i);
    switch (message.role) {
      case Role::kSystem:
      case Role::kDeveloper:
        ++i;
        break;
      case Role::kUser: {
        auto content = user_content(message, path);
        if (!content) return content.error();
        messages.push_back({{"role", "user"}, {"content", std::move(*content)}});
        ++i;
        break;
      }
      case Role::kAssistant: {
        auto content = assistant_content(message, path);
        if (!content) return content.error();
        messages.push_back({{"role", "assistant"}, {"content", std::move(*content)}});
        ++i;
        break;
      }
      case Role::kTool: {
        Json blocks = Json::array();
        for (; i < native.size() && native[i].role == Role::kTool; ++i) {
          auto block = tool_result_block(native[i], indexed("messages", i));
          if (!block) return block.error();
          blocks.push_back(std::move(*block));
        }
        if (i < native.size() && native[i].role == Role::kUser) {  // joins the results' turn
          const Message& user = native[i];
          if (user.content_is_string && !has_image(user)) {
            if (!user.text().empty()) blocks.push_back({{"type", "text"}, {"text", user.text()}});
          } else if (auto st = append_blocks(user, indexed("messages", i) + ".content", blocks);
                     !st.ok()) {
            return st.error();
          }
          ++i;
        }
        messages.push_back({{"role", "user"}, {"content", std::move(blocks)}});
        break;
      }
    }
  }
  if (messages.empty()) {
    return invalid("messages", std::string(kVendor) +
                                   " needs at least one user or assistant message besides the "
                                   "system prompt");
  }
  return messages;
}

Result<Json> tools_to_anthropic(const ChatRequest& req) {
  Json tools = Json::array();
  for (size_t i = 0; i < req.tools.size(); ++i) {
    const ToolSpec& tool = req.tools[i];
    std::string param = indexed("tools", i) + ".function.parameters";
    Json schema = tool.parameters;
    if (schema.is_null() || (schema.is_object() && schema.empty())) {
      schema = {{"type", "object"}, {"properties", Json::object()}};
    }
    if (!schema.is_object()) return invalid(param, param + " must be a JSON Schema object");
    if (!schema.contains("type")) schema["type"] = "object";
    if (schema["type"] != "object") {
      return invalid(param, param + ": " + kVendor + " needs tool parameters of type object");
    }
    if (tool.strict.value_or(false)) {
      auto strict = anthropic_strict_schema(schema);
      if (!strict) {
        return invalid(param, param + ": this strict schema cannot be expressed for " +
                                  std::string(kVendor) + ": " + strict.error().message);
      }
      schema = std::move(*strict);
    }
    Json wire = {{"name", tool.name}};
    if (!tool.description.empty()) wire["description"] = tool.description;
    wire["input_schema"] = std::move(schema);
    if (tool.strict) wire["strict"] = *tool.strict;
    tools.push_back(std::move(wire));
  }
  return tools;
}

Json tool_choice_to_anthropic(const ChatRequest& req) {
  Json choice;
  switch (req.tool_choice.mode) {
    case ToolChoice::Mode::kAuto:
      choice = {{"type", "auto"}};
      break;
    case ToolChoice::Mode::kRequired:
      choice = {{"type", "any"}};
      break;
    case ToolChoice::Mode::kNamed:
      choice = {{"type", "tool"}, {"name", req.tool_choice.name}};
      break;
    case ToolChoice::Mode::kNone:
      return {{"type", "none"}};
    case ToolChoice::Mode::kUnset:
      if (req.parallel_tool_calls == false) choice = {{"type", "auto"}};
      break;
  }
  if (!choice.is_null() && req.parallel_tool_calls == false) {
    choice["disable_parallel_tool_use"] = true;
  }
  return choice;
}

// tools and tool_choice. JSON mode (response_format json_object), which Anthropic has no switch
// for, is a tool of its own whose input is any JSON object, forced (or, beside the client's
// tools under tool_choice auto, one of the tools the model must choose from); the answer's
// decoder turns its input into the message's text (anthropic_json_response_from_wire).
Status tools_and_choice_to_anthropic(const ChatRequest& req, Json& wire) {
  const bool json_mode = anthropic_emulates_json_object(req);
  if (req.tools.empty() && !json_mode) return Status::Ok();
  auto tools = tools_to_anthropic(req);
  if (!tools) return tools.error();
  Json choice = tool_choice_to_anthropic(req);
  if (json_mode) {
    for (const auto& tool : req.tools) {
      if (tool.name == kJsonToolName) {
        return invalid("response_format",
                       std::string("response_format json_object is emulated for ") + kVendor +
                           " with a tool named " + kJsonToolName +
                           ", and a tool of yours has "
                           "that name");
      }
    }
    tools->push_back({{"name", kJsonToolName},
                      {"description",
                       "Give your whole answer as this tool's input: one JSON object, in the "
                       "shape the instructions ask for."},
                      {"input_schema", {{"type", "object"}, {"additionalProperties", true}}}});
    const bool choose = !req.tools.empty() && (req.tool_choice.mode == ToolChoice::Mode::kAuto ||
                                               req.tool_choice.mode == ToolChoice::Mode::kUnset);
    choice = choose ? Json{{"type", "any"}} : Json{{"type", "tool"}, {"name", kJsonToolName}};
    if (req.parallel_tool_calls == false) choice["disable_parallel_tool_use"] = true;
  }
  wire["tools"] = std::move(*tools);
  if (!choice.is_null()) wire["tool_choice"] = std::move(choice);
  return Status::Ok();
}

// Passthrough fields an OpenAI client may have sent that Anthropic cannot honour.
Status check_passthrough(const Json& passthrough, Json& wire) {
  if (!passthrough.is_object()) return Status::Ok();
  auto set = [&](const char* key) -> const Json* { return member(passthrough, key); };
  if (const Json* n = set("n"); n && as_int64(*n) != std::optional<int64_t>(1)) {
    return unsupported("n", "n other than 1");
  }
  if (const Json* logprobs = set("logprobs"); logprobs && *logprobs != Json(false)) {
    return unsupported("logprobs", "logprobs");
  }
  if (const Json* top = set("top_logprobs"); top && as_int64(*top) != std::optional<int64_t>(0)) {
    return unsupported("top_logprobs", "top_logprobs");
  }
  if (const Json* bias = set("logit_bias"); bias && !(bias->is_object() && bias->empty())) {
    return unsupported("logit_bias", "logit_bias");
  }
  if (const Json* modalities = set("modalities")) {
    bool text_only =
        modalities->is_array() && std::all_of(modalities->begin(), modalities->end(),
                                              [](const Json& m) { return m == Json("text"); });
    if (!text_only) return unsupported("modalities", "modalities other than text");
  }
  for (const char* key : {"audio", "web_search_options", "functions", "function_call"}) {
    if (set(key)) return unsupported(key, key);
  }
  if (const Json* top_k = set("top_k")) {
    auto k = as_int64(*top_k);
    if (!k || *k < 0) {
      return invalid("top_k", std::string("top_k must be a non-negative integer for ") + kVendor);
    }
    wire["top_k"] = *k;
  }
  return Status::Ok();
}

Status sampling_to_anthropic(const ChatRequest& req, Json& wire) {
  const Sampling& sampling = req.sampling;
  if (sampling.seed) return unsupported("seed", "seed");
  if (sampling.presence_penalty && *sampling.presence_penalty != 0) {
    return unsupported("presence_penalty", "presence_penalty");
  }
  if (sampling.frequency_penalty && *sampling.frequency_penalty != 0) {
    return unsupported("frequency_penalty", "frequency_penalty");
  }
  if (sampling.temperature) {
    if (*sampling.temperature > 1) {
      return invalid("temperature", std::string("temperature above 1 is not supported by ") +
                                        kVendor + " (its range is 0 to 1)");
    }
    wire["temperature"] = *sampling.temperature;
  }
  if (sampling.top_p) wire["top_p"] = *sampling.top_p;
  if (!sampling.stop.empty()) wire["stop_sequences"] = sampling.stop;
  return Status::Ok();
}

Status response_format_to_anthropic(const ChatRequest& req, Json& wire) {
  if (!req.response_format) return Status::Ok();
  const ResponseFormat& format = *req.response_format;
  switch (format.type) {
    case ResponseFormat::Type::kText:
    case ResponseFormat::Type::kJsonObject:  // a forced tool (tools_and_choice_to_anthropic)
      return Status::Ok();
    case ResponseFormat::Type::kJsonSchema: {
      if (!format.schema.is_object()) {
        return unsupported("response_format.json_schema.schema",
                           "response_format json_schema without a schema");
      }
      auto schema = anthropic_strict_schema(format.schema);
      if (!schema) {
        return invalid("response_format.json_schema.schema",
                       "response_format json_schema: this schema cannot be expressed for " +
                           std::string(kVendor) + ": " + schema.error().message);
      }
      wire["output_config"] = {{"format", {{"type", "json_schema"}, {"schema", *schema}}}};
      return Status::Ok();
    }
  }
  return Status::Ok();
}

// ---- the SDK's strict-schema transformation (lib/transform-json-schema.js) ----------------

bool is_primitive(const Json& value) { return !value.is_object() && !value.is_array(); }

bool supported_string_format(const Json& format) {
  static const std::set<std::string, std::less<>> kFormats = {
      "date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"};
  return format.is_string() && kFormats.count(str(format)) > 0;
}

// Removes and returns `schema[key]` (a null Json when absent).
Json pop(Json& schema, const char* key) {
  auto it = schema.find(key);
  if (it == schema.end()) return Json();
  Json value = std::move(*it);
  schema.erase(it);
  return value;
}

Result<Json> strict_schema(Json schema, int depth) {
  if (depth > kMaxJsonDepth) return Error(ErrorCode::kInvalidArgument, "schema nests too deep");
  if (!schema.is_object()) {
    return Error(ErrorCode::kInvalidArgument,
                 std::string("a schema must be an object, got ") + describe(schema));
  }
  Json strict = Json::object();
  // $defs first, so that a root $ref keeps its (transformed) definitions.
  if (schema.contains("$defs")) {
    Json defs = pop(schema, "$defs");
    Json strict_defs = Json::object();
    if (defs.is_object()) {
      for (auto& [name, def] : defs.items()) {
        auto transformed = strict_schema(def, depth + 1);
        if (!transformed) return transformed.error();
        append_member(strict_defs, name, std::move(*transformed));  // keys are unique
      }
    }
    strict["$defs"] = std::move(strict_defs);
  }
  if (schema.contains("$ref")) {
    strict["$ref"] = pop(schema, "$ref");
    return strict;
  }
  if (auto it = schema.find("enum"); it != schema.end() && it->is_array() && !it->empty() &&
                                     std::all_of(it->begin(), it->end(), is_primitive)) {
    strict["enum"] = pop(schema, "enum");
  }
  if (auto it = schema.find("const"); it != schema.end() && is_primitive(*it)) {
    strict["const"] = pop(schema, "const");
  }
  const bool has_literals = strict.contains("enum") || strict.contains("const");
  const bool has_type = schema.contains("type");
  Json declared_type = pop(schema, "type");
  Json any_of = pop(schema, "anyOf");
  Json one_of = pop(schema, "oneOf");
  Json all_of = pop(schema, "allOf");
  pop(schema, "$schema");
  auto transform_each = [&](const Json& variants, const char* key) -> Status {
    Json out = Json::array();
    for (const auto& variant : variants) {
      auto transformed = strict_schema(variant, depth + 1);
      if (!transformed) return transformed.error();
      out.push_back(std::move(*transformed));
    }
    strict[key] = std::move(out);
    return Status::Ok();
  };
  if (any_of.is_array()) {
    if (auto st = transform_each(any_of, "anyOf"); !st.ok()) return st.error();
  } else if (one_of.is_array()) {
    if (auto st = transform_each(one_of, "anyOf"); !st.ok()) return st.error();
  } else if (all_of.is_array()) {
    if (auto st = transform_each(all_of, "allOf"); !st.ok()) return st.error();
  } else if (!has_literals) {
    if (!has_type) {
      return Error(ErrorCode::kInvalidArgument,
                   "JSON schema must have a type defined if anyOf/oneOf/allOf/enum/const are "
                   "not used");
    }
    strict["type"] = declared_type;
  }
  const Json type = has_literals ? Json() : declared_type;
  // The description keeps its place even when only the hint below makes one, so that keel's own
  // output, translated again, comes out the same (the fuzzer's fixed point): a null placeholder,
  // dropped at the end when nothing fills it.
  const bool had_description = schema.contains("description");
  strict["description"] = had_description ? pop(schema, "description") : Json();
  if (schema.contains("title")) strict["title"] = pop(schema, "title");
  if (type == "object") {
    Json properties = pop(schema, "properties");
    if (!properties.is_null() && !properties.is_object()) {
      return Error(ErrorCode::kInvalidArgument, "properties must be an object");
    }
    Json strict_properties = Json::object();
    if (properties.is_object()) {
      for (auto& [key, property] : properties.items()) {
        auto transformed = strict_schema(property, depth + 1);
        if (!transformed) return transformed.error();
        append_member(strict_properties, key, std::move(*transformed));  // keys are unique
      }
    }
    strict["properties"] = std::move(strict_properties);
    pop(schema, "additionalProperties");
    strict["additionalProperties"] = false;
    if (schema.contains("required")) strict["required"] = pop(schema, "required");
  } else if (type == "string") {
    if (schema.contains("format")) {
      Json format = pop(schema, "format");
      if (supported_string_format(format)) {
        strict["format"] = std::move(format);
      } else {
        schema["format"] = std::move(format);
      }
    }
  } else if (type == "array") {
    if (schema.contains("items")) {
      auto items = strict_schema(pop(schema, "items"), depth + 1);
      if (!items) return items.error();
      strict["items"] = std::move(*items);
    }
    if (schema.contains("minItems")) {
      Json min_items = pop(schema, "minItems");
      if (min_items == Json(0) || min_items == Json(1)) {
        strict["minItems"] = std::move(min_items);
      } else {
        schema["minItems"] = std::move(min_items);
      }
    }
  }
  if (!schema.empty()) {  // what Anthropic does not enforce becomes a hint in the description
    std::string hint = "{";
    bool first = true;
    for (const auto& [key, value] : schema.items()) {
      if (!first) hint += ", ";
      first = false;
      hint += key + ": " + value.dump();
    }
    hint += "}";
    std::string description = strict.contains("description") && strict["description"].is_string()
                                  ? str(strict["description"]) + "\n\n"
                                  : std::string();
    strict["description"] = description + hint;
  } else if (!had_description) {
    strict.erase("description");
  }
  return strict;
}

// ==== from Anthropic: Message / stream events -> native ======================================

FinishReason finish_from_stop_reason(const std::string& reason, bool has_tool_calls) {
  if (reason == "end_turn" || reason == "stop_sequence" || reason == "pause_turn") {
    return FinishReason::kStop;
  }
  if (reason == "max_tokens" || reason == "model_context_window_exceeded") {
    return FinishReason::kLength;
  }
  if (reason == "tool_use") return FinishReason::kToolCalls;
  if (reason == "refusal") return FinishReason::kContentFilter;
  return has_tool_calls ? FinishReason::kToolCalls : FinishReason::kStop;
}

// Reads a token count that may be absent or null (keeps `out`); false when it is not a number.
bool read_count(const Json& usage, const char* key, int64_t& out, bool* seen = nullptr) {
  const Json* value = member(usage, key);
  if (!value) return true;
  if (!value->is_number()) return false;
  auto count = as_int64(*value);
  if (!count) {
    double d = value->get<double>();
    if (!std::isfinite(d)) return false;
    count = static_cast<int64_t>(std::clamp(d, 0.0, 9.0e18));
  }
  out = std::max<int64_t>(0, *count);
  if (seen) *seen = true;
  return true;
}

Usage native_usage(int64_t input, int64_t cache_read, bool cache_read_seen, int64_t cache_creation,
                   bool cache_creation_seen, int64_t output) {
  Usage usage;
  input = clamp_tokens(input);
  cache_read = clamp_tokens(cache_read);
  cache_creation = clamp_tokens(cache_creation);
  output = clamp_tokens(output);
  usage.prompt_tokens = input + cache_read + cache_creation;
  usage.completion_tokens = output;
  usage.total_tokens = usage.prompt_tokens + output;
  if (cache_read_seen) usage.cached_tokens = cache_read;
  if (cache_creation_seen) usage.cache_creation_tokens = cache_creation;
  usage.present = true;
  return usage;
}

ErrorCode code_for_error_type(const std::string& type) {
  if (type == "overloaded_error") return ErrorCode::kUnavailable;
  if (type == "rate_limit_error") return ErrorCode::kResourceExhausted;
  if (type == "timeout_error") return ErrorCode::kDeadlineExceeded;
  return ErrorCode::kBadGateway;
}

// An Anthropic {"type": "error", "error": {...}} payload -> keel's error.
Error upstream_error(const Json& body) {
  const Json* error = member(body, "error");
  std::string type = error ? optional_string(*error, "type") : std::string();
  std::string message = error ? optional_string(*error, "message") : std::string();
  message = truncate_utf8(message.empty() ? std::string("(no message)") : message,
                          kMaxUpstreamMessageBytes);
  std::string label = type.empty() ? std::string() : " (" + truncate_utf8(type, 64) + ")";
  Error out(code_for_error_type(type), "upstream error" + label + ": " + message);
  if (type == "overloaded_error") out.type_code = kOverloadedCode;
  return out;
}

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

// A content block index in a stream event.
std::optional<int> block_index(const Json& event) {
  const Json* index = member(event, "index");
  if (!index) return std::nullopt;
  auto value = as_int64(*index);
  if (!value || *value < 0 || *value > kMaxBlockIndex) return std::nullopt;
  return static_cast<int>(*value);
}

}  // namespace

// ==== public: front door =====================================================================

namespace {
Result<ChatRequest> parse_messages_body(std::string_view body, bool counting) {
  try {
    auto json = parse_json(body, ErrorCode::kInvalidArgument, "request body");
    if (!json) return json.error();
    ChatRequest req;
    if (auto st = parse_messages_object(*json, req, counting); !st.ok()) return st.error();
    return req;
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInvalidArgument,
                 std::string("could not read the request: ") + e.what());
  }
}
}  // namespace

Result<ChatRequest> parse_messages_request(std::string_view body) {
  return parse_messages_body(body, false);
}

Result<ChatRequest> parse_count_tokens_request(std::string_view body) {
  return parse_messages_body(body, true);
}

Json messages_response_to_wire(const ChatResponse& resp, const std::string& model) {
  Json wire = message_envelope(resp.id, model);
  Json& content = wire["content"];
  for (const ReasoningPart& part : resp.message.reasoning) {
    // Another vendor's opaque part alone (a Gemini call's signature) says nothing to the client.
    if (part.vendor == kVendorAnthropic || !part.text.empty()) {
      content.push_back(reasoning_block(part));
    }
  }
  std::string text = resp.message.text();
  if (!text.empty()) {
    Json block = text_block(text);
    if (!resp.message.citations.empty()) {
      block["citations"] = Json::array();
      for (const Citation& citation : resp.message.citations) {
        block["citations"].push_back(citation_to_anthropic(citation));
      }
    }
    content.push_back(std::move(block));
  }
  for (const auto& call : resp.message.tool_calls) {
    Json input = Json::object();
    if (auto parsed = parse_json(call.arguments, ErrorCode::kInvalidArgument, "arguments");
        parsed && parsed->is_object()) {
      input = std::move(*parsed);
    }
    content.push_back(tool_use_block(call.id, call.name, std::move(input)));
  }
  wire["stop_reason"] =
      stop_reason_for(resp.finish, !resp.message.tool_calls.empty(), resp.stop_sequence);
  if (!resp.stop_sequence.empty()) wire["stop_sequence"] = resp.stop_sequence;
  wire["usage"] = usage_to_anthropic(resp.usage);
  return wire;
}

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

const char* anthropic_error_type(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kPayloadTooLarge:   // Anthropic's docs say request_too_large; SDK 1.14's
    case ErrorCode::kUnsupportedMedia:  // ErrorType has no such value.
      return "invalid_request_error";
    case ErrorCode::kUnauthenticated:
      return "authentication_error";
    case ErrorCode::kPermissionDenied:
      return "permission_error";
    case ErrorCode::kNotFound:
      return "not_found_error";
    case ErrorCode::kResourceExhausted:
      return "rate_limit_error";
    case ErrorCode::kUnavailable:
      return "overloaded_error";
    case ErrorCode::kDeadlineExceeded:
      return "timeout_error";
    case ErrorCode::kInternal:
    case ErrorCode::kBadGateway:
    case ErrorCode::kCancelled:
      return "api_error";
  }
  return "api_error";
}

Json anthropic_error_to_wire(const Error& error, const std::string& request_id) {
  std::string message = error.message.empty() ? error_code_name(error.code) : error.message;
  // overloaded_error (HTTP 529 to Anthropic's SDKs, retried as an overload) only for an
  // overload: keel's own, or one an upstream named. Anything else unavailable (a connection
  // lost, an upstream that closed mid-stream, every target failed) is an api_error.
  const char* type = error.code == ErrorCode::kUnavailable && error.type_code != kOverloadedCode
                         ? "api_error"
                         : anthropic_error_type(error.code);
  return {{"type", "error"},
          {"error", {{"type", type}, {"message", std::move(message)}}},
          {"request_id", request_id}};
}

// ==== public: toward Anthropic ===============================================================

std::string anthropic_tool_id(std::string_view id) {
  auto valid = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  };
  if (!id.empty() && std::all_of(id.begin(), id.end(), valid)) return std::string(id);
  std::string out;
  out.reserve(id.size() + 9);
  for (char c : id) out += valid(c) ? c : '_';
  uint32_t hash = 2166136261u;  // FNV-1a
  for (char c : id) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 16777619u;
  }
  char suffix[10];
  std::snprintf(suffix, sizeof suffix, "_%08x", hash);
  return out + suffix;
}

namespace {
// thinking from the native reasoning config (docs/dev.md's table maps an effort to a budget).
// A budget must stay below max_tokens: without max_tokens, max_tokens becomes the budget plus
// the default; a budget from an effort shrinks to fit a given max_tokens.
Status thinking_to_anthropic(const ReasoningConfig& config, bool max_tokens_given, Json& wire) {
  using Mode = ReasoningConfig::Mode;
  Mode mode = config.mode;
  if (mode == Mode::kUnset && !config.effort.empty()) {
    mode = config.effort == "none" ? Mode::kDisabled : Mode::kEnabled;
  }
  Json thinking;
  switch (mode) {
    case Mode::kUnset:
      return Status::Ok();
    case Mode::kDisabled:
      wire["thinking"] = {{"type", "disabled"}};
      return Status::Ok();
    case Mode::kAdaptive:
      thinking = {{"type", "adaptive"}};
      break;
    case Mode::kEnabled: {
      int64_t budget = config.budget_tokens.value_or(reasoning_budget_for_effort(config.effort));
      budget = std::max<int64_t>(budget, 1024);
      if (!max_tokens_given) wire["max_tokens"] = budget + kAnthropicDefaultMaxTokens;
      int64_t max_tokens = wire["max_tokens"].get<int64_t>();
      if (budget >= max_tokens) {
        if (config.budget_tokens) {
          return invalid("reasoning", "a thinking budget of " + std::to_string(budget) +
                                          " tokens needs max_tokens above it for " + kVendor);
        }
        if (max_tokens <= 1024) {
          return invalid("max_tokens", std::string("reasoning needs max_tokens above 1024 for ") +
                                           kVendor + " (its smallest thinking budget)");
        }
        budget = max_tokens - 1;
      }
      thinking = {{"type", "enabled"}, {"budget_tokens", budget}};
      break;
    }
  }
  if (!config.summary.empty()) {
    thinking["display"] = config.summary == "none" ? "omitted" : "summarized";
  }
  wire["thinking"] = std::move(thinking);
  return Status::Ok();
}
}  // namespace

Result<Json> anthropic_strict_schema(const Json& schema) {
  try {
    return strict_schema(schema, 0);
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInvalidArgument, std::string("invalid schema: ") + e.what());
  }
}

Result<Json> chat_request_to_anthropic(const ChatRequest& req, const std::string& upstream_model) {
  try {
    Json wire = Json::object();
    wire["model"] = upstream_model;
    wire["max_tokens"] = req.sampling.max_tokens.value_or(kAnthropicDefaultMaxTokens);
    auto system = system_to_anthropic(req);
    if (!system) return system.error();
    if (!system->is_null()) wire["system"] = std::move(*system);
    auto messages = messages_to_anthropic(req);
    if (!messages) return messages.error();
    wire["messages"] = std::move(*messages);
    if (auto st = tools_and_choice_to_anthropic(req, wire); !st.ok()) return st.error();
    if (auto st = sampling_to_anthropic(req, wire); !st.ok()) return st.error();
    if (auto st = response_format_to_anthropic(req, wire); !st.ok()) return st.error();
    if (auto st = check_passthrough(req.passthrough, wire); !st.ok()) return st.error();
    if (auto st = thinking_to_anthropic(req.reasoning, req.sampling.max_tokens.has_value(), wire);
        !st.ok()) {
      return st.error();
    }
    if (req.stream) wire["stream"] = true;
    if (!req.user.empty()) wire["metadata"] = {{"user_id", req.user}};
    return wire;
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInternal,
                 std::string("could not build the Anthropic request: ") + e.what());
  }
}

// ==== public: from Anthropic =================================================================

Result<Json> chat_request_to_anthropic_count(const ChatRequest& req,
                                            const std::string& upstream_model) {
  auto wire = chat_request_to_anthropic(req, upstream_model);
  if (!wire) return wire;
  // The fields of MessageCountTokensParams (@anthropic-ai/sdk) keel sends; the API refuses
  // others (max_tokens, stream, sampling, metadata).
  Json count = Json::object();
  for (const char* key :
       {"model", "messages", "system", "tools", "tool_choice", "thinking", "output_config"}) {
    if (auto it = wire->find(key); it != wire->end()) count[key] = std::move(*it);
  }
  return count;
}

Result<int64_t> anthropic_count_from_wire(std::string_view body) {
  auto json = try_parse_json(body);
  int64_t count = 0;
  if (!json || !json->is_object() || !member(*json, "input_tokens") ||
      !read_count(*json, "input_tokens", count)) {
    return bad_gateway("upstream returned an invalid token count (no input_tokens)");
  }
  return count;
}

namespace {
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

Result<std::vector<ChatEvent>> anthropic_response_from_wire(std::string_view body) {
  return response_from_wire(body, false);
}

Result<std::vector<ChatEvent>> anthropic_json_response_from_wire(std::string_view body) {
  return response_from_wire(body, true);
}

bool anthropic_emulates_json_object(const ChatRequest& req) {
  // Under tool_choice required or a named tool the answer is a tool call, JSON already.
  return req.response_format && req.response_format->type == ResponseFormat::Type::kJsonObject &&
         req.tool_choice.mode != ToolChoice::Mode::kRequired &&
         req.tool_choice.mode != ToolChoice::Mode::kNamed;
}

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
      out.push_back(
          ChatEvent::usage_event(native_usage(input_tokens_, cache_read_tokens_, cache_read_seen_,
                                              cache_creation_tokens_, cache_creation_seen_,
                                              output_tokens_)));
    }
    ended_ = true;
    done = true;
    return Status::Ok();
  } catch (const std::exception& e) {
    return bad_gateway(prefix + e.what());
  }
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

// ==== models ================================================================================

Json model_to_anthropic(const std::string& name, int64_t created) {
  // RFC 3339, as ModelInfo.created_at is.
  std::time_t seconds = static_cast<std::time_t>(created);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return {{"type", "model"},
          {"id", name},
          {"display_name", name},
          {"created_at", stamp},
          {"capabilities", nullptr},
          {"deprecated_at", nullptr},
          {"lifecycle", "active"},
          {"line", nullptr},
          {"max_input_tokens", nullptr},
          {"max_tokens", nullptr},
          {"retires_at", nullptr}};
}

Json models_to_anthropic(const std::vector<std::string>& names, int64_t created) {
  Json data = Json::array();
  for (const auto& name : names) data.push_back(model_to_anthropic(name, created));
  return {{"data", data},
          {"has_more", false},
          {"first_id", names.empty() ? Json(nullptr) : Json(names.front())},
          {"last_id", names.empty() ? Json(nullptr) : Json(names.back())}};
}

}  // namespace keel
