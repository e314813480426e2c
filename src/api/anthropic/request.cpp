// Anthropic front door: a MessageCreateParams body -> native ChatRequest (anthropic.h).
// None of the functions that read untrusted bytes throws: JSON is depth-checked before it is
// parsed, every value's type is checked before it is read, and each public function also
// catches at its own boundary as a last line of defence.
//
// Front door (parse_messages_request), decisions:
//  - thinking ({type: enabled, budget_tokens}, adaptive, disabled; display) is the native
//    reasoning config: Anthropic upstreams get it back as it came, others in their own terms
//    (docs/dev.md's table). Other thinking types are a 400.
//  - Rejected with a 400 naming the field, because keel would otherwise answer a different
//    question: container, mcp_servers, compaction, thread; tools other than custom tools (server
//    tools such as web_search_*, bash_*, text_editor_*); content blocks other than text, image,
//    document, tool_use, tool_result (search results, server tool blocks); image sources of
//    type file (keel has no Files API); document sources other than a base64 PDF or text (url,
//    content, file); max_tokens 0 (cache pre-warming).
//  - document blocks (user turns) are native document parts with their title, context and
//    citations config, which go back to Anthropic as they came; docs/dev.md "Documents".
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

constexpr const char* kOutputFormatName = "output";

Error required(const std::string& param) { return invalid(param, param + " is required"); }

// Anthropic's dotted paths: messages.0.content.1 (native requests' paths use indexed(), as
// their indices are the OpenAI client's).
std::string dotted(const std::string& path, size_t index) {
  return path + "." + std::to_string(index);
}

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

// An optional string member that may also be null (title, context): "" when absent or null.
Status read_nullable_string(const Json& block, const std::string& path, const char* key,
                            std::string& out) {
  const Json* value = member(block, key);
  if (!value || value->is_null()) return Status::Ok();
  if (!value->is_string()) return wrong_type(path + "." + key, "a string or null", *value);
  out = str(*value);
  return Status::Ok();
}

// DocumentBlockParam: source Base64PDFSource {type: base64, media_type: application/pdf, data}
// or PlainTextSource {type: text, media_type: text/plain, data}; title, context, citations
// ({enabled?}) kept for Anthropic upstreams. URL and content sources would have keel fetch or
// assemble a document: a 400 naming them.
Status parse_document_block(const Json& block, const std::string& path, ContentPart& out) {
  const Json* source = member(block, "source");
  if (!source) return required(path + ".source");
  std::string type;
  if (auto st = read_type(*source, path + ".source", type); !st.ok()) return st;
  const char* expected = type == "base64" ? "application/pdf" : "text/plain";
  if (type != "base64" && type != "text") {
    return invalid(path + ".source.type", path + ".source.type " + echo(type) +
                                              " is not supported: send the document as a "
                                              "base64 PDF or as text");
  }
  const Json* media_type = member(*source, "media_type");
  if (!media_type) return required(path + ".source.media_type");
  if (!media_type->is_string()) {
    return wrong_type(path + ".source.media_type", "a string", *media_type);
  }
  if (str(*media_type) != expected) {
    return invalid(path + ".source.media_type", path + ".source.media_type " +
                                                    echo(str(*media_type)) + " is not " + expected +
                                                    " (source type " + type + ")");
  }
  const Json* data = member(*source, "data");
  if (!data) return required(path + ".source.data");
  if (!data->is_string()) return wrong_type(path + ".source.data", "a string", *data);
  if (str(*data).empty()) return invalid(path + ".source.data", path + ".source.data is empty");
  auto document = std::make_shared<Document>();
  document->media_type = expected;
  document->data = str(*data);
  document->is_text = type == "text";
  if (auto st = read_nullable_string(block, path, "title", document->title); !st.ok()) return st;
  if (auto st = read_nullable_string(block, path, "context", document->context); !st.ok()) {
    return st;
  }
  if (const Json* citations = member(block, "citations"); citations && !citations->is_null()) {
    if (!citations->is_object()) return wrong_type(path + ".citations", "an object", *citations);
    document->citations = *citations;
  }
  out.type = ContentPart::Type::kDocument;
  out.document = std::move(document);
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
    } else if (type == "document") {
      if (auto st = parse_document_block(block, block_path, part); !st.ok()) return st;
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

}  // namespace keel
