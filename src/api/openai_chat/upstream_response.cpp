// From an OpenAI-compatible upstream: a whole chat completion and error bodies -> native
// (openai_chat.h).
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

constexpr size_t kExcerptBytes = 200;

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

}  // namespace keel
