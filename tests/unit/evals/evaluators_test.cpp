#include "evals/evaluators.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

#include "evals/judge_prompt.h"
#include "evals/report.h"
#include "evals/stats.h"

namespace keel::evals {
namespace {

TEST(TextMeasures, TokenF1AsSquad) {
  EXPECT_DOUBLE_EQ(token_f1("The answer is 60.", "60"), 2 * (1.0 / 3) * 1 / (1.0 / 3 + 1));
  EXPECT_DOUBLE_EQ(token_f1("60", "60"), 1);
  EXPECT_DOUBLE_EQ(token_f1("61", "60"), 0);
  EXPECT_DOUBLE_EQ(token_f1("a cat the dog", "dog cat"), 1);  // articles out, order free
}

TEST(TextMeasures, RougeL) {
  EXPECT_DOUBLE_EQ(rouge_l("police killed the gunman", "the gunman was killed by police"),
                   2 * 0.5 * (2.0 / 6) / (0.5 + 2.0 / 6));  // LCS "the gunman" or "killed": 2
  EXPECT_DOUBLE_EQ(rouge_l("a b c", "a b c"), 1);
  EXPECT_DOUBLE_EQ(rouge_l("x", "y"), 0);
}

// SQuAD's normalisation with <cctype>'s "C" locale classes, one std::string per word: what the
// table-driven tokeniser must give for every byte.
std::vector<std::string> reference_tokens(const std::string& text, bool drop_articles) {
  std::vector<std::string> tokens;
  std::string token;
  auto push = [&] {
    if (!token.empty() && !(drop_articles && (token == "a" || token == "an" || token == "the"))) {
      tokens.push_back(token);
    }
    token.clear();
  };
  for (unsigned char c : text) {
    if (std::isspace(c)) {
      push();
    } else if (!std::ispunct(c)) {
      token += static_cast<char>(std::tolower(c));
    }
  }
  push();
  return tokens;
}

TEST(TextMeasures, TokensMatchCctypeClassesForEveryByte) {
  std::string every;
  for (int c = 0; c < 256; ++c) {
    every += static_cast<char>(c);
    every += "x ";  // each byte in a word of its own, then a break
  }
  for (bool drop : {false, true}) {
    EXPECT_EQ(normalized_tokens(every, drop), reference_tokens(every, drop));
    const std::string text = "The  cat, AN apple;\ta\x0b\xc3\xa9t\xc3\xa9\n THE end.-- a";
    EXPECT_EQ(normalized_tokens(text, drop), reference_tokens(text, drop));
  }
  EXPECT_EQ(normalized_tokens("A b-C, THE d", true), (std::vector<std::string>{"bc", "d"}));
  EXPECT_DOUBLE_EQ(token_f1("x x y", "x y y"),
                   2 * (2.0 / 3) * (2.0 / 3) / (4.0 / 3));  // as multisets
}

TEST(JsonSchema, ValidInvalidAndFenced) {
  const std::string schema =
      R"({"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}})";
  EXPECT_TRUE(check_json_schema(R"({"n": 3})", schema).ok());
  EXPECT_TRUE(check_json_schema("```json\n{\"n\": 3}\n```", schema).ok());
  auto wrong = check_json_schema(R"({"n": "3"})", schema);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(check_json_schema("not json", schema).ok());
  EXPECT_EQ(check_json_schema("{}", "{not a schema").error().code, ErrorCode::kInternal);
}

TEST(Judge, ScoresParsedStrictly) {
  EXPECT_EQ(*parse_judge_score(" 4\n"), 4);
  EXPECT_EQ(*parse_judge_score("1"), 1);
  for (const char* garbage :
       {"", "four", "4/5", "6", "0", "4.", "Rating: 4", "45", "{\"score\": 4}"}) {
    EXPECT_FALSE(parse_judge_score(garbage)) << garbage;
  }
}

TEST(Judge, BuiltInPromptsParseAndRender) {
  const auto& prompts = builtin_judge_prompts();
  for (const char* name : {"relevance", "groundedness", "coherence", "fluency", "similarity"}) {
    ASSERT_TRUE(prompts.count(name)) << name;
    auto prompt = JudgePrompt::parse(prompts.at(name), name);
    ASSERT_TRUE(prompt) << prompt.error().message;
    EXPECT_EQ(prompt->name(), name);
    EXPECT_EQ(prompt->temperature(), 0);
  }
  auto similarity = *JudgePrompt::parse(prompts.at("similarity"), "similarity");
  EXPECT_EQ(similarity.inputs(), (std::vector<std::string>{"question", "answer", "ground_truth"}));
  auto messages =
      similarity.render({{"question", "2+2?"}, {"answer", "4"}, {"ground_truth", "four"}});
  ASSERT_TRUE(messages) << messages.error().message;
  ASSERT_EQ(messages->size(), 2u);
  EXPECT_EQ((*messages)[0].role, Role::kSystem);
  EXPECT_EQ((*messages)[1].role, Role::kUser);
  EXPECT_NE((*messages)[1].text().find("REFERENCE: four"), std::string::npos);
  EXPECT_NE((*messages)[1].text().find("QUESTION: 2+2?"), std::string::npos);
  auto missing = similarity.render({{"question", "q"}, {"answer", "a"}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "similarity needs ground_truth (empty here)");
}

TEST(Judge, PromptFileRefusals) {
  EXPECT_FALSE(JudgePrompt::parse("system:\nhi\n", "x"));   // no front matter
  EXPECT_FALSE(JudgePrompt::parse("---\nname: x\n", "x"));  // never closed
  EXPECT_FALSE(JudgePrompt::parse("---\nname: x\n---\nhello\nuser:\nhi\n", "x"));  // text first
  auto jinja = JudgePrompt::parse("---\nname: x\n---\nuser:\n{% if a %}x{% endif %}\n", "x");
  ASSERT_FALSE(jinja);
  EXPECT_NE(jinja.error().message.find("Jinja"), std::string::npos);
  // A role marker stands alone on its line: an inline "user: text" is content.
  auto inline_role = JudgePrompt::parse("---\nname: x\n---\nsystem:\nuser: hi\n", "x");
  ASSERT_TRUE(inline_role);
  auto rendered = inline_role->render({});
  ASSERT_TRUE(rendered);
  ASSERT_EQ(rendered->size(), 1u);
  EXPECT_EQ((*rendered)[0].text(), "user: hi");
}

TEST(Stats, BootstrapAndPercentile) {
  auto ci = bootstrap_mean({1, 1, 1, 1});
  EXPECT_EQ(ci.mean, 1);
  EXPECT_EQ(ci.low, 1);
  EXPECT_EQ(ci.high, 1);
  std::vector<double> half;
  for (int i = 0; i < 100; ++i) half.push_back(i % 2);
  ci = bootstrap_mean(half);
  EXPECT_DOUBLE_EQ(ci.mean, 0.5);
  EXPECT_LT(ci.low, 0.5);
  EXPECT_GT(ci.high, 0.5);
  EXPECT_GT(ci.low, 0.35);
  EXPECT_LT(ci.high, 0.65);
  EXPECT_EQ(percentile({5, 1, 3, 2, 4}, 50), 3);
  EXPECT_EQ(percentile({5, 1, 3, 2, 4}, 95), 5);
  EXPECT_EQ(percentile({}, 50), 0);
}

TEST(Stats, PairedComparison) {
  std::vector<double> a(19, 1), b(19, 1);
  for (int i : {1, 4, 7, 10, 13, 16}) b[static_cast<size_t>(i)] = 0;
  auto c = paired_compare(a, b);
  EXPECT_EQ(c.a_better, 6u);
  EXPECT_EQ(c.b_better, 0u);
  EXPECT_NEAR(c.sign_p, 2.0 / 64, 1e-12);
  EXPECT_TRUE(c.significant);
  EXPECT_LT(c.diff.high, 0);
  auto same = paired_compare(a, a);
  EXPECT_FALSE(same.significant);
  EXPECT_EQ(same.sign_p, 1);
  // One differing pair of 19 is not enough.
  std::vector<double> one = a;
  one[0] = 0;
  EXPECT_FALSE(paired_compare(a, one).significant);
}

RowResult row(int64_t line, const std::string& candidate, std::optional<double> value) {
  RowResult r;
  r.line = line;
  r.candidate = candidate;
  r.output = "x";
  r.latency_ms = 10 * (line + 1);
  r.cost = 0.5;
  Score s;
  s.value = value;
  s.passed = value && *value >= 1;
  if (!value) s.error = "garbage";
  r.scores["exact_match"] = s;
  return r;
}

TEST(Report, SummaryRanksAndCountsFailedApart) {
  std::vector<RowResult> rows;
  for (int i = 0; i < 10; ++i) {
    rows.push_back(row(i, "drift", i % 2 ? 1.0 : 0.0));
    rows.push_back(row(i, "right", i == 3 ? std::nullopt : std::optional<double>(1.0)));
  }
  Json summary = summarize(rows, {"drift", "right"}, {"exact_match"});
  const Json& first = summary["candidates"][0];
  EXPECT_EQ(first["model"], "right");
  EXPECT_EQ(first["metrics"]["exact_match"]["mean"], 1.0);
  EXPECT_EQ(first["metrics"]["exact_match"]["n"], 9);
  EXPECT_EQ(first["metrics"]["exact_match"]["failed"], 1);
  EXPECT_EQ(first["cost"], 5.0);
  EXPECT_EQ(first["latency_ms"]["p50"], 50.0);
  EXPECT_EQ(summary["candidates"][1]["metrics"]["exact_match"]["mean"], 0.5);
  auto comparison = compare_runs(rows, rows);
  ASSERT_TRUE(comparison);
  EXPECT_EQ((*comparison)["comparisons"].size(), 2u);
  EXPECT_FALSE(
      (*comparison)["comparisons"][0]["metrics"]["exact_match"]["significant"].get<bool>());
}

TEST(Report, RowJsonRoundTrip) {
  RowResult r = row(3, "m", std::nullopt);
  r.inputs = {{"question", "q"}};
  auto back = RowResult::from_json(r.to_json());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->to_json(), r.to_json());
  EXPECT_FALSE(back->scores["exact_match"].value);
  EXPECT_EQ(back->scores["exact_match"].error, "garbage");
}

}  // namespace
}  // namespace keel::evals
