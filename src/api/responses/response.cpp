// The Responses API's objects toward the client: the response, usage, errors, item lists and
// conversations (responses.h).
#include <algorithm>
#include <charconv>

#include "api/json_util.h"
#include "api/responses/responses.h"
#include "core/text.h"

namespace keel {

using namespace std::string_view_literals;

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

std::string usage_text(const Usage& usage) {
  std::string out;
  out.reserve(200);
  out += R"({"input_tokens":)"sv;
  append_decimal(out, usage.prompt_tokens);
  out += R"(,"input_tokens_details":{"cached_tokens":)"sv;
  append_decimal(out, usage.cached_tokens.value_or(0));
  out += R"(,"cache_write_tokens":)"sv;
  append_decimal(out, usage.cache_creation_tokens.value_or(0));
  out += R"(},"output_tokens":)"sv;
  append_decimal(out, usage.completion_tokens);
  out += R"(,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":)"sv;
  append_decimal(
      out, usage.total_tokens ? usage.total_tokens : usage.prompt_tokens + usage.completion_tokens);
  out += '}';
  return out;
}

// --- the response object as text ------------------------------------------------------------

namespace {

constexpr std::string_view kSlotKeys[ResponseText::kSlots] = {
    "output", "status", "error", "incomplete_details", "usage", "completed_at"};

int slot_of(std::string_view key) {
  for (int slot = 0; slot < ResponseText::kSlots; ++slot) {
    if (key == kSlotKeys[slot]) return slot;
  }
  return -1;
}

// `,"key":` then the request's value of `key`, or `fallback` (JSON text) when it has none.
void echoed_member(std::string& out, const ResponsesRequest& req, const char* key,
                   std::string_view fallback) {
  out += ",\""sv;
  out += key;
  out += "\":"sv;
  if (const Json* value = req.echo.empty() ? nullptr : member(req.echo, key)) {
    append_json(out, *value);
  } else {
    out += fallback;
  }
}

// A string member, or null when `value` is empty.
void string_or_null(std::string& out, std::string_view value) {
  if (value.empty()) {
    out += "null"sv;
  } else {
    append_json_string_checked(out, value);
  }
}

}  // namespace

void ResponseText::place(Slot slot) {
  placed_[slot] = true;
  pieces_[piece_count_++] = {text_.size(), slot};
}

ResponseText::ResponseText(const Json& response) {
  bool first = true;
  if (!response.is_object()) return;
  for (const auto& [key, value] : response.items()) {
    if (!first) text_ += ',';
    first = false;
    append_json_string_checked(text_, key);
    text_ += ':';
    const int slot = slot_of(key);
    if (slot < 0 || placed_[slot]) {
      append_json(text_, value);
      continue;
    }
    // The output is the encoder's (its items from the first on).
    if (slot != kOutput) values_[slot] = json_text(value);
    place(static_cast<Slot>(slot));
  }
}

namespace {

// The members of response_object that come from the request's echo, in runs between the ones
// that do not: each written from the echo, or the defaults when the request echoes nothing.
void max_members(std::string& out, const ResponsesRequest& req) {
  echoed_member(out, req, "max_output_tokens", "null");
  echoed_member(out, req, "max_tool_calls", "null");
}

void parallel_member(std::string& out, const ResponsesRequest& req) {
  echoed_member(out, req, "parallel_tool_calls", "true");
}

void reasoning_members(std::string& out, const ResponsesRequest& req) {
  echoed_member(out, req, "reasoning", R"({"effort":null,"summary":null})");
  echoed_member(out, req, "service_tier", R"("default")");
}

void members_after_store(std::string& out, const ResponsesRequest& req) {
  echoed_member(out, req, "temperature", "1.0");
  // text: the client's object, its format and verbosity defaulted.
  const Json* given = member(req.echo, "text");
  if (!given || !given->is_object()) {
    out += R"(,"text":{"format":{"type":"text"},"verbosity":"medium"})"sv;
  } else if (given->contains("format") && given->contains("verbosity")) {
    out += R"(,"text":)"sv;
    append_json(out, *given);
  } else {
    Json text_object = *given;
    if (!text_object.contains("format")) text_object["format"] = {{"type", "text"}};
    if (!text_object.contains("verbosity")) text_object["verbosity"] = "medium";
    out += R"(,"text":)"sv;
    append_json(out, text_object);
  }
  echoed_member(out, req, "tool_choice", R"("auto")");
  echoed_member(out, req, "tools", "[]");
  echoed_member(out, req, "top_logprobs", "0");
  echoed_member(out, req, "top_p", "1.0");
  echoed_member(out, req, "truncation", R"("disabled")");
  // user, prompt_cache_key and safety_identifier only when given (optional, not nullable).
  if (member(req.echo, "user")) echoed_member(out, req, "user", "");
  echoed_member(out, req, "metadata", "{}");
  for (const char* key : {"prompt_cache_key", "safety_identifier"}) {
    if (member(req.echo, key)) echoed_member(out, req, key, "");
  }
}

// Write(out, req); for a request that echoes nothing (most), the same text, written once.
template <void (*Write)(std::string&, const ResponsesRequest&)>
void echoed_members(std::string& out, const ResponsesRequest& req) {
  if (!req.echo.empty()) return Write(out, req);
  static const std::string defaults = [] {
    std::string text;
    Write(text, ResponsesRequest());
    return text;
  }();
  out += defaults;
}

}  // namespace

// response_object's members, in its order.
ResponseText::ResponseText(const ResponsesRequest& req, const std::string& id, int64_t created_at,
                           const std::string& status) {
  text_.reserve(700 + req.instructions.size() + req.chat.model.size() +
                req.previous_response_id.size() + req.conversation_id.size() +
                (req.echo.empty() ? 0 : 512));
  text_ = R"({"id":)"sv;
  append_json_string_checked(text_, id);
  text_ += R"(,"object":"response","created_at":)"sv;
  append_decimal(text_, created_at);
  text_ += R"(,"status":)"sv;
  place(kStatus);
  text_ += R"(,"background":false,"error":)"sv;
  place(kError);
  text_ += R"(,"incomplete_details":)"sv;
  place(kIncompleteDetails);
  text_ += R"(,"instructions":)"sv;
  string_or_null(text_, req.instructions);
  echoed_members<max_members>(text_, req);
  text_ += R"(,"model":)"sv;
  append_json_string_checked(text_, req.chat.model);
  text_ += R"(,"output":)"sv;
  place(kOutput);
  append_json_string_checked(values_[kStatus], status);
  values_[kError] = "null";
  values_[kIncompleteDetails] = "null";

  echoed_members<parallel_member>(text_, req);
  text_ += R"(,"previous_response_id":)"sv;
  string_or_null(text_, req.previous_response_id);
  if (!req.conversation_id.empty()) {
    text_ += R"(,"conversation":{"id":)"sv;
    append_json_string_checked(text_, req.conversation_id);
    text_ += '}';
  }
  echoed_members<reasoning_members>(text_, req);
  text_ += req.store ? R"(,"store":true)"sv : R"(,"store":false)"sv;
  echoed_members<members_after_store>(text_, req);
}

void ResponseText::append_to(std::string& out, std::string_view output) const {
  size_t size = out.size() + text_.size() + output.size() + 160;  // 160: appended keys, brace
  for (const std::string& value : values_) size += value.size();
  out.reserve(size);
  size_t at = 0;
  for (int i = 0; i < piece_count_; ++i) {
    const Piece& piece = pieces_[i];
    out.append(text_, at, piece.end - at);
    out += piece.slot == kOutput ? output : std::string_view(values_[piece.slot]);
    at = piece.end;
  }
  out.append(text_, at, std::string::npos);
  bool first = piece_count_ == 0 && text_ == "{";
  for (int slot = 0; slot < kSlots; ++slot) {
    const std::string_view value = slot == kOutput ? output : std::string_view(values_[slot]);
    // An output not in the object: Json's operator[] added it with the first item.
    if (placed_[slot] || value.empty() || (slot == kOutput && value == "[]")) continue;
    if (!first) out += ',';
    first = false;
    out += '"';
    out += kSlotKeys[slot];
    out += "\":"sv;
    out += value;
  }
  out += '}';
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
