// Helpers shared by the files of src/api/openai_chat/ (internal.h).
#include "api/openai_chat/internal.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <set>
#include <utility>

#include "api/json_scan.h"
#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"
#include "core/text.h"

namespace keel {

using namespace std::string_view_literals;

namespace {

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

}  // namespace

namespace openai_chat_internal {

Status read_bool(const Json& object, const char* key, std::optional<bool>& out) {
  const Json* value = member(object, key);
  if (!value) return Status::Ok();
  if (!value->is_boolean()) return wrong_type(key, "a boolean", *value);
  out = value->get<bool>();
  return Status::Ok();
}

constexpr size_t kMaxStopSequences = 4;

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
Status read_sampling(const Json& body, Sampling& sampling) {
  if (auto st = read_number(body, "temperature", 0, 2, sampling.temperature); !st.ok()) return st;
  if (auto st = read_number(body, "top_p", 0, 1, sampling.top_p); !st.ok()) return st;
  if (auto st = read_number(body, "presence_penalty", -2, 2, sampling.presence_penalty); !st.ok()) {
    return st;
  }
  if (auto st = read_number(body, "frequency_penalty", -2, 2, sampling.frequency_penalty);
      !st.ok()) {
    return st;
  }
  return read_integer(body, "seed", sampling.seed);
}

Status read_stream(const Json& body, ChatRequest& req) {
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
  return Status::Ok();
}

Result<ChatRequest> read_request_body(std::string_view body,
                                      Status (*read_object)(const Json&, ChatRequest&)) {
  try {
    auto json = parse_json(body, ErrorCode::kInvalidArgument, "request body");
    if (!json) return json.error();
    const Json& object = *json;
    ChatRequest req;
    if (!object.is_object()) {
      return invalid("",
                     std::string("request body must be a JSON object, got ") + describe(object));
    }
    const Json* model = member(object, "model");
    if (!model) return invalid("model", "model is required");
    if (!model->is_string()) return wrong_type("model", "a string", *model);
    if (str(*model).empty()) return invalid("model", "model must not be empty");
    req.model = str(*model);
    if (auto st = read_object(object, req); !st.ok()) return st.error();
    return req;
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInvalidArgument,
                 std::string("could not read the request: ") + e.what());
  }
}

Status read_string(const Json& object, const char* key, const std::string& param,
                   std::string& out) {
  const Json* value = member(object, key);
  if (!value) return Status::Ok();
  if (!value->is_string()) return wrong_type(param, "a string", *value);
  out = str(*value);
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

Json tool_call_to_wire(const ToolCall& call) {
  return {{"id", call.id},
          {"type", "function"},
          {"function", {{"name", call.name}, {"arguments", call.arguments}}}};
}

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

// Fast paths for the common shapes:
// chat.completion bodies and chunks of the usual shape (text, finish_reason, usage; no tool
// calls, no errors, no content parts, no floats) are read with JsonScanner, without a Json
// tree. Anything else, or any doubt, returns nullopt and the caller takes the full path, so
// these are only ever faster, never different: tests and openai_response_fuzz compare the two.
//
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

// The top level of a chat.completion or chunk. Every choice is read (and must have the usual
// shape); `choices` absent or null sends the caller to the full path (errors live there).
// `choices_at`, when given, gets the offset of the "choices" key in `text` when no usage member
// came before it (else stays npos).
bool scan_body(std::string_view text, const char* message_key, ScannedBody& body,
               size_t* choices_at) {
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
      return scan.array(
          [&] { return scan_choice(scan, message_key, body.choices.emplace_back()); });
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

std::string dump_chunk(const Json& chunk) {
  return chunk.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace openai_chat_internal

}  // namespace keel
