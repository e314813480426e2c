// Client requests in the OpenAI format: parse_chat_request / parse_embed_request and the
// conversions toward an OpenAI-compatible upstream. Golden round trips live in
// openai_golden_test.cpp; this file covers each kind of bad input and each normalisation.
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "api/openai_chat/openai_chat.h"
#include "golden_util.h"

namespace keel {
namespace {

// A valid request with `fields` (a JSON object's members, without braces) merged in.
std::string chat_body(const std::string& fields = "") {
  std::string body = R"({"model":"smart","messages":[{"role":"user","content":"hi"}])";
  if (!fields.empty()) body += "," + fields;
  return body + "}";
}

std::string with_messages(const std::string& messages, const std::string& fields = "") {
  std::string body = R"({"model":"smart","messages":)" + messages;
  if (!fields.empty()) body += "," + fields;
  return body + "}";
}

const std::string kWeatherTool =
    R"({"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}})";

struct BadCase {
  const char* name;
  std::string body;
  std::string param;    // expected Error::param
  std::string message;  // a substring of Error::message
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class BadChatRequest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadChatRequest, IsInvalidArgumentWithParam) {
  const BadCase& c = GetParam();
  auto req = parse_chat_request(c.body);
  ASSERT_FALSE(req.ok()) << "accepted: " << c.body;
  EXPECT_EQ(req.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(req.error().param, c.param) << req.error().message;
  EXPECT_NE(req.error().message.find(c.message), std::string::npos)
      << "message: " << req.error().message << "\nwanted: " << c.message;
  EXPECT_EQ(http_status_for(req.error().code), 400);
  // The error body is always well-formed JSON text.
  EXPECT_NO_THROW((void)error_to_wire(req.error()).dump());
}

std::string deep_array(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

const BadCase kBadCases[] = {
    // The body itself.
    {"empty", "", "", "not valid JSON"},
    {"not_json", "{model: smart}", "", "not valid JSON"},
    {"truncated", R"({"model":"smart","messages":[)", "", "not valid JSON"},
    {"trailing_garbage", chat_body() + "x", "", "not valid JSON"},
    {"array_body", "[1,2]", "", "must be a JSON object"},
    {"string_body", R"("hello")", "", "must be a JSON object"},
    {"invalid_utf8", "{\"model\":\"sm\xff\",\"messages\":[]}", "", "not valid JSON"},
    {"huge_number", chat_body(R"("temperature":1e400)"), "", "not valid JSON"},
    {"deep_nesting", chat_body(R"("metadata":)" + deep_array(100000)), "", "nests deeper"},
    {"deep_nesting_257", chat_body(R"("x":)" + deep_array(256)), "", "nests deeper"},
    // model
    {"model_missing", R"({"messages":[{"role":"user","content":"hi"}]})", "model",
     "model is required"},
    {"model_null", R"({"model":null,"messages":[{"role":"user","content":"hi"}]})", "model",
     "model is required"},
    {"model_number", R"({"model":4,"messages":[{"role":"user","content":"hi"}]})", "model",
     "model must be a string"},
    {"model_empty", R"({"model":"","messages":[{"role":"user","content":"hi"}]})", "model",
     "must not be empty"},
    // messages
    {"messages_missing", R"({"model":"smart"})", "messages", "messages is required"},
    {"messages_object", R"({"model":"smart","messages":{}})", "messages", "must be an array"},
    {"messages_empty", R"({"model":"smart","messages":[]})", "messages", "must not be empty"},
    {"message_not_object", with_messages(R"(["hi"])"), "messages[0]", "must be an object"},
    {"role_missing", with_messages(R"([{"content":"hi"}])"), "messages[0].role", "is required"},
    {"role_number", with_messages(R"([{"role":1,"content":"hi"}])"), "messages[0].role",
     "must be a string"},
    {"role_unknown", with_messages(R"([{"role":"robot","content":"hi"}])"), "messages[0].role",
     "'robot' is not one of"},
    {"role_long", with_messages(R"([{"role":")" + std::string(5000, 'x') + R"(","content":"hi"}])"),
     "messages[0].role", "'" + std::string(64, 'x') + "...' is not one of"},
    {"role_function",
     with_messages(
         R"([{"role":"user","content":"hi"},{"role":"function","name":"f","content":"1"}])"),
     "messages[1].role", "'function' is not supported"},
    {"content_missing_user", with_messages(R"([{"role":"user"}])"), "messages[0].content",
     "is required"},
    {"content_null_user", with_messages(R"([{"role":"user","content":null}])"),
     "messages[0].content", "is required"},
    {"content_number", with_messages(R"([{"role":"user","content":42}])"), "messages[0].content",
     "must be a string or an array of content parts"},
    {"content_empty_array", with_messages(R"([{"role":"user","content":[]}])"),
     "messages[0].content", "must not be an empty array"},
    {"assistant_no_content_no_calls",
     with_messages(R"([{"role":"user","content":"hi"},{"role":"assistant","content":null}])"),
     "messages[1].content", "required unless tool_calls"},
    {"part_not_object", with_messages(R"([{"role":"user","content":["hi"]}])"),
     "messages[0].content[0]", "must be an object"},
    {"part_type_missing", with_messages(R"([{"role":"user","content":[{"text":"hi"}]}])"),
     "messages[0].content[0].type", "is required"},
    {"part_input_audio",
     with_messages(
         R"([{"role":"user","content":[{"type":"text","text":"hi"},{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}])"),
     "messages[0].content[1].type", "'input_audio' is not supported"},
    {"part_file",
     with_messages(R"([{"role":"user","content":[{"type":"file","file":{"file_id":"f1"}}]}])"),
     "messages[0].content[0].file.file_id", "file_id is not supported"},
    {"part_refusal_assistant",
     with_messages(
         R"([{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"refusal","refusal":"no"}]}])"),
     "messages[1].content[0].type", "'refusal' is not supported"},
    {"text_part_without_text", with_messages(R"([{"role":"user","content":[{"type":"text"}]}])"),
     "messages[0].content[0].text", "is required"},
    {"text_part_number_text",
     with_messages(R"([{"role":"user","content":[{"type":"text","text":5}]}])"),
     "messages[0].content[0].text", "must be a string"},
    {"image_without_url",
     with_messages(R"([{"role":"user","content":[{"type":"image_url","image_url":{}}]}])"),
     "messages[0].content[0].image_url.url", "is required"},
    {"image_missing", with_messages(R"([{"role":"user","content":[{"type":"image_url"}]}])"),
     "messages[0].content[0].image_url", "is required"},
    {"image_empty_url",
     with_messages(R"([{"role":"user","content":[{"type":"image_url","image_url":{"url":""}}]}])"),
     "messages[0].content[0].image_url.url", "must not be empty"},
    {"image_bad_detail",
     with_messages(
         R"([{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"ultra"}}]}])"),
     "messages[0].content[0].image_url.detail", "one of auto, low, high"},
    {"image_in_system",
     with_messages(
         R"([{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]},{"role":"user","content":"hi"}])"),
     "messages[0].content[0].type", "only allowed in user messages"},
    {"name_number", with_messages(R"([{"role":"user","content":"hi","name":7}])"),
     "messages[0].name", "must be a string"},
    // tool calls and tool results
    {"tool_without_call_id", with_messages(R"([{"role":"tool","content":"42"}])"),
     "messages[0].tool_call_id", "is required"},
    {"tool_call_id_number", with_messages(R"([{"role":"tool","content":"42","tool_call_id":1}])"),
     "messages[0].tool_call_id", "must be a string"},
    {"tool_call_id_empty", with_messages(R"([{"role":"tool","content":"42","tool_call_id":""}])"),
     "messages[0].tool_call_id", "must not be empty"},
    {"tool_calls_on_user",
     with_messages(
         R"([{"role":"user","content":"hi","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}])"),
     "messages[0].tool_calls", "only allowed on assistant"},
    {"tool_calls_not_array",
     with_messages(R"([{"role":"user","content":"hi"},{"role":"assistant","tool_calls":{}}])"),
     "messages[1].tool_calls", "must be an array"},
    {"tool_call_without_id",
     with_messages(
         R"([{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}])"),
     "messages[1].tool_calls[0].id", "is required"},
    {"tool_call_custom",
     with_messages(
         R"([{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c","type":"custom","custom":{"name":"f","input":"x"}}]}])"),
     "messages[1].tool_calls[0].type", "'custom' is not supported"},
    {"tool_call_without_function",
     with_messages(
         R"([{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c","type":"function"}]}])"),
     "messages[1].tool_calls[0].function", "is required"},
    {"tool_call_without_name",
     with_messages(
         R"([{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"arguments":"{}"}}]}])"),
     "messages[1].tool_calls[0].function.name", "is required"},
    {"tool_call_object_arguments",
     with_messages(
         R"([{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":{"a":1}}}]}])"),
     "messages[1].tool_calls[0].function.arguments", "must be a string"},
    {"tool_call_without_arguments",
     with_messages(
         R"([{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f"}}]}])"),
     "messages[1].tool_calls[0].function.arguments", "is required"},
    {"assistant_function_call",
     with_messages(
         R"([{"role":"user","content":"hi"},{"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{}"}}])"),
     "messages[1].function_call", "use tool_calls"},
    // tools and tool_choice
    {"tools_object", chat_body(R"("tools":{})"), "tools", "must be an array"},
    {"tool_not_object", chat_body(R"("tools":["f"])"), "tools[0]", "must be an object"},
    {"tool_custom", chat_body(R"("tools":[{"type":"custom","custom":{"name":"f"}}])"),
     "tools[0].type", "'custom' is not supported"},
    {"tool_without_function", chat_body(R"("tools":[{"type":"function"}])"), "tools[0].function",
     "is required"},
    {"tool_without_name", chat_body(R"("tools":[{"type":"function","function":{}}])"),
     "tools[0].function.name", "is required"},
    {"tool_empty_name", chat_body(R"("tools":[{"type":"function","function":{"name":""}}])"),
     "tools[0].function.name", "must not be empty"},
    {"tool_duplicate_name", chat_body(R"("tools":[)" + kWeatherTool + "," + kWeatherTool + "]"),
     "tools[1].function.name", "used by another tool"},
    {"tool_parameters_array",
     chat_body(R"("tools":[{"type":"function","function":{"name":"f","parameters":[]}}])"),
     "tools[0].function.parameters", "must be an object"},
    {"tool_strict_string",
     chat_body(R"("tools":[{"type":"function","function":{"name":"f","strict":"yes"}}])"),
     "tools[0].function.strict", "must be a boolean"},
    {"tool_description_number",
     chat_body(R"("tools":[{"type":"function","function":{"name":"f","description":1}}])"),
     "tools[0].function.description", "must be a string"},
    {"tool_choice_unknown_string",
     chat_body(R"("tools":[)" + kWeatherTool + R"(],"tool_choice":"any")"), "tool_choice",
     "'any' is not one of auto, none, required"},
    {"tool_choice_number", chat_body(R"("tool_choice":1)"), "tool_choice",
     "must be a string or an object"},
    {"tool_choice_required_without_tools", chat_body(R"("tool_choice":"required")"), "tool_choice",
     "needs at least one tool"},
    {"tool_choice_unknown_function",
     chat_body(R"("tools":[)" + kWeatherTool +
               R"(],"tool_choice":{"type":"function","function":{"name":"get_time"}})"),
     "tool_choice", "'get_time', which is not in tools"},
    {"tool_choice_named_without_tools",
     chat_body(R"("tool_choice":{"type":"function","function":{"name":"get_time"}})"),
     "tool_choice", "not in tools"},
    {"tool_choice_without_function", chat_body(R"("tool_choice":{"type":"function"})"),
     "tool_choice.function", "is required"},
    {"tool_choice_allowed_tools",
     chat_body(
         R"("tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}})"),
     "tool_choice.type", "'allowed_tools' is not supported"},
    {"parallel_tool_calls_string", chat_body(R"("parallel_tool_calls":"true")"),
     "parallel_tool_calls", "must be a boolean"},
    // sampling
    {"temperature_string", chat_body(R"("temperature":"0.5")"), "temperature",
     "temperature must be a number"},
    {"temperature_bool", chat_body(R"("temperature":true)"), "temperature", "must be a number"},
    {"temperature_high", chat_body(R"("temperature":2.5)"), "temperature", "between 0 and 2"},
    {"temperature_negative", chat_body(R"("temperature":-0.1)"), "temperature", "between 0 and 2"},
    {"top_p_high", chat_body(R"("top_p":1.5)"), "top_p", "between 0 and 1"},
    {"presence_penalty_low", chat_body(R"("presence_penalty":-3)"), "presence_penalty",
     "between -2 and 2"},
    {"frequency_penalty_high", chat_body(R"("frequency_penalty":2.01)"), "frequency_penalty",
     "between -2 and 2"},
    {"frequency_penalty_huge", chat_body(R"("frequency_penalty":1e300)"), "frequency_penalty",
     "between -2 and 2"},
    {"max_tokens_zero", chat_body(R"("max_tokens":0)"), "max_tokens", "positive integer"},
    {"max_tokens_negative", chat_body(R"("max_tokens":-5)"), "max_tokens", "positive integer"},
    {"max_tokens_fraction", chat_body(R"("max_tokens":10.5)"), "max_tokens", "must be an integer"},
    {"max_tokens_string", chat_body(R"("max_tokens":"10")"), "max_tokens", "must be an integer"},
    {"max_tokens_huge", chat_body(R"("max_tokens":99999999999999999999999)"), "max_tokens",
     "out of range"},
    {"max_tokens_uint64", chat_body(R"("max_tokens":18446744073709551615)"), "max_tokens",
     "out of range"},
    {"max_completion_tokens_zero", chat_body(R"("max_completion_tokens":0)"),
     "max_completion_tokens", "positive integer"},
    {"seed_string", chat_body(R"("seed":"7")"), "seed", "must be an integer"},
    {"seed_fraction", chat_body(R"("seed":1.5)"), "seed", "must be an integer"},
    {"seed_huge", chat_body(R"("seed":1e30)"), "seed", "out of range"},
    {"stop_number", chat_body(R"("stop":5)"), "stop", "a string or an array of strings"},
    {"stop_too_many", chat_body(R"("stop":["a","b","c","d","e"])"), "stop", "at most 4"},
    {"stop_item_number", chat_body(R"("stop":["a",1])"), "stop[1]", "must be a string"},
    {"n_two", chat_body(R"("n":2)"), "n", "n > 1 is not supported"},
    {"n_zero", chat_body(R"("n":0)"), "n", "at least 1"},
    {"n_string", chat_body(R"("n":"1")"), "n", "must be an integer"},
    // response_format
    {"response_format_string", chat_body(R"("response_format":"json")"), "response_format",
     "must be an object"},
    {"response_format_no_type", chat_body(R"("response_format":{})"), "response_format.type",
     "is required"},
    {"response_format_unknown", chat_body(R"("response_format":{"type":"xml"})"),
     "response_format.type", "'xml' is not one of"},
    {"json_schema_missing", chat_body(R"("response_format":{"type":"json_schema"})"),
     "response_format.json_schema", "is required"},
    {"json_schema_no_name",
     chat_body(R"("response_format":{"type":"json_schema","json_schema":{"schema":{}}})"),
     "response_format.json_schema.name", "is required"},
    {"json_schema_schema_string",
     chat_body(
         R"("response_format":{"type":"json_schema","json_schema":{"name":"x","schema":"{}"}})"),
     "response_format.json_schema.schema", "must be an object"},
    {"json_schema_strict_string",
     chat_body(
         R"("response_format":{"type":"json_schema","json_schema":{"name":"x","strict":"no"}})"),
     "response_format.json_schema.strict", "must be a boolean"},
    // stream
    {"stream_string", chat_body(R"("stream":"true")"), "stream", "must be a boolean"},
    {"stream_options_array", chat_body(R"("stream":true,"stream_options":[])"), "stream_options",
     "must be an object"},
    {"include_usage_string", chat_body(R"("stream":true,"stream_options":{"include_usage":"yes"})"),
     "stream_options.include_usage", "must be a boolean"},
    {"user_number", chat_body(R"("user":5)"), "user", "must be a string"},
};

INSTANTIATE_TEST_SUITE_P(OpenAIRequest, BadChatRequest, ::testing::ValuesIn(kBadCases),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- accepted requests ---------------------------------------------------------------------

TEST(OpenAIRequest, ParsesTheNativeFields) {
  auto req = parse_chat_request(R"({
    "model": "smart",
    "messages": [
      {"role": "developer", "content": "be brief"},
      {"role": "user", "name": "ann", "content": [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}}]},
      {"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "ok"}
    ],
    "tools": [{"type": "function", "function": {"name": "f", "description": "d",
               "parameters": {"type": "object"}, "strict": true}}],
    "tool_choice": {"type": "function", "function": {"name": "f"}},
    "parallel_tool_calls": false,
    "temperature": 0.7, "top_p": 1, "max_tokens": 100, "stop": ["x", "y"], "seed": -3,
    "presence_penalty": -2, "frequency_penalty": 2,
    "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}, "strict": false}},
    "stream": true, "stream_options": {"include_usage": true, "include_obfuscation": false},
    "user": "u-1", "logprobs": true
  })");
  ASSERT_TRUE(req.ok()) << req.error().message;
  EXPECT_EQ(req->model, "smart");
  ASSERT_EQ(req->messages.size(), 4u);
  EXPECT_EQ(req->messages[0].role, Role::kDeveloper);
  EXPECT_TRUE(req->messages[0].content_is_string);
  EXPECT_EQ(req->messages[0].text(), "be brief");

  const Message& user = req->messages[1];
  EXPECT_EQ(user.role, Role::kUser);
  EXPECT_EQ(user.name, "ann");
  EXPECT_FALSE(user.content_is_string);
  ASSERT_EQ(user.content.size(), 2u);
  EXPECT_EQ(user.content[0].type, ContentPart::Type::kText);
  EXPECT_EQ(user.content[1].type, ContentPart::Type::kImage);
  EXPECT_EQ(user.content[1].image_url, "data:image/png;base64,AAAA");
  EXPECT_EQ(user.content[1].image_detail, "low");

  const Message& assistant = req->messages[2];
  EXPECT_TRUE(assistant.content.empty());
  ASSERT_EQ(assistant.tool_calls.size(), 1u);
  EXPECT_EQ(assistant.tool_calls[0].id, "call_1");
  EXPECT_EQ(assistant.tool_calls[0].name, "f");
  EXPECT_EQ(assistant.tool_calls[0].arguments, "{\"a\":1}");
  EXPECT_EQ(req->messages[3].role, Role::kTool);
  EXPECT_EQ(req->messages[3].tool_call_id, "call_1");

  ASSERT_EQ(req->tools.size(), 1u);
  EXPECT_EQ(req->tools[0].name, "f");
  EXPECT_EQ(req->tools[0].description, "d");
  EXPECT_EQ(req->tools[0].parameters, Json({{"type", "object"}}));
  EXPECT_EQ(req->tools[0].strict, true);
  EXPECT_EQ(req->tool_choice.mode, ToolChoice::Mode::kNamed);
  EXPECT_EQ(req->tool_choice.name, "f");
  EXPECT_EQ(req->parallel_tool_calls, false);

  EXPECT_EQ(req->sampling.temperature, 0.7);
  EXPECT_EQ(req->sampling.top_p, 1.0);
  EXPECT_EQ(req->sampling.max_tokens, 100);
  EXPECT_EQ(req->sampling.stop, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(req->sampling.seed, -3);
  EXPECT_EQ(req->sampling.presence_penalty, -2.0);
  EXPECT_EQ(req->sampling.frequency_penalty, 2.0);
  ASSERT_TRUE(req->response_format.has_value());
  EXPECT_EQ(req->response_format->type, ResponseFormat::Type::kJsonSchema);
  EXPECT_EQ(req->response_format->name, "s");
  EXPECT_EQ(req->response_format->schema, Json({{"type", "object"}}));
  EXPECT_EQ(req->response_format->strict, false);
  EXPECT_TRUE(req->stream);
  EXPECT_TRUE(req->include_usage);
  EXPECT_EQ(req->user, "u-1");
  EXPECT_EQ(req->passthrough, Json({{"logprobs", true}}));
}

TEST(OpenAIRequest, UnknownTopLevelFieldsGoToPassthroughUnchanged) {
  auto req = parse_chat_request(chat_body(
      R"("logit_bias":{"1":-100},"metadata":{"k":"v"},"store":true,"service_tier":"flex",)"
      R"("reasoning_effort":"high","prediction":{"type":"content","content":"x"},)"
      R"("modalities":["text","audio"],"audio":{"voice":"alloy","format":"wav"},"top_logprobs":2,)"
      R"("functions":[{"name":"legacy"}],"vendor_extension":{"deep":[1,{"a":null}]})"));
  ASSERT_TRUE(req.ok()) << req.error().message;
  EXPECT_EQ(req->passthrough.size(), 10u);  // reasoning_effort is modelled (ReasoningConfig)
  EXPECT_EQ(req->reasoning.effort, "high");
  EXPECT_EQ(req->passthrough["vendor_extension"], Json::parse(R"({"deep":[1,{"a":null}]})"));
  EXPECT_EQ(req->passthrough["audio"], Json::parse(R"({"voice":"alloy","format":"wav"})"));
  Json wire = chat_request_to_wire(*req, "up");
  EXPECT_EQ(wire["service_tier"], "flex");
  EXPECT_EQ(wire["functions"], Json::parse(R"([{"name":"legacy"}])"));
}

TEST(OpenAIRequest, NullFieldsCountAsAbsent) {
  auto req = parse_chat_request(
      chat_body(R"("temperature":null,"top_p":null,"max_tokens":null,"stop":null,"seed":null,)"
                R"("tools":null,"tool_choice":null,"response_format":null,"stream":null,)"
                R"("stream_options":null,"user":null,"n":null,"parallel_tool_calls":null)"));
  ASSERT_TRUE(req.ok()) << req.error().message;
  EXPECT_FALSE(req->sampling.temperature.has_value());
  EXPECT_FALSE(req->sampling.max_tokens.has_value());
  EXPECT_TRUE(req->sampling.stop.empty());
  EXPECT_FALSE(req->stream);
  EXPECT_EQ(req->tool_choice.mode, ToolChoice::Mode::kUnset);
  EXPECT_TRUE(req->passthrough.empty());
  EXPECT_EQ(chat_request_to_wire(*req, "up"),
            Json::parse(R"({"model":"up","messages":[{"role":"user","content":"hi"}]})"));
}

TEST(OpenAIRequest, AcceptsLenientButUnambiguousShapes) {
  // Integral floats for integers, the short image_url form, an assistant turn with content ""
  // and tool calls, an untyped tool, the SDK's replayed assistant message (refusal: null).
  auto req = parse_chat_request(with_messages(
      R"([{"role":"user","content":[{"type":"image_url","image_url":"https://x/cat.png"}]},)"
      R"({"role":"assistant","content":"","refusal":null,"audio":null,"function_call":null,)"
      R"("tool_calls":[{"id":"c1","function":{"name":"f","arguments":""}}]},)"
      R"({"role":"tool","tool_call_id":"c1","content":"1","name":"f"}])",
      R"("max_tokens":16.0,"seed":2.0,"n":1.0,"tools":[{"function":{"name":"f"}}],"tool_choice":"none")"));
  ASSERT_TRUE(req.ok()) << req.error().message;
  EXPECT_EQ(req->sampling.max_tokens, 16);
  EXPECT_EQ(req->sampling.seed, 2);
  EXPECT_EQ(req->messages[0].content[0].image_url, "https://x/cat.png");
  EXPECT_EQ(req->messages[1].tool_calls.size(), 1u);
  EXPECT_EQ(req->messages[2].name, "f");
  Json wire = chat_request_to_wire(*req, "up");
  EXPECT_EQ(wire["messages"][0]["content"][0],
            Json::parse(R"({"type":"image_url","image_url":{"url":"https://x/cat.png"}})"));
  EXPECT_EQ(wire["messages"][1]["content"], "");
  EXPECT_EQ(wire["messages"][1]["tool_calls"][0]["type"], "function");
  EXPECT_EQ(wire["tools"], Json::parse(R"([{"type":"function","function":{"name":"f"}}])"));
  EXPECT_EQ(wire["n"], 1);
}

TEST(OpenAIRequest, AcceptsNestingUpToTheLimit) {
  // 256 levels in all, counting the body object.
  std::string body = chat_body(R"("metadata":)" + deep_array(255));
  auto req = parse_chat_request(body);
  ASSERT_TRUE(req.ok()) << req.error().message;
  EXPECT_NO_THROW((void)chat_request_to_wire(*req, "up").dump());
  // Brackets inside strings are not nesting.
  auto quoted = parse_chat_request(
      with_messages(R"([{"role":"user","content":")" + std::string(1000, '[') + R"(\"{"}])"));
  EXPECT_TRUE(quoted.ok()) << quoted.error().message;
}

TEST(OpenAIRequest, MaxCompletionTokensKeepsItsSpelling) {
  auto req = parse_chat_request(chat_body(R"("max_completion_tokens":200)"));
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->sampling.max_tokens, 200);
  // The router may lower the budget; the upstream gets the native value under the client's name.
  req->sampling.max_tokens = 50;
  Json wire = chat_request_to_wire(*req, "up");
  EXPECT_EQ(wire["max_completion_tokens"], 50);
  EXPECT_FALSE(wire.contains("max_tokens"));

  auto plain = parse_chat_request(chat_body(R"("max_tokens":200)"));
  ASSERT_TRUE(plain.ok());
  Json plain_wire = chat_request_to_wire(*plain, "up");
  EXPECT_EQ(plain_wire["max_tokens"], 200);
  EXPECT_FALSE(plain_wire.contains("max_completion_tokens"));

  auto both = parse_chat_request(chat_body(R"("max_tokens":300,"max_completion_tokens":200)"));
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->sampling.max_tokens, 200);
  Json both_wire = chat_request_to_wire(*both, "up");
  EXPECT_EQ(both_wire["max_completion_tokens"], 200);
  EXPECT_FALSE(both_wire.contains("max_tokens"));
}

TEST(OpenAIRequest, ToWireNormalisations) {
  auto req = parse_chat_request(chat_body(
      R"("stop":["only"],"stream":false,"stream_options":{"include_usage":true},)"
      R"("tools":[{"type":"function","function":{"name":"f","description":"","parameters":{},"strict":null}}])"));
  ASSERT_TRUE(req.ok()) << req.error().message;
  Json wire = chat_request_to_wire(*req, "up");
  EXPECT_EQ(wire["stop"], "only");
  EXPECT_FALSE(wire.contains("stream"));
  EXPECT_FALSE(wire.contains("stream_options"));
  EXPECT_EQ(wire["tools"], Json::parse(R"([{"type":"function","function":{"name":"f"}}])"));

  // Streaming always asks the upstream for usage, whatever the client asked.
  req->stream = true;
  req->include_usage = false;
  wire = chat_request_to_wire(*req, "up");
  EXPECT_EQ(wire["stream"], true);
  EXPECT_EQ(wire["stream_options"], Json({{"include_usage", true}}));
}

TEST(OpenAIRequest, ToWireFromNativeBuiltRequests) {
  // Requests built by keel itself (flows, copilots) rather than parsed.
  ChatRequest req;
  req.model = "smart";
  Message system;
  system.role = Role::kSystem;
  system.content.push_back({ContentPart::Type::kText, "a", "", "", nullptr});
  system.content.push_back({ContentPart::Type::kText, "b", "", "", nullptr});
  req.messages.push_back(system);
  Message user;
  user.role = Role::kUser;
  user.content.push_back({ContentPart::Type::kImage, "", "https://x/y.png", "", nullptr});
  req.messages.push_back(user);  // content_is_string, but an image forces the array form
  Message assistant;
  assistant.role = Role::kAssistant;
  assistant.tool_calls.push_back({"call_1", "f", "{}"});
  req.messages.push_back(assistant);
  Message empty_user;
  empty_user.role = Role::kUser;
  req.messages.push_back(empty_user);
  req.passthrough = nullptr;  // tolerated
  Json wire = chat_request_to_wire(req, "up");
  EXPECT_EQ(wire["messages"][0]["content"], "ab");
  EXPECT_EQ(wire["messages"][1]["content"],
            Json::parse(R"([{"type":"image_url","image_url":{"url":"https://x/y.png"}}])"));
  EXPECT_TRUE(wire["messages"][2]["content"].is_null());
  EXPECT_EQ(wire["messages"][3]["content"], "");
}

// ---- embeddings ----------------------------------------------------------------------------

TEST(OpenAIEmbedRequest, ParsesEachInputShape) {
  auto single = parse_embed_request(R"({"model":"e","input":"hello","dimensions":256,"user":"u"})");
  ASSERT_TRUE(single.ok()) << single.error().message;
  EXPECT_EQ(single->inputs, std::vector<std::string>{"hello"});
  EXPECT_EQ(single->dimensions, 256);
  EXPECT_FALSE(single->base64);
  EXPECT_JSON_EQ(
      embed_request_to_wire(*single, "up"),
      Json::parse(
          R"({"model":"up","input":"hello","dimensions":256,"user":"u","encoding_format":"float"})"));

  auto many = parse_embed_request(R"({"model":"e","input":["a","b"],"encoding_format":"base64"})");
  ASSERT_TRUE(many.ok());
  EXPECT_EQ(many->inputs, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(many->base64);
  EXPECT_EQ(embed_request_to_wire(*many, "up"),
            Json::parse(R"({"model":"up","input":["a","b"],"encoding_format":"float"})"));

  // Token arrays (LangChain sends these) pass through in raw_input.
  auto tokens =
      parse_embed_request(R"({"model":"e","input":[[1,2,3],[4]],"encoding_format":"float","x":1})");
  ASSERT_TRUE(tokens.ok()) << tokens.error().message;
  EXPECT_TRUE(tokens->inputs.empty());
  EXPECT_JSON_EQ(
      embed_request_to_wire(*tokens, "up"),
      Json::parse(R"({"model":"up","input":[[1,2,3],[4]],"x":1,"encoding_format":"float"})"));
  auto flat_tokens = parse_embed_request(R"({"model":"e","input":[1,2,3]})");
  ASSERT_TRUE(flat_tokens.ok());
  EXPECT_EQ(embed_request_to_wire(*flat_tokens, "up")["input"], Json::parse("[1,2,3]"));

  EmbedRequest built;  // built natively, without raw_input
  built.model = "e";
  built.inputs = {"x", "y"};
  EXPECT_EQ(embed_request_to_wire(built, "up")["input"], Json::parse(R"(["x","y"])"));
}

TEST(OpenAIEmbedRequest, RejectsBadInput) {
  struct Case {
    const char* body;
    const char* param;
  };
  const Case cases[] = {
      {"not json", ""},
      {"[]", ""},
      {R"({"input":"x"})", "model"},
      {R"({"model":"","input":"x"})", "model"},
      {R"({"model":"e"})", "input"},
      {R"({"model":"e","input":""})", "input"},
      {R"({"model":"e","input":[]})", "input"},
      {R"({"model":"e","input":5})", "input"},
      {R"({"model":"e","input":["a",1]})", "input[1]"},
      {R"({"model":"e","input":["a",""]})", "input[1]"},
      {R"({"model":"e","input":[1,"a"]})", "input[1]"},
      {R"({"model":"e","input":[1,2.5]})", "input[1]"},
      {R"({"model":"e","input":[[1],[]]})", "input[1]"},
      {R"({"model":"e","input":[[1],["a"]]})", "input[1]"},
      {R"({"model":"e","input":[{}]})", "input[0]"},
      {R"({"model":"e","input":"x","encoding_format":"int8"})", "encoding_format"},
      {R"({"model":"e","input":"x","dimensions":0})", "dimensions"},
      {R"({"model":"e","input":"x","dimensions":"8"})", "dimensions"},
      {R"({"model":"e","input":"x","user":1})", "user"},
  };
  for (const auto& c : cases) {
    auto req = parse_embed_request(c.body);
    ASSERT_FALSE(req.ok()) << c.body;
    EXPECT_EQ(req.error().code, ErrorCode::kInvalidArgument) << c.body;
    EXPECT_EQ(req.error().param, c.param) << c.body << ": " << req.error().message;
  }
  std::string too_many = R"({"model":"e","input":[)";
  for (int i = 0; i < 2049; ++i) too_many += (i ? ",\"a\"" : "\"a\"");
  too_many += "]}";
  auto req = parse_embed_request(too_many);
  ASSERT_FALSE(req.ok());
  EXPECT_EQ(req.error().param, "input");
}

}  // namespace
}  // namespace keel
