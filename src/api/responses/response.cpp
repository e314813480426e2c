// The Responses API's objects toward the client: the response, usage, errors, item lists and
// conversations (responses.h).
#include <algorithm>
#include <charconv>

#include "api/json_util.h"
#include "api/responses/responses.h"
#include "core/text.h"

namespace keel {
namespace {

// The request's value of `key`, or `fallback` when the client did not give one.
Json echoed(const ResponsesRequest& req, const char* key, Json fallback) {
  const Json* value = member(req.echo, key);
  return value ? *value : std::move(fallback);
}

constexpr std::string_view kEnvelope = "keel1.";

}  // namespace

std::string reasoning_encrypted_content(const ReasoningPart& part) {
  if (part.signature.empty()) return {};
  if (part.vendor == kVendorOpenAI) return part.signature;
  Json sealed = Json::object();
  sealed["vendor"] = part.vendor;
  sealed["text"] = part.text;
  sealed["signature"] = part.signature;
  if (part.redacted) sealed["redacted"] = true;
  const std::string text = sealed.dump(-1, ' ', false, Json::error_handler_t::replace);
  return std::string(kEnvelope) +
         base64_encode(reinterpret_cast<const unsigned char*>(text.data()), text.size());
}

ReasoningPart reasoning_from_item(const Json& item) {
  ReasoningPart part;
  part.id = optional_string(item, "id");
  if (const Json* summary = member(item, "summary"); summary && summary->is_array()) {
    for (const Json& entry : *summary) {
      if (!entry.is_object()) continue;
      if (!part.text.empty()) part.text += "\n\n";
      part.text += optional_string(entry, "text");
    }
  }
  const std::string encrypted = optional_string(item, "encrypted_content");
  if (encrypted.compare(0, kEnvelope.size(), kEnvelope) == 0) {
    auto bytes = base64_decode(std::string_view(encrypted).substr(kEnvelope.size()));
    auto sealed = bytes ? try_parse_json(*bytes) : std::nullopt;
    if (sealed && sealed->is_object()) {
      const std::string vendor = optional_string(*sealed, "vendor");
      for (const char* known : {kVendorAnthropic, kVendorGemini}) {
        if (vendor == known) part.vendor = known;
      }
      if (!part.vendor.empty()) {
        part.text = optional_string(*sealed, "text");
        part.signature = optional_string(*sealed, "signature");
        const Json* redacted = member(*sealed, "redacted");
        part.redacted = redacted && *redacted == Json(true);
        return part;
      }
    }
    return part;  // a damaged envelope: readable text only
  }
  if (!encrypted.empty()) {
    part.signature = encrypted;
    part.vendor = kVendorOpenAI;
  }
  return part;
}

Json response_object(const ResponsesRequest& req, const std::string& id, int64_t created_at,
                     const std::string& status) {
  Json response = Json::object();
  response["id"] = id;
  response["object"] = "response";
  response["created_at"] = created_at;
  response["status"] = status;
  response["background"] = false;
  response["error"] = nullptr;
  response["incomplete_details"] = nullptr;
  response["instructions"] = req.instructions.empty() ? Json() : Json(req.instructions);
  response["max_output_tokens"] = echoed(req, "max_output_tokens", nullptr);
  response["max_tool_calls"] = echoed(req, "max_tool_calls", nullptr);
  response["model"] = req.chat.model;
  response["output"] = Json::array();
  response["parallel_tool_calls"] = echoed(req, "parallel_tool_calls", true);
  response["previous_response_id"] =
      req.previous_response_id.empty() ? Json() : Json(req.previous_response_id);
  if (!req.conversation_id.empty()) response["conversation"] = {{"id", req.conversation_id}};
  response["reasoning"] = echoed(req, "reasoning", {{"effort", nullptr}, {"summary", nullptr}});
  response["service_tier"] = echoed(req, "service_tier", "default");
  response["store"] = req.store;
  response["temperature"] = echoed(req, "temperature", 1.0);
  Json text = echoed(req, "text", Json::object());
  if (!text.is_object()) text = Json::object();
  if (!text.contains("format")) text["format"] = {{"type", "text"}};
  if (!text.contains("verbosity")) text["verbosity"] = "medium";
  response["text"] = std::move(text);
  response["tool_choice"] = echoed(req, "tool_choice", "auto");
  response["tools"] = echoed(req, "tools", Json::array());
  response["top_logprobs"] = echoed(req, "top_logprobs", 0);
  response["top_p"] = echoed(req, "top_p", 1.0);
  response["truncation"] = echoed(req, "truncation", "disabled");
  // usage comes with the end of the turn; user only when the client gave one (both are
  // optional, not nullable, in the schema).
  if (const Json* user = member(req.echo, "user")) response["user"] = *user;
  response["metadata"] = echoed(req, "metadata", Json::object());
  if (const Json* key = member(req.echo, "prompt_cache_key")) response["prompt_cache_key"] = *key;
  if (const Json* key = member(req.echo, "safety_identifier")) response["safety_identifier"] = *key;
  return response;
}

Json usage_to_wire(const Usage& usage) {
  Json wire = Json::object();
  wire["input_tokens"] = usage.prompt_tokens;
  wire["input_tokens_details"] = {{"cached_tokens", usage.cached_tokens.value_or(0)},
                                  {"cache_write_tokens", usage.cache_creation_tokens.value_or(0)}};
  wire["output_tokens"] = usage.completion_tokens;
  wire["output_tokens_details"] = {{"reasoning_tokens", 0}};
  wire["total_tokens"] =
      usage.total_tokens ? usage.total_tokens : usage.prompt_tokens + usage.completion_tokens;
  return wire;
}

Json response_error(const Error& error) {
  std::string code = "server_error";
  if (error.type_code == "context_length_exceeded") {
    code = error.type_code;
  } else if (error.code == ErrorCode::kResourceExhausted) {
    code = "rate_limit_exceeded";
  } else if (error.code == ErrorCode::kInvalidArgument) {
    code = "invalid_prompt";
  }
  return {{"code", code}, {"message", error.message}};
}

Result<Json> item_page(const Json& items, std::string_view query, int64_t default_limit,
                       int64_t max_limit) {
  int64_t limit = default_limit;
  bool descending = true;
  std::string after, before;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    const auto value =
        percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!value) return invalid(std::string(key), "malformed query parameter");
    if (key == "limit") {
      const auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), limit);
      if (ec != std::errc() || end != value->data() + value->size() || limit < 1 ||
          limit > max_limit) {
        return invalid("limit", "limit must be an integer from 1 to " + std::to_string(max_limit));
      }
    } else if (key == "order") {
      if (*value != "asc" && *value != "desc") {
        return invalid("order", "order must be asc or desc, got " + echo(*value));
      }
      descending = *value == "desc";
    } else if (key == "after") {
      after = *value;
    } else if (key == "before") {
      before = *value;
    }
  }
  std::vector<const Json*> ordered;
  for (const Json& item : items) ordered.push_back(&item);
  if (descending) std::reverse(ordered.begin(), ordered.end());
  // The cursor's place in the list; the whole list when there is none.
  auto place_of = [&](const std::string& id, const char* param) -> Result<size_t> {
    size_t at = 0;
    while (at < ordered.size() && optional_string(*ordered[at], "id") != id) ++at;
    if (at == ordered.size()) return invalid(param, "no item " + echo(id) + " in this list");
    return at;
  };
  size_t start = 0;
  size_t stop = ordered.size();
  if (!after.empty()) {
    auto at = place_of(after, "after");
    if (!at) return at.error();
    start = *at + 1;
  }
  if (!before.empty()) {
    auto at = place_of(before, "before");
    if (!at) return at.error();
    stop = std::max(start, *at);
    // The page just before the cursor.
    if (after.empty() && stop > static_cast<size_t>(limit)) start = stop - limit;
  }
  Json data = Json::array();
  size_t index = start;
  for (; index < stop && data.size() < static_cast<size_t>(limit); ++index) {
    data.push_back(*ordered[index]);
  }
  Json page = Json::object();
  page["object"] = "list";
  page["data"] = std::move(data);
  page["first_id"] = page["data"].empty() ? Json() : page["data"].front()["id"];
  page["last_id"] = page["data"].empty() ? Json() : page["data"].back()["id"];
  page["has_more"] = before.empty() ? index < stop : start > 0;
  return page;
}

Json conversation_object(const std::string& id, int64_t created_at, const Json& metadata) {
  Json conversation = Json::object();
  conversation["id"] = id;
  conversation["object"] = "conversation";
  conversation["created_at"] = created_at;
  conversation["metadata"] = metadata.is_object() ? metadata : Json::object();
  return conversation;
}

}  // namespace keel
