#include "providers/local/chat_format.h"

#include <chat-peg-parser.h>
#include <json-schema-to-grammar.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "core/ids.h"
#include "core/log.h"

namespace keel::local {
namespace {

double number_or(const Json& object, const char* key, double fallback) {
  if (!object.is_object()) return fallback;
  auto it = object.find(key);
  return (it != object.end() && it->is_number()) ? it->get<double>() : fallback;
}

}  // namespace

Error bad_request(std::string message, std::string param) {
  Error error(ErrorCode::kInvalidArgument, std::move(message));
  error.param = std::move(param);
  return error;
}

namespace {

std::string schema_for(const ChatRequest& request) {
  if (!request.response_format) return {};
  switch (request.response_format->type) {
    case ResponseFormat::Type::kJsonObject:
      return R"({"type":"object"})";
    case ResponseFormat::Type::kJsonSchema:
      return request.response_format->schema.is_object() ? request.response_format->schema.dump()
                                                         : std::string(R"({"type":"object"})");
    case ResponseFormat::Type::kText:
      break;
  }
  return {};
}

// The tools the model may call: all of them, or only the one a named tool_choice names.
Result<std::vector<common_chat_tool>> offered_tools(const ChatRequest& request) {
  std::vector<common_chat_tool> tools;
  const bool named = request.tool_choice.mode == ToolChoice::Mode::kNamed;
  for (const auto& tool : request.tools) {
    if (named && tool.name != request.tool_choice.name) continue;
    tools.push_back({tool.name, tool.description, tool.parameters.dump()});
  }
  if (named && tools.empty()) {
    return bad_request(
        "tool_choice names '" + request.tool_choice.name + "', which is not among the tools",
        "tool_choice");
  }
  return tools;
}

bool forces_a_call(const ChatRequest& request) {
  return !request.tools.empty() && (request.tool_choice.mode == ToolChoice::Mode::kRequired ||
                                    request.tool_choice.mode == ToolChoice::Mode::kNamed);
}

// A forced call without a chat template (llama.cpp's generic format is gone: its autoparser
// only knows the formats templates show). The answer is one bare JSON object,
// {"name": ..., "arguments": {...}}, held to the tools' schemas by a grammar; llama.cpp's PEG
// builder makes both that grammar and the parser that turns the output into a tool call.
Status generic_forced_call(const std::vector<common_chat_tool>& tools, Prepared& out) {
  const common_json tools_json = common_chat_tools_to_json_oaicompat(tools);
  common_peg_arena parser = build_chat_peg_parser([&](common_chat_peg_builder& p) {
    return p.space() +
           p.standard_json_tools("", "", tools_json, /*parallel_tool_calls=*/false,
                                 /*force_tool_calls=*/true) +
           p.space() + p.end();
  });
  std::string grammar = build_grammar([&](const common_grammar_builder& builder) {
    for (const auto& tool : tools_json) {
      auto schema = tool.at("function").value("parameters", common_json::object());
      builder.resolve_refs(schema);
    }
    parser.build_grammar(builder, /*lazy=*/false);
  });
  out.sampling.grammar = {COMMON_GRAMMAR_TYPE_TOOL_CALLS, std::move(grammar)};
  out.parse_output = true;
  out.parser.format = COMMON_CHAT_FORMAT_PEG_NATIVE;
  out.parser.reasoning_format = COMMON_REASONING_FORMAT_NONE;
  out.parser.parser = std::move(parser);
  return Status();
}

// A text completion's prompt is continued as it is: no chat template around it.
bool is_raw_prompt(const ChatRequest& request) {
  return request.raw_prompt && request.messages.size() == 1 && request.tools.empty();
}

// OpenAI's logit_bias, {"token id": bias}, in this model's token ids (the client's business to
// know them, as with any OpenAI-compatible server); -100 bans a token.
Status read_logit_bias(const Json& passthrough, int32_t n_vocab,
                       std::vector<llama_logit_bias>& out) {
  auto it = passthrough.find("logit_bias");
  if (it == passthrough.end() || it->is_null()) return Status();
  if (!it->is_object()) return bad_request("logit_bias must be an object", "logit_bias");
  for (const auto& [key, value] : it->items()) {
    char* end = nullptr;
    const long token = std::strtol(key.c_str(), &end, 10);
    if (key.empty() || *end != '\0' || token < 0 || token >= n_vocab) {
      return bad_request("logit_bias: '" + key + "' is not a token id of this model (0 to " +
                             std::to_string(n_vocab - 1) + ")",
                         "logit_bias");
    }
    if (!value.is_number() || !(value.get<double>() >= -100 && value.get<double>() <= 100)) {
      return bad_request("logit_bias values must be numbers from -100 to 100", "logit_bias");
    }
    const double bias = value.get<double>();
    out.push_back(
        {static_cast<llama_token>(token), bias <= -100 ? -INFINITY : static_cast<float>(bias)});
  }
  return Status();
}

}  // namespace

ChatFormat::ChatFormat(const llama_model* model, std::string provider_name, std::string model_name)
    : provider_name_(std::move(provider_name)),
      model_name_(std::move(model_name)),
      n_vocab_(llama_vocab_n_tokens(llama_model_get_vocab(model))) {
  if (llama_model_chat_template(model, nullptr) == nullptr) return;
  try {
    templates_ = common_chat_templates_init(model, "");
  } catch (const std::exception& e) {
    KEEL_LOG(kWarn) << "provider '" << provider_name_ << "': the model's chat template does "
                    << "not parse (" << e.what() << "); using a plain transcript";
  }
}

Status ChatFormat::apply_template(const ChatRequest& request, const std::string& schema,
                                     Prepared& out) const {
  common_chat_templates_inputs inputs;
  for (const auto& message : request.messages) {
    common_chat_msg msg;
    msg.role = message.role == Role::kDeveloper ? "system" : role_name(message.role);
    // A failed tool's result (is_error) reads "Error: ..." in the transcript.
    msg.content = message.is_error ? with_error_marked(message).text() : message.text();
    for (const auto& call : message.tool_calls) {
      msg.tool_calls.push_back({call.name, call.arguments, call.id});
    }
    msg.tool_call_id = message.tool_call_id;
    if (message.role == Role::kTool) msg.tool_name = message.name;
    inputs.messages.push_back(std::move(msg));
  }
  auto tools = offered_tools(request);
  if (!tools.ok()) return tools.error();
  inputs.tools = std::move(tools).value();
  switch (request.tool_choice.mode) {
    case ToolChoice::Mode::kNone: inputs.tool_choice = COMMON_CHAT_TOOL_CHOICE_NONE; break;
    case ToolChoice::Mode::kRequired:
    case ToolChoice::Mode::kNamed: inputs.tool_choice = COMMON_CHAT_TOOL_CHOICE_REQUIRED; break;
    default: inputs.tool_choice = COMMON_CHAT_TOOL_CHOICE_AUTO; break;
  }
  inputs.parallel_tool_calls = request.parallel_tool_calls.value_or(true);
  inputs.json_schema = schema;
  inputs.reasoning_format = COMMON_REASONING_FORMAT_NONE;  // native types have no reasoning
  inputs.add_generation_prompt = true;
  inputs.use_jinja = true;

  common_chat_params params;
  // A forced call opens with the template's call marker. llama.cpp's grammar for a required call
  // lets text come first (a random-weight model never stops writing it); with the marker put
  // after the generation prompt, the model and the grammar both start inside the call. The
  // marker is the word that triggers the lazy grammar of tool_choice auto.
  std::string marker;
  {
    std::lock_guard lock(templates_mutex_);
    params = common_chat_templates_apply(templates_.get(), inputs);
    if (inputs.tool_choice == COMMON_CHAT_TOOL_CHOICE_REQUIRED && !inputs.tools.empty()) {
      common_chat_templates_inputs probe = inputs;
      probe.tool_choice = COMMON_CHAT_TOOL_CHOICE_AUTO;
      for (const auto& trigger :
           common_chat_templates_apply(templates_.get(), probe).grammar_triggers) {
        if (trigger.type == COMMON_GRAMMAR_TRIGGER_TYPE_WORD) {
          marker = trigger.value;
          break;
        }
      }
    }
  }
  params.prompt += marker;
  params.generation_prompt += marker;
  KEEL_LOG(kDebug) << "local chat template: format " << common_chat_format_name(params.format)
                   << ", grammar " << params.grammar.size() << " bytes"
                   << (params.grammar_lazy ? " (lazy)" : "") << ", "
                   << params.grammar_triggers.size() << " triggers, parser "
                   << params.parser.size() << " bytes";
  out.prompt = std::move(params.prompt);
  if (!params.grammar.empty()) {
    const bool tools = !inputs.tools.empty() && inputs.tool_choice != COMMON_CHAT_TOOL_CHOICE_NONE;
    out.sampling.grammar = {tools ? COMMON_GRAMMAR_TYPE_TOOL_CALLS : COMMON_GRAMMAR_TYPE_OUTPUT_FORMAT,
                            std::move(params.grammar)};
  }
  out.sampling.grammar_lazy = params.grammar_lazy;
  out.sampling.generation_prompt = params.generation_prompt;
  out.preserved = params.preserved_tokens;
  for (const auto& trigger : params.grammar_triggers) out.sampling.grammar_triggers.push_back(trigger);
  for (auto& stop : params.additional_stops) out.stops.push_back(std::move(stop));
  out.templated = true;
  out.parse_output = true;
  out.parser = common_chat_parser_params(params);
  out.parser.reasoning_format = COMMON_REASONING_FORMAT_NONE;
  if (!params.parser.empty()) out.parser.parser.load(params.parser);
  return Status();
}

Result<Prepared> ChatFormat::prepare(const ChatRequest& request) const {
  Prepared out;
  for (const auto& message : request.messages) {
    for (const auto& part : message.content) {
      if (part.type == ContentPart::Type::kImage) {
        return bad_request("provider '" + provider_name_ + "' (kind local) does not accept images",
                           "messages");
      }
    }
  }
  const std::string schema = schema_for(request);
  try {
    if (templates_ && !is_raw_prompt(request)) {
      if (auto status = apply_template(request, schema, out); !status.ok()) return status.error();
    } else {
      // No chat template: a plain transcript, which is what a base model continues best. It
      // cannot be shown tools; a forced call is made by the generic grammar, and with
      // tool_choice auto the model answers in text (it never chooses a call).
      if (forces_a_call(request)) {
        if (!schema.empty()) {
          return bad_request("a forced tool call and response_format cannot be combined",
                             "response_format");
        }
        auto tools = offered_tools(request);
        if (!tools.ok()) return tools.error();
        if (auto status = generic_forced_call(*tools, out); !status.ok()) return status.error();
      }
      for (const auto& message : request.messages) {
        const std::string text = message.text();
        if (text.empty()) continue;
        if (!out.prompt.empty()) out.prompt += "\n";
        out.prompt += text;
      }
    }
    if (!schema.empty() && out.sampling.grammar.empty()) {
      out.sampling.grammar = {COMMON_GRAMMAR_TYPE_OUTPUT_FORMAT,
                              json_schema_to_grammar(common_json::parse(schema))};
    }
  } catch (const std::exception& e) {
    return bad_request(std::string("local model cannot serve this request: ") + e.what());
  }

  const Sampling& s = request.sampling;
  auto& sp = out.sampling;
  // llama-server's defaults where the request says nothing.
  sp.temp = static_cast<float>(s.temperature.value_or(0.8));
  sp.top_p = static_cast<float>(s.top_p.value_or(0.95));
  sp.top_k = static_cast<int32_t>(number_or(request.passthrough, "top_k", 40));
  sp.min_p = static_cast<float>(number_or(request.passthrough, "min_p", 0.05));
  sp.penalty_present = static_cast<float>(s.presence_penalty.value_or(0.0));
  sp.penalty_freq = static_cast<float>(s.frequency_penalty.value_or(0.0));
  sp.penalty_repeat =
      static_cast<float>(number_or(request.passthrough, "repeat_penalty", 1.0));
  if (s.seed) sp.seed = static_cast<uint32_t>(*s.seed);
  // llama-server's extension, for benchmarks that need answers of a fixed length.
  if (auto it = request.passthrough.find("ignore_eos");
      it != request.passthrough.end() && it->is_boolean()) {
    sp.ignore_eos = it->get<bool>();
  }
  sp.no_perf = true;
  if (auto status = read_logit_bias(request.passthrough, n_vocab_, sp.logit_bias); !status.ok()) {
    return status.error();
  }
  for (const auto& stop : s.stop) out.stops.push_back(stop);
  if (s.max_tokens) out.max_tokens = static_cast<int>(std::clamp<int64_t>(*s.max_tokens, 0, 1 << 30));
  return out;
}

std::vector<ChatEvent> OutputParser::feed(const std::string& text, bool final) {
  std::vector<ChatEvent> events;
  if (!parse_) {
    if (!text.empty()) events.push_back(ChatEvent::text_delta(text));
    return events;
  }
  raw_ += text;
  common_chat_msg msg;
  try {
    msg = common_chat_parse(raw_, !final, params_);
  } catch (const std::exception&) {
    if (!final) return events;  // a partial parse that fails waits for more text
    msg = common_chat_msg();
    msg.content = raw_;         // the model broke its own format: give the text back
  }
  if (msg.content.size() > sent_content_.size() && msg.content.starts_with(sent_content_)) {
    std::string delta = msg.content.substr(sent_content_.size());
    sent_content_ += delta;
    events.push_back(ChatEvent::text_delta(std::move(delta)));
  }
  for (size_t i = 0; i < msg.tool_calls.size(); ++i) {
    const auto& call = msg.tool_calls[i];
    // A call is announced once its name is whole: when its arguments have begun, or at the end.
    if (i >= calls_.size()) {
      if (call.name.empty() || (call.arguments.empty() && !final)) break;
      calls_.push_back({call.id.empty() ? new_id("call_") : call.id, 0});
      events.push_back(ChatEvent::tool_call_start(static_cast<int>(i), calls_[i].id, call.name));
    }
    auto& sent = calls_[i];
    if (call.arguments.size() > sent.args_sent) {
      events.push_back(ChatEvent::tool_args_delta(static_cast<int>(i),
                                                  call.arguments.substr(sent.args_sent)));
      sent.args_sent = call.arguments.size();
    }
  }
  return events;
}

}  // namespace keel::local
