// Toward Gemini: native ChatRequest -> GenerateContentRequest / countTokens (gemini.h;
// tests/golden/gemini/README.md has every conversion rule and where it comes from).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <map>
#include <set>
#include <unordered_set>
#include <utility>

#include "api/gemini/gemini.h"
#include "api/gemini/internal.h"
#include "api/json_util.h"

namespace keel {

using namespace gemini_internal;

namespace {

constexpr size_t kMaxFunctionNameBytes = 128;

constexpr const char* kSyntheticThoughtSignature = "skip_thought_signature_validator";

constexpr const char* kSingleCallInstruction =
    "Call at most one function in each turn; never several at once.";

// Gemini: "Must start with a letter or an underscore. Must be a-z, A-Z, 0-9, or contain
// underscores, dots, colons and dashes, with a maximum length of 128" (FunctionDeclaration.name).
bool valid_function_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxFunctionNameBytes) return false;
  auto c0 = static_cast<unsigned char>(name[0]);
  if (!(std::isalpha(c0) || c0 == '_')) return false;
  return std::all_of(name.begin(), name.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return std::isalnum(c) || c == '_' || c == '.' || c == ':' || c == '-';
  });
}

// Passthrough fields: refused when they would change what the client gets, mapped when Gemini
// has the same knob, ignored otherwise (see the README's list).
Status check_passthrough(const Json& passthrough, Json& generation_config) {
  if (!passthrough.is_object()) return Status::Ok();
  for (const auto& [key, value] : passthrough.items()) {
    if (value.is_null()) continue;
    if (key == "logprobs") {
      if (!(value.is_boolean() && !value.get<bool>())) return unsupported(key, "logprobs");
    } else if (key == "top_logprobs") {
      if (!(value.is_number() && value.get<double>() == 0)) return unsupported(key, "top_logprobs");
    } else if (key == "logit_bias") {
      if (!(value.is_object() && value.empty())) return unsupported(key, "logit_bias");
    } else if (key == "n") {
      if (!(value.is_number() && value.get<double>() == 1)) return unsupported(key, "n > 1");
    } else if (key == "modalities") {
      bool text_only = value.is_array() &&
                       std::all_of(value.begin(), value.end(),
                                   [](const Json& m) { return m.is_string() && str(m) == "text"; });
      if (!text_only) return unsupported(key, "modalities other than text");
    } else if (key == "audio") {
      return unsupported(key, "audio output");
    } else if (key == "web_search_options") {
      return unsupported(key, "web_search_options");
    } else if (key == "functions" || key == "function_call") {
      return unsupported(key, "the legacy '" + key + "' field (use tools and tool_choice)");
    } else if (key == "top_k") {
      if (!value.is_number() || value.get<double>() < 0) {
        return invalid(key, "top_k must be a non-negative number");
      }
      generation_config["topK"] = value;
    }
    // Everything else (user, metadata, store, service_tier, prompt_cache_key, safety_identifier,
    // reasoning_effort, verbosity, prediction, max_completion_tokens, unknown vendor fields)
    // does not change what a correct answer is: ignored.
  }
  return Status::Ok();
}

// image/png from "...photo.PNG?x=1#y"; empty when the extension is unknown.
std::string mime_from_url(const std::string& url) {
  std::string path = url.substr(0, url.find_first_of("?#"));
  size_t slash = path.find_last_of('/');
  size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return {};
  static const std::map<std::string, std::string, std::less<>> kTypes = {
      {"png", "image/png"},   {"jpg", "image/jpeg"},     {"jpeg", "image/jpeg"},
      {"webp", "image/webp"}, {"gif", "image/gif"},      {"heic", "image/heic"},
      {"heif", "image/heif"}, {"pdf", "application/pdf"}};
  auto it = kTypes.find(ascii_lower(path.substr(dot + 1)));
  return it == kTypes.end() ? std::string() : it->second;
}

Status image_part(const ContentPart& part, const std::string& path, Json& out) {
  const std::string& url = part.image_url;
  std::string scheme =
      ascii_lower(url.substr(0, url.find(':') == std::string::npos ? 0 : url.find(':')));
  if (scheme == "data") {
    // data:[<mime>][;base64],<data>
    size_t comma = url.find(',');
    if (comma == std::string::npos) return invalid(path, path + ": the data: URL has no ','");
    std::string meta = url.substr(5, comma - 5);
    const std::string kBase64 = ";base64";
    if (meta.size() < kBase64.size() ||
        ascii_lower(meta.substr(meta.size() - kBase64.size())) != kBase64) {
      return unsupported(path, path + ": a data: URL that is not base64");
    }
    std::string mime = meta.substr(0, meta.size() - kBase64.size());
    mime = mime.substr(0, mime.find(';'));
    if (mime.empty()) return invalid(path, path + ": the data: URL names no media type");
    out = {{"inlineData", {{"mimeType", ascii_lower(mime)}, {"data", url.substr(comma + 1)}}}};
    return Status::Ok();
  }
  if (scheme == "https" || scheme == "http" || scheme == "gs") {
    std::string mime = mime_from_url(url);
    if (mime.empty()) {
      return invalid(path, path + ": " + kVendor +
                               " needs an image's media type, and it cannot be told from this "
                               "URL's extension (known: .png .jpg .jpeg .webp .gif .heic .heif "
                               ".pdf); send the image as a data: URL instead");
    }
    out = {{"fileData", {{"mimeType", mime}, {"fileUri", url}}}};
    return Status::Ok();
  }
  return unsupported(path, path + ": an image URL with scheme " + echo(scheme));
}

// A document part -> inlineData (Blob: mimeType, base64 data), a text document encoded. Gemini
// reads PDFs and text (ai.google.dev/gemini-api/docs/document-processing); other types are a
// 400 before anything is sent. No displayName: the Gemini API (not Vertex) refuses it.
Status document_part(const Document& document, const std::string& path, Json& out) {
  if (document.media_type != "application/pdf" && !document.media_type.starts_with("text/")) {
    Error error = document_unsupported(document, kVendor);
    error.param = path;
    return error;
  }
  out = {{"inlineData", {{"mimeType", document.media_type}, {"data", document_base64(document)}}}};
  return Status::Ok();
}

// A tool result -> the functionResponse.response value: {"result": JSON or text}, or for a
// failed tool (is_error) {"error": JSON or text}, the key FunctionResponse.response's
// documentation (@google/genai) names for error details.
Json tool_result_value(const Message& message) {
  const char* key = message.is_error ? "error" : "result";
  std::string text = message.text();
  if (auto parsed = try_parse_json(text)) return {{key, std::move(*parsed)}};
  return {{key, std::move(text)}};
}

Status convert_messages(const ChatRequest& req, const GeminiRequestOptions& options,
                        Json& system_parts, Json& contents) {
  std::map<std::string, std::string, std::less<>> call_names;  // tool call id -> function name
  bool last_was_tool = false;
  for (size_t i = 0; i < req.messages.size(); ++i) {
    const Message& message = req.messages[i];
    const std::string path = indexed("messages", i);
    bool is_tool = message.role == Role::kTool;
    switch (message.role) {
      case Role::kSystem:
      case Role::kDeveloper:
        for (const auto& part : message.content) {
          if (part.type == ContentPart::Type::kText && !part.text.empty()) {
            system_parts.push_back({{"text", part.text}});
          }
        }
        break;
      case Role::kUser: {
        Json parts = Json::array();
        for (size_t k = 0; k < message.content.size(); ++k) {
          const ContentPart& part = message.content[k];
          if (part.type == ContentPart::Type::kText) {
            if (!part.text.empty()) parts.push_back({{"text", part.text}});
          } else if (part.type == ContentPart::Type::kDocument) {
            Json document;
            if (auto st = document_part(*part.document, indexed(path + ".content", k), document);
                !st.ok()) {
              return st;
            }
            parts.push_back(std::move(document));
          } else {
            Json image;
            if (auto st = image_part(part, indexed(path + ".content", k), image); !st.ok()) {
              return st;
            }
            parts.push_back(std::move(image));
          }
        }
        if (!parts.empty()) contents.push_back({{"role", "user"}, {"parts", std::move(parts)}});
        break;
      }
      case Role::kAssistant: {
        Json parts = Json::array();
        // Gemini's own thought parts go back as they came, each with its signature; another
        // vendor's reasoning is not Gemini's to read.
        std::string call_signature;  // a functionCall part's own, for the turn's first call
        for (const ReasoningPart& reasoning : message.reasoning) {
          if (reasoning.vendor != kVendorGemini) continue;
          if (reasoning.text.empty()) {
            if (call_signature.empty()) call_signature = reasoning.signature;
            continue;
          }
          Json part = {{"text", reasoning.text}, {"thought", true}};
          if (!reasoning.signature.empty()) part["thoughtSignature"] = reasoning.signature;
          parts.push_back(std::move(part));
        }
        std::string text = message.text();
        if (!text.empty()) parts.push_back({{"text", text}});
        for (size_t k = 0; k < message.tool_calls.size(); ++k) {
          const ToolCall& call = message.tool_calls[k];
          std::string call_path = indexed(path + ".tool_calls", k);
          Json args = Json::object();
          if (!call.arguments.empty()) {
            auto parsed = try_parse_json(call.arguments);
            if (!parsed || !parsed->is_object()) {
              return invalid(call_path + ".function.arguments",
                             call_path + " (id " + echo(call.id) + ", function " + echo(call.name) +
                                 "): arguments must be a JSON object for " + kVendor);
            }
            args = std::move(*parsed);
          }
          Json function_call = {{"name", call.name}, {"args", std::move(args)}};
          if (!call.id.empty()) function_call["id"] = call.id;
          Json part = {{"functionCall", std::move(function_call)}};
          if (k == 0 && !call_signature.empty()) {
            part["thoughtSignature"] = call_signature;  // on the part that carried it
          } else if (k == 0 && options.synthetic_thought_signatures) {
            part["thoughtSignature"] = kSyntheticThoughtSignature;
          }
          parts.push_back(std::move(part));
          if (!call.id.empty()) call_names[call.id] = call.name;
        }
        if (!parts.empty()) contents.push_back({{"role", "model"}, {"parts", std::move(parts)}});
        break;
      }
      case Role::kTool: {
        auto name = call_names.find(message.tool_call_id);
        if (name == call_names.end()) {
          return invalid(path + ".tool_call_id",
                         path + ".tool_call_id " + echo(message.tool_call_id) +
                             " matches no tool call of an earlier assistant message; " + kVendor +
                             " needs the function's name for a tool result");
        }
        Json response = {{"id", message.tool_call_id},
                         {"name", name->second},
                         {"response", tool_result_value(message)}};
        // Images in a tool result (an Anthropic tool_result may hold them) travel as the
        // function response's own parts (FunctionResponse.parts in @google/genai: inlineData or
        // fileData, the shapes a user turn's images take).
        Json media = Json::array();
        for (size_t k = 0; k < message.content.size(); ++k) {
          const ContentPart& content = message.content[k];
          if (content.type != ContentPart::Type::kImage) continue;
          Json image;
          if (auto st = image_part(content, indexed(path + ".content", k), image); !st.ok()) {
            return st;
          }
          media.push_back(std::move(image));
        }
        if (!media.empty()) response["parts"] = std::move(media);
        Json part = {{"functionResponse", std::move(response)}};
        if (last_was_tool && !contents.empty()) {
          contents.back()["parts"].push_back(std::move(part));
        } else {
          contents.push_back({{"role", "user"}, {"parts", Json::array({std::move(part)})}});
        }
        break;
      }
    }
    last_was_tool = is_tool;
  }
  if (contents.empty()) {
    return invalid("messages", std::string("messages hold no user or assistant content; ") +
                                   kVendor + " needs at least one");
  }
  return Status::Ok();
}

Status convert_tools(const ChatRequest& req, Json& body) {
  if (req.tools.empty()) return Status::Ok();
  Json declarations = Json::array();
  for (size_t i = 0; i < req.tools.size(); ++i) {
    const ToolSpec& tool = req.tools[i];
    std::string path = indexed("tools", i) + ".function";
    if (!valid_function_name(tool.name)) {
      return invalid(path + ".name",
                     path + ".name " + echo(tool.name) + " is not a valid function name for " +
                         kVendor +
                         " (start with a letter or '_'; then letters, digits, '_', '.', "
                         "':', '-'; at most 128 characters)");
    }
    Json declaration = {{"name", tool.name}};
    if (!tool.description.empty()) declaration["description"] = tool.description;
    if (!tool.parameters.is_null() && !(tool.parameters.is_object() && tool.parameters.empty())) {
      auto schema = json_schema_to_gemini(tool.parameters, path + ".parameters");
      if (!schema) return schema.error();
      // A function without parameters leaves them unset (an OBJECT with no properties is
      // rejected by Gemini).
      bool empty_object = schema->value("type", "") == "OBJECT" &&
                          !schema->contains("properties") && !schema->contains("anyOf");
      if (!empty_object) declaration["parameters"] = std::move(*schema);
    }
    declarations.push_back(std::move(declaration));
  }
  body["tools"] = Json::array({{{"functionDeclarations", std::move(declarations)}}});

  Json config;
  switch (req.tool_choice.mode) {
    case ToolChoice::Mode::kUnset:
      break;
    case ToolChoice::Mode::kAuto:
      config = {{"mode", "AUTO"}};
      break;
    case ToolChoice::Mode::kNone:
      config = {{"mode", "NONE"}};
      break;
    case ToolChoice::Mode::kRequired:
      config = {{"mode", "ANY"}};
      break;
    case ToolChoice::Mode::kNamed:
      config = {{"mode", "ANY"}, {"allowedFunctionNames", Json::array({req.tool_choice.name})}};
      break;
  }
  if (!config.is_null()) body["toolConfig"] = {{"functionCallingConfig", std::move(config)}};
  return Status::Ok();
}

// thinkingConfig from the native reasoning config (docs/dev.md's table): a budget, or one from
// the effort; adaptive is Gemini's dynamic budget (-1); disabled is 0; a summary alone leaves
// the model's own budget. Thoughts are included when the client can show them (thinking asked
// for as such, or a summary).
void convert_thinking(const ReasoningConfig& reasoning, Json& config) {
  using Mode = ReasoningConfig::Mode;
  if (!reasoning.is_set() && reasoning.summary.empty()) return;
  Json thinking = Json::object();
  switch (reasoning.mode) {
    case Mode::kDisabled:
      thinking["thinkingBudget"] = 0;
      break;
    case Mode::kAdaptive:
      thinking["thinkingBudget"] = -1;
      break;
    case Mode::kEnabled:
      thinking["thinkingBudget"] =
          reasoning.budget_tokens.value_or(reasoning_budget_for_effort(reasoning.effort));
      break;
    case Mode::kUnset:  // an effort, or only a summary asked for (the model's own budget)
      if (!reasoning.effort.empty()) {
        thinking["thinkingBudget"] = reasoning_budget_for_effort(reasoning.effort);
      }
      break;
  }
  const bool asked = reasoning.mode == Mode::kEnabled || reasoning.mode == Mode::kAdaptive ||
                     !reasoning.summary.empty();
  const Json* budget = member(thinking, "thinkingBudget");
  if (asked && reasoning.summary != "none" && !(budget && *budget == Json(0))) {
    thinking["includeThoughts"] = true;
  }
  config["thinkingConfig"] = std::move(thinking);
}

Status convert_generation_config(const ChatRequest& req, Json& config) {
  convert_thinking(req.reasoning, config);
  const Sampling& sampling = req.sampling;
  if (sampling.temperature) config["temperature"] = *sampling.temperature;
  if (sampling.top_p) config["topP"] = *sampling.top_p;
  if (sampling.max_tokens) {
    if (*sampling.max_tokens > std::numeric_limits<int32_t>::max()) {
      return invalid("max_tokens",
                     std::string("max_tokens is larger than ") + kVendor + " accepts (2147483647)");
    }
    config["maxOutputTokens"] = *sampling.max_tokens;
  }
  if (!sampling.stop.empty()) config["stopSequences"] = sampling.stop;
  // Gemini's seed is an int32; a wider seed is folded into it (still deterministic).
  if (sampling.seed) config["seed"] = static_cast<int32_t>(static_cast<uint32_t>(*sampling.seed));
  if (sampling.presence_penalty) config["presencePenalty"] = *sampling.presence_penalty;
  if (sampling.frequency_penalty) config["frequencyPenalty"] = *sampling.frequency_penalty;
  if (req.response_format) {
    const ResponseFormat& format = *req.response_format;
    if (format.type == ResponseFormat::Type::kJsonObject) {
      config["responseMimeType"] = "application/json";
    } else if (format.type == ResponseFormat::Type::kJsonSchema) {
      config["responseMimeType"] = "application/json";
      if (!format.schema.is_null() && !(format.schema.is_object() && format.schema.empty())) {
        auto schema = json_schema_to_gemini(format.schema, "response_format.json_schema.schema");
        if (!schema) return schema.error();
        config["responseSchema"] = std::move(*schema);
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Result<Json> chat_request_to_gemini(const ChatRequest& req, const GeminiRequestOptions& options) {
  try {
    Json generation_config = Json::object();
    if (auto st = check_passthrough(req.passthrough, generation_config); !st.ok()) {
      return st.error();
    }
    Json body = Json::object();
    Json system_parts = Json::array();
    Json contents = Json::array();
    if (auto st = convert_messages(req, options, system_parts, contents); !st.ok()) {
      return st.error();
    }
    if (gemini_single_tool_call(req)) {
      // Gemini has no switch for parallel calls: the model is asked for one, and the answer's
      // decoder keeps only the first (GeminiStreamDecoder's single_tool_call).
      system_parts.push_back({{"text", kSingleCallInstruction}});
    }
    body["contents"] = std::move(contents);
    if (!system_parts.empty()) body["systemInstruction"] = {{"parts", std::move(system_parts)}};
    if (auto st = convert_tools(req, body); !st.ok()) return st.error();
    if (auto st = convert_generation_config(req, generation_config); !st.ok()) return st.error();
    if (!generation_config.empty()) body["generationConfig"] = std::move(generation_config);
    return body;
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInvalidArgument,
                 std::string("could not convert the request for ") + kVendor + ": " + e.what());
  }
}

Result<Json> chat_request_to_gemini_count(const ChatRequest& req, const std::string& upstream_model,
                                          const GeminiRequestOptions& options) {
  auto body = chat_request_to_gemini(req, options);
  if (!body) return body;
  // countTokens takes the whole GenerateContentRequest, which then names its model, so system
  // instructions and function declarations are counted too (ai.google.dev "Counting tokens").
  (*body)["model"] = "models/" + upstream_model;
  return Json{{"generateContentRequest", std::move(*body)}};
}

bool gemini_single_tool_call(const ChatRequest& req) {
  return req.parallel_tool_calls == false && !req.tools.empty() &&
         req.tool_choice.mode != ToolChoice::Mode::kNone;
}

}  // namespace keel
