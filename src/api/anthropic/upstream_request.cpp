// Toward an Anthropic upstream: native ChatRequest -> MessageCreateParams (anthropic.h).
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
//  - Documents: a PDF as a base64 source, text/plain as a text source, with title (or the
//    filename), context and citations; other media types are a 400 (docs/dev.md "Documents").
//  - Message `name`, image `detail` and empty text parts are dropped; tool_choice is sent only
//    with tools.
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

constexpr const char* kVendor = "provider kind anthropic";

Error unsupported(const std::string& param, const std::string& what) {
  return invalid(param, what + " is not supported by " + kVendor);
}

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

// A document part -> a document block: a PDF as a base64 source, text (an Anthropic client's, or
// another client's text/plain file, decoded) as a text source; title (an OpenAI client's
// filename when there is none), context and citations as they came. Other types: a 400.
Result<Json> document_to_anthropic(const Document& document, const std::string& param) {
  Json source;
  if (document.media_type == "application/pdf" && !document.is_text) {
    source = {{"type", "base64"}, {"media_type", document.media_type}, {"data", document.data}};
  } else if (document.media_type == "text/plain") {
    auto text = document_text(document);
    if (!text) return invalid(param, param + ": the document's data is not valid base64");
    source = {{"type", "text"}, {"media_type", document.media_type}, {"data", std::move(*text)}};
  } else {
    Error error = document_unsupported(document, kVendor);
    error.param = param;
    return error;
  }
  Json block = {{"type", "document"}, {"source", std::move(source)}};
  const std::string& title = document.title.empty() ? document.filename : document.title;
  if (!title.empty()) block["title"] = title;
  if (!document.context.empty()) block["context"] = document.context;
  if (!document.citations.is_null()) block["citations"] = document.citations;
  return block;
}

// Content parts -> text, image and document blocks; empty text parts are dropped (Anthropic
// rejects them).
Status append_blocks(const Message& message, const std::string& param, Json& blocks) {
  for (size_t i = 0; i < message.content.size(); ++i) {
    const ContentPart& part = message.content[i];
    if (part.type == ContentPart::Type::kText) {
      if (!part.text.empty()) blocks.push_back({{"type", "text"}, {"text", part.text}});
    } else if (part.type == ContentPart::Type::kDocument) {
      auto document = document_to_anthropic(*part.document, indexed(param, i));
      if (!document) return document.error();
      blocks.push_back(std::move(*document));
    } else {
      auto image = image_to_anthropic(part, indexed(param, i) + ".image_url");
      if (!image) return image.error();
      blocks.push_back(std::move(*image));
    }
  }
  return Status::Ok();
}

// True when the content has a part other than text (an image or a document): blocks, then.
bool has_media(const Message& message) {
  return std::any_of(message.content.begin(), message.content.end(),
                     [](const ContentPart& p) { return p.type != ContentPart::Type::kText; });
}

// A user turn's content: a string when the client sent one, else blocks.
Result<Json> user_content(const Message& message, const std::string& path) {
  if (message.content_is_string && !has_media(message)) return Json(message.text());
  Json blocks = Json::array();
  if (auto st = append_blocks(message, path + ".content", blocks); !st.ok()) return st.error();
  return blocks;
}

Result<Json> tool_result_block(const Message& message, const std::string& path) {
  Json block = {{"type", "tool_result"}, {"tool_use_id", anthropic_tool_id(message.tool_call_id)}};
  if (message.content_is_string && !has_media(message)) {
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
  if (message.tool_calls.empty() && message.content_is_string && !has_media(message) &&
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
          if (user.content_is_string && !has_media(user)) {
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

bool anthropic_emulates_json_object(const ChatRequest& req) {
  // Under tool_choice required or a named tool the answer is a tool call, JSON already.
  return req.response_format && req.response_format->type == ResponseFormat::Type::kJsonObject &&
         req.tool_choice.mode != ToolChoice::Mode::kRequired &&
         req.tool_choice.mode != ToolChoice::Mode::kNamed;
}

}  // namespace keel
