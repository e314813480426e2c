// Helpers shared by the golden-file tests of each wire format (openai_golden_test.cpp,
// anthropic_test.cpp, gemini_test.cpp): reading the recorded files under
// tests/golden/<vendor>/, listing the cases, splitting SSE bodies and writing native events in
// the golden .events.jsonl notation (tests/golden/README.md).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"

namespace keel::golden_util {

namespace fs = std::filesystem;

// The fixed values the goldens were recorded with.
inline constexpr const char* kUpstreamModel = "upstream-model";
inline constexpr const char* kResponseId = "chatcmpl-keel-test";
inline constexpr const char* kPublicModel = "smart";
inline constexpr int64_t kCreated = 1700000000;

// tests/golden/<vendor> in the source tree.
inline fs::path golden_dir(const std::string& vendor) {
  return fs::path(KEEL_SOURCE_DIR) / "tests" / "golden" / vendor;
}

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

inline Json read_json(const fs::path& path) { return Json::parse(read_text(path)); }

// `json` as nlohmann's sorted json, for comparing by value: Json keeps (and compares) objects'
// members in order, and the goldens check values, not the order keel writes its own objects in
// (tests/unit/api/key_order_test.cpp checks the order of what clients send).
inline nlohmann::json by_value(const Json& json) { return nlohmann::json::parse(json.dump()); }

// EXPECT_EQ of two Json values (or what converts to one), by value.
#define EXPECT_JSON_EQ(a, b) \
  EXPECT_EQ(::keel::golden_util::by_value(a), ::keel::golden_util::by_value(b))

inline std::vector<Json> read_jsonl(const fs::path& path) {
  std::vector<Json> out;
  std::istringstream in(read_text(path));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(Json::parse(line));
  }
  return out;
}

// The data payloads of an SSE body that sends one data line per event (OpenAI, Gemini).
inline std::vector<std::string> sse_payloads(const std::string& body) {
  std::vector<std::string> out;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("data:", 0) != 0) continue;
    std::string data = line.substr(5);
    if (!data.empty() && data.front() == ' ') data.erase(0, 1);
    out.push_back(data);
  }
  return out;
}

// Cases in `dir` named by the files present: <case>.<kind>, sorted.
// `seed` with 1..max_edits random edits: a byte replaced by one of `specials`, up to
// `max_erase` bytes erased, or one of `specials` inserted (for robustness tests).
inline std::string mutate(const std::string& seed, std::mt19937& rng, std::string_view specials,
                          int max_edits, size_t max_erase) {
  std::string input = seed;
  int edits = 1 + static_cast<int>(rng() % static_cast<unsigned>(max_edits));
  for (int e = 0; e < edits && !input.empty(); ++e) {
    size_t at = rng() % input.size();
    switch (rng() % 3) {
      case 0:
        input[at] = specials[rng() % specials.size()];
        break;
      case 1:
        input.erase(at, 1 + rng() % max_erase);
        break;
      default:
        input.insert(at, 1, specials[rng() % specials.size()]);
        break;
    }
  }
  return input;
}

inline std::vector<std::string> cases_with(const fs::path& dir, const std::string& kind) {
  std::vector<std::string> out;
  const std::string suffix = "." + kind;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      out.push_back(name.substr(0, name.size() - suffix.size()));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// An event in the golden .events.jsonl notation.
inline Json event_to_json(const ChatEvent& event) {
  switch (event.kind) {
    case ChatEvent::Kind::kStart:
      return {{"start", {{"id", event.id}, {"model", event.model}}}};
    case ChatEvent::Kind::kTextDelta:
      return {{"text", event.text}};
    case ChatEvent::Kind::kToolCallStart:
      return {{"tool_call_start",
               {{"index", event.tool_index}, {"id", event.tool_id}, {"name", event.tool_name}}}};
    case ChatEvent::Kind::kToolArgsDelta:
      return {{"tool_args", {{"index", event.tool_index}, {"text", event.text}}}};
    case ChatEvent::Kind::kFinish: {
      Json finish = {{"finish", finish_reason_name(event.finish)}};
      if (!event.text.empty()) finish["stop_sequence"] = event.text;
      return finish;
    }
    case ChatEvent::Kind::kUsage: {
      Json usage = {{"prompt_tokens", event.usage.prompt_tokens},
                    {"completion_tokens", event.usage.completion_tokens},
                    {"total_tokens", event.usage.total_tokens}};
      if (event.usage.cached_tokens) usage["cached_tokens"] = *event.usage.cached_tokens;
      if (event.usage.cache_creation_tokens) {
        usage["cache_creation_tokens"] = *event.usage.cache_creation_tokens;
      }
      return {{"usage", usage}};
    }
    case ChatEvent::Kind::kError:
      return {{"error",
               {{"code", error_code_name(event.error.code)}, {"message", event.error.message}}}};
    case ChatEvent::Kind::kCitation:  // never from a provider; a copilot adds them
      return {{"citation",
               {{"number", event.citation ? event.citation->number : 0},
                {"chunk_id", event.citation ? event.citation->chunk_id : std::string()}}}};
    case ChatEvent::Kind::kReasoningDelta:
      return {{"reasoning", {{"index", event.tool_index}, {"text", event.text}}}};
    case ChatEvent::Kind::kReasoningSignature: {
      Json signature = {
          {"index", event.tool_index}, {"signature", event.text}, {"vendor", event.id}};
      if (event.redacted) signature["redacted"] = true;
      return {{"reasoning_signature", signature}};
    }
  }
  return nullptr;
}

// A line of the golden .events.jsonl notation -> a native event (event_to_json's inverse).
inline ErrorCode code_named(const std::string& name) {
  for (ErrorCode code :
       {ErrorCode::kInvalidArgument, ErrorCode::kUnauthenticated, ErrorCode::kPermissionDenied,
        ErrorCode::kNotFound, ErrorCode::kPayloadTooLarge, ErrorCode::kUnsupportedMedia,
        ErrorCode::kResourceExhausted, ErrorCode::kInternal, ErrorCode::kBadGateway,
        ErrorCode::kUnavailable, ErrorCode::kDeadlineExceeded, ErrorCode::kCancelled}) {
    if (name == error_code_name(code)) return code;
  }
  return ErrorCode::kInternal;
}

inline ChatEvent event_from_json(const Json& json) {
  if (json.contains("start")) {
    return ChatEvent::start(json["start"]["id"], json["start"]["model"]);
  }
  if (json.contains("text")) return ChatEvent::text_delta(json["text"]);
  if (json.contains("tool_call_start")) {
    const Json& call = json["tool_call_start"];
    return ChatEvent::tool_call_start(call["index"], call["id"], call["name"]);
  }
  if (json.contains("tool_args")) {
    return ChatEvent::tool_args_delta(json["tool_args"]["index"], json["tool_args"]["text"]);
  }
  if (json.contains("finish")) {
    ChatEvent finish = ChatEvent::finished(parse_finish_reason(json["finish"].get<std::string>()));
    if (json.contains("stop_sequence")) finish.text = json["stop_sequence"].get<std::string>();
    return finish;
  }
  if (json.contains("usage")) {
    const Json& wire = json["usage"];
    Usage usage;
    usage.prompt_tokens = wire["prompt_tokens"];
    usage.completion_tokens = wire["completion_tokens"];
    usage.total_tokens = wire["total_tokens"];
    if (wire.contains("cached_tokens")) usage.cached_tokens = wire["cached_tokens"].get<int64_t>();
    if (wire.contains("cache_creation_tokens")) {
      usage.cache_creation_tokens = wire["cache_creation_tokens"].get<int64_t>();
    }
    return ChatEvent::usage_event(usage);
  }
  if (const Json* reasoning = member(json, "reasoning")) {
    return ChatEvent::reasoning_delta((*reasoning)["index"].get<int>(),
                                      (*reasoning)["text"].get<std::string>());
  }
  if (const Json* signature = member(json, "reasoning_signature")) {
    static const std::string vendors[] = {kVendorAnthropic, kVendorOpenAI, kVendorGemini};
    const char* vendor = kVendorAnthropic;
    for (const auto& name : vendors) {
      if ((*signature)["vendor"] == name) vendor = name.c_str();
    }
    return ChatEvent::reasoning_signature((*signature)["index"].get<int>(),
                                          (*signature)["signature"].get<std::string>(), vendor,
                                          signature->value("redacted", false));
  }
  if (!json.contains("error")) {
    ADD_FAILURE() << "unknown event line " << json.dump();
    return ChatEvent::finished(FinishReason::kStop);
  }
  const Json& error = json["error"];
  return ChatEvent::failure(Error(code_named(error["code"]), error["message"]));
}

inline Json events_to_json(const std::vector<ChatEvent>& events) {
  Json out = Json::array();
  for (const auto& event : events) out.push_back(event_to_json(event));
  return out;
}

// The response a ChatAggregator builds from `events`.
inline ChatResponse aggregate(const std::vector<ChatEvent>& events) {
  ChatAggregator aggregator;
  for (const auto& event : events) aggregator.add(event);
  return aggregator.response();
}

// The OpenAI chat.completion body for the aggregated `events`, with fixed id, model and created.
inline Json aggregate_to_wire(const std::vector<ChatEvent>& events, const std::string& id,
                              const std::string& model, int64_t created) {
  ChatResponse response = aggregate(events);
  response.id = id;
  response.model = model;
  response.created = created;
  return chat_response_to_wire(response);
}

}  // namespace keel::golden_util
