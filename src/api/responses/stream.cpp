// Native events -> the Responses API's stream (responses.h: ResponsesStreamEncoder).
//
// Order, as OpenAI sends it: response.created, response.in_progress, then per output item
// output_item.added, [content_part.added, output_text.delta..., output_text.done,
// content_part.done | function_call_arguments.delta..., function_call_arguments.done],
// output_item.done, and last response.completed (or .incomplete / .failed) carrying the whole
// output. Function calls stay open until the turn ends, so deltas of parallel calls that an
// upstream interleaves each reach their own item.
#include <algorithm>

#include "api/json_util.h"
#include "api/responses/responses.h"
#include "core/clock.h"
#include "core/ids.h"

namespace keel {
namespace {

Json output_text_part(const std::string& text, const Json& annotations = Json::array()) {
  Json part = Json::object();
  part["type"] = "output_text";
  part["text"] = text;
  part["annotations"] = annotations;
  part["logprobs"] = Json::array();
  return part;
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

}  // namespace

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
    Json response, std::set<std::string> custom_tools,
    std::map<std::string, std::pair<std::string, std::string>> namespaced)
    : response_(std::move(response)),
      custom_tools_(std::move(custom_tools)),
      namespaced_(std::move(namespaced)) {}

Json& ResponsesStreamEncoder::emit(std::vector<ResponsesEvent>& out, const char* type) {
  if (quiet_) {  // the callers that would copy much check quiet_ first
    scratch_ = Json();
    return scratch_;
  }
  ResponsesEvent& event = out.emplace_back();
  event.type = type;
  event.data = Json::object();
  event.data["type"] = type;
  event.data["sequence_number"] = sequence_++;
  return event.data;
}

Json& ResponsesStreamEncoder::emit_for(std::vector<ResponsesEvent>& out, const char* type,
                                       const OpenItem& open) {
  Json& data = emit(out, type);
  data["item_id"] = open.item["id"];
  data["output_index"] = open.output_index;
  return data;
}

void ResponsesStreamEncoder::begin(std::vector<ResponsesEvent>& out) {
  if (begun_) return;
  begun_ = true;
  if (quiet_) return;
  emit(out, "response.created")["response"] = response_;
  emit(out, "response.in_progress")["response"] = response_;
}

void ResponsesStreamEncoder::open_item(Json item, int tool_index, bool custom,
                                       std::vector<ResponsesEvent>& out) {
  OpenItem& open = open_.emplace_back();
  open.output_index = response_["output"].size() + open_.size() - 1;
  open.item = std::move(item);
  open.tool_index = tool_index;
  open.custom = custom;
  if (quiet_) return;
  Json& added = emit(out, "response.output_item.added");
  added["output_index"] = open.output_index;
  added["item"] = open.item;
  if (tool_index < 0 && open.item["type"] == "message") {
    Json& part = emit_for(out, "response.content_part.added", open);
    part["content_index"] = 0;
    part["part"] = output_text_part("");
  }
}

// The open reasoning item for `reasoning_index`, opened (closing what was open) when new.
ResponsesStreamEncoder::OpenItem& ResponsesStreamEncoder::reasoning_item(
    int reasoning_index, std::vector<ResponsesEvent>& out) {
  for (OpenItem& open : open_) {
    if (open.reasoning_index == reasoning_index) return open;
  }
  close_items("completed", out);
  Json item = Json::object();
  item["id"] = new_id("rs_");
  item["type"] = "reasoning";
  item["summary"] = Json::array();
  open_item(std::move(item), -1, false, out);
  open_.back().reasoning_index = reasoning_index;
  return open_.back();
}

void ResponsesStreamEncoder::close_reasoning(OpenItem& open, Json& item,
                                             std::vector<ResponsesEvent>& out) {
  if (!open.text.empty()) {
    Json& done = emit_for(out, "response.reasoning_summary_text.done", open);
    done["summary_index"] = 0;
    done["text"] = open.text;
    Json part = {{"type", "summary_text"}, {"text", open.text}};
    Json& part_done = emit_for(out, "response.reasoning_summary_part.done", open);
    part_done["summary_index"] = 0;
    part_done["part"] = part;
    item["summary"] = Json::array({std::move(part)});
  }
  open.reasoning.text = open.text;
  if (std::string sealed = reasoning_encrypted_content(open.reasoning); !sealed.empty()) {
    item["encrypted_content"] = std::move(sealed);
  }
}

void ResponsesStreamEncoder::encode(const ChatEvent& event, std::vector<ResponsesEvent>& out) {
  begin(out);
  switch (event.kind) {
    case ChatEvent::Kind::kReasoningDelta: {
      if (event.text.empty()) break;
      OpenItem& open = reasoning_item(event.tool_index, out);
      if (quiet_) {
        open.text += event.text;
        break;
      }
      if (open.text.empty()) {
        Json& added = emit_for(out, "response.reasoning_summary_part.added", open);
        added["summary_index"] = 0;
        added["part"] = {{"type", "summary_text"}, {"text", ""}};
      }
      open.text += event.text;
      Json& delta = emit_for(out, "response.reasoning_summary_text.delta", open);
      delta["summary_index"] = 0;
      delta["delta"] = event.text;
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
      if (open_.empty() || open_.back().tool_index >= 0 || open_.back().reasoning_index >= 0) {
        close_items("completed", out);
        Json item = Json::object();
        item["id"] = new_id("msg_");
        item["type"] = "message";
        item["status"] = "in_progress";
        item["role"] = "assistant";
        item["content"] = Json::array();
        open_item(std::move(item), -1, false, out);
      }
      OpenItem& open = open_.back();
      if (open.text.empty()) open.text_base = text_points_;
      open.text += event.text;
      text_points_ += utf8_code_points(event.text);
      if (quiet_) break;
      Json& delta = emit_for(out, "response.output_text.delta", open);
      delta["content_index"] = 0;
      delta["delta"] = event.text;
      delta["logprobs"] = Json::array();
      break;
    }
    case ChatEvent::Kind::kToolCallStart: {
      // A message (or reasoning) before the call is done; calls stay open together.
      if (!open_.empty() && open_.back().tool_index < 0) close_items("completed", out);
      const bool custom = custom_tools_.count(event.tool_name) > 0;
      Json item = Json::object();
      item["id"] = new_id(custom ? "ctc_" : "fc_");
      item["type"] = custom ? "custom_tool_call" : "function_call";
      item["status"] = "in_progress";
      item[custom ? "input" : "arguments"] = "";
      item["call_id"] = event.tool_id.empty() ? new_id("call_") : event.tool_id;
      if (auto found = namespaced_.find(event.tool_name); found != namespaced_.end()) {
        item["namespace"] = found->second.first;
        item["name"] = found->second.second;
      } else {
        item["name"] = event.tool_name;
      }
      open_item(std::move(item), event.tool_index, custom, out);
      break;
    }
    case ChatEvent::Kind::kToolArgsDelta: {
      for (OpenItem& open : open_) {
        if (open.tool_index != event.tool_index) continue;
        open.text += event.text;
        // A custom tool's input is the string inside the arguments: sent whole when it ends.
        if (!open.custom && !event.text.empty() && !quiet_) {
          emit_for(out, "response.function_call_arguments.delta", open)["delta"] = event.text;
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
      if (!event.citation || open_.empty() || open_.back().tool_index >= 0) break;
      OpenItem& open = open_.back();
      Json annotation = file_citation_to_wire(*event.citation, open.text_base);
      if (quiet_) {
        open.annotations.push_back(std::move(annotation));
        break;
      }
      Json& added = emit_for(out, "response.output_text.annotation.added", open);
      added["content_index"] = 0;
      added["annotation_index"] = open.annotations.size();
      added["annotation"] = annotation;
      open.annotations.push_back(std::move(annotation));
      break;
    }
  }
}

void ResponsesStreamEncoder::close_items(const char* status, std::vector<ResponsesEvent>& out) {
  for (OpenItem& open : open_) {
    Json& item = open.item;
    if (open.reasoning_index >= 0) {
      close_reasoning(open, item, out);
    } else if (open.tool_index < 0) {
      if (!quiet_) {
        Json& done = emit_for(out, "response.output_text.done", open);
        done["content_index"] = 0;
        done["text"] = open.text;
        done["logprobs"] = Json::array();
        Json& part = emit_for(out, "response.content_part.done", open);
        part["content_index"] = 0;
        part["part"] = output_text_part(open.text, open.annotations);
      }
      item["content"] = Json::array({output_text_part(open.text, open.annotations)});
    } else if (open.custom) {
      const std::string input = custom_input(open.text);
      emit_for(out, "response.custom_tool_call_input.delta", open)["delta"] = input;
      emit_for(out, "response.custom_tool_call_input.done", open)["input"] = input;
      item["input"] = input;
    } else {
      Json& done = emit_for(out, "response.function_call_arguments.done", open);
      done["name"] = item["name"];
      done["arguments"] = open.text;
      item["arguments"] = open.text;
    }
    if (open.reasoning_index < 0) item["status"] = status;
    if (!quiet_) {
      Json& done = emit(out, "response.output_item.done");
      done["output_index"] = open.output_index;
      done["item"] = item;
    }
    response_["output"].push_back(std::move(item));
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
  const size_t output_index = response_["output"].size();
  Json& added = emit(out, "response.output_item.added");
  added["output_index"] = output_index;
  added["item"] = item;
  for (const char* type :
       {"response.file_search_call.in_progress", "response.file_search_call.searching"}) {
    Json& progress = emit(out, type);
    progress["item_id"] = id;
    progress["output_index"] = output_index;
  }
  item["status"] = "searching";
  response_["output"].push_back(std::move(item));
}

void ResponsesStreamEncoder::file_search_end(const std::string& id, Json results,
                                             const char* status, std::vector<ResponsesEvent>& out) {
  Json& output = response_["output"];
  for (size_t output_index = 0; output_index < output.size(); ++output_index) {
    Json& item = output[output_index];
    if (item["id"] != id || item["type"] != "file_search_call") continue;
    item["status"] = status;
    item["results"] = std::move(results);
    if (std::string_view(status) == "completed") {
      Json& completed = emit(out, "response.file_search_call.completed");
      completed["item_id"] = id;
      completed["output_index"] = output_index;
    }
    Json& done = emit(out, "response.output_item.done");
    done["output_index"] = output_index;
    done["item"] = item;
    return;
  }
}

void ResponsesStreamEncoder::end(const char* type, std::vector<ResponsesEvent>& out) {
  if (usage_.present) response_["usage"] = usage_to_wire(usage_);
  response_["completed_at"] = unix_seconds();
  if (!quiet_) emit(out, type)["response"] = response_;
}

void ResponsesStreamEncoder::finish(std::vector<ResponsesEvent>& out) {
  begin(out);
  const bool truncated = finish_ == FinishReason::kLength;
  close_items(truncated ? "incomplete" : "completed", out);
  if (truncated) {
    response_["status"] = "incomplete";
    response_["incomplete_details"] = {{"reason", "max_output_tokens"}};
    end("response.incomplete", out);
  } else if (finish_ == FinishReason::kContentFilter) {
    response_["status"] = "incomplete";
    response_["incomplete_details"] = {{"reason", "content_filter"}};
    end("response.incomplete", out);
  } else {
    response_["status"] = "completed";
    end("response.completed", out);
  }
}

void ResponsesStreamEncoder::cancel() {
  std::vector<ResponsesEvent> dropped;
  begin(dropped);
  close_items("incomplete", dropped);
  response_["status"] = "cancelled";
}

void ResponsesStreamEncoder::fail(const Error& error, std::vector<ResponsesEvent>& out) {
  begin(out);
  close_items("incomplete", out);
  response_["status"] = "failed";
  response_["error"] = response_error(error);
  end("response.failed", out);
}

}  // namespace keel
