// Toward an OpenAI client, streamed: native events -> chat.completion.chunk objects
// (OpenAIStreamEncoder in openai_chat.h).
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
  bool direct = text_ok_ &&
                (event.kind == ChatEvent::Kind::kStart || event.kind == ChatEvent::Kind::kFinish ||
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
    if (finish == FinishReason::kNone || finish == FinishReason::kError)
      finish = FinishReason::kStop;
    emit(text_chunk("{}", finish_reason_name(finish)));
  }
}

}  // namespace keel
