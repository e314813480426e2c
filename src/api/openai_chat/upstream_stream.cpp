// From an OpenAI-compatible upstream, streamed: chat.completion.chunk data -> native events
// (OpenAIStreamDecoder in openai_chat.h).
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

constexpr int kMaxToolIndex = 1023;  // upstream tool-call indices above this are garbage

}  // namespace

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

}  // namespace keel
