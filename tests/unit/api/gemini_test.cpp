// The Gemini wire format: golden cases in tests/golden/gemini/ (see its README for the file kinds
// and the documentation each format comes from), then unit tests for every refused feature,
// every schema rule, the response and stream decoders, and a thread that moves between vendors.
#include "api/gemini/gemini.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "api/openai_chat/openai_chat.h"
#include "golden_util.h"

namespace keel {
namespace {

namespace fs = std::filesystem;

const fs::path kGoldenDir = golden_util::golden_dir("gemini");

using namespace golden_util;

std::vector<std::string> cases_with(const std::string& kind) {
  return golden_util::cases_with(kGoldenDir, kind);
}

fs::path golden(const std::string& name, const std::string& kind) {
  return kGoldenDir / (name + "." + kind);
}

Json aggregate_to_wire(const std::vector<ChatEvent>& events) {
  return golden_util::aggregate_to_wire(events, kResponseId, kPublicModel, kCreated);
}

std::vector<ChatEvent> decode_stream(const std::string& sse) {
  GeminiStreamDecoder decoder;
  std::vector<ChatEvent> events;
  for (const auto& payload : sse_payloads(sse)) {
    Status status = decoder.decode(payload, events);
    EXPECT_TRUE(status.ok()) << status.error().message;
  }
  decoder.finish(events);
  return events;
}

// ==== golden cases ===========================================================================

TEST(GeminiGolden, RequestsConvert) {
  auto names = cases_with("request.json");
  ASSERT_GE(names.size(), 12u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto req = parse_chat_request(read_text(golden(name, "request.json")));
    ASSERT_TRUE(req.ok()) << req.error().message;
    auto body = chat_request_to_gemini(*req);
    ASSERT_TRUE(body.ok()) << body.error().message;
    ASSERT_TRUE(fs::exists(golden(name, "upstream.json")));
    EXPECT_EQ(by_value(*body), by_value(read_json(golden(name, "upstream.json")))) << "got:\n"
                                                                                   << body->dump(2);
  }
}

TEST(GeminiGolden, ResponsesDecode) {
  auto names = cases_with("upstream_response.json");
  ASSERT_GE(names.size(), 10u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto events = gemini_response_from_wire(read_text(golden(name, "upstream_response.json")));
    ASSERT_TRUE(events.ok()) << events.error().message;
    EXPECT_JSON_EQ(events_to_json(*events), Json(read_jsonl(golden(name, "events.jsonl"))))
        << "got:\n"
        << events_to_json(*events).dump(1);
    Json wire = aggregate_to_wire(*events);
    EXPECT_EQ(by_value(wire), by_value(read_json(golden(name, "response.json")))) << "got:\n"
                                                                                  << wire.dump(2);
  }
}

TEST(GeminiGolden, StreamsDecode) {
  auto names = cases_with("upstream.sse");
  ASSERT_GE(names.size(), 4u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    std::vector<ChatEvent> events = decode_stream(read_text(golden(name, "upstream.sse")));
    EXPECT_JSON_EQ(events_to_json(events), Json(read_jsonl(golden(name, "events.jsonl"))))
        << "got:\n"
        << events_to_json(events).dump(1);
    if (fs::exists(golden(name, "response.json"))) {
      Json wire = aggregate_to_wire(events);
      EXPECT_EQ(by_value(wire), by_value(read_json(golden(name, "response.json")))) << "got:\n"
                                                                                    << wire.dump(2);
    }
  }
}

// Every golden upstream body uses only the REST field names of the SDK's types (camelCase; no
// snake_case leaking from the OpenAI side).
TEST(GeminiGolden, UpstreamBodiesUseOnlyKnownFields) {
  const std::set<std::string> kKnown = {
      "contents", "role", "parts", "text", "inlineData", "mimeType", "data", "fileData", "fileUri",
      "functionCall", "functionResponse", "id", "name", "args", "response", "thoughtSignature",
      "systemInstruction", "tools", "functionDeclarations", "description", "parameters",
      "toolConfig", "functionCallingConfig", "mode", "allowedFunctionNames", "generationConfig",
      "temperature", "topP", "topK", "maxOutputTokens", "stopSequences", "seed", "presencePenalty",
      "frequencyPenalty", "responseMimeType", "responseSchema",
      // Schema
      "type", "properties", "required", "items", "enum", "format", "nullable", "anyOf", "pattern",
      "propertyOrdering", "result"};
  std::function<void(const Json&, bool)> walk = [&](const Json& value, bool keys_are_names) {
    if (value.is_object()) {
      for (const auto& [key, child] : value.items()) {
        // properties maps user names to schemas; response/args hold user data.
        if (!keys_are_names) {
          EXPECT_TRUE(kKnown.count(key)) << "unexpected field " << key;
        }
        bool user_data = key == "args" || key == "response";
        if (user_data) continue;
        walk(child, key == "properties" && !keys_are_names);
      }
    } else if (value.is_array()) {
      for (const auto& item : value) walk(item, false);
    }
  };
  for (const auto& name : cases_with("upstream.json")) {
    SCOPED_TRACE(name);
    walk(read_json(golden(name, "upstream.json")), false);
  }
}

// ==== requests: helpers ======================================================================

ChatRequest parse_or_die(const Json& body) {
  auto req = parse_chat_request(body.dump());
  EXPECT_TRUE(req.ok()) << (req.ok() ? "" : req.error().message);
  return req.ok() ? *req : ChatRequest{};
}

Json user_only() { return {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}; }

Json weather_tool() {
  return {{"type", "function"},
          {"function",
           {{"name", "get_weather"},
            {"parameters",
             {{"type", "object"},
              {"properties", {{"location", {{"type", "string"}}}}},
              {"required", {"location"}}}}}}};
}

Result<Json> convert(const Json& body) { return chat_request_to_gemini(parse_or_die(body)); }

void expect_refused(const Json& body, const std::string& param, const std::string& feature) {
  auto out = convert(body);
  ASSERT_FALSE(out.ok()) << "accepted: " << body.dump();
  EXPECT_EQ(out.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(out.error().param, param);
  EXPECT_NE(out.error().message.find(feature), std::string::npos) << out.error().message;
  EXPECT_NE(out.error().message.find("gemini"), std::string::npos) << out.error().message;
}

// ==== requests: refused and ignored fields ===================================================

TEST(GeminiRequest, RefusesFeaturesThatChangeTheAnswer) {
  struct Case {
    const char* field;
    Json value;
    const char* feature;
  };
  const std::vector<Case> cases = {
      {"logprobs", true, "logprobs is not supported by provider kind gemini"},
      {"top_logprobs", 3, "top_logprobs is not supported"},
      {"logit_bias", {{"50256", -100}}, "logit_bias is not supported"},
      {"modalities", {"text", "audio"}, "modalities other than text"},
      {"audio", {{"voice", "alloy"}, {"format", "wav"}}, "audio output"},
      {"web_search_options", Json::object(), "web_search_options"},
      {"functions", {{{"name", "f"}}}, "legacy 'functions'"},
      {"function_call", "auto", "legacy 'function_call'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.field);
    Json body = user_only();
    body[c.field] = c.value;
    expect_refused(body, c.field, c.feature);
  }
  // n > 1 is refused by the OpenAI parser already; a native request built elsewhere is refused
  // here too.
  ChatRequest req = parse_or_die(user_only());
  req.passthrough["n"] = 2;
  auto out = chat_request_to_gemini(req);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().message, "n > 1 is not supported by provider kind gemini");
}

// Gemini has no switch for parallel calls: keel asks for one and keeps the first (issue 17).
TEST(GeminiRequest, ParallelToolCallsFalseAsksForOneCallWhenToolsAreInPlay) {
  Json body = user_only();
  body["tools"] = {weather_tool()};
  body["parallel_tool_calls"] = false;
  auto out = convert(body);
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_TRUE(out->contains("systemInstruction"));
  EXPECT_NE((*out)["systemInstruction"].dump().find("at most one function"), std::string::npos);

  // Without tools, or with tool_choice none, it cannot matter: nothing is asked.
  body["tool_choice"] = "none";
  out = convert(body);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->contains("systemInstruction"));
  Json no_tools = user_only();
  no_tools["parallel_tool_calls"] = false;
  EXPECT_TRUE(convert(no_tools).ok());
  body["tool_choice"] = "auto";
  body["parallel_tool_calls"] = true;
  out = convert(body);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->contains("systemInstruction"));
}

TEST(GeminiRequest, IgnoresHarmlessFields) {
  Json plain = *convert(user_only());
  Json body = user_only();
  body["user"] = "u-1";
  body["metadata"] = {{"k", "v"}};
  body["store"] = true;
  body["service_tier"] = "flex";
  body["prompt_cache_key"] = "key";
  body["safety_identifier"] = "sid";
  body["verbosity"] = "low";
  body["prediction"] = {{"type", "content"}, {"content", "x"}};
  body["logprobs"] = false;
  body["top_logprobs"] = 0;
  body["logit_bias"] = Json::object();
  body["modalities"] = {"text"};
  body["n"] = 1;
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  body["x_vendor_extension"] = {{"anything", 1}};
  auto out = convert(body);
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(*out, plain);
}

TEST(GeminiRequest, MapsTopK) {
  Json body = user_only();
  body["top_k"] = 20;
  EXPECT_EQ((*convert(body))["generationConfig"]["topK"], 20);
  body["top_k"] = "many";
  auto out = convert(body);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().param, "top_k");
}

TEST(GeminiRequest, SamplingEdges) {
  ChatRequest req = parse_or_die(user_only());
  req.sampling.seed = (int64_t{1} << 32) + 5;  // Gemini's seed is an int32
  EXPECT_EQ((*chat_request_to_gemini(req))["generationConfig"]["seed"], 5);
  req.sampling.seed = -1;
  EXPECT_EQ((*chat_request_to_gemini(req))["generationConfig"]["seed"], -1);
  req.sampling.max_tokens = int64_t{1} << 40;
  auto out = chat_request_to_gemini(req);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().param, "max_tokens");

  Json body = user_only();
  body["stop"] = "END";
  EXPECT_EQ((*convert(body))["generationConfig"]["stopSequences"], Json({"END"}));
  body.erase("stop");
  body["response_format"] = {{"type", "text"}};
  EXPECT_FALSE(convert(body)->contains("generationConfig"));
  body["response_format"] = {{"type", "json_schema"}, {"json_schema", {{"name", "x"}}}};
  EXPECT_EQ((*convert(body))["generationConfig"], Json({{"responseMimeType", "application/json"}}));
}

// ==== requests: messages =====================================================================

Json thread_with_calls(Json calls, std::vector<Json> results) {
  Json messages = {{{"role", "user"}, {"content", "go"}},
                   {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", std::move(calls)}}};
  for (auto& result : results) messages.push_back(std::move(result));
  return {{"model", "m"}, {"messages", std::move(messages)}, {"tools", {weather_tool()}}};
}

Json call(const std::string& id, const std::string& name, const std::string& arguments) {
  return {
      {"id", id}, {"type", "function"}, {"function", {{"name", name}, {"arguments", arguments}}}};
}

Json tool_result(const std::string& id, Json content) {
  return {{"role", "tool"}, {"tool_call_id", id}, {"content", std::move(content)}};
}

TEST(GeminiRequest, ToolResultWithUnknownCallIdIsRefused) {
  Json body =
      thread_with_calls({call("call_1", "get_weather", "{}")}, {tool_result("call_2", "sunny")});
  auto out = convert(body);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().param, "messages[2].tool_call_id");
  EXPECT_NE(out.error().message.find("'call_2'"), std::string::npos) << out.error().message;
  EXPECT_NE(out.error().message.find("gemini"), std::string::npos);
}

TEST(GeminiRequest, UnparsableArgumentsAreRefusedNamingTheCall) {
  for (const char* arguments : {"{\"location\": ", "[1, 2]", "\"text\"", "not json"}) {
    SCOPED_TRACE(arguments);
    Json body =
        thread_with_calls({call("call_9", "get_weather", arguments)}, {tool_result("call_9", "x")});
    auto out = convert(body);
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.error().param, "messages[1].tool_calls[0].function.arguments");
    EXPECT_NE(out.error().message.find("'call_9'"), std::string::npos) << out.error().message;
    EXPECT_NE(out.error().message.find("'get_weather'"), std::string::npos);
  }
  // Empty arguments mean no arguments.
  Json body = thread_with_calls({call("call_9", "get_weather", "")}, {tool_result("call_9", "x")});
  EXPECT_EQ((*convert(body))["contents"][1]["parts"][0]["functionCall"]["args"], Json::object());
}

TEST(GeminiRequest, ToolResultsMergeAndKeepTheirShapes) {
  Json body = thread_with_calls(
      {call("a", "get_weather", "{\"location\":\"x\"}"), call("b", "get_weather", "{}"),
       call("c", "get_weather", "{}")},
      {tool_result("a", "{\"t\": 1}"), tool_result("b", "plain text"), tool_result("c", "42")});
  body["messages"].push_back({{"role", "user"}, {"content", "thanks"}});
  Json out = *convert(body);
  ASSERT_EQ(out["contents"].size(), 4u);
  const Json& results = out["contents"][2];
  EXPECT_EQ(results["role"], "user");
  ASSERT_EQ(results["parts"].size(), 3u);
  EXPECT_EQ(results["parts"][0]["functionResponse"]["response"], Json({{"result", {{"t", 1}}}}));
  EXPECT_EQ(results["parts"][1]["functionResponse"]["response"], Json({{"result", "plain text"}}));
  EXPECT_EQ(results["parts"][2]["functionResponse"]["response"], Json({{"result", 42}}));
  EXPECT_EQ(results["parts"][1]["functionResponse"]["name"], "get_weather");
  EXPECT_EQ(results["parts"][1]["functionResponse"]["id"], "b");
  EXPECT_EQ(out["contents"][3], Json({{"role", "user"}, {"parts", {{{"text", "thanks"}}}}}));
}

// A failed tool's result (is_error, from Anthropic's tool_result) is an "error" response, the
// key Gemini documents for error details; a good one stays a "result".
TEST(GeminiRequest, FailedToolResultsAreErrorResponses) {
  ChatRequest req = parse_or_die(thread_with_calls(
      {call("a", "get_weather", "{}"), call("b", "get_weather", "{}")},
      {tool_result("a", "{\"code\": 503}"), tool_result("b", "sunny")}));
  req.messages[2].is_error = true;
  Json out = *chat_request_to_gemini(req);
  const Json& parts = out["contents"][2]["parts"];
  EXPECT_EQ(parts[0]["functionResponse"]["response"], Json({{"error", {{"code", 503}}}}));
  EXPECT_EQ(parts[1]["functionResponse"]["response"], Json({{"result", "sunny"}}));
}

// countTokens takes the whole generateContent body, naming its model, and answers totalTokens.
TEST(GeminiCountTokens, BodyAndAnswer) {
  ChatRequest req = parse_or_die(thread_with_calls({call("a", "get_weather", "{}")},
                                                   {tool_result("a", "sunny")}));
  auto whole = chat_request_to_gemini(req);
  auto count = chat_request_to_gemini_count(req, "gemini-x");
  ASSERT_TRUE(whole.ok() && count.ok());
  Json expected = *whole;
  expected["model"] = "models/gemini-x";
  EXPECT_EQ(*count, Json({{"generateContentRequest", expected}}));

  EXPECT_EQ(*gemini_count_from_wire(R"({"totalTokens": 31, "promptTokensDetails": []})"), 31);
  EXPECT_EQ(*gemini_count_from_wire(R"({"totalTokens": "31"})"), 31);   // proto3 JSON int64
  for (const char* bad : {"", "{}", R"({"totalTokens": "x"})", R"({"error": {"code": 400}})"}) {
    SCOPED_TRACE(bad);
    auto parsed = gemini_count_from_wire(bad);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.error().code, ErrorCode::kBadGateway);
  }
}

TEST(GeminiRequest, SyntheticThoughtSignatureGoesOnTheFirstCallOfEachModelTurn) {
  Json body = thread_with_calls({call("a", "get_weather", "{}"), call("b", "get_weather", "{}")},
                                {tool_result("a", "1"), tool_result("b", "2")});
  Json out = *convert(body);
  const Json& parts = out["contents"][1]["parts"];
  EXPECT_EQ(parts[0]["thoughtSignature"], "skip_thought_signature_validator");
  EXPECT_FALSE(parts[1].contains("thoughtSignature"));

  GeminiRequestOptions options;
  options.synthetic_thought_signatures = false;
  Json plain = *chat_request_to_gemini(parse_or_die(body), options);
  EXPECT_FALSE(plain["contents"][1]["parts"][0].contains("thoughtSignature"));
}

// A thread started on OpenAI (id call_abc123) and continued on Anthropic (id toolu_01A) goes on
// to Gemini: the ids are kept, the function names are found, and the answer comes back.
TEST(GeminiRequest, CrossVendorThreadContinuesOnGemini) {
  Json body = {{"model", "smart"},
               {"messages",
                {{{"role", "user"}, {"content", "Paris, then Rome?"}},
                 {{"role", "assistant"},
                  {"content", nullptr},
                  {"tool_calls", {call("call_abc123", "get_weather", "{\"location\":\"Paris\"}")}}},
                 tool_result("call_abc123", "18C"),
                 {{"role", "assistant"},
                  {"content", "Now Rome."},
                  {"tool_calls", {call("toolu_01A", "get_weather", "{\"location\":\"Rome\"}")}}},
                 tool_result("toolu_01A", "{\"c\": 24}")}},
               {"tools", {weather_tool()}}};
  auto out = convert(body);
  ASSERT_TRUE(out.ok()) << out.error().message;
  const Json& contents = (*out)["contents"];
  ASSERT_EQ(contents.size(), 5u);
  EXPECT_EQ(contents[1]["role"], "model");
  EXPECT_EQ(contents[1]["parts"][0]["functionCall"]["id"], "call_abc123");
  EXPECT_EQ(
      contents[2]["parts"][0]["functionResponse"],
      Json({{"id", "call_abc123"}, {"name", "get_weather"}, {"response", {{"result", "18C"}}}}));
  EXPECT_EQ(contents[3]["parts"][0], Json({{"text", "Now Rome."}}));
  EXPECT_EQ(contents[3]["parts"][1]["functionCall"]["id"], "toolu_01A");
  EXPECT_EQ(contents[3]["parts"][1]["thoughtSignature"], "skip_thought_signature_validator");
  EXPECT_EQ(contents[4]["parts"][0]["functionResponse"]["name"], "get_weather");
  EXPECT_EQ(contents[4]["parts"][0]["functionResponse"]["response"],
            Json({{"result", {{"c", 24}}}}));

  // Gemini's answer becomes the next OpenAI turn, and that turn can go to Gemini again.
  auto events = gemini_response_from_wire(R"({"responseId":"r-9","candidates":[{"content":{
      "role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"location":"Oslo"}}}]},
      "finishReason":"STOP"}]})");
  ASSERT_TRUE(events.ok());
  Json answer = aggregate_to_wire(*events);
  Json next_call = answer["choices"][0]["message"]["tool_calls"][0];
  std::string id = next_call["id"];
  body["messages"].push_back(answer["choices"][0]["message"]);
  body["messages"].push_back(tool_result(id, "-3C"));
  auto again = convert(body);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ((*again)["contents"][6]["parts"][0]["functionResponse"]["id"], id);
  EXPECT_EQ((*again)["contents"][6]["parts"][0]["functionResponse"]["name"], "get_weather");
}

TEST(GeminiRequest, ImagesByDataAndByUrl) {
  auto image_body = [](const std::string& url) {
    return Json{{"model", "m"},
                {"messages",
                 {{{"role", "user"},
                   {"content", {{{"type", "image_url"}, {"image_url", {{"url", url}}}}}}}}}};
  };
  auto first_part = [&](const std::string& url) -> Result<Json> {
    auto out = convert(image_body(url));
    if (!out) return out.error();
    return (*out)["contents"][0]["parts"][0];
  };
  EXPECT_EQ(*first_part("data:image/JPEG;base64,/9j/4AA="),
            Json({{"inlineData", {{"mimeType", "image/jpeg"}, {"data", "/9j/4AA="}}}}));
  EXPECT_EQ(
      *first_part("gs://bucket/doc.pdf"),
      Json({{"fileData", {{"mimeType", "application/pdf"}, {"fileUri", "gs://bucket/doc.pdf"}}}}));
  EXPECT_EQ((*first_part("http://example.com/a.gif"))["fileData"]["mimeType"], "image/gif");

  // What Gemini cannot take names the vendor; malformed data: URLs are just malformed.
  for (const char* url :
       {"https://example.com/image", "https://example.com/v1.2/photo", "https://example.com/x.svg",
        "data:image/png,rawbytes", "ftp://example.com/a.png"}) {
    SCOPED_TRACE(url);
    auto out = first_part(url);
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.error().param, "messages[0].content[0]");
    EXPECT_NE(out.error().message.find("gemini"), std::string::npos) << out.error().message;
  }
  for (const char* url : {"data:;base64,AAAA", "data:image/png;base64"}) {
    SCOPED_TRACE(url);
    auto out = first_part(url);
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.error().param, "messages[0].content[0]");
  }
}

TEST(GeminiRequest, SystemOnlyAndEmptyMessages) {
  Json body = {{"model", "m"}, {"messages", {{{"role", "system"}, {"content", "be nice"}}}}};
  auto out = convert(body);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().param, "messages");

  body["messages"].push_back({{"role", "user"}, {"content", ""}});
  body["messages"].push_back({{"role", "assistant"}, {"content", ""}});
  body["messages"].push_back({{"role", "user"}, {"content", "real"}});
  out = convert(body);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)["contents"], Json::parse(R"([{"role":"user","parts":[{"text":"real"}]}])"));
  // A system message after the first turn still goes to systemInstruction.
  body["messages"].push_back({{"role", "developer"}, {"content", "later rule"}});
  EXPECT_EQ((*convert(body))["systemInstruction"]["parts"],
            Json::parse(R"([{"text":"be nice"},{"text":"later rule"}])"));
}

TEST(GeminiRequest, ToolsAndToolChoice) {
  Json body = user_only();
  body["tools"] = {weather_tool()};
  body["tools"][0]["function"]["name"] = "9lives";
  auto out = convert(body);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().param, "tools[0].function.name");
  EXPECT_NE(out.error().message.find("gemini"), std::string::npos);

  body["tools"][0]["function"]["name"] = "ns.tool:get-weather_2";
  ASSERT_TRUE(convert(body).ok());

  // tool_choice without tools: nothing to configure.
  Json no_tools = user_only();
  no_tools["tool_choice"] = "none";
  EXPECT_FALSE(convert(no_tools)->contains("toolConfig"));

  // No parameters, or an object with no properties: parameters left unset.
  Json bare = user_only();
  bare["tools"] = {{{"type", "function"}, {"function", {{"name", "now"}}}},
                   {{"type", "function"},
                    {"function",
                     {{"name", "today"},
                      {"parameters",
                       {{"type", "object"},
                        {"properties", Json::object()},
                        {"additionalProperties", false}}}}}}};
  EXPECT_EQ((*convert(bare))["tools"][0]["functionDeclarations"],
            Json::parse(R"([{"name":"now"},{"name":"today"}])"));
}

// ==== JSON Schema -> Gemini Schema ===========================================================

Json schema_ok(const Json& schema) {
  auto out = json_schema_to_gemini(schema, "s");
  EXPECT_TRUE(out.ok()) << out.error().message;
  return out.ok() ? *out : Json();
}

Error schema_error(const Json& schema) {
  auto out = json_schema_to_gemini(schema, "s");
  EXPECT_FALSE(out.ok()) << "accepted: " << schema.dump() << " -> "
                         << (out.ok() ? out->dump() : "");
  return out.ok() ? Error() : out.error();
}

TEST(GeminiSchema, TypesAreUppercasedAndInferred) {
  EXPECT_EQ(schema_ok({{"type", "string"}}), Json({{"type", "STRING"}}));
  EXPECT_EQ(schema_ok({{"type", "number"}}), Json({{"type", "NUMBER"}}));
  EXPECT_EQ(schema_ok({{"type", "integer"}}), Json({{"type", "INTEGER"}}));
  EXPECT_EQ(schema_ok({{"type", "boolean"}}), Json({{"type", "BOOLEAN"}}));
  EXPECT_EQ(schema_ok({{"items", {{"type", "string"}}}}),
            Json::parse(R"({"type":"ARRAY","items":{"type":"STRING"}})"));
  EXPECT_EQ(schema_ok({{"properties", {{"a", {{"type", "string"}}}}}}),
            Json::parse(R"({"type":"OBJECT","properties":{"a":{"type":"STRING"}}})"));
  EXPECT_EQ(schema_error({{"type", "text"}}).param, "s.type");
  EXPECT_EQ(schema_error({{"type", 5}}).param, "s.type");
}

TEST(GeminiSchema, AnnotationsAndClosedObjectsAreDropped) {
  Json schema = Json::parse(R"({
    "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "urn:x", "$comment": "c",
    "type": "object", "strict": true, "additionalProperties": false,
    "unevaluatedProperties": false, "x-internal": 1, "deprecated": false,
    "properties": {"a": {"type": "string", "examples": ["e"], "readOnly": true,
                         "contentMediaType": "text/plain"}},
    "$defs": {"unused": {"type": "string"}}, "definitions": {}})");
  EXPECT_EQ(schema_ok(schema),
            Json::parse(R"({"type":"OBJECT","properties":{"a":{"type":"STRING"}}})"));
}

TEST(GeminiSchema, KeepsWhatGeminiSupports) {
  Json schema = Json::parse(R"({
    "type": "object", "title": "T", "description": "D", "propertyOrdering": ["b", "a"],
    "minProperties": 1, "maxProperties": 3,
    "properties": {
      "a": {"type": "string", "minLength": 1, "maxLength": 9, "pattern": "^x", "default": "x",
            "example": "xy"},
      "b": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1.5},
            "minItems": 1, "maxItems": 4}}})");
  Json expected = Json::parse(R"({
    "type": "OBJECT", "title": "T", "description": "D", "propertyOrdering": ["b", "a"],
    "minProperties": 1, "maxProperties": 3,
    "properties": {
      "a": {"type": "STRING", "minLength": 1, "maxLength": 9, "pattern": "^x", "default": "x",
            "example": "xy"},
      "b": {"type": "ARRAY", "items": {"type": "NUMBER", "minimum": 0, "maximum": 1.5},
            "minItems": 1, "maxItems": 4}}})");
  EXPECT_JSON_EQ(schema_ok(schema), expected);
  EXPECT_EQ(schema_error({{"type", "string"}, {"description", 5}}).param, "s.description");
  EXPECT_EQ(schema_error({{"type", "string"}, {"minLength", -1}}).param, "s.minLength");
  EXPECT_EQ(schema_error({{"type", "object"}, {"propertyOrdering", {1}}}).param,
            "s.propertyOrdering");
}

TEST(GeminiSchema, NullableFromTypeListsAnyOfAndEnums) {
  EXPECT_EQ(schema_ok({{"type", {"string", "null"}}}),
            Json::parse(R"({"type":"STRING","nullable":true})"));
  EXPECT_JSON_EQ(
      schema_ok({{"type", {"null", "object"}}, {"properties", {{"a", {{"type", "string"}}}}}}),
      Json::parse(R"({"type":"OBJECT","nullable":true,"properties":{"a":{"type":"STRING"}}})"));
  EXPECT_JSON_EQ(
      schema_ok(Json::parse(R"({"anyOf":[{"type":"integer"},{"type":"null"}],"description":"n"})")),
      Json::parse(R"({"type":"INTEGER","nullable":true,"description":"n"})"));
  EXPECT_EQ(
      schema_ok(Json::parse(R"({"anyOf":[{"type":"integer"},{"type":"string"},{"type":"null"}]})")),
      Json::parse(R"({"anyOf":[{"type":"INTEGER"},{"type":"STRING"}],"nullable":true})"));
  EXPECT_JSON_EQ(schema_ok(Json::parse(R"({"type":"string","enum":["a",null]})")),
                 Json::parse(R"({"type":"STRING","enum":["a"],"nullable":true})"));
  EXPECT_EQ(schema_ok(Json::parse(R"({"type":"string","nullable":true})")),
            Json::parse(R"({"type":"STRING","nullable":true})"));
  EXPECT_EQ(schema_error({{"type", {"null"}}}).param, "s.type");
  EXPECT_EQ(schema_error({{"type", "null"}}).param, "s.type");
  EXPECT_EQ(schema_error(Json::parse(R"({"anyOf":[{"type":"null"}]})")).param, "s.anyOf");
}

TEST(GeminiSchema, TypeListsSplitIntoAnyOfBranches) {
  Json schema = Json::parse(R"({"type":["string","integer","null"],"description":"id",
    "minLength":2,"minimum":1,"format":"int64","enum":["ab",7]})");
  Json expected = Json::parse(R"({"description":"id","nullable":true,"anyOf":[
    {"type":"STRING","minLength":2,"enum":["ab"]},
    {"type":"INTEGER","minimum":1,"format":"enum","enum":["7"]}]})");
  EXPECT_JSON_EQ(schema_ok(schema), expected);
  Json with_format = Json::parse(R"({"type":["integer","string"],"format":"int64"})");
  EXPECT_EQ(schema_ok(with_format),
            Json::parse(R"({"anyOf":[{"type":"INTEGER","format":"int64"},{"type":"STRING"}]})"));
  EXPECT_EQ(
      schema_error(Json::parse(R"({"type":["integer","string"],"anyOf":[{"minimum":1}]})")).param,
      "s");
}

TEST(GeminiSchema, OneOfBecomesAnyOf) {
  Json schema = Json::parse(R"({"oneOf":[{"type":"string"},{"type":"integer"}],
                                 "discriminator":{"propertyName":"kind"}})");
  EXPECT_EQ(schema_ok(schema), Json::parse(R"({"anyOf":[{"type":"STRING"},{"type":"INTEGER"}]})"));
  EXPECT_EQ(schema_error(Json::parse(R"({"type":"object","anyOf":[{"required":["a"]}]})")).param,
            "s");
  EXPECT_EQ(
      schema_error(Json::parse(R"({"anyOf":[{"type":"string"}],"oneOf":[{"type":"string"}]})"))
          .param,
      "s");
}

TEST(GeminiSchema, ConstAndEnums) {
  EXPECT_JSON_EQ(schema_ok({{"const", "person"}}),
                 Json::parse(R"({"type":"STRING","enum":["person"]})"));
  EXPECT_JSON_EQ(schema_ok({{"const", 5}}),
                 Json::parse(R"({"type":"INTEGER","format":"enum","enum":["5"]})"));
  EXPECT_JSON_EQ(schema_ok({{"type", "number"}, {"enum", {0.5, 1}}}),
                 Json::parse(R"({"type":"NUMBER","format":"enum","enum":["0.5","1"]})"));
  EXPECT_EQ(schema_ok({{"const", true}}),
            Json::parse(R"j({"type":"BOOLEAN","description":"(must be true)"})j"));
  EXPECT_EQ(schema_ok({{"enum", {true, false}}}), Json::parse(R"({"type":"BOOLEAN"})"));
  for (const Json& bad : {Json{{"enum", {"a", 1}}}, Json{{"enum", {{1, 2}}}},
                          Json{{"enum", Json::array({Json::object()})}},
                          Json{{"type", "string"}, {"enum", {1}}}, Json{{"enum", {nullptr}}}}) {
    SCOPED_TRACE(bad.dump());
    Error error = schema_error(bad);
    EXPECT_EQ(error.param, "s.enum");
    EXPECT_NE(error.message.find("gemini"), std::string::npos);
  }
}

TEST(GeminiSchema, FormatsKeptOnlyWhereGeminiSupportsThem) {
  EXPECT_EQ(schema_ok({{"type", "string"}, {"format", "date-time"}}),
            Json::parse(R"({"type":"STRING","format":"date-time"})"));
  EXPECT_JSON_EQ(schema_ok({{"type", "string"}, {"format", "enum"}, {"enum", {"a"}}}),
                 Json::parse(R"({"type":"STRING","format":"enum","enum":["a"]})"));
  EXPECT_EQ(schema_ok({{"type", "integer"}, {"format", "int32"}}),
            Json::parse(R"({"type":"INTEGER","format":"int32"})"));
  EXPECT_EQ(schema_ok({{"type", "number"}, {"format", "double"}}),
            Json::parse(R"({"type":"NUMBER","format":"double"})"));
  EXPECT_EQ(schema_ok({{"type", "string"}, {"format", "email"}, {"description", "Work email"}}),
            Json::parse(R"j({"type":"STRING","description":"Work email (format: email)"})j"));
  EXPECT_EQ(schema_ok({{"type", "string"}, {"format", "uuid"}}),
            Json::parse(R"j({"type":"STRING","description":"(format: uuid)"})j"));
  EXPECT_EQ(schema_ok({{"type", "integer"}, {"format", "date-time"}}),
            Json::parse(R"j({"type":"INTEGER","description":"(format: date-time)"})j"));
}

TEST(GeminiSchema, UnsupportedConstraintsAreDescribed) {
  Json schema = Json::parse(R"({"type":"integer","description":"Count","exclusiveMinimum":0,
                                 "multipleOf":5})");
  EXPECT_EQ(
      schema_ok(schema),
      Json::parse(
          R"j({"type":"INTEGER","description":"Count (exclusiveMinimum: 0; multipleOf: 5)"})j"));
  Json map = Json::parse(R"({"type":"object","additionalProperties":{"type":"string"}})");
  EXPECT_EQ(
      schema_ok(map),
      Json::parse(
          R"j({"type":"OBJECT","description":"(additionalProperties: {\"type\":\"string\"})"})j"));
  Json tuple = Json::parse(R"({"type":"array","prefixItems":[{"type":"string"}],"items":false,
                                "uniqueItems":true})");
  Json converted = schema_ok(tuple);
  EXPECT_EQ(converted["type"], "ARRAY");
  EXPECT_EQ(converted["description"],
            "(items: false; prefixItems: [{\"type\":\"string\"}]; uniqueItems: true)");
  Json draft4_tuple = Json::parse(R"({"type":"array","items":[{"type":"string"}]})");
  EXPECT_EQ(schema_ok(draft4_tuple),
            Json::parse(R"j({"type":"ARRAY","description":"(items: [{\"type\":\"string\"}])"})j"));
  Json logic =
      Json::parse(R"({"type":"string","not":{"const":"x"},"propertyNames":{"pattern":"a"}})");
  EXPECT_EQ(schema_ok(logic)["description"],
            "(not: {\"const\":\"x\"}; propertyNames: {\"pattern\":\"a\"})");
  // Long values are cut so a description stays small.
  Json big = {{"type", "string"},
              {"not", {{"enum", Json(std::vector<std::string>(100, "long-value"))}}}};
  EXPECT_LT(schema_ok(big)["description"].get<std::string>().size(), 260u);
}

TEST(GeminiSchema, RequiredOnlyNamesDefinedProperties) {
  Json schema = Json::parse(R"({"type":"object","properties":{"a":{"type":"string"}},
                                 "required":["a","ghost","a"]})");
  EXPECT_EQ(
      schema_ok(schema),
      Json::parse(R"({"type":"OBJECT","properties":{"a":{"type":"STRING"}},"required":["a"]})"));
  EXPECT_EQ(schema_ok(Json::parse(R"({"type":"object","required":["x"]})")),
            Json::parse(R"({"type":"OBJECT"})"));
  EXPECT_EQ(schema_ok(Json::parse(R"({"type":"object","properties":{}})")),
            Json::parse(R"({"type":"OBJECT"})"));
}

TEST(GeminiSchema, RefsAreInlined) {
  Json schema = Json::parse(R"({
    "type": "object",
    "properties": {
      "home": {"$ref": "#/$defs/address", "description": "Home"},
      "work": {"$ref": "#/definitions/place"},
      "list": {"type": "array", "items": {"$ref": "#/$defs/address"}}},
    "$defs": {"address": {"type": "object", "description": "An address",
                          "properties": {"city": {"type": "string"}}}},
    "definitions": {"place": {"$ref": "#/$defs/address"}}})");
  Json address = Json::parse(R"({"type":"OBJECT","description":"An address",
                                  "properties":{"city":{"type":"STRING"}}})");
  Json home = address;
  home["description"] = "Home";
  Json expected = {
      {"type", "OBJECT"},
      {"properties",
       {{"home", home}, {"work", address}, {"list", {{"type", "ARRAY"}, {"items", address}}}}},
      {"propertyOrdering", {"home", "work", "list"}}};  // the schema's order
  EXPECT_JSON_EQ(schema_ok(schema), expected);
}

TEST(GeminiSchema, RecursiveAndForeignRefsAreRefused) {
  Json tree = Json::parse(R"({"$defs":{"node":{"type":"object","properties":{
      "children":{"type":"array","items":{"$ref":"#/$defs/node"}}}}},
      "type":"object","properties":{"root":{"$ref":"#/$defs/node"}}})");
  Error error = schema_error(tree);
  EXPECT_EQ(error.code, ErrorCode::kInvalidArgument);
  EXPECT_NE(error.message.find("recursive $ref '#/$defs/node'"), std::string::npos)
      << error.message;
  EXPECT_NE(error.message.find("gemini"), std::string::npos);
  EXPECT_EQ(error.param, "s.properties.root.properties.children.items.$ref");

  Json self = Json::parse(R"({"type":"object","properties":{"next":{"$ref":"#"}}})");
  EXPECT_NE(schema_error(self).message.find("recursive $ref '#'"), std::string::npos);
  Json loop = Json::parse(
      R"({"$ref":"#/$defs/a","$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}}})");
  EXPECT_NE(schema_error(loop).message.find("recursive"), std::string::npos);
  EXPECT_NE(schema_error({{"$ref", "https://example.com/schema.json"}}).message.find("local"),
            std::string::npos);
  EXPECT_NE(schema_error({{"$ref", "#/$defs/missing"}}).message.find("does not point"),
            std::string::npos);
  EXPECT_EQ(schema_error({{"$ref", "#/$defs/~"}}).param, "s.$ref");  // malformed pointer
}

TEST(GeminiSchema, InliningIsBounded) {
  // Each level refers to the next twice: 2^30 schemas once inlined.
  Json defs = Json::object();
  for (int i = 0; i < 30; ++i) {
    std::string next = "#/$defs/d" + std::to_string(i + 1);
    defs["d" + std::to_string(i)] = {
        {"type", "object"}, {"properties", {{"l", {{"$ref", next}}}, {"r", {{"$ref", next}}}}}};
  }
  defs["d30"] = {{"type", "string"}};
  Json wide = {{"$ref", "#/$defs/d0"}, {"$defs", defs}};
  EXPECT_NE(schema_error(wide).message.find("too large"), std::string::npos);

  Json deep = {{"type", "string"}};
  for (int i = 0; i < 80; ++i) deep = {{"type", "object"}, {"properties", {{"x", deep}}}};
  EXPECT_NE(schema_error(deep).message.find("nests deeper"), std::string::npos);
}

TEST(GeminiSchema, AllOfIsMerged) {
  Json single = Json::parse(R"({"allOf":[{"$ref":"#/$defs/a"}],"description":"mine",
                                 "$defs":{"a":{"type":"string","description":"theirs"}}})");
  EXPECT_EQ(schema_ok(single), Json::parse(R"({"type":"STRING","description":"mine"})"));
  Json several = Json::parse(R"({"allOf":[
      {"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},
      {"type":"object","properties":{"b":{"type":"integer"}},"required":["b"]}]})");
  EXPECT_JSON_EQ(schema_ok(several), Json::parse(R"({"type":"OBJECT","properties":{
      "a":{"type":"STRING"},"b":{"type":"INTEGER"}},"required":["a","b"],
      "propertyOrdering":["a","b"]})"));
  Json conflict = Json::parse(R"({"allOf":[{"type":"string"},{"type":"integer"}]})");
  EXPECT_NE(schema_error(conflict).message.find("disagree on 'type'"), std::string::npos);
  Json property_conflict = Json::parse(R"({"allOf":[{"properties":{"a":{"type":"string"}}},
                                                    {"properties":{"a":{"type":"integer"}}}]})");
  EXPECT_NE(schema_error(property_conflict).message.find("property 'a'"), std::string::npos);
}

TEST(GeminiSchema, BooleanSchemas) {
  EXPECT_EQ(schema_ok(Json::parse(R"({"type":"object","properties":{"any":true}})")),
            Json::parse(R"({"type":"OBJECT","properties":{"any":{}}})"));
  EXPECT_EQ(schema_error(Json::parse(R"({"type":"object","properties":{"none":false}})")).param,
            "s.properties.none");
  EXPECT_EQ(schema_error(Json::array()).param, "s");
}

TEST(GeminiSchema, ToolParametersAndResponseFormatUseTheSameRules) {
  Json body = user_only();
  body["tools"] = {weather_tool()};
  body["tools"][0]["function"]["parameters"]["properties"]["when"] = {{"type", {"string", "null"}},
                                                                      {"format", "date"}};
  Json out = *convert(body);
  EXPECT_JSON_EQ(
      out["tools"][0]["functionDeclarations"][0]["parameters"]["properties"]["when"],
      Json::parse(R"j({"type":"STRING","nullable":true,"description":"(format: date)"})j"));

  body["tools"][0]["function"]["parameters"]["properties"]["when"] = {{"$ref", "#/nowhere"}};
  auto refused = convert(body);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().param, "tools[0].function.parameters.properties.when.$ref");

  Json format = user_only();
  format["response_format"] = {
      {"type", "json_schema"},
      {"json_schema",
       {{"name", "x"}, {"schema", {{"type", "object"}, {"properties", {{"n", {{"const", 1}}}}}}}}}};
  EXPECT_JSON_EQ(
      (*convert(format))["generationConfig"]["responseSchema"],
      Json::parse(
          R"({"type":"OBJECT","properties":{"n":{"type":"INTEGER","format":"enum","enum":["1"]}}})"));
  format["response_format"]["json_schema"]["schema"]["properties"]["n"] = {{"$ref", "#"}};
  auto recursive = convert(format);
  ASSERT_FALSE(recursive.ok());
  EXPECT_EQ(recursive.error().param, "response_format.json_schema.schema.properties.n.$ref");
}

// ==== responses ==============================================================================

Result<std::vector<ChatEvent>> decode(const std::string& body) {
  return gemini_response_from_wire(body);
}

std::string text_answer(const std::string& finish) {
  return R"({"candidates":[{"content":{"role":"model","parts":[{"text":"x"}]},"finishReason":")" +
         finish + R"("}]})";
}

TEST(GeminiResponse, FinishReasons) {
  const std::vector<std::pair<std::string, FinishReason>> cases = {
      {"STOP", FinishReason::kStop},
      {"MAX_TOKENS", FinishReason::kLength},
      {"SAFETY", FinishReason::kContentFilter},
      {"RECITATION", FinishReason::kContentFilter},
      {"BLOCKLIST", FinishReason::kContentFilter},
      {"PROHIBITED_CONTENT", FinishReason::kContentFilter},
      {"SPII", FinishReason::kContentFilter},
      {"IMAGE_SAFETY", FinishReason::kContentFilter},
      {"MALFORMED_FUNCTION_CALL", FinishReason::kError},
      {"UNEXPECTED_TOOL_CALL", FinishReason::kError},
      {"TOO_MANY_TOOL_CALLS", FinishReason::kError},
      {"OTHER", FinishReason::kStop},
      {"LANGUAGE", FinishReason::kStop},
      {"FINISH_REASON_UNSPECIFIED", FinishReason::kStop},
      {"SOMETHING_NEW", FinishReason::kStop},
  };
  for (const auto& [wire, finish] : cases) {
    SCOPED_TRACE(wire);
    auto events = decode(text_answer(wire));
    ASSERT_TRUE(events.ok()) << events.error().message;
    ASSERT_EQ(events->size(), 3u);  // no usageMetadata: no Usage event
    EXPECT_EQ(events->back().kind, ChatEvent::Kind::kFinish);
    EXPECT_EQ(events->back().finish, finish);
  }
  // No finishReason: stop, or tool_calls when the answer holds calls.
  auto events = decode(R"({"candidates":[{"content":{"parts":[{"text":"x"}]}}]})");
  EXPECT_EQ(events->back().finish, FinishReason::kStop);
  events = decode(
      R"({"candidates":[{"content":{"parts":[{"functionCall":{"name":"f"}}]},"finishReason":"MAX_TOKENS"}]})");
  EXPECT_EQ(events->back().finish, FinishReason::kLength);
  events = decode(R"({"candidates":[{"content":{"parts":[{"functionCall":{"name":"f"}}]}}]})");
  EXPECT_EQ(events->back().finish, FinishReason::kToolCalls);
  EXPECT_EQ((*events)[2].text, "{}");  // no args: an empty object
}

TEST(GeminiResponse, GeneratedToolIdsAreUniqueDeterministicAndPortable) {
  std::string body = R"({"responseId":"r1","candidates":[{"content":{"parts":[
      {"functionCall":{"name":"f","args":{"a":1}}},{"functionCall":{"name":"f","args":{"a":1}}},
      {"functionCall":{"id":"given","name":"g","args":{}}}]},"finishReason":"STOP"}]})";
  auto first = decode(body);
  auto second = decode(body);
  ASSERT_TRUE(first.ok());
  std::vector<std::string> ids;
  for (const auto& event : *first) {
    if (event.kind == ChatEvent::Kind::kToolCallStart) ids.push_back(event.tool_id);
  }
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_NE(ids[0], ids[1]);
  EXPECT_EQ(ids[2], "given");
  EXPECT_EQ(events_to_json(*first), events_to_json(*second));
  for (const auto& id : ids) {
    EXPECT_LE(id.size(), 40u);  // OpenAI's limit
    EXPECT_TRUE(std::all_of(id.begin(), id.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    })) << id;  // Anthropic's id pattern
  }
  // Another response (another responseId) gives other ids for the same call.
  std::string other = body;
  other.replace(other.find("r1"), 2, "r2");
  EXPECT_NE((*decode(other))[1].tool_id, ids[0]);

  // Streamed, the same answer gets the same ids.
  std::vector<ChatEvent> streamed = decode_stream("data: " + Json::parse(body).dump() + "\n\n");
  EXPECT_EQ(events_to_json(streamed), events_to_json(*first));
}

// Thought parts are reasoning (tests/unit/api/reasoning_test.cpp has the rest); parts of
// features keel does not request are skipped.
TEST(GeminiResponse, ThoughtsAreReasoningAndUnknownPartsAreSkipped) {
  auto events = decode(R"({"candidates":[{"content":{"parts":[
      {"text":"thinking...","thought":true},{"text":" more","thought":true,"thoughtSignature":"c2ln"},
      {"executableCode":{"language":"PYTHON","code":"1"}},{"text":""},{"text":"answer"}]},
      "finishReason":"STOP"}]})");
  ASSERT_TRUE(events.ok()) << events.error().message;
  ASSERT_EQ(events->size(), 6u);
  EXPECT_EQ((*events)[1].kind, ChatEvent::Kind::kReasoningDelta);
  EXPECT_EQ((*events)[1].text, "thinking...");
  EXPECT_EQ((*events)[2].tool_index, 0);  // one reasoning part, ended by its signature
  EXPECT_EQ((*events)[3].kind, ChatEvent::Kind::kReasoningSignature);
  EXPECT_EQ((*events)[3].text, "c2ln");
  EXPECT_EQ((*events)[4].text, "answer");
}

TEST(GeminiResponse, UsageCounts) {
  auto events =
      decode(R"({"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}],
      "usageMetadata":{"promptTokenCount":"10","candidatesTokenCount":3,"thoughtsTokenCount":5,
                       "toolUsePromptTokenCount":2}})");
  ASSERT_TRUE(events.ok()) << events.error().message;
  const Usage& usage = events->back().usage;
  EXPECT_EQ(usage.prompt_tokens, 12);
  EXPECT_EQ(usage.completion_tokens, 8);
  EXPECT_EQ(usage.total_tokens, 20);  // no totalTokenCount: the sum
  EXPECT_FALSE(usage.cached_tokens);
}

TEST(GeminiResponse, BlockedPrompt) {
  auto events =
      decode(R"({"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"candidates":[]})");
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events_to_json(*events),
            Json::parse(R"([{"start":{"id":"","model":""}},{"finish":"content_filter"}])"));
}

TEST(GeminiResponse, GarbageIsBadGateway) {
  for (const char* body :
       {"", "not json", "[]", "\"text\"", "{}", R"({"candidates":[]})", R"({"candidates":{}})",
        R"({"candidates":[1]})", R"({"candidates":[{"content":[]}]})",
        R"({"candidates":[{"content":{"parts":{}}}]})",
        R"({"candidates":[{"content":{"parts":[1]}}]})",
        R"({"candidates":[{"content":{"parts":[{"text":5}]}}]})",
        R"({"candidates":[{"content":{"parts":[{"functionCall":{"args":{}}}]}}]})",
        R"({"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":"{}"}}]}}]})",
        R"({"candidates":[{"finishReason":7}]})",
        R"({"candidates":[{"content":{"parts":[]}}],"usageMetadata":{"promptTokenCount":"x"}})",
        R"({"candidates":[{"content":{"parts":[]}}],"usageMetadata":[]})",
        R"({"promptFeedback":"blocked"})"}) {
    SCOPED_TRACE(body);
    auto events = decode(body);
    ASSERT_FALSE(events.ok());
    EXPECT_EQ(events.error().code, ErrorCode::kBadGateway);
  }
  std::string deep(100000, '[');
  EXPECT_EQ(decode(deep).error().code, ErrorCode::kBadGateway);
}

TEST(GeminiResponse, ErrorBody) {
  auto events = decode(
      R"({"error":{"code":429,"message":"Resource has been exhausted.","status":"RESOURCE_EXHAUSTED"}})");
  ASSERT_FALSE(events.ok());
  EXPECT_EQ(events.error().code, ErrorCode::kBadGateway);
  EXPECT_EQ(events.error().upstream_status, 429);
  EXPECT_EQ(events.error().message,
            "upstream error: Resource has been exhausted. (RESOURCE_EXHAUSTED)");
}

// ==== streams ================================================================================

TEST(GeminiStream, UsageComesOnceAtTheEnd) {
  GeminiStreamDecoder decoder;
  std::vector<ChatEvent> events;
  ASSERT_TRUE(decoder
                  .decode(R"({"candidates":[{"content":{"parts":[{"text":"a"}]}}],
      "usageMetadata":{"promptTokenCount":3,"totalTokenCount":3},"responseId":"r","modelVersion":"m"})",
                          events)
                  .ok());
  ASSERT_TRUE(decoder
                  .decode(R"({"candidates":[{"content":{"parts":[{"text":"b"}]}}],
      "usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"totalTokenCount":5}})",
                          events)
                  .ok());
  EXPECT_EQ(events.size(), 3u);  // Start, a, b: no Finish or Usage yet
  decoder.finish(events);        // the body ended without a finishReason
  EXPECT_EQ(events_to_json(events), Json::parse(R"([{"start":{"id":"r","model":"m"}},{"text":"a"},
      {"text":"b"},{"finish":"stop"},
      {"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}])"));
  decoder.finish(events);  // idempotent
  EXPECT_EQ(events.size(), 5u);
}

TEST(GeminiStream, ErrorChunkEndsTheStream) {
  GeminiStreamDecoder decoder;
  std::vector<ChatEvent> events;
  ASSERT_TRUE(
      decoder.decode(R"({"candidates":[{"content":{"parts":[{"text":"a"}]}}]})", events).ok());
  ASSERT_TRUE(
      decoder
          .decode(R"([{"error":{"code":429,"message":"Quota","status":"RESOURCE_EXHAUSTED"}}])",
                  events)
          .ok());
  ASSERT_EQ(events.back().kind, ChatEvent::Kind::kError);
  EXPECT_EQ(events.back().error.code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(events.back().error.upstream_status, 429);
  EXPECT_EQ(events.back().error.message, "upstream error: Quota (RESOURCE_EXHAUSTED)");
  size_t count = events.size();
  EXPECT_TRUE(
      decoder.decode(R"({"candidates":[{"content":{"parts":[{"text":"late"}]}}]})", events).ok());
  decoder.finish(events);
  EXPECT_EQ(events.size(), count);  // nothing after an error
}

TEST(GeminiStream, GarbageChunkAppendsNothing) {
  GeminiStreamDecoder decoder;
  std::vector<ChatEvent> events;
  for (const char* chunk :
       {"{", "[1]", R"({"candidates":[{"content":{"parts":[{"functionCall":{}}]}}]})"}) {
    Status status = decoder.decode(chunk, events);
    ASSERT_FALSE(status.ok()) << chunk;
    EXPECT_EQ(status.error().code, ErrorCode::kBadGateway);
  }
  EXPECT_TRUE(events.empty());
  decoder.finish(events);
  EXPECT_TRUE(events.empty());  // never started: nothing to finish
}

TEST(GeminiStream, ToolIndicesCountAcrossChunksAndBlockedPrompts) {
  GeminiStreamDecoder decoder;
  std::vector<ChatEvent> events;
  ASSERT_TRUE(
      decoder
          .decode(
              R"({"candidates":[{"content":{"parts":[{"functionCall":{"id":"x","name":"f"}}]}}]})",
              events)
          .ok());
  ASSERT_TRUE(
      decoder
          .decode(
              R"({"candidates":[{"content":{"parts":[{"functionCall":{"id":"y","name":"g","args":{"k":[1]}}}]},"finishReason":"STOP"}]})",
              events)
          .ok());
  decoder.finish(events);
  EXPECT_EQ(events_to_json(events), Json::parse(R"([{"start":{"id":"","model":""}},
      {"tool_call_start":{"index":0,"id":"x","name":"f"}},{"tool_args":{"index":0,"text":"{}"}},
      {"tool_call_start":{"index":1,"id":"y","name":"g"}},{"tool_args":{"index":1,"text":"{\"k\":[1]}"}},
      {"finish":"tool_calls"}])"));

  GeminiStreamDecoder blocked;
  std::vector<ChatEvent> blocked_events;
  ASSERT_TRUE(
      blocked
          .decode(
              R"({"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":4,"totalTokenCount":4}})",
              blocked_events)
          .ok());
  blocked.finish(blocked_events);
  EXPECT_EQ(events_to_json(blocked_events), Json::parse(R"([{"start":{"id":"","model":""}},
      {"finish":"content_filter"},{"usage":{"prompt_tokens":4,"completion_tokens":0,"total_tokens":4}}])"));
}

// ==== errors =================================================================================

TEST(GeminiError, Messages) {
  EXPECT_EQ(
      gemini_error_message(
          R"({"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT"}})"),
      "API key not valid. (INVALID_ARGUMENT)");
  EXPECT_EQ(
      gemini_error_message(
          R"([{"error":{"code":404,"message":"models/x is not found","status":"NOT_FOUND"}}])"),
      "models/x is not found (NOT_FOUND)");
  EXPECT_EQ(gemini_error_message(R"({"error":{"code":500,"status":"INTERNAL"}})"), "INTERNAL");
  EXPECT_EQ(gemini_error_message("<html>\n<body>Bad   Gateway</body></html>"),
            "<html> <body>Bad Gateway</body></html>");
  EXPECT_EQ(gemini_error_message(""), "(empty body)");
  std::string huge = R"({"error":{"message":")" + std::string(5000, 'x') + R"("}})";
  EXPECT_LT(gemini_error_message(huge).size(), 1100u);
}

// ==== robustness =============================================================================

// Mutated goldens and random bytes: every parser answers with a value, never an exception.
TEST(GeminiRobustness, MutatedInputsNeverThrow) {
  std::vector<std::string> seeds;
  for (const auto& name : cases_with("upstream_response.json")) {
    seeds.push_back(read_text(golden(name, "upstream_response.json")));
  }
  for (const auto& name : cases_with("upstream.sse")) {
    for (const auto& payload : sse_payloads(read_text(golden(name, "upstream.sse")))) {
      seeds.push_back(payload);
    }
  }
  std::mt19937 random(1234);
  for (int round = 0; round < 1500; ++round) {
    std::string input = seeds[random() % seeds.size()];
    int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits && !input.empty(); ++e) {
      size_t at = random() % input.size();
      switch (random() % 3) {
        case 0:
          input[at] = static_cast<char>(random() % 256);
          break;
        case 1:
          input.erase(at, 1 + random() % 8);
          break;
        default:
          input.insert(at, std::string(1, "{}[]\",:0n"[random() % 9]));
          break;
      }
    }
    EXPECT_NO_THROW({
      auto events = gemini_response_from_wire(input);
      GeminiStreamDecoder decoder;
      std::vector<ChatEvent> out;
      (void)decoder.decode(input, out);
      decoder.finish(out);
      (void)gemini_error_message(input);
    });
  }
}

}  // namespace
}  // namespace keel
