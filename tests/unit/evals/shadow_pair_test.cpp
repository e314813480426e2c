// The stored shadow pair's text (shadow_pair_text) against the Json object it stands for, as
// json_text writes that object: the same bytes, members in the same order, whatever the strings
// hold (escapes, invalid UTF-8) and whichever way the candidate and its evaluators went.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "api/json_util.h"
#include "evals/shadow.h"

namespace keel::evals {
namespace {

// What the pair was before it was written as text: a Json object built member by member.
Json pair_json(const std::string& question, const ServedAnswer& served,
               std::optional<double> served_cost, const CallResult& call,
               const std::vector<std::pair<std::string, Score>>& scores, const std::string& trace) {
  Json served_json = {{"text", served.text},
                      {"latency_ms", served.latency_ms},
                      {"prompt_tokens", served.prompt_tokens},
                      {"completion_tokens", served.completion_tokens},
                      {"target", served.provider + "/" + served.upstream_model}};
  served_json["cost"] = served_cost ? Json(*served_cost) : Json(nullptr);
  Json shadow = {{"latency_ms", call.latency_ms},
                 {"prompt_tokens", call.prompt_tokens},
                 {"completion_tokens", call.completion_tokens},
                 {"target", call.provider + "/" + call.upstream_model}};
  shadow["cost"] = call.cost ? Json(*call.cost) : Json(nullptr);
  if (call.error) {
    shadow["text"] = nullptr;
    shadow["error"] = call.error->message;
  } else {
    shadow["text"] = call.text;
  }
  Json scored = Json::object();
  for (const auto& [name, score] : scores) {
    scored[name] = score.value ? Json{{"value", *score.value}, {"passed", score.passed}}
                               : Json{{"value", nullptr}, {"error", score.error}};
  }
  return {{"question", question},
          {"served", std::move(served_json)},
          {"shadow", std::move(shadow)},
          {"scores", std::move(scored)},
          {"trace_id", trace}};
}

Score scored(double value, bool passed) {
  Score score;
  score.value = value;
  score.passed = passed;
  return score;
}

Score failure(std::string error) {
  Score score;
  score.error = std::move(error);
  return score;
}

ServedAnswer served_answer(std::string text) {
  ServedAnswer served;
  served.text = std::move(text);
  served.latency_ms = 412;
  served.prompt_tokens = 1200;
  served.completion_tokens = 37;
  served.provider = "openai";
  served.upstream_model = "gpt-4o-mini";
  return served;
}

TEST(ShadowPairText, IsTheJsonObjectsText) {
  const std::string trace = "0123456789abcdef0123456789abcdef";
  CallResult answered;
  answered.text = "Line one\nand a \"quote\", a tab\t, \x01 and caf\xc3\xa9";
  answered.latency_ms = 980;
  answered.prompt_tokens = 1190;
  answered.completion_tokens = 52;
  answered.cost = 0.0001234;
  answered.provider = "claude";
  answered.upstream_model = "claude-haiku-4-5";
  CallResult failed;
  failed.error = Error(ErrorCode::kUnavailable, "upstream 503: \xff\xfe not UTF-8");
  failed.latency_ms = 30000;
  failed.provider = "claude";
  const std::vector<std::pair<std::string, Score>> scores = {
      {"f1", scored(0.6666666666666666, true)},
      {"rouge_l", scored(0.0, false)},
      {"relevance", failure("the judge's answer is not a score")},
      {"nope", failure("no evaluator named \"nope\"")},
  };
  struct Case {
    std::string question;
    ServedAnswer served;
    std::optional<double> served_cost;
    CallResult call;
    std::vector<std::pair<std::string, Score>> scores;
  };
  const std::vector<Case> cases = {
      {"What is the VPN?", served_answer("Use the VPN client."), 0.00036, answered, scores},
      {"", served_answer(""), std::nullopt, answered, {}},
      {"\xc3\x28 bad \\ bytes", served_answer("x\xe2\x82"), 1e-9, failed, {}},
      {"q", served_answer("a"), 12.5, answered, {scores[0]}},
  };
  for (const auto& c : cases) {
    const std::string text =
        shadow_pair_text(c.question, c.served, c.served_cost, c.call, c.scores, trace);
    EXPECT_EQ(text,
              json_text(pair_json(c.question, c.served, c.served_cost, c.call, c.scores, trace)));
    EXPECT_TRUE(try_parse_json(text).has_value()) << text;
  }
}

}  // namespace
}  // namespace keel::evals
