// Upstream responses and streams in the OpenAI format -> events, and events -> the client's
// OpenAI responses, chunks, embeddings, models and errors.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "api/openai_chat/openai_chat.h"
#include "golden_util.h"

namespace keel {
namespace {

using Kind = ChatEvent::Kind;

std::vector<Kind> kinds(const std::vector<ChatEvent>& events) {
  std::vector<Kind> out;
  for (const auto& event : events) out.push_back(event.kind);
  return out;
}

// ---- chat_response_from_wire ---------------------------------------------------------------

TEST(OpenAIResponseFromWire, TextAndUsage) {
  auto events = chat_response_from_wire(R"({
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-x",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi", "refusal": null},
                 "finish_reason": "stop", "logprobs": null}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6,
              "prompt_tokens_details": {"cached_tokens": 4}}})");
  ASSERT_TRUE(events.ok()) << events.error().message;
  ASSERT_EQ(kinds(*events),
            (std::vector<Kind>{Kind::kStart, Kind::kTextDelta, Kind::kFinish, Kind::kUsage}));
  EXPECT_EQ((*events)[0].id, "chatcmpl-1");
  EXPECT_EQ((*events)[0].model, "gpt-x");
  EXPECT_EQ((*events)[1].text, "Hi");
  EXPECT_EQ((*events)[2].finish, FinishReason::kStop);
  const Usage& usage = (*events)[3].usage;
  EXPECT_EQ(usage.prompt_tokens, 5);
  EXPECT_EQ(usage.completion_tokens, 1);
  EXPECT_EQ(usage.total_tokens, 6);
  EXPECT_EQ(usage.cached_tokens, 4);
  EXPECT_TRUE(usage.present);
}

TEST(OpenAIResponseFromWire, ToolCallsInIndexOrderWithoutUsage) {
  auto events = chat_response_from_wire(R"({"id":"x","model":"m","choices":[{"index":0,
    "message":{"role":"assistant","content":null,"tool_calls":[
      {"id":"c1","type":"function","function":{"name":"a","arguments":"{\"x\":1}"}},
      {"id":"c2","type":"function","function":{"name":"b","arguments":""}}]},
    "finish_reason":"tool_calls"}]})");
  ASSERT_TRUE(events.ok()) << events.error().message;
  ASSERT_EQ(kinds(*events),
            (std::vector<Kind>{Kind::kStart, Kind::kToolCallStart, Kind::kToolArgsDelta,
                               Kind::kToolCallStart, Kind::kFinish}));
  EXPECT_EQ((*events)[1].tool_index, 0);
  EXPECT_EQ((*events)[1].tool_id, "c1");
  EXPECT_EQ((*events)[1].tool_name, "a");
  EXPECT_EQ((*events)[2].text, "{\"x\":1}");
  EXPECT_EQ((*events)[3].tool_index, 1);
  EXPECT_EQ((*events)[3].tool_name, "b");
  EXPECT_EQ((*events)[4].finish, FinishReason::kToolCalls);
}

TEST(OpenAIResponseFromWire, TolerantOfCompatibleServers) {
  // No finish_reason, refusal instead of content, extra fields, integral floats in usage,
  // content as parts, arguments as an object.
  auto refusal = chat_response_from_wire(R"({"choices":[{"message":{"role":"assistant",
    "content":null,"refusal":"I can't help with that."},"finish_reason":null}],
    "usage":{"prompt_tokens":3.0,"completion_tokens":null}})");
  ASSERT_TRUE(refusal.ok()) << refusal.error().message;
  ASSERT_EQ(kinds(*refusal), (std::vector<Kind>{Kind::kStart, Kind::kFinish, Kind::kUsage}));
  EXPECT_EQ((*refusal)[1].finish, FinishReason::kStop);
  EXPECT_EQ((*refusal)[2].usage.prompt_tokens, 3);
  EXPECT_EQ((*refusal)[2].usage.total_tokens, 3);
  EXPECT_FALSE((*refusal)[2].usage.cached_tokens.has_value());

  auto parts = chat_response_from_wire(R"({"choices":[{"message":{"content":[
    {"type":"text","text":"a"},{"type":"thinking","thinking":"hmm"},{"type":"text","text":"b"}],
    "tool_calls":[{"id":"c","function":{"name":"f","arguments":{"k":1}}}]}}]})");
  ASSERT_TRUE(parts.ok()) << parts.error().message;
  ASSERT_EQ(kinds(*parts), (std::vector<Kind>{Kind::kStart, Kind::kTextDelta, Kind::kToolCallStart,
                                              Kind::kToolArgsDelta, Kind::kFinish}));
  EXPECT_EQ((*parts)[1].text, "ab");
  EXPECT_EQ((*parts)[3].text, R"({"k":1})");
  EXPECT_EQ((*parts)[4].finish, FinishReason::kToolCalls);
}

TEST(OpenAIResponseFromWire, GarbageIsBadGateway) {
  const char* bodies[] = {
      "",
      "<html><body>502 Bad Gateway</body></html>",
      "null",
      "[]",
      R"({"id":"x"})",
      R"({"choices":[]})",
      R"({"choices":{}})",
      R"({"choices":[1]})",
      R"({"choices":[{}]})",
      R"({"choices":[{"message":"hi"}]})",
      R"({"choices":[{"message":{"content":5}}]})",
      R"({"choices":[{"message":{"content":"a","tool_calls":{}}}]})",
      R"({"choices":[{"message":{"tool_calls":[{"id":"c"}]}}]})",
      R"({"choices":[{"message":{"tool_calls":[{"function":{"arguments":"{}"}}]}}]})",
      R"({"choices":[{"message":{"tool_calls":[{"function":{"name":"f","arguments":7}}]}}]})",
      R"({"choices":[{"message":{"content":"a"}}],"usage":"lots"})",
      R"({"choices":[{"message":{"content":"a"}}],"usage":{"prompt_tokens":"3"}})",
  };
  for (const char* body : bodies) {
    auto events = chat_response_from_wire(body);
    ASSERT_FALSE(events.ok()) << body;
    EXPECT_EQ(events.error().code, ErrorCode::kBadGateway) << body;
    EXPECT_EQ(events.error().message.rfind("upstream returned an invalid chat completion: ", 0), 0u)
        << events.error().message;
  }
  std::string deep = std::string(5000, '[') + std::string(5000, ']');
  auto events = chat_response_from_wire(deep);
  ASSERT_FALSE(events.ok());
  EXPECT_EQ(events.error().code, ErrorCode::kBadGateway);
}

TEST(OpenAIResponseFromWire, UpstreamErrorBodyKeepsItsMessage) {
  auto events = chat_response_from_wire(
      R"({"error":{"message":"Rate limit reached for gpt-4o","type":"requests","param":null,"code":"rate_limit_exceeded"}})");
  ASSERT_FALSE(events.ok());
  EXPECT_EQ(events.error().code, ErrorCode::kBadGateway);
  EXPECT_NE(events.error().message.find("Rate limit reached for gpt-4o"), std::string::npos);
  auto vllm =
      chat_response_from_wire(R"({"object":"error","message":"context too long","code":400})");
  ASSERT_FALSE(vllm.ok());
  EXPECT_EQ(vllm.error().message, "upstream error: context too long");
  auto plain = chat_response_from_wire(R"({"error":"model overloaded"})");
  ASSERT_FALSE(plain.ok());
  EXPECT_NE(plain.error().message.find("model overloaded"), std::string::npos);
}

// ---- OpenAIStreamDecoder -------------------------------------------------------------------

std::vector<ChatEvent> decode_all(const std::vector<std::string>& chunks, bool done = true) {
  OpenAIStreamDecoder decoder;
  std::vector<ChatEvent> events;
  for (const auto& chunk : chunks) {
    Status status = decoder.decode(chunk, events);
    EXPECT_TRUE(status.ok()) << chunk << ": " << status.error().message;
  }
  if (done) decoder.finish(events);
  return events;
}

TEST(OpenAIStreamDecoder, EmitsStartOnceAndSkipsEmptyContent) {
  auto events = decode_all({
      R"({"id":"c1","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]})",
      R"({"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"He"}}]})",
      R"({"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":null}}]})",
      R"({"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"llo"},"finish_reason":null}]})",
      R"({"id":"c1","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"length"}]})",
  });
  ASSERT_EQ(kinds(events),
            (std::vector<Kind>{Kind::kStart, Kind::kTextDelta, Kind::kTextDelta, Kind::kFinish}));
  EXPECT_EQ(events[0].id, "c1");
  EXPECT_EQ(events[0].model, "m");
  EXPECT_EQ(events[1].text, "He");
  EXPECT_EQ(events[2].text, "llo");
  EXPECT_EQ(events[3].finish, FinishReason::kLength);
}

TEST(OpenAIStreamDecoder, FinishAtDoneOnlyWhenMissingAndStarted) {
  auto events = decode_all({R"({"choices":[{"index":0,"delta":{"content":"x"}}]})"});
  ASSERT_EQ(kinds(events), (std::vector<Kind>{Kind::kStart, Kind::kTextDelta, Kind::kFinish}));
  EXPECT_EQ(events[2].finish, FinishReason::kStop);

  OpenAIStreamDecoder empty;
  std::vector<ChatEvent> none;
  empty.finish(none);
  EXPECT_TRUE(none.empty());

  OpenAIStreamDecoder twice;
  std::vector<ChatEvent> out;
  ASSERT_TRUE(
      twice.decode(R"({"choices":[{"delta":{"content":"x"},"finish_reason":"stop"}]})", out).ok());
  ASSERT_TRUE(twice.decode(R"({"choices":[{"delta":{},"finish_reason":"stop"}]})", out).ok());
  twice.finish(out);
  EXPECT_EQ(kinds(out), (std::vector<Kind>{Kind::kStart, Kind::kTextDelta, Kind::kFinish}));
}

TEST(OpenAIStreamDecoder, ToolCallsByIndex) {
  auto events = decode_all({
      R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"f","arguments":""}}]}}]})",
      R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"x\""}}]}}]})",
      // Two calls in one chunk; the second starts with its arguments already there.
      R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}},{"index":1,"id":"b","function":{"name":"g","arguments":"{}"}}]}}]})",
      R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"g","arguments":""}}]}}]})",
      R"({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})",
  });
  ASSERT_EQ(kinds(events),
            (std::vector<Kind>{Kind::kStart, Kind::kToolCallStart, Kind::kToolArgsDelta,
                               Kind::kToolArgsDelta, Kind::kToolCallStart, Kind::kToolArgsDelta,
                               Kind::kFinish}));
  EXPECT_EQ(events[1].tool_index, 0);
  EXPECT_EQ(events[1].tool_id, "a");
  EXPECT_EQ(events[1].tool_name, "f");
  EXPECT_EQ(events[2].text, "{\"x\"");
  EXPECT_EQ(events[3].text, ":1}");
  EXPECT_EQ(events[4].tool_index, 1);
  EXPECT_EQ(events[4].tool_id, "b");
  EXPECT_EQ(events[5].tool_index, 1);
  EXPECT_EQ(events[5].text, "{}");
  EXPECT_EQ(events[6].finish, FinishReason::kToolCalls);

  ChatAggregator aggregator;
  for (const auto& event : events) aggregator.add(event);
  ASSERT_EQ(aggregator.response().message.tool_calls.size(), 2u);
  EXPECT_EQ(aggregator.response().message.tool_calls[0].arguments, "{\"x\":1}");
}

TEST(OpenAIStreamDecoder, ToolCallsWithoutIndex) {
  // Some OpenAI-compatible servers omit `index`: a new id starts a call, no id continues one.
  auto events = decode_all({
      R"({"choices":[{"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{\"q\":"}}]}}]})",
      R"({"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"1}"}}]}}]})",
      R"({"choices":[{"delta":{"tool_calls":[{"id":"b","function":{"name":"g","arguments":"{}"}}]}}]})",
  });
  ASSERT_EQ(kinds(events),
            (std::vector<Kind>{Kind::kStart, Kind::kToolCallStart, Kind::kToolArgsDelta,
                               Kind::kToolArgsDelta, Kind::kToolCallStart, Kind::kToolArgsDelta,
                               Kind::kFinish}));
  EXPECT_EQ(events[3].tool_index, 0);
  EXPECT_EQ(events[4].tool_index, 1);
  EXPECT_EQ(events[4].tool_name, "g");
}

TEST(OpenAIStreamDecoder, UsageComesLast) {
  // Usage on the finish chunk (llama-server), or a choices-less chunk after it (OpenAI); running
  // usage on content chunks (vLLM's continuous stats) is not reported early.
  auto events = decode_all({
      R"({"choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}})",
      R"({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":2,"completion_tokens":2,"total_tokens":4}})",
  });
  ASSERT_EQ(kinds(events),
            (std::vector<Kind>{Kind::kStart, Kind::kTextDelta, Kind::kFinish, Kind::kUsage}));
  EXPECT_EQ(events[3].usage.completion_tokens, 2);

  auto openai = decode_all({
      R"({"choices":[{"index":0,"delta":{"content":"a"}}],"usage":null})",
      R"({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null})",
      R"({"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3,"prompt_tokens_details":{"cached_tokens":0}}})",
  });
  ASSERT_EQ(kinds(openai),
            (std::vector<Kind>{Kind::kStart, Kind::kTextDelta, Kind::kFinish, Kind::kUsage}));
  EXPECT_EQ(openai[3].usage.cached_tokens, 0);
}

TEST(OpenAIStreamDecoder, ErrorChunkBecomesAnErrorEvent) {
  OpenAIStreamDecoder huge;
  std::vector<ChatEvent> huge_events;
  ASSERT_TRUE(
      huge.decode(R"({"error":{"message":")" + std::string(100000, 'x') + R"("}})", huge_events)
          .ok());
  ASSERT_EQ(huge_events.size(), 1u);
  EXPECT_LT(huge_events[0].error.message.size(), 1100u);

  OpenAIStreamDecoder decoder;
  std::vector<ChatEvent> events;
  ASSERT_TRUE(decoder.decode(R"({"choices":[{"delta":{"content":"a"}}]})", events).ok());
  ASSERT_TRUE(
      decoder.decode(R"({"error":{"message":"overloaded","type":"server_error"}})", events).ok());
  decoder.finish(events);  // no Finish after an error
  ASSERT_EQ(kinds(events), (std::vector<Kind>{Kind::kStart, Kind::kTextDelta, Kind::kError}));
  EXPECT_EQ(events[2].error.code, ErrorCode::kBadGateway);
  EXPECT_NE(events[2].error.message.find("overloaded"), std::string::npos);
}

TEST(OpenAIStreamDecoder, GarbageIsAnErrorStatus) {
  const char* chunks[] = {
      "",
      "not json",
      "{\"choices\":[",
      "42",
      R"({"choices":{}})",
      R"({"choices":[1]})",
      R"({"choices":[{"delta":"x"}]})",
      R"({"choices":[{"delta":{"content":7}}]})",
      R"({"choices":[{"delta":{"tool_calls":{}}}]})",
      R"({"choices":[{"delta":{"tool_calls":[1]}}]})",
      R"({"choices":[{"delta":{"tool_calls":[{"index":-1}]}}]})",
      R"({"choices":[{"delta":{"tool_calls":[{"index":1000000000}]}}]})",
      R"({"choices":[{"delta":{"tool_calls":[{"index":"0"}]}}]})",
      R"({"choices":[{"delta":{"tool_calls":[{"index":0,"function":"f"}]}}]})",
      R"({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":1}}]}}]})",
      R"({"choices":[],"usage":{"prompt_tokens":"x"}})",
  };
  for (const char* chunk : chunks) {
    OpenAIStreamDecoder decoder;
    std::vector<ChatEvent> events;
    Status status = decoder.decode(chunk, events);
    ASSERT_FALSE(status.ok()) << chunk;
    EXPECT_EQ(status.error().code, ErrorCode::kBadGateway);
    EXPECT_TRUE(events.empty()) << chunk;  // nothing half-emitted from a bad chunk
  }
  OpenAIStreamDecoder decoder;
  std::vector<ChatEvent> events;
  std::string deep = "{\"a\":" + std::string(300, '[') + std::string(300, ']') + "}";
  EXPECT_FALSE(decoder.decode(deep, events).ok());
}

TEST(OpenAIStreamDecoder, OnlyTheFirstChoiceCounts) {
  auto events = decode_all({
      R"({"choices":[{"index":1,"delta":{"content":"other"}},{"index":0,"delta":{"content":"mine"}}]})",
  });
  ASSERT_EQ(kinds(events), (std::vector<Kind>{Kind::kStart, Kind::kTextDelta, Kind::kFinish}));
  EXPECT_EQ(events[1].text, "mine");
}

// ---- chat_response_to_wire -----------------------------------------------------------------

TEST(OpenAIResponseToWire, TextResponse) {
  ChatResponse response;
  response.id = "chatcmpl-9";
  response.model = "smart";
  response.created = 123;
  response.message.role = Role::kAssistant;
  response.message.content.push_back({ContentPart::Type::kText, "Hello", "", "", nullptr});
  response.finish = FinishReason::kStop;
  response.usage = {7, 2, 9, std::nullopt, true, std::nullopt};
  EXPECT_EQ(chat_response_to_wire(response), Json::parse(R"({
    "id": "chatcmpl-9", "object": "chat.completion", "created": 123, "model": "smart",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello", "refusal": null},
                 "finish_reason": "stop", "logprobs": null}],
    "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}})"));
}

TEST(OpenAIResponseToWire, ToolCallsOnlyHaveNullContent) {
  ChatResponse response;
  response.message.tool_calls.push_back({"call_1", "f", "{\"a\":1}"});
  response.usage.cached_tokens = 5;
  Json wire = chat_response_to_wire(response);
  const Json& message = wire["choices"][0]["message"];
  EXPECT_TRUE(message["content"].is_null());
  EXPECT_EQ(message["tool_calls"], Json::parse(R"([{"id":"call_1","type":"function",
    "function":{"name":"f","arguments":"{\"a\":1}"}}])"));
  // kNone with tool calls reads as tool_calls.
  EXPECT_EQ(wire["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(wire["usage"]["prompt_tokens_details"], Json({{"cached_tokens", 5}}));
}

TEST(OpenAIResponseToWire, EmptyAnswerStillHasTheRequiredFields) {
  ChatResponse response;
  response.finish = FinishReason::kError;  // not an OpenAI finish reason
  Json wire = chat_response_to_wire(response);
  EXPECT_EQ(wire["choices"][0]["message"]["content"], "");
  EXPECT_EQ(wire["choices"][0]["finish_reason"], "stop");
  EXPECT_FALSE(wire["choices"][0]["message"].contains("tool_calls"));
  EXPECT_EQ(wire["usage"]["total_tokens"], 0);
}

// ---- OpenAIStreamEncoder -------------------------------------------------------------------

Json chunk_delta(const Json& chunk) { return chunk["choices"][0]["delta"]; }

TEST(OpenAIStreamEncoder, OpenAIsChunkSequence) {
  OpenAIStreamEncoder encoder("chatcmpl-1", "smart", 99, /*include_usage=*/true);
  std::vector<Json> chunks;
  encoder.encode(ChatEvent::start("upstream-id", "upstream-model"), chunks);
  encoder.encode(ChatEvent::text_delta("Hi"), chunks);
  encoder.encode(ChatEvent::text_delta(""), chunks);  // nothing
  encoder.encode(ChatEvent::finished(FinishReason::kStop), chunks);
  encoder.encode(ChatEvent::usage_event(Usage{3, 1, 4, std::nullopt, true, std::nullopt}), chunks);
  encoder.encode(ChatEvent::failure(Error(ErrorCode::kBadGateway, "x")), chunks);  // nothing
  ASSERT_EQ(chunks.size(), 4u);
  for (const auto& chunk : chunks) {
    EXPECT_EQ(chunk["id"], "chatcmpl-1");  // keel's id and public model, not the upstream's
    EXPECT_EQ(chunk["model"], "smart");
    EXPECT_EQ(chunk["created"], 99);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    EXPECT_TRUE(chunk.contains("usage"));
  }
  EXPECT_EQ(chunk_delta(chunks[0]),
            Json::parse(R"({"role":"assistant","content":"","refusal":null})"));
  EXPECT_TRUE(chunks[0]["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(chunks[0]["usage"].is_null());
  EXPECT_EQ(chunk_delta(chunks[1]), Json({{"content", "Hi"}}));
  EXPECT_EQ(chunk_delta(chunks[2]), Json::object());
  EXPECT_EQ(chunks[2]["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(chunks[3]["choices"], Json::array());
  EXPECT_EQ(chunks[3]["usage"],
            Json::parse(R"({"prompt_tokens":3,"completion_tokens":1,"total_tokens":4})"));
}

TEST(OpenAIStreamEncoder, RoleGoesFirstEvenWithoutStart) {
  OpenAIStreamEncoder encoder("id", "m", 1, /*include_usage=*/false);
  std::vector<Json> chunks;
  encoder.encode(ChatEvent::tool_call_start(0, "call_1", "f"), chunks);
  encoder.encode(ChatEvent::tool_args_delta(0, "{}"), chunks);
  encoder.encode(ChatEvent::start(), chunks);  // late or repeated: no second role chunk
  encoder.encode(ChatEvent::usage_event(Usage{}), chunks);  // not asked for: nothing
  encoder.encode(ChatEvent::finished(FinishReason::kToolCalls), chunks);
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_EQ(chunk_delta(chunks[0])["role"], "assistant");
  EXPECT_EQ(chunk_delta(chunks[1]), Json::parse(R"({"tool_calls":[{"index":0,"id":"call_1",
    "type":"function","function":{"name":"f","arguments":""}}]})"));
  EXPECT_EQ(chunk_delta(chunks[2]),
            Json::parse(R"({"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]})"));
  EXPECT_EQ(chunks[3]["choices"][0]["finish_reason"], "tool_calls");
  for (const auto& chunk : chunks) EXPECT_FALSE(chunk.contains("usage"));

  // A stream that finishes with nothing still opens with the role (SDKs insist on it).
  OpenAIStreamEncoder bare("id", "m", 1, false);
  std::vector<Json> bare_chunks;
  bare.encode(ChatEvent::finished(FinishReason::kNone), bare_chunks);
  ASSERT_EQ(bare_chunks.size(), 2u);
  EXPECT_EQ(chunk_delta(bare_chunks[0])["role"], "assistant");
  EXPECT_EQ(bare_chunks[1]["choices"][0]["finish_reason"], "stop");
}

// ---- embeddings ----------------------------------------------------------------------------

TEST(OpenAIEmbeddings, FromWireFloatsOrderedByIndex) {
  auto embeddings = embeddings_from_wire(R"({"object":"list","data":[
      {"object":"embedding","index":1,"embedding":[0.5,-1]},
      {"object":"embedding","index":0,"embedding":[1,2.25]}],
    "model":"text-embedding-3-small","usage":{"prompt_tokens":4,"total_tokens":4}})");
  ASSERT_TRUE(embeddings.ok()) << embeddings.error().message;
  ASSERT_EQ(embeddings->vectors.size(), 2u);
  EXPECT_EQ(embeddings->vectors[0], (std::vector<float>{1.0f, 2.25f}));
  EXPECT_EQ(embeddings->vectors[1], (std::vector<float>{0.5f, -1.0f}));
  EXPECT_EQ(embeddings->model, "text-embedding-3-small");
  EXPECT_EQ(embeddings->usage.prompt_tokens, 4);
  EXPECT_EQ(embeddings->usage.total_tokens, 4);
}

TEST(OpenAIEmbeddings, Base64RoundTrip) {
  Embeddings embeddings;
  embeddings.vectors = {{1.0f, -2.5f, 0.1f}, {}, {3.0e-8f}};
  embeddings.model = "e";
  embeddings.usage = {6, 0, 6, std::nullopt, true, std::nullopt};
  Json wire = embeddings_to_wire(embeddings, /*base64=*/true);
  // 1.0f, -2.5f, 0.1f as little-endian float32.
  EXPECT_EQ(wire["data"][0]["embedding"], "AACAPwAAIMDNzMw9");
  EXPECT_EQ(wire["data"][1]["embedding"], "");
  auto back = embeddings_from_wire(wire.dump());
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->vectors, embeddings.vectors);
  EXPECT_EQ(back->usage.total_tokens, 6);
}

TEST(OpenAIEmbeddings, ToWireFloatsAreShort) {
  Embeddings embeddings;
  embeddings.vectors = {{0.1f, -0.0023064255f, 1.0f}};
  embeddings.model = "e";
  embeddings.usage = {2, 0, 2, std::nullopt, true, std::nullopt};
  EXPECT_EQ(embeddings_to_wire(embeddings, false).dump(),
            R"({"object":"list","data":[{"object":"embedding","index":0,)"
            R"("embedding":[0.1,-0.0023064255,1.0]}],"model":"e",)"
            R"("usage":{"prompt_tokens":2,"total_tokens":2}})");
}

TEST(OpenAIEmbeddings, GarbageIsBadGateway) {
  const char* bodies[] = {
      "oops",
      "[]",
      R"({"object":"list"})",
      R"({"data":{}})",
      R"({"data":[1]})",
      R"({"data":[{"index":0}]})",
      R"({"data":[{"index":0,"embedding":["a"]}]})",
      R"({"data":[{"index":0,"embedding":"!!!"}]})",
      R"({"data":[{"index":0,"embedding":"AAA="}]})",  // 2 bytes: not float32
      R"({"data":[{"index":0,"embedding":true}]})",
      R"({"data":[{"index":3,"embedding":[1]}]})",
      R"({"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]})",
      R"({"data":[{"index":-1,"embedding":[1]}]})",
      R"({"data":[],"usage":{"prompt_tokens":[]}})",
      R"({"error":{"message":"bad key"}})",
  };
  for (const char* body : bodies) {
    auto embeddings = embeddings_from_wire(body);
    ASSERT_FALSE(embeddings.ok()) << body;
    EXPECT_EQ(embeddings.error().code, ErrorCode::kBadGateway) << body;
  }
  auto error = embeddings_from_wire(R"({"error":{"message":"bad key"}})");
  EXPECT_NE(error.error().message.find("bad key"), std::string::npos);
}

TEST(OpenAIModels, ListShape) {
  EXPECT_EQ(models_to_wire({"smart", "local"}, 42), Json::parse(R"({"object":"list","data":[
    {"id":"smart","object":"model","created":42,"owned_by":"keel"},
    {"id":"local","object":"model","created":42,"owned_by":"keel"}]})"));
  EXPECT_EQ(models_to_wire({}, 42), Json::parse(R"({"object":"list","data":[]})"));
}

// ---- errors --------------------------------------------------------------------------------

TEST(OpenAIErrors, StatusForEveryCode) {
  EXPECT_EQ(http_status_for(ErrorCode::kInvalidArgument), 400);
  EXPECT_EQ(http_status_for(ErrorCode::kUnauthenticated), 401);
  EXPECT_EQ(http_status_for(ErrorCode::kPermissionDenied), 403);
  EXPECT_EQ(http_status_for(ErrorCode::kNotFound), 404);
  EXPECT_EQ(http_status_for(ErrorCode::kPayloadTooLarge), 413);
  EXPECT_EQ(http_status_for(ErrorCode::kUnsupportedMedia), 415);
  EXPECT_EQ(http_status_for(ErrorCode::kResourceExhausted), 429);
  EXPECT_EQ(http_status_for(ErrorCode::kInternal), 500);
  EXPECT_EQ(http_status_for(ErrorCode::kBadGateway), 502);
  EXPECT_EQ(http_status_for(ErrorCode::kUnavailable), 503);
  EXPECT_EQ(http_status_for(ErrorCode::kDeadlineExceeded), 504);
  EXPECT_EQ(http_status_for(ErrorCode::kCancelled), 499);
}

TEST(OpenAIErrors, ErrorBodyShape) {
  Error bad(ErrorCode::kInvalidArgument, "temperature must be a number, got a string");
  bad.param = "temperature";
  EXPECT_EQ(error_to_wire(bad), Json::parse(R"({"error":{
    "message":"temperature must be a number, got a string","type":"invalid_request_error",
    "param":"temperature","code":null}})"));

  Error missing(ErrorCode::kNotFound, "The model 'x' does not exist");
  missing.type_code = "model_not_found";
  Json wire = error_to_wire(missing);
  EXPECT_EQ(wire["error"]["type"], "invalid_request_error");
  EXPECT_EQ(wire["error"]["code"], "model_not_found");
  EXPECT_TRUE(wire["error"]["param"].is_null());

  struct Expect {
    ErrorCode code;
    const char* type;
    Json code_value;
  };
  const Expect expectations[] = {
      {ErrorCode::kUnauthenticated, "authentication_error", "invalid_api_key"},
      {ErrorCode::kPermissionDenied, "permission_error", nullptr},
      {ErrorCode::kPayloadTooLarge, "invalid_request_error", nullptr},
      {ErrorCode::kUnsupportedMedia, "invalid_request_error", nullptr},
      {ErrorCode::kResourceExhausted, "rate_limit_error", "rate_limit_exceeded"},
      {ErrorCode::kInternal, "api_error", nullptr},
      {ErrorCode::kBadGateway, "api_error", nullptr},
      {ErrorCode::kUnavailable, "api_error", nullptr},
      {ErrorCode::kDeadlineExceeded, "api_error", "timeout"},
      {ErrorCode::kCancelled, "api_error", nullptr},
  };
  for (const auto& e : expectations) {
    Json body = error_to_wire(Error(e.code, "m"));
    EXPECT_EQ(body["error"]["type"], e.type) << error_code_name(e.code);
    EXPECT_EQ(body["error"]["code"], e.code_value) << error_code_name(e.code);
    EXPECT_EQ(body["error"]["message"], "m");
  }
  EXPECT_EQ(error_to_wire(Error(ErrorCode::kInternal, ""))["error"]["message"], "internal");
}

TEST(OpenAIErrors, UpstreamErrorMessage) {
  EXPECT_EQ(
      upstream_error_message(
          R"({"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}})"),
      "Incorrect API key provided");
  EXPECT_EQ(upstream_error_message(R"({"error":"quota exceeded"})"), "quota exceeded");
  EXPECT_EQ(upstream_error_message(R"({"object":"error","message":"vLLM says no","code":400})"),
            "vLLM says no");
  EXPECT_EQ(upstream_error_message(R"({"detail":"Not Found"})"), "Not Found");
  EXPECT_EQ(
      upstream_error_message(
          R"([{"error":{"code":400,"message":"Gemini says no","status":"INVALID_ARGUMENT"}}])"),
      "Gemini says no");
  EXPECT_EQ(
      upstream_error_message("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n</html>"),
      "<html> <head><title>502 Bad Gateway</title></head> </html>");
  EXPECT_EQ(upstream_error_message(""), "(empty body)");
  EXPECT_EQ(upstream_error_message("  \n\t "), "(empty body)");
  EXPECT_EQ(upstream_error_message(std::string("bad\0\x01\xff bytes \xc3\xa9", 15)),
            "bad ? bytes \xc3\xa9");
  // Long text is cut on a character boundary.
  std::string long_text;
  for (int i = 0; i < 150; ++i) long_text += "\xc3\xa9";  // 300 bytes of 'é'
  std::string excerpt = upstream_error_message(long_text);
  EXPECT_LE(excerpt.size(), 203u);
  EXPECT_EQ(excerpt.substr(excerpt.size() - 3), "...");
  EXPECT_NO_THROW((void)Json(excerpt).dump());
  // A huge JSON message is capped too, and stays valid UTF-8.
  std::string huge =
      R"({"error":{"message":")" + long_text + long_text + long_text + long_text + R"("}})";
  std::string capped = upstream_error_message(huge);
  EXPECT_LE(capped.size(), 1003u);
  EXPECT_NO_THROW((void)Json(capped).dump());
  // No recognised message: an excerpt of the body.
  EXPECT_EQ(upstream_error_message(R"({"error":{"code":"x"}})"), R"({"error":{"code":"x"}})");
}

// ---- nothing throws, whatever the bytes ----------------------------------------------------

TEST(OpenAIRobustness, RandomAndMutatedInputNeverThrows) {
  const std::string seeds[] = {
      R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"https://x"}}]},{"role":"assistant","content":null,"tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"a","content":"1"}],"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"tool_choice":{"type":"function","function":{"name":"f"}},"temperature":1,"max_tokens":5,"stop":["x"],"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{}}},"stream":true,"stream_options":{"include_usage":true}})",
      R"({"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"x","tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{"}}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2,"prompt_tokens_details":{"cached_tokens":1}}})",
      R"({"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":"AACAPw=="}],"model":"e","usage":{"prompt_tokens":1,"total_tokens":1}})",
  };
  std::mt19937 rng(12345);
  const char specials[] = "{}[]\",:0123456789-+.eE\\ntrufalsn\xff\xc3";
  for (const auto& seed : seeds) {
    for (int round = 0; round < 3000; ++round) {
      std::string input = golden_util::mutate(seed, rng, {specials, sizeof specials - 1}, 4, 8);
      EXPECT_NO_THROW({
        auto req = parse_chat_request(input);
        if (req.ok()) (void)chat_request_to_wire(*req, "up").dump();
        if (!req.ok()) (void)error_to_wire(req.error()).dump();
        (void)parse_embed_request(input);
        (void)chat_response_from_wire(input);
        (void)embeddings_from_wire(input);
        (void)Json(upstream_error_message(input)).dump();
        OpenAIStreamDecoder decoder;
        std::vector<ChatEvent> events;
        (void)decoder.decode(input, events);
        decoder.finish(events);
        OpenAIStreamEncoder encoder("id", "m", 1, true);
        std::vector<Json> chunks;
        for (const auto& event : events) encoder.encode(event, chunks);
        for (const auto& chunk : chunks) (void)chunk.dump();
      }) << input;
    }
  }
}

// Found by reading (fuzz/regressions/openai_response/): prompt + completion overflowed int64
// when an upstream omits total_tokens and sends huge counts.
TEST(OpenAIResponseRegression, HugeUsageCountsDoNotOverflow) {
  auto events = chat_response_from_wire(
      R"({"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,)"
      R"("message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],)"
      R"("usage":{"prompt_tokens":9223372036854775807,"completion_tokens":1}})");
  ASSERT_TRUE(events.ok()) << events.error().message;
  bool saw_usage = false;
  for (const auto& event : *events) {
    if (event.kind != ChatEvent::Kind::kUsage) continue;
    saw_usage = true;
    EXPECT_GE(event.usage.total_tokens, event.usage.prompt_tokens);
    EXPECT_GT(event.usage.total_tokens, 0);
  }
  EXPECT_TRUE(saw_usage);
}

// encode_text's chunks, collected (each view is valid only during its callback).
std::vector<std::string> text_chunks(OpenAIStreamEncoder& encoder, const ChatEvent& event) {
  std::vector<std::string> chunks;
  encoder.encode_text(event, [&chunks](std::string_view chunk) { chunks.emplace_back(chunk); });
  return chunks;
}

// encode_text writes the hot chunks directly; it must give exactly the bytes of dump(encode()).
TEST(OpenAIStreamEncoder, EncodeTextIsDumpOfEncode) {
  const std::vector<std::string> texts = {
      "Hello", " world.", "quote \" backslash \\ slash /", "tab\tnewline\ncr\rbell\x07 del\x7f",
      "\x01\x1f\b\f", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "bad \xff utf8", "cut \xe2\x82",
      "overlong \xc0\xaf", "surrogate \xed\xa0\x80", ""};
  for (bool include_usage : {false, true}) {
    for (const std::string& model : {std::string("smart"), std::string("m\xc3\xa9\"x"),
                                     std::string("bad\xfe")}) {
      OpenAIStreamEncoder json_encoder("chatcmpl-1", model, 1700000000, include_usage);
      OpenAIStreamEncoder text_encoder("chatcmpl-1", model, 1700000000, include_usage);
      std::vector<ChatEvent> events = {ChatEvent::start("up", "m")};
      for (const auto& text : texts) events.push_back(ChatEvent::text_delta(text));
      events.push_back(ChatEvent::tool_call_start(0, "call_1", "get\nweather"));
      events.push_back(ChatEvent::tool_args_delta(0, "{\"city\":\"Paris\"}"));
      events.push_back(ChatEvent::finished(FinishReason::kToolCalls));
      events.push_back(ChatEvent::finished(FinishReason::kNone));
      Usage usage;
      usage.prompt_tokens = 8;
      usage.completion_tokens = 6;
      usage.total_tokens = 14;
      usage.cached_tokens = 2;
      events.push_back(ChatEvent::usage_event(usage));
      for (const auto& event : events) {
        std::vector<Json> chunks;
        json_encoder.encode(event, chunks);
        std::vector<std::string> expected;
        for (const auto& chunk : chunks)
          expected.push_back(chunk.dump(-1, ' ', false, Json::error_handler_t::replace));
        std::vector<std::string> got = text_chunks(text_encoder, event);
        EXPECT_EQ(got, expected) << "event kind " << static_cast<int>(event.kind) << " text '"
                                 << event.text << "'";
      }
    }
  }
}

// A stream whose first event is text (no Start) still gets the role chunk first.
TEST(OpenAIStreamEncoder, EncodeTextSendsRoleBeforeFirstText) {
  OpenAIStreamEncoder encoder("chatcmpl-1", "smart", 1, false);
  std::vector<std::string> out = text_chunks(encoder, ChatEvent::text_delta("Hi"));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(
      out[0],
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"smart","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]})");
  EXPECT_EQ(
      out[1],
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"smart","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}]})");
}

}  // namespace
}  // namespace keel
