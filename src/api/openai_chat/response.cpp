// Toward an OpenAI client: a whole chat completion (as JSON and as text) and the model list
// (openai_chat.h).
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

Json citation_to_openai(const Citation& citation) {
  // The chunk's address: knowledge://BASE/SOURCE#chunk=ID&start=S&end=E (byte offsets into the
  // source's extracted text); the title names the file and, when it has one, the heading.
  std::string url = "knowledge://" + citation.knowledge + "/" + citation.source +
                    "#chunk=" + citation.chunk_id +
                    "&start=" + std::to_string(citation.source_start) +
                    "&end=" + std::to_string(citation.source_end);
  std::string title = citation.source;
  if (!citation.heading.empty()) title += " > " + citation.heading;
  return {{"type", "url_citation"},
          {"url_citation",
           {{"end_index", citation.text_end},
            {"start_index", citation.text_start},
            {"title", std::move(title)},
            {"url", std::move(url)}}}};
}

Json chat_response_to_wire(const ChatResponse& resp) {
  const Message& message = resp.message;
  std::string text = message.text();
  Json wire_message = {
      {"role", "assistant"},
      {"content",
       text.empty() && !message.tool_calls.empty() ? Json(nullptr) : Json(std::move(text))},
      {"refusal", nullptr}};
  if (!message.tool_calls.empty()) {
    Json calls = Json::array();
    for (const auto& call : message.tool_calls) calls.push_back(tool_call_to_wire(call));
    wire_message["tool_calls"] = std::move(calls);
  }
  if (!message.citations.empty()) {
    Json annotations = Json::array();
    for (const Citation& citation : message.citations) {
      annotations.push_back(citation_to_openai(citation));
    }
    wire_message["annotations"] = std::move(annotations);
  }
  FinishReason finish = resp.finish;
  if (finish == FinishReason::kNone || finish == FinishReason::kError) {
    finish = message.tool_calls.empty() ? FinishReason::kStop : FinishReason::kToolCalls;
  }
  Json choice = {{"index", 0},
                 {"message", std::move(wire_message)},
                 {"finish_reason", finish_reason_name(finish)},
                 {"logprobs", nullptr}};
  return {{"id", resp.id},
          {"object", "chat.completion"},
          {"created", resp.created},
          {"model", resp.model},
          {"choices", Json::array({std::move(choice)})},
          {"usage", usage_to_wire(resp.usage)}};
}

std::string chat_response_to_wire_text(const ChatResponse& resp) {
  const Message& message = resp.message;
  std::string text = message.text();
  if (!message.tool_calls.empty() || !message.citations.empty() || !valid_utf8(text) ||
      !valid_utf8(resp.id) || !valid_utf8(resp.model)) {
    return dump_chunk(chat_response_to_wire(resp));
  }
  FinishReason finish = resp.finish;
  if (finish == FinishReason::kNone || finish == FinishReason::kError) finish = FinishReason::kStop;
  // chat_response_to_wire's order (OpenAI's), which Json::dump keeps.
  std::string out;
  out.reserve(320 + text.size() + resp.id.size() + resp.model.size());
  out += R"({"id":)"sv;
  append_json_string(out, resp.id);
  out += R"(,"object":"chat.completion","created":)"sv;
  append_decimal(out, resp.created);
  out += R"(,"model":)"sv;
  append_json_string(out, resp.model);
  out += R"(,"choices":[{"index":0,"message":{"role":"assistant","content":)"sv;
  append_json_string(out, text);
  out += R"(,"refusal":null},"finish_reason":)"sv;
  append_json_string(out, finish_reason_name(finish));
  out += R"(,"logprobs":null}],"usage":{"prompt_tokens":)"sv;
  append_decimal(out, resp.usage.prompt_tokens);
  out += R"(,"completion_tokens":)"sv;
  append_decimal(out, resp.usage.completion_tokens);
  out += R"(,"total_tokens":)"sv;
  append_decimal(out, resp.usage.total_tokens);
  if (resp.usage.cached_tokens) {
    out += R"(,"prompt_tokens_details":{"cached_tokens":)"sv;
    append_decimal(out, *resp.usage.cached_tokens);
    out += '}';
  }
  out += "}}"sv;
  return out;
}

Json model_to_wire(const std::string& name, int64_t created) {
  return {{"id", name}, {"object", "model"}, {"created", created}, {"owned_by", "keel"}};
}

Json models_to_wire(const std::vector<std::string>& names, int64_t created) {
  Json data = Json::array();
  for (const auto& name : names) data.push_back(model_to_wire(name, created));
  return {{"object", "list"}, {"data", std::move(data)}};
}

}  // namespace keel
