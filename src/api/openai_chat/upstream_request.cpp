// Toward an OpenAI-compatible upstream: native ChatRequest -> the chat body (openai_chat.h).
//
// Normalisations (a round trip parse -> to_wire is exact except for these; all are
// equivalent for OpenAI):
//  - A field set to null is treated as absent and not written back.
//  - `stop` with one sequence is written as a string, several as an array.
//  - `stream: false` is not written back; when streaming, stream_options is always
//    {"include_usage": true} (keel counts tokens).
//  - `max_completion_tokens` is remembered by keeping the client's field in `passthrough`; the
//    value itself lives in sampling.max_tokens and is written under the client's spelling
//    (max_completion_tokens wins when a client sends both, with the smaller value).
//  - Fields keel does not model inside messages, tools and response_format (e.g. an assistant
//    turn's `refusal`, json_schema.description) are dropped; unknown top-level fields go to
//    `passthrough` unchanged.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <set>
#include <utility>

#include "api/json_scan.h"
#include "api/json_util.h"
#include "api/openai_chat/internal.h"
#include "api/openai_chat/openai_chat.h"
#include "core/text.h"

namespace keel {

using namespace std::string_view_literals;

using namespace openai_chat_internal;

namespace {

Json image_to_wire(const ContentPart& part) {
  Json image = {{"url", part.image_url}};
  if (!part.image_detail.empty()) image["detail"] = part.image_detail;
  return {{"type", "image_url"}, {"image_url", std::move(image)}};
}

bool has_image(const Message& message) {
  return std::any_of(message.content.begin(), message.content.end(),
                     [](const auto& p) { return p.type == ContentPart::Type::kImage; });
}

// A document part -> a file part (ChatCompletionContentPart.File): the bytes as a data: URL,
// the filename (or an Anthropic client's title) when there is one.
Json document_to_wire(const Document& document) {
  Json file = {{"file_data", document_data_url(document)}};
  const std::string& name = document.filename.empty() ? document.title : document.filename;
  if (!name.empty()) file["filename"] = name;
  return {{"type", "file"}, {"file", std::move(file)}};
}

Json content_to_wire(const Message& message) {
  const bool parts_only =
      std::any_of(message.content.begin(), message.content.end(),
                  [](const auto& p) { return p.type != ContentPart::Type::kText; });
  if (message.content_is_string && !parts_only) {
    if (message.content.empty()) {
      return message.role == Role::kAssistant ? Json(nullptr) : Json("");
    }
    return message.text();
  }
  Json parts = Json::array();
  for (const auto& part : message.content) {
    if (part.type == ContentPart::Type::kText) {
      parts.push_back({{"type", "text"}, {"text", part.text}});
    } else if (part.type == ContentPart::Type::kDocument) {
      parts.push_back(document_to_wire(*part.document));
    } else {
      parts.push_back(image_to_wire(part));
    }
  }
  return parts;
}

Json message_to_wire(const Message& message) {
  Json wire = {{"role", role_name(message.role)}, {"content", content_to_wire(message)}};
  if (!message.name.empty()) wire["name"] = message.name;
  if (!message.tool_calls.empty()) {
    Json calls = Json::array();
    for (const auto& call : message.tool_calls) calls.push_back(tool_call_to_wire(call));
    wire["tool_calls"] = std::move(calls);
  }
  if (message.role == Role::kTool) wire["tool_call_id"] = message.tool_call_id;
  return wire;
}

// A tool message's content is text only in OpenAI's chat completions (the openai SDK's
// ChatCompletionToolMessageParam: a string or text parts), while an Anthropic tool_result may
// hold images (keel's /v1/messages front door). Those images go in a user message right after
// the run of tool messages (OpenAI wants every tool call answered before anything else), each
// tool call's after a line naming it; the tool message keeps its text, or says where its images
// went when it had none. Dropping them would answer a question the client did not ask, and
// sending them in the tool message is a 400 from the upstream. A failed tool's result (is_error)
// reads "Error: ..." here.
Json messages_to_wire(const std::vector<Message>& messages) {
  Json wire = Json::array();
  Json moved = Json::array();  // the current run's images, with their labels
  auto flush = [&] {
    if (moved.empty()) return;
    wire.push_back({{"role", "user"}, {"content", std::move(moved)}});
    moved = Json::array();
  };
  for (const auto& source : messages) {
    if (source.role != Role::kTool) {
      flush();
      wire.push_back(message_to_wire(source));
      continue;
    }
    Message message = with_error_marked(source);  // OpenAI has no is_error
    if (has_image(message)) {
      moved.push_back({{"type", "text"},
                       {"text", "Image(s) returned by tool call " + message.tool_call_id + ":"}});
      for (const auto& part : message.content) {
        if (part.type == ContentPart::Type::kImage) moved.push_back(image_to_wire(part));
      }
      std::erase_if(message.content,
                    [](const ContentPart& part) { return part.type == ContentPart::Type::kImage; });
      if (message.text().empty()) {
        ContentPart note;
        note.text = "(the result is the image(s) in the next user message)";
        message.content = {std::move(note)};
      }
    }
    wire.push_back(message_to_wire(message));
  }
  flush();
  return wire;
}

Json tool_to_wire(const ToolSpec& tool) {
  Json function = {{"name", tool.name}};
  if (!tool.description.empty()) function["description"] = tool.description;
  // An empty object is what ToolSpec holds when the client sent no parameters.
  if (!(tool.parameters.is_object() && tool.parameters.empty()) && !tool.parameters.is_null()) {
    function["parameters"] = tool.parameters;
  }
  if (tool.strict) function["strict"] = *tool.strict;
  return {{"type", "function"}, {"function", std::move(function)}};
}

Json tool_choice_to_wire(const ToolChoice& choice) {
  switch (choice.mode) {
    case ToolChoice::Mode::kAuto:
      return "auto";
    case ToolChoice::Mode::kNone:
      return "none";
    case ToolChoice::Mode::kRequired:
      return "required";
    case ToolChoice::Mode::kNamed:
      return {{"type", "function"}, {"function", {{"name", choice.name}}}};
    case ToolChoice::Mode::kUnset:
      break;
  }
  return nullptr;
}

Json response_format_to_wire(const ResponseFormat& format) {
  switch (format.type) {
    case ResponseFormat::Type::kText:
      return {{"type", "text"}};
    case ResponseFormat::Type::kJsonObject:
      return {{"type", "json_object"}};
    case ResponseFormat::Type::kJsonSchema: {
      Json spec = {{"name", format.name}};
      if (!format.schema.is_null()) spec["schema"] = format.schema;
      if (format.strict) spec["strict"] = *format.strict;
      return {{"type", "json_schema"}, {"json_schema", std::move(spec)}};
    }
  }
  return {{"type", "text"}};
}

}  // namespace

Json chat_request_to_wire(const ChatRequest& req, const std::string& upstream_model) {
  Json wire = Json::object();
  wire["model"] = upstream_model;
  wire["messages"] = messages_to_wire(req.messages);

  if (!req.tools.empty()) {
    Json tools = Json::array();
    for (const auto& tool : req.tools) tools.push_back(tool_to_wire(tool));
    wire["tools"] = std::move(tools);
  }
  if (req.tool_choice.mode != ToolChoice::Mode::kUnset) {
    wire["tool_choice"] = tool_choice_to_wire(req.tool_choice);
  }
  if (req.parallel_tool_calls) wire["parallel_tool_calls"] = *req.parallel_tool_calls;

  const Sampling& sampling = req.sampling;
  if (sampling.temperature) wire["temperature"] = *sampling.temperature;
  if (sampling.top_p) wire["top_p"] = *sampling.top_p;
  const bool completion_spelling =
      req.passthrough.is_object() && req.passthrough.contains("max_completion_tokens");
  if (sampling.max_tokens) {
    wire[completion_spelling ? "max_completion_tokens" : "max_tokens"] = *sampling.max_tokens;
  }
  if (sampling.stop.size() == 1) {
    wire["stop"] = sampling.stop.front();
  } else if (!sampling.stop.empty()) {
    wire["stop"] = sampling.stop;
  }
  if (sampling.seed) wire["seed"] = *sampling.seed;
  if (sampling.presence_penalty) wire["presence_penalty"] = *sampling.presence_penalty;
  if (sampling.frequency_penalty) wire["frequency_penalty"] = *sampling.frequency_penalty;
  if (req.response_format) wire["response_format"] = response_format_to_wire(*req.response_format);
  if (req.stream) {
    wire["stream"] = true;
    wire["stream_options"] = {{"include_usage", true}};
  }
  if (!req.user.empty()) wire["user"] = req.user;
  // A thinking budget (an Anthropic or Gemini client's) as the effort it stands for
  // (docs/dev.md); adaptive or disabled thinking leaves the model's default.
  if (!req.reasoning.effort.empty()) {
    wire["reasoning_effort"] = req.reasoning.effort;
  } else if (req.reasoning.mode == ReasoningConfig::Mode::kEnabled && req.reasoning.budget_tokens) {
    wire["reasoning_effort"] = reasoning_effort_for_budget(*req.reasoning.budget_tokens);
  }

  append_absent(wire, req.passthrough, "max_completion_tokens");  // a spelling marker, above
  return wire;
}

std::string chat_request_to_wire_text(const ChatRequest& req, const std::string& upstream_model) {
  // The shape scan_chat_request reads (and the like from the full path): string messages
  // without tool turns, no tools, no floats, nothing passed through but the max_completion_tokens
  // spelling. Anything else: the Json tree, dumped.
  auto tree = [&] { return dump_chunk(chat_request_to_wire(req, upstream_model)); };
  const Sampling& sampling = req.sampling;
  const bool completion_spelling =
      req.passthrough.is_object() && req.passthrough.contains("max_completion_tokens");
  if (!req.tools.empty() || req.tool_choice.mode != ToolChoice::Mode::kUnset ||
      req.parallel_tool_calls || sampling.temperature || sampling.top_p || sampling.seed ||
      req.reasoning.is_set() || sampling.presence_penalty || sampling.frequency_penalty ||
      req.response_format || !req.passthrough.is_object() ||
      req.passthrough.size() > (completion_spelling ? 1u : 0u) || !valid_utf8(upstream_model) ||
      !valid_utf8(req.user)) {
    return tree();
  }
  for (const auto& stop : sampling.stop) {
    if (!valid_utf8(stop)) return tree();
  }
  for (const auto& message : req.messages) {
    if (message.role == Role::kTool || !message.tool_calls.empty() || !message.content_is_string ||
        message.content.size() != 1 || message.content.front().type != ContentPart::Type::kText ||
        !valid_utf8(message.content.front().text) || !valid_utf8(message.name)) {
      return tree();
    }
  }
  // chat_request_to_wire's order, which Json::dump keeps.
  std::string out;
  size_t size = 128 + upstream_model.size() + req.user.size();
  for (const auto& message : req.messages) size += 48 + message.content.front().text.size();
  out.reserve(size);
  out += "{\"model\":"sv;
  append_json_string(out, upstream_model);
  out += ",\"messages\":["sv;
  for (size_t i = 0; i < req.messages.size(); ++i) {
    const Message& message = req.messages[i];
    if (i > 0) out += ',';
    out += "{\"role\":"sv;
    append_json_string(out, role_name(message.role));
    out += ",\"content\":"sv;
    append_json_string(out, message.content.front().text);
    if (!message.name.empty()) {
      out += ",\"name\":"sv;
      append_json_string(out, message.name);
    }
    out += '}';
  }
  out += ']';
  if (sampling.max_tokens) {
    out += completion_spelling ? ",\"max_completion_tokens\":"sv : ",\"max_tokens\":"sv;
    append_decimal(out, *sampling.max_tokens);
  }
  if (sampling.stop.size() == 1) {
    out += ",\"stop\":"sv;
    append_json_string(out, sampling.stop.front());
  } else if (!sampling.stop.empty()) {
    out += ",\"stop\":["sv;
    for (size_t i = 0; i < sampling.stop.size(); ++i) {
      if (i > 0) out += ',';
      append_json_string(out, sampling.stop[i]);
    }
    out += ']';
  }
  if (req.stream) out += ",\"stream\":true,\"stream_options\":{\"include_usage\":true}"sv;
  if (!req.user.empty()) {
    out += ",\"user\":"sv;
    append_json_string(out, req.user);
  }
  out += '}';
  return out;
}

}  // namespace keel
