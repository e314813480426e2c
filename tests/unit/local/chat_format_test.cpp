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

  // What a parser's events say: how many calls began, the last call's name, its arguments and
  // the text.
  struct Said {
    int starts = 0;
    std::string name, args, text;
  };
  static Said said(const std::vector<ChatEvent>& events) {
    Said out;
    for (const auto& event : events) {
      if (event.kind == ChatEvent::Kind::kToolCallStart) {
        ++out.starts;
        out.name = event.tool_name;
        EXPECT_FALSE(event.tool_id.empty());
        EXPECT_EQ(event.tool_index, 0);
      }
      if (event.kind == ChatEvent::Kind::kToolArgsDelta) out.args += event.text;
      if (event.kind == ChatEvent::Kind::kTextDelta) out.text += event.text;
    }
    return out;
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

// With tool_choice auto the model writes the whole call; a forced call (required) has the
// template's call marker put at the end of the prompt, so the model and the grammar start inside
// the call (llama.cpp's grammar would let a model write text first, forever), and the parser
// reads the output as continuing it.
TEST_F(ChatFormatTest, ToolCallsParseIntoNativeEventsWhateverThePieces) {
  ChatFormat format(model_, "local", "fixture");
  const std::string call = R"({"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>)";
  for (auto mode : {ToolChoice::Mode::kAuto, ToolChoice::Mode::kRequired}) {
    ChatRequest request = weather_request();
    request.tool_choice.mode = mode;
    auto prepared = format.prepare(request);
    ASSERT_TRUE(prepared.ok()) << prepared.error().message;
    const bool forced = mode == ToolChoice::Mode::kRequired;
    EXPECT_EQ(prepared->prompt.ends_with("<|im_start|>assistant\n<tool_call>"), forced)
        << prepared->prompt;
    EXPECT_EQ(prepared->sampling.grammar_lazy, !forced);
    const std::string output = forced ? call : "<tool_call>" + call;
    for (size_t step : {1u, 3u, 7u, 1000u}) {
      const Said out = said(parse_in_pieces(*prepared, output, step));
      EXPECT_EQ(out.starts, 1) << "step " << step;
      EXPECT_EQ(out.name, "get_weather") << "step " << step;
      EXPECT_EQ(Json::parse(out.args, nullptr, false), Json::parse(R"({"city":"Paris"})"))
          << "step " << step << ": " << out.args;
      EXPECT_EQ(out.text, "") << "step " << step;
    }
  }
}

// A model without a chat template (stories260K) cannot be shown tools: a forced call is one bare
// JSON object under a grammar, parsed back into a call; with tool_choice auto it answers in text.
TEST_F(ChatFormatTest, WithoutATemplateAForcedCallIsGenericJson) {
  const fs::path stories =
      fs::path(KEEL_SOURCE_DIR) / ".." / "shared" / "models" / "stories260K.gguf";
  if (!fs::exists(stories)) GTEST_SKIP() << "needs " << stories << " (absent)";
  testing_llama::ModelPtr model(
      llama_model_load_from_file(stories.c_str(), llama_model_default_params()));
  ASSERT_NE(model, nullptr);
  ChatFormat format(model.get(), "local", "stories260K");
  ASSERT_FALSE(format.has_template());

  for (auto mode : {ToolChoice::Mode::kRequired, ToolChoice::Mode::kNamed}) {
    ChatRequest request = weather_request();
    request.tool_choice.mode = mode;
    request.tool_choice.name = mode == ToolChoice::Mode::kNamed ? "get_weather" : "";
    auto prepared = format.prepare(request);
    ASSERT_TRUE(prepared.ok()) << prepared.error().message;
    EXPECT_FALSE(prepared->templated) << "user text is never read as special tokens";
    EXPECT_EQ(prepared->prompt, "What is the weather in Paris?");
    EXPECT_NE(prepared->sampling.grammar.grammar.find("get_weather"), std::string::npos)
        << prepared->sampling.grammar.grammar;
    EXPECT_FALSE(prepared->sampling.grammar_lazy);
    for (size_t step : {1u, 5u, 1000u}) {
      const Said out = said(parse_in_pieces(
          *prepared, R"({"name": "get_weather", "arguments": {"city": "Paris"}})", step));
      EXPECT_EQ(out.starts, 1) << "step " << step;
      EXPECT_EQ(out.name, "get_weather") << "step " << step;
      EXPECT_EQ(Json::parse(out.args, nullptr, false), Json::parse(R"({"city":"Paris"})"))
          << "step " << step << ": " << out.args;
      EXPECT_EQ(out.text, "") << "step " << step;
    }
  }

  ChatRequest unknown = weather_request();
  unknown.tool_choice.mode = ToolChoice::Mode::kNamed;
  unknown.tool_choice.name = "nope";
  auto refused = format.prepare(unknown);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().param, "tool_choice");

  ChatRequest automatic = weather_request();
  automatic.tool_choice = ToolChoice{};
  auto prepared = format.prepare(automatic);
  ASSERT_TRUE(prepared.ok()) << prepared.error().message;
  EXPECT_TRUE(prepared->sampling.grammar.grammar.empty());
  const Said out = said(parse_in_pieces(*prepared, "It is sunny.", 3));
  EXPECT_EQ(out.starts, 0);
  EXPECT_EQ(out.text, "It is sunny.");
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
