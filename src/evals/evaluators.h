// Evaluators: each scores one row from its inputs (`question`, `answer` = the target's output,
// `ground_truth`, `context`, the names of Azure AI evaluation's evaluators; `pattern` for regex
// and `schema` for json_schema when mapped). Envoy's extension shape: a name, a factory that
// checks the options once, and a per-row call.
//
//   EvaluatorOptions options{.judge = "smart", .embedding_model = "embed"};
//   auto evaluator = make_evaluator("f1", options, models);    // Result<unique_ptr<Evaluator>>
//   Score s = co_await (*evaluator)->score(inputs, cancel);    // s.value or s.error
//
// A score that cannot be computed (a judge's garbage, a missing input, an upstream failure) is a
// failed score: no value, an error, counted apart; never a zero.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/trace.h"
#include "evals/gateway.h"
#include "evals/judge_prompt.h"

namespace keel::evals {

using Inputs = std::map<std::string, std::string>;

struct Score {
  std::optional<double> value;  // unset: failed (see error)
  bool passed = false;          // value >= the evaluator's threshold
  std::string error;
  // Judges and embeddings: what their calls cost.
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::optional<double> cost;
};

// An evaluator's score on its span (an eval row's or a shadow pair's trace): OpenTelemetry's
// gen_ai.evaluation.score.value and .label (pass, fail), or the span's error.
void record_score(SpanScope& span, const Score& score);

class Evaluator {
 public:
  virtual ~Evaluator() = default;
  const std::string& name() const { return name_; }
  // Pass threshold; scores are in [0, 1] except judges' 1-5.
  double threshold() const { return threshold_; }
  virtual Task<Score> score(const Inputs& inputs, CancelPtr cancel) = 0;
  // Whether scoring calls a model (judges, embedding_similarity): such a score gets a span of its
  // own in a shadow pair's trace, with the model's attempts under it; one computed in place is
  // an attribute of the pair's span (evals/shadow.cpp).
  virtual bool calls_model() const { return false; }

 protected:
  Evaluator(std::string name, double threshold) : name_(std::move(name)), threshold_(threshold) {}
  Score scored(double value) const;
  static Score failed(std::string error);

 private:
  std::string name_;
  double threshold_;
};

struct EvaluatorOptions {
  std::string judge;                // public model for judges
  std::string embedding_model;      // public model for embedding_similarity
  std::string judges_dir;           // overrides of the built-in judge prompts, by file name
  std::optional<double> threshold;  // overrides every evaluator's default threshold
};

// Built-in names: exact_match, contains, regex, json_schema, f1, rouge_l, embedding_similarity,
// relevance, groundedness, coherence, fluency, similarity; any other name is a judge prompt
// NAME.prompty in judges_dir. Errors: an unknown name, a judge without a judge model, a bad
// prompt file.
Result<std::unique_ptr<Evaluator>> make_evaluator(const std::string& name,
                                                  const EvaluatorOptions& options,
                                                  ModelGateway& models);

// The text measures, exposed for tests.
double token_f1(const std::string& answer, const std::string& ground_truth);
double rouge_l(const std::string& answer, const std::string& ground_truth);
std::vector<std::string> normalized_tokens(const std::string& text, bool drop_articles);
// Valid JSON (a ```json fence around it is taken off) that validates against `schema` (JSON
// Schema draft 7 text); the error says why not.
Status check_json_schema(const std::string& answer, const std::string& schema);

}  // namespace keel::evals
