// Native events -> the Responses API's stream (responses.h: ResponsesStreamEncoder).
//
// Order, as OpenAI sends it: response.created, response.in_progress, then per output item
// output_item.added, [content_part.added, output_text.delta..., output_text.done,
// content_part.done | function_call_arguments.delta..., function_call_arguments.done],
// output_item.done, and last response.completed (or .incomplete / .failed) carrying the whole
// output. Function calls stay open until the turn ends, so deltas of parallel calls that an
// upstream interleaves each reach their own item.
//
// Every event and the response object are written as JSON text directly, in the member order
// that a Json built member by member would dump (the goldens in tests/golden/responses/ hold
// those bytes), not through a DOM: a Json per event and nlohmann's dump made a streamed
// Responses request cost several times a chat completion's.
#include <algorithm>

#include "api/json_util.h"
#include "api/responses/responses.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/text.h"

namespace keel {

using namespace std::string_view_literals;

namespace {

// `,"name":`
void key(std::string& out, std::string_view name) {
  out += ",\""sv;
  out += name;
  out += "\":"sv;
}

void string_member(std::string& out, std::string_view name, std::string_view value) {
  key(out, name);
  append_json_string_checked(out, value);
}

void number_member(std::string& out, std::string_view name, int64_t value) {
  key(out, name);
  append_decimal(out, value);
}

// OutputTextContent, its text already a JSON string; `annotations` null for none.
void output_text_part(std::string& out, std::string_view text_json, const Json& annotations) {
  out += R"({"type":"output_text","text":)"sv;
  out += text_json;
  if (annotations.is_null()) {
    out += R"(,"annotations":[],"logprobs":[]})"sv;
    return;
  }
  out += R"(,"annotations":)"sv;
  append_json(out, annotations);
  out += R"(,"logprobs":[]})"sv;
}

// A reasoning item's SummaryTextContent.
void summary_part(std::string& out, std::string_view text) {
  out += R"({"type":"summary_text","text":)"sv;
  append_json_string_checked(out, text);
  out += '}';
}

// A custom tool's free-text input from the {"input": ...} arguments the model wrote for it;
// the arguments as they are when they are not that shape.
std::string custom_input(const std::string& arguments) {
  const auto parsed = try_parse_json(arguments);
  if (parsed && parsed->is_object()) {
    const Json* input = member(*parsed, "input");
    if (input && input->is_string()) return str(*input);
  }
  return arguments;
}

std::string quoted(std::string_view status) {
  std::string out;
  append_json_string_checked(out, status);
  return out;
}

}  // namespace

Json ResponsesEvent::json() const { return try_parse_json(data).value_or(Json()); }

// file_citation: the source file as `filename`, the chunk's id as `file_id` (a configured
// knowledge base's files have no /v1/files id; a vector store's passage carries its file's id
// there, server/file_search.cpp), `index` the marker's place in the item's text.
Json file_citation_to_wire(const Citation& citation, int64_t text_base) {
  Json annotation = Json::object();
  annotation["type"] = "file_citation";
  annotation["file_id"] = citation.chunk_id;
  annotation["filename"] = citation.source;
  annotation["index"] = std::max<int64_t>(0, citation.text_start - text_base);
  return annotation;
}

ResponsesStreamEncoder::ResponsesStreamEncoder(
    ResponseText response, std::set<std::string> custom_tools,
    std::map<std::string, std::pair<std::string, std::string>> namespaced)
    : response_(std::move(response)),
      custom_tools_(std::move(custom_tools)),
      namespaced_(std::move(namespaced)) {}

// A new event's text, open after its sequence_number (the caller adds members and the closing
// brace); nullptr when quiet.
std::string* ResponsesStreamEncoder::emit(std::vector<ResponsesEvent>& out, std::string_view type) {
  if (quiet_) return nullptr;
  std::string* data;
  if (writer_) {
    flush();
    data = &writer_->open(type);
    writing_ = true;
  } else {
    ResponsesEvent& event = out.emplace_back();
    event.type = type;
    data = &event.data;
    data->reserve(type.size() + 160);  // most events: ids, indexes and a delta
  }
  *data += R"({"type":")"sv;
  *data += type;
  *data += R"(","sequence_number":)"sv;
  append_decimal(*data, sequence_++);
  return data;
}

std::string* ResponsesStreamEncoder::emit_for(std::vector<ResponsesEvent>& out,
                                              std::string_view type, std::string_view id_text,
                                              size_t output_index) {
  std::string* data = emit(out, type);
  if (data) {
    *data += R"(,"item_id":)"sv;
    *data += id_text;
    *data += R"(,"output_index":)"sv;
    append_decimal(*data, static_cast<int64_t>(output_index));
  }
  return data;
}

void ResponsesStreamEncoder::flush() {
  if (!writing_) return;
  writer_->close();
  writing_ = false;
}

void ResponsesStreamEncoder::write_to(EventWriter* writer) {
  if (writer_) flush();
  writer_ = writer;
}

// The item as it stands: added (`done` false: empty content, arguments or summary) or done
// (`value`: a message's text as a JSON string, a call's arguments, or a custom call's input).
void ResponsesStreamEncoder::item_text(std::string& out, const OpenItem& open, const char* status,
                                       bool done, std::string_view value) const {
  out += R"({"id":)"sv;
  out += open.id_text;
  switch (open.type) {
    case ItemType::kMessage:
      out += R"(,"type":"message","status":")"sv;
      out += status;
      out += R"(","role":"assistant","content":[)"sv;
      if (done) output_text_part(out, value, open.annotations);
      out += "]}"sv;
      return;
    case ItemType::kFunctionCall:
    case ItemType::kCustomToolCall: {
      const bool custom = open.type == ItemType::kCustomToolCall;
      out += custom ? R"(,"type":"custom_tool_call","status":")"sv
                    : R"(,"type":"function_call","status":")"sv;
      out += status;
      out += '"';
      string_member(out, custom ? "input"sv : "arguments"sv, value);
      string_member(out, "call_id", open.call_id);
      if (!open.namespace_name.empty()) string_member(out, "namespace", open.namespace_name);
      string_member(out, "name", open.name);
      out += '}';
      return;
    }
    case ItemType::kReasoning:
      out += R"(,"type":"reasoning","summary":[)"sv;
      if (done && !open.text.empty()) summary_part(out, open.text);
      out += ']';
      if (done) {
        if (std::string sealed = reasoning_encrypted_content(open.reasoning); !sealed.empty()) {
          string_member(out, "encrypted_content", sealed);
        }
      }
      out += '}';
      return;
  }
}

std::string ResponsesStreamEncoder::output_text() const {
  size_t size = 2;
  for (const DoneItem& item : output_) size += item.text.size() + 1;
  std::string output;
  output.reserve(size);
  output += '[';
  for (const DoneItem& item : output_) {
    if (output.size() > 1) output += ',';
    output += item.text;
  }
  output += ']';
  return output;
}

void ResponsesStreamEncoder::response_event(std::vector<ResponsesEvent>& out,
                                            std::string_view type) {
  std::string* data = emit(out, type);
  if (!data) return;
  key(*data, "response");
  response_.append_to(*data, output_text());
  *data += '}';
}

void ResponsesStreamEncoder::begin(std::vector<ResponsesEvent>& out) {
  if (begun_) return;
  begun_ = true;
  if (quiet_) return;
  // The same object in both events: written once.
  std::string object;
  response_.append_to(object, output_text());
  for (std::string_view type : {"response.created"sv, "response.in_progress"sv}) {
    std::string* data = emit(out, type);
    *data += R"(,"response":)"sv;
    *data += object;
    *data += '}';
  }
}

void ResponsesStreamEncoder::open_item(OpenItem item, std::vector<ResponsesEvent>& out) {
  item.output_index = output_.size() + open_.size();
  append_json_string_checked(item.id_text, item.id);
  const OpenItem& open = open_.emplace_back(std::move(item));
  if (quiet_) return;
  std::string* added = emit(out, "response.output_item.added");
  number_member(*added, "output_index", static_cast<int64_t>(open.output_index));
  key(*added, "item");
  item_text(*added, open, "in_progress", false, {});
  *added += '}';
  if (open.type == ItemType::kMessage) {
    std::string* part =
        emit_for(out, "response.content_part.added", open.id_text, open.output_index);
    *part +=
        R"(,"content_index":0,"part":{"type":"output_text","text":"","annotations":[],"logprobs":[]}})"sv;
  }
}

// The open reasoning item for `reasoning_index`, opened (closing what was open) when new.
ResponsesStreamEncoder::OpenItem& ResponsesStreamEncoder::reasoning_item(
    int reasoning_index, std::vector<ResponsesEvent>& out) {
  for (OpenItem& open : open_) {
    if (open.reasoning_index == reasoning_index) return open;
  }
  close_items("completed", out);
  OpenItem item;
  item.type = ItemType::kReasoning;
  item.id = new_id("rs_");
  item.reasoning_index = reasoning_index;
  open_item(std::move(item), out);
  return open_.back();
}

void ResponsesStreamEncoder::encode(const ChatEvent& event, std::vector<ResponsesEvent>& out) {
  begin(out);
  switch (event.kind) {
    case ChatEvent::Kind::kReasoningDelta: {
      if (event.text.empty()) break;
      OpenItem& open = reasoning_item(event.tool_index, out);
      if (open.text.empty()) {
        if (std::string* added = emit_for(out, "response.reasoning_summary_part.added",
                                          open.id_text, open.output_index)) {
          *added += R"(,"summary_index":0,"part":{"type":"summary_text","text":""}})"sv;
        }
      }
      open.text += event.text;
      if (std::string* delta = emit_for(out, "response.reasoning_summary_text.delta", open.id_text,
                                        open.output_index)) {
        *delta += R"(,"summary_index":0)"sv;
        string_member(*delta, "delta", event.text);
        *delta += '}';
      }
      break;
    }
    case ChatEvent::Kind::kReasoningSignature: {
      OpenItem& open = reasoning_item(event.tool_index, out);
      open.reasoning.signature += event.text;
      open.reasoning.vendor = event.id;
      open.reasoning.redacted = event.redacted;
      break;
    }
    case ChatEvent::Kind::kTextDelta: {
      if (event.text.empty()) break;
      if (open_.empty() || open_.back().type != ItemType::kMessage) {
        close_items("completed", out);
        OpenItem item;
        item.id = new_id("msg_");
        open_item(std::move(item), out);
      }
      OpenItem& open = open_.back();
      if (open.text.empty()) open.text_base = text_points_;
      open.text += event.text;
      text_points_ += utf8_code_points(event.text);
      if (std::string* delta =
              emit_for(out, "response.output_text.delta", open.id_text, open.output_index)) {
        *delta += R"(,"content_index":0)"sv;
        string_member(*delta, "delta", event.text);
        *delta += R"(,"logprobs":[]})"sv;
      }
      break;
    }
    case ChatEvent::Kind::kToolCallStart: {
      // A message (or reasoning) before the call is done; calls stay open together.
      if (!open_.empty() && open_.back().tool_index < 0) close_items("completed", out);
      const bool custom = custom_tools_.count(event.tool_name) > 0;
      OpenItem item;
      item.type = custom ? ItemType::kCustomToolCall : ItemType::kFunctionCall;
      item.id = new_id(custom ? "ctc_" : "fc_");
      item.tool_index = event.tool_index;
      item.call_id = event.tool_id.empty() ? new_id("call_") : event.tool_id;
      if (auto found = namespaced_.find(event.tool_name); found != namespaced_.end()) {
        item.namespace_name = found->second.first;
        item.name = found->second.second;
      } else {
        item.name = event.tool_name;
      }
      open_item(std::move(item), out);
      break;
    }
    case ChatEvent::Kind::kToolArgsDelta: {
      for (OpenItem& open : open_) {
        if (open.tool_index != event.tool_index) continue;
        open.text += event.text;
        // A custom tool's input is the string inside the arguments: sent whole when it ends.
        if (open.type == ItemType::kFunctionCall && !event.text.empty()) {
          if (std::string* delta = emit_for(out, "response.function_call_arguments.delta",
                                            open.id_text, open.output_index)) {
            string_member(*delta, "delta", event.text);
            *delta += '}';
          }
        }
        break;
      }
      break;
    }
    case ChatEvent::Kind::kFinish:
      finish_ = event.finish;
      break;
    case ChatEvent::Kind::kUsage:
      usage_ = event.usage;
      break;
    case ChatEvent::Kind::kStart:
      if (event.usage.present) usage_ = event.usage;
      break;
    case ChatEvent::Kind::kError:
      break;
    case ChatEvent::Kind::kCitation: {
      // On the message whose text holds the marker (the last one open).
      if (!event.citation || open_.empty() || open_.back().type != ItemType::kMessage) break;
      OpenItem& open = open_.back();
      Json annotation = file_citation_to_wire(*event.citation, open.text_base);
      if (std::string* added = emit_for(out, "response.output_text.annotation.added", open.id_text,
                                        open.output_index)) {
        *added += R"(,"content_index":0)"sv;
        number_member(*added, "annotation_index", static_cast<int64_t>(open.annotations.size()));
        key(*added, "annotation");
        append_json(*added, annotation);
        *added += '}';
      }
      open.annotations.push_back(std::move(annotation));
      break;
    }
  }
}

void ResponsesStreamEncoder::close_items(const char* status, std::vector<ResponsesEvent>& out) {
  for (OpenItem& open : open_) {
    // A message's text as a JSON string (written three times), a call's arguments, a custom
    // call's input.
    std::string value;
    switch (open.type) {
      case ItemType::kReasoning:
        if (!open.text.empty()) {
          if (std::string* done = emit_for(out, "response.reasoning_summary_text.done",
                                           open.id_text, open.output_index)) {
            *done += R"(,"summary_index":0)"sv;
            string_member(*done, "text", open.text);
            *done += '}';
          }
          if (std::string* done = emit_for(out, "response.reasoning_summary_part.done",
                                           open.id_text, open.output_index)) {
            *done += R"(,"summary_index":0,"part":)"sv;
            summary_part(*done, open.text);
            *done += '}';
          }
        }
        open.reasoning.text = open.text;
        break;
      case ItemType::kMessage:
        append_json_string_checked(value, open.text);
        if (std::string* done =
                emit_for(out, "response.output_text.done", open.id_text, open.output_index)) {
          *done += R"(,"content_index":0,"text":)"sv;
          *done += value;
          *done += R"(,"logprobs":[]})"sv;
        }
        if (std::string* done =
                emit_for(out, "response.content_part.done", open.id_text, open.output_index)) {
          *done += R"(,"content_index":0,"part":)"sv;
          output_text_part(*done, value, open.annotations);
          *done += '}';
        }
        break;
      case ItemType::kCustomToolCall:
        value = custom_input(open.text);
        for (const auto& [type, name] :
             {std::pair{"response.custom_tool_call_input.delta"sv, "delta"sv},
              std::pair{"response.custom_tool_call_input.done"sv, "input"sv}}) {
          if (std::string* event = emit_for(out, type, open.id_text, open.output_index)) {
            string_member(*event, name, value);
            *event += '}';
          }
        }
        break;
      case ItemType::kFunctionCall:
        value = open.text;
        if (std::string* done = emit_for(out, "response.function_call_arguments.done", open.id_text,
                                         open.output_index)) {
          string_member(*done, "name", open.name);
          string_member(*done, "arguments", value);
          *done += '}';
        }
        break;
    }
    DoneItem& item = output_.emplace_back();
    item.id = open.id;
    item_text(item.text, open, status, true, value);
    if (std::string* done = emit(out, "response.output_item.done")) {
      number_member(*done, "output_index", static_cast<int64_t>(open.output_index));
      key(*done, "item");
      *done += item.text;
      *done += '}';
    }
  }
  open_.clear();
}

void ResponsesStreamEncoder::file_search_begin(const std::string& id, const Json& queries,
                                               std::vector<ResponsesEvent>& out) {
  begin(out);
  close_items("completed", out);
  Json item = Json::object();
  item["id"] = id;
  item["type"] = "file_search_call";
  item["status"] = "in_progress";
  item["queries"] = queries;
  item["results"] = nullptr;
  const size_t output_index = output_.size();
  if (std::string* added = emit(out, "response.output_item.added")) {
    number_member(*added, "output_index", static_cast<int64_t>(output_index));
    key(*added, "item");
    append_json(*added, item);
    *added += '}';
  }
  std::string id_text;
  append_json_string_checked(id_text, id);
  for (std::string_view type :
       {"response.file_search_call.in_progress"sv, "response.file_search_call.searching"sv}) {
    if (std::string* progress = emit_for(out, type, id_text, output_index)) *progress += '}';
  }
  item["status"] = "searching";
  DoneItem& done = output_.emplace_back();
  done.id = id;
  done.text = json_text(item);
  done.item = std::move(item);
}

void ResponsesStreamEncoder::file_search_end(const std::string& id, Json results,
                                             const char* status, std::vector<ResponsesEvent>& out) {
  for (size_t output_index = 0; output_index < output_.size(); ++output_index) {
    DoneItem& done = output_[output_index];
    if (done.id != id || done.item.is_null()) continue;
    done.item["status"] = status;
    done.item["results"] = std::move(results);
    done.text = json_text(done.item);
    if (std::string_view(status) == "completed") {
      std::string id_text;
      append_json_string_checked(id_text, id);
      if (std::string* completed =
              emit_for(out, "response.file_search_call.completed", id_text, output_index)) {
        *completed += '}';
      }
    }
    if (std::string* item_done = emit(out, "response.output_item.done")) {
      number_member(*item_done, "output_index", static_cast<int64_t>(output_index));
      key(*item_done, "item");
      *item_done += done.text;
      *item_done += '}';
    }
    return;
  }
}

void ResponsesStreamEncoder::set_status(const char* status) {
  response_.set(ResponseText::kStatus, quoted(status));
}

void ResponsesStreamEncoder::end(const char* type, std::vector<ResponsesEvent>& out) {
  if (usage_.present) response_.set(ResponseText::kUsage, usage_text(usage_));
  std::string completed_at;
  append_decimal(completed_at, unix_seconds());
  response_.set(ResponseText::kCompletedAt, std::move(completed_at));
  response_event(out, type);
}

void ResponsesStreamEncoder::finish(std::vector<ResponsesEvent>& out) {
  begin(out);
  const bool truncated = finish_ == FinishReason::kLength;
  close_items(truncated ? "incomplete" : "completed", out);
  if (truncated || finish_ == FinishReason::kContentFilter) {
    set_status("incomplete");
    response_.set(ResponseText::kIncompleteDetails, truncated ? R"({"reason":"max_output_tokens"})"
                                                              : R"({"reason":"content_filter"})");
    end("response.incomplete", out);
  } else {
    set_status("completed");
    end("response.completed", out);
  }
}

void ResponsesStreamEncoder::cancel() {
  std::vector<ResponsesEvent> dropped;
  begin(dropped);
  close_items("incomplete", dropped);
  set_status("cancelled");
}

void ResponsesStreamEncoder::fail(const Error& error, std::vector<ResponsesEvent>& out) {
  begin(out);
  close_items("incomplete", out);
  set_status("failed");
  response_.set(ResponseText::kError, json_text(response_error(error)));
  end("response.failed", out);
}

std::string ResponsesStreamEncoder::response_text() const {
  std::string text;
  response_.append_to(text, output_text());
  return text;
}

const Json& ResponsesStreamEncoder::response() const {
  std::string text = response_text();
  if (text != parsed_text_) {
    parsed_ = try_parse_json(text).value_or(Json());
    parsed_text_ = std::move(text);
  }
  return parsed_;
}

std::vector<std::pair<std::string, std::string>> ResponsesStreamEncoder::output_items() const {
  std::vector<std::pair<std::string, std::string>> items;
  for (const DoneItem& item : output_) items.emplace_back(item.id, item.text);
  return items;
}

}  // namespace keel
