// The client's Responses request -> ResponsesRequest / native ChatRequest (responses.h).
#include <utility>

#include "api/json_util.h"
#include "api/responses/responses.h"
#include "core/ids.h"

namespace keel {
namespace {

// Members echoed on the response object as the client gave them.
constexpr const char* kEchoed[] = {
    "tools",
    "tool_choice",
    "text",
    "reasoning",
    "metadata",
    "temperature",
    "top_p",
    "user",
    "parallel_tool_calls",
    "max_output_tokens",
    "truncation",
    "prompt_cache_key",
    "safety_identifier",
    "service_tier",
    "top_logprobs",
    "max_tool_calls",
    "include",
};

Result<std::string> required_string(const Json& object, const char* key, const std::string& path) {
  const Json* value = member(object, key);
  if (!value) return invalid(path + "." + key, path + "." + key + " is required");
  if (!value->is_string()) return wrong_type(path + "." + key, "a string", *value);
  return str(*value);
}

// The item's own id when it has one, else a new one.
std::string item_id(const Json& item, const char* prefix) {
  const std::string given = optional_string(item, "id");
  return given.empty() ? new_id(prefix) : given;
}

Result<Json> normalise_part(const Json& part, const std::string& path, bool assistant) {
  if (!part.is_object()) return wrong_type(path, "an object", part);
  const std::string type = optional_string(part, "type");
  Json out = Json::object();
  out["type"] = type;
  if (type == "input_text" || type == "output_text") {
    auto text = required_string(part, "text", path);
    if (!text) return text.error();
    out["text"] = std::move(*text);
    if (type == "output_text") {
      const Json* annotations = member(part, "annotations");
      out["annotations"] = annotations && annotations->is_array() ? *annotations : Json::array();
    }
    return out;
  }
  if (type == "refusal") {
    auto refusal = required_string(part, "refusal", path);
    if (!refusal) return refusal.error();
    out["refusal"] = std::move(*refusal);
    return out;
  }
  if (type == "input_image" && !assistant) {
    const Json* url = member(part, "image_url");
    if (!url) {
      return invalid(path + ".image_url",
                     path + ": input_image needs image_url (file_id is not supported by keel)");
    }
    if (!url->is_string()) return wrong_type(path + ".image_url", "a string", *url);
    out["image_url"] = *url;
    out["detail"] = optional_string(part, "detail").empty() ? std::string("auto")
                                                            : optional_string(part, "detail");
    return out;
  }
  if (type == "input_file" && !assistant) {
    // ResponseInputFile: file_data (a base64 data: URL) and filename; file_id and file_url
    // would have keel look up or fetch the file: a 400 naming them.
    if (member(part, "file_url")) {
      return invalid(path + ".file_url", path +
                                             ".file_url is not supported: keel does not fetch "
                                             "files; send the file as file_data");
    }
    ContentPart document;
    if (auto st = parse_openai_file(part, path, document); !st.ok()) return st.error();
    out["file_data"] = *member(part, "file_data");
    if (!document.document->filename.empty()) out["filename"] = document.document->filename;
    return out;
  }
  if (type.empty()) return invalid(path + ".type", path + ".type is required");
  return invalid(path + ".type", path + ".type '" + truncate_utf8(type, 64) +
                                     "' is not supported by keel in an " +
                                     (assistant ? "assistant" : "input") + " message");
}

Result<Json> normalise_message(const Json& item, const std::string& path) {
  auto role = required_string(item, "role", path);
  if (!role) return role.error();
  const bool assistant = *role == "assistant";
  if (!assistant && *role != "user" && *role != "system" && *role != "developer") {
    return invalid(path + ".role", path +
                                       ".role must be one of user, assistant, system, "
                                       "developer, got " +
                                       echo(*role));
  }
  const Json* content = member(item, "content");
  if (!content) return invalid(path + ".content", path + ".content is required");
  Json parts = Json::array();
  if (content->is_string()) {
    Json part = Json::object();
    part["type"] = assistant ? "output_text" : "input_text";
    part["text"] = *content;
    if (assistant) part["annotations"] = Json::array();
    parts.push_back(std::move(part));
  } else if (content->is_array()) {
    for (size_t i = 0; i < content->size(); ++i) {
      auto part = normalise_part((*content)[i], indexed(path + ".content", i), assistant);
      if (!part) return part.error();
      parts.push_back(std::move(*part));
    }
  } else {
    return wrong_type(path + ".content", "a string or an array", *content);
  }
  Json out = Json::object();
  out["id"] = item_id(item, "msg_");
  out["type"] = "message";
  out["role"] = std::move(*role);
  out["content"] = std::move(parts);
  out["status"] = "completed";
  return out;
}

// function_call_output's `output`: a string, or an array of content parts kept as given.
Result<Json> tool_output(const Json& item, const std::string& path) {
  const Json* output = member(item, "output");
  if (!output) return invalid(path + ".output", path + ".output is required");
  if (!output->is_string() && !output->is_array()) {
    return wrong_type(path + ".output", "a string or an array", *output);
  }
  return *output;
}

Result<Json> normalise_item(const Json& item, const std::string& path) {
  if (!item.is_object()) return wrong_type(path, "an object", item);
  const Json* type_value = member(item, "type");
  if (type_value && !type_value->is_string()) {
    return wrong_type(path + ".type", "a string", *type_value);
  }
  // EasyInputMessage has no type.
  const std::string type = type_value ? str(*type_value) : std::string("message");
  if (type == "message") return normalise_message(item, path);
  Json out = Json::object();
  if (type == "function_call" || type == "custom_tool_call") {
    const bool custom = type == "custom_tool_call";
    auto call_id = required_string(item, "call_id", path);
    if (!call_id) return call_id.error();
    auto name = required_string(item, "name", path);
    if (!name) return name.error();
    auto arguments = required_string(item, custom ? "input" : "arguments", path);
    if (!arguments) return arguments.error();
    out["id"] = item_id(item, custom ? "ctc_" : "fc_");
    out["type"] = type;
    out["status"] = "completed";
    out["call_id"] = std::move(*call_id);
    out["name"] = std::move(*name);
    out[custom ? "input" : "arguments"] = std::move(*arguments);
    if (const Json* namespace_name = member(item, "namespace")) {
      if (!namespace_name->is_string()) {
        return wrong_type(path + ".namespace", "a string", *namespace_name);
      }
      out["namespace"] = *namespace_name;
    }
    return out;
  }
  if (type == "function_call_output" || type == "custom_tool_call_output") {
    auto call_id = required_string(item, "call_id", path);
    if (!call_id) return call_id.error();
    auto output = tool_output(item, path);
    if (!output) return output.error();
    out["id"] = item_id(item, type == "function_call_output" ? "fco_" : "ctco_");
    out["type"] = type;
    out["status"] = "completed";
    out["call_id"] = std::move(*call_id);
    out["output"] = std::move(*output);
    return out;
  }
  if (type == "reasoning") {
    // Kept in stored state as given; no vendor but the one that made it can read it.
    const Json* summary = member(item, "summary");
    if (summary && !summary->is_array()) {
      return wrong_type(path + ".summary", "an array", *summary);
    }
    out = item;
    out["id"] = item_id(item, "rs_");
    if (!summary) out["summary"] = Json::array();
    return out;
  }
  if (type == "file_search_call") {
    // keel's own search of an earlier turn, sent back: kept, never shown to a model again.
    out = item;
    out["id"] = item_id(item, "fs_");
    return out;
  }
  return invalid(path + ".type", path + ".type '" + truncate_utf8(type, 64) +
                                     "' is not supported by keel (supported: message, "
                                     "function_call, function_call_output, custom_tool_call, "
                                     "custom_tool_call_output, reasoning, file_search_call)");
}

// One function or custom tool (`namespace_name` "" for a top-level one).
Status parse_tool(const Json& tool, const std::string& path, const std::string& namespace_name,
                  ResponsesRequest& req) {
  if (!tool.is_object()) return wrong_type(path, "an object", tool);
  const std::string type = optional_string(tool, "type");
  auto name = required_string(tool, "name", path);
  if (!name) return name.error();
  ToolSpec spec;
  spec.name = qualified_tool_name(namespace_name, *name);
  spec.description = optional_string(tool, "description");
  if (type == "function") {
    if (const Json* parameters = member(tool, "parameters")) {
      if (!parameters->is_object()) {
        return wrong_type(path + ".parameters", "an object", *parameters);
      }
      spec.parameters = *parameters;
    } else {
      spec.parameters = Json{{"type", "object"}, {"properties", Json::object()}};
    }
    if (const Json* strict = member(tool, "strict")) {
      if (!strict->is_boolean()) return wrong_type(path + ".strict", "a boolean", *strict);
      spec.strict = strict->get<bool>();
    }
  } else {
    // A custom tool takes free text; offered as a function of one string, its grammar (when
    // it has one) spelled out in the description.
    std::string input_description = "The tool's input, as free text.";
    if (const Json* format = member(tool, "format"); format && format->is_object()) {
      if (optional_string(*format, "type") == "grammar") {
        input_description = "The tool's input. It must follow this " +
                            optional_string(*format, "syntax") + " grammar:\n" +
                            optional_string(*format, "definition");
      }
    }
    Json input = Json::object();
    input["type"] = "string";
    input["description"] = std::move(input_description);
    spec.parameters = Json::object();
    spec.parameters["type"] = "object";
    spec.parameters["properties"] = Json::object();
    spec.parameters["properties"]["input"] = std::move(input);
    spec.parameters["required"] = Json::array({"input"});
    spec.parameters["additionalProperties"] = false;
    req.custom_tools.insert(spec.name);
  }
  if (!namespace_name.empty()) req.namespaced[spec.name] = {namespace_name, *name};
  req.chat.tools.push_back(std::move(spec));
  return Status::Ok();
}

// {"type": "file_search", "vector_store_ids": [...], "max_num_results"?, "ranking_options"?,
// "filters"?} (filters: api/attribute_filter.h).
Status parse_file_search(const Json& tool, const std::string& path, ResponsesRequest& req) {
  if (req.file_search) {
    return invalid(path + ".type", "only one file_search tool may be given");
  }
  FileSearchOptions options;
  const Json* ids = member(tool, "vector_store_ids");
  if (!ids || !ids->is_array() || ids->empty()) {
    return invalid(path + ".vector_store_ids",
                   "vector_store_ids must be a non-empty array of vector store ids");
  }
  for (size_t i = 0; i < ids->size(); ++i) {
    const Json& id = (*ids)[i];
    if (!id.is_string()) return wrong_type(indexed(path + ".vector_store_ids", i), "a string", id);
    options.vector_store_ids.push_back(str(id));
  }
  if (const Json* max = member(tool, "max_num_results"); max && !max->is_null()) {
    if (!max->is_number_integer() || max->get<int64_t>() < 1 || max->get<int64_t>() > 50) {
      return invalid(path + ".max_num_results", "max_num_results must be an integer from 1 to 50");
    }
    options.max_num_results = static_cast<int>(max->get<int64_t>());
  }
  if (const Json* filters = member(tool, "filters")) {
    auto filter = parse_attribute_filter(*filters, path + ".filters");
    if (!filter) return filter.error();
    options.filters = std::move(*filter);
  }
  if (const Json* ranking = member(tool, "ranking_options"); ranking && !ranking->is_null()) {
    if (!ranking->is_object()) return wrong_type(path + ".ranking_options", "an object", *ranking);
    if (const Json* threshold = member(*ranking, "score_threshold")) {
      if (!threshold->is_number() || threshold->get<double>() < 0 || threshold->get<double>() > 1) {
        return invalid(path + ".ranking_options.score_threshold",
                       "score_threshold must be a number from 0 to 1");
      }
      options.score_threshold = threshold->get<double>();
    }
    if (const Json* ranker = member(*ranking, "ranker")) {
      if (!ranker->is_string() ||
          (str(*ranker) != "auto" && str(*ranker) != "default-2024-11-15")) {
        return invalid(path + ".ranking_options.ranker",
                       "ranker must be 'auto' or 'default-2024-11-15'");
      }
    }
  }
  ToolSpec spec;
  spec.name = kFileSearchTool;
  spec.description =
      "Searches the user's uploaded files for passages relevant to a query. Use it to answer "
      "questions about those files; the results are numbered sources to cite.";
  spec.parameters = Json::parse(R"({"type": "object", "properties": {"query": {"type": "string",
      "description": "What to search for, in a few words or a question."}},
      "required": ["query"], "additionalProperties": false})");
  req.file_search = std::move(options);
  req.file_search_spec = std::move(spec);
  return Status::Ok();
}

Status parse_tools(const Json& tools, ResponsesRequest& req) {
  if (!tools.is_array()) return wrong_type("tools", "an array", tools);
  auto unsupported = [](const std::string& path, const std::string& type) {
    return invalid(path + ".type", "tool type '" + truncate_utf8(type, 64) +
                                       "' is not supported by keel: it runs only function, "
                                       "custom, namespace and file_search tools");
  };
  for (size_t i = 0; i < tools.size(); ++i) {
    const Json& tool = tools[i];
    const std::string path = indexed("tools", i);
    if (!tool.is_object()) return wrong_type(path, "an object", tool);
    const std::string type = optional_string(tool, "type");
    if (type == "namespace") {
      // A group of function and custom tools under one name.
      auto name = required_string(tool, "name", path);
      if (!name) return name.error();
      const Json* inner = member(tool, "tools");
      if (!inner || !inner->is_array()) {
        return wrong_type(path + ".tools", "an array", inner ? *inner : Json());
      }
      for (size_t j = 0; j < inner->size(); ++j) {
        const std::string inner_path = indexed(path + ".tools", j);
        const std::string inner_type = optional_string((*inner)[j], "type");
        if (inner_type != "function" && inner_type != "custom") {
          return unsupported(inner_path, inner_type);
        }
        if (auto status = parse_tool((*inner)[j], inner_path, *name, req); !status) return status;
      }
    } else if (type == "function" || type == "custom") {
      if (auto status = parse_tool(tool, path, "", req); !status) return status;
    } else if (type == "file_search") {
      if (auto status = parse_file_search(tool, path, req); !status) return status;
    } else {
      return unsupported(path, type);
    }
  }
  return Status::Ok();
}

Status parse_tool_choice(const Json& choice, ToolChoice& out) {
  if (choice.is_string()) {
    const std::string& mode = str(choice);
    if (mode == "auto")
      out.mode = ToolChoice::Mode::kAuto;
    else if (mode == "none")
      out.mode = ToolChoice::Mode::kNone;
    else if (mode == "required")
      out.mode = ToolChoice::Mode::kRequired;
    else
      return invalid("tool_choice",
                     "tool_choice must be auto, none or required, got " + echo(mode));
    return Status::Ok();
  }
  if (!choice.is_object()) return wrong_type("tool_choice", "a string or an object", choice);
  const std::string type = optional_string(choice, "type");
  if (type != "function" && type != "custom") {
    return invalid("tool_choice.type",
                   "tool_choice type '" + truncate_utf8(type, 64) + "' is not supported by keel");
  }
  auto name = required_string(choice, "name", "tool_choice");
  if (!name) return name.error();
  out.mode = ToolChoice::Mode::kNamed;
  out.name = std::move(*name);
  return Status::Ok();
}

Status parse_text(const Json& text, ResponsesRequest& req) {
  if (!text.is_object()) return wrong_type("text", "an object", text);
  const Json* format = member(text, "format");
  if (!format) return Status::Ok();
  if (!format->is_object()) return wrong_type("text.format", "an object", *format);
  const std::string type = optional_string(*format, "type");
  if (type == "text") return Status::Ok();
  ResponseFormat out;
  if (type == "json_object") {
    out.type = ResponseFormat::Type::kJsonObject;
  } else if (type == "json_schema") {
    out.type = ResponseFormat::Type::kJsonSchema;
    auto name = required_string(*format, "name", "text.format");
    if (!name) return name.error();
    out.name = std::move(*name);
    const Json* schema = member(*format, "schema");
    if (!schema) return invalid("text.format.schema", "text.format.schema is required");
    if (!schema->is_object()) return wrong_type("text.format.schema", "an object", *schema);
    out.schema = *schema;
    if (const Json* strict = member(*format, "strict")) {
      if (!strict->is_boolean()) return wrong_type("text.format.strict", "a boolean", *strict);
      out.strict = strict->get<bool>();
    }
  } else {
    return invalid("text.format.type",
                   "text.format.type must be text, json_object or "
                   "json_schema, got " +
                       echo(type));
  }
  req.chat.response_format = std::move(out);
  return Status::Ok();
}

Status parse_conversation(const Json& conversation, ResponsesRequest& req) {
  if (conversation.is_string()) {
    req.conversation_id = str(conversation);
  } else if (conversation.is_object()) {
    auto id = required_string(conversation, "id", "conversation");
    if (!id) return id.error();
    req.conversation_id = std::move(*id);
  } else {
    return wrong_type("conversation", "a string or an object", conversation);
  }
  return Status::Ok();
}

Status parse_flags(const Json& body, ResponsesRequest& req) {
  const std::pair<const char*, bool*> flags[] = {{"stream", &req.chat.stream},
                                                 {"store", &req.store}};
  for (const auto& [key, into] : flags) {
    if (const Json* value = member(body, key)) {
      if (!value->is_boolean()) return wrong_type(key, "a boolean", *value);
      *into = value->get<bool>();
    }
  }
  if (const Json* background = member(body, "background");
      background && background->is_boolean() && background->get<bool>()) {
    return invalid("background", "background responses are not supported by keel");
  }
  if (const Json* parallel = member(body, "parallel_tool_calls")) {
    if (!parallel->is_boolean()) return wrong_type("parallel_tool_calls", "a boolean", *parallel);
    req.chat.parallel_tool_calls = parallel->get<bool>();
  }
  return Status::Ok();
}

Status parse_sampling(const Json& body, ResponsesRequest& req) {
  Sampling& sampling = req.chat.sampling;
  if (auto status = read_number(body, "temperature", 0, 2, sampling.temperature); !status) {
    return status;
  }
  if (auto status = read_number(body, "top_p", 0, 1, sampling.top_p); !status) return status;
  if (const Json* max = member(body, "max_output_tokens")) {
    const auto value = as_int64(*max);
    if (!value || *value < 1) {
      return invalid("max_output_tokens", "max_output_tokens must be a positive integer");
    }
    sampling.max_tokens = *value;
  }
  if (const Json* metadata = member(body, "metadata")) {
    if (!metadata->is_object()) return wrong_type("metadata", "an object", *metadata);
    for (const auto& [key, value] : metadata->items()) {
      if (!value.is_string()) return wrong_type("metadata." + key, "a string", value);
    }
  }
  if (const Json* include = member(body, "include")) {
    if (!include->is_array()) return wrong_type("include", "an array", *include);
    for (const Json& what : *include) {
      if (what == "file_search_call.results" && req.file_search) {
        req.file_search->include_results = true;
      }
    }
  }
  if (const Json* user = member(body, "user"); user && user->is_string())
    req.chat.user = str(*user);
  if (const Json* key = member(body, "prompt_cache_key"); key && key->is_string()) {
    req.chat.passthrough["prompt_cache_key"] = *key;
  }
  return Status::Ok();
}

}  // namespace

std::string qualified_tool_name(const std::string& namespace_name, const std::string& name) {
  return namespace_name.empty() ? name : namespace_name + "__" + name;
}

Result<Json> parse_input_items(const Json& items, const std::string& param) {
  if (!items.is_array()) return wrong_type(param, "an array", items);
  Json out = Json::array();
  for (size_t i = 0; i < items.size(); ++i) {
    auto item = normalise_item(items[i], indexed(param, i));
    if (!item) return item.error();
    out.push_back(std::move(*item));
  }
  return out;
}

Result<ResponsesRequest> parse_responses_request(std::string_view text) {
  auto parsed = parse_json(text, ErrorCode::kInvalidArgument, "request body");
  if (!parsed) return parsed.error();
  const Json& body = *parsed;
  if (!body.is_object()) return wrong_type("body", "an object", body);
  ResponsesRequest req;
  auto model = required_string(body, "model", "body");
  if (!model) return invalid("model", "model is required");
  req.chat.model = std::move(*model);

  if (const Json* input = member(body, "input")) {
    if (input->is_string()) {
      Json item = Json::object();
      item["role"] = "user";
      item["content"] = *input;
      auto normalised = normalise_item(item, "input");
      if (!normalised) return normalised.error();
      req.input_items.push_back(std::move(*normalised));
    } else {
      auto items = parse_input_items(*input, "input");
      if (!items) return items.error();
      req.input_items = std::move(*items);
    }
  }
  if (const Json* instructions = member(body, "instructions")) {
    if (!instructions->is_string()) return wrong_type("instructions", "a string", *instructions);
    req.instructions = str(*instructions);
  }
  if (const Json* previous = member(body, "previous_response_id")) {
    if (!previous->is_string()) return wrong_type("previous_response_id", "a string", *previous);
    req.previous_response_id = str(*previous);
  }
  if (const Json* conversation = member(body, "conversation")) {
    if (auto status = parse_conversation(*conversation, req); !status) return status.error();
  }
  if (!req.previous_response_id.empty() && !req.conversation_id.empty()) {
    return invalid("previous_response_id",
                   "previous_response_id and conversation cannot be used together");
  }
  if (const Json* tools = member(body, "tools")) {
    if (auto status = parse_tools(*tools, req); !status) return status.error();
  }
  if (const Json* choice = member(body, "tool_choice")) {
    if (auto status = parse_tool_choice(*choice, req.chat.tool_choice); !status) {
      return status.error();
    }
  }
  if (const Json* text_param = member(body, "text")) {
    if (auto status = parse_text(*text_param, req); !status) return status.error();
  }
  if (const Json* reasoning = member(body, "reasoning")) {
    if (!reasoning->is_object()) return wrong_type("reasoning", "an object", *reasoning);
    // The native reasoning config: each vendor gets it in its own terms (docs/dev.md's table).
    ReasoningConfig& config = req.chat.reasoning;
    if (auto st = read_reasoning_effort(*reasoning, "effort", "reasoning.effort", config);
        !st.ok()) {
      return st.error();
    }
    for (const char* key : {"summary", "generate_summary"}) {
      const Json* summary = member(*reasoning, key);
      if (!summary) continue;
      const std::string param = std::string("reasoning.") + key;
      if (!summary->is_string()) return wrong_type(param, "a string", *summary);
      if (str(*summary) != "auto" && str(*summary) != "concise" && str(*summary) != "detailed") {
        return invalid(
            param, param + " " + echo(str(*summary)) + " is not one of auto, concise, detailed");
      }
      config.summary = str(*summary);
    }
  }

  if (auto status = parse_flags(body, req); !status) return status.error();
  if (auto status = parse_sampling(body, req); !status) return status.error();
  for (const char* key : kEchoed) {
    if (const Json* value = member(body, key)) req.echo[key] = *value;
  }
  return req;
}

namespace {

// A tool output's text: the string, or the text parts of an array joined.
std::string output_text(const Json& output) {
  if (output.is_string()) return str(output);
  std::string text;
  for (const Json& part : output) {
    if (part.is_object()) text += optional_string(part, "text");
  }
  return text;
}

}  // namespace

void items_to_messages(const Json& items, std::vector<Message>& out) {
  // Whether out.back() is an assistant turn that a following call joins.
  bool assistant_open = false;
  std::vector<ReasoningPart> reasoning;  // reasoning items waiting for their turn
  for (const Json& item : items) {
    if (!item.is_object()) continue;
    const std::string type = optional_string(item, "type");
    if (type == "message") {
      Message message;
      const std::string role = optional_string(item, "role");
      message.role = role == "assistant"   ? Role::kAssistant
                     : role == "system"    ? Role::kSystem
                     : role == "developer" ? Role::kDeveloper
                                           : Role::kUser;
      const Json* content = member(item, "content");
      if (content && content->is_array()) {
        for (const Json& part : *content) {
          const std::string part_type = optional_string(part, "type");
          ContentPart native;
          if (part_type == "input_image") {
            native.type = ContentPart::Type::kImage;
            native.image_url = optional_string(part, "image_url");
            native.image_detail = optional_string(part, "detail");
          } else if (auto document =
                         part_type == "input_file"
                             ? document_from_data_url(optional_string(part, "file_data"))
                             : std::nullopt) {
            document->filename = optional_string(part, "filename");
            native.type = ContentPart::Type::kDocument;
            native.document = std::make_shared<const Document>(std::move(*document));
          } else {
            native.text = part_type == "refusal" ? optional_string(part, "refusal")
                                                 : optional_string(part, "text");
          }
          message.content.push_back(std::move(native));
        }
      }
      message.content_is_string =
          message.content.size() == 1 && message.content[0].type == ContentPart::Type::kText;
      assistant_open = message.role == Role::kAssistant;
      if (assistant_open) message.reasoning = std::move(reasoning);
      reasoning.clear();
      out.push_back(std::move(message));
    } else if (type == "function_call" || type == "custom_tool_call") {
      if (!assistant_open) {
        Message message;
        message.role = Role::kAssistant;
        message.content_is_string = false;
        out.push_back(std::move(message));
        assistant_open = true;
      }
      for (auto& part : reasoning) out.back().reasoning.push_back(std::move(part));
      reasoning.clear();
      ToolCall call;
      call.id = optional_string(item, "call_id");
      call.name =
          qualified_tool_name(optional_string(item, "namespace"), optional_string(item, "name"));
      if (type == "function_call") {
        call.arguments = optional_string(item, "arguments");
      } else {
        Json arguments = Json::object();
        arguments["input"] = optional_string(item, "input");
        call.arguments = arguments.dump(-1, ' ', false, Json::error_handler_t::replace);
      }
      out.back().tool_calls.push_back(std::move(call));
    } else if (type == "function_call_output" || type == "custom_tool_call_output") {
      Message message;
      message.role = Role::kTool;
      message.tool_call_id = optional_string(item, "call_id");
      const Json* output = member(item, "output");
      set_string_content(message, output ? output_text(*output) : std::string());
      out.push_back(std::move(message));
      assistant_open = false;
      reasoning.clear();
    } else if (type == "reasoning") {
      // It belongs to the assistant turn of the next message or call (a call joins the open
      // turn, so reasoning between calls moves before the turn's content).
      reasoning.push_back(reasoning_from_item(item));
    }
  }
}

void build_messages(ResponsesRequest& req, const Json& history) {
  std::vector<Message>& messages = req.chat.messages;
  messages.clear();
  if (!req.instructions.empty()) {
    Message system;
    system.role = Role::kSystem;
    set_string_content(system, req.instructions);
    messages.push_back(std::move(system));
  }
  items_to_messages(history, messages);
  items_to_messages(req.input_items, messages);
}

}  // namespace keel
