// Smoke test of the llama.cpp dependency (cmake/llama.cmake, scripts/llama.sh): keel links
// llama, ggml and llama.cpp's common library, loads a real GGUF and decodes greedily through the
// llama.h API the local engine will use (tokenize, llama_batch, llama_decode, sampler chain).

#include <common.h>
#include <json-schema-to-grammar.h>
#include <llama.h>

#include <gtest/gtest.h>

#include "llama_test_util.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace keel {
namespace {

namespace fs = std::filesystem;

#ifndef KEEL_HAS_LLAMA
#error "unit_local is built only when KEEL_LOCAL is on, which defines KEEL_HAS_LLAMA"
#endif

const fs::path kModelsDir = fs::path(KEEL_SOURCE_DIR) / ".." / "shared" / "models";
const fs::path kStories = kModelsDir / "stories260K.gguf";

using testing_llama::ContextPtr;
using testing_llama::ModelPtr;
using testing_llama::SamplerPtr;

int TestThreads() { return testing_llama::kTestThreads; }

class LlamaSmokeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    testing_llama::init_quiet_backend();
  }
  static void TearDownTestSuite() { llama_backend_free(); }

  static ModelPtr Load(const fs::path& path) {
    llama_model_params params = llama_model_default_params();
    params.load_mode = LLAMA_LOAD_MODE_MMAP;  // this llama.cpp has load_mode, not use_mmap
    return ModelPtr(llama_model_load_from_file(path.c_str(), params));
  }

  fs::path TempFile(const std::string& name) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    fs::path dir = fs::temp_directory_path() /
                   ("keel-local-" + std::to_string(getpid()) + "-" + info->name());
    fs::create_directories(dir);
    dirs_.push_back(dir);
    return dir / name;
  }

  void TearDown() override {
    std::error_code ec;
    for (const auto& d : dirs_) fs::remove_all(d, ec);
  }

 private:
  std::vector<fs::path> dirs_;
};

std::vector<llama_token> Tokenize(const llama_vocab* vocab, const std::string& text) {
  // A negative result is the number of tokens needed.
  const int n = -llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), nullptr, 0,
                                /*add_special=*/true, /*parse_special=*/false);
  std::vector<llama_token> tokens(static_cast<size_t>(n));
  const int got = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()),
                                 tokens.data(), n, true, false);
  EXPECT_EQ(got, n);
  return tokens;
}

std::string Piece(const llama_vocab* vocab, llama_token token) {
  char buf[128];
  const int n = llama_token_to_piece(vocab, token, buf, sizeof buf, /*lstrip=*/0, /*special=*/false);
  EXPECT_GE(n, 0);
  return std::string(buf, static_cast<size_t>(std::max(n, 0)));
}

TEST_F(LlamaSmokeTest, GreedyContinuationOfStories260K) {
  if (!fs::exists(kStories)) {
    GTEST_SKIP() << "needs the trained model " << kStories.lexically_normal()
                 << " (see ../shared/models/README.md); it is absent";
  }
  ModelPtr model = Load(kStories);
  ASSERT_NE(model, nullptr) << "failed to load " << kStories;
  const llama_vocab* vocab = llama_model_get_vocab(model.get());

  const int threads = TestThreads();
  llama_context_params cparams = llama_context_default_params();
  cparams.n_ctx = 128;
  cparams.n_batch = 128;
  cparams.n_seq_max = 1;
  cparams.n_threads = threads;
  cparams.n_threads_batch = threads;
  cparams.no_perf = true;
  ContextPtr ctx(llama_init_from_model(model.get(), cparams));
  ASSERT_NE(ctx, nullptr);
  EXPECT_EQ(llama_n_threads(ctx.get()), threads);

  SamplerPtr sampler(llama_sampler_chain_init(llama_sampler_chain_default_params()));
  llama_sampler_chain_add(sampler.get(), llama_sampler_init_greedy());

  const std::string prompt = "Once upon a time";
  const std::vector<llama_token> prompt_tokens = Tokenize(vocab, prompt);
  ASSERT_FALSE(prompt_tokens.empty());

  // An explicit batch, the shape the local engine's scheduler fills: one sequence here.
  llama_batch batch = llama_batch_init(static_cast<int32_t>(cparams.n_batch), 0, 1);
  auto add = [&](llama_token token, llama_pos pos, bool logits) {
    batch.token[batch.n_tokens] = token;
    batch.pos[batch.n_tokens] = pos;
    batch.n_seq_id[batch.n_tokens] = 1;
    batch.seq_id[batch.n_tokens][0] = 0;
    batch.logits[batch.n_tokens] = logits;
    ++batch.n_tokens;
  };
  llama_pos pos = 0;
  for (size_t i = 0; i < prompt_tokens.size(); ++i) {
    add(prompt_tokens[i], pos++, i + 1 == prompt_tokens.size());
  }

  std::string text = prompt;
  int generated = 0;
  for (; generated < 20; ++generated) {
    ASSERT_EQ(llama_decode(ctx.get(), batch), 0) << "decode failed at token " << generated;
    const llama_token token = llama_sampler_sample(sampler.get(), ctx.get(), batch.n_tokens - 1);
    if (llama_vocab_is_eog(vocab, token)) break;
    text += Piece(vocab, token);
    batch.n_tokens = 0;
    add(token, pos++, true);
  }
  llama_batch_free(batch);

  EXPECT_EQ(generated, 20) << text;
  EXPECT_TRUE(text.starts_with("Once upon a time, there was a little girl named Lily")) << text;
}

TEST_F(LlamaSmokeTest, MissingFileGivesNullModel) {
  EXPECT_EQ(Load(TempFile("absent.gguf")), nullptr);
}

TEST_F(LlamaSmokeTest, CorruptFileGivesNullModel) {
  const fs::path path = TempFile("corrupt.gguf");
  std::ofstream(path, std::ios::binary) << "this is not a GGUF file, only some text\n";
  EXPECT_EQ(Load(path), nullptr);

  // Right magic, garbage after it.
  const fs::path magic = TempFile("magic.gguf");
  std::ofstream(magic, std::ios::binary) << "GGUF" << std::string(200, '\xff');
  EXPECT_EQ(Load(magic), nullptr);
}

TEST_F(LlamaSmokeTest, TruncatedFileGivesNullModel) {
  if (!fs::exists(kStories)) {
    GTEST_SKIP() << "needs " << kStories.lexically_normal() << " to truncate; it is absent";
  }
  std::ifstream in(kStories, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const fs::path path = TempFile("truncated.gguf");
  std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  EXPECT_EQ(Load(path), nullptr);
}

// llama.cpp's common library is linked and usable: JSON schema to GBNF grammar.
TEST_F(LlamaSmokeTest, CommonLibraryConvertsJsonSchemaToGrammar) {
  const std::string grammar = json_schema_to_grammar(common_json::parse(
      R"({"type":"object","properties":{"name":{"type":"string"}},"required":["name"]})"));
  EXPECT_NE(grammar.find("root ::="), std::string::npos) << grammar;
  EXPECT_NE(grammar.find("name"), std::string::npos) << grammar;
}

}  // namespace
}  // namespace keel
