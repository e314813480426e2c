// What popular client libraries (LangChain JS, the Vercel AI SDK) send and read, per vendor
// translator (issue 17, fixes 2-5): the prompt's count in message_start, one tool call per turn
// on Gemini, JSON mode on Anthropic, and the Anthropic error shape.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api/anthropic/anthropic.h"
#include "api/gemini/gemini.h"
#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"

namespace keel {
namespace {

ChatRequest parsed(const std::string& body) {
  auto req = parse_chat_request(body);
  EXPECT_TRUE(req.ok()) << req.error().message;
  return req.ok() ? std::move(*req) : ChatRequest();
}

constexpr const char* kTools =
    R"("tools":[{"type":"function","function":{"name":"get_weather","parameters":)"
    R"({"type":"object","properties":{"city":{"type":"string"}}}}}])";

// ---- fix 2: message_start.usage.input_tokens ------------------------------------------------

TEST(MessageStartUsage, AnthropicUpstreamsCountReachesTheStartEvent) {
  AnthropicStreamDecoder decoder;
  std::vector<ChatEvent> events;
  bool done = false;
  ASSERT_TRUE(
      decoder
          .decode("message_start",
                  R"({"type":"message_start","message":{"id":"msg_1","model":"c",)"
                  R"("usage":{"input_tokens":7,"cache_read_input_tokens":3,"output_tokens":1}}})",
                  events, done)
          .ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].usage.present);
  EXPECT_EQ(events[0].usage.prompt_tokens, 10);  // input + cache reads, natively
  EXPECT_EQ(events[0].usage.cached_tokens, 3);

  AnthropicStreamEncoder encoder("msg_k", "smart", "req_1");
  std::vector<AnthropicSseEvent> frames;
  encoder.encode(events[0], frames);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].name, "message_start");
  EXPECT_EQ(frames[0].data["message"]["usage"]["input_tokens"], 7);
  EXPECT_EQ(frames[0].data["message"]["usage"]["cache_read_input_tokens"], 3);
}

TEST(MessageStartUsage, WithoutACountAtTheStartItIsZero) {
  AnthropicStreamEncoder encoder("msg_k", "smart", "req_1");
  std::vector<AnthropicSseEvent> frames;
  encoder.encode(ChatEvent::start("x", "m"), frames);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].data["message"]["usage"]["input_tokens"], 0);
}

TEST(MessageStartUsage, GeminisFirstChunkCountsThePrompt) {
  GeminiStreamDecoder decoder;
  std::vector<ChatEvent> events;
  ASSERT_TRUE(decoder
                  .decode(R"({"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]}}],)"
                          R"("usageMetadata":{"promptTokenCount":9,"totalTokenCount":9},)"
                          R"("responseId":"r1"})",
                          events)
                  .ok());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].kind, ChatEvent::Kind::kStart);
  EXPECT_TRUE(events[0].usage.present);
  EXPECT_EQ(events[0].usage.prompt_tokens, 9);
}

// ---- fix 3: one tool call per turn on Gemini --------------------------------------------------

TEST(GeminiSingleToolCall, ParallelCallsOffIsAskedForAndKept) {
  ChatRequest req =
      parsed(std::string(R"({"model":"m","messages":[{"role":"user","content":"hi"}],)") + kTools +
             R"(,"parallel_tool_calls":false})");
  ASSERT_TRUE(gemini_single_tool_call(req));
  auto wire = chat_request_to_gemini(req);
  ASSERT_TRUE(wire.ok()) << wire.error().message;
  const std::string instruction = (*wire)["systemInstruction"]["parts"].back()["text"];
  EXPECT_NE(instruction.find("at most one function"), std::string::npos) << instruction;

  const std::string two_calls =
      R"({"candidates":[{"content":{"role":"model","parts":[)"
      R"({"functionCall":{"name":"get_weather","args":{"city":"Paris"}}},)"
      R"({"functionCall":{"name":"get_weather","args":{"city":"Rome"}}}]},"finishReason":"STOP"}]})";
  auto whole = gemini_single_call_response_from_wire(two_calls);
  ASSERT_TRUE(whole.ok());
  int starts = 0;
  FinishReason finish = FinishReason::kNone;
  for (const auto& event : *whole) {
    starts += event.kind == ChatEvent::Kind::kToolCallStart;
    if (event.kind == ChatEvent::Kind::kFinish) finish = event.finish;
  }
  EXPECT_EQ(starts, 1);
  EXPECT_EQ(finish, FinishReason::kToolCalls);

  GeminiStreamDecoder decoder(true);
  std::vector<ChatEvent> events;
  ASSERT_TRUE(decoder.decode(two_calls, events).ok());
  starts = 0;
  std::string args;
  for (const auto& event : events) {
    starts += event.kind == ChatEvent::Kind::kToolCallStart;
    if (event.kind == ChatEvent::Kind::kToolArgsDelta) args += event.text;
  }
  EXPECT_EQ(starts, 1);
  EXPECT_EQ(args, R"({"city":"Paris"})");
  // Without the promise both calls come through.
  auto both = gemini_response_from_wire(two_calls);
  ASSERT_TRUE(both.ok());
  starts = 0;
  for (const auto& event : *both) starts += event.kind == ChatEvent::Kind::kToolCallStart;
  EXPECT_EQ(starts, 2);
  // Anthropic's disable_parallel_tool_use reads the same.
  auto anthropic = parse_messages_request(
      R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],)"
      R"("tools":[{"name":"get_weather","input_schema":{"type":"object"}}],)"
      R"("tool_choice":{"type":"auto","disable_parallel_tool_use":true}})");
  ASSERT_TRUE(anthropic.ok());
  EXPECT_TRUE(gemini_single_tool_call(*anthropic));
  EXPECT_TRUE(chat_request_to_gemini(*anthropic).ok());
}

// ---- fix 4: JSON mode on Anthropic
// ---------------------------------------------------------------

TEST(AnthropicJsonMode, AForcedToolCarriesTheAnswer) {
  ChatRequest req = parsed(
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}})");
  ASSERT_TRUE(anthropic_emulates_json_object(req));
  auto wire = chat_request_to_anthropic(req, "claude");
  ASSERT_TRUE(wire.ok()) << wire.error().message;
  ASSERT_EQ((*wire)["tools"].size(), 1u);
  EXPECT_EQ((*wire)["tools"][0]["name"], "json_response");
  EXPECT_EQ((*wire)["tools"][0]["input_schema"]["type"], "object");
  EXPECT_EQ((*wire)["tool_choice"], Json::parse(R"({"type":"tool","name":"json_response"})"));
  EXPECT_FALSE(wire->contains("output_config"));

  // Beside the client's tools under auto: the model must call one of them or answer in JSON.
  ChatRequest with_tools =
      parsed(std::string(R"({"model":"m","messages":[{"role":"user","content":"hi"}],)") + kTools +
             R"(,"parallel_tool_calls":false,"response_format":{"type":"json_object"}})");
  wire = chat_request_to_anthropic(with_tools, "claude");
  ASSERT_TRUE(wire.ok()) << wire.error().message;
  EXPECT_EQ((*wire)["tools"].size(), 2u);
  EXPECT_EQ((*wire)["tool_choice"],
            Json::parse(R"({"type":"any","disable_parallel_tool_use":true})"));
  // tool_choice required: the answer is a tool call, JSON already; nothing added.
  with_tools.tool_choice.mode = ToolChoice::Mode::kRequired;
  EXPECT_FALSE(anthropic_emulates_json_object(with_tools));
  wire = chat_request_to_anthropic(with_tools, "claude");
  ASSERT_TRUE(wire.ok());
  EXPECT_EQ((*wire)["tools"].size(), 1u);
}

TEST(AnthropicJsonMode, TheToolsInputIsTheText) {
  const std::string whole =
      R"({"id":"msg_1","type":"message","role":"assistant","model":"c","content":[)"
      R"({"type":"text","text":"Here you go"},)"
      R"({"type":"tool_use","id":"toolu_1","name":"json_response","input":{"b":1,"a":[2]}}],)"
      R"("stop_reason":"tool_use","usage":{"input_tokens":5,"output_tokens":6}})";
  auto events = anthropic_json_response_from_wire(whole);
  ASSERT_TRUE(events.ok()) << events.error().message;
  std::string text;
  FinishReason finish = FinishReason::kNone;
  for (const auto& event : *events) {
    EXPECT_NE(event.kind, ChatEvent::Kind::kToolCallStart);
    if (event.kind == ChatEvent::Kind::kTextDelta) text += event.text;
    if (event.kind == ChatEvent::Kind::kFinish) finish = event.finish;
  }
  EXPECT_EQ(text, R"({"b":1,"a":[2]})");
  EXPECT_EQ(finish, FinishReason::kStop);

  AnthropicStreamDecoder decoder(true);
  std::vector<ChatEvent> streamed;
  bool done = false;
  for (
      const auto& [name, data] : std::vector<std::pair<std::string, std::string>>{
          {"message_start", R"({"type":"message_start","message":{"id":"m","model":"c"}})"},
          {"content_block_start",
           R"({"type":"content_block_start","index":0,"content_block":{"type":"tool_use",)"
           R"("id":"toolu_1","name":"json_response","input":{}}})"},
          {"content_block_delta",
           R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"b\":"}})"},
          {"content_block_delta",
           R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"1}"}})"},
          {"content_block_stop", R"({"type":"content_block_stop","index":0})"},
          {"message_delta",
           R"({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":4}})"},
          {"message_stop", R"({"type":"message_stop"})"}}) {
    ASSERT_TRUE(decoder.decode(name, data, streamed, done).ok()) << name;
  }
  EXPECT_TRUE(done);
  text.clear();
  for (const auto& event : streamed) {
    EXPECT_NE(event.kind, ChatEvent::Kind::kToolCallStart);
    if (event.kind == ChatEvent::Kind::kTextDelta) text += event.text;
    if (event.kind == ChatEvent::Kind::kFinish) finish = event.finish;
  }
  EXPECT_EQ(text, R"({"b":1})");
  EXPECT_EQ(finish, FinishReason::kStop);
}

// ---- fix 5: the Anthropic error shape
// --------------------------------------------------------------

TEST(AnthropicErrorShape, RequestIdIsAStringAndOnlyAnOverloadIsOverloaded) {
  Json dropped = anthropic_error_to_wire(
      Error(ErrorCode::kUnavailable, "upstream closed the stream before it finished"), "req_7");
  EXPECT_EQ(dropped["error"]["type"], "api_error");
  EXPECT_EQ(dropped["request_id"], "req_7");
  Error overload(ErrorCode::kUnavailable, "keel is overloaded");
  overload.type_code = kOverloadedCode;
  EXPECT_EQ(anthropic_error_to_wire(overload, "req_8")["error"]["type"], "overloaded_error");

  // An upstream's own overloaded_error stays one; its stream error event names the request.
  AnthropicStreamDecoder decoder;
  std::vector<ChatEvent> events;
  bool done = false;
  ASSERT_TRUE(
      decoder
          .decode("error",
                  R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})",
                  events, done)
          .ok());
  ASSERT_EQ(events.size(), 1u);
  AnthropicStreamEncoder encoder("msg_1", "smart", "req_9");
  std::vector<AnthropicSseEvent> frames;
  encoder.encode(ChatEvent::start(), frames);
  encoder.encode(events[0], frames);
  ASSERT_EQ(frames.back().name, "error");
  EXPECT_EQ(frames.back().data["error"]["type"], "overloaded_error");
  EXPECT_EQ(frames.back().data["request_id"], "req_9");

  AnthropicStreamEncoder dropping("msg_2", "smart", "req_10");
  frames.clear();
  dropping.encode(ChatEvent::start(), frames);
  dropping.encode(ChatEvent::text_delta("part"), frames);
  dropping.encode(ChatEvent::failure(Error(ErrorCode::kUnavailable, "upstream closed")), frames);
  ASSERT_EQ(frames.back().name, "error");
  EXPECT_EQ(frames.back().data["error"]["type"], "api_error");
  EXPECT_EQ(frames.back().data["request_id"], "req_10");
}

}  // namespace
}  // namespace keel
