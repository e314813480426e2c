// OpenAI's legacy text completions (POST /v1/completions): parse_completion_request, what it
// refuses, and the text_completion objects written back, whole and streamed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api/openai_chat/openai_chat.h"

namespace keel {
namespace {

Usage counts(int64_t prompt, int64_t completion) {
  Usage usage;
  usage.prompt_tokens = prompt;
  usage.completion_tokens = completion;
  usage.total_tokens = prompt + completion;
  usage.present = true;
  return usage;
}

TEST(CompletionRequest, PromptBecomesOneRawUserMessage) {
  auto req = parse_completion_request(
      R"({"model":"m","prompt":"Once upon a time","temperature":0,"top_p":0.5,"stop":"\n",)"
      R"("seed":7,"presence_penalty":1,"frequency_penalty":-1,"user":"u","stream":true,)"
      R"("stream_options":{"include_usage":true},"max_tokens":30})");
  ASSERT_TRUE(req.ok()) << req.error().message;
  EXPECT_EQ(req->model, "m");
  EXPECT_TRUE(req->raw_prompt);
  ASSERT_EQ(req->messages.size(), 1u);
  EXPECT_EQ(req->messages[0].role, Role::kUser);
  EXPECT_EQ(req->messages[0].text(), "Once upon a time");
  EXPECT_EQ(req->sampling.temperature, 0.0);
  EXPECT_EQ(req->sampling.top_p, 0.5);
  EXPECT_EQ(req->sampling.stop, std::vector<std::string>{"\n"});
  EXPECT_EQ(req->sampling.seed, 7);
  EXPECT_EQ(req->sampling.presence_penalty, 1.0);
  EXPECT_EQ(req->sampling.frequency_penalty, -1.0);
  EXPECT_EQ(req->sampling.max_tokens, 30);
  EXPECT_EQ(req->user, "u");
  EXPECT_TRUE(req->stream);
  EXPECT_TRUE(req->include_usage);
  EXPECT_TRUE(req->passthrough.empty()) << req->passthrough.dump();
}

TEST(CompletionRequest, DefaultsAndHarmlessValues) {
  // Prompt flow's basic example (hello.py) sends every parameter, most at their defaults.
  auto req = parse_completion_request(
      R"({"model":"m","prompt":["x"],"suffix":null,"n":1,"logprobs":null,"echo":false,)"
      R"("stop":null,"best_of":1,"logit_bias":{},"user":"","max_tokens":null})");
  ASSERT_TRUE(req.ok()) << req.error().message;
  EXPECT_EQ(req->messages[0].text(), "x");
  EXPECT_EQ(req->sampling.max_tokens, 16);
  EXPECT_FALSE(req->stream);
  EXPECT_TRUE(req->passthrough.empty()) << req->passthrough.dump();
}

TEST(CompletionRequest, LogitBiasAndUnknownFieldsPassThrough) {
  auto req = parse_completion_request(
      R"({"model":"m","prompt":"x","logit_bias":{"50256":-100},"metadata":{"a":"b"}})");
  ASSERT_TRUE(req.ok()) << req.error().message;
  EXPECT_EQ(req->passthrough.dump(), R"({"logit_bias":{"50256":-100},"metadata":{"a":"b"}})");
}

struct Refused {
  const char* body;
  const char* param;
  const char* message;  // a substring
};

TEST(CompletionRequest, RefusesWhatNoTargetHonours) {
  const Refused cases[] = {
      {R"({"model":"m"})", "prompt", "prompt is required"},
      {R"({"model":"m","prompt":null})", "prompt", "prompt is required"},
      {R"({"model":"m","prompt":[1,2]})", "prompt", "token ids"},
      {R"({"model":"m","prompt":[[1],[2]]})", "prompt", "token ids"},
      {R"({"model":"m","prompt":["a","b"]})", "prompt", "more than one string"},
      {R"({"model":"m","prompt":[]})", "prompt", "empty"},
      {R"({"model":"m","prompt":[true]})", "prompt[0]", "a string"},
      {R"({"model":"m","prompt":{}})", "prompt", "a string"},
      {R"({"model":"m","prompt":"x","n":2})", "n", "n > 1"},
      {R"({"model":"m","prompt":"x","n":0})", "n", "at least 1"},
      {R"({"model":"m","prompt":"x","best_of":2})", "best_of", "best_of > 1"},
      {R"({"model":"m","prompt":"x","echo":true})", "echo", "echo"},
      {R"({"model":"m","prompt":"x","echo":"yes"})", "echo", "a boolean"},
      {R"({"model":"m","prompt":"x","logprobs":0})", "logprobs", "not supported"},
      {R"({"model":"m","prompt":"x","logprobs":"5"})", "logprobs", "an integer"},
      {R"({"model":"m","prompt":"x","suffix":"}"})", "suffix", "fill in the middle"},
      {R"({"model":"m","prompt":"x","max_tokens":0})", "max_tokens", "positive"},
      {R"({"model":"m","prompt":"x","logit_bias":[1]})", "logit_bias", "an object"},
      {R"({"model":"m","prompt":"x","stop":[1]})", "stop[0]", "a string"},
      {R"({"model":"m","prompt":"x","stream_options":1})", "stream_options", "an object"},
      {R"({"prompt":"x"})", "model", "model is required"},
      {R"([1])", "", "JSON object"},
      {R"({"model":"m","prompt":"x")", "", ""},
  };
  for (const auto& c : cases) {
    auto req = parse_completion_request(c.body);
    ASSERT_FALSE(req.ok()) << c.body;
    EXPECT_EQ(req.error().code, ErrorCode::kInvalidArgument) << c.body;
    EXPECT_EQ(req.error().param, c.param) << c.body << ": " << req.error().message;
    EXPECT_NE(req.error().message.find(c.message), std::string::npos)
        << c.body << ": " << req.error().message;
  }
}

TEST(CompletionResponse, WholeAnswer) {
  ChatResponse resp;
  resp.id = "cmpl-1";
  resp.model = "m";
  resp.created = 1700000000;
  resp.message.role = Role::kAssistant;
  ContentPart part;
  part.text = ", there was";
  resp.message.content.push_back(part);
  resp.finish = FinishReason::kLength;
  resp.usage = counts(4, 3);
  EXPECT_EQ(
      completion_response_to_wire(resp).dump(),
      R"({"id":"cmpl-1","object":"text_completion","created":1700000000,"model":"m",)"
      R"("choices":[{"text":", there was","index":0,"logprobs":null,"finish_reason":"length"}],)"
      R"("usage":{"prompt_tokens":4,"completion_tokens":3,"total_tokens":7}})");
  resp.finish = FinishReason::kToolCalls;  // no such reason here: a finished text is "stop"
  EXPECT_EQ(completion_response_to_wire(resp)["choices"][0]["finish_reason"], "stop");
}

TEST(CompletionStream, ChunksThenFinishThenUsage) {
  CompletionStreamEncoder encoder("cmpl-1", "m", 1700000000, /*include_usage=*/true);
  std::vector<Json> out;
  encoder.encode(ChatEvent::start("up", "upstream"), out);
  encoder.encode(ChatEvent::text_delta(", there"), out);
  encoder.encode(ChatEvent::text_delta(""), out);
  encoder.encode(ChatEvent::tool_call_start(0, "call_1", "f"), out);
  encoder.encode(ChatEvent::text_delta(" was"), out);
  encoder.encode(ChatEvent::finished(FinishReason::kStop), out);
  encoder.encode(ChatEvent::usage_event(counts(4, 2)), out);
  ASSERT_EQ(out.size(), 4u);
  const char* head =
      R"({"id":"cmpl-1","object":"text_completion","created":1700000000,"model":"m",)";
  EXPECT_EQ(out[0].dump(), std::string(head) +
                               R"("choices":[{"text":", there","index":0,"logprobs":null,)"
                               R"("finish_reason":null}]})");
  EXPECT_EQ(out[1]["choices"][0]["text"], " was");
  EXPECT_EQ(out[2].dump(), std::string(head) + R"("choices":[{"text":"","index":0,"logprobs":null,)"
                                               R"("finish_reason":"stop"}]})");
  EXPECT_EQ(out[3].dump(), std::string(head) +
                               R"("choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2,)"
                               R"("total_tokens":6}})");

  CompletionStreamEncoder quiet("cmpl-2", "m", 0, /*include_usage=*/false);
  out.clear();
  quiet.encode(ChatEvent::usage_event(counts(4, 2)), out);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace keel
