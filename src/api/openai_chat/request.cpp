// OpenAI chat front door: a ChatCompletionCreateParams body -> native ChatRequest
// (openai_chat.h), by the fast scanner for the common shapes and by the full parser otherwise.
// None of the functions that read untrusted bytes throws: JSON is depth-checked before it is
// parsed, every value's type is checked before it is read, and each public function also
// catches at its own boundary as a last line of defence.
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
    } else if (str(*type) == "file") {
      if (role != Role::kUser) {
        return invalid(part_path + ".type",
                       part_path + ": file parts are only allowed in user messages");
      }
      const Json* file = member(item, "file");
      if (!file) return invalid(part_path + ".file", part_path + ".file is required");
      if (auto st = parse_openai_file(*file, part_path + ".file", part); !st.ok()) return st;
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

// The members after `model`, which read_request_body read.
Status parse_chat_object(const Json& body, ChatRequest& req) {
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
  if (auto st = read_sampling(body, sampling); !st.ok()) return st;

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

  if (auto st = read_stream(body, req); !st.ok()) return st;

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
  return read_request_body(body, parse_chat_object);
}

}  // namespace keel
