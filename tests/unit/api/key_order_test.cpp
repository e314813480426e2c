// Client-supplied JSON objects keep their members' order on the way to every upstream kind:
// structured output follows a schema's key order, so a schema that lists "reasoning" before
// "answer" must reach OpenAI, Anthropic and Gemini that way (issue 17, fix 1). Checked on the
// upstream bodies' text, as the upstream reads it.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "api/anthropic/anthropic.h"
#include "api/gemini/gemini.h"
#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"

namespace keel {
namespace {

// A schema whose properties are not in alphabetical order, nested one level.
constexpr const char* kSchema =
    R"({"type":"object","properties":{"reasoning":{"type":"string"},"answer":{"type":"string"},)"
    R"("details":{"type":"object","properties":{"zeta":{"type":"integer"},"alpha":{"type":"integer"}},)"
    R"("required":["zeta","alpha"]}},"required":["reasoning","answer","details"]})";

// True when `needles` occur in `text` in this order.
bool in_order(const std::string& text, std::initializer_list<const char*> needles) {
  size_t at = 0;
  for (const char* needle : needles) {
    size_t found = text.find(needle, at);
    if (found == std::string::npos) return false;
    at = found + 1;
  }
  return true;
}

std::string dump(const Json& json) { return json.dump(); }

TEST(JsonOrderTest, ParsingKeepsTheOrderAndNlohmannsDuplicateRule) {
  auto json = parse_json(R"({"b":1,"a":2,"c":{"z":1,"y":2}})", ErrorCode::kInvalidArgument, "x");
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(dump(*json), R"({"b":1,"a":2,"c":{"z":1,"y":2}})");
  // A duplicate key: nlohmann's own parser keeps the first position and the last value.
  auto dup = try_parse_json(R"({"b":1,"a":2,"b":3})");
  ASSERT_TRUE(dup);
  EXPECT_EQ(dump(*dup), R"({"b":3,"a":2})");
  std::string many = "{";
  for (int i = 0; i < 40; ++i)
    many += "\"k" + std::to_string(i % 20) + "\":" + std::to_string(i) + ",";
  many.back() = '}';
  auto deduped = try_parse_json(many);
  ASSERT_TRUE(deduped);
  ASSERT_EQ(deduped->size(), 20u);
  EXPECT_EQ((*deduped)["k0"], 20);
  EXPECT_EQ(deduped->begin().key(), "k0");
  // Errors read as before.
  auto bad = parse_json(R"({"a":})", ErrorCode::kInvalidArgument, "request body");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "request body is not valid JSON (syntax error at byte 6)");
  EXPECT_FALSE(try_parse_json("[1,2"));
  EXPECT_FALSE(try_parse_json("1e999"));
}

// An ordered object finds keys one by one; parsing must not, or one large object in a body
// costs time quadratic in its size (200,000 keys: minutes instead of milliseconds).
TEST(JsonOrderTest, ParsingALargeObjectIsLinear) {
  std::string text = "{";
  for (int i = 0; i < 200000; ++i)
    text += "\"key" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  text.back() = '}';
  auto start = std::chrono::steady_clock::now();
  auto json = try_parse_json(text);
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(json);
  EXPECT_EQ(json->size(), 200000u);
  EXPECT_LT(seconds, 10.0);
  // A request whose passthrough is that object is built in linear time too.
  std::string body =
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],)" + text.substr(1);
  start = std::chrono::steady_clock::now();
  auto req = parse_chat_request(body);
  ASSERT_TRUE(req.ok());
  std::string wire = chat_request_to_wire_text(*req, "up");
  seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 10.0);
  EXPECT_TRUE(in_order(wire, {"\"key0\"", "\"key1\"", "\"key199999\""}));
}

TEST(JsonOrderTest, SameJsonIgnoresMemberOrderOnly) {
  Json a = Json::parse(R"({"x":[1,{"p":1,"q":2}],"y":null})");
  Json b = Json::parse(R"({"y":null,"x":[1,{"q":2,"p":1}]})");
  Json c = Json::parse(R"({"y":null,"x":[{"q":2,"p":1},1]})");
  EXPECT_TRUE(same_json(a, b));
  EXPECT_FALSE(same_json(a, c));
  EXPECT_TRUE(same_json(Json(1), Json(1.0)));
}

ChatRequest structured_request(const std::string& body) {
  auto req = parse_chat_request(body);
  EXPECT_TRUE(req.ok()) << req.error().message;
  return req.ok() ? std::move(*req) : ChatRequest();
}

std::string openai_body() {
  return std::string(R"({"model":"m","messages":[{"role":"user","content":"hi"}],)") +
         R"("tools":[{"type":"function","function":{"name":"f","parameters":)" + kSchema +
         R"(}}],"response_format":{"type":"json_schema","json_schema":{"name":"out","schema":)" +
         kSchema + R"(}},"zz_vendor":{"b":1,"a":2},"aa_vendor":true})";
}

TEST(JsonOrderTest, OpenAIUpstreamsGetSchemasAndPassthroughInTheClientsOrder) {
  ChatRequest req = structured_request(openai_body());
  std::string wire = chat_request_to_wire_text(req, "gpt");
  // Twice the schema (tool, response_format), each in order, then the passthrough fields.
  EXPECT_TRUE(in_order(wire, {"\"reasoning\"", "\"answer\"", "\"details\"", "\"zeta\"", "\"alpha\"",
                              "\"reasoning\"", "\"answer\"", "\"details\"", "\"zeta\"", "\"alpha\"",
                              "\"zz_vendor\":{\"b\":1,\"a\":2}", "\"aa_vendor\""}))
      << wire;
  EXPECT_NE(wire.find(R"("required":["reasoning","answer","details"])"), std::string::npos);
}

TEST(JsonOrderTest, AnthropicUpstreamsGetSchemasInTheClientsOrder) {
  ChatRequest req = structured_request(openai_body());
  req.passthrough = Json::object();
  auto wire = chat_request_to_anthropic(req, "claude");
  ASSERT_TRUE(wire.ok()) << wire.error().message;
  std::string text = dump(*wire);
  EXPECT_TRUE(
      in_order(text, {"\"input_schema\"", "\"reasoning\"", "\"answer\"", "\"zeta\"", "\"alpha\"",
                      "\"output_config\"", "\"reasoning\"", "\"answer\"", "\"zeta\"", "\"alpha\""}))
      << text;
  // The strict transformation keeps the order too, and so do the keywords it moves into the
  // description (the SDK's order).
  auto strict = anthropic_strict_schema(
      Json::parse(R"({"type":"object","properties":{"b":{"type":"integer","minimum":1,)"
                  R"("maximum":3},"a":{"type":"string"}}})"));
  ASSERT_TRUE(strict.ok());
  EXPECT_TRUE(in_order(dump(*strict), {"\"b\"", "minimum: 1, maximum: 3", "\"a\""}))
      << dump(*strict);
}

TEST(JsonOrderTest, AnthropicClientsToolInputKeepsItsOrder) {
  auto req = parse_messages_request(
      R"({"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"},)"
      R"({"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f",)"
      R"("input":{"zeta":1,"alpha":{"y":2,"x":3}}}]},)"
      R"({"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"}]}]})");
  ASSERT_TRUE(req.ok()) << req.error().message;
  EXPECT_EQ(req->messages[1].tool_calls[0].arguments, R"({"zeta":1,"alpha":{"y":2,"x":3}})");
  auto wire = chat_request_to_anthropic(*req, "claude");
  ASSERT_TRUE(wire.ok());
  EXPECT_NE(dump(*wire).find(R"("input":{"zeta":1,"alpha":{"y":2,"x":3}})"), std::string::npos);
}

TEST(JsonOrderTest, GeminiGetsTheClientsOrderAndPropertyOrdering) {
  ChatRequest req = structured_request(openai_body());
  req.passthrough = Json::object();
  auto wire = chat_request_to_gemini(req);
  ASSERT_TRUE(wire.ok()) << wire.error().message;
  const Json& parameters = (*wire)["tools"][0]["functionDeclarations"][0]["parameters"];
  EXPECT_EQ(dump(parameters["propertyOrdering"]), R"(["reasoning","answer","details"])");
  EXPECT_EQ(dump(parameters["properties"]["details"]["propertyOrdering"]), R"(["zeta","alpha"])");
  const Json& schema = (*wire)["generationConfig"]["responseSchema"];
  EXPECT_EQ(dump(schema["propertyOrdering"]), R"(["reasoning","answer","details"])");
  EXPECT_TRUE(in_order(dump(schema["properties"]), {"\"reasoning\"", "\"answer\"", "\"details\""}));
  // A schema's own propertyOrdering wins; one property needs none.
  auto own = json_schema_to_gemini(
      Json::parse(R"({"type":"object","properties":{"b":{"type":"string"},"a":{"type":"string"}},)"
                  R"("propertyOrdering":["a","b"]})"),
      "s");
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(dump((*own)["propertyOrdering"]), R"(["a","b"])");
  auto single = json_schema_to_gemini(
      Json::parse(R"({"type":"object","properties":{"b":{"type":"string"}}})"), "s");
  ASSERT_TRUE(single.ok());
  EXPECT_FALSE(single->contains("propertyOrdering"));
}

// Keel's own objects: the fast writers give exactly the trees' text, in OpenAI's order.
TEST(JsonOrderTest, FastWritersFollowTheTreesOrder) {
  ChatRequest req = structured_request(
      R"({"model":"m","messages":[{"role":"user","content":"hi","name":"n"}],"max_tokens":5,)"
      R"("stream":true,"user":"u"})");
  EXPECT_EQ(chat_request_to_wire_text(req, "up"), dump(chat_request_to_wire(req, "up")));
  EXPECT_TRUE(in_order(chat_request_to_wire_text(req, "up"),
                       {"\"model\"", "\"messages\"", "\"role\"", "\"content\"", "\"max_tokens\""}));
  ChatResponse resp;
  resp.id = "id";
  resp.model = "m";
  resp.created = 1;
  resp.message.role = Role::kAssistant;
  set_string_content(resp.message, "hello");
  resp.usage.prompt_tokens = 1;
  EXPECT_EQ(chat_response_to_wire_text(resp), dump(chat_response_to_wire(resp)));
  EXPECT_TRUE(
      in_order(chat_response_to_wire_text(resp),
               {"\"id\"", "\"object\"", "\"created\"", "\"model\"", "\"choices\"", "\"usage\""}));
}

}  // namespace
}  // namespace keel
