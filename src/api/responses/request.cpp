// The client's Responses request -> ResponsesRequest / native ChatRequest (responses.h), by the
// fast scanner for the usual shapes and by the full parser, the reference, otherwise.
#include <cctype>
#include <utility>

#include "api/json_scan.h"
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

// The normalised items and parts, built in one place for both paths (the fast scan and the
// full parse must give the same Json, members in the same order).

// An empty object with room for `members` (Json's object is a vector of pairs whose keys are
// const: each growth would copy them all).
Json object_with_room(size_t members) {
  Json out = Json::object();
  out.get_ref<Json::object_t&>().reserve(members);
  return out;
}

// An input_text or output_text part; an output_text part has `annotations`.
Json text_part(const std::string& type, std::string text, Json annotations = Json::array()) {
  Json out = object_with_room(3);
  append_member(out, "type", type);
  append_member(out, "text", std::move(text));
  if (type == "output_text") append_member(out, "annotations", std::move(annotations));
  return out;
}

Json message_item(std::string id, std::string role, Json content) {
  Json out = object_with_room(5);
  append_member(out, "id", std::move(id));
  append_member(out, "type", "message");
  append_member(out, "role", std::move(role));
  append_member(out, "content", std::move(content));
  append_member(out, "status", "completed");
  return out;
}

// The members a call item and a call's output item begin with, and room for `members` in all.
Json call_item_head(std::string id, const std::string& type, std::string call_id, size_t members) {
  Json out = object_with_room(members);
  append_member(out, "id", std::move(id));
  append_member(out, "type", type);
  append_member(out, "status", "completed");
  append_member(out, "call_id", std::move(call_id));
  return out;
}

// A function_call or custom_tool_call item (`arguments`: a custom call's input); `namespace_name`
// nullptr when the call has none.
Json call_item(std::string id, const std::string& type, std::string call_id, std::string name,
               std::string arguments, const Json* namespace_name) {
  Json out = call_item_head(std::move(id), type, std::move(call_id), 7);
  append_member(out, "name", std::move(name));
  append_member(out, type == "custom_tool_call" ? "input" : "arguments", std::move(arguments));
  if (namespace_name) append_member(out, "namespace", *namespace_name);
  return out;
}

// A function_call_output or custom_tool_call_output item.
Json call_output_item(std::string id, const std::string& type, std::string call_id, Json output) {
  Json out = call_item_head(std::move(id), type, std::move(call_id), 5);
  append_member(out, "output", std::move(output));
  return out;
}

// The id a new item of `type` gets.
const char* id_prefix(const std::string& type) {
  if (type == "function_call") return "fc_";
  if (type == "custom_tool_call") return "ctc_";
  if (type == "function_call_output") return "fco_";
  if (type == "custom_tool_call_output") return "ctco_";
  return "msg_";
}

Result<Json> normalise_part(const Json& part, const std::string& path, bool assistant) {
  if (!part.is_object()) return wrong_type(path, "an object", part);
  const std::string type = optional_string(part, "type");
  Json out = Json::object();
  out["type"] = type;
  if (type == "input_text" || type == "output_text") {
    auto text = required_string(part, "text", path);
    if (!text) return text.error();
    const Json* annotations = member(part, "annotations");
    return text_part(type, std::move(*text),
                     annotations && annotations->is_array() ? *annotations : Json::array());
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
    parts.push_back(text_part(assistant ? "output_text" : "input_text", str(*content)));
  } else if (content->is_array()) {
    for (size_t i = 0; i < content->size(); ++i) {
      auto part = normalise_part((*content)[i], indexed(path + ".content", i), assistant);
      if (!part) return part.error();
      parts.push_back(std::move(*part));
    }
  } else {
    return wrong_type(path + ".content", "a string or an array", *content);
  }
  return message_item(item_id(item, "msg_"), std::move(*role), std::move(parts));
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
  if (type == "function_call" || type == "custom_tool_call") {
    const bool custom = type == "custom_tool_call";
    auto call_id = required_string(item, "call_id", path);
    if (!call_id) return call_id.error();
    auto name = required_string(item, "name", path);
    if (!name) return name.error();
    auto arguments = required_string(item, custom ? "input" : "arguments", path);
    if (!arguments) return arguments.error();
    const Json* namespace_name = member(item, "namespace");
    if (namespace_name && !namespace_name->is_string()) {
      return wrong_type(path + ".namespace", "a string", *namespace_name);
    }
    return call_item(item_id(item, id_prefix(type)), type, std::move(*call_id), std::move(*name),
                     std::move(*arguments), namespace_name);
  }
  if (type == "function_call_output" || type == "custom_tool_call_output") {
    auto call_id = required_string(item, "call_id", path);
    if (!call_id) return call_id.error();
    auto output = tool_output(item, path);
    if (!output) return output.error();
    return call_output_item(item_id(item, id_prefix(type)), type, std::move(*call_id),
                            std::move(*output));
  }
  if (type == "reasoning") {
    // Kept in stored state as given; no vendor but the one that made it can read it.
    const Json* summary = member(item, "summary");
    if (summary && !summary->is_array()) {
      return wrong_type(path + ".summary", "an array", *summary);
    }
    Json out = item;
    out["id"] = item_id(item, "rs_");
    if (!summary) out["summary"] = Json::array();
    return out;
  }
  if (type == "file_search_call") {
    // keel's own search of an earlier turn, sent back: kept, never shown to a model again.
    Json out = item;
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

namespace {

// The members after the head (model, input, instructions, previous_response_id, conversation),
// which both paths read from a Json: tools, tool_choice, text, reasoning, the flags, sampling and
// the echo. The fast path hands it an object of just those members that the body has.
Status parse_settings(const Json& body, ResponsesRequest& req) {
  if (const Json* tools = member(body, "tools")) {
    if (auto status = parse_tools(*tools, req); !status) return status;
  }
  if (const Json* choice = member(body, "tool_choice")) {
    if (auto status = parse_tool_choice(*choice, req.chat.tool_choice); !status) {
      return status;
    }
  }
  if (const Json* text_param = member(body, "text")) {
    if (auto status = parse_text(*text_param, req); !status) return status;
  }
  if (const Json* reasoning = member(body, "reasoning")) {
    if (!reasoning->is_object()) return wrong_type("reasoning", "an object", *reasoning);
    // The native reasoning config: each vendor gets it in its own terms (docs/dev.md's table).
    ReasoningConfig& config = req.chat.reasoning;
    if (auto st = read_reasoning_effort(*reasoning, "effort", "reasoning.effort", config);
        !st.ok()) {
      return st;
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

  if (auto status = parse_flags(body, req); !status) return status;
  if (auto status = parse_sampling(body, req); !status) return status;
  for (const char* key : kEchoed) {
    if (const Json* value = member(body, key)) req.echo[key] = *value;
  }
  return Status::Ok();
}

}  // namespace

Result<ResponsesRequest> parse_responses_request_parsed(std::string_view text) {
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
      req.input_text = str(*input);
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
  if (auto status = parse_settings(body, req); !status) return status.error();
  return req;
}

namespace {

// Members read by parse_settings: the fast path parses their values on their own.
bool is_setting(std::string_view key) {
  if (key == "background") return true;
  for (const char* echoed : kEchoed) {
    if (key == echoed) return true;
  }
  return false;
}

// True the first time for `seen`: a key the fast path reads may not come twice (nlohmann keeps
// the last value, the scan would have read the first).
bool first(bool& seen) { return !std::exchange(seen, true); }

// A value parsed on its own from the scanner's text: the full parse's value of that member.
// Strings and booleans are read directly.
bool scan_value(JsonScanner& scan, Json& out) {
  const char next = scan.peek();
  if (next == '"') {
    std::string text;
    if (!scan.string(text)) return false;
    out = std::move(text);
    return true;
  }
  if (next == 't' || next == 'f') {
    bool value = false;
    if (!scan.boolean(value)) return false;
    out = value;
    return true;
  }
  std::string_view text;
  if (!scan.raw(text)) return false;
  auto parsed = try_parse_json(text);
  if (!parsed) return false;
  out = std::move(*parsed);
  return true;
}

// An input_text or output_text part; anything else (another type, annotations that are not
// empty, a null) is the full path's.
bool scan_text_part(JsonScanner& scan, Json& parts) {
  bool seen_type = false, seen_text = false, seen_annotations = false;
  std::string type, text;
  const bool ok = scan.object([&](std::string_view key) {
    if (key == "type") return first(seen_type) && scan.string(type);
    if (key == "text") return first(seen_text) && scan.string(text);
    if (key == "annotations") {
      return first(seen_annotations) && scan.array([] { return false; });  // only []
    }
    return scan.skip();  // members normalise_part does not read
  });
  if (!ok || !seen_text || (type != "input_text" && type != "output_text")) return false;
  parts.push_back(text_part(type, std::move(text)));
  return true;
}

// One input item of the usual shape, normalised as normalise_item does: a message of text (a
// string or text parts), a function or custom tool call, a call's output as a string. False
// for anything else, which the caller parses and normalises the full way.
bool scan_item(JsonScanner& scan, Json& out) {
  enum Field {
    kType,
    kRole,
    kId,
    kCallId,
    kName,
    kArguments,
    kInput,
    kNamespace,
    kOutput,
    kFields
  };
  static constexpr std::string_view kKeys[kFields] = {
      "type", "role", "id", "call_id", "name", "arguments", "input", "namespace", "output"};
  std::string fields[kFields];
  bool seen[kFields] = {};
  bool seen_content = false;
  Json parts = Json::array();
  std::string content;  // a string content
  bool content_is_string = false;
  const bool ok = scan.object([&](std::string_view key) {
    for (int field = 0; field < kFields; ++field) {
      if (key == kKeys[field]) return first(seen[field]) && scan.string(fields[field]);
    }
    if (key == "content") {
      if (!first(seen_content)) return false;
      content_is_string = scan.peek() == '"';
      if (content_is_string) return scan.string(content);
      return scan.array([&] { return scan_text_part(scan, parts); });
    }
    return scan.skip();  // members normalise_item does not read (status, ...)
  });
  if (!ok) return false;
  const std::string type = seen[kType] ? fields[kType] : std::string("message");
  // The client's id, else a new one (as item_id).
  auto id = [&] { return fields[kId].empty() ? new_id(id_prefix(type)) : std::move(fields[kId]); };
  if (type == "message") {
    const std::string& role = fields[kRole];
    const bool assistant = role == "assistant";
    if (!seen_content ||
        (!assistant && role != "user" && role != "system" && role != "developer")) {
      return false;
    }
    if (content_is_string) {
      parts.push_back(text_part(assistant ? "output_text" : "input_text", std::move(content)));
    }
    out = message_item(id(), role, std::move(parts));
    return true;
  }
  if (type == "function_call" || type == "custom_tool_call") {
    const Field arguments = type == "function_call" ? kArguments : kInput;
    if (!seen[kCallId] || !seen[kName] || !seen[arguments]) return false;
    const Json namespace_name = seen[kNamespace] ? Json(fields[kNamespace]) : Json();
    out = call_item(id(), type, std::move(fields[kCallId]), std::move(fields[kName]),
                    std::move(fields[arguments]), seen[kNamespace] ? &namespace_name : nullptr);
    return true;
  }
  if (type == "function_call_output" || type == "custom_tool_call_output") {
    if (!seen[kCallId] || !seen[kOutput]) return false;
    out = call_output_item(id(), type, std::move(fields[kCallId]), std::move(fields[kOutput]));
    return true;
  }
  return false;
}

// `input`: a string (input_text), or an array of items, each read by scan_item or, when it is not
// of the usual shape, parsed on its own and normalised by normalise_item.
bool scan_input(JsonScanner& scan, ResponsesRequest& req) {
  if (scan.peek() == '"') return scan.string(req.input_text.emplace());
  return scan.array([&] {
    std::string_view text;
    if (!scan.raw(text)) return false;
    Json item;
    JsonScanner item_scan(text);
    if (!scan_item(item_scan, item) || !item_scan.end()) {
      auto parsed = try_parse_json(text);
      if (!parsed) return false;
      auto normalised = normalise_item(*parsed, indexed("input", req.input_items.size()));
      if (!normalised) return false;
      item = std::move(*normalised);
    }
    req.input_items.push_back(std::move(item));
    return true;
  });
}

}  // namespace

// parse_responses_request without a Json tree of the whole body: the head's members read by the
// scanner (input items of the usual shapes too), parse_settings' members each parsed on their
// own, members keel does not read skipped. A duplicate key, a value the full path would refuse,
// anything in doubt: false, and the full path reads the body (and gives the error).
bool scan_responses_request(std::string_view text, ResponsesRequest& req) {
  JsonScanner scan(text);
  Json settings;  // an object once the body has one of parse_settings' members
  bool seen_model = false, seen_input = false, seen_instructions = false, seen_previous = false,
       seen_conversation = false, seen_stream = false, seen_store = false;
  const bool ok = scan.object([&](std::string_view key) {
    if (key == "model") return first(seen_model) && scan.string(req.chat.model);
    if (key == "input") return first(seen_input) && scan_input(scan, req);
    if (key == "instructions") return first(seen_instructions) && scan.string(req.instructions);
    if (key == "previous_response_id") {
      return first(seen_previous) && scan.string(req.previous_response_id);
    }
    if (key == "conversation") {
      Json conversation;
      return first(seen_conversation) && scan_value(scan, conversation) &&
             parse_conversation(conversation, req).ok();
    }
    if (key == "stream") return first(seen_stream) && scan.boolean(req.chat.stream);
    if (key == "store") return first(seen_store) && scan.boolean(req.store);
    if (is_setting(key)) {
      const std::string name(key);
      Json value;
      if (settings.is_null()) settings = Json::object();
      if (settings.contains(name) || !scan_value(scan, value)) return false;
      append_member(settings, name, std::move(value));
      return true;
    }
    return scan.skip();  // a member keel does not read
  });
  if (!ok || !scan.end() || !seen_model) return false;
  if (!req.previous_response_id.empty() && !req.conversation_id.empty()) return false;
  return settings.is_null() || parse_settings(settings, req).ok();
}

Result<ResponsesRequest> parse_responses_request(std::string_view text) {
  // Scanned into the Result itself: a ResponsesRequest is large, and each move of it cost more
  // than a small body's scan.
  Result<ResponsesRequest> request{ResponsesRequest()};
  if (!scan_responses_request(text, *request)) request = parse_responses_request_parsed(text);
  return request;
}

namespace {

// `id` as "msg_*" when it looks like one that new_id made: a prefix, then 24 hex digits.
std::string generated_as_star(const std::string& id) {
  const size_t underscore = id.find('_');
  if (underscore == std::string::npos || id.size() != underscore + 25) return id;
  for (size_t i = underscore + 1; i < id.size(); ++i) {
    if (!std::isxdigit(static_cast<unsigned char>(id[i])) || std::isupper(id[i])) return id;
  }
  return id.substr(0, underscore + 1) + "*";
}

Json describe_tool(const ToolSpec& tool) {
  Json out = Json::object();
  out["name"] = tool.name;
  out["description"] = tool.description;
  out["parameters"] = tool.parameters;
  out["strict"] = tool.strict ? Json(*tool.strict) : Json();
  return out;
}

Json describe_filter(const AttributeFilter& filter) {
  Json out = Json::object();
  out["type"] = filter.type;
  out["key"] = filter.key;
  out["value"] = filter.value;
  out["filters"] = Json::array();
  for (const auto& inner : filter.filters) out["filters"].push_back(describe_filter(inner));
  return out;
}

template <typename T>
Json optional_json(const std::optional<T>& value) {
  return value ? Json(*value) : Json();
}

}  // namespace

std::string describe_request(const ResponsesRequest& req) {
  const ChatRequest& chat = req.chat;
  Json out = Json::object();
  out["model"] = chat.model;
  Json messages = Json::array();
  for (const Message& message : chat.messages) {
    messages.push_back({static_cast<int>(message.role), message.content_is_string, message.text(),
                        message.tool_calls.size(), message.reasoning.size()});
  }
  out["messages"] = std::move(messages);
  out["tools"] = Json::array();
  for (const ToolSpec& tool : chat.tools) out["tools"].push_back(describe_tool(tool));
  out["tool_choice"] = {static_cast<int>(chat.tool_choice.mode), chat.tool_choice.name};
  out["parallel_tool_calls"] = optional_json(chat.parallel_tool_calls);
  const Sampling& sampling = chat.sampling;
  out["sampling"] = {optional_json(sampling.temperature),
                     optional_json(sampling.top_p),
                     optional_json(sampling.max_tokens),
                     sampling.stop,
                     optional_json(sampling.seed),
                     optional_json(sampling.presence_penalty),
                     optional_json(sampling.frequency_penalty)};
  if (chat.response_format) {
    const ResponseFormat& format = *chat.response_format;
    out["response_format"] = {static_cast<int>(format.type), format.name, format.schema,
                              optional_json(format.strict)};
  }
  const ReasoningConfig& reasoning = chat.reasoning;
  out["reasoning"] = {static_cast<int>(reasoning.mode), optional_json(reasoning.budget_tokens),
                      reasoning.effort, reasoning.summary};
  out["stream"] = {chat.stream, chat.include_usage, chat.raw_prompt};
  out["user"] = chat.user;
  out["passthrough"] = chat.passthrough;
  Json items = req.input_items;
  for (Json& item : items) {
    if (Json* id = item.is_object() && item.contains("id") ? &item["id"] : nullptr;
        id && id->is_string()) {
      *id = generated_as_star(str(*id));
    }
  }
  out["input_items"] = std::move(items);
  out["input_text"] = req.input_text ? Json(*req.input_text) : Json();
  out["instructions"] = req.instructions;
  out["previous_response_id"] = req.previous_response_id;
  out["conversation_id"] = req.conversation_id;
  out["store"] = req.store;
  out["echo"] = req.echo;
  out["custom_tools"] = req.custom_tools;
  Json namespaced = Json::object();
  for (const auto& [name, parts] : req.namespaced) {
    namespaced[name] = {parts.first, parts.second};
  }
  out["namespaced"] = std::move(namespaced);
  if (req.file_search) {
    const FileSearchOptions& options = *req.file_search;
    out["file_search"] = {options.vector_store_ids, options.max_num_results,
                          options.score_threshold, options.include_results,
                          options.filters ? describe_filter(*options.filters) : Json()};
    out["file_search_spec"] = describe_tool(req.file_search_spec);
  }
  return json_text(out);
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
  if (req.input_text) {
    // What items_to_messages makes of input_as_items' item.
    Message user;
    user.role = Role::kUser;
    set_string_content(user, *req.input_text);
    messages.push_back(std::move(user));
  } else {
    items_to_messages(req.input_items, messages);
  }
}

const Json& input_as_items(ResponsesRequest& req) {
  if (req.input_text && req.input_items.empty()) {
    Json parts = Json::array();
    parts.push_back(text_part("input_text", *req.input_text));
    req.input_items.push_back(message_item(new_id("msg_"), "user", std::move(parts)));
  }
  return req.input_items;
}

}  // namespace keel
