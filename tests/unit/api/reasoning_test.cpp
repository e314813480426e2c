// Reasoning across vendors (docs/dev.md, "Reasoning across vendors"): each front door's knob
// into the native ReasoningConfig and out in each vendor's terms (the effort/budget table), and
// reasoning parts that go back to the vendor that made them and to no other. The byte-for-byte
// wire pairs are goldens (tests/golden/anthropic/*thinking*, tests/golden/responses/
// reasoning_tools); these are the rules between them.
#include <gtest/gtest.h>

#include "api/anthropic/anthropic.h"
#include "api/gemini/gemini.h"
#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"
#include "api/responses/responses.h"

namespace keel {
namespace {

ChatRequest anthropic_request(const std::string& body) {
  auto req = parse_messages_request(body);
  EXPECT_TRUE(req.ok()) << (req ? "" : req.error().message);
  return req ? std::move(*req) : ChatRequest();
}

ChatRequest openai_request(const std::string& body) {
  auto req = parse_chat_request(body);
  EXPECT_TRUE(req.ok()) << (req ? "" : req.error().message);
  return req ? std::move(*req) : ChatRequest();
}

ReasoningPart part(std::string text, std::string signature, const char* vendor) {
  ReasoningPart out;
  out.text = std::move(text);
  out.signature = std::move(signature);
  out.vendor = vendor;
  return out;
}

// A thread of user, assistant (with `reasoning`, text and one call), tool result, user.
ChatRequest thread_with(std::vector<ReasoningPart> reasoning) {
  ChatRequest req = openai_request(
      R"({"model":"m","messages":[{"role":"user","content":"a"},)"
      R"({"role":"assistant","content":"b","tool_calls":[{"id":"call_1","type":"function",)"
      R"("function":{"name":"f","arguments":"{}"}}]},)"
      R"({"role":"tool","tool_call_id":"call_1","content":"r"},{"role":"user","content":"c"}]})");
  req.messages[1].reasoning = std::move(reasoning);
  return req;
}

TEST(ReasoningTable, EffortsAndBudgets) {
  EXPECT_EQ(reasoning_budget_for_effort("minimal"), 1024);
  EXPECT_EQ(reasoning_budget_for_effort("low"), 2048);
  EXPECT_EQ(reasoning_budget_for_effort("medium"), 8192);
  EXPECT_EQ(reasoning_budget_for_effort("high"), 16384);
  EXPECT_EQ(reasoning_budget_for_effort("none"), 0);
  for (const char* effort : {"low", "medium", "high"}) {
    EXPECT_STREQ(reasoning_effort_for_budget(reasoning_budget_for_effort(effort)), effort);
  }
  EXPECT_STREQ(reasoning_effort_for_budget(1024), "low");
  EXPECT_STREQ(reasoning_effort_for_budget(30000), "high");
}

TEST(AnthropicThinking, FrontDoorChecksAsAnthropicDoes) {
  auto refused = [](const std::string& thinking) {
    auto req = parse_messages_request(R"({"model":"m","max_tokens":4096,"thinking":)" + thinking +
                                      R"(,"messages":[{"role":"user","content":"a"}]})");
    EXPECT_FALSE(req.ok()) << thinking;
    return req ? std::string() : req.error().param;
  };
  EXPECT_EQ(refused(R"({"type":"enabled"})"), "thinking.budget_tokens");
  EXPECT_EQ(refused(R"({"type":"enabled","budget_tokens":512})"), "thinking.budget_tokens");
  EXPECT_EQ(refused(R"({"type":"enabled","budget_tokens":4096})"), "thinking.budget_tokens");
  EXPECT_EQ(refused(R"({"type":"enabled","budget_tokens":"many"})"), "thinking.budget_tokens");
  EXPECT_EQ(refused(R"({"type":"sometimes"})"), "thinking.type");
  EXPECT_EQ(refused(R"({"type":"adaptive","display":"loud"})"), "thinking.display");
  EXPECT_EQ(refused(R"("yes")"), "thinking");

  ChatRequest req = anthropic_request(
      R"({"model":"m","max_tokens":4096,"thinking":{"type":"adaptive","display":"omitted"},)"
      R"("messages":[{"role":"user","content":"a"}]})");
  EXPECT_EQ(req.reasoning.mode, ReasoningConfig::Mode::kAdaptive);
  EXPECT_EQ(req.reasoning.summary, "none");
}

TEST(AnthropicThinking, EffortBecomesABudgetBelowMaxTokens) {
  ChatRequest req = openai_request(
      R"({"model":"m","reasoning_effort":"high","messages":[{"role":"user","content":"a"}]})");
  auto wire = chat_request_to_anthropic(req, "claude");
  ASSERT_TRUE(wire.ok()) << wire.error().message;
  EXPECT_EQ((*wire)["thinking"], Json::parse(R"({"type":"enabled","budget_tokens":16384})"));
  EXPECT_EQ((*wire)["max_tokens"], 16384 + kAnthropicDefaultMaxTokens);

  req.sampling.max_tokens = 3000;  // the client's cap wins; the budget shrinks under it
  wire = chat_request_to_anthropic(req, "claude");
  ASSERT_TRUE(wire.ok());
  EXPECT_EQ((*wire)["thinking"]["budget_tokens"], 2999);
  EXPECT_EQ((*wire)["max_tokens"], 3000);

  req.sampling.max_tokens = 1000;  // below the smallest budget Anthropic takes
  wire = chat_request_to_anthropic(req, "claude");
  ASSERT_FALSE(wire.ok());
  EXPECT_EQ(wire.error().param, "max_tokens");

  req.sampling.max_tokens.reset();
  req.reasoning.effort = "none";
  wire = chat_request_to_anthropic(req, "claude");
  ASSERT_TRUE(wire.ok());
  EXPECT_EQ((*wire)["thinking"], Json::parse(R"({"type":"disabled"})"));
}

TEST(AnthropicThinking, OnlyAnthropicsOwnReasoningGoesBackToIt) {
  ChatRequest req = thread_with({part("mine", "sig-a", kVendorAnthropic),
                                 part("gemini's", "sig-g", kVendorGemini),
                                 part("openai's", "enc-o", kVendorOpenAI), part("shown", "", "")});
  auto wire = chat_request_to_anthropic(req, "claude");
  ASSERT_TRUE(wire.ok()) << wire.error().message;
  const Json& blocks = (*wire)["messages"][1]["content"];
  EXPECT_EQ(blocks[0], Json::parse(R"({"type":"thinking","thinking":"mine","signature":"sig-a"})"));
  EXPECT_EQ(blocks[1]["type"], "text");
  EXPECT_EQ(blocks[2]["type"], "tool_use");
  EXPECT_EQ(blocks.size(), 3u);
  EXPECT_EQ(wire->dump().find("sig-g"), std::string::npos);
  EXPECT_EQ(wire->dump().find("enc-o"), std::string::npos);
}

TEST(AnthropicThinking, ToAnAnthropicClientAnotherVendorsReasoningHasNoSignature) {
  ChatResponse response;
  response.message.role = Role::kAssistant;
  response.message.reasoning = {part("thought", "sig-g", kVendorGemini),
                                part("", "call-sig", kVendorGemini)};
  response.finish = FinishReason::kStop;
  Json wire = messages_response_to_wire(response, "m");
  ASSERT_EQ(wire["content"].size(), 1u);  // the call's signature alone says nothing
  EXPECT_EQ(wire["content"][0],
            Json::parse(R"({"type":"thinking","thinking":"thought","signature":""})"));
  // ...and that block, sent back, is readable text of no vendor: never thinking for Anthropic.
  ChatRequest back = anthropic_request(
      R"({"model":"m","max_tokens":4096,"messages":[{"role":"user","content":"a"},)"
      R"({"role":"assistant","content":[{"type":"thinking","thinking":"thought","signature":""},)"
      R"({"type":"text","text":"b"}]},{"role":"user","content":"c"}]})");
  ASSERT_EQ(back.messages[1].reasoning.size(), 1u);
  EXPECT_EQ(back.messages[1].reasoning[0].vendor, "");
  auto again = chat_request_to_anthropic(back, "claude");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)["messages"][1]["content"], Json::parse(R"([{"type":"text","text":"b"}])"));
}

TEST(OpenAIReasoningEffort, ParsedAndWrittenFromTheNativeConfig) {
  ChatRequest req = openai_request(
      R"({"model":"m","reasoning_effort":"minimal","messages":[{"role":"user","content":"a"}]})");
  EXPECT_EQ(req.reasoning.effort, "minimal");
  EXPECT_FALSE(req.passthrough.contains("reasoning_effort"));
  EXPECT_EQ(chat_request_to_wire(req, "u")["reasoning_effort"], "minimal");
  // The same text from the fast writer.
  EXPECT_EQ(Json::parse(chat_request_to_wire_text(req, "u"))["reasoning_effort"], "minimal");

  auto bad = parse_chat_request(
      R"({"model":"m","reasoning_effort":"max","messages":[{"role":"user","content":"a"}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().param, "reasoning_effort");

  // An Anthropic budget, for an OpenAI-compatible upstream: the effort it stands for.
  ChatRequest thinking = anthropic_request(
      R"({"model":"m","max_tokens":20000,"thinking":{"type":"enabled","budget_tokens":12000},)"
      R"("messages":[{"role":"user","content":"a"}]})");
  EXPECT_EQ(chat_request_to_wire(thinking, "u")["reasoning_effort"], "high");
  thinking.reasoning = ReasoningConfig{};
  thinking.reasoning.mode = ReasoningConfig::Mode::kAdaptive;
  EXPECT_FALSE(chat_request_to_wire(thinking, "u").contains("reasoning_effort"));
  // Reasoning parts never reach an OpenAI-compatible upstream.
  Json wire = chat_request_to_wire(thread_with({part("t", "sig", kVendorAnthropic)}), "u");
  EXPECT_EQ(wire.dump().find("sig"), std::string::npos);
}

TEST(GeminiThinking, ConfigFromEachKnob) {
  auto config = [](const ChatRequest& req) {
    auto wire = chat_request_to_gemini(req);
    EXPECT_TRUE(wire.ok()) << (wire ? "" : wire.error().message);
    return wire ? (*wire)["generationConfig"]["thinkingConfig"] : Json();
  };
  ChatRequest req = openai_request(
      R"({"model":"m","reasoning_effort":"low","messages":[{"role":"user","content":"a"}]})");
  EXPECT_EQ(config(req), Json::parse(R"({"thinkingBudget":2048})"));
  req.reasoning.effort = "none";
  EXPECT_EQ(config(req), Json::parse(R"({"thinkingBudget":0})"));
  ChatRequest adaptive =
      anthropic_request(R"({"model":"m","max_tokens":4096,"thinking":{"type":"adaptive"},)"
                        R"("messages":[{"role":"user","content":"a"}]})");
  EXPECT_EQ(config(adaptive), Json::parse(R"({"thinkingBudget":-1,"includeThoughts":true})"));
  ChatRequest plain = openai_request(R"({"model":"m","messages":[{"role":"user","content":"a"}]})");
  auto wire = chat_request_to_gemini(plain);
  ASSERT_TRUE(wire.ok());
  EXPECT_FALSE(wire->contains("generationConfig"));
}

TEST(GeminiThinking, ThoughtsAndSignaturesRoundTripOnTheirParts) {
  auto events = gemini_response_from_wire(R"({"candidates":[{"index":0,"finishReason":"STOP",)"
                                          R"("content":{"role":"model","parts":[)"
                                          R"({"text":"pondering","thought":true},)"
                                          R"({"functionCall":{"name":"f","args":{}},)"
                                          R"("thoughtSignature":"c2ln"}]}}],"responseId":"r"})");
  ASSERT_TRUE(events.ok()) << events.error().message;
  ChatAggregator aggregator;
  for (const auto& event : *events) aggregator.add(event);
  const Message& message = aggregator.response().message;
  ASSERT_EQ(message.reasoning.size(), 2u);
  EXPECT_EQ(message.reasoning[0].text, "pondering");
  EXPECT_EQ(message.reasoning[0].signature, "");
  EXPECT_EQ(message.reasoning[1].text, "");  // the call's own signature, a part of its own
  EXPECT_EQ(message.reasoning[1].signature, "c2ln");
  EXPECT_EQ(message.reasoning[1].vendor, kVendorGemini);
  ASSERT_EQ(message.tool_calls.size(), 1u);

  // Sent back: the thought part first, and the signature on the call that carried it. The
  // thought has no signature, so no vendor claims it: it stays behind.
  ChatRequest req = thread_with(message.reasoning);
  req.messages[1].tool_calls[0].name = "f";
  auto wire = chat_request_to_gemini(req);
  ASSERT_TRUE(wire.ok()) << wire.error().message;
  const Json& parts = (*wire)["contents"][1]["parts"];
  EXPECT_EQ(parts[0], Json::parse(R"({"text":"b"})"));
  EXPECT_EQ(parts[1]["thoughtSignature"], "c2ln");
  // Gemini's signed thought goes back as a thought part; Anthropic's thinking never does.
  req = thread_with({part("mine", "sig-t", kVendorGemini), part("claude", "x", kVendorAnthropic)});
  wire = chat_request_to_gemini(req);
  ASSERT_TRUE(wire.ok());
  EXPECT_EQ((*wire)["contents"][1]["parts"][0],
            Json::parse(R"({"text":"mine","thought":true,"thoughtSignature":"sig-t"})"));
  EXPECT_EQ(wire->dump().find("claude"), std::string::npos);
  EXPECT_EQ((*wire)["contents"][1]["parts"][2]["thoughtSignature"],
            "skip_thought_signature_validator");
}

TEST(ResponsesReasoning, EncryptedContentCarriesAnotherVendorsReasoningBack) {
  ReasoningPart thinking = part("I think", "sig\"with\\bytes", kVendorAnthropic);
  const std::string sealed = reasoning_encrypted_content(thinking);
  EXPECT_EQ(sealed.rfind("keel1.", 0), 0u);
  Json item = {{"id", "rs_1"},
               {"type", "reasoning"},
               {"summary", Json::array({{{"type", "summary_text"}, {"text", "edited"}}})},
               {"encrypted_content", sealed}};
  ReasoningPart back = reasoning_from_item(item);
  EXPECT_EQ(back.text, "I think");  // the vendor's own text, not what the client shows
  EXPECT_EQ(back.signature, thinking.signature);
  EXPECT_EQ(back.vendor, kVendorAnthropic);

  ReasoningPart redacted = part("", "opaque", kVendorAnthropic);
  redacted.redacted = true;
  EXPECT_TRUE(
      reasoning_from_item({{"encrypted_content", reasoning_encrypted_content(redacted)}}).redacted);

  // OpenAI's own encrypted_content is OpenAI's; a damaged envelope is readable text only.
  back = reasoning_from_item({{"summary", Json::array({{{"type", "summary_text"}, {"text", "a"}},
                                                       {{"type", "summary_text"}, {"text", "b"}}})},
                              {"encrypted_content", "gAAAAB"}});
  EXPECT_EQ(back.vendor, kVendorOpenAI);
  EXPECT_EQ(back.signature, "gAAAAB");
  EXPECT_EQ(back.text, "a\n\nb");
  back = reasoning_from_item({{"encrypted_content", "keel1.!!!"}});
  EXPECT_EQ(back.vendor, "");
  EXPECT_EQ(back.signature, "");
  EXPECT_EQ(reasoning_encrypted_content(part("readable only", "", "")), "");
}

TEST(ResponsesReasoning, ItemsJoinTheAssistantTurnAfterThem) {
  auto req = parse_responses_request(
      R"({"model":"m","reasoning":{"effort":"high","summary":"detailed"},"input":[)"
      R"({"role":"user","content":"a"},)"
      R"({"type":"reasoning","summary":[{"type":"summary_text","text":"r1"}]},)"
      R"({"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},)"
      R"({"type":"function_call_output","call_id":"c1","output":"x"},)"
      R"({"type":"reasoning","summary":[{"type":"summary_text","text":"r2"}]},)"
      R"({"role":"assistant","content":"done"}]})");
  ASSERT_TRUE(req.ok()) << req.error().message;
  EXPECT_EQ(req->chat.reasoning.effort, "high");
  EXPECT_EQ(req->chat.reasoning.summary, "detailed");
  build_messages(*req, Json::array());
  const auto& messages = req->chat.messages;
  ASSERT_EQ(messages.size(), 4u);
  ASSERT_EQ(messages[1].reasoning.size(), 1u);
  EXPECT_EQ(messages[1].reasoning[0].text, "r1");
  EXPECT_EQ(messages[1].tool_calls.size(), 1u);
  ASSERT_EQ(messages[3].reasoning.size(), 1u);
  EXPECT_EQ(messages[3].reasoning[0].text, "r2");

  auto bad = parse_responses_request(R"({"model":"m","input":"a","reasoning":{"effort":"huge"}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().param, "reasoning.effort");
  bad = parse_responses_request(R"({"model":"m","input":"a","reasoning":{"summary":"all"}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().param, "reasoning.summary");
}

}  // namespace
}  // namespace keel
