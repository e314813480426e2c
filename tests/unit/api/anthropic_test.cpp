// Tests for the Anthropic Messages wire format (src/api/anthropic/anthropic.h). Recorded wire pairs
// in tests/golden/anthropic/ drive the conversions (see its README.md for the file kinds and where
// each format comes from); every Anthropic-shaped golden and encoder output is also checked
// against the types of the official @anthropic-ai/sdk package when tests/e2e/node_modules holds
// it. Unit tests below cover each error, unsupported feature, normalisation and edge case.
#include "api/anthropic/anthropic.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "api/gemini/gemini.h"
#include "api/openai_chat/openai_chat.h"
#include "golden_util.h"

namespace keel {
namespace {

namespace fs = std::filesystem;

const fs::path kGoldenDir = golden_util::golden_dir("anthropic");
const fs::path kSdkDir =
    fs::path(KEEL_SOURCE_DIR) / "tests" / "e2e" / "node_modules" / "@anthropic-ai" / "sdk";
constexpr const char* kMessageId = "msg_keel_test";
constexpr const char* kRequestId = "req_keel_test";

// ---- files -----------------------------------------------------------------------------------

using namespace golden_util;

struct SseEvent {
  std::string name;
  std::string data;
};

// Server-Sent Events as Anthropic sends them: `event:` and `data:` lines, a blank line ends one.
std::vector<SseEvent> sse_events(const std::string& body) {
  std::vector<SseEvent> out;
  SseEvent current;
  bool has_data = false;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      if (has_data) out.push_back(current);
      current = SseEvent();
      has_data = false;
    } else if (line.rfind("event:", 0) == 0) {
      current.name = line.substr(line.size() > 6 && line[6] == ' ' ? 7 : 6);
    } else if (line.rfind("data:", 0) == 0) {
      if (has_data) current.data += "\n";
      current.data += line.substr(line.size() > 5 && line[5] == ' ' ? 6 : 5);
      has_data = true;
    }
  }
  if (has_data) out.push_back(current);
  return out;
}

std::vector<std::string> cases_with(const std::string& kind) {
  return golden_util::cases_with(kGoldenDir, kind);
}

fs::path golden(const std::string& name, const std::string& kind) {
  return kGoldenDir / (name + "." + kind);
}

Json frames_to_json(const std::vector<AnthropicSseEvent>& frames) {
  Json out = Json::array();
  for (const auto& frame : frames) out.push_back({{"event", frame.name}, {"data", frame.data}});
  return out;
}

// ---- the official SDK's declared types --------------------------------------------------------
// Reads `export interface X { a: T; b?: U; }` (and interfaces nested in `export declare
// namespace N { interface X {...} }`, named "N.X") and `export type X = 'a' | 'b';` from the
// SDK's .d.ts files: enough to check that a wire object has every required field, no field the
// SDK does not declare, and enum values the SDK knows.

struct SdkTypes {
  std::map<std::string, std::map<std::string, bool>> interfaces;  // field -> required
  std::map<std::string, std::set<std::string>> literals;
};

void read_dts(const std::string& text, SdkTypes& out) {
  static const std::regex kNamespace(R"(^export declare namespace (\w+) \{\s*$)");
  static const std::regex kInterface(
      R"(^( *)(?:export )?interface (\w+)(?: extends [^{]+)? \{\s*$)");
  static const std::regex kLiterals(R"(^export type (\w+) = ('.*);\s*$)");
  static const std::regex kQuoted(R"('([^']*)')");
  static const std::regex kField(R"(^(\w+)(\?)?:)");
  std::istringstream in(text);
  std::string line, ns, current;
  size_t indent = 0;
  bool in_interface = false;
  while (std::getline(in, line)) {
    std::smatch m;
    if (in_interface) {
      if (line == std::string(indent, ' ') + "}") {
        in_interface = false;
        continue;
      }
      std::string pad(indent + 4, ' ');
      if (line.size() > pad.size() && line.compare(0, pad.size(), pad) == 0) {
        std::string rest = line.substr(pad.size());
        if (std::regex_search(rest, m, kField)) {
          out.interfaces[current][m[1].str()] = !m[2].matched;
        }
      }
    } else if (std::regex_match(line, m, kNamespace)) {
      ns = m[1].str();
    } else if (line == "}") {
      ns.clear();
    } else if (std::regex_match(line, m, kInterface)) {
      indent = m[1].length();
      current = (indent > 0 && !ns.empty() ? ns + "." : std::string()) + m[2].str();
      out.interfaces[current];
      in_interface = true;
    } else if (std::regex_match(line, m, kLiterals)) {
      std::string values = m[2].str();
      auto& set = out.literals[m[1].str()];
      for (std::sregex_iterator it(values.begin(), values.end(), kQuoted), end; it != end; ++it) {
        set.insert((*it)[1].str());
      }
    }
  }
}

const SdkTypes* sdk_types() {
  static const SdkTypes* types = []() -> const SdkTypes* {
    fs::path messages = kSdkDir / "resources" / "messages" / "messages.d.ts";
    fs::path shared = kSdkDir / "resources" / "shared.d.ts";
    if (!fs::exists(messages) || !fs::exists(shared)) return nullptr;
    auto* out = new SdkTypes();
    read_dts(read_text(messages), *out);
    read_dts(read_text(shared), *out);
    return out;
  }();
  return types;
}

class SdkChecker {
 public:
  explicit SdkChecker(const SdkTypes& types) : types_(types) {}
  std::vector<std::string> problems;

  // `value` has every required field of `type` and (unless `extra` allows it) no other field.
  void fields(const Json& value, const std::string& type, const std::string& path,
              const std::set<std::string>& extra = {}) {
    auto it = types_.interfaces.find(type);
    if (it == types_.interfaces.end() || it->second.empty()) {
      problems.push_back(path + ": the SDK declares no interface " + type);
      return;
    }
    if (!value.is_object()) {
      problems.push_back(path + ": not an object (" + type + ")");
      return;
    }
    for (const auto& [field, required] : it->second) {
      if (required && !value.contains(field)) {
        problems.push_back(path + ": " + type + " requires " + field);
      }
    }
    for (const auto& [field, _] : value.items()) {
      if (!it->second.count(field) && !extra.count(field)) {
        problems.push_back(path + ": " + type + " declares no field " + field);
      }
    }
  }

  void literal(const Json& value, const std::string& type, const std::string& path) {
    auto it = types_.literals.find(type);
    if (it == types_.literals.end() || !value.is_string() || !it->second.count(value)) {
      problems.push_back(path + ": " + value.dump() + " is not a " + type);
    }
  }

  void content_block(const Json& block, const std::string& path) {
    std::string type = block.value("type", "");
    if (type == "text") {
      fields(block, "TextBlock", path);
    } else if (type == "tool_use") {
      fields(block, "ToolUseBlock", path);
    } else if (type == "thinking") {
      fields(block, "ThinkingBlock", path);
    } else if (type == "redacted_thinking") {
      fields(block, "RedactedThinkingBlock", path);
    } else {
      problems.push_back(path + ": unexpected block type " + type);
    }
  }

  void usage(const Json& usage, const std::string& type, const std::string& path) {
    fields(usage, type, path);
    for (const auto& [field, value] : usage.items()) {
      if (field.find("tokens") != std::string::npos && field != "output_tokens_details" &&
          !value.is_null() && !(value.is_number_integer() && value.get<int64_t>() >= 0)) {
        problems.push_back(path + "." + field + ": not a count");
      }
    }
  }

  void message(const Json& message, const std::string& path) {
    fields(message, "Message", path);
    if (message.value("type", "") != "message") problems.push_back(path + ".type: not message");
    if (message.value("role", "") != "assistant") problems.push_back(path + ".role: not assistant");
    if (!message["stop_reason"].is_null()) {
      literal(message["stop_reason"], "StopReason", path + ".stop_reason");
    }
    usage(message["usage"], "Usage", path + ".usage");
    const Json& content = message["content"];
    if (!content.is_array()) {
      problems.push_back(path + ".content: not an array");
      return;
    }
    for (size_t i = 0; i < content.size(); ++i) {
      content_block(content[i], path + ".content." + std::to_string(i));
    }
  }

  void error_response(const Json& body, const std::string& path) {
    fields(body, "ErrorResponse", path);
    fields(body["error"], "APIErrorObject", path + ".error");
    literal(body["error"]["type"], "ErrorType", path + ".error.type");
  }

  void stream_event(const Json& event, const std::string& path) {
    std::string type = event.value("type", "");
    if (type == "message_start") {
      fields(event, "RawMessageStartEvent", path);
      message(event["message"], path + ".message");
    } else if (type == "content_block_start") {
      fields(event, "RawContentBlockStartEvent", path);
      content_block(event["content_block"], path + ".content_block");
    } else if (type == "content_block_delta") {
      fields(event, "RawContentBlockDeltaEvent", path);
      std::string delta = event["delta"].value("type", "");
      fields(event["delta"],
             delta == "text_delta"        ? "TextDelta"
             : delta == "thinking_delta"  ? "ThinkingDelta"
             : delta == "signature_delta" ? "SignatureDelta"
                                          : "InputJSONDelta",
             path + ".delta");
    } else if (type == "content_block_stop") {
      fields(event, "RawContentBlockStopEvent", path);
    } else if (type == "message_delta") {
      fields(event, "RawMessageDeltaEvent", path);
      fields(event["delta"], "RawMessageDeltaEvent.Delta", path + ".delta");
      literal(event["delta"]["stop_reason"], "StopReason", path + ".delta.stop_reason");
      usage(event["usage"], "MessageDeltaUsage", path + ".usage");
    } else if (type == "message_stop") {
      fields(event, "RawMessageStopEvent", path);
    } else if (type == "error") {
      error_response(event, path);
    } else if (type != "ping") {
      problems.push_back(path + ": unknown event type " + type);
    }
  }

  // A MessageCreateParams body. temperature, top_p and top_k are no longer declared by SDK 1.14
  // but keel accepts and forwards them (older clients send them).
  void request(const Json& body, const std::string& path) {
    fields(body, "MessageCreateParamsBase", path, {"temperature", "top_p", "top_k"});
    if (body.contains("system") && body["system"].is_array()) {
      for (const auto& block : body["system"]) fields(block, "TextBlockParam", path + ".system");
    }
    for (size_t i = 0; i < body["messages"].size(); ++i) {
      const Json& message = body["messages"][i];
      std::string message_path = path + ".messages." + std::to_string(i);
      std::string role = message.value("role", "");
      fields(message,
             role == "assistant" ? "AssistantMessageParam"
             : role == "system"  ? "SystemMessageParam"
                                 : "UserMessageParam",
             message_path);
      if (message["content"].is_array()) {
        for (const auto& block : message["content"]) block_param(block, message_path + ".content");
      }
    }
    if (body.contains("tools")) {
      for (const auto& tool : body["tools"]) {
        fields(tool, "Tool", path + ".tools");
        if (tool["input_schema"].value("type", "") != "object") {
          problems.push_back(path + ".tools: input_schema.type is not object");
        }
      }
    }
    if (body.contains("tool_choice")) {
      std::string type = body["tool_choice"].value("type", "");
      std::string name = type == "auto"   ? "ToolChoiceAuto"
                         : type == "any"  ? "ToolChoiceAny"
                         : type == "tool" ? "ToolChoiceTool"
                                          : "ToolChoiceNone";
      fields(body["tool_choice"], name, path + ".tool_choice");
    }
    if (body.contains("metadata")) fields(body["metadata"], "Metadata", path + ".metadata");
    if (body.contains("output_config")) {
      fields(body["output_config"], "OutputConfig", path + ".output_config");
      fields(body["output_config"]["format"], "JSONOutputFormat", path + ".output_config.format");
    }
  }

  void block_param(const Json& block, const std::string& path) {
    std::string type = block.value("type", "");
    if (type == "text") {
      fields(block, "TextBlockParam", path);
    } else if (type == "image") {
      fields(block, "ImageBlockParam", path);
      fields(block["source"],
             block["source"].value("type", "") == "base64" ? "Base64ImageSource" : "URLImageSource",
             path + ".source");
    } else if (type == "document") {
      fields(block, "DocumentBlockParam", path);
      fields(block["source"],
             block["source"].value("type", "") == "base64" ? "Base64PDFSource" : "PlainTextSource",
             path + ".source");
      if (block.contains("citations")) {
        fields(block["citations"], "CitationsConfigParam", path + ".citations");
      }
    } else if (type == "tool_use") {
      fields(block, "ToolUseBlockParam", path);
    } else if (type == "thinking") {
      fields(block, "ThinkingBlockParam", path);
    } else if (type == "redacted_thinking") {
      fields(block, "RedactedThinkingBlockParam", path);
    } else if (type == "tool_result") {
      fields(block, "ToolResultBlockParam", path);
      if (block.contains("content") && block["content"].is_array()) {
        for (const auto& item : block["content"]) block_param(item, path + ".content");
      }
    } else {
      problems.push_back(path + ": unexpected block type " + type);
    }
  }

 private:
  const SdkTypes& types_;
};

#define EXPECT_NO_PROBLEMS(checker, what)                                               \
  EXPECT_TRUE((checker).problems.empty())                                               \
      << what << ": " << ((checker).problems.empty() ? "" : (checker).problems.front()) \
      << ((checker).problems.size() > 1 ? " (and more)" : "")

// ==== goldens: toward an Anthropic upstream ==================================================

TEST(AnthropicGolden, RequestsToUpstream) {
  auto names = cases_with("request.json");
  ASSERT_GE(names.size(), 12u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto req = parse_chat_request(read_text(golden(name, "request.json")));
    ASSERT_TRUE(req.ok()) << req.error().message;
    auto wire = chat_request_to_anthropic(*req, kUpstreamModel);
    ASSERT_TRUE(wire.ok()) << wire.error().message << " (param " << wire.error().param << ")";
    Json expected = read_json(golden(name, "upstream.json"));
    EXPECT_EQ(by_value(*wire), by_value(expected)) << "got:\n" << wire->dump(2);
    // Read back through the front door and sent again: a fixed point.
    auto again = parse_messages_request(wire->dump());
    ASSERT_TRUE(again.ok()) << again.error().message << " (param " << again.error().param << ")";
    auto wire_again = chat_request_to_anthropic(*again, kUpstreamModel);
    ASSERT_TRUE(wire_again.ok()) << wire_again.error().message;
    EXPECT_EQ(by_value(*wire_again), by_value(expected)) << "got:\n" << wire_again->dump(2);
  }
}

// Native events -> what an Anthropic client gets, when the case has those files.
void check_anthropic_encoding(const std::string& name, const std::vector<ChatEvent>& events) {
  if (fs::exists(golden(name, "messages_response.json"))) {
    ChatResponse response = golden_util::aggregate(events);
    response.id = kMessageId;
    Json wire = messages_response_to_wire(response, kPublicModel);
    EXPECT_EQ(by_value(wire), by_value(read_json(golden(name, "messages_response.json"))))
        << "got:\n"
        << wire.dump(2);
  }
  if (fs::exists(golden(name, "messages_stream.jsonl"))) {
    AnthropicStreamEncoder encoder(kMessageId, kPublicModel, kRequestId);
    std::vector<AnthropicSseEvent> frames;
    for (const auto& event : events) encoder.encode(event, frames);
    encoder.finish(frames);
    Json got = frames_to_json(frames);
    EXPECT_EQ(by_value(got), by_value(Json(read_jsonl(golden(name, "messages_stream.jsonl")))))
        << "got:\n"
        << got.dump(1);
    for (const auto& frame : frames) EXPECT_EQ(frame.name, frame.data.value("type", ""));
  }
}

TEST(AnthropicGolden, ResponsesDecodeAndReencode) {
  auto names = cases_with("upstream_response.json");
  ASSERT_GE(names.size(), 4u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto events = anthropic_response_from_wire(read_text(golden(name, "upstream_response.json")));
    ASSERT_TRUE(events.ok()) << events.error().message;
    EXPECT_EQ(events_to_json(*events), Json(read_jsonl(golden(name, "events.jsonl"))))
        << "got:\n"
        << events_to_json(*events).dump(1);

    Json wire = golden_util::aggregate_to_wire(*events, kResponseId, kPublicModel, kCreated);
    EXPECT_EQ(by_value(wire), by_value(read_json(golden(name, "response.json")))) << "got:\n"
                                                                                  << wire.dump(2);
    check_anthropic_encoding(name, *events);
  }
}

TEST(AnthropicGolden, StreamsDecodeAndReencode) {
  auto names = cases_with("upstream.sse");
  ASSERT_GE(names.size(), 3u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    AnthropicStreamDecoder decoder;
    std::vector<ChatEvent> events;
    bool done = false;
    for (const auto& sse : sse_events(read_text(golden(name, "upstream.sse")))) {
      ASSERT_FALSE(done) << "an event after the end";
      Status status = decoder.decode(sse.name, sse.data, events, done);
      ASSERT_TRUE(status.ok()) << status.error().message;
    }
    EXPECT_TRUE(done);
    EXPECT_EQ(events_to_json(events), Json(read_jsonl(golden(name, "events.jsonl"))))
        << "got:\n"
        << events_to_json(events).dump(1);
    check_anthropic_encoding(name, events);
  }
}

// Cases that are only events (from an OpenAI-compatible upstream) encoded for Anthropic clients.
TEST(AnthropicGolden, NativeEventsToAnthropicClients) {
  int checked = 0;
  for (const auto& name : cases_with("events.jsonl")) {
    if (fs::exists(golden(name, "upstream_response.json")) ||
        fs::exists(golden(name, "upstream.sse"))) {
      continue;  // covered above
    }
    SCOPED_TRACE(name);
    std::vector<ChatEvent> events;
    for (const auto& json : read_jsonl(golden(name, "events.jsonl"))) {
      events.push_back(event_from_json(json));
    }
    check_anthropic_encoding(name, events);
    ++checked;
  }
  EXPECT_GE(checked, 2);
}

// ==== goldens: the front door ================================================================

TEST(AnthropicGolden, FrontDoorRequestsRoundTrip) {
  auto names = cases_with("messages_request.json");
  ASSERT_GE(names.size(), 4u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    Json body = read_json(golden(name, "messages_request.json"));
    auto req = parse_messages_request(body.dump());
    ASSERT_TRUE(req.ok()) << req.error().message << " (param " << req.error().param << ")";
    EXPECT_EQ(req->model, body["model"]);
    // Native -> Anthropic again gives the client's body back.
    auto back = chat_request_to_anthropic(*req, body["model"]);
    ASSERT_TRUE(back.ok()) << back.error().message << " (param " << back.error().param << ")";
    EXPECT_EQ(by_value(*back), by_value(body)) << "got:\n" << back->dump(2);
    // And an OpenAI-compatible upstream gets the same conversation.
    if (fs::exists(golden(name, "openai_upstream.json"))) {
      Json openai = chat_request_to_wire(*req, kUpstreamModel);
      EXPECT_EQ(by_value(openai), by_value(read_json(golden(name, "openai_upstream.json"))))
          << "got:\n"
          << openai.dump(2);
      // ...which the OpenAI parser reads back to the same Anthropic body (model aside).
      auto via_openai = parse_chat_request(openai.dump());
      ASSERT_TRUE(via_openai.ok()) << via_openai.error().message;
      auto anthropic = chat_request_to_anthropic(*via_openai, body["model"]);
      ASSERT_TRUE(anthropic.ok()) << anthropic.error().message;
      EXPECT_JSON_EQ(*anthropic, body) << "got:\n" << anthropic->dump(2);
    }
  }
}

// ==== goldens and encoders against the official SDK's types ==================================

TEST(AnthropicGolden, MatchSdkTypes) {
  const SdkTypes* sdk = sdk_types();
  if (!sdk) GTEST_SKIP() << "no @anthropic-ai/sdk under " << kSdkDir;
  SdkChecker checker(*sdk);
  for (const auto& name : cases_with("upstream.json")) {
    checker.request(read_json(golden(name, "upstream.json")), name + ".upstream.json");
  }
  for (const auto& name : cases_with("messages_request.json")) {
    checker.request(read_json(golden(name, "messages_request.json")),
                    name + ".messages_request.json");
  }
  for (const auto& name : cases_with("upstream_response.json")) {
    checker.message(read_json(golden(name, "upstream_response.json")),
                    name + ".upstream_response.json");
  }
  for (const auto& name : cases_with("messages_response.json")) {
    checker.message(read_json(golden(name, "messages_response.json")),
                    name + ".messages_response.json");
  }
  for (const auto& name : cases_with("upstream.sse")) {
    for (const auto& sse : sse_events(read_text(golden(name, "upstream.sse")))) {
      checker.stream_event(Json::parse(sse.data), name + ".upstream.sse " + sse.name);
    }
  }
  for (const auto& name : cases_with("messages_stream.jsonl")) {
    for (const auto& frame : read_jsonl(golden(name, "messages_stream.jsonl"))) {
      checker.stream_event(frame["data"],
                           name + ".messages_stream.jsonl " + frame["event"].get<std::string>());
    }
  }
  EXPECT_NO_PROBLEMS(checker, "goldens");
}

TEST(AnthropicGolden, EncodersMatchSdkTypes) {
  const SdkTypes* sdk = sdk_types();
  if (!sdk) GTEST_SKIP() << "no @anthropic-ai/sdk under " << kSdkDir;
  SdkChecker checker(*sdk);
  for (FinishReason finish :
       {FinishReason::kNone, FinishReason::kStop, FinishReason::kLength, FinishReason::kToolCalls,
        FinishReason::kContentFilter, FinishReason::kError}) {
    ChatResponse response;
    response.id = "msg_1";
    response.finish = finish;
    checker.message(messages_response_to_wire(response, "m"), "empty");
    response.message.content.push_back(
        ContentPart{ContentPart::Type::kText, "hi", "", "", nullptr});
    response.message.tool_calls.push_back({"call_1", "f", "not json"});
    response.usage = Usage{10, 2, 12, 4, true, std::nullopt};
    checker.message(messages_response_to_wire(response, "m"), "full");

    AnthropicStreamEncoder encoder("msg_1", "m");
    std::vector<AnthropicSseEvent> frames;
    encoder.encode(ChatEvent::start(), frames);
    encoder.encode(ChatEvent::text_delta("x"), frames);
    encoder.encode(ChatEvent::tool_call_start(0, "call_1", "f"), frames);
    encoder.encode(ChatEvent::tool_args_delta(0, "{}"), frames);
    encoder.encode(ChatEvent::finished(finish), frames);
    encoder.encode(ChatEvent::usage_event(Usage{1, 2, 3, std::nullopt, true, std::nullopt}), frames);
    for (const auto& frame : frames) checker.stream_event(frame.data, frame.name);
  }
  for (ErrorCode code :
       {ErrorCode::kInvalidArgument, ErrorCode::kUnauthenticated, ErrorCode::kPermissionDenied,
        ErrorCode::kNotFound, ErrorCode::kPayloadTooLarge, ErrorCode::kUnsupportedMedia,
        ErrorCode::kResourceExhausted, ErrorCode::kInternal, ErrorCode::kBadGateway,
        ErrorCode::kUnavailable, ErrorCode::kDeadlineExceeded, ErrorCode::kCancelled}) {
    checker.error_response(anthropic_error_to_wire(Error(code, "m"), ""), error_code_name(code));
    checker.error_response(anthropic_error_to_wire(Error(code, "m"), "req_1"), "with id");
  }
  EXPECT_NO_PROBLEMS(checker, "encoders");
}

// The checker itself must catch mistakes, or the tests above prove nothing.
TEST(AnthropicGolden, SdkCheckerCatchesMistakes) {
  const SdkTypes* sdk = sdk_types();
  if (!sdk) GTEST_SKIP() << "no @anthropic-ai/sdk under " << kSdkDir;
  ASSERT_TRUE(sdk->literals.count("StopReason"));
  EXPECT_TRUE(sdk->literals.at("StopReason").count("end_turn"));
  EXPECT_TRUE(sdk->literals.at("ErrorType").count("overloaded_error"));
  EXPECT_TRUE(sdk->interfaces.at("RawMessageDeltaEvent.Delta").at("stop_reason"));
  EXPECT_FALSE(sdk->interfaces.at("Tool").at("description"));  // optional

  Json good = read_json(golden("tools_conversation", "messages_response.json"));
  {
    SdkChecker checker(*sdk);
    checker.message(good, "good");
    EXPECT_TRUE(checker.problems.empty()) << checker.problems.front();
  }
  auto fails = [&](Json bad) {
    SdkChecker checker(*sdk);
    checker.message(bad, "bad");
    return !checker.problems.empty();
  };
  Json bad = good;
  bad.erase("stop_sequence");
  EXPECT_TRUE(fails(bad));
  bad = good;
  bad["stop_reason"] = "stop";
  EXPECT_TRUE(fails(bad));
  bad = good;
  bad["content"][1].erase("input");
  EXPECT_TRUE(fails(bad));
  bad = good;
  bad["usage"]["prompt_tokens"] = 1;
  EXPECT_TRUE(fails(bad));
  SdkChecker checker(*sdk);
  checker.request({{"model", "m"}, {"messages", Json::array()}}, "no max_tokens");
  EXPECT_FALSE(checker.problems.empty());
}

// ==== front door: parse_messages_request =====================================================

Json minimal_body() {
  return {{"model", "claude-sonnet-4-5"},
          {"max_tokens", 100},
          {"messages", Json::array({{{"role", "user"}, {"content", "Hi"}}})}};
}

Error parse_error(const Json& body) {
  auto req = parse_messages_request(body.dump());
  EXPECT_FALSE(req.ok()) << body.dump();
  return req.ok() ? Error() : req.error();
}

TEST(AnthropicFrontDoor, RequiresModelMaxTokensAndMessages) {
  for (const char* field : {"model", "max_tokens", "messages"}) {
    Json body = minimal_body();
    body.erase(field);
    Error error = parse_error(body);
    EXPECT_EQ(error.code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(error.param, field);
    EXPECT_NE(error.message.find(field), std::string::npos) << error.message;
    EXPECT_EQ(http_status_for(error.code), 400);
    EXPECT_EQ(anthropic_error_to_wire(error, "req_1")["error"]["type"], "invalid_request_error");
  }
  Json body = minimal_body();
  body["max_tokens"] = 0;
  EXPECT_EQ(parse_error(body).param, "max_tokens");
  body["max_tokens"] = 1.5;
  EXPECT_EQ(parse_error(body).param, "max_tokens");
  body["max_tokens"] = "100";
  EXPECT_EQ(parse_error(body).param, "max_tokens");
  body = minimal_body();
  body["messages"] = Json::array();
  EXPECT_EQ(parse_error(body).param, "messages");
  body["messages"] = {{{"role", "tool"}, {"content", "x"}}};
  EXPECT_EQ(parse_error(body).param, "messages.0.role");
  body["messages"] = {{{"role", "user"}}};
  EXPECT_EQ(parse_error(body).param, "messages.0.content");
  body["messages"] = {{{"role", "user"}, {"content", 5}}};
  EXPECT_EQ(parse_error(body).param, "messages.0.content");
  body["messages"] = {{{"role", "user"}, {"content", Json::array()}}};
  EXPECT_EQ(parse_error(body).param, "messages.0.content");
}

TEST(AnthropicFrontDoor, RejectsGarbage) {
  for (std::string body :
       {std::string("not json"), std::string("[1]"), std::string(""),
        std::string(300, '[') + std::string(300, ']'),
        "{\"model\": \"m\", \"x\": " + std::string(300, '[') + std::string(300, ']') + "}"}) {
    auto req = parse_messages_request(body);
    ASSERT_FALSE(req.ok());
    EXPECT_EQ(req.error().code, ErrorCode::kInvalidArgument);
  }
  auto deep =
      parse_messages_request("{\"a\":" + std::string(300, '[') + std::string(300, ']') + "}");
  EXPECT_NE(deep.error().message.find("nests deeper"), std::string::npos) << deep.error().message;
}

TEST(AnthropicFrontDoor, RejectsWhatKeelCannotHonour) {
  struct Case {
    const char* field;
    Json value;
    const char* param;
  };
  for (const Case& c : std::vector<Case>{
           {"thinking", {{"type", "enabled"}, {"budget_tokens", 2048}}, "thinking.budget_tokens"},
           {"thinking", {{"type", "between_tools"}}, "thinking.type"},
           {"container", "container_1", "container"},
           {"mcp_servers", Json::array({{{"type", "url"}, {"url", "https://x"}}}), "mcp_servers"},
           {"context_management", "clear", "context_management"},
           {"tools", Json::array({{{"type", "web_search_20250305"}, {"name", "web_search"}}}),
            "tools.0.type"},
           {"tools", Json::array({{{"name", "f"}}}), "tools.0.input_schema"},
           {"tools",
            Json::array({{{"name", "f"}, {"input_schema", {{"type", "object"}}}},
                         {{"name", "f"}, {"input_schema", {{"type", "object"}}}}}),
            "tools.1.name"},
           {"tool_choice", {{"type", "any"}}, "tool_choice"},
           {"tool_choice", {{"type", "tool"}, {"name", "missing"}}, "tool_choice.name"},
           {"tool_choice", {{"type", "sometimes"}}, "tool_choice.type"},
           {"temperature", 1.5, "temperature"},
           {"top_p", -0.1, "top_p"},
           {"top_k", -1, "top_k"},
           {"stop_sequences", "END", "stop_sequences"},
           {"stream", "yes", "stream"},
           {"metadata", {{"user_id", 5}}, "metadata.user_id"},
           {"output_config", {{"format", {{"type", "json_object"}}}}, "output_config.format.type"},
           {"system", Json::array({{{"type", "image"}}}), "system.0.type"},
       }) {
    Json body = minimal_body();
    body[c.field] = c.value;
    Error error = parse_error(body);
    EXPECT_EQ(error.code, ErrorCode::kInvalidArgument) << c.field;
    EXPECT_EQ(error.param, c.param) << c.field << ": " << error.message;
  }
  Json body = minimal_body();
  body["thinking"] = {{"type", "disabled"}};
  EXPECT_TRUE(parse_messages_request(body.dump()).ok());
  // Adaptive thinking (Claude Code's default) goes upstream as it came.
  body["thinking"] = {{"type", "adaptive"}, {"display", "summarized"}};
  auto adaptive = parse_messages_request(body.dump());
  ASSERT_TRUE(adaptive.ok()) << adaptive.error().message;
  EXPECT_EQ((*chat_request_to_anthropic(*adaptive, "claude"))["thinking"], body["thinking"]);
  body["mcp_servers"] = Json::array();
  EXPECT_TRUE(parse_messages_request(body.dump()).ok());
  // Context editing, which Claude Code sends on its own: taken, sent nowhere.
  body["context_management"] = {{"edits", {{{"type", "clear_tool_uses_20250919"}}}}};
  auto editing = parse_messages_request(body.dump());
  ASSERT_TRUE(editing.ok()) << editing.error().message;
  EXPECT_FALSE(chat_request_to_anthropic(*editing, "claude")->contains("context_management"));
}

TEST(AnthropicFrontDoor, RejectsUnsupportedBlocks) {
  struct Case {
    const char* role;
    Json block;
    const char* param;
  };
  Json image_source = {{"type", "base64"}, {"media_type", "image/png"}, {"data", "AAAA"}};
  for (const Case& c : std::vector<Case>{
           {"user",
            {{"type", "document"}, {"source", {{"type", "url"}, {"url", "https://x/a.pdf"}}}},
            "messages.0.content.1.source.type"},
           {"user",
            {{"type", "document"},
             {"source", {{"type", "base64"}, {"media_type", "text/plain"}, {"data", "eA=="}}}},
            "messages.0.content.1.source.media_type"},
           {"user",
            {{"type", "document"},
             {"source", {{"type", "text"}, {"media_type", "text/plain"}, {"data", 1}}}},
            "messages.0.content.1.source.data"},
           {"user",
            {{"type", "document"},
             {"source", {{"type", "text"}, {"media_type", "text/plain"}, {"data", "x"}}},
             {"title", 5}},
            "messages.0.content.1.title"},
           {"assistant",
            {{"type", "document"},
             {"source", {{"type", "text"}, {"media_type", "text/plain"}, {"data", "x"}}}},
            "messages.0.content.1.type"},
           {"user", {{"type", "search_result"}}, "messages.0.content.1.type"},
           {"user",
            {{"type", "tool_use"}, {"id", "t"}, {"name", "f"}, {"input", Json::object()}},
            "messages.0.content.1.type"},
           {"user",
            {{"type", "image"}, {"source", {{"type", "file"}, {"file_id", "f"}}}},
            "messages.0.content.1.source.type"},
           {"user",
            {{"type", "image"},
             {"source", {{"type", "base64"}, {"media_type", "image/tiff"}, {"data", "x"}}}},
            "messages.0.content.1.source.media_type"},
           {"user", {{"type", "image"}}, "messages.0.content.1.source"},
           {"user", {{"type", "tool_result"}}, "messages.0.content.1.tool_use_id"},
           {"user",
            {{"type", "tool_result"},
             {"tool_use_id", "t"},
             {"content", Json::array({{{"type", "document"}}})}},
            "messages.0.content.1.content.0.type"},
           {"user", {{"text", "no type"}}, "messages.0.content.1.type"},
           {"assistant",
            {{"type", "image"}, {"source", image_source}},
            "messages.0.content.1.type"},
           {"assistant", {{"type", "server_tool_use"}}, "messages.0.content.1.type"},
           {"assistant",
            {{"type", "tool_use"}, {"id", "t"}, {"name", "f"}},
            "messages.0.content.1.input"},
           {"assistant",
            {{"type", "tool_use"}, {"id", "t"}, {"name", "f"}, {"input", "{}"}},
            "messages.0.content.1.input"},
           {"assistant",
            {{"type", "tool_use"}, {"name", "f"}, {"input", Json::object()}},
            "messages.0.content.1.id"},
       }) {
    Json body = minimal_body();
    body["messages"] = {
        {{"role", c.role}, {"content", Json::array({{{"type", "text"}, {"text", "x"}}, c.block})}}};
    Error error = parse_error(body);
    EXPECT_EQ(error.param, c.param) << c.block.dump() << ": " << error.message;
  }
}

TEST(AnthropicFrontDoor, IgnoresHints) {
  Json body = minimal_body();
  body["cache_control"] = {{"type", "ephemeral"}};
  body["service_tier"] = "standard_only";
  body["speed"] = "fast";
  body["inference_geo"] = "us";
  body["diagnostics"] = {{"previous_message_id", nullptr}};
  body["metadata"] = {{"user_id", "u1"}, {"other", 1}};
  body["output_config"] = {{"effort", "high"}};
  body["some_future_field"] = {{"x", 1}};
  body["system"] =
      Json::array({{{"type", "text"}, {"text", "S"}, {"cache_control", {{"type", "ephemeral"}}}}});
  body["messages"][0]["content"] =
      Json::array({{{"type", "text"}, {"text", "Hi"}, {"cache_control", {{"type", "ephemeral"}}}}});
  body["tools"] = Json::array({{{"name", "f"},
                                {"input_schema", {{"type", "object"}}},
                                {"type", "custom"},
                                {"cache_control", {{"type", "ephemeral"}}},
                                {"defer_loading", false},
                                {"input_examples", Json::array({Json::object()})}}});
  auto req = parse_messages_request(body.dump());
  ASSERT_TRUE(req.ok()) << req.error().message;
  EXPECT_EQ(req->user, "u1");
  EXPECT_FALSE(req->response_format.has_value());
  EXPECT_EQ(req->passthrough, Json::object());  // nothing Anthropic-only leaks to OpenAI upstreams
  ASSERT_EQ(req->messages.size(), 2u);
  EXPECT_EQ(req->messages[0].role, Role::kSystem);
  EXPECT_EQ(req->messages[1].text(), "Hi");
  ASSERT_EQ(req->tools.size(), 1u);
}

TEST(AnthropicFrontDoor, SamplingAndStream) {
  Json body = minimal_body();
  body["temperature"] = 0;
  body["top_p"] = 1;
  body["top_k"] = 5;
  body["stop_sequences"] = {"a", "b", "c", "d", "e"};
  body["stream"] = true;
  auto req = parse_messages_request(body.dump());
  ASSERT_TRUE(req.ok()) << req.error().message;
  EXPECT_EQ(req->sampling.max_tokens, 100);
  EXPECT_EQ(req->sampling.temperature, 0.0);
  EXPECT_EQ(req->sampling.top_p, 1.0);
  EXPECT_EQ(req->passthrough["top_k"], 5);
  EXPECT_EQ(req->sampling.stop.size(), 5u);
  EXPECT_TRUE(req->stream);
  EXPECT_TRUE(req->include_usage);  // Anthropic streams always carry usage
}

TEST(AnthropicFrontDoor, ToolResultsSplitIntoToolMessagesInOrder) {
  Json body = minimal_body();
  body["messages"] = {
      {{"role", "user"},
       {"content",
        {{{"type", "text"}, {"text", "before"}},
         {{"type", "tool_result"}, {"tool_use_id", "toolu_1"}, {"content", "one"}},
         {{"type", "tool_result"}, {"tool_use_id", "toolu_2"}},
         {{"type", "text"}, {"text", "after"}},
         {{"type", "image"}, {"source", {{"type", "url"}, {"url", "https://x/y.png"}}}}}}}};
  auto req = parse_messages_request(body.dump());
  ASSERT_TRUE(req.ok()) << req.error().message;
  ASSERT_EQ(req->messages.size(), 4u);
  EXPECT_EQ(req->messages[0].role, Role::kUser);
  EXPECT_EQ(req->messages[0].text(), "before");
  EXPECT_EQ(req->messages[1].role, Role::kTool);
  EXPECT_EQ(req->messages[1].tool_call_id, "toolu_1");
  EXPECT_EQ(req->messages[1].text(), "one");
  EXPECT_EQ(req->messages[2].tool_call_id, "toolu_2");
  EXPECT_TRUE(req->messages[2].content.empty());
  EXPECT_EQ(req->messages[3].role, Role::kUser);
  ASSERT_EQ(req->messages[3].content.size(), 2u);
  EXPECT_EQ(req->messages[3].content[1].image_url, "https://x/y.png");
}

// A tool_result may hold images. OpenAI's tool messages take text only, so toward OpenAI the
// images follow the tool messages in a user message, each call's after a line naming it; toward
// Gemini they are the function response's own parts.
TEST(AnthropicFrontDoor, ToolResultImagesReachOpenAIAndGemini) {
  Json body = minimal_body();
  Json png = {
      {"type", "image"},
      {"source", {{"type", "base64"}, {"media_type", "image/png"}, {"data", "iVBORw0KGgo="}}}};
  Json linked = {{"type", "image"}, {"source", {{"type", "url"}, {"url", "https://x/y.png"}}}};
  auto use = [](const char* id) {
    return Json{{"type", "tool_use"}, {"id", id}, {"name", "shot"}, {"input", Json::object()}};
  };
  body["messages"] = {
      {{"role", "user"}, {"content", "Take two screenshots"}},
      {{"role", "assistant"}, {"content", {use("toolu_a"), use("toolu_b")}}},
      {{"role", "user"},
       {"content",
        {{{"type", "tool_result"},
          {"tool_use_id", "toolu_a"},
          {"content", {{{"type", "text"}, {"text", "page 1"}}, png}}},
         {{"type", "tool_result"}, {"tool_use_id", "toolu_b"}, {"content", {linked}}},
         {{"type", "text"}, {"text", "Compare them"}}}}}};
  auto req = parse_messages_request(body.dump());
  ASSERT_TRUE(req.ok()) << req.error().message;

  const Json messages = chat_request_to_wire(*req, "gpt")["messages"];
  ASSERT_EQ(messages.size(), 6u) << messages.dump(1);
  EXPECT_JSON_EQ(messages[2], Json({{"role", "tool"},
                                    {"tool_call_id", "toolu_a"},
                                    {"content", {{{"type", "text"}, {"text", "page 1"}}}}}));
  EXPECT_EQ(messages[3]["role"], "tool");
  EXPECT_EQ(messages[3]["tool_call_id"], "toolu_b");
  EXPECT_EQ(messages[3]["content"][0]["text"],
            "(the result is the image(s) in the next user message)");
  EXPECT_EQ(messages[4],
            Json({{"role", "user"},
                  {"content",
                   {{{"type", "text"}, {"text", "Image(s) returned by tool call toolu_a:"}},
                    {{"type", "image_url"},
                     {"image_url", {{"url", "data:image/png;base64,iVBORw0KGgo="}}}},
                    {{"type", "text"}, {"text", "Image(s) returned by tool call toolu_b:"}},
                    {{"type", "image_url"}, {"image_url", {{"url", "https://x/y.png"}}}}}}}));
  EXPECT_EQ(messages[5],
            Json({{"role", "user"}, {"content", {{{"type", "text"}, {"text", "Compare them"}}}}}));
  // What keel sends OpenAI is a request OpenAI's own front door accepts.
  EXPECT_TRUE(parse_chat_request(chat_request_to_wire(*req, "gpt").dump()).ok());

  auto gemini = chat_request_to_gemini(*req);
  ASSERT_TRUE(gemini.ok()) << gemini.error().message;
  const Json& results = (*gemini)["contents"][2]["parts"];
  ASSERT_EQ(results.size(), 2u) << gemini->dump(1);
  EXPECT_EQ(results[0]["functionResponse"]["response"], Json({{"result", "page 1"}}));
  EXPECT_EQ(results[0]["functionResponse"]["parts"],
            Json::array({{{"inlineData", {{"mimeType", "image/png"}, {"data", "iVBORw0KGgo="}}}}}));
  EXPECT_EQ(
      results[1]["functionResponse"]["parts"],
      Json::array({{{"fileData", {{"mimeType", "image/png"}, {"fileUri", "https://x/y.png"}}}}}));
  EXPECT_EQ((*gemini)["contents"][3],
            Json({{"role", "user"}, {"parts", {{{"text", "Compare them"}}}}}));
}

// count_tokens: a MessageCountTokensParams body has no max_tokens; toward an Anthropic upstream
// only its fields go; the answer is {"input_tokens": N}.
TEST(AnthropicCountTokens, BodyAndAnswer) {
  Json body = minimal_body();
  body.erase("max_tokens");
  body["system"] = "Be brief.";
  body["temperature"] = 0.5;
  body["stop_sequences"] = {"END"};
  EXPECT_FALSE(parse_messages_request(body.dump()).ok());   // max_tokens is required there
  auto req = parse_count_tokens_request(body.dump());
  ASSERT_TRUE(req.ok()) << req.error().message;
  auto wire = chat_request_to_anthropic_count(*req, "claude-x");
  ASSERT_TRUE(wire.ok()) << wire.error().message;
  EXPECT_JSON_EQ(*wire,
                 Json({{"model", "claude-x"},
                       {"system", "Be brief."},
                       {"messages", (*chat_request_to_anthropic(*req, "claude-x"))["messages"]}}));
  body["max_tokens"] = 0;   // still checked when given
  EXPECT_EQ(parse_count_tokens_request(body.dump()).error().param, "max_tokens");

  EXPECT_EQ(*anthropic_count_from_wire(R"({"input_tokens": 1234})"), 1234);
  for (const char* bad : {"", "[]", "{}", R"({"input_tokens": "many"})", "not json"}) {
    SCOPED_TRACE(bad);
    auto count = anthropic_count_from_wire(bad);
    ASSERT_FALSE(count.ok());
    EXPECT_EQ(count.error().code, ErrorCode::kBadGateway);
  }
}

TEST(AnthropicFrontDoor, ToolResultErrorsAreMarkedInTheText) {
  Json body = minimal_body();
  body["messages"] = {{{"role", "user"},
                       {"content",
                        {{{"type", "tool_result"},
                          {"tool_use_id", "a"},
                          {"content", "timeout"},
                          {"is_error", true}},
                         {{"type", "tool_result"},
                          {"tool_use_id", "b"},
                          {"content", {{{"type", "text"}, {"text", "denied"}}}},
                          {"is_error", true}},
                         {{"type", "tool_result"}, {"tool_use_id", "c"}, {"is_error", true}},
                         {{"type", "tool_result"},
                          {"tool_use_id", "d"},
                          {"content", "fine"},
                          {"is_error", false}}}}}};
  auto req = parse_messages_request(body.dump());
  ASSERT_TRUE(req.ok()) << req.error().message;
  ASSERT_EQ(req->messages.size(), 4u);
  EXPECT_EQ(req->messages[0].text(), "timeout");
  EXPECT_TRUE(req->messages[0].is_error);
  EXPECT_TRUE(req->messages[0].content_is_string);
  EXPECT_FALSE(req->messages[1].content_is_string);
  EXPECT_TRUE(req->messages[2].is_error);
  EXPECT_FALSE(req->messages[3].is_error);

  // Anthropic: the flag, the text as it was.
  auto anthropic = chat_request_to_anthropic(*req, "claude");
  ASSERT_TRUE(anthropic.ok()) << anthropic.error().message;
  const Json& blocks = (*anthropic)["messages"][0]["content"];
  ASSERT_EQ(blocks.size(), 4u);
  EXPECT_EQ(blocks[0], Json({{"type", "tool_result"},
                             {"tool_use_id", "a"},
                             {"content", "timeout"},
                             {"is_error", true}}));
  EXPECT_EQ(blocks[1]["content"], Json::array({{{"type", "text"}, {"text", "denied"}}}));
  EXPECT_EQ(blocks[1]["is_error"], true);
  EXPECT_EQ(blocks[2], Json({{"type", "tool_result"}, {"tool_use_id", "c"}, {"is_error", true}}));
  EXPECT_FALSE(blocks[3].contains("is_error"));
  // OpenAI has no flag: the model reads "Error: " before the text.
  const Json openai = chat_request_to_wire(*req, "gpt")["messages"];
  EXPECT_EQ(openai[0]["content"], "Error: timeout");
  EXPECT_EQ(openai[1]["content"], Json::array({{{"type", "text"}, {"text", "Error: denied"}}}));
  EXPECT_EQ(openai[2]["content"], "Error");
  EXPECT_EQ(openai[3]["content"], "fine");

  body["messages"][0]["content"][0]["is_error"] = "yes";
  EXPECT_EQ(parse_error(body).param, "messages.0.content.0.is_error");
}

TEST(AnthropicFrontDoor, SystemRoleInMessagesAndThinkingHistory) {
  Json body = minimal_body();
  body["system"] = "top";
  body["messages"] = {
      {{"role", "user"}, {"content", "Hi"}},
      {{"role", "assistant"},
       {"content",
        {{{"type", "thinking"}, {"thinking", "hmm"}, {"signature", "sig"}},
         {{"type", "text"}, {"text", "Hello"}}}}},
      {{"role", "system"}, {"content", {{{"type", "text"}, {"text", "mid"}}}}},
      {{"role", "assistant"}, {"content", {{{"type", "redacted_thinking"}, {"data", "x"}}}}},
      {{"role", "user"}, {"content", "Again"}}};
  auto req = parse_messages_request(body.dump());
  ASSERT_TRUE(req.ok()) << req.error().message;
  // Thinking blocks are the turns' reasoning parts, kept byte for byte; a thinking-only turn
  // stays a turn.
  ASSERT_EQ(req->messages.size(), 6u);
  EXPECT_EQ(req->messages[0].role, Role::kSystem);
  EXPECT_EQ(req->messages[2].role, Role::kAssistant);
  ASSERT_EQ(req->messages[2].content.size(), 1u);
  EXPECT_EQ(req->messages[2].text(), "Hello");
  ASSERT_EQ(req->messages[2].reasoning.size(), 1u);
  EXPECT_EQ(req->messages[2].reasoning[0].signature, "sig");
  EXPECT_EQ(req->messages[3].role, Role::kSystem);
  EXPECT_EQ(req->messages[3].text(), "mid");
  ASSERT_EQ(req->messages[4].reasoning.size(), 1u);
  EXPECT_TRUE(req->messages[4].reasoning[0].redacted);
  // Toward Anthropic every system message moves to the top-level system.
  auto wire = chat_request_to_anthropic(*req, "claude");
  ASSERT_TRUE(wire.ok()) << wire.error().message;
  EXPECT_EQ((*wire)["system"], Json::array({{{"type", "text"}, {"text", "top"}},
                                            {{"type", "text"}, {"text", "mid"}}}));
  EXPECT_EQ((*wire)["messages"].size(), 4u);
  EXPECT_EQ((*wire)["messages"][1]["content"][0],
            Json::parse(R"({"type":"thinking","thinking":"hmm","signature":"sig"})"));
  EXPECT_EQ((*wire)["messages"][2]["content"],
            Json::parse(R"([{"type":"redacted_thinking","data":"x"}])"));
}

TEST(AnthropicFrontDoor, ToolChoiceWithoutToolsIsDropped) {
  for (Json choice :
       {Json({{"type", "auto"}, {"disable_parallel_tool_use", true}}), Json({{"type", "none"}})}) {
    Json body = minimal_body();
    body["tool_choice"] = choice;
    auto req = parse_messages_request(body.dump());
    ASSERT_TRUE(req.ok()) << req.error().message;
    EXPECT_EQ(req->tool_choice.mode, ToolChoice::Mode::kUnset);
    EXPECT_FALSE(req->parallel_tool_calls.has_value());
    Json openai = chat_request_to_wire(*req, "gpt");
    EXPECT_FALSE(openai.contains("tool_choice"));
    EXPECT_FALSE(openai.contains("parallel_tool_calls"));
  }
}

TEST(AnthropicFrontDoor, OutputFormatBetaSpelling) {
  Json body = minimal_body();
  body["output_format"] = {{"type", "json_schema"},
                           {"schema", {{"type", "object"}, {"properties", Json::object()}}}};
  auto req = parse_messages_request(body.dump());
  ASSERT_TRUE(req.ok()) << req.error().message;
  ASSERT_TRUE(req->response_format.has_value());
  EXPECT_EQ(req->response_format->type, ResponseFormat::Type::kJsonSchema);
  EXPECT_EQ(req->response_format->name, "output");
}

// ==== toward Anthropic: chat_request_to_anthropic ============================================

ChatRequest openai_request(const Json& body) {
  auto req = parse_chat_request(body.dump());
  EXPECT_TRUE(req.ok()) << req.error().message;
  return req.ok() ? *req : ChatRequest();
}

Json simple_openai() {
  return {{"model", "smart"}, {"messages", {{{"role", "user"}, {"content", "Hi"}}}}};
}

Error to_anthropic_error(const ChatRequest& req) {
  auto wire = chat_request_to_anthropic(req, "claude");
  EXPECT_FALSE(wire.ok()) << wire->dump();
  return wire.ok() ? Error() : wire.error();
}

TEST(AnthropicUpstream, DefaultsMaxTokens) {
  auto wire = chat_request_to_anthropic(openai_request(simple_openai()), "claude");
  ASSERT_TRUE(wire.ok());
  EXPECT_EQ((*wire)["max_tokens"], kAnthropicDefaultMaxTokens);
  EXPECT_EQ(kAnthropicDefaultMaxTokens, 4096);
}

TEST(AnthropicUpstream, UnsupportedFeaturesNameFeatureAndVendor) {
  struct Case {
    const char* field;
    Json value;
    const char* param;
  };
  for (const Case& c : std::vector<Case>{
           {"seed", 7, "seed"},
           {"presence_penalty", 0.5, "presence_penalty"},
           {"frequency_penalty", -1, "frequency_penalty"},
           {"temperature", 1.2, "temperature"},
           {"logprobs", true, "logprobs"},
           {"top_logprobs", 3, "top_logprobs"},
           {"logit_bias", {{"50256", -100}}, "logit_bias"},
           {"audio", {{"voice", "alloy"}, {"format", "wav"}}, "audio"},
           {"modalities", {"text", "audio"}, "modalities"},
           {"web_search_options", Json::object(), "web_search_options"},
           {"functions", Json::array({{{"name", "f"}}}), "functions"},
           {"top_k", "many", "top_k"},
       }) {
    Json body = simple_openai();
    body[c.field] = c.value;
    Error error = to_anthropic_error(openai_request(body));
    EXPECT_EQ(error.code, ErrorCode::kInvalidArgument) << c.field;
    EXPECT_EQ(error.param, c.param) << c.field;
    EXPECT_NE(error.message.find("anthropic"), std::string::npos) << error.message;
    if (std::string(c.field) != "top_k") {
      EXPECT_NE(error.message.find(c.field), std::string::npos) << error.message;
    }
  }
  // n is checked too (parse_chat_request already refuses n > 1).
  ChatRequest req = openai_request(simple_openai());
  req.passthrough["n"] = 2;
  EXPECT_EQ(to_anthropic_error(req).param, "n");
  // Neutral values are fine.
  Json body = simple_openai();
  body["presence_penalty"] = 0;
  body["frequency_penalty"] = 0;
  body["logprobs"] = false;
  body["modalities"] = {"text"};
  body["n"] = 1;
  body["temperature"] = 1;
  body["response_format"] = {{"type", "text"}};
  auto wire = chat_request_to_anthropic(openai_request(body), "claude");
  ASSERT_TRUE(wire.ok()) << wire.error().message;
  EXPECT_EQ((*wire)["temperature"], 1.0);
  EXPECT_FALSE(wire->contains("response_format"));
  EXPECT_FALSE(wire->contains("output_config"));
}

TEST(AnthropicUpstream, ToolCallArgumentsMustBeAnObject) {
  for (const char* arguments : {"{\"a\":", "[1,2]", "42", "not json"}) {
    Json body = simple_openai();
    body["messages"].push_back(
        {{"role", "assistant"},
         {"content", nullptr},
         {"tool_calls",
          {{{"id", "call_1"},
            {"type", "function"},
            {"function", {{"name", "lookup"}, {"arguments", arguments}}}}}}});
    body["messages"].push_back({{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "x"}});
    Error error = to_anthropic_error(openai_request(body));
    EXPECT_EQ(error.code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(error.param, "messages[1].tool_calls[0].function.arguments") << arguments;
    EXPECT_NE(error.message.find("call_1"), std::string::npos) << error.message;
    EXPECT_NE(error.message.find("anthropic"), std::string::npos) << error.message;
  }
}

TEST(AnthropicUpstream, Images) {
  auto with_image = [](const std::string& url) {
    Json body = simple_openai();
    body["messages"][0]["content"] = {{{"type", "image_url"}, {"image_url", {{"url", url}}}}};
    return chat_request_to_anthropic(openai_request(body), "claude");
  };
  auto https = with_image("https://example.com/a.gif");
  ASSERT_TRUE(https.ok());
  EXPECT_EQ((*https)["messages"][0]["content"][0]["source"],
            Json({{"type", "url"}, {"url", "https://example.com/a.gif"}}));
  auto webp = with_image("DATA:image/WEBP;base64,UklGR");
  ASSERT_TRUE(webp.ok()) << webp.error().message;
  EXPECT_EQ((*webp)["messages"][0]["content"][0]["source"]["media_type"], "image/webp");
  for (const char* bad :
       {"data:image/svg+xml;base64,PHN2Zz4=", "data:image/png,rawbytes", "data:image/png;base64",
        "data:image/png;base64,", "ftp://x/y.png", "file:///etc/passwd", "just-a-name.png",
        "http://example.com/a.gif"}) {  // issue 15: the message says https only
    auto wire = with_image(bad);
    ASSERT_FALSE(wire.ok()) << bad;
    EXPECT_EQ(wire.error().param, "messages[0].content[0].image_url") << bad;
    EXPECT_NE(wire.error().message.find("anthropic"), std::string::npos) << wire.error().message;
  }
}

TEST(AnthropicUpstream, NeedsAConversation) {
  Json body = {{"model", "smart"}, {"messages", {{{"role", "system"}, {"content", "S"}}}}};
  Error error = to_anthropic_error(openai_request(body));
  EXPECT_EQ(error.param, "messages");
}

TEST(AnthropicUpstream, ToolSchemas) {
  Json body = simple_openai();
  body["tools"] = {
      {{"type", "function"},
       {"function", {{"name", "a"}, {"parameters", {{"properties", Json::object()}}}}}},
      {{"type", "function"}, {"function", {{"name", "b"}, {"parameters", Json::object()}}}}};
  auto wire = chat_request_to_anthropic(openai_request(body), "claude");
  ASSERT_TRUE(wire.ok()) << wire.error().message;
  EXPECT_JSON_EQ((*wire)["tools"][0]["input_schema"],
                 Json({{"type", "object"}, {"properties", Json::object()}}));
  EXPECT_EQ((*wire)["tools"][1]["input_schema"],
            Json({{"type", "object"}, {"properties", Json::object()}}));
  EXPECT_FALSE(wire->contains("tool_choice"));

  body["tools"][0]["function"]["parameters"] = {{"type", "array"}};
  EXPECT_EQ(to_anthropic_error(openai_request(body)).param, "tools[0].function.parameters");

  // A strict schema the SDK's transformation cannot handle (a property without a type).
  body["tools"][0]["function"]["parameters"] = {
      {"type", "object"}, {"properties", {{"x", {{"description", "anything"}}}}}};
  body["tools"][0]["function"]["strict"] = true;
  Error error = to_anthropic_error(openai_request(body));
  EXPECT_EQ(error.param, "tools[0].function.parameters");
  EXPECT_NE(error.message.find("type"), std::string::npos) << error.message;
  // The same schema without strict goes as it is.
  body["tools"][0]["function"]["strict"] = false;
  wire = chat_request_to_anthropic(openai_request(body), "claude");
  ASSERT_TRUE(wire.ok()) << wire.error().message;
  EXPECT_EQ((*wire)["tools"][0]["input_schema"], body["tools"][0]["function"]["parameters"]);
  EXPECT_EQ((*wire)["tools"][0]["strict"], false);
}

TEST(AnthropicUpstream, ToolChoiceNeedsTools) {
  Json body = simple_openai();
  body["tool_choice"] = "none";
  body["parallel_tool_calls"] = false;
  auto wire = chat_request_to_anthropic(openai_request(body), "claude");
  ASSERT_TRUE(wire.ok());
  EXPECT_FALSE(wire->contains("tool_choice"));
}

TEST(AnthropicUpstream, ResponseFormatJsonSchemaNeedsASchema) {
  Json body = simple_openai();
  body["response_format"] = {{"type", "json_schema"}, {"json_schema", {{"name", "x"}}}};
  Error error = to_anthropic_error(openai_request(body));
  EXPECT_EQ(error.param, "response_format.json_schema.schema");
  EXPECT_NE(error.message.find("anthropic"), std::string::npos);
  body["response_format"]["json_schema"]["schema"] = {{"properties", Json::object()}};
  EXPECT_EQ(to_anthropic_error(openai_request(body)).param, "response_format.json_schema.schema");
}

// An OpenAI-format conversation (ids from OpenAI) continued on Anthropic.
TEST(AnthropicUpstream, CrossVendorToolThread) {
  Json body = {
      {"model", "smart"},
      {"messages",
       {{{"role", "user"}, {"content", "Weather in Paris?"}},
        {{"role", "assistant"},
         {"content", nullptr},
         {"tool_calls",
          {{{"id", "call_abc123"},
            {"type", "function"},
            {"function", {{"name", "get_weather"}, {"arguments", "{\"location\":\"Paris\"}"}}}}}}},
        {{"role", "tool"}, {"tool_call_id", "call_abc123"}, {"content", "18C"}},
        {{"role", "user"}, {"content", "Thanks!"}}}},
      {"tools",
       {{{"type", "function"},
         {"function",
          {{"name", "get_weather"},
           {"parameters",
            {{"type", "object"}, {"properties", {{"location", {{"type", "string"}}}}}}}}}}}}};
  auto wire = chat_request_to_anthropic(openai_request(body), "claude-sonnet-4-5");
  ASSERT_TRUE(wire.ok()) << wire.error().message;
  const Json& messages = (*wire)["messages"];
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[1], Json({{"role", "assistant"},
                               {"content",
                                {{{"type", "tool_use"},
                                  {"id", "call_abc123"},
                                  {"name", "get_weather"},
                                  {"input", {{"location", "Paris"}}}}}}}));
  EXPECT_EQ(messages[2],
            Json({{"role", "user"},
                  {"content",
                   {{{"type", "tool_result"}, {"tool_use_id", "call_abc123"}, {"content", "18C"}},
                    {{"type", "text"}, {"text", "Thanks!"}}}}}));

  // Ids Anthropic would refuse are rewritten the same way on both sides.
  body["messages"][1]["tool_calls"][0]["id"] = "fc_1.2/3";
  body["messages"][2]["tool_call_id"] = "fc_1.2/3";
  wire = chat_request_to_anthropic(openai_request(body), "claude-sonnet-4-5");
  ASSERT_TRUE(wire.ok());
  std::string id = (*wire)["messages"][1]["content"][0]["id"];
  EXPECT_EQ(id, anthropic_tool_id("fc_1.2/3"));
  EXPECT_EQ((*wire)["messages"][2]["content"][0]["tool_use_id"], id);
  EXPECT_TRUE(std::regex_match(id, std::regex("^[a-zA-Z0-9_-]+$"))) << id;

  // And the other way: an Anthropic thread (toolu_ ids) goes to OpenAI unchanged.
  Json anthropic = {{"model", "claude"},
                    {"max_tokens", 100},
                    {"messages",
                     {{{"role", "user"}, {"content", "Weather?"}},
                      {{"role", "assistant"},
                       {"content",
                        {{{"type", "tool_use"},
                          {"id", "toolu_01A09q90qw90lq917835lq9"},
                          {"name", "get_weather"},
                          {"input", {{"location", "Paris"}}}}}}},
                      {{"role", "user"},
                       {"content",
                        {{{"type", "tool_result"},
                          {"tool_use_id", "toolu_01A09q90qw90lq917835lq9"},
                          {"content", "18C"}}}}}}}};
  auto req = parse_messages_request(anthropic.dump());
  ASSERT_TRUE(req.ok()) << req.error().message;
  Json openai = chat_request_to_wire(*req, "gpt-4o-mini");
  EXPECT_EQ(openai["messages"][1]["tool_calls"][0]["id"], "toolu_01A09q90qw90lq917835lq9");
  EXPECT_EQ(openai["messages"][1]["tool_calls"][0]["function"]["arguments"],
            "{\"location\":\"Paris\"}");
  EXPECT_EQ(openai["messages"][2]["tool_call_id"], "toolu_01A09q90qw90lq917835lq9");
}

TEST(AnthropicUpstream, ToolIdSanitising) {
  EXPECT_EQ(anthropic_tool_id("call_abc123"), "call_abc123");
  EXPECT_EQ(anthropic_tool_id("toolu_01A09q90qw90lq917835lq9"), "toolu_01A09q90qw90lq917835lq9");
  EXPECT_EQ(anthropic_tool_id("a-b_C9"), "a-b_C9");
  // FNV-1a 32 of the original id, so the value is stable across runs and builds.
  EXPECT_EQ(anthropic_tool_id("call.odd:1"), "call_odd_1_87ff2a27");
  EXPECT_EQ(anthropic_tool_id(""), "_811c9dc5");
  std::set<std::string> seen;
  for (const char* id : {"call.1", "call:1", "call/1", "call 1", "call_1",
                         "call\xc3\xa9"
                         "1"}) {
    std::string out = anthropic_tool_id(id);
    EXPECT_TRUE(std::regex_match(out, std::regex("^[a-zA-Z0-9_-]+$"))) << out;
    EXPECT_EQ(out, anthropic_tool_id(id));  // deterministic
    EXPECT_TRUE(seen.insert(out).second) << "collision: " << out;
  }
}

TEST(AnthropicUpstream, StrictSchemaTransformation) {
  // The SDK's own transformation (lib/transform-json-schema.js), case by case.
  auto t = [](const Json& schema) {
    auto out = anthropic_strict_schema(schema);
    EXPECT_TRUE(out.ok()) << out.error().message;
    return out.ok() ? *out : Json();
  };
  EXPECT_EQ(
      t({{"type", "object"}}),
      Json({{"type", "object"}, {"properties", Json::object()}, {"additionalProperties", false}}));
  EXPECT_EQ(t({{"type", "object"}, {"additionalProperties", true}, {"minProperties", 1}}),
            Json({{"type", "object"},
                  {"description", "{minProperties: 1}"},  // where a client's would be
                  {"properties", Json::object()},
                  {"additionalProperties", false}}));
  EXPECT_EQ(t({{"type", "string"}, {"format", "uuid"}}),
            Json({{"type", "string"}, {"format", "uuid"}}));
  EXPECT_EQ(t({{"type", "string"}, {"format", "ipv5"}, {"description", "d"}}),
            Json({{"type", "string"}, {"description", "d\n\n{format: \"ipv5\"}"}}));
  EXPECT_EQ(
      t({{"type", "array"}, {"items", {{"type", "integer"}, {"minimum", 0}}}, {"minItems", 1}}),
      Json({{"type", "array"},
            {"items", {{"type", "integer"}, {"description", "{minimum: 0}"}}},
            {"minItems", 1}}));
  EXPECT_EQ(t({{"oneOf", {{{"type", "string"}}, {{"type", "null"}}}}}),
            Json({{"anyOf", {{{"type", "string"}}, {{"type", "null"}}}}}));
  EXPECT_EQ(t({{"type", "string"}, {"enum", {"a", "b"}}}), Json({{"enum", {"a", "b"}}}));
  EXPECT_EQ(t({{"const", 3}}), Json({{"const", 3}}));
  EXPECT_JSON_EQ(
      t({{"$ref", "#/$defs/x"},
         {"$defs", {{"x", {{"type", "string"}, {"title", "X"}}}}},
         {"description", "dropped with $ref"}}),
      Json({{"$ref", "#/$defs/x"}, {"$defs", {{"x", {{"type", "string"}, {"title", "X"}}}}}}));
  EXPECT_EQ(t({{"$schema", "https://json-schema.org/draft/2020-12/schema"}, {"type", "boolean"}}),
            Json({{"type", "boolean"}}));
  // Idempotent: what it produces goes through unchanged.
  Json once = t({{"type", "object"},
                 {"properties", {{"n", {{"type", "integer"}, {"maximum", 3}}}}},
                 {"required", {"n"}}});
  EXPECT_EQ(t(once), once);
  // Like the SDK, a schema without a type (and no anyOf/oneOf/allOf/enum/const) is refused.
  EXPECT_FALSE(anthropic_strict_schema({{"description", "anything"}}).ok());
  EXPECT_FALSE(anthropic_strict_schema(Json("string")).ok());
  EXPECT_FALSE(anthropic_strict_schema({{"type", "object"}, {"properties", {1, 2}}}).ok());
}

// ==== from Anthropic: anthropic_response_from_wire ===========================================

Json message_body(Json content, const char* stop_reason) {
  return {{"id", "msg_1"},
          {"type", "message"},
          {"role", "assistant"},
          {"model", "claude"},
          {"content", std::move(content)},
          {"stop_reason", stop_reason ? Json(stop_reason) : Json(nullptr)},
          {"stop_sequence", nullptr},
          {"usage", {{"input_tokens", 5}, {"output_tokens", 2}}}};
}

TEST(AnthropicResponse, StopReasons) {
  struct Case {
    const char* stop_reason;
    bool tools;
    FinishReason finish;
  };
  for (const Case& c :
       std::vector<Case>{{"end_turn", false, FinishReason::kStop},
                         {"stop_sequence", false, FinishReason::kStop},
                         {"pause_turn", false, FinishReason::kStop},
                         {"max_tokens", false, FinishReason::kLength},
                         {"model_context_window_exceeded", false, FinishReason::kLength},
                         {"tool_use", true, FinishReason::kToolCalls},
                         {"refusal", false, FinishReason::kContentFilter},
                         {nullptr, true, FinishReason::kToolCalls},
                         {nullptr, false, FinishReason::kStop},
                         {"something_new", false, FinishReason::kStop}}) {
    Json content = Json::array({{{"type", "text"}, {"text", "x"}}});
    if (c.tools) {
      content.push_back(
          {{"type", "tool_use"}, {"id", "t"}, {"name", "f"}, {"input", Json::object()}});
    }
    auto events = anthropic_response_from_wire(message_body(content, c.stop_reason).dump());
    ASSERT_TRUE(events.ok()) << events.error().message;
    auto finish = std::find_if(events->begin(), events->end(), [](const ChatEvent& e) {
      return e.kind == ChatEvent::Kind::kFinish;
    });
    ASSERT_NE(finish, events->end());
    EXPECT_EQ(finish->finish, c.finish) << (c.stop_reason ? c.stop_reason : "null");
  }
}

TEST(AnthropicResponse, ThinkingIsReasoningAndServerBlocksAreSkipped) {
  Json content = {{{"type", "thinking"}, {"thinking", "hmm"}, {"signature", "s"}},
                  {{"type", "redacted_thinking"}, {"data", "x"}},
                  {{"type", "text"}, {"text", "Answer"}},
                  {{"type", "tool_use"}, {"id", "t"}, {"name", "f"}}};  // no input: {}
  auto events = anthropic_response_from_wire(message_body(content, "tool_use").dump());
  ASSERT_TRUE(events.ok()) << events.error().message;
  Json got = events_to_json(*events);
  EXPECT_EQ(got, Json::parse(R"([{"start":{"id":"msg_1","model":"claude"}},
      {"reasoning":{"index":0,"text":"hmm"}},
      {"reasoning_signature":{"index":0,"signature":"s","vendor":"anthropic"}},
      {"reasoning_signature":{"index":1,"signature":"x","vendor":"anthropic","redacted":true}},
      {"text":"Answer"},
      {"tool_call_start":{"index":0,"id":"t","name":"f"}},{"tool_args":{"index":0,"text":"{}"}},
      {"finish":"tool_calls"},{"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}])"))
      << got.dump();
}

TEST(AnthropicResponse, Garbage) {
  for (std::string body :
       {std::string("<html>oops</html>"), std::string("[]"), std::string("{}"),
        std::string("{\"content\": \"text\"}"),
        std::string("{\"content\": [{\"type\": \"tool_use\", \"input\": {}}]}"),
        std::string("{\"content\": [{\"type\": \"text\"}]}"), std::string("{\"content\": [1]}"),
        std::string("{\"content\": [], \"usage\": {\"input_tokens\": \"5\"}}"),
        std::string("{\"content\": [], \"usage\": 3}"),
        "{\"content\": " + std::string(400, '[') + std::string(400, ']') + "}"}) {
    auto events = anthropic_response_from_wire(body);
    ASSERT_FALSE(events.ok()) << body;
    EXPECT_EQ(events.error().code, ErrorCode::kBadGateway) << body;
  }
  auto error = anthropic_response_from_wire(
      R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(error.error().message.find("Overloaded"), std::string::npos);
}

TEST(AnthropicResponse, UsageCountsCacheTokensAsPrompt) {
  Json body = message_body(Json::array(), "end_turn");
  body["usage"] = {{"input_tokens", 3},
                   {"output_tokens", 4},
                   {"cache_read_input_tokens", 100},
                   {"cache_creation_input_tokens", nullptr}};
  auto events = anthropic_response_from_wire(body.dump());
  ASSERT_TRUE(events.ok());
  const Usage& usage = events->back().usage;
  EXPECT_EQ(usage.prompt_tokens, 103);
  EXPECT_EQ(usage.completion_tokens, 4);
  EXPECT_EQ(usage.total_tokens, 107);
  EXPECT_EQ(usage.cached_tokens, 100);
}

// ==== from Anthropic: AnthropicStreamDecoder =================================================

struct Decoded {
  std::vector<ChatEvent> events;
  bool done = false;
  Status status;
};

Decoded decode_all(const std::vector<std::pair<std::string, std::string>>& stream) {
  AnthropicStreamDecoder decoder;
  Decoded out;
  for (const auto& [name, data] : stream) {
    out.status = decoder.decode(name, data, out.events, out.done);
    if (!out.status.ok()) break;
  }
  return out;
}

const std::pair<std::string, std::string> kStart = {
    "message_start",
    R"({"type":"message_start","message":{"id":"msg_1","model":"claude","content":[],"usage":{"input_tokens":7,"output_tokens":1}}})"};

TEST(AnthropicStreamDecoder, ErrorEventsMapToCodes) {
  struct Case {
    const char* type;
    ErrorCode code;
  };
  for (const Case& c : std::vector<Case>{{"overloaded_error", ErrorCode::kUnavailable},
                                         {"rate_limit_error", ErrorCode::kResourceExhausted},
                                         {"timeout_error", ErrorCode::kDeadlineExceeded},
                                         {"api_error", ErrorCode::kBadGateway},
                                         {"invalid_request_error", ErrorCode::kBadGateway}}) {
    Json error = {{"type", "error"}, {"error", {{"type", c.type}, {"message", "boom"}}}};
    // Before message_start too: the router can then fail over before the first token.
    Decoded got = decode_all({{"error", error.dump()}});
    ASSERT_TRUE(got.status.ok());
    EXPECT_TRUE(got.done);
    ASSERT_EQ(got.events.size(), 1u);
    EXPECT_EQ(got.events[0].kind, ChatEvent::Kind::kError);
    EXPECT_EQ(got.events[0].error.code, c.code) << c.type;
    EXPECT_NE(got.events[0].error.message.find("boom"), std::string::npos);
    EXPECT_FALSE(got.events[0].is_content());
  }
}

TEST(AnthropicStreamDecoder, InvalidSequencesAreErrors) {
  const std::vector<std::vector<std::pair<std::string, std::string>>> bad = {
      {{"message_start", "{not json"}},
      {{"message_start", "[1]"}},
      {{"content_block_delta",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}})"}},
      {kStart, kStart},
      {kStart,
       {"content_block_delta",
        R"({"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":"x"}})"}},
      {kStart,
       {"content_block_start",
        R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"},
       {"content_block_delta",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{"}})"}},
      {kStart,
       {"content_block_start",
        R"({"type":"content_block_start","index":-1,"content_block":{"type":"text","text":""}})"}},
      {kStart,
       {"content_block_start",
        R"({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t"}})"}},
      {kStart,
       {"message_delta",
        R"({"type":"message_delta","delta":{"stop_reason":5},"usage":{"output_tokens":1}})"}},
      {kStart,
       {"message_delta", R"({"type":"message_delta","delta":{},"usage":{"output_tokens":"1"}})"}},
  };
  for (const auto& stream : bad) {
    Decoded got = decode_all(stream);
    ASSERT_FALSE(got.status.ok()) << stream.back().second;
    EXPECT_EQ(got.status.error().code, ErrorCode::kBadGateway);
  }
}

TEST(AnthropicStreamDecoder, TolerantWhereTheSdkIs) {
  Decoded got = decode_all({
      {"ping", ""},
      kStart,
      {"ping", R"({"type": "ping"})"},
      {"some_future_event", R"({"type":"some_future_event","x":1})"},
      {"content_block_start",
       R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}})"},
      {"content_block_delta",
       R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}})"},
      {"content_block_delta",
       R"({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"s"}})"},
      {"content_block_stop", R"({"type":"content_block_stop","index":0})"},
      // The whole input in content_block_start and no deltas (some compatible servers).
      {"content_block_start",
       R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"f","input":{"a":1}}})"},
      {"content_block_stop", R"({"type":"content_block_stop","index":1})"},
      // data without "type": the SSE event name decides.
      {"message_delta",
       R"({"delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9,"input_tokens":8}})"},
      {"message_stop", "{}"},
      {"message_start", "garbage after the end is ignored"},
  });
  ASSERT_TRUE(got.status.ok()) << got.status.error().message;
  EXPECT_TRUE(got.done);
  EXPECT_EQ(events_to_json(got.events), Json::parse(R"([{"start":{"id":"msg_1","model":"claude"}},
      {"reasoning":{"index":0,"text":"hmm"}},
      {"reasoning_signature":{"index":0,"signature":"s","vendor":"anthropic"}},
      {"tool_call_start":{"index":0,"id":"t1","name":"f"}},{"tool_args":{"index":0,"text":"{\"a\":1}"}},
      {"finish":"tool_calls"},{"usage":{"prompt_tokens":8,"completion_tokens":9,"total_tokens":17}}])"))
      << events_to_json(got.events).dump();
}

TEST(AnthropicStreamDecoder, MessageStopWithoutDelta) {
  Decoded got = decode_all({kStart, {"message_stop", R"({"type":"message_stop"})"}});
  ASSERT_TRUE(got.status.ok());
  EXPECT_TRUE(got.done);
  EXPECT_EQ(events_to_json(got.events), Json::parse(R"([{"start":{"id":"msg_1","model":"claude"}},
      {"finish":"stop"},{"usage":{"prompt_tokens":7,"completion_tokens":1,"total_tokens":8}}])"));
}

// ==== toward an Anthropic client: encoder, whole messages, errors ============================

std::vector<std::string> names_of(const std::vector<AnthropicSseEvent>& frames) {
  std::vector<std::string> out;
  for (const auto& frame : frames) out.push_back(frame.name);
  return out;
}

// An Anthropic upstream's matched stop sequence and its cache writes reach an Anthropic client
// as they were, whole and streamed; an OpenAI client sees "stop" and one prompt_tokens total.
TEST(AnthropicRoundTrip, StopSequenceAndCacheWritesSurvive) {
  auto whole = anthropic_response_from_wire(R"({"id":"msg_1","type":"message","role":"assistant",
      "model":"claude","content":[{"type":"text","text":"one two"}],"stop_reason":"stop_sequence",
      "stop_sequence":"END","usage":{"input_tokens":5,"cache_creation_input_tokens":100,
      "cache_read_input_tokens":20,"output_tokens":3}})");
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  ChatResponse response = golden_util::aggregate(*whole);
  EXPECT_EQ(response.stop_sequence, "END");
  EXPECT_EQ(response.usage.prompt_tokens, 125);
  Json wire = messages_response_to_wire(response, "smart");
  EXPECT_EQ(wire["stop_reason"], "stop_sequence");
  EXPECT_EQ(wire["stop_sequence"], "END");
  EXPECT_EQ(wire["usage"]["input_tokens"], 5);
  EXPECT_EQ(wire["usage"]["cache_creation_input_tokens"], 100);
  EXPECT_EQ(wire["usage"]["cache_read_input_tokens"], 20);
  Json openai = chat_response_to_wire(response);
  EXPECT_EQ(openai["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(openai["usage"]["prompt_tokens"], 125);

  Decoded streamed = decode_all(
      {kStart,
       {"content_block_start",
        R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"},
       {"content_block_delta",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"one"}})"},
       {"content_block_stop", R"({"type":"content_block_stop","index":0})"},
       {"message_delta",
        R"({"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"END"},
            "usage":{"input_tokens":5,"cache_creation_input_tokens":100,"output_tokens":3}})"},
       {"message_stop", R"({"type":"message_stop"})"}});
  ASSERT_TRUE(streamed.status.ok()) << streamed.status.error().message;
  AnthropicStreamEncoder encoder("msg_2", "smart");
  std::vector<AnthropicSseEvent> frames;
  for (const auto& event : streamed.events) encoder.encode(event, frames);
  encoder.finish(frames);
  const Json* delta = nullptr;
  for (const auto& frame : frames) {
    if (frame.name == "message_delta") delta = &frame.data;
  }
  ASSERT_NE(delta, nullptr);
  EXPECT_EQ((*delta)["delta"]["stop_reason"], "stop_sequence");
  EXPECT_EQ((*delta)["delta"]["stop_sequence"], "END");
  EXPECT_EQ((*delta)["usage"]["input_tokens"], 5);
  EXPECT_EQ((*delta)["usage"]["cache_creation_input_tokens"], 100);
}

TEST(AnthropicStreamEncoder, HoldsMessageDeltaUntilUsage) {
  AnthropicStreamEncoder encoder("msg_1", "smart");
  std::vector<AnthropicSseEvent> frames;
  encoder.encode(ChatEvent::start("chatcmpl-x", "gpt"), frames);
  encoder.encode(ChatEvent::text_delta("Hi"), frames);
  encoder.encode(ChatEvent::finished(FinishReason::kStop), frames);
  EXPECT_EQ(names_of(frames),
            (std::vector<std::string>{"message_start", "content_block_start", "content_block_delta",
                                      "content_block_stop"}));
  encoder.encode(ChatEvent::usage_event(Usage{20, 3, 23, 15, true, std::nullopt}), frames);
  ASSERT_EQ(frames.size(), 6u);
  EXPECT_EQ(frames[4].name, "message_delta");
  EXPECT_EQ(frames[4].data["usage"]["input_tokens"], 5);
  EXPECT_EQ(frames[4].data["usage"]["cache_read_input_tokens"], 15);
  EXPECT_EQ(frames[4].data["usage"]["output_tokens"], 3);
  EXPECT_EQ(frames[5].name, "message_stop");
  EXPECT_EQ(frames[0].data["message"]["id"], "msg_1");
  EXPECT_EQ(frames[0].data["message"]["model"], "smart");
  size_t before = frames.size();
  encoder.finish(frames);  // nothing more
  encoder.encode(ChatEvent::text_delta("late"), frames);
  EXPECT_EQ(frames.size(), before);
}

TEST(AnthropicStreamEncoder, BlocksFollowTheContent) {
  AnthropicStreamEncoder encoder("msg_1", "smart");
  std::vector<AnthropicSseEvent> frames;
  // No Start: the first content opens the message.
  encoder.encode(ChatEvent::tool_call_start(0, "call_a", "f"), frames);
  encoder.encode(ChatEvent::tool_args_delta(0, "{\"x\":"), frames);
  encoder.encode(ChatEvent::text_delta(""), frames);  // empty: nothing
  encoder.encode(ChatEvent::text_delta("then text"), frames);
  encoder.encode(ChatEvent::tool_args_delta(0, "1}"), frames);  // late args keep their block
  encoder.encode(ChatEvent::tool_args_delta(1, "{}"), frames);  // args with no start
  encoder.finish(frames);
  Json got = frames_to_json(frames);
  std::vector<std::string> expected_names = {
      "message_start",       "content_block_start", "content_block_delta", "content_block_stop",
      "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
      "content_block_start", "content_block_delta", "content_block_stop",  "message_delta",
      "message_stop"};
  EXPECT_EQ(names_of(frames), expected_names) << got.dump(1);
  EXPECT_EQ(got[1]["data"]["content_block"]["id"], "call_a");
  EXPECT_EQ(got[4]["data"]["content_block"]["type"], "text");
  EXPECT_EQ(got[6]["data"]["index"], 0);  // "1}" for the first call
  EXPECT_EQ(got[6]["data"]["delta"]["partial_json"], "1}");
  EXPECT_EQ(got[8]["data"]["index"], 2);
  EXPECT_EQ(got[8]["data"]["content_block"]["id"], "");
  EXPECT_EQ(got[11]["data"]["delta"]["stop_reason"], "tool_use");
  EXPECT_TRUE(got[11]["data"]["usage"]["input_tokens"].is_null());
}

TEST(AnthropicStreamEncoder, ErrorsEndTheStream) {
  AnthropicStreamEncoder encoder("msg_1", "smart");
  std::vector<AnthropicSseEvent> frames;
  encoder.encode(ChatEvent::start(), frames);
  encoder.encode(ChatEvent::text_delta("partial"), frames);
  Error error(ErrorCode::kDeadlineExceeded, "upstream timed out");
  encoder.encode(ChatEvent::failure(error), frames);
  encoder.encode(ChatEvent::finished(FinishReason::kStop), frames);
  encoder.finish(frames);
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(frames[3].name, "error");
  EXPECT_EQ(frames[3].data, Json::parse(R"({"type":"error","error":{"type":"timeout_error",
      "message":"upstream timed out"},"request_id":""})"));

  AnthropicStreamEncoder empty("msg_2", "smart");
  frames.clear();
  empty.finish(frames);
  EXPECT_EQ(names_of(frames),
            (std::vector<std::string>{"message_start", "message_delta", "message_stop"}));
  EXPECT_EQ(frames[1].data["delta"]["stop_reason"], "end_turn");
}

TEST(AnthropicMessagesResponse, ToolInputsAndStopReasons) {
  ChatResponse response;
  response.id = "msg_1";
  response.message.tool_calls = {{"call_1", "f", "{\"a\":[1,2]}"},
                                 {"call_2", "g", "{\"trunc"},
                                 {"call_3", "h", "[1]"},
                                 {"call_4", "i", ""}};
  Json wire = messages_response_to_wire(response, "smart");
  ASSERT_EQ(wire["content"].size(), 4u);
  EXPECT_EQ(wire["content"][0]["input"], Json::parse(R"({"a":[1,2]})"));
  for (int i = 1; i < 4; ++i) EXPECT_EQ(wire["content"][i]["input"], Json::object());
  EXPECT_EQ(wire["stop_reason"], "tool_use");  // no finish reason given, tool calls present
  EXPECT_EQ(wire["model"], "smart");
  EXPECT_TRUE(wire["stop_sequence"].is_null());

  ChatResponse refused;
  refused.finish = FinishReason::kContentFilter;
  wire = messages_response_to_wire(refused, "smart");
  EXPECT_EQ(wire["stop_reason"], "refusal");
  EXPECT_EQ(wire["content"], Json::array());
  EXPECT_EQ(wire["usage"]["input_tokens"], 0);
  EXPECT_TRUE(wire["usage"]["cache_read_input_tokens"].is_null());
}

TEST(AnthropicErrors, ToWire) {
  struct Case {
    ErrorCode code;
    const char* type;
  };
  for (const Case& c : std::vector<Case>{{ErrorCode::kInvalidArgument, "invalid_request_error"},
                                         {ErrorCode::kUnauthenticated, "authentication_error"},
                                         {ErrorCode::kPermissionDenied, "permission_error"},
                                         {ErrorCode::kNotFound, "not_found_error"},
                                         {ErrorCode::kPayloadTooLarge, "invalid_request_error"},
                                         {ErrorCode::kUnsupportedMedia, "invalid_request_error"},
                                         {ErrorCode::kResourceExhausted, "rate_limit_error"},
                                         {ErrorCode::kInternal, "api_error"},
                                         {ErrorCode::kBadGateway, "api_error"},
                                         {ErrorCode::kUnavailable, "api_error"},
                                         {ErrorCode::kDeadlineExceeded, "timeout_error"},
                                         {ErrorCode::kCancelled, "api_error"}}) {
    Json wire = anthropic_error_to_wire(Error(c.code, "why"), "req_1");
    EXPECT_EQ(wire, Json({{"type", "error"},
                          {"error", {{"type", c.type}, {"message", "why"}}},
                          {"request_id", "req_1"}}))
        << wire.dump();
  }
  EXPECT_EQ(anthropic_error_to_wire(Error(ErrorCode::kNotFound, ""), "req_9"),
            Json({{"type", "error"},
                  {"error", {{"type", "not_found_error"}, {"message", "not_found"}}},
                  {"request_id", "req_9"}}));
}

TEST(AnthropicErrors, MessageFromBody) {
  EXPECT_EQ(
      anthropic_error_message(
          R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"},"request_id":"req_1"})"),
      "max_tokens: Field required");
  EXPECT_EQ(anthropic_error_message(R"({"error":{"message":"OpenAI-shaped"}})"), "OpenAI-shaped");
  EXPECT_EQ(anthropic_error_message("<html>Bad Gateway</html>"), "<html>Bad Gateway</html>");
  EXPECT_EQ(anthropic_error_message(""), "(empty body)");
  std::string long_message(5000, 'x');
  std::string got = anthropic_error_message(
      Json({{"type", "error"}, {"error", {{"type", "api_error"}, {"message", long_message}}}})
          .dump());
  EXPECT_LT(got.size(), 1100u);
}

}  // namespace
}  // namespace keel
