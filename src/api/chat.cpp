#include "api/chat.h"

namespace keel {

const char* role_name(Role role) {
  switch (role) {
    case Role::kSystem: return "system";
    case Role::kDeveloper: return "developer";
    case Role::kUser: return "user";
    case Role::kAssistant: return "assistant";
    case Role::kTool: return "tool";
  }
  return "user";
}

std::string Message::text() const {
  std::string out;
  for (const auto& part : content) {
    if (part.type == ContentPart::Type::kText) out += part.text;
  }
  return out;
}

Message with_error_marked(const Message& message) {
  Message out = message;
  if (!out.is_error) return out;
  out.is_error = false;
  for (auto& part : out.content) {
    if (part.type == ContentPart::Type::kText) {
      part.text = "Error: " + part.text;
      return out;
    }
  }
  ContentPart part;
  part.text = "Error";
  out.content.insert(out.content.begin(), std::move(part));
  return out;
}

const ContentPart* first_document(const std::vector<Message>& messages) {
  for (const auto& message : messages) {
    for (const auto& part : message.content) {
      if (part.type == ContentPart::Type::kDocument) return &part;
    }
  }
  return nullptr;
}

Error document_unsupported(const Document& document, const std::string& provider) {
  Error error(ErrorCode::kInvalidArgument,
              "document input (" + document.media_type + ") is not supported by " + provider);
  error.param = "messages";
  return error;
}

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone: return "";
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kToolCalls: return "tool_calls";
    case FinishReason::kContentFilter: return "content_filter";
    case FinishReason::kError: return "error";
  }
  return "";
}

FinishReason parse_finish_reason(std::string_view name) {
  if (name == "stop") return FinishReason::kStop;
  if (name == "length") return FinishReason::kLength;
  if (name == "tool_calls" || name == "function_call") return FinishReason::kToolCalls;
  if (name == "content_filter") return FinishReason::kContentFilter;
  if (name.empty()) return FinishReason::kNone;
  return FinishReason::kStop;
}

ChatEvent& ChatEvent::start(ChatEvent& into, std::string id, std::string model) {
  into.kind = Kind::kStart;
  into.id = std::move(id);
  into.model = std::move(model);
  return into;
}
ChatEvent ChatEvent::start(std::string id, std::string model) {
  ChatEvent e;
  start(e, std::move(id), std::move(model));
  return e;
}
ChatEvent& ChatEvent::text_delta(ChatEvent& into, std::string text) {
  into.kind = Kind::kTextDelta;
  into.text = std::move(text);
  return into;
}
ChatEvent ChatEvent::text_delta(std::string text) {
  ChatEvent e;
  text_delta(e, std::move(text));
  return e;
}
ChatEvent ChatEvent::tool_call_start(int index, std::string id, std::string name) {
  ChatEvent e;
  e.kind = Kind::kToolCallStart;
  e.tool_index = index;
  e.tool_id = std::move(id);
  e.tool_name = std::move(name);
  return e;
}
ChatEvent ChatEvent::tool_args_delta(int index, std::string args) {
  ChatEvent e;
  e.kind = Kind::kToolArgsDelta;
  e.tool_index = index;
  e.text = std::move(args);
  return e;
}
ChatEvent& ChatEvent::finished(ChatEvent& into, FinishReason reason) {
  into.kind = Kind::kFinish;
  into.finish = reason;
  return into;
}
ChatEvent ChatEvent::finished(FinishReason reason) {
  ChatEvent e;
  finished(e, reason);
  return e;
}
ChatEvent& ChatEvent::usage_event(ChatEvent& into, Usage usage) {
  into.kind = Kind::kUsage;
  into.usage = usage;
  into.usage.present = true;
  return into;
}
ChatEvent ChatEvent::usage_event(Usage usage) {
  ChatEvent e;
  usage_event(e, usage);
  return e;
}
ChatEvent ChatEvent::reasoning_delta(int index, std::string text) {
  ChatEvent e = tool_args_delta(index, std::move(text));  // the same fields, another kind
  e.kind = Kind::kReasoningDelta;
  return e;
}
ChatEvent ChatEvent::reasoning_signature(int index, std::string signature, const char* vendor,
                                         bool redacted) {
  ChatEvent e;
  e.kind = Kind::kReasoningSignature;
  e.tool_index = index;
  e.text = std::move(signature);
  e.id = vendor;
  e.redacted = redacted;
  return e;
}
ChatEvent ChatEvent::failure(Error error) {
  ChatEvent e;
  e.kind = Kind::kError;
  e.error = std::move(error);
  return e;
}

ChatEvent ChatEvent::cited(Citation citation) {
  ChatEvent e;
  e.kind = Kind::kCitation;
  e.citation = std::make_shared<const Citation>(std::move(citation));
  return e;
}

void ChatAggregator::add(const ChatEvent& event) {
  auto& msg = response_.message;
  msg.role = Role::kAssistant;
  switch (event.kind) {
    case ChatEvent::Kind::kStart:
      if (!event.id.empty()) response_.id = event.id;
      if (!event.model.empty()) response_.model = event.model;
      break;
    case ChatEvent::Kind::kTextDelta:
      if (msg.content.empty()) msg.content.push_back(ContentPart{});
      msg.content.back().text += event.text;
      break;
    case ChatEvent::Kind::kToolCallStart:
      if (event.tool_index >= static_cast<int>(msg.tool_calls.size()))
        msg.tool_calls.resize(event.tool_index + 1);
      msg.tool_calls[event.tool_index].id = event.tool_id;
      msg.tool_calls[event.tool_index].name = event.tool_name;
      break;
    case ChatEvent::Kind::kToolArgsDelta:
      if (event.tool_index >= static_cast<int>(msg.tool_calls.size()))
        msg.tool_calls.resize(event.tool_index + 1);
      msg.tool_calls[event.tool_index].arguments += event.text;
      break;
    case ChatEvent::Kind::kFinish:
      response_.finish = event.finish;
      response_.stop_sequence = event.text;
      break;
    case ChatEvent::Kind::kUsage:
      response_.usage = event.usage;
      break;
    case ChatEvent::Kind::kReasoningDelta:
    case ChatEvent::Kind::kReasoningSignature: {
      if (event.tool_index < 0 || event.tool_index > 1024) break;
      if (event.tool_index >= static_cast<int>(msg.reasoning.size())) {
        msg.reasoning.resize(event.tool_index + 1);
      }
      ReasoningPart& part = msg.reasoning[event.tool_index];
      if (event.kind == ChatEvent::Kind::kReasoningDelta) {
        part.text += event.text;
      } else {
        part.signature += event.text;
        part.vendor = event.id;
        part.redacted = event.redacted;
      }
      break;
    }
    case ChatEvent::Kind::kError:
      break;
    case ChatEvent::Kind::kCitation:
      if (event.citation) msg.citations.push_back(*event.citation);
      break;
  }
}

// The table in docs/dev.md ("Reasoning across vendors").
const char* reasoning_effort_for_budget(int64_t budget_tokens) {
  if (budget_tokens <= 0) return "none";
  if (budget_tokens <= 2048) return "low";
  if (budget_tokens <= 8192) return "medium";
  return "high";
}

int64_t reasoning_budget_for_effort(std::string_view effort) {
  if (effort == "none") return 0;
  if (effort == "minimal") return 1024;
  if (effort == "low") return 2048;
  if (effort == "medium") return 8192;
  if (effort == "high") return 16384;
  if (effort == "xhigh") return 24576;
  if (effort == "max") return 32768;
  return 8192;  // unknown words: the middle
}

}  // namespace keel
