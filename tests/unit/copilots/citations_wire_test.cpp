// Citations as each front door writes them (api/: OpenAI chat, Responses, Anthropic), whole and
// streamed: the shapes the official SDKs type (openai's ChatCompletionMessage.Annotation and
// ResponseOutputText.FileCitation, @anthropic-ai/sdk's CitationCharLocation).
#include <gtest/gtest.h>

#include "api/anthropic/anthropic.h"
#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"
#include "api/responses/responses.h"

namespace keel {
namespace {

Citation sample() {
  Citation citation;
  citation.text_start = 4;
  citation.text_end = 7;
  citation.number = 2;
  citation.knowledge = "handbook";
  citation.source = "docs/vpn.md";
  citation.chunk_id = "vpn-0";
  citation.heading = "VPN > Setup";
  citation.source_start = 100;
  citation.source_end = 180;
  citation.cited_text = "Connect with the VPN client.";
  return citation;
}

std::vector<ChatEvent> cited_answer() {
  return {ChatEvent::start(), ChatEvent::text_delta("VPN [2]"), ChatEvent::cited(sample()),
          ChatEvent::text_delta(" works."), ChatEvent::finished(FinishReason::kStop)};
}

TEST(CitationWire, OpenAIChatAnnotations) {
  const Json expected = {
      {"type", "url_citation"},
      {"url_citation",
       {{"end_index", 7},
        {"start_index", 4},
        {"title", "docs/vpn.md > VPN > Setup"},
        {"url", "knowledge://handbook/docs/vpn.md#chunk=vpn-0&start=100&end=180"}}}};
  EXPECT_EQ(citation_to_openai(sample()), expected);
  ChatAggregator aggregator;
  for (const auto& event : cited_answer()) aggregator.add(event);
  ASSERT_EQ(aggregator.response().message.citations.size(), 1u);
  const Json whole = chat_response_to_wire(aggregator.response());
  EXPECT_EQ(whole["choices"][0]["message"]["annotations"], Json::array({expected}));
  // The direct writer takes the Json path when there are citations.
  EXPECT_EQ(try_parse_json(chat_response_to_wire_text(aggregator.response())).value(), whole);

  // Streamed: held for one chunk just before the finish chunk, in both encoder paths.
  for (bool text_path : {false, true}) {
    OpenAIStreamEncoder encoder("chatcmpl-1", "helpdesk", 1, false);
    std::vector<Json> chunks;
    for (const auto& event : cited_answer()) {
      if (text_path) {
        encoder.encode_text(event, [&](std::string_view chunk) {
          chunks.push_back(try_parse_json(chunk).value());
        });
      } else {
        encoder.encode(event, chunks);
      }
    }
    ASSERT_GE(chunks.size(), 3u);
    const Json& last = chunks.back()["choices"][0];
    EXPECT_EQ(last["finish_reason"], "stop");
    const Json& before = chunks[chunks.size() - 2]["choices"][0];
    EXPECT_EQ(before["delta"]["annotations"], Json::array({expected})) << text_path;
    EXPECT_TRUE(before["finish_reason"].is_null());
  }
}

TEST(CitationWire, AnthropicCharLocation) {
  const Json expected = {{"type", "char_location"}, {"cited_text", "Connect with the VPN client."},
                         {"document_index", 1},     {"document_title", "docs/vpn.md"},
                         {"start_char_index", 100}, {"end_char_index", 180},
                         {"file_id", "vpn-0"}};
  ChatAggregator aggregator;
  for (const auto& event : cited_answer()) aggregator.add(event);
  const Json whole = messages_response_to_wire(aggregator.response(), "helpdesk");
  EXPECT_EQ(whole["content"][0]["text"], "VPN [2] works.");
  EXPECT_EQ(whole["content"][0]["citations"], Json::array({expected}));

  AnthropicStreamEncoder encoder("msg_1", "helpdesk");
  std::vector<AnthropicSseEvent> events;
  for (const auto& event : cited_answer()) encoder.encode(event, events);
  encoder.finish(events);
  int citation_deltas = 0;
  for (const auto& event : events) {
    if (event.name != "content_block_delta" || event.data["delta"]["type"] != "citations_delta") {
      continue;
    }
    ++citation_deltas;
    EXPECT_EQ(event.data["index"], 0);
    EXPECT_EQ(event.data["delta"]["citation"], expected);
  }
  EXPECT_EQ(citation_deltas, 1);
}

TEST(CitationWire, ResponsesFileCitation) {
  ResponsesStreamEncoder encoder(Json{{"id", "resp_1"}, {"output", Json::array()}}, {});
  std::vector<ResponsesEvent> events;
  for (const auto& event : cited_answer()) encoder.encode(event, events);
  encoder.finish(events);
  const Json expected = {
      {"type", "file_citation"}, {"file_id", "vpn-0"}, {"filename", "docs/vpn.md"}, {"index", 4}};
  int added = 0;
  for (const auto& event : events) {
    if (event.type != "response.output_text.annotation.added") continue;
    ++added;
    const Json data = event.json();
    EXPECT_EQ(data["annotation_index"], 0);
    EXPECT_EQ(data["content_index"], 0);
    EXPECT_EQ(data["annotation"], expected);
  }
  EXPECT_EQ(added, 1);
  const Json& part = encoder.response()["output"][0]["content"][0];
  EXPECT_EQ(part["text"], "VPN [2] works.");
  EXPECT_EQ(part["annotations"], Json::array({expected}));
}

TEST(CitationWire, ResponsesIndexIsWithinItsMessage) {
  // Text, a tool call, then a second message: the second message's index counts from its start.
  ResponsesStreamEncoder encoder(Json{{"id", "resp_1"}, {"output", Json::array()}}, {});
  std::vector<ResponsesEvent> events;
  Citation citation = sample();
  citation.text_start = 13;  // "Checking. " is 10 code points, then "OK [2]"
  citation.text_end = 16;
  for (const auto& event : {ChatEvent::start(), ChatEvent::text_delta("Checking. "),
                            ChatEvent::tool_call_start(0, "c", "f"),
                            ChatEvent::tool_args_delta(0, "{}"), ChatEvent::text_delta("OK [2]"),
                            ChatEvent::cited(citation), ChatEvent::finished(FinishReason::kStop)}) {
    encoder.encode(event, events);
  }
  encoder.finish(events);
  const Json& output = encoder.response()["output"];
  ASSERT_EQ(output.size(), 3u);
  EXPECT_EQ(output[2]["content"][0]["annotations"][0]["index"], 3);
}

}  // namespace
}  // namespace keel
