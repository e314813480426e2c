// A .prompty parsed once (prepare_template, CompiledTemplate) renders exactly as one parsed per
// render: the same messages, the same errors, from several threads at once.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "prompts/jinja.h"
#include "prompts/prompty.h"

namespace keel {
namespace {

constexpr const char* kFile =
    "---\nname: t\nmodel:\n  api: chat\ninputs:\n  text: {type: string}\n"
    "  style: {type: string, default: short}\n---\n"
    "system:\nAnswer in a {{style}} way.\n{% filter upper %}loud {{style}}{% endfilter %}\n\n"
    "user:\n{{text}}\n{% if text == 'boom' %}{{ text | no_such_filter }}{% endif %}\n";

std::string joined(const Result<std::vector<PromptMessage>>& messages) {
  if (!messages) return "error: " + messages.error().message;
  std::string out;
  for (const auto& message : *messages) out += message.role + "|" + message.text + "\n";
  return out;
}

TEST(CompiledTemplate, RendersAsAParsePerRenderDoes) {
  if (!jinja_available()) GTEST_SKIP() << "built without the local engine's Jinja";
  auto plain = parse_prompty(kFile, "t.prompty");
  ASSERT_TRUE(plain) << plain.error().message;
  Prompty compiled = *plain;
  ASSERT_TRUE(prepare_template(compiled).ok());
  ASSERT_NE(compiled.compiled, nullptr);
  for (const char* text : {"hi", "user:", "boom", ""}) {
    auto inputs = check_inputs(*plain, Json{{"text", text}});
    ASSERT_TRUE(inputs) << inputs.error().message;
    EXPECT_EQ(joined(render_prompty(compiled, *inputs)), joined(render_prompty(*plain, *inputs)))
        << text;
  }
  auto inputs = check_inputs(*plain, Json{{"text", "hi"}});
  EXPECT_EQ(joined(render_prompty(compiled, *inputs)),
            "system|Answer in a short way.\nLOUD SHORT\nuser|hi\n");
}

TEST(CompiledTemplate, ABadTemplateIsRefusedWhenPrepared) {
  if (!jinja_available()) GTEST_SKIP() << "built without the local engine's Jinja";
  auto prompt = parse_prompty("---\nname: t\nmodel: m\n---\nsystem:\nok\n{% if %}\n", "t.prompty");
  ASSERT_TRUE(prompt) << prompt.error().message;
  Status status = prepare_template(*prompt);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("t.prompty:7: template error"), std::string::npos)
      << status.error().message;
  EXPECT_EQ(prompt->compiled, nullptr);
}

TEST(CompiledTemplate, ThreadsRenderOneTemplateAtOnce) {
  if (!jinja_available()) GTEST_SKIP() << "built without the local engine's Jinja";
  auto prompt = parse_prompty(kFile, "t.prompty");
  ASSERT_TRUE(prompt) << prompt.error().message;
  ASSERT_TRUE(prepare_template(*prompt).ok());
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string text = "t" + std::to_string(t) + "-" + std::to_string(i);
        auto inputs = check_inputs(*prompt, Json{{"text", text}});
        const std::string want = "system|Answer in a short way.\nLOUD SHORT\nuser|" + text + "\n";
        if (!inputs || joined(render_prompty(*prompt, *inputs)) != want) ++wrong[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace keel
