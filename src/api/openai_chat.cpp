// The OpenAI wire format <-> native types. See openai_chat.h for the contract.
//
// Untrusted bytes come in through parse_chat_request, parse_embed_request,
// chat_response_from_wire, OpenAIStreamDecoder::decode, embeddings_from_wire and
// upstream_error_message. None of them throws: JSON is depth-checked before it is parsed, every
// value's type is checked before it is read, and each of these functions also catches at its
// own boundary as a last line of defence.
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
#include "api/openai_chat.h"

#include "api/json_scan.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <set>
#include <utility>

#include "api/json_util.h"
#include "core/text.h"

namespace keel {

using namespace std::string_view_literals;

namespace {

constexpr size_t kMaxStopSequences = 4;
constexpr int kMaxToolIndex = 1023;  // upstream tool-call indices above this are garbage
constexpr size_t kMaxEmbeddingInputs = 2048;
constexpr size_t kExcerptBytes = 200;

// ---- JSON in -------------------------------------------------------------------------------

Status read_string(const Json& object, const char* key, const std::string& param,
                   std::string& out) {
  const Json* value = member(object, key);
  if (!value) return Status::Ok();
  if (!value->is_string()) return wrong_type(param, "a string", *value);
  out = str(*value);
  return Status::Ok();
}

Status read_bool(const Json& object, const char* key, std::optional<bool>& out) {
  const Json* value = member(object, key);
  if (!value) return Status::Ok();
  if (!value->is_boolean()) return wrong_type(key, "a boolean", *value);
  out = value->get<bool>();
  return Status::Ok();
}

Status read_integer(const Json& object, const char* key, std::optional<int64_t>& out) {
  const Json* value = member(object, key);
  if (!value) return Status::Ok();
  if (!value->is_number()) return wrong_type(key, "an integer", *value);
  auto v = as_int64(*value);
  if (!v) {
    if (value->is_number_float() && std::isfinite(value->get<double>()) &&
        value->get<double>() != std::trunc(value->get<double>())) {
      return invalid(key, std::string(key) + " must be an integer");
    }
    return invalid(key, std::string(key) + " is out of range");
  }
  out = *v;
  return Status::Ok();
}

Status read_positive_integer(const Json& object, const char* key, std::optional<int64_t>& out) {
  if (auto st = read_integer(object, key, out); !st.ok()) return st;
  if (out && *out <= 0) return invalid(key, std::string(key) + " must be a positive integer");
  return Status::Ok();
}

// ---- chat requests -------------------------------------------------------------------------

// Top-level fields that parse_chat_request models; everything else is passthrough.
bool is_modelled_chat_field(const std::string& key) {
  static const std::set<std::string, std::less<>> kModelled = {"model",
                                                               "messages",
                                                               "tools",
                                                               "tool_choice",
                                                               "parallel_tool_calls",
                                                               "temperature",
                                                               "top_p",
                                                               "max_tokens",
                                                               "max_completion_tokens",
                                                               "stop",
                                                               "seed",
                                                               "presence_penalty",
                                                               "frequency_penalty",
                                                               "response_format",
                                                               "stream",
                                                               "stream_options",
                                                               "user",
                                                               "reasoning_effort",
                                                               "n"};
  return kModelled.count(key) > 0;
}

std::optional<Role> parse_role(std::string_view name) {
  if (name == "system") return Role::kSystem;
  if (name == "developer") return Role::kDeveloper;
  if (name == "user") return Role::kUser;
  if (name == "assistant") return Role::kAssistant;
  if (name == "tool") return Role::kTool;
  return std::nullopt;
}

Status parse_image_part(const Json& part, const std::string& path, ContentPart& out) {
  out.type = ContentPart::Type::kImage;
  const Json* image = member(part, "image_url");
  if (!image) return invalid(path + ".image_url", path + ".image_url is required");
  if (image->is_string()) {  // the short form some clients send: "image_url": "https://..."
    out.image_url = str(*image);
  } else if (image->is_object()) {
    const Json* url = member(*image, "url");
    if (!url) return invalid(path + ".image_url.url", path + ".image_url.url is required");
    if (!url->is_string()) return wrong_type(path + ".image_url.url", "a string", *url);
    out.image_url = str(*url);
    if (auto st = read_string(*image, "detail", path + ".image_url.detail", out.image_detail);
        !st.ok()) {
      return st;
    }
    if (!out.image_detail.empty() && out.image_detail != "auto" && out.image_detail != "low" &&
        out.image_detail != "high") {
      return invalid(path + ".image_url.detail",
                     path + ".image_url.detail must be one of auto, low, high");
    }
  } else {
    return wrong_type(path + ".image_url", "an object", *image);
  }
  if (out.image_url.empty()) {
    return invalid(path + ".image_url.url", path + ".image_url.url must not be empty");
  }
  return Status::Ok();
}

Status parse_content(const Json& content, Role role, const std::string& path, Message& out) {
  if (content.is_string()) {
    set_string_content(out, str(content));
    return Status::Ok();
  }
  if (!content.is_array()) {
    return wrong_type(path, "a string or an array of content parts", content);
  }
  out.content_is_string = false;
  if (content.empty() && role != Role::kAssistant) {
    return invalid(path, path + " must not be an empty array");
  }
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& item = content[i];
    std::string part_path = indexed(path, i);
    if (!item.is_object()) return wrong_type(part_path, "an object", item);
    const Json* type = member(item, "type");
    if (!type) return invalid(part_path + ".type", part_path + ".type is required");
    if (!type->is_string()) return wrong_type(part_path + ".type", "a string", *type);
    ContentPart part;
    if (str(*type) == "text") {
      const Json* text = member(item, "text");
      if (!text) return invalid(part_path + ".text", part_path + ".text is required");
      if (!text->is_string()) return wrong_type(part_path + ".text", "a string", *text);
      part.text = str(*text);
    } else if (str(*type) == "image_url") {
      if (role != Role::kUser) {
        return invalid(part_path + ".type", part_path +
                                                ": image_url parts are only allowed in user "
                                                "messages");
      }
      if (auto st = parse_image_part(item, part_path, part); !st.ok()) return st;
    } else {
      return invalid(part_path + ".type",
                     part_path + ".type " + echo(str(*type)) + " is not supported");
    }
    out.content.push_back(std::move(part));
  }
  return Status::Ok();
}

Status parse_tool_calls(const Json& calls, const std::string& path, Message& out) {
  if (!calls.is_array()) return wrong_type(path, "an array", calls);
  for (size_t i = 0; i < calls.size(); ++i) {
    const Json& call = calls[i];
    std::string call_path = indexed(path, i);
    if (!call.is_object()) return wrong_type(call_path, "an object", call);
    const Json* type = member(call, "type");
    if (type && !type->is_string()) return wrong_type(call_path + ".type", "a string", *type);
    if (type && str(*type) != "function") {
      return invalid(call_path + ".type",
                     call_path + ".type " + echo(str(*type)) + " is not supported");
    }
    ToolCall tool_call;
    const Json* id = member(call, "id");
    if (!id) return invalid(call_path + ".id", call_path + ".id is required");
    if (!id->is_string()) return wrong_type(call_path + ".id", "a string", *id);
    tool_call.id = str(*id);
    const Json* function = member(call, "function");
    if (!function) return invalid(call_path + ".function", call_path + ".function is required");
    if (!function->is_object()) return wrong_type(call_path + ".function", "an object", *function);
    const Json* name = member(*function, "name");
    if (!name) {
      return invalid(call_path + ".function.name", call_path + ".function.name is required");
    }
    if (!name->is_string()) return wrong_type(call_path + ".function.name", "a string", *name);
    if (str(*name).empty()) {
      return invalid(call_path + ".function.name", call_path + ".function.name must not be empty");
    }
    tool_call.name = str(*name);
    const Json* arguments = member(*function, "arguments");
    if (!arguments) {
      return invalid(call_path + ".function.arguments",
                     call_path + ".function.arguments is required");
    }
    if (!arguments->is_string()) {
      return wrong_type(call_path + ".function.arguments", "a string (JSON text)", *arguments);
    }
    tool_call.arguments = str(*arguments);
    out.tool_calls.push_back(std::move(tool_call));
  }
  return Status::Ok();
}

Status parse_message(const Json& wire, size_t index, Message& out) {
  std::string path = indexed("messages", index);
  if (!wire.is_object()) return wrong_type(path, "an object", wire);
  const Json* role_value = member(wire, "role");
  if (!role_value) return invalid(path + ".role", path + ".role is required");
  if (!role_value->is_string()) return wrong_type(path + ".role", "a string", *role_value);
  const std::string& role_name_str = str(*role_value);
  if (role_name_str == "function") {
    return invalid(path + ".role",
                   path + ".role 'function' is not supported; use tool_calls and 'tool' messages");
  }
  auto role = parse_role(role_name_str);
  if (!role) {
    return invalid(path + ".role", path + ".role " + echo(role_name_str) +
                                       " is not one of system, developer, user, assistant, tool");
  }
  out.role = *role;

  if (auto st = read_string(wire, "name", path + ".name", out.name); !st.ok()) return st;

  if (const Json* calls = member(wire, "tool_calls")) {
    if (out.role != Role::kAssistant) {
      return invalid(path + ".tool_calls",
                     path + ".tool_calls is only allowed on assistant messages");
    }
    if (auto st = parse_tool_calls(*calls, path + ".tool_calls", out); !st.ok()) return st;
  }
  if (out.role == Role::kAssistant && member(wire, "function_call")) {
    return invalid(path + ".function_call",
                   path + ".function_call is not supported; use tool_calls");
  }

  const Json* content = member(wire, "content");
  if (content) {
    if (auto st = parse_content(*content, out.role, path + ".content", out); !st.ok()) return st;
    if (content->is_array() && content->empty() && out.tool_calls.empty()) {
      return invalid(path + ".content", path + ".content must not be an empty array");
    }
  } else if (out.role == Role::kAssistant) {
    if (out.tool_calls.empty()) {
      return invalid(path + ".content", path + ".content is required unless tool_calls is set");
    }
    out.content_is_string = true;  // content: null
  } else {
    return invalid(path + ".content", path + ".content is required");
  }

  if (out.role == Role::kTool) {
    const Json* id = member(wire, "tool_call_id");
    if (!id) return invalid(path + ".tool_call_id", path + ".tool_call_id is required");
    if (!id->is_string()) return wrong_type(path + ".tool_call_id", "a string", *id);
    if (str(*id).empty()) {
      return invalid(path + ".tool_call_id", path + ".tool_call_id must not be empty");
    }
    out.tool_call_id = str(*id);
  }
  return Status::Ok();
}

Status parse_tools(const Json& wire, std::vector<ToolSpec>& out) {
  if (!wire.is_array()) return wrong_type("tools", "an array", wire);
  std::set<std::string, std::less<>> names;
  for (size_t i = 0; i < wire.size(); ++i) {
    const Json& tool = wire[i];
    std::string path = indexed("tools", i);
    if (!tool.is_object()) return wrong_type(path, "an object", tool);
    const Json* type = member(tool, "type");
    if (type && !type->is_string()) return wrong_type(path + ".type", "a string", *type);
    if (type && str(*type) != "function") {
      return invalid(path + ".type", path + ".type " + echo(str(*type)) + " is not supported");
    }
    const Json* function = member(tool, "function");
    if (!function) return invalid(path + ".function", path + ".function is required");
    if (!function->is_object()) return wrong_type(path + ".function", "an object", *function);
    ToolSpec spec;
    const Json* name = member(*function, "name");
    if (!name) return invalid(path + ".function.name", path + ".function.name is required");
    if (!name->is_string()) return wrong_type(path + ".function.name", "a string", *name);
    if (str(*name).empty()) {
      return invalid(path + ".function.name", path + ".function.name must not be empty");
    }
    spec.name = str(*name);
    if (!names.insert(spec.name).second) {
      return invalid(path + ".function.name",
                     path + ".function.name " + echo(spec.name) + " is used by another tool");
    }
    if (auto st =
            read_string(*function, "description", path + ".function.description", spec.description);
        !st.ok()) {
      return st;
    }
    if (const Json* parameters = member(*function, "parameters")) {
      if (!parameters->is_object()) {
        return wrong_type(path + ".function.parameters", "an object (JSON Schema)", *parameters);
      }
      spec.parameters = *parameters;
    }
    if (const Json* strict = member(*function, "strict")) {
      if (!strict->is_boolean()) return wrong_type(path + ".function.strict", "a boolean", *strict);
      spec.strict = strict->get<bool>();
    }
    out.push_back(std::move(spec));
  }
  return Status::Ok();
}

Status parse_tool_choice(const Json& wire, const std::vector<ToolSpec>& tools, ToolChoice& out) {
  if (wire.is_string()) {
    const std::string& mode = str(wire);
    if (mode == "auto") {
      out.mode = ToolChoice::Mode::kAuto;
    } else if (mode == "none") {
      out.mode = ToolChoice::Mode::kNone;
    } else if (mode == "required") {
      out.mode = ToolChoice::Mode::kRequired;
      if (tools.empty()) {
        return invalid("tool_choice", "tool_choice 'required' needs at least one tool in tools");
      }
    } else {
      return invalid("tool_choice",
                     "tool_choice " + echo(mode) + " is not one of auto, none, required");
    }
    return Status::Ok();
  }
  if (!wire.is_object()) {
    return wrong_type("tool_choice", "a string or an object", wire);
  }
  const Json* type = member(wire, "type");
  if (!type) return invalid("tool_choice.type", "tool_choice.type is required");
  if (!type->is_string()) return wrong_type("tool_choice.type", "a string", *type);
  if (str(*type) != "function") {
    return invalid("tool_choice.type",
                   "tool_choice.type " + echo(str(*type)) + " is not supported");
  }
  const Json* function = member(wire, "function");
  if (!function) return invalid("tool_choice.function", "tool_choice.function is required");
  if (!function->is_object()) return wrong_type("tool_choice.function", "an object", *function);
  const Json* name = member(*function, "name");
  if (!name) return invalid("tool_choice.function.name", "tool_choice.function.name is required");
  if (!name->is_string()) return wrong_type("tool_choice.function.name", "a string", *name);
  const std::string& wanted = str(*name);
  bool known = std::any_of(tools.begin(), tools.end(),
                           [&](const ToolSpec& tool) { return tool.name == wanted; });
  if (!known) {
    return invalid("tool_choice",
                   "tool_choice names function " + echo(wanted) + ", which is not in tools");
  }
  out.mode = ToolChoice::Mode::kNamed;
  out.name = wanted;
  return Status::Ok();
}

Status parse_response_format(const Json& wire, std::optional<ResponseFormat>& out) {
  if (!wire.is_object()) return wrong_type("response_format", "an object", wire);
  const Json* type = member(wire, "type");
  if (!type) return invalid("response_format.type", "response_format.type is required");
  if (!type->is_string()) return wrong_type("response_format.type", "a string", *type);
  ResponseFormat format;
  const std::string& name = str(*type);
  if (name == "text") {
    format.type = ResponseFormat::Type::kText;
  } else if (name == "json_object") {
    format.type = ResponseFormat::Type::kJsonObject;
  } else if (name == "json_schema") {
    format.type = ResponseFormat::Type::kJsonSchema;
    const Json* spec = member(wire, "json_schema");
    if (!spec) {
      return invalid("response_format.json_schema", "response_format.json_schema is required");
    }
    if (!spec->is_object()) return wrong_type("response_format.json_schema", "an object", *spec);
    const Json* schema_name = member(*spec, "name");
    if (!schema_name) {
      return invalid("response_format.json_schema.name",
                     "response_format.json_schema.name is required");
    }
    if (!schema_name->is_string()) {
      return wrong_type("response_format.json_schema.name", "a string", *schema_name);
    }
    format.name = str(*schema_name);
    if (const Json* schema = member(*spec, "schema")) {
      if (!schema->is_object()) {
        return wrong_type("response_format.json_schema.schema", "an object", *schema);
      }
      format.schema = *schema;
    }
    if (const Json* strict = member(*spec, "strict")) {
      if (!strict->is_boolean()) {
        return wrong_type("response_format.json_schema.strict", "a boolean", *strict);
      }
      format.strict = strict->get<bool>();
    }
  } else {
    return invalid("response_format.type", "response_format.type " + echo(name) +
                                               " is not one of text, json_object, json_schema");
  }
  out = std::move(format);
  return Status::Ok();
}

Status parse_stop(const Json& wire, std::vector<std::string>& out) {
  if (wire.is_string()) {
    out.push_back(str(wire));
    return Status::Ok();
  }
  if (!wire.is_array()) return wrong_type("stop", "a string or an array of strings", wire);
  if (wire.size() > kMaxStopSequences) {
    return invalid("stop",
                   "stop may hold at most " + std::to_string(kMaxStopSequences) + " sequences");
  }
  for (size_t i = 0; i < wire.size(); ++i) {
    if (!wire[i].is_string()) return wrong_type(indexed("stop", i), "a string", wire[i]);
    out.push_back(str(wire[i]));
  }
  return Status::Ok();
}

// max_tokens and max_completion_tokens as given: the smaller limit wins, and the client's
// spelling is remembered (see the note at the top of this file).
void set_max_tokens(ChatRequest& req, std::optional<int64_t> max_tokens,
                    std::optional<int64_t> max_completion_tokens) {
  if (max_tokens && max_completion_tokens) {
    req.sampling.max_tokens = std::min(*max_tokens, *max_completion_tokens);
  } else {
    req.sampling.max_tokens = max_completion_tokens ? max_completion_tokens : max_tokens;
  }
  if (max_completion_tokens) req.passthrough["max_completion_tokens"] = *max_completion_tokens;
}

Status parse_chat_object(const Json& body, ChatRequest& req) {
  if (!body.is_object()) {
    return invalid("", std::string("request body must be a JSON object, got ") + describe(body));
  }
  const Json* model = member(body, "model");
  if (!model) return invalid("model", "model is required");
  if (!model->is_string()) return wrong_type("model", "a string", *model);
  if (str(*model).empty()) return invalid("model", "model must not be empty");
  req.model = str(*model);

  const Json* messages = member(body, "messages");
  if (!messages) return invalid("messages", "messages is required");
  if (!messages->is_array()) return wrong_type("messages", "an array", *messages);
  if (messages->empty()) return invalid("messages", "messages must not be empty");
  req.messages.reserve(messages->size());
  for (size_t i = 0; i < messages->size(); ++i) {
    Message message;
    if (auto st = parse_message((*messages)[i], i, message); !st.ok()) return st;
    req.messages.push_back(std::move(message));
  }

  if (const Json* tools = member(body, "tools")) {
    if (auto st = parse_tools(*tools, req.tools); !st.ok()) return st;
  }
  if (const Json* choice = member(body, "tool_choice")) {
    if (auto st = parse_tool_choice(*choice, req.tools, req.tool_choice); !st.ok()) return st;
  }
  if (auto st = read_bool(body, "parallel_tool_calls", req.parallel_tool_calls); !st.ok()) {
    return st;
  }

  Sampling& sampling = req.sampling;
  if (auto st = read_number(body, "temperature", 0, 2, sampling.temperature); !st.ok()) return st;
  if (auto st = read_number(body, "top_p", 0, 1, sampling.top_p); !st.ok()) return st;
  if (auto st = read_number(body, "presence_penalty", -2, 2, sampling.presence_penalty); !st.ok()) {
    return st;
  }
  if (auto st = read_number(body, "frequency_penalty", -2, 2, sampling.frequency_penalty);
      !st.ok()) {
    return st;
  }
  if (auto st = read_integer(body, "seed", sampling.seed); !st.ok()) return st;

  std::optional<int64_t> max_tokens;
  std::optional<int64_t> max_completion_tokens;
  if (auto st = read_positive_integer(body, "max_tokens", max_tokens); !st.ok()) return st;
  if (auto st = read_positive_integer(body, "max_completion_tokens", max_completion_tokens);
      !st.ok()) {
    return st;
  }
  set_max_tokens(req, max_tokens, max_completion_tokens);

  if (const Json* stop = member(body, "stop")) {
    if (auto st = parse_stop(*stop, sampling.stop); !st.ok()) return st;
  }
  if (const Json* format = member(body, "response_format")) {
    if (auto st = parse_response_format(*format, req.response_format); !st.ok()) return st;
  }

  std::optional<bool> stream;
  if (auto st = read_bool(body, "stream", stream); !st.ok()) return st;
  req.stream = stream.value_or(false);
  if (const Json* options = member(body, "stream_options")) {
    if (!options->is_object()) return wrong_type("stream_options", "an object", *options);
    if (const Json* include = member(*options, "include_usage")) {
      if (!include->is_boolean()) {
        return wrong_type("stream_options.include_usage", "a boolean", *include);
      }
      req.include_usage = include->get<bool>();
    }
  }

  if (auto st = read_string(body, "user", "user", req.user); !st.ok()) return st;
  if (auto st = read_reasoning_effort(body, "reasoning_effort", "reasoning_effort", req.reasoning);
      !st.ok()) {
    return st;
  }

  if (const Json* n = member(body, "n")) {
    if (!n->is_number()) return wrong_type("n", "an integer", *n);
    auto count = as_int64(*n);
    if (!count) return invalid("n", "n must be an integer");
    if (*count > 1) return invalid("n", "n > 1 is not supported");
    if (*count < 1) return invalid("n", "n must be at least 1");
    req.passthrough["n"] = 1;  // harmless, and keeps the round trip exact
  }

  // Unmodelled keys are none of those set above, and a parsed object's keys are unique.
  for (const auto& [key, value] : body.items()) {
    if (!is_modelled_chat_field(key)) append_member(req.passthrough, key, value);
  }
  return Status::Ok();
}

// ---- native -> wire (requests) -------------------------------------------------------------

Json image_to_wire(const ContentPart& part) {
  Json image = {{"url", part.image_url}};
  if (!part.image_detail.empty()) image["detail"] = part.image_detail;
  return {{"type", "image_url"}, {"image_url", std::move(image)}};
}

bool has_image(const Message& message) {
  return std::any_of(message.content.begin(), message.content.end(),
                     [](const auto& p) { return p.type == ContentPart::Type::kImage; });
}

Json content_to_wire(const Message& message) {
  if (message.content_is_string && !has_image(message)) {
    if (message.content.empty()) {
      return message.role == Role::kAssistant ? Json(nullptr) : Json("");
    }
    return message.text();
  }
  Json parts = Json::array();
  for (const auto& part : message.content) {
    if (part.type == ContentPart::Type::kText) {
      parts.push_back({{"type", "text"}, {"text", part.text}});
    } else {
      parts.push_back(image_to_wire(part));
    }
  }
  return parts;
}

Json tool_call_to_wire(const ToolCall& call) {
  return {{"id", call.id},
          {"type", "function"},
          {"function", {{"name", call.name}, {"arguments", call.arguments}}}};
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
  Json moved = Json::array();   // the current run's images, with their labels
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
    Message message = with_error_marked(source);   // OpenAI has no is_error
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

// ---- wire -> native (responses) ------------------------------------------------------------

// Reads an integer count, tolerating absence/null (0) and floats; nullopt when the field has
// the wrong type. Clamped to [0, 2^53]: far above any real count, and low enough that the sums
// made from counts (total = prompt + completion) cannot overflow.
std::optional<int64_t> read_count(const Json& object, const char* key) {
  const Json* value = member(object, key);
  if (!value) return 0;
  if (!value->is_number()) return std::nullopt;
  auto v = as_int64(*value);
  if (!v && value->is_number_float() && std::isfinite(value->get<double>())) {
    v = static_cast<int64_t>(std::clamp(value->get<double>(), 0.0, 9.0e18));
  }
  if (!v) return std::nullopt;
  return std::clamp<int64_t>(*v, 0, kMaxTokenCount);
}

Result<Usage> usage_from_wire(const Json& wire) {
  if (!wire.is_object()) return bad_gateway("usage is " + std::string(describe(wire)));
  Usage usage;
  auto prompt = read_count(wire, "prompt_tokens");
  auto completion = read_count(wire, "completion_tokens");
  auto total = read_count(wire, "total_tokens");
  if (!prompt || !completion || !total) return bad_gateway("usage counts are not numbers");
  usage.prompt_tokens = *prompt;
  usage.completion_tokens = *completion;
  usage.total_tokens = member(wire, "total_tokens") ? *total : *prompt + *completion;
  if (const Json* details = member(wire, "prompt_tokens_details")) {
    if (member(*details, "cached_tokens")) {
      if (auto cached = read_count(*details, "cached_tokens")) usage.cached_tokens = *cached;
    }
  }
  usage.present = true;
  return usage;
}

Json usage_to_wire(const Usage& usage) {
  Json wire = {{"prompt_tokens", usage.prompt_tokens},
               {"completion_tokens", usage.completion_tokens},
               {"total_tokens", usage.total_tokens}};
  if (usage.cached_tokens)
    wire["prompt_tokens_details"] = {{"cached_tokens", *usage.cached_tokens}};
  return wire;
}

std::optional<std::string> error_payload_message_uncapped(const Json& body) {
  if (!body.is_object()) return std::nullopt;
  if (const Json* object = member(body, "object");
      object && object->is_string() && str(*object) == "error") {
    const Json* message = member(body, "message");
    return message && message->is_string() ? str(*message) : std::string("(no message)");
  }
  auto it = body.find("error");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return str(*it);
  if (it->is_object()) {
    const Json* message = member(*it, "message");
    if (message && message->is_string()) return str(*message);
    return std::string("(no message)");
  }
  return std::string("(no message)");
}

// An upstream's {"error": ...} payload -> its message (capped), or nullopt when `body` is not
// one. vLLM and some others send {"object": "error", "message": ...} instead.
std::optional<std::string> error_payload_message(const Json& body) {
  auto message = error_payload_message_uncapped(body);
  if (message) *message = truncate_utf8(*message, kMaxUpstreamMessageBytes);
  return message;
}

// Message text from a response's `content`: a string, or (some servers) an array of parts.
std::optional<std::string> content_text(const Json& content) {
  if (content.is_null()) return std::string();
  if (content.is_string()) return str(content);
  if (!content.is_array()) return std::nullopt;
  std::string text;
  for (const auto& part : content) {
    const Json* part_text = member(part, "text");
    const Json* type = member(part, "type");
    if (part_text && part_text->is_string() &&
        (!type || (type->is_string() && str(*type) == "text"))) {
      text += str(*part_text);
    }
  }
  return text;
}

// ---- fast paths for the common shapes --------------------------------------------------------
// chat.completion bodies and chunks of the usual shape (text, finish_reason, usage; no tool
// calls, no errors, no content parts, no floats) are read with JsonScanner, without a Json
// tree. Anything else, or any doubt, returns nullopt and the caller takes the full path, so
// these are only ever faster, never different: tests and openai_response_fuzz compare the two.

// A count in usage: an integer (clamped as read_count does) or null (absent).
bool scan_count(JsonScanner& scan, std::optional<int64_t>& out) {
  if (scan.null()) {
    out.reset();
    return true;
  }
  int64_t value;
  if (!scan.integer(value)) return false;
  out = clamp_tokens(value);
  return true;
}

// usage_from_wire for a usage object of integers.
bool scan_usage(JsonScanner& scan, Usage& usage) {
  std::optional<int64_t> prompt, completion, total, cached;
  bool seen_prompt = false, seen_completion = false, seen_total = false, seen_details = false;
  auto once = [](bool& seen) { return !std::exchange(seen, true); };
  bool ok = scan.object([&](std::string_view key) {
    if (key == "prompt_tokens") return once(seen_prompt) && scan_count(scan, prompt);
    if (key == "completion_tokens") return once(seen_completion) && scan_count(scan, completion);
    if (key == "total_tokens") return once(seen_total) && scan_count(scan, total);
    if (key == "prompt_tokens_details") {
      if (!once(seen_details)) return false;
      if (scan.null()) return true;
      bool seen_cached = false;
      return scan.object([&](std::string_view detail) {
        if (detail == "cached_tokens") return once(seen_cached) && scan_count(scan, cached);
        return scan.skip();
      });
    }
    return scan.skip();
  });
  if (!ok) return false;
  usage.prompt_tokens = prompt.value_or(0);
  usage.completion_tokens = completion.value_or(0);
  usage.total_tokens = total ? *total : usage.prompt_tokens + usage.completion_tokens;
  usage.cached_tokens = cached;
  usage.present = true;
  return true;
}

// A string member read by optional_string: the string, or "" for any other value.
bool scan_optional_string(JsonScanner& scan, std::string& out) {
  if (scan.peek() == '"') return scan.string(out);
  out.clear();
  return scan.skip();
}

// A message or delta object: `content` a string or null, `tool_calls` absent or null.
bool scan_message(JsonScanner& scan, std::string& text) {
  bool seen_content = false, seen_tools = false;
  return scan.object([&](std::string_view key) {
    if (key == "content") {
      if (std::exchange(seen_content, true)) return false;
      if (scan.null()) {
        text.clear();
        return true;
      }
      return scan.string(text);
    }
    if (key == "tool_calls") return !std::exchange(seen_tools, true) && scan.null();
    return scan.skip();
  });
}

struct ScannedChoice {
  std::optional<int64_t> index;
  bool has_message = false;   // message (whole body) or delta (chunk), not null
  std::string text;
  std::optional<std::string> finish_reason;   // when a string
};

bool scan_choice(JsonScanner& scan, const char* message_key, ScannedChoice& choice) {
  bool seen_index = false, seen_message = false, seen_finish = false;
  return scan.object([&](std::string_view key) {
    if (key == "index") {
      if (std::exchange(seen_index, true)) return false;
      if (scan.null()) return true;
      int64_t index;
      if (!scan.integer(index)) return false;
      choice.index = index;
      return true;
    }
    if (key == message_key) {
      if (std::exchange(seen_message, true)) return false;
      if (scan.null()) return true;
      choice.has_message = true;
      return scan_message(scan, choice.text);
    }
    if (key == "finish_reason") {
      if (std::exchange(seen_finish, true)) return false;
      if (scan.peek() != '"') return scan.skip();
      std::string reason;
      if (!scan.string(reason)) return false;
      choice.finish_reason = std::move(reason);
      return true;
    }
    return scan.skip();
  });
}

struct ScannedBody {
  std::string id, model;
  bool has_choices = false;   // `choices` is an array
  std::vector<ScannedChoice> choices;
  std::optional<Usage> usage;
};

// The top level of a chat.completion or chunk. Every choice is read (and must have the usual
// shape); `choices` absent or null sends the caller to the full path (errors live there).
// `choices_at`, when given, gets the offset of the "choices" key in `text` when no usage member
// came before it (else stays npos).
bool scan_body(std::string_view text, const char* message_key, ScannedBody& body,
               size_t* choices_at = nullptr) {
  JsonScanner scan(text);
  bool seen_id = false, seen_model = false, seen_usage = false;
  bool ok = scan.object([&](std::string_view key) {
    if (key == "choices") {
      if (std::exchange(body.has_choices, true)) return false;
      // The key's view points into `text` unless it had escapes (then it is in a scratch).
      if (choices_at && !seen_usage && key.data() > text.data() &&
          key.data() <= text.data() + text.size()) {
        *choices_at = static_cast<size_t>(key.data() - 1 - text.data());
      }
      return scan.array([&] {
        return scan_choice(scan, message_key, body.choices.emplace_back());
      });
    }
    if (key == "id") return !std::exchange(seen_id, true) && scan_optional_string(scan, body.id);
    if (key == "model") {
      return !std::exchange(seen_model, true) && scan_optional_string(scan, body.model);
    }
    if (key == "usage") {
      if (std::exchange(seen_usage, true)) return false;
      if (scan.null()) return true;
      return scan_usage(scan, body.usage.emplace());
    }
    return scan.skip();
  });
  return ok && scan.end() && body.has_choices;
}

// chat_events_from_body, for a body of the usual shape.
std::optional<std::vector<ChatEvent>> scan_chat_response(std::string_view text) {
  ScannedBody body;
  if (!scan_body(text, "message", body) || body.choices.empty()) return std::nullopt;
  ScannedChoice& choice = body.choices.front();
  if (!choice.has_message) return std::nullopt;
  // Built in place (ChatEvent's in-place factories): no temporary per event.
  std::vector<ChatEvent> events;
  events.reserve(4);
  ChatEvent::start(events.emplace_back(), std::move(body.id), std::move(body.model));
  if (!choice.text.empty()) ChatEvent::text_delta(events.emplace_back(), std::move(choice.text));
  FinishReason finish = FinishReason::kNone;
  if (choice.finish_reason) finish = parse_finish_reason(*choice.finish_reason);
  if (finish == FinishReason::kNone) finish = FinishReason::kStop;
  ChatEvent::finished(events.emplace_back(), finish);
  if (body.usage) ChatEvent::usage_event(events.emplace_back(), *body.usage);
  return events;
}

Result<std::vector<ChatEvent>> chat_events_from_body(const Json& body) {
  const std::string prefix = "upstream returned an invalid chat completion: ";
  if (!body.is_object()) return bad_gateway(prefix + "body is " + describe(body));
  if (!member(body, "choices")) {
    if (auto message = error_payload_message(body))
      return bad_gateway("upstream error: " + *message);
    return bad_gateway(prefix + "no choices");
  }
  const Json& choices = *member(body, "choices");
  if (!choices.is_array() || choices.empty())
    return bad_gateway(prefix + "choices is empty or not an array");
  const Json& choice = choices[0];
  if (!choice.is_object()) return bad_gateway(prefix + "choices[0] is not an object");
  const Json* message = member(choice, "message");
  if (!message || !message->is_object())
    return bad_gateway(prefix + "choices[0].message is missing");

  std::vector<ChatEvent> events;
  events.push_back(ChatEvent::start(optional_string(body, "id"), optional_string(body, "model")));

  std::optional<std::string> text = std::string();
  if (auto it = message->find("content"); it != message->end()) text = content_text(*it);
  if (!text) return bad_gateway(prefix + "message.content is not a string");
  if (!text->empty()) events.push_back(ChatEvent::text_delta(std::move(*text)));

  int tool_count = 0;
  if (const Json* calls = member(*message, "tool_calls")) {
    if (!calls->is_array()) return bad_gateway(prefix + "message.tool_calls is not an array");
    for (const auto& call : *calls) {
      const Json* function = member(call, "function");
      if (!function || !function->is_object()) {
        return bad_gateway(prefix + "a tool call has no function");
      }
      const Json* name = member(*function, "name");
      if (!name || !name->is_string()) return bad_gateway(prefix + "a tool call has no name");
      std::string arguments;
      if (const Json* args = member(*function, "arguments")) {
        if (args->is_string()) {
          arguments = str(*args);
        } else if (args->is_object()) {  // some servers send the object itself
          arguments = args->dump();
        } else {
          return bad_gateway(prefix + "tool call arguments are not a string");
        }
      }
      events.push_back(
          ChatEvent::tool_call_start(tool_count, optional_string(call, "id"), str(*name)));
      if (!arguments.empty())
        events.push_back(ChatEvent::tool_args_delta(tool_count, std::move(arguments)));
      ++tool_count;
    }
  }

  FinishReason finish = FinishReason::kNone;
  if (const Json* reason = member(choice, "finish_reason"); reason && reason->is_string()) {
    finish = parse_finish_reason(str(*reason));
  }
  if (finish == FinishReason::kNone) {
    finish = tool_count > 0 ? FinishReason::kToolCalls : FinishReason::kStop;
  }
  events.push_back(ChatEvent::finished(finish));

  if (const Json* usage = member(body, "usage")) {
    auto parsed = usage_from_wire(*usage);
    if (!parsed) return bad_gateway(prefix + parsed.error().message);
    events.push_back(ChatEvent::usage_event(*parsed));
  }
  return events;
}

// ---- embeddings ----------------------------------------------------------------------------

// The double whose shortest decimal form is the float's shortest form, so 0.1f is written as
// 0.1 rather than 0.10000000149011612.
double float_for_json(float value) {
  if (!std::isfinite(value)) return 0.0;
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  if (ec != std::errc()) return value;
  double out = value;
  std::from_chars(buffer, end, out);
  return out;
}

// ---- text helpers --------------------------------------------------------------------------

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char lead = byte(i);
  size_t length;
  uint32_t code;
  if (lead < 0x80) return 1;
  if ((lead & 0xe0) == 0xc0) {
    length = 2;
    code = lead & 0x1f;
  } else if ((lead & 0xf0) == 0xe0) {
    length = 3;
    code = lead & 0x0f;
  } else if ((lead & 0xf8) == 0xf0) {
    length = 4;
    code = lead & 0x07;
  } else {
    return 0;
  }
  if (i + length > s.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    code = (code << 6) | (byte(i + k) & 0x3f);
  }
  static constexpr uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < kMinimum[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
  return length;
}

// At most `limit` bytes of `text`: printable, valid UTF-8, whitespace collapsed, "..." when cut.
std::string sanitized_excerpt(std::string_view text, size_t limit) {
  std::string out;
  bool cut = false;
  for (size_t i = 0; i < text.size();) {
    size_t length = utf8_sequence_length(text, i);
    std::string piece;
    if (length == 0) {
      piece = "?";
      length = 1;
    } else if (length == 1) {
      unsigned char c = static_cast<unsigned char>(text[i]);
      piece = (c < 0x20 || c == 0x7f) ? " " : std::string(1, static_cast<char>(c));
    } else {
      piece.assign(text.substr(i, length));
    }
    i += length;
    if (piece == " " && (out.empty() || out.back() == ' ')) continue;
    if (out.size() + piece.size() > limit) {
      cut = true;
      break;
    }
    out += piece;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (cut) out += "...";
  return out;
}

}  // namespace

// ==== client requests ========================================================================

namespace {

// One message of the usual shape: role system, developer, user or assistant; content a string;
// an optional name. Anything else (a tool turn, content parts, tool calls, a null) is the full
// path's, which also gives every error.
bool scan_message(JsonScanner& scan, Message& out) {
  bool seen_role = false, seen_content = false, seen_name = false;
  std::string role, content;
  bool ok = scan.object([&](std::string_view key) {
    if (key == "role") return !std::exchange(seen_role, true) && scan.string(role);
    if (key == "content") return !std::exchange(seen_content, true) && scan.string(content);
    if (key == "name") return !std::exchange(seen_name, true) && scan.string(out.name);
    return false;
  });
  if (!ok || !seen_role || !seen_content) return false;
  auto parsed = parse_role(role);
  if (!parsed || *parsed == Role::kTool) return false;
  out.role = *parsed;
  set_string_content(out, std::move(content));
  return true;
}
}  // namespace

// parse_chat_request for a body of the usual shape, without a Json tree: model, messages (as
// scan_message), stream, stream_options.include_usage, max_tokens, max_completion_tokens, user.
// Any other member, a duplicate key, or anything parse_chat_object would refuse or normalise:
// nullopt, and the full path reads it.
std::optional<ChatRequest> scan_chat_request(std::string_view text) {
  JsonScanner scan(text);
  ChatRequest req;
  bool seen_model = false, seen_messages = false, seen_stream = false, seen_options = false,
       seen_user = false;
  std::optional<int64_t> max_tokens, max_completion_tokens;
  auto positive = [&](std::optional<int64_t>& out) {
    return !out && scan.integer(out.emplace()) && *out > 0;
  };
  bool ok = scan.object([&](std::string_view key) {
    if (key == "model") return !std::exchange(seen_model, true) && scan.string(req.model);
    if (key == "messages") {
      if (std::exchange(seen_messages, true)) return false;
      return scan.array([&] { return scan_message(scan, req.messages.emplace_back()); });
    }
    if (key == "stream") return !std::exchange(seen_stream, true) && scan.boolean(req.stream);
    if (key == "stream_options") {
      if (std::exchange(seen_options, true)) return false;
      bool seen_include = false;
      return scan.object([&](std::string_view option) {
        return option == "include_usage" && !std::exchange(seen_include, true) &&
               scan.boolean(req.include_usage);
      });
    }
    if (key == "max_tokens") return positive(max_tokens);
    if (key == "max_completion_tokens") return positive(max_completion_tokens);
    if (key == "user") return !std::exchange(seen_user, true) && scan.string(req.user);
    return false;
  });
  if (!ok || !scan.end() || req.model.empty() || req.messages.empty()) return std::nullopt;
  set_max_tokens(req, max_tokens, max_completion_tokens);
  return req;
}

Result<ChatRequest> parse_chat_request(std::string_view body) {
  if (auto scanned = scan_chat_request(body)) return std::move(*scanned);
  return parse_chat_request_parsed(body);
}

Result<ChatRequest> parse_chat_request_parsed(std::string_view body) {
  try {
    auto json = parse_json(body, ErrorCode::kInvalidArgument, "request body");
    if (!json) return json.error();
    ChatRequest req;
    if (auto st = parse_chat_object(*json, req); !st.ok()) return st.error();
    return req;
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInvalidArgument,
                 std::string("could not read the request: ") + e.what());
  }
}

Result<EmbedRequest> parse_embed_request(std::string_view body) {
  try {
    auto parsed = parse_json(body, ErrorCode::kInvalidArgument, "request body");
    if (!parsed) return parsed.error();
    const Json& json = *parsed;
    if (!json.is_object()) {
      return invalid("", std::string("request body must be a JSON object, got ") + describe(json));
    }
    EmbedRequest req;
    const Json* model = member(json, "model");
    if (!model) return invalid("model", "model is required");
    if (!model->is_string()) return wrong_type("model", "a string", *model);
    if (str(*model).empty()) return invalid("model", "model must not be empty");
    req.model = str(*model);

    const Json* input = member(json, "input");
    if (!input) return invalid("input", "input is required");
    if (input->is_string()) {
      if (str(*input).empty()) return invalid("input", "input must not be an empty string");
      req.inputs.push_back(str(*input));
    } else if (input->is_array()) {
      if (input->empty()) return invalid("input", "input must not be an empty array");
      if (input->size() > kMaxEmbeddingInputs) {
        return invalid("input",
                       "input may hold at most " + std::to_string(kMaxEmbeddingInputs) + " items");
      }
      const Json& first = (*input)[0];
      for (size_t i = 0; i < input->size(); ++i) {
        const Json& item = (*input)[i];
        std::string path = indexed("input", i);
        if (first.is_string()) {
          if (!item.is_string()) return wrong_type(path, "a string", item);
          if (str(item).empty()) return invalid(path, path + " must not be an empty string");
          req.inputs.push_back(str(item));
        } else if (first.is_number()) {  // one token array; kept in raw_input only
          if (!as_int64(item)) return wrong_type(path, "an integer token", item);
        } else if (first.is_array()) {  // several token arrays
          if (!item.is_array() || item.empty()) {
            return wrong_type(path, "a non-empty array of integer tokens", item);
          }
          for (const auto& token : item) {
            if (!as_int64(token)) return wrong_type(path, "an array of integer tokens", item);
          }
        } else {
          return wrong_type(path, "a string, an integer token or an array of tokens", item);
        }
      }
    } else {
      return wrong_type("input", "a string or an array", *input);
    }
    req.raw_input = *input;

    if (const Json* format = member(json, "encoding_format")) {
      if (!format->is_string()) return wrong_type("encoding_format", "a string", *format);
      if (str(*format) == "base64") {
        req.base64 = true;
      } else if (str(*format) != "float") {
        return invalid("encoding_format", "encoding_format must be float or base64");
      }
    }
    if (auto st = read_positive_integer(json, "dimensions", req.dimensions); !st.ok()) {
      return st.error();
    }
    if (auto st = read_string(json, "user", "user", req.user); !st.ok()) return st.error();
    for (const auto& [key, value] : json.items()) {
      if (key != "model" && key != "input" && key != "encoding_format" && key != "dimensions" &&
          key != "user") {
        append_member(req.passthrough, key, value);
      }
    }
    return req;
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInvalidArgument,
                 std::string("could not read the request: ") + e.what());
  }
}

// ==== toward an OpenAI-compatible upstream ===================================================

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

Json embed_request_to_wire(const EmbedRequest& req, const std::string& upstream_model) {
  Json wire = Json::object();
  wire["model"] = upstream_model;
  if (!req.raw_input.is_null()) {
    wire["input"] = req.raw_input;
  } else if (req.inputs.size() == 1) {
    wire["input"] = req.inputs.front();
  } else {
    wire["input"] = req.inputs;
  }
  // Always floats from upstream (every OpenAI-compatible server speaks them); keel encodes
  // base64 for its client itself.
  wire["encoding_format"] = "float";
  if (req.dimensions) wire["dimensions"] = *req.dimensions;
  if (!req.user.empty()) wire["user"] = req.user;
  append_absent(wire, req.passthrough);
  return wire;
}

// ==== from an OpenAI-compatible upstream =====================================================

Result<std::vector<ChatEvent>> chat_response_from_wire(std::string_view body) {
  try {
    if (auto events = scan_chat_response(body)) return std::move(*events);
  } catch (const std::exception&) {
    // fall through to the full path, which reports
  }
  return chat_response_from_wire_parsed(body);
}

Result<std::vector<ChatEvent>> chat_response_from_wire_parsed(std::string_view body) {
  try {
    auto json = parse_json(body, ErrorCode::kBadGateway, "upstream response");
    if (!json) {
      return bad_gateway("upstream returned an invalid chat completion: " + json.error().message);
    }
    return chat_events_from_body(*json);
  } catch (const std::exception& e) {
    return bad_gateway(std::string("upstream returned an invalid chat completion: ") + e.what());
  }
}

bool OpenAIStreamDecoder::decode_scanned(std::string_view data, std::vector<ChatEvent>& out) {
  ScannedBody chunk;
  // After the first chunk only choices and usage matter (Start is out), and the members before
  // "choices" were read once: when a chunk repeats them byte for byte, read "{" + the rest. The
  // verdict is the same: the prefix was whole members of a valid object, and a key the rest
  // repeats (an id) is one whose value no later chunk uses.
  std::string_view text = data;
  if (started_ && prefix_.size() > 1 && data.size() > prefix_.size() &&
      data.compare(0, prefix_.size(), prefix_) == 0) {
    rest_.assign(1, '{');
    rest_.append(data.substr(prefix_.size()));
    text = rest_;
  }
  size_t choices_at = std::string_view::npos;
  if (!scan_body(text, "delta", chunk, started_ ? nullptr : &choices_at)) return false;
  if (!started_ && choices_at != std::string_view::npos) prefix_.assign(data.substr(0, choices_at));
  // The choice decode() picks: the first whose index is absent or 0.
  ScannedChoice* choice = nullptr;
  for (auto& candidate : chunk.choices) {
    if (!candidate.index || *candidate.index == 0) {
      choice = &candidate;
      break;
    }
  }
  if (!started_) {
    started_ = true;
    out.push_back(ChatEvent::start(std::move(chunk.id), std::move(chunk.model)));
  }
  if (choice && !choice->text.empty()) {
    ChatEvent::text_delta(out.emplace_back(), std::move(choice->text));
  }
  bool finish_in_chunk = false;
  if (choice && choice->finish_reason) {
    finish_in_chunk = true;
    if (!finished_) {
      finished_ = true;
      FinishReason finish = parse_finish_reason(*choice->finish_reason);
      if (finish == FinishReason::kNone) finish = FinishReason::kStop;
      out.push_back(ChatEvent::finished(finish));
    }
  }
  if (chunk.usage && (finish_in_chunk || finished_ || !choice)) {
    out.push_back(ChatEvent::usage_event(*chunk.usage));
  }
  return true;
}

Status OpenAIStreamDecoder::decode(std::string_view data, std::vector<ChatEvent>& out) {
  if (fast_path_) {
    try {
      if (decode_scanned(data, out)) return Status::Ok();
    } catch (const std::exception& e) {
      return bad_gateway(std::string("upstream sent an invalid stream chunk: ") + e.what());
    }
  }
  try {
    const std::string prefix = "upstream sent an invalid stream chunk: ";
    auto parsed = parse_json(data, ErrorCode::kBadGateway, "chunk");
    if (!parsed) return bad_gateway(prefix + parsed.error().message);
    const Json& chunk = *parsed;
    if (!chunk.is_object()) return bad_gateway(prefix + "chunk is " + describe(chunk));
    if (!member(chunk, "choices")) {
      if (auto message = error_payload_message(chunk)) {
        Error error = bad_gateway("upstream error: " + *message);
        finished_ = true;  // an error ends the stream; no Finish after it
        out.push_back(ChatEvent::failure(std::move(error)));
        return Status::Ok();
      }
    }
    // Validate the whole chunk before emitting anything from it.
    const Json* choices = member(chunk, "choices");
    if (choices && !choices->is_array()) return bad_gateway(prefix + "choices is not an array");
    const Json* choice = nullptr;
    if (choices) {
      for (const auto& candidate : *choices) {
        if (!candidate.is_object()) return bad_gateway(prefix + "a choice is not an object");
        const Json* index = member(candidate, "index");
        if (!index || (index->is_number() && as_int64(*index) == 0)) {
          choice = &candidate;
          break;
        }
      }
    }
    const Json* delta = choice ? member(*choice, "delta") : nullptr;
    if (delta && !delta->is_object()) return bad_gateway(prefix + "delta is not an object");
    std::string text;
    if (const Json* content = delta ? member(*delta, "content") : nullptr) {
      auto content_string = content_text(*content);
      if (!content_string) return bad_gateway(prefix + "delta.content is not a string");
      text = std::move(*content_string);
    }
    const Json* tool_calls = delta ? member(*delta, "tool_calls") : nullptr;
    if (tool_calls && !tool_calls->is_array()) {
      return bad_gateway(prefix + "delta.tool_calls is not an array");
    }
    std::optional<Usage> usage;
    if (const Json* wire_usage = member(chunk, "usage")) {
      auto parsed_usage = usage_from_wire(*wire_usage);
      if (!parsed_usage) return bad_gateway(prefix + parsed_usage.error().message);
      usage = *parsed_usage;
    }

    // Tool-call deltas -> (index, id, name, arguments), validated.
    struct ToolDelta {
      int index;
      std::string id, name, arguments;
    };
    std::vector<ToolDelta> tool_deltas;
    if (tool_calls) {
      int last_index = -1;
      for (size_t i = 0; i < tool_started_.size(); ++i) {
        if (tool_started_[i]) last_index = static_cast<int>(i);
      }
      for (const auto& call : *tool_calls) {
        if (!call.is_object()) return bad_gateway(prefix + "a tool call delta is not an object");
        ToolDelta tool;
        tool.id = optional_string(call, "id");
        const Json* index = member(call, "index");
        if (index) {
          auto value = as_int64(*index);
          if (!value || *value < 0 || *value > kMaxToolIndex) {
            return bad_gateway(prefix + "tool call index is not a small non-negative integer");
          }
          tool.index = static_cast<int>(*value);
        } else {
          // Some servers omit the index: a new id starts a new call, otherwise it continues the
          // last one.
          tool.index = (!tool.id.empty() || last_index < 0) ? last_index + 1 : last_index;
          if (tool.index > kMaxToolIndex) return bad_gateway(prefix + "too many tool calls");
        }
        last_index = std::max(last_index, tool.index);
        if (const Json* function = member(call, "function")) {
          if (!function->is_object())
            return bad_gateway(prefix + "tool call function is not an object");
          tool.name = optional_string(*function, "name");
          if (const Json* args = member(*function, "arguments")) {
            if (args->is_string()) {
              tool.arguments = str(*args);
            } else if (args->is_object()) {
              tool.arguments = args->dump();
            } else {
              return bad_gateway(prefix + "tool call arguments are not a string");
            }
          }
        }
        tool_deltas.push_back(std::move(tool));
      }
    }

    if (!started_) {
      started_ = true;
      out.push_back(
          ChatEvent::start(optional_string(chunk, "id"), optional_string(chunk, "model")));
    }
    if (!text.empty()) out.push_back(ChatEvent::text_delta(std::move(text)));
    for (auto& tool : tool_deltas) {
      if (tool.index >= static_cast<int>(tool_started_.size()))
        tool_started_.resize(tool.index + 1);
      if (!tool_started_[tool.index]) {
        tool_started_[tool.index] = true;
        out.push_back(
            ChatEvent::tool_call_start(tool.index, std::move(tool.id), std::move(tool.name)));
      }
      if (!tool.arguments.empty()) {
        out.push_back(ChatEvent::tool_args_delta(tool.index, std::move(tool.arguments)));
      }
    }
    bool finish_in_chunk = false;
    if (choice) {
      if (const Json* reason = member(*choice, "finish_reason"); reason && reason->is_string()) {
        finish_in_chunk = true;
        if (!finished_) {
          finished_ = true;
          FinishReason finish = parse_finish_reason(str(*reason));
          if (finish == FinishReason::kNone) finish = FinishReason::kStop;
          out.push_back(ChatEvent::finished(finish));
        }
      }
    }
    // Usage belongs at the end: on the finish chunk or a choices-less chunk after it. Servers
    // that report running usage on every content chunk are ignored until then.
    if (usage && (finish_in_chunk || finished_ || !choice)) {
      out.push_back(ChatEvent::usage_event(*usage));
    }
    return Status::Ok();
  } catch (const std::exception& e) {
    return bad_gateway(std::string("upstream sent an invalid stream chunk: ") + e.what());
  }
}

void OpenAIStreamDecoder::finish(std::vector<ChatEvent>& out) {
  if (started_ && !finished_) out.push_back(ChatEvent::finished(FinishReason::kStop));
  finished_ = true;
}

Result<Embeddings> embeddings_from_wire(std::string_view body) {
  try {
    const std::string prefix = "upstream returned invalid embeddings: ";
    auto parsed = parse_json(body, ErrorCode::kBadGateway, "upstream response");
    if (!parsed) return bad_gateway(prefix + parsed.error().message);
    const Json& json = *parsed;
    if (!json.is_object()) return bad_gateway(prefix + "body is " + describe(json));
    const Json* data = member(json, "data");
    if (!data) {
      if (auto message = error_payload_message(json))
        return bad_gateway("upstream error: " + *message);
      return bad_gateway(prefix + "no data");
    }
    if (!data->is_array()) return bad_gateway(prefix + "data is not an array");
    Embeddings out;
    out.vectors.resize(data->size());
    std::vector<bool> filled(data->size(), false);
    for (size_t i = 0; i < data->size(); ++i) {
      const Json& item = (*data)[i];
      if (!item.is_object()) return bad_gateway(prefix + "data item is not an object");
      size_t index = i;
      if (const Json* wire_index = member(item, "index")) {
        auto value = as_int64(*wire_index);
        if (!value || *value < 0 || static_cast<uint64_t>(*value) >= data->size()) {
          return bad_gateway(prefix + "index out of range");
        }
        index = static_cast<size_t>(*value);
      }
      if (filled[index]) return bad_gateway(prefix + "duplicate index");
      filled[index] = true;
      const Json* embedding = member(item, "embedding");
      if (!embedding) return bad_gateway(prefix + "data item has no embedding");
      std::vector<float>& vector = out.vectors[index];
      if (embedding->is_array()) {
        vector.reserve(embedding->size());
        for (const auto& number : *embedding) {
          if (!number.is_number()) return bad_gateway(prefix + "embedding holds a non-number");
          vector.push_back(static_cast<float>(number.get<double>()));
        }
      } else if (embedding->is_string()) {
        auto bytes = base64_decode(str(*embedding));
        if (!bytes || bytes->size() % 4 != 0)
          return bad_gateway(prefix + "embedding is not base64 float32");
        vector.resize(bytes->size() / 4);
        for (size_t k = 0; k < vector.size(); ++k) {
          const auto* b = reinterpret_cast<const unsigned char*>(bytes->data() + 4 * k);
          uint32_t bits = uint32_t{b[0]} | (uint32_t{b[1]} << 8) | (uint32_t{b[2]} << 16) |
                          (uint32_t{b[3]} << 24);
          std::memcpy(&vector[k], &bits, sizeof bits);
        }
      } else {
        return bad_gateway(prefix + "embedding is neither an array nor a base64 string");
      }
    }
    out.model = optional_string(json, "model");
    if (const Json* usage = member(json, "usage")) {
      auto parsed_usage = usage_from_wire(*usage);
      if (!parsed_usage) return bad_gateway(prefix + parsed_usage.error().message);
      out.usage = *parsed_usage;
    }
    return out;
  } catch (const std::exception& e) {
    return bad_gateway(std::string("upstream returned invalid embeddings: ") + e.what());
  }
}

std::string upstream_error_message(std::string_view body) {
  try {
    if (auto parsed = try_parse_json(body)) {
      Json json = std::move(*parsed);
      // Gemini's OpenAI-compatible endpoint wraps its error in a one-element array.
      if (json.is_array() && !json.empty() && json[0].is_object()) json = Json(json[0]);
      if (json.is_object()) {
        std::string message;
        if (auto payload = error_payload_message(json); payload && *payload != "(no message)") {
          message = *payload;
        } else if (const Json* text = member(json, "message"); text && text->is_string()) {
          message = str(*text);
        } else if (const Json* detail = member(json, "detail"); detail && detail->is_string()) {
          message = str(*detail);
        }
        if (!message.empty()) return truncate_utf8(message, kMaxUpstreamMessageBytes);
      }
    }
    std::string excerpt = sanitized_excerpt(body, kExcerptBytes);
    return excerpt.empty() ? std::string("(empty body)") : excerpt;
  } catch (const std::exception&) {
    return "(unreadable body)";
  }
}

// ==== toward the client ======================================================================

Json citation_to_openai(const Citation& citation) {
  // The chunk's address: knowledge://BASE/SOURCE#chunk=ID&start=S&end=E (byte offsets into the
  // source's extracted text); the title names the file and, when it has one, the heading.
  std::string url = "knowledge://" + citation.knowledge + "/" + citation.source +
                    "#chunk=" + citation.chunk_id +
                    "&start=" + std::to_string(citation.source_start) +
                    "&end=" + std::to_string(citation.source_end);
  std::string title = citation.source;
  if (!citation.heading.empty()) title += " > " + citation.heading;
  return {{"type", "url_citation"},
          {"url_citation",
           {{"end_index", citation.text_end},
            {"start_index", citation.text_start},
            {"title", std::move(title)},
            {"url", std::move(url)}}}};
}

Json chat_response_to_wire(const ChatResponse& resp) {
  const Message& message = resp.message;
  std::string text = message.text();
  Json wire_message = {
      {"role", "assistant"},
      {"content",
       text.empty() && !message.tool_calls.empty() ? Json(nullptr) : Json(std::move(text))},
      {"refusal", nullptr}};
  if (!message.tool_calls.empty()) {
    Json calls = Json::array();
    for (const auto& call : message.tool_calls) calls.push_back(tool_call_to_wire(call));
    wire_message["tool_calls"] = std::move(calls);
  }
  if (!message.citations.empty()) {
    Json annotations = Json::array();
    for (const Citation& citation : message.citations) {
      annotations.push_back(citation_to_openai(citation));
    }
    wire_message["annotations"] = std::move(annotations);
  }
  FinishReason finish = resp.finish;
  if (finish == FinishReason::kNone || finish == FinishReason::kError) {
    finish = message.tool_calls.empty() ? FinishReason::kStop : FinishReason::kToolCalls;
  }
  Json choice = {{"index", 0},
                 {"message", std::move(wire_message)},
                 {"finish_reason", finish_reason_name(finish)},
                 {"logprobs", nullptr}};
  return {{"id", resp.id},
          {"object", "chat.completion"},
          {"created", resp.created},
          {"model", resp.model},
          {"choices", Json::array({std::move(choice)})},
          {"usage", usage_to_wire(resp.usage)}};
}

namespace {

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. The same set that
// nlohmann's serializer accepts as-is (anything else it repairs under error_handler replace).
bool valid_utf8(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    // ASCII eight bytes at a time.
    while (n - i >= 8) {
      uint64_t word;
      std::memcpy(&word, text.data() + i, 8);
      if (word & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i == n) break;
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length;
    unsigned char low = 0x80, high = 0xBF;   // bounds of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;
      if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;
      if (c == 0xF4) high = 0x8F;
    } else {
      return false;
    }
    if (i + length > n) return false;
    auto second = static_cast<unsigned char>(text[i + 1]);
    if (second < low || second > high) return false;
    for (size_t k = 2; k < length; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if (next < 0x80 || next > 0xBF) return false;
    }
    i += length;
  }
  return true;
}

// Appends `text` as a JSON string the way Json::dump writes it (ensure_ascii off): the short
// escapes, \u00XX (lower-case hex) for other control characters, everything else as it is.
// Only for valid UTF-8 (see valid_utf8).
void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  // Runs of bytes that stay as they are go in one append each; json_plain_run_end finds the
  // next byte to look at eight bytes at a time (it also stops at non-ASCII bytes, which stay).
  const char* p = text.data();
  const char* const end = p + text.size();
  const char* run = p;
  while ((p = json_plain_run_end(p, end)) != end) {
    auto c = static_cast<unsigned char>(*p);
    if (c >= 0x80) {
      ++p;
      continue;
    }
    out.append(run, static_cast<size_t>(p - run));
    run = ++p;
    switch (c) {
      case '"': out += "\\\""sv; break;
      case '\\': out += "\\\\"sv; break;
      case '\b': out += "\\b"sv; break;
      case '\f': out += "\\f"sv; break;
      case '\n': out += "\\n"sv; break;
      case '\r': out += "\\r"sv; break;
      case '\t': out += "\\t"sv; break;
      default:
        static constexpr char kHex[] = "0123456789abcdef";
        out += "\\u00"sv;
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
  out.append(run, static_cast<size_t>(end - run));
  out += '"';
}

std::string dump_chunk(const Json& chunk) {
  return chunk.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

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
    if (message.role == Role::kTool || !message.tool_calls.empty() ||
        !message.content_is_string || message.content.size() != 1 ||
        message.content.front().type != ContentPart::Type::kText ||
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

std::string chat_response_to_wire_text(const ChatResponse& resp) {
  const Message& message = resp.message;
  std::string text = message.text();
  if (!message.tool_calls.empty() || !message.citations.empty() || !valid_utf8(text) ||
      !valid_utf8(resp.id) || !valid_utf8(resp.model)) {
    return dump_chunk(chat_response_to_wire(resp));
  }
  FinishReason finish = resp.finish;
  if (finish == FinishReason::kNone || finish == FinishReason::kError) finish = FinishReason::kStop;
  // chat_response_to_wire's order (OpenAI's), which Json::dump keeps.
  std::string out;
  out.reserve(320 + text.size() + resp.id.size() + resp.model.size());
  out += R"({"id":)"sv;
  append_json_string(out, resp.id);
  out += R"(,"object":"chat.completion","created":)"sv;
  append_decimal(out, resp.created);
  out += R"(,"model":)"sv;
  append_json_string(out, resp.model);
  out += R"(,"choices":[{"index":0,"message":{"role":"assistant","content":)"sv;
  append_json_string(out, text);
  out += R"(,"refusal":null},"finish_reason":)"sv;
  append_json_string(out, finish_reason_name(finish));
  out += R"(,"logprobs":null}],"usage":{"prompt_tokens":)"sv;
  append_decimal(out, resp.usage.prompt_tokens);
  out += R"(,"completion_tokens":)"sv;
  append_decimal(out, resp.usage.completion_tokens);
  out += R"(,"total_tokens":)"sv;
  append_decimal(out, resp.usage.total_tokens);
  if (resp.usage.cached_tokens) {
    out += R"(,"prompt_tokens_details":{"cached_tokens":)"sv;
    append_decimal(out, *resp.usage.cached_tokens);
    out += '}';
  }
  out += "}}"sv;
  return out;
}

OpenAIStreamEncoder::OpenAIStreamEncoder(std::string id, std::string model, int64_t created,
                                         bool include_usage)
    : id_(std::move(id)),
      model_(std::move(model)),
      created_(created),
      include_usage_(include_usage) {}

Json OpenAIStreamEncoder::base_chunk() const {
  Json chunk = {{"id", id_},
                {"object", "chat.completion.chunk"},
                {"created", created_},
                {"model", model_},
                {"choices", Json::array()}};
  if (include_usage_) chunk["usage"] = nullptr;  // as OpenAI does on every chunk but the last
  return chunk;
}

void OpenAIStreamEncoder::push_annotations(std::vector<Json>& out) {
  if (annotations_.empty()) return;
  Json chunk = base_chunk();
  Json delta = {{"annotations", std::move(annotations_)}};
  chunk["choices"].push_back({{"index", 0},
                              {"delta", std::move(delta)},
                              {"logprobs", nullptr},
                              {"finish_reason", nullptr}});
  annotations_ = Json::array();
  out.push_back(std::move(chunk));
}

void OpenAIStreamEncoder::encode(const ChatEvent& event, std::vector<Json>& out) {
  auto push = [&](Json delta, const char* finish_reason) {
    Json chunk = base_chunk();
    chunk["choices"].push_back({{"index", 0},
                                {"delta", std::move(delta)},
                                {"logprobs", nullptr},
                                {"finish_reason", finish_reason ? Json(finish_reason) : Json()}});
    out.push_back(std::move(chunk));
  };
  // OpenAI's first chunk: {"role": "assistant", "content": "", "refusal": null}.
  auto send_role = [&] {
    if (role_sent_) return;
    role_sent_ = true;
    push({{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}}, nullptr);
  };

  switch (event.kind) {
    case ChatEvent::Kind::kStart:
      send_role();
      break;
    case ChatEvent::Kind::kTextDelta:
      if (event.text.empty()) break;
      send_role();
      push({{"content", event.text}}, nullptr);
      break;
    case ChatEvent::Kind::kToolCallStart: {
      send_role();
      Json call = {{"index", event.tool_index},
                   {"id", event.tool_id},
                   {"type", "function"},
                   {"function", {{"name", event.tool_name}, {"arguments", ""}}}};
      Json delta = Json::object();
      delta["tool_calls"] = Json::array();
      delta["tool_calls"].push_back(std::move(call));
      push(std::move(delta), nullptr);
      break;
    }
    case ChatEvent::Kind::kToolArgsDelta: {
      if (event.text.empty()) break;
      send_role();
      Json call = {{"index", event.tool_index}, {"function", {{"arguments", event.text}}}};
      Json delta = Json::object();
      delta["tool_calls"] = Json::array();
      delta["tool_calls"].push_back(std::move(call));
      push(std::move(delta), nullptr);
      break;
    }
    case ChatEvent::Kind::kFinish: {
      send_role();
      push_annotations(out);
      FinishReason finish = event.finish;
      if (finish == FinishReason::kNone || finish == FinishReason::kError) {
        finish = FinishReason::kStop;
      }
      push(Json::object(), finish_reason_name(finish));
      break;
    }
    case ChatEvent::Kind::kCitation:
      // Held for one chunk before the finish: the SDK's stream helper keeps the last
      // `annotations` a delta carried, so they go out together.
      if (event.citation) annotations_.push_back(citation_to_openai(*event.citation));
      break;
    case ChatEvent::Kind::kUsage:
      if (include_usage_) {
        Json chunk = base_chunk();
        chunk["usage"] = usage_to_wire(event.usage);
        out.push_back(std::move(chunk));
      }
      break;
    case ChatEvent::Kind::kError:
    case ChatEvent::Kind::kReasoningDelta:  // chat completions has no field for reasoning
    case ChatEvent::Kind::kReasoningSignature:
      break;
  }
}

std::string_view OpenAIStreamEncoder::text_chunk(std::string_view delta,
                                                 const char* finish_reason) {
  // base_chunk's order, which Json::dump keeps: id, object, created, model, choices, usage; in
  // a choice: index, delta, logprobs, finish_reason.
  std::string& chunk = chunk_;
  chunk.clear();
  chunk += head_;
  chunk += delta;
  chunk += R"(,"logprobs":null,"finish_reason":)"sv;
  if (finish_reason) {
    append_json_string(chunk, finish_reason);
  } else {
    chunk += "null"sv;
  }
  chunk += include_usage_ ? R"(}],"usage":null})"sv : R"(}]})"sv;
  return chunk;
}

void OpenAIStreamEncoder::encode_text(const ChatEvent& event,
                                      const std::function<void(std::string_view)>& emit) {
  if (!head_ready_) {
    head_ready_ = true;
    text_ok_ = valid_utf8(id_) && valid_utf8(model_);
    if (text_ok_) {
      head_.clear();
      head_ += R"({"id":)"sv;
      append_json_string(head_, id_);
      head_ += R"(,"object":"chat.completion.chunk","created":)"sv;
      append_decimal(head_, created_);
      head_ += R"(,"model":)"sv;
      append_json_string(head_, model_);
      head_ += R"(,"choices":[{"index":0,"delta":)"sv;
    }
  }
  bool direct = text_ok_ && (event.kind == ChatEvent::Kind::kStart ||
                             event.kind == ChatEvent::Kind::kFinish ||
                             (event.kind == ChatEvent::Kind::kTextDelta && valid_utf8(event.text)));
  if (!direct) {
    std::vector<Json> chunks;
    encode(event, chunks);
    for (const auto& chunk : chunks) emit(dump_chunk(chunk));
    return;
  }
  if (event.kind == ChatEvent::Kind::kTextDelta && event.text.empty()) return;
  if (!role_sent_) {
    role_sent_ = true;
    emit(text_chunk(R"({"role":"assistant","content":"","refusal":null})", nullptr));
  }
  if (event.kind == ChatEvent::Kind::kTextDelta) {
    delta_.clear();
    delta_ += R"({"content":)"sv;
    append_json_string(delta_, event.text);
    delta_ += '}';
    emit(text_chunk(delta_, nullptr));
  } else if (event.kind == ChatEvent::Kind::kFinish) {
    if (!annotations_.empty()) {
      std::vector<Json> chunks;
      push_annotations(chunks);
      for (const auto& chunk : chunks) emit(dump_chunk(chunk));
    }
    FinishReason finish = event.finish;
    if (finish == FinishReason::kNone || finish == FinishReason::kError) finish = FinishReason::kStop;
    emit(text_chunk("{}", finish_reason_name(finish)));
  }
}

Json embeddings_to_wire(const Embeddings& embeddings, bool base64) {
  Json data = Json::array();
  for (size_t i = 0; i < embeddings.vectors.size(); ++i) {
    const std::vector<float>& vector = embeddings.vectors[i];
    Json item = {{"object", "embedding"}, {"index", i}};
    if (base64) {
      std::string bytes(vector.size() * 4, '\0');
      for (size_t k = 0; k < vector.size(); ++k) {
        uint32_t bits;
        std::memcpy(&bits, &vector[k], sizeof bits);
        bytes[4 * k] = static_cast<char>(bits & 0xff);  // little-endian, as OpenAI sends it
        bytes[4 * k + 1] = static_cast<char>((bits >> 8) & 0xff);
        bytes[4 * k + 2] = static_cast<char>((bits >> 16) & 0xff);
        bytes[4 * k + 3] = static_cast<char>((bits >> 24) & 0xff);
      }
      item["embedding"] =
          base64_encode(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
    } else {
      Json numbers = Json::array();
      numbers.get_ref<Json::array_t&>().reserve(vector.size());
      for (float value : vector) numbers.push_back(float_for_json(value));
      item["embedding"] = std::move(numbers);
    }
    data.push_back(std::move(item));
  }
  return {{"object", "list"},
          {"data", std::move(data)},
          {"model", embeddings.model},
          {"usage",
           {{"prompt_tokens", embeddings.usage.prompt_tokens},
            {"total_tokens", embeddings.usage.total_tokens}}}};
}

Json model_to_wire(const std::string& name, int64_t created) {
  return {{"id", name}, {"object", "model"}, {"created", created}, {"owned_by", "keel"}};
}

Json models_to_wire(const std::vector<std::string>& names, int64_t created) {
  Json data = Json::array();
  for (const auto& name : names) data.push_back(model_to_wire(name, created));
  return {{"object", "list"}, {"data", std::move(data)}};
}

// ==== errors =================================================================================

int http_status_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kPayloadTooLarge:
      return 413;
    case ErrorCode::kUnsupportedMedia:
      return 415;
    case ErrorCode::kResourceExhausted:
      return 429;
    case ErrorCode::kInternal:
      return 500;
    case ErrorCode::kBadGateway:
      return 502;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kDeadlineExceeded:
      return 504;
    case ErrorCode::kCancelled:
      return 499;
  }
  return 500;
}

Json error_to_wire(const Error& error) {
  const char* type = "api_error";
  Json code = nullptr;
  switch (error.code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kNotFound:
    case ErrorCode::kPayloadTooLarge:
    case ErrorCode::kUnsupportedMedia:
      type = "invalid_request_error";
      break;
    case ErrorCode::kUnauthenticated:
      type = "authentication_error";
      code = "invalid_api_key";
      break;
    case ErrorCode::kPermissionDenied:
      type = "permission_error";
      break;
    case ErrorCode::kResourceExhausted:
      type = "rate_limit_error";
      code = "rate_limit_exceeded";
      break;
    case ErrorCode::kDeadlineExceeded:
      code = "timeout";
      break;
    case ErrorCode::kInternal:
    case ErrorCode::kBadGateway:
    case ErrorCode::kUnavailable:
    case ErrorCode::kCancelled:
      break;
  }
  if (!error.type_code.empty()) code = error.type_code;
  std::string message = error.message.empty() ? error_code_name(error.code) : error.message;
  return {{"error",
           {{"message", std::move(message)},
            {"type", type},
            {"param", error.param.empty() ? Json(nullptr) : Json(error.param)},
            {"code", std::move(code)}}}};
}

}  // namespace keel
