// Chat requests to prompts and model text back to native events (providers/local/chat_format.h),
// with the generated fixture's tool-capable ChatML template through llama.cpp's common chat
// code: rendering, the tool-call grammar, and parsing tool calls streamed in arbitrary pieces.
#include "providers/local/chat_format.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "llama_test_util.h"
#include "providers/local/fixture.h"

namespace keel::local {
namespace {

namespace fs = std::filesystem;

class ChatFormatTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    testing_llama::init_quiet_backend();
    dir_ = fs::temp_directory_path() / ("keel-chat-format-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    const fs::path path = dir_ / "fixture.gguf";
    ASSERT_TRUE(write_fixture_model(path.string(), FixtureArch::kLlama).ok());
    llama_model_params params = llama_model_default_params();
    model_ = llama_model_load_from_file(path.c_str(), params);
    ASSERT_NE(model_, nullptr);
  }
  static void TearDownTestSuite() {
    if (model_) llama_model_free(model_);
    model_ = nullptr;
    fs::remove_all(dir_);
  }

  static ChatRequest weather_request() {
    ChatRequest request;
    Message message;
    message.role = Role::kUser;
    ContentPart part;
    part.text = "What is the weather in Paris?";
    message.content.push_back(part);
    request.messages.push_back(message);
    ToolSpec tool;
    tool.name = "get_weather";
    tool.description = "Current weather in a city";
    tool.parameters = Json::parse(
        R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})");
    request.tools.push_back(tool);
    request.tool_choice.mode = ToolChoice::Mode::kRequired;
    return request;
  }

  // Feeds `text` to a parser in pieces of `step` bytes, then finishes; returns all events.
  static std::vector<ChatEvent> parse_in_pieces(const Prepared& prepared, const std::string& text,
                                                size_t step) {
    OutputParser parser(prepared.parse_output, prepared.parser);
    std::vector<ChatEvent> events;
    for (size_t i = 0; i < text.size(); i += step) {
      for (auto& e : parser.feed(text.substr(i, step), false)) events.push_back(std::move(e));
    }
    for (auto& e : parser.feed("", true)) events.push_back(std::move(e));
    return events;
  }

  static fs::path dir_;
  static llama_model* model_;
};
fs::path ChatFormatTest::dir_;
llama_model* ChatFormatTest::model_ = nullptr;

TEST_F(ChatFormatTest, RendersTheModelsTemplateWithTools) {
  ChatFormat format(model_, "local", "fixture");
  ASSERT_TRUE(format.has_template());
  auto prepared = format.prepare(weather_request());
  ASSERT_TRUE(prepared.ok()) << prepared.error().message;
  EXPECT_NE(prepared->prompt.find("get_weather"), std::string::npos) << prepared->prompt;
  EXPECT_NE(prepared->prompt.find("<|im_start|>user\nWhat is the weather in Paris?<|im_end|>"),
            std::string::npos)
      << prepared->prompt;
  EXPECT_TRUE(prepared->parse_output);
  EXPECT_FALSE(prepared->sampling.grammar.empty()) << "tool_choice required needs a grammar";
}

// Structured output follows the schema's key order: the grammar that llama.cpp builds from it
// must ask for "reasoning" before "answer", as the client listed them (not alphabetically).
TEST_F(ChatFormatTest, GrammarsKeepTheSchemasPropertyOrder) {
  ChatFormat format(model_, "local", "fixture");
  // The rule that lists the object's members (rules are printed sorted by name, so only the
  // rule's own line says in which order the members must come): where each name is in it.
  const auto order_in = [](const std::string& grammar) {
    std::istringstream lines(grammar);
    std::string line;
    while (std::getline(lines, line)) {
      const size_t reasoning = line.find("reasoning-kv");
      const size_t answer = line.find("answer-kv");
      if (reasoning != std::string::npos && answer != std::string::npos) {
        return std::make_pair(reasoning, answer);
      }
    }
    return std::make_pair(std::string::npos, std::string::npos);
  };
  ChatRequest structured = weather_request();
  structured.tools.clear();
  structured.tool_choice = ToolChoice();
  ResponseFormat response_format;
  response_format.type = ResponseFormat::Type::kJsonSchema;
  response_format.name = "out";
  response_format.schema =
      Json::parse(R"({"type":"object","properties":{"reasoning":{"type":"string"},)"
                  R"("answer":{"type":"string"}},"required":["reasoning","answer"]})");
  structured.response_format = response_format;
  auto prepared = format.prepare(structured);
  ASSERT_TRUE(prepared.ok()) << prepared.error().message;
  auto [reasoning, answer] = order_in(prepared->sampling.grammar.grammar);
  ASSERT_NE(reasoning, std::string::npos) << prepared->sampling.grammar.grammar;
  ASSERT_NE(answer, std::string::npos) << prepared->sampling.grammar.grammar;
  EXPECT_LT(reasoning, answer) << prepared->sampling.grammar.grammar;

  ChatRequest tools = weather_request();
  tools.tools[0].parameters = response_format.schema;
  prepared = format.prepare(tools);
  ASSERT_TRUE(prepared.ok()) << prepared.error().message;
  std::tie(reasoning, answer) = order_in(prepared->sampling.grammar.grammar);
  ASSERT_NE(reasoning, std::string::npos) << prepared->sampling.grammar.grammar;
  EXPECT_LT(reasoning, answer) << prepared->sampling.grammar.grammar;
}

TEST_F(ChatFormatTest, ToolCallsParseIntoNativeEventsWhateverThePieces) {
  ChatFormat format(model_, "local", "fixture");
  auto prepared = format.prepare(weather_request());
  ASSERT_TRUE(prepared.ok()) << prepared.error().message;
  const std::string output =
      R"(<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>)";
  for (size_t step : {1u, 3u, 7u, 1000u}) {
    const auto events = parse_in_pieces(*prepared, output, step);
    std::string name, args, text;
    int starts = 0;
    for (const auto& event : events) {
      if (event.kind == ChatEvent::Kind::kToolCallStart) {
        ++starts;
        name = event.tool_name;
        EXPECT_FALSE(event.tool_id.empty());
        EXPECT_EQ(event.tool_index, 0);
      }
      if (event.kind == ChatEvent::Kind::kToolArgsDelta) args += event.text;
      if (event.kind == ChatEvent::Kind::kTextDelta) text += event.text;
    }
    EXPECT_EQ(starts, 1) << "step " << step;
    EXPECT_EQ(name, "get_weather") << "step " << step;
    EXPECT_EQ(Json::parse(args, nullptr, false), Json::parse(R"({"city":"Paris"})"))
        << "step " << step << ": " << args;
    EXPECT_EQ(text, "") << "step " << step;
  }
}

TEST_F(ChatFormatTest, PlainAnswersAreContent) {
  ChatFormat format(model_, "local", "fixture");
  ChatRequest request = weather_request();
  request.tools.clear();
  request.tool_choice = ToolChoice{};
  auto prepared = format.prepare(request);
  ASSERT_TRUE(prepared.ok()) << prepared.error().message;
  const auto events = parse_in_pieces(*prepared, "It is sunny in Paris.", 4);
  std::string text;
  for (const auto& event : events) {
    EXPECT_EQ(event.kind, ChatEvent::Kind::kTextDelta);
    text += event.text;
  }
  EXPECT_EQ(text, "It is sunny in Paris.");
}

TEST_F(ChatFormatTest, AssistantToolCallsAndResultsRoundTripIntoThePrompt) {
  ChatFormat format(model_, "local", "fixture");
  ChatRequest request = weather_request();
  Message call;
  call.role = Role::kAssistant;
  call.tool_calls.push_back(ToolCall{"call_1", "get_weather", R"({"city":"Paris"})"});
  request.messages.push_back(call);
  Message result;
  result.role = Role::kTool;
  result.tool_call_id = "call_1";
  ContentPart part;
  part.text = "sunny, 21 C";
  result.content.push_back(part);
  request.messages.push_back(result);
  request.tool_choice = ToolChoice{};
  auto prepared = format.prepare(request);
  ASSERT_TRUE(prepared.ok()) << prepared.error().message;
  EXPECT_NE(prepared->prompt.find(R"(<tool_call>{"name": "get_weather", "arguments": )"),
            std::string::npos)
      << prepared->prompt;
  EXPECT_NE(prepared->prompt.find("<tool_response>sunny, 21 C</tool_response>"), std::string::npos)
      << prepared->prompt;

  // A failed tool's result (is_error) reads "Error: ..." to the model.
  request.messages.back().is_error = true;
  prepared = format.prepare(request);
  ASSERT_TRUE(prepared.ok()) << prepared.error().message;
  EXPECT_NE(prepared->prompt.find("<tool_response>Error: sunny, 21 C</tool_response>"),
            std::string::npos)
      << prepared->prompt;
}

TEST_F(ChatFormatTest, UnknownNamedToolIs400) {
  ChatFormat format(model_, "local", "fixture");
  ChatRequest request = weather_request();
  request.tool_choice.mode = ToolChoice::Mode::kNamed;
  request.tool_choice.name = "nope";
  auto prepared = format.prepare(request);
  ASSERT_FALSE(prepared.ok());
  EXPECT_EQ(prepared.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(prepared.error().param, "tool_choice");
}

}  // namespace
}  // namespace keel::local
