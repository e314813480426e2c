// .prompty files: the prompty repository's conformance vectors (parse, load, render) as data,
// read from ../shared/promptflow at test time, and Prompt flow's own example prompts.
#include "prompts/prompty.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "api/json_util.h"
#include "prompts/jinja.h"

namespace keel {
namespace {

namespace fs = std::filesystem;

const fs::path kShared = fs::path(KEEL_SOURCE_DIR) / ".." / "shared" / "promptflow";

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// One conformance vector; `name` is "absent" when ../shared is not there.
struct Vector {
  std::string name;
  Json data;
};

std::vector<Vector> load_vectors(const char* file) {
  const fs::path path = kShared / "prompty" / "vectors" / file;
  std::vector<Vector> vectors;
  if (!fs::exists(path)) return {Vector{"absent", Json()}};
  auto json = try_parse_json(read_text(path));
  if (!json || !json->is_array()) return {Vector{"unreadable", Json()}};
  for (const auto& item : *json) vectors.push_back({item.value("name", "unnamed"), item});
  return vectors;
}

std::string vector_name(const testing::TestParamInfo<Vector>& info) { return info.param.name; }
void PrintTo(const Vector& vector, std::ostream* out) { *out << vector.name; }

void skip_when_absent(const Vector& vector) {
  if (vector.name == "absent") {
    GTEST_SKIP() << "no conformance vectors at " << kShared << " (../shared is not there)";
  }
  ASSERT_NE(vector.name, "unreadable");
}

// `actual` holds everything `expected` says (objects: each expected member, recursively;
// null: absent or null; arrays: same length, item by item).
::testing::AssertionResult holds(const Json& actual, const Json& expected,
                                 const std::string& at = "") {
  if (expected.is_null()) {
    if (actual.is_null()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << at << ": expected null, got " << actual.dump();
  }
  if (expected.is_object()) {
    if (!actual.is_object()) {
      return ::testing::AssertionFailure() << at << ": expected an object, got " << actual.dump();
    }
    for (const auto& [key, value] : expected.items()) {
      const Json member = actual.contains(key) ? actual[key] : Json();
      auto result = holds(member, value, at + "." + key);
      if (!result) return result;
    }
    return ::testing::AssertionSuccess();
  }
  if (expected.is_array()) {
    if (!actual.is_array() || actual.size() != expected.size()) {
      return ::testing::AssertionFailure()
             << at << ": expected " << expected.dump() << ", got " << actual.dump();
    }
    for (size_t i = 0; i < expected.size(); ++i) {
      auto result = holds(actual[i], expected[i], at + "[" + std::to_string(i) + "]");
      if (!result) return result;
    }
    return ::testing::AssertionSuccess();
  }
  if (expected.is_number() && actual.is_number() &&
      expected.get<double>() == actual.get<double>()) {
    return ::testing::AssertionSuccess();
  }
  if (actual == expected) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << at << ": expected " << expected.dump() << ", got " << actual.dump();
}

Json messages_json(const std::vector<PromptMessage>& messages) {
  Json out = Json::array();
  for (const auto& message : messages) {
    Json item = {{"role", message.role},
                 {"content", Json::array({{{"kind", "text"}, {"value", message.text}}})}};
    if (!message.metadata.empty()) item["metadata"] = message.metadata;
    out.push_back(std::move(item));
  }
  return out;
}

// ---- parse: rendered text -> messages ------------------------------------------------------

class ParseVector : public testing::TestWithParam<Vector> {};

TEST_P(ParseVector, SplitsAsTheVectorSays) {
  skip_when_absent(GetParam());
  const Json& input = GetParam().data["input"];
  const std::string rendered = input["rendered"];
  auto messages = split_messages(rendered);
  ASSERT_TRUE(messages) << messages.error().message;
  std::vector<PromptMessage> result = *messages;
  if (input.contains("thread_inputs")) {
    std::map<std::string, Json> threads;
    static const std::regex kNonce("__PROMPTY_THREAD_[a-f0-9]{8}_([A-Za-z0-9_]+?)__");
    for (std::sregex_iterator it(rendered.begin(), rendered.end(), kNonce), end; it != end; ++it) {
      threads[(*it)[0]] = input["thread_inputs"][(*it)[1].str()];
    }
    result = expand_threads(std::move(result), threads);
  }
  EXPECT_TRUE(holds(messages_json(result), GetParam().data["expected"]["messages"]));
}

INSTANTIATE_TEST_SUITE_P(Prompty, ParseVector,
                         testing::ValuesIn(load_vectors("parse_vectors.json")), vector_name);

// ---- render: template + inputs -> text -----------------------------------------------------

class RenderVector : public testing::TestWithParam<Vector> {};

TEST_P(RenderVector, RendersAsTheVectorSays) {
  skip_when_absent(GetParam());
  const Json& input = GetParam().data["input"];
  if (input.value("engine", "jinja2") != "jinja2") {
    GTEST_SKIP() << "engine " << input["engine"] << ": keel renders jinja2 only";
  }
  if (!jinja_available()) GTEST_SKIP() << "built without the local engine's Jinja";
  Prompty prompt;
  prompt.path = GetParam().name;
  prompt.body = input["template"];
  auto text = render_template_text(prompt, input.value("inputs", Json::object()));
  ASSERT_TRUE(text) << text.error().message;
  const Json& expected = GetParam().data["expected"];
  if (expected.contains("rendered")) {
    EXPECT_EQ(*text, expected["rendered"].get<std::string>());
  } else {
    EXPECT_TRUE(std::regex_match(*text, std::regex(expected["nonce_pattern"].get<std::string>())))
        << *text;
  }
}

INSTANTIATE_TEST_SUITE_P(Prompty, RenderVector,
                         testing::ValuesIn(load_vectors("render_vectors.json")), vector_name);

// ---- load: file -> PromptAgent, and input validation ---------------------------------------

class LoadVector : public testing::TestWithParam<Vector> {
 protected:
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  fs::path dir_;
};

// The vectors name Python's exceptions; keel's messages say what happened in words.
bool error_matches(const std::string& message, const std::string& expected) {
  if (expected == "FileNotFoundError") return message.find("cannot open") != std::string::npos;
  auto lower = [](std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
  };
  return lower(message).find(lower(expected)) != std::string::npos;
}

TEST_P(LoadVector, LoadsAsTheVectorSays) {
  skip_when_absent(GetParam());
  const Json& input = GetParam().data["input"];
  const Json& expected = GetParam().data["expected"];
  PromptyLoadOptions options;
  options.strict_connection_env = true;
  const Json env = input.value("env", Json::object());
  options.env = [env](const std::string& name) -> std::optional<std::string> {
    if (env.contains(name)) return env[name].get<std::string>();
    return std::nullopt;
  };
  Result<Prompty> prompt = Error(ErrorCode::kInternal, "not loaded");
  if (input.contains("fixture")) {
    prompt = load_prompty(
        (kShared / "prompty" / "v2-fixtures" / input["fixture"].get<std::string>()).string(),
        options);
  } else if (input.contains("frontmatter_raw")) {
    prompt = parse_prompty(input["frontmatter_raw"].get<std::string>(), "raw.prompty", options);
  } else {
    // Front matter as JSON is YAML too; files go beside (or above) the prompt's folder.
    dir_ = fs::temp_directory_path() / ("keel-prompty-" + GetParam().name);
    fs::remove_all(dir_);
    const fs::path agent_dir = dir_ / "root" / input.value("agent_subdir", "");
    fs::create_directories(agent_dir);
    const Json files = input.value("files", Json::object());
    for (const auto& [name, content] : files.items()) {
      const fs::path file = agent_dir / name;
      fs::create_directories(file.parent_path());
      std::ofstream(file) << content.dump();
    }
    const fs::path file = agent_dir / "test.prompty";
    std::ofstream(file) << "---\n" << input["frontmatter"].dump() << "\n---\nsystem:\nHello.\n";
    prompt = load_prompty(file.string(), options);
  }
  Result<Json> validated = Json::object();
  if (prompt && input.contains("inputs")) validated = check_inputs(*prompt, input["inputs"]);
  if (expected.contains("error")) {
    const Error error = !prompt ? prompt.error() : !validated ? validated.error() : Error();
    ASSERT_FALSE(prompt && validated) << "expected an error: " << expected["error"];
    EXPECT_TRUE(error_matches(error.message, expected["error"])) << error.message;
    if (expected.contains("error_field")) {
      EXPECT_NE(error.message.find(expected["error_field"].get<std::string>()), std::string::npos)
          << error.message;
    }
    return;
  }
  ASSERT_TRUE(prompt) << prompt.error().message;
  ASSERT_TRUE(validated) << validated.error().message;
  if (expected.contains("validated_inputs")) {
    EXPECT_EQ(*validated, expected["validated_inputs"]);
    return;
  }
  EXPECT_TRUE(holds(prompt->agent_json(), expected));
}

INSTANTIATE_TEST_SUITE_P(Prompty, LoadVector, testing::ValuesIn(load_vectors("load_vectors.json")),
                         vector_name);

// ---- Prompt flow's example prompts ---------------------------------------------------------

class PromptFlowExample : public testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kShared / "prompty-examples")) GTEST_SKIP() << "no ../shared/promptflow";
    if (!jinja_available()) GTEST_SKIP() << "built without the local engine's Jinja";
  }
  Result<std::vector<PromptMessage>> render(const std::string& file, const Json& inputs) {
    auto prompt = load_prompty((kShared / "prompty-examples" / file).string());
    if (!prompt) return prompt.error();
    EXPECT_EQ(prompt->dialect, PromptyDialect::kClassic);
    auto checked = check_inputs(*prompt, inputs);
    if (!checked) return checked.error();
    return render_prompty(*prompt, *checked);
  }
  Json sample(const std::string& file) {
    return *try_parse_json(read_text(kShared / "prompty-examples" / file));
  }
};

TEST_F(PromptFlowExample, BasicRendersSystemThenUser) {
  auto messages = render("basic/basic.prompty", sample("basic/sample.json"));
  ASSERT_TRUE(messages) << messages.error().message;
  ASSERT_EQ(messages->size(), 2u);
  EXPECT_EQ((*messages)[0].role, "system");
  EXPECT_EQ((*messages)[0].text,
            "You are an AI assistant who helps people find information.\n"
            "As the assistant, you answer questions briefly, succinctly. ");
  EXPECT_EQ((*messages)[1].role, "user");
  EXPECT_EQ((*messages)[1].text, "Who is the most famous person in the world?");
}

TEST_F(PromptFlowExample, ChatHistoryBecomesTurns) {
  auto messages = render("chat-basic/chat.prompty", sample("chat-basic/sample.json"));
  ASSERT_TRUE(messages) << messages.error().message;
  // system, the four history turns, then the question (Prompt flow's chat rendering).
  ASSERT_EQ(messages->size(), 6u);
  const char* roles[] = {"system", "user", "assistant", "user", "assistant", "user"};
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ((*messages)[i].role, roles[i]) << i;
  EXPECT_EQ((*messages)[2].text,
            "I'm sorry, I don't know that. Would you like me to look it up for you?");
  EXPECT_EQ((*messages)[5].text, "How many questions did the user ask?");
}

TEST_F(PromptFlowExample, DefaultsFillMissingInputs) {
  auto messages = render("chat-basic/chat.prompty", Json{{"question", "Hi"}});
  ASSERT_TRUE(messages) << messages.error().message;
  ASSERT_EQ(messages->size(), 2u);
  EXPECT_EQ((*messages)[1].text, "Hi");
}

TEST_F(PromptFlowExample, EvalBasicNamesTheUndeclaredVariable) {
  auto messages = render("eval-basic/eval.prompty", sample("eval-basic/sample.json"));
  ASSERT_FALSE(messages);
  const std::string& message = messages.error().message;
  EXPECT_NE(message.find("eval.prompty:47:"), std::string::npos) << message;
  EXPECT_NE(message.find("'statement'"), std::string::npos) << message;
  EXPECT_NE(message.find("never used: ground_truth"), std::string::npos) << message;
}

TEST_F(PromptFlowExample, ApologyNamesTheInlineRoleLine) {
  auto messages = render("eval-apology/apology.prompty", sample("eval-apology/sample.json"));
  ASSERT_FALSE(messages);
  const std::string& message = messages.error().message;
  EXPECT_NE(message.find("apology.prompty:34:"), std::string::npos) << message;
  EXPECT_NE(message.find("inline role line"), std::string::npos) << message;
}

TEST_F(PromptFlowExample, InputErrorsNameFileAndLine) {
  auto missing = render("basic/basic.prompty", Json::object());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("basic.prompty:13: Missing required input 'question'"),
            std::string::npos)
      << missing.error().message;
  auto unknown = render("basic/basic.prompty", Json{{"question", "q"}, {"topic", "x"}});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("unknown input 'topic'"), std::string::npos);
  auto wrong = render("basic/basic.prompty", Json{{"question", 7}});
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find(
                "basic.prompty:13: input 'question' must be string, got an integer"),
            std::string::npos)
      << wrong.error().message;
}

// ---- without ../shared -----------------------------------------------------------------------

TEST(Prompty, TemplateErrorsNameTheLine) {
  if (!jinja_available()) GTEST_SKIP() << "built without the local engine's Jinja";
  auto prompt = parse_prompty("---\nname: t\nmodel: m\n---\nsystem:\nok\n{% if %}\n", "t.prompty");
  ASSERT_TRUE(prompt) << prompt.error().message;
  auto messages = render_prompty(*prompt, Json::object());
  ASSERT_FALSE(messages);
  EXPECT_NE(messages.error().message.find("t.prompty:7: template error"), std::string::npos)
      << messages.error().message;
}

TEST(Prompty, DialectsAreToldApartByTheirKeys) {
  auto classic = parse_prompty("---\nmodel:\n  api: chat\ninputs:\n  q:\n    type: string\n---\n",
                               "c.prompty");
  ASSERT_TRUE(classic) << classic.error().message;
  EXPECT_EQ(classic->dialect, PromptyDialect::kClassic);
  EXPECT_TRUE(classic->inputs[0].required);
  auto v2 = parse_prompty("---\nmodel: gpt-4\ninputs:\n  - name: q\n    kind: string\n---\n",
                          "v.prompty");
  ASSERT_TRUE(v2) << v2.error().message;
  EXPECT_EQ(v2->dialect, PromptyDialect::kV2);
  EXPECT_FALSE(v2->inputs[0].required);
  EXPECT_EQ(v2->model_id(), "gpt-4");
  auto mixed = parse_prompty("---\nmodel:\n  id: x\n  parameters: {}\n---\n", "m.prompty");
  ASSERT_FALSE(mixed);
  EXPECT_NE(mixed.error().message.find("m.prompty:2: mixes"), std::string::npos)
      << mixed.error().message;
}

// yaml-cpp keeps both of a repeated key; the JSON view would keep one (found by prompty_fuzz).
TEST(Prompty, RepeatedKeysAreErrors) {
  auto prompt = parse_prompty("---\nname: x\ninputs: {}\ninputs:\n  - name: a\n---\n", "r.prompty");
  ASSERT_FALSE(prompt);
  EXPECT_NE(prompt.error().message.find("r.prompty:4: repeated key 'inputs'"), std::string::npos)
      << prompt.error().message;
}

TEST(Prompty, BadInputTypeIsAnErrorAtItsLine) {
  auto prompt = parse_prompty("---\nname: x\ninputs:\n  a:\n    type: strng\n---\n", "x.prompty");
  ASSERT_FALSE(prompt);
  EXPECT_NE(prompt.error().message.find("x.prompty:4: inputs.a: unknown type 'strng'"),
            std::string::npos)
      << prompt.error().message;
}

TEST(Prompty, ClassicTextBeforeTheFirstMarkerIsAnError) {
  auto messages = split_messages("hello\nuser:\nhi", true, "p.prompty", 5);
  ASSERT_FALSE(messages);
  EXPECT_NE(messages.error().message.find("p.prompty:5: text before the first role marker"),
            std::string::npos);
  auto v2 = split_messages("hello\nuser:\nhi");
  ASSERT_TRUE(v2);
  ASSERT_EQ(v2->size(), 2u);
  EXPECT_EQ((*v2)[0].role, "system");
}

}  // namespace
}  // namespace keel
