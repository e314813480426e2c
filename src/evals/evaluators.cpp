#include "evals/evaluators.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <regex>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "api/json_util.h"
#include "evals/dataset.h"

namespace keel::evals {

void record_score(SpanScope& span, const Score& score) {
  if (!span.recording()) return;
  if (score.prompt_tokens + score.completion_tokens > 0) {
    span.set(gen_ai::kUsageInputTokens, score.prompt_tokens);
    span.set(gen_ai::kUsageOutputTokens, score.completion_tokens);
  }
  if (!score.value) {
    span.fail(score.error);
    return;
  }
  span.set("gen_ai.evaluation.score.value", *score.value);
  span.set("gen_ai.evaluation.score.label", score.passed ? "pass" : "fail");
  span.ok();
}

namespace {

const std::string& input(const Inputs& inputs, const std::string& key) {
  static const std::string empty;
  auto it = inputs.find(key);
  return it == inputs.end() ? empty : it->second;
}

std::string trim(const std::string& text) {
  const size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t\r\n") - begin + 1);
}

// exact_match, contains, f1, rouge_l: answer against ground_truth, no model call.
class TextEvaluator final : public Evaluator {
 public:
  using Measure = double (*)(const std::string&, const std::string&);
  TextEvaluator(std::string name, double threshold, Measure measure)
      : Evaluator(std::move(name), threshold), measure_(measure) {}
  Task<Score> score(const Inputs& inputs, CancelPtr) override {
    const std::string& truth = input(inputs, "ground_truth");
    if (truth.empty()) co_return failed("needs ground_truth (map it with --column-mapping)");
    co_return scored(measure_(input(inputs, "answer"), truth));
  }

 private:
  Measure measure_;
};

double exact_match(const std::string& answer, const std::string& truth) {
  return trim(answer) == trim(truth) ? 1 : 0;
}

double contains(const std::string& answer, const std::string& truth) {
  return answer.find(trim(truth)) != std::string::npos ? 1 : 0;
}

class RegexEvaluator final : public Evaluator {
 public:
  explicit RegexEvaluator(double threshold) : Evaluator("regex", threshold) {}
  Task<Score> score(const Inputs& inputs, CancelPtr) override {
    std::string pattern = input(inputs, "pattern");
    if (pattern.empty()) pattern = input(inputs, "ground_truth");
    if (pattern.empty()) co_return failed("needs pattern or ground_truth (a regular expression)");
    try {
      const std::regex re(pattern, std::regex::ECMAScript);
      co_return scored(std::regex_search(input(inputs, "answer"), re) ? 1 : 0);
    } catch (const std::regex_error& e) {
      co_return failed("bad regular expression " + echo(pattern) + ": " + e.what());
    }
  }
};

class JsonSchemaEvaluator final : public Evaluator {
 public:
  JsonSchemaEvaluator(double threshold) : Evaluator("json_schema", threshold) {}
  Task<Score> score(const Inputs& inputs, CancelPtr) override {
    const std::string& schema = input(inputs, "schema");
    if (schema.empty()) co_return failed("needs schema (map it, or pass --schema FILE)");
    auto status = check_json_schema(input(inputs, "answer"), schema);
    if (!status.ok() && status.error().code == ErrorCode::kInternal) {
      co_return failed(status.error().message);  // the schema itself is bad
    }
    co_return scored(status.ok() ? 1 : 0);
  }
};

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  if (na == 0 || nb == 0) return 0;
  return dot / (std::sqrt(na) * std::sqrt(nb));
}

class EmbeddingEvaluator final : public Evaluator {
 public:
  bool calls_model() const override { return true; }
  EmbeddingEvaluator(double threshold, std::string model, ModelGateway& models)
      : Evaluator("embedding_similarity", threshold), model_(std::move(model)), models_(models) {}
  Task<Score> score(const Inputs& inputs, CancelPtr cancel) override {
    const std::string& truth = input(inputs, "ground_truth");
    const std::string& answer = input(inputs, "answer");
    if (truth.empty() || answer.empty()) co_return failed("needs answer and ground_truth");
    std::vector<std::string> texts{answer, truth};  // g++ 12: no braced list in a co_await
    auto vectors = co_await models_.embed(model_, std::move(texts), cancel);
    if (!vectors) co_return failed(model_ + ": " + vectors.error().message);
    if (vectors->size() != 2 || (*vectors)[0].size() != (*vectors)[1].size() ||
        (*vectors)[0].empty()) {
      co_return failed(model_ + ": expected two vectors of one size");
    }
    co_return scored(cosine((*vectors)[0], (*vectors)[1]));
  }

 private:
  std::string model_;
  ModelGateway& models_;
};

class JudgeEvaluator final : public Evaluator {
 public:
  bool calls_model() const override { return true; }
  JudgeEvaluator(std::string name, double threshold, JudgePrompt prompt, std::string judge,
                 ModelGateway& models)
      : Evaluator(std::move(name), threshold),
        prompt_(std::move(prompt)),
        judge_(std::move(judge)),
        models_(models) {}
  Task<Score> score(const Inputs& inputs, CancelPtr cancel) override {
    auto messages = prompt_.render(inputs);
    if (!messages) co_return failed(messages.error().message);
    ChatRequest request;
    request.model = judge_;
    request.messages = std::move(*messages);
    request.sampling.temperature = prompt_.temperature();
    request.sampling.max_tokens = prompt_.max_tokens();
    request.response_format = prompt_.response_format();
    CallResult call = co_await models_.chat(request, cancel);
    Score result;
    if (call.error) {
      result = failed("judge " + judge_ + ": " + call.error->message);
    } else if (auto rating = parse_judge_score(call.text); !rating) {
      result = failed(rating.error().message);
    } else {
      result = scored(*rating);
    }
    result.prompt_tokens = call.prompt_tokens;
    result.completion_tokens = call.completion_tokens;
    result.cost = call.cost;
    co_return result;
  }

 private:
  JudgePrompt prompt_;
  std::string judge_;
  ModelGateway& models_;
};

// SQuAD's normalisation (lower case, punctuation out, articles out, split on white space) of
// `text` into `out.text`, its words as views of it. The "C" locale's classes, by table: the
// <cctype> call per byte and a std::string per word were most of a shadow pair's scoring (f1
// and rouge_l tokenise both texts each; callgrind, bench/callgrind.sh shadow).
struct Words {
  std::string text;
  std::vector<std::string_view> words;
};

enum : uint8_t { kKeep = 0, kSpace = 1, kPunct = 2 };
constexpr std::array<uint8_t, 256> kByteClass = [] {
  std::array<uint8_t, 256> table{};
  for (int c = 0; c < 128; ++c) {
    if (c == ' ' || (c >= '\t' && c <= '\r')) table[c] = kSpace;
    if ((c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
        (c >= '{' && c <= '~')) {
      table[c] = kPunct;
    }
  }
  return table;
}();

void split_words(const std::string& text, bool drop_articles, Words& out) {
  out.text.clear();
  out.words.clear();
  out.text.reserve(text.size());
  std::vector<std::pair<size_t, size_t>> spans;  // offsets: text may grow while words are cut
  size_t start = 0;
  auto push = [&] {
    const std::string_view word(out.text.data() + start, out.text.size() - start);
    if (word.empty()) return;
    if (drop_articles && (word == "a" || word == "an" || word == "the")) {
      out.text.resize(start);
      return;
    }
    spans.emplace_back(start, word.size());
    start = out.text.size();
  };
  for (unsigned char c : text) {
    switch (kByteClass[c]) {
      case kSpace:
        push();
        break;
      case kPunct:
        break;
      default:
        out.text += static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
  }
  push();
  out.words.reserve(spans.size());
  for (const auto& [at, size] : spans) out.words.emplace_back(out.text.data() + at, size);
}

}  // namespace

Score Evaluator::scored(double value) const {
  Score score;
  score.value = value;
  score.passed = value >= threshold_;
  return score;
}

Score Evaluator::failed(std::string error) {
  Score score;
  score.error = std::move(error);
  return score;
}

std::vector<std::string> normalized_tokens(const std::string& text, bool drop_articles) {
  Words words;
  split_words(text, drop_articles, words);
  return {words.words.begin(), words.words.end()};
}

double token_f1(const std::string& answer, const std::string& ground_truth) {
  Words a, b;
  split_words(answer, true, a);
  split_words(ground_truth, true, b);
  if (a.words.empty() || b.words.empty()) return a.words.empty() && b.words.empty() ? 1 : 0;
  // The words the two share, each as often as both have it: a merge of the sorted lists.
  std::sort(a.words.begin(), a.words.end());
  std::sort(b.words.begin(), b.words.end());
  size_t common = 0;
  for (auto i = a.words.begin(), j = b.words.begin(); i != a.words.end() && j != b.words.end();) {
    if (*i < *j) {
      ++i;
    } else if (*j < *i) {
      ++j;
    } else {
      ++common, ++i, ++j;
    }
  }
  if (common == 0) return 0;
  const double precision = static_cast<double>(common) / static_cast<double>(a.words.size());
  const double recall = static_cast<double>(common) / static_cast<double>(b.words.size());
  return 2 * precision * recall / (precision + recall);
}

double rouge_l(const std::string& answer, const std::string& ground_truth) {
  Words answer_words, truth_words;
  split_words(answer, false, answer_words);
  split_words(ground_truth, false, truth_words);
  const auto& a = answer_words.words;
  const auto& b = truth_words.words;
  if (a.empty() || b.empty()) return a.empty() && b.empty() ? 1 : 0;
  // Longest common subsequence, one row at a time.
  std::vector<size_t> previous(b.size() + 1, 0), current(b.size() + 1, 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      current[j] =
          a[i - 1] == b[j - 1] ? previous[j - 1] + 1 : std::max(previous[j], current[j - 1]);
    }
    std::swap(previous, current);
  }
  const double lcs = static_cast<double>(previous[b.size()]);
  if (lcs == 0) return 0;
  const double precision = lcs / static_cast<double>(a.size());
  const double recall = lcs / static_cast<double>(b.size());
  return 2 * precision * recall / (precision + recall);
}

Status check_json_schema(const std::string& answer, const std::string& schema_text) {
  auto schema_json = try_parse_json(schema_text);
  if (!schema_json) return Status(ErrorCode::kInternal, "the schema is not JSON");
  std::string text = trim(answer);
  if (text.rfind("```", 0) == 0 && text.size() >= 6 &&
      text.compare(text.size() - 3, 3, "```") == 0) {
    text = text.substr(text.find('\n') == std::string::npos ? 3 : text.find('\n') + 1);
    text = trim(text.substr(0, text.size() - 3));
  }
  auto document = try_parse_json(text);
  if (!document) return Status(ErrorCode::kInvalidArgument, "the answer is not JSON");
  // valijson's adapter reads nlohmann::json (sorted objects); order does not matter here.
  const nlohmann::json schema_doc = nlohmann::json::parse(schema_json->dump());
  const nlohmann::json target = nlohmann::json::parse(document->dump());
  valijson::Schema schema;
  try {
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter adapter(schema_doc);
    parser.populateSchema(adapter, schema);
  } catch (const std::exception& e) {
    return Status(ErrorCode::kInternal, std::string("bad schema: ") + e.what());
  }
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target_adapter(target);
  if (validator.validate(schema, target_adapter, &results)) return Status::Ok();
  std::string why = "does not match the schema";
  valijson::ValidationResults::Error error;
  if (results.popError(error)) why += ": " + error.description;
  return Status(ErrorCode::kInvalidArgument, why);
}

Result<std::unique_ptr<Evaluator>> make_evaluator(const std::string& name,
                                                  const EvaluatorOptions& options,
                                                  ModelGateway& models) {
  auto threshold = [&](double fallback) { return options.threshold.value_or(fallback); };
  if (name == "exact_match") {
    return std::unique_ptr<Evaluator>(new TextEvaluator(name, threshold(1), exact_match));
  }
  if (name == "contains") {
    return std::unique_ptr<Evaluator>(new TextEvaluator(name, threshold(1), contains));
  }
  if (name == "f1")
    return std::unique_ptr<Evaluator>(new TextEvaluator(name, threshold(0.5), token_f1));
  if (name == "rouge_l") {
    return std::unique_ptr<Evaluator>(new TextEvaluator(name, threshold(0.5), rouge_l));
  }
  if (name == "regex") return std::unique_ptr<Evaluator>(new RegexEvaluator(threshold(1)));
  if (name == "json_schema")
    return std::unique_ptr<Evaluator>(new JsonSchemaEvaluator(threshold(1)));
  if (name == "embedding_similarity") {
    if (options.embedding_model.empty()) {
      return Error(ErrorCode::kInvalidArgument,
                   "embedding_similarity needs --embedding-model MODEL (a public model that "
                   "serves embeddings)");
    }
    if (!models.has_model(options.embedding_model)) {
      return Error(ErrorCode::kNotFound, "--embedding-model: no model named " +
                                             echo(options.embedding_model) + " in the config");
    }
    return std::unique_ptr<Evaluator>(
        new EmbeddingEvaluator(threshold(0.8), options.embedding_model, models));
  }
  // A judge: NAME.prompty in judges_dir, else a built-in one.
  std::string text;
  std::string source = name + ".prompty";
  bool found = false;
  if (!options.judges_dir.empty()) {
    const std::string path = options.judges_dir + "/" + name + ".prompty";
    if (std::ifstream(path).good()) {
      auto file = read_text_file(path);
      if (!file) return file.error();
      text = std::move(*file);
      source = path;
      found = true;
    }
  }
  if (!found) {
    const auto& builtin = builtin_judge_prompts();
    auto it = builtin.find(name);
    if (it == builtin.end()) {
      return Error(ErrorCode::kInvalidArgument,
                   "unknown evaluator " + echo(name) +
                       " (built in: exact_match, contains, regex, json_schema, f1, rouge_l, "
                       "embedding_similarity, relevance, groundedness, coherence, fluency, "
                       "similarity; or a judge NAME.prompty in --judges DIR)");
    }
    text = it->second;
  }
  if (options.judge.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 name + " is an LLM judge: name its model with --judge MODEL");
  }
  if (!models.has_model(options.judge)) {
    return Error(ErrorCode::kNotFound,
                 "--judge: no model named " + echo(options.judge) + " in the config");
  }
  auto prompt = JudgePrompt::parse(text, source);
  if (!prompt) return prompt.error();
  return std::unique_ptr<Evaluator>(
      new JudgeEvaluator(name, threshold(3), std::move(*prompt), options.judge, models));
}

}  // namespace keel::evals
