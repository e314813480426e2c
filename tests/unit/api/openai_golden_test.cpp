// Golden tests for the OpenAI wire format: recorded wire pairs in tests/golden/openai/ drive
// the conversions (see tests/golden/README.md for the file kinds and where each format comes
// from). Every client-facing output is also checked against OpenAI's published OpenAPI schemas
// when ../shared/specs/openai-openapi.yaml is present.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "api/openai_chat/openai_chat.h"
#include "golden_util.h"
#include "openapi_schema.h"

namespace keel {
namespace {

namespace fs = std::filesystem;

const fs::path kGoldenDir = golden_util::golden_dir("openai");

using namespace golden_util;

std::vector<std::string> cases_with(const std::string& kind) {
  return golden_util::cases_with(kGoldenDir, kind);
}

fs::path golden(const std::string& name, const std::string& kind) {
  return kGoldenDir / (name + "." + kind);
}


// ---- requests ------------------------------------------------------------------------------

TEST(OpenAIGolden, RequestsRoundTripToUpstream) {
  auto names = cases_with("request.json");
  ASSERT_GE(names.size(), 15u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    std::string body = read_text(golden(name, "request.json"));
    auto req = parse_chat_request(body);
    ASSERT_TRUE(req.ok()) << req.error().message << " (param " << req.error().param << ")";
    Json wire = chat_request_to_wire(*req, kUpstreamModel);
    Json expected = read_json(golden(name, "upstream.json"));
    EXPECT_EQ(by_value(wire), by_value(expected)) << "got:\n" << wire.dump(2);
    // Converting again from the upstream body is stable (a fixed point).
    auto again = parse_chat_request(wire.dump());
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ(by_value(chat_request_to_wire(*again, kUpstreamModel)), by_value(expected));
  }
}

// ---- non-streamed responses ----------------------------------------------------------------

TEST(OpenAIGolden, ResponsesDecodeAndReencode) {
  auto names = cases_with("upstream_response.json");
  ASSERT_GE(names.size(), 4u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto events = chat_response_from_wire(read_text(golden(name, "upstream_response.json")));
    ASSERT_TRUE(events.ok()) << events.error().message;
    Json expected_events = Json(read_jsonl(golden(name, "events.jsonl")));
    EXPECT_EQ(events_to_json(*events), expected_events) << "got:\n"
                                                        << events_to_json(*events).dump(1);

    Json wire = golden_util::aggregate_to_wire(*events, kResponseId, kPublicModel, kCreated);
    EXPECT_EQ(by_value(wire), by_value(read_json(golden(name, "response.json")))) << "got:\n"
                                                                                  << wire.dump(2);
  }
}

// ---- streams -------------------------------------------------------------------------------

TEST(OpenAIGolden, StreamsDecodeAndReencode) {
  auto names = cases_with("upstream.sse");
  ASSERT_GE(names.size(), 4u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    OpenAIStreamDecoder decoder;
    std::vector<ChatEvent> events;
    for (const auto& payload : sse_payloads(read_text(golden(name, "upstream.sse")))) {
      if (payload == "[DONE]") {
        decoder.finish(events);
        continue;
      }
      Status status = decoder.decode(payload, events);
      ASSERT_TRUE(status.ok()) << status.error().message;
    }
    Json expected_events = Json(read_jsonl(golden(name, "events.jsonl")));
    EXPECT_EQ(events_to_json(events), expected_events) << "got:\n"
                                                       << events_to_json(events).dump(1);

    auto req = parse_chat_request(read_text(golden(name, "request.json")));
    ASSERT_TRUE(req.ok());
    OpenAIStreamEncoder encoder(kResponseId, kPublicModel, kCreated, req->include_usage);
    std::vector<Json> chunks;
    for (const auto& event : events) encoder.encode(event, chunks);
    EXPECT_EQ(by_value(Json(chunks)), by_value(Json(read_jsonl(golden(name, "chunks.jsonl")))))
        << "got:\n"
        << Json(chunks).dump(1);
  }
}

// ---- the goldens and keel's outputs against OpenAI's published schemas ---------------------

TEST(OpenAIGolden, MatchOpenApiSchemas) {
  const SchemaChecker* schemas = openai_schemas();
  if (!schemas) GTEST_SKIP() << "no OpenAPI spec at " << kSpecPath;

  for (const auto& name : cases_with("request.json")) {
    SCOPED_TRACE(name);
    EXPECT_SCHEMA(schemas, read_json(golden(name, "request.json")), "CreateChatCompletionRequest");
    EXPECT_SCHEMA(schemas, read_json(golden(name, "upstream.json")), "CreateChatCompletionRequest");
  }
  for (const auto& name : cases_with("upstream_response.json")) {
    SCOPED_TRACE(name);
    EXPECT_SCHEMA(schemas, read_json(golden(name, "upstream_response.json")),
                  "CreateChatCompletionResponse");
    EXPECT_SCHEMA(schemas, read_json(golden(name, "response.json")),
                  "CreateChatCompletionResponse");
  }
  for (const auto& name : cases_with("upstream.sse")) {
    SCOPED_TRACE(name);
    for (const auto& payload : sse_payloads(read_text(golden(name, "upstream.sse")))) {
      if (payload == "[DONE]") continue;
      Json chunk = Json::parse(payload);
      if (chunk.contains("error")) {
        EXPECT_SCHEMA(schemas, chunk, "ErrorResponse");
      } else {
        EXPECT_SCHEMA(schemas, chunk, "CreateChatCompletionStreamResponse");
      }
    }
    for (const auto& chunk : read_jsonl(golden(name, "chunks.jsonl"))) {
      EXPECT_SCHEMA(schemas, chunk, "CreateChatCompletionStreamResponse");
    }
  }
}

// The checker itself must reject what the schemas forbid, or the tests above prove nothing.
TEST(OpenAIGolden, SchemaCheckerCatchesMistakes) {
  const SchemaChecker* schemas = openai_schemas();
  if (!schemas) GTEST_SKIP() << "no OpenAPI spec at " << kSpecPath;
  Json chunk = read_jsonl(golden("stream_text_usage", "chunks.jsonl")).front();
  EXPECT_TRUE(schemas->check(chunk, "CreateChatCompletionStreamResponse").empty());
  Json bad = chunk;
  bad.erase("id");
  EXPECT_FALSE(schemas->check(bad, "CreateChatCompletionStreamResponse").empty());
  bad = chunk;
  bad["choices"][0]["finish_reason"] = "error";
  EXPECT_FALSE(schemas->check(bad, "CreateChatCompletionStreamResponse").empty());
  bad = chunk;
  bad["choices"][0]["delta"]["tool_calls"] = Json::array({{{"id", "x"}}});  // no index
  EXPECT_FALSE(schemas->check(bad, "CreateChatCompletionStreamResponse").empty());

  Json request = read_json(golden("images", "request.json"));
  EXPECT_TRUE(schemas->check(request, "CreateChatCompletionRequest").empty());
  request["messages"][0]["content"][1]["type"] = "input_audio";
  EXPECT_FALSE(schemas->check(request, "CreateChatCompletionRequest").empty());
  request = read_json(golden("text_basic", "request.json"));
  request["messages"] = Json::array();
  EXPECT_FALSE(schemas->check(request, "CreateChatCompletionRequest").empty());

  Json response = read_json(golden("text_basic", "response.json"));
  response["choices"][0]["message"].erase("refusal");
  EXPECT_FALSE(schemas->check(response, "CreateChatCompletionResponse").empty());
  EXPECT_FALSE(schemas->check({{"error", {{"message", "m"}}}}, "ErrorResponse").empty());
}

TEST(OpenAIGolden, EncodersMatchOpenApiSchemas) {
  const SchemaChecker* schemas = openai_schemas();
  if (!schemas) GTEST_SKIP() << "no OpenAPI spec at " << kSpecPath;

  // Every finish reason and odd shape the encoders can produce.
  for (FinishReason finish :
       {FinishReason::kNone, FinishReason::kStop, FinishReason::kLength, FinishReason::kToolCalls,
        FinishReason::kContentFilter, FinishReason::kError}) {
    ChatResponse response;
    response.id = "chatcmpl-1";
    response.model = "m";
    response.finish = finish;
    EXPECT_SCHEMA(schemas, chat_response_to_wire(response), "CreateChatCompletionResponse");
    response.message.tool_calls.push_back({"call_1", "f", "{}"});
    response.usage.cached_tokens = 3;
    EXPECT_SCHEMA(schemas, chat_response_to_wire(response), "CreateChatCompletionResponse");

    for (bool include_usage : {false, true}) {
      OpenAIStreamEncoder encoder("chatcmpl-1", "m", 1, include_usage);
      std::vector<Json> chunks;
      encoder.encode(ChatEvent::text_delta("x"), chunks);
      encoder.encode(ChatEvent::tool_call_start(0, "call_1", "f"), chunks);
      encoder.encode(ChatEvent::tool_args_delta(0, "{}"), chunks);
      encoder.encode(ChatEvent::finished(finish), chunks);
      encoder.encode(ChatEvent::usage_event(Usage{1, 2, 3, 0, true, std::nullopt}), chunks);
      for (const auto& chunk : chunks) {
        EXPECT_SCHEMA(schemas, chunk, "CreateChatCompletionStreamResponse");
      }
    }
  }

  Embeddings embeddings;
  embeddings.vectors = {{0.5f, -1.25f}, {0.1f, 0.2f}};
  embeddings.model = "text-embedding-3-small";
  EXPECT_SCHEMA(schemas, embeddings_to_wire(embeddings, false), "CreateEmbeddingResponse");
  EXPECT_SCHEMA(schemas, models_to_wire({"smart", "local"}, 1700000000), "ListModelsResponse");
  for (ErrorCode code :
       {ErrorCode::kInvalidArgument, ErrorCode::kUnauthenticated, ErrorCode::kNotFound,
        ErrorCode::kResourceExhausted, ErrorCode::kBadGateway, ErrorCode::kDeadlineExceeded}) {
    Error error(code, "message");
    EXPECT_SCHEMA(schemas, error_to_wire(error), "ErrorResponse");
    error.param = "messages";
    error.type_code = "model_not_found";
    EXPECT_SCHEMA(schemas, error_to_wire(error), "ErrorResponse");
  }
}

}  // namespace
}  // namespace keel
