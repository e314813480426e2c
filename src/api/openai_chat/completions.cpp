// OpenAI's legacy text completions (POST /v1/completions, openai_chat.h): a
// CompletionCreateParams body -> a native ChatRequest whose one user message is the prompt, and
// native answers -> text_completion objects, whole or streamed. Wire reference: the openai npm
// SDK's resources/completions.d.ts (Completion, CompletionCreateParams).
#include <set>
#include <utility>

#include "api/json_util.h"
#include "api/openai_chat/internal.h"
#include "api/openai_chat/openai_chat.h"

namespace keel {

using namespace openai_chat_internal;

namespace {

// OpenAI's documented default for max_tokens on this endpoint.
constexpr int64_t kDefaultMaxTokens = 16;

// Top-level fields parse_completion_request reads; everything else is passthrough.
bool is_modelled_completion_field(const std::string& key) {
  static const std::set<std::string, std::less<>> kModelled = {
      "model",    "prompt",         "max_tokens", "temperature",      "top_p",
      "stop",     "seed",           "n",          "presence_penalty", "frequency_penalty",
      "stream",   "stream_options", "user",       "best_of",          "echo",
      "logprobs", "suffix",         "logit_bias"};
  return kModelled.count(key) > 0;
}

Status parse_prompt(const Json& body, ChatRequest& req) {
  const Json* prompt = member(body, "prompt");
  if (!prompt) return invalid("prompt", "prompt is required");
  const Json* text = prompt;
  if (prompt->is_array()) {
    if (prompt->empty()) return invalid("prompt", "prompt must not be an empty array");
    for (const Json& item : *prompt) {
      if (item.is_number() || item.is_array()) {
        return invalid("prompt",
                       "prompt as token ids is not supported: keel's targets have different "
                       "tokenizers; send the prompt as text");
      }
    }
    if (prompt->size() > 1) {
      return invalid("prompt",
                     "a prompt of more than one string (a batch) is not supported; send one "
                     "prompt per request");
    }
    text = &(*prompt)[0];
  }
  if (!text->is_string()) {
    return wrong_type(prompt == text ? "prompt" : "prompt[0]", "a string or an array of strings",
                      *text);
  }
  Message message;
  message.role = Role::kUser;
  set_string_content(message, str(*text));
  req.messages.push_back(std::move(message));
  req.raw_prompt = true;
  return Status::Ok();
}

// A count that keel can honour only as 1 (n, best_of).
Status read_one(const Json& body, const char* key, const std::string& why) {
  std::optional<int64_t> count;
  if (auto st = read_integer(body, key, count); !st.ok()) return st;
  if (count && *count < 1) return invalid(key, std::string(key) + " must be at least 1");
  if (count && *count > 1) return invalid(key, std::string(key) + " > 1 is not supported" + why);
  return Status::Ok();
}

// The options no target of keel can honour, each a 400 naming it when it asks for something.
Status refuse_unsupported(const Json& body) {
  if (auto st = read_one(body, "n", ""); !st.ok()) return st;
  if (auto st = read_one(body, "best_of", " (keel asks its target for one completion)"); !st.ok()) {
    return st;
  }
  std::optional<bool> echo;
  if (auto st = read_bool(body, "echo", echo); !st.ok()) return st;
  if (echo.value_or(false)) {
    return invalid("echo", "echo is not supported: keel's targets do not return the prompt");
  }
  if (const Json* logprobs = member(body, "logprobs")) {
    if (!logprobs->is_number_integer() && !logprobs->is_number_unsigned()) {
      return wrong_type("logprobs", "an integer", *logprobs);
    }
    return invalid("logprobs", "logprobs is not supported on /v1/completions");
  }
  std::string suffix;
  if (auto st = read_string(body, "suffix", "suffix", suffix); !st.ok()) return st;
  if (!suffix.empty()) {
    return invalid("suffix",
                   "suffix (fill in the middle) is not supported: keel's targets complete a "
                   "prompt only after its end");
  }
  return Status::Ok();
}

// The members after `model`, which read_request_body read.
Status parse_completion_object(const Json& body, ChatRequest& req) {
  if (auto st = parse_prompt(body, req); !st.ok()) return st;
  if (auto st = refuse_unsupported(body); !st.ok()) return st;

  if (auto st = read_sampling(body, req.sampling); !st.ok()) return st;
  std::optional<int64_t> max_tokens;
  if (auto st = read_positive_integer(body, "max_tokens", max_tokens); !st.ok()) return st;
  req.sampling.max_tokens = max_tokens.value_or(kDefaultMaxTokens);
  if (const Json* stop = member(body, "stop")) {
    if (auto st = parse_stop(*stop, req.sampling.stop); !st.ok()) return st;
  }
  if (auto st = read_stream(body, req); !st.ok()) return st;
  if (auto st = read_string(body, "user", "user", req.user); !st.ok()) return st;
  // logit_bias as chat completions takes it: OpenAI-compatible targets get it; the vendors that
  // cannot express it refuse a non-empty one (api/anthropic, api/gemini).
  if (const Json* bias = member(body, "logit_bias")) {
    if (!bias->is_object()) return wrong_type("logit_bias", "an object", *bias);
    if (!bias->empty()) req.passthrough["logit_bias"] = *bias;
  }
  for (const auto& [key, value] : body.items()) {
    if (!is_modelled_completion_field(key)) append_member(req.passthrough, key, value);
  }
  return Status::Ok();
}

const char* completion_finish(FinishReason finish) {
  if (finish == FinishReason::kLength) return "length";
  if (finish == FinishReason::kContentFilter) return "content_filter";
  return "stop";
}

Json completion_choice(std::string text, const char* finish_reason) {
  return {{"text", std::move(text)},
          {"index", 0},
          {"logprobs", nullptr},
          {"finish_reason", finish_reason ? Json(finish_reason) : Json()}};
}

}  // namespace

Result<ChatRequest> parse_completion_request(std::string_view body) {
  return read_request_body(body, parse_completion_object);
}

Json completion_response_to_wire(const ChatResponse& resp) {
  return {{"id", resp.id},
          {"object", "text_completion"},
          {"created", resp.created},
          {"model", resp.model},
          {"choices",
           Json::array({completion_choice(resp.message.text(), completion_finish(resp.finish))})},
          {"usage", usage_to_wire(resp.usage)}};
}

CompletionStreamEncoder::CompletionStreamEncoder(std::string id, std::string model, int64_t created,
                                                 bool include_usage)
    : id_(std::move(id)),
      model_(std::move(model)),
      created_(created),
      include_usage_(include_usage) {}

Json CompletionStreamEncoder::chunk(Json choices) const {
  return {{"id", id_},
          {"object", "text_completion"},
          {"created", created_},
          {"model", model_},
          {"choices", std::move(choices)}};
}

void CompletionStreamEncoder::encode(const ChatEvent& event, std::vector<Json>& out) {
  switch (event.kind) {
    case ChatEvent::Kind::kTextDelta:
      if (!event.text.empty()) {
        out.push_back(chunk(Json::array({completion_choice(event.text, nullptr)})));
      }
      break;
    case ChatEvent::Kind::kFinish:
      out.push_back(chunk(Json::array({completion_choice("", completion_finish(event.finish))})));
      break;
    case ChatEvent::Kind::kUsage:
      if (include_usage_) {
        Json last = chunk(Json::array());
        last["usage"] = usage_to_wire(event.usage);
        out.push_back(std::move(last));
      }
      break;
    default:
      break;  // start, tool calls, reasoning, citations: no place in a text completion
  }
}

}  // namespace keel
