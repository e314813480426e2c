// The generated fixture models (src/providers/local/fixture.h): deterministic bytes, and
// llama.cpp loads and runs them — the llama fixture tokenizes any text and decodes greedily,
// the BERT fixture yields pooled embeddings.

#include "providers/local/fixture.h"

#include <gtest/gtest.h>

#include "llama_test_util.h"
#include <llama.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace keel {
namespace {

namespace fs = std::filesystem;

using testing_llama::ContextPtr;
using testing_llama::ModelPtr;
using testing_llama::SamplerPtr;

constexpr int kThreads = testing_llama::kTestThreads;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class FixtureTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    testing_llama::init_quiet_backend();
  }
  static void TearDownTestSuite() { llama_backend_free(); }

  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("keel-fixture-" + std::to_string(getpid()) + "-" + info->name());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path Write(FixtureArch arch, uint64_t seed, const std::string& name) {
    const fs::path path = dir_ / name;
    const Status written = write_fixture_model(path.string(), arch, seed);
    EXPECT_TRUE(written.ok()) << (written.ok() ? "" : written.error().message);
    return path;
  }

  static ModelPtr Load(const fs::path& path) {
    llama_model_params params = llama_model_default_params();
    params.load_mode = LLAMA_LOAD_MODE_MMAP;
    return ModelPtr(llama_model_load_from_file(path.c_str(), params));
  }

  static ContextPtr NewContext(llama_model* model, bool embeddings) {
    llama_context_params cparams = llama_context_default_params();
    cparams.n_ctx = 256;
    cparams.n_batch = 256;
    cparams.n_ubatch = 256;
    cparams.n_seq_max = 1;
    cparams.n_threads = kThreads;
    cparams.n_threads_batch = kThreads;
    cparams.no_perf = true;
    cparams.embeddings = embeddings;
    return ContextPtr(llama_init_from_model(model, cparams));
  }

  fs::path dir_;
};

std::vector<llama_token> Tokenize(const llama_vocab* vocab, const std::string& text,
                                  bool add_special, bool parse_special = false) {
  const int n = -llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), nullptr, 0,
                                add_special, parse_special);
  std::vector<llama_token> tokens(static_cast<size_t>(std::max(n, 0)));
  const int got = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()),
                                 tokens.data(), n, add_special, parse_special);
  EXPECT_EQ(got, n);
  return tokens;
}

std::string Detokenize(const llama_vocab* vocab, const std::vector<llama_token>& tokens) {
  std::string text(tokens.size() * 16 + 16, '\0');
  const int n = llama_detokenize(vocab, tokens.data(), static_cast<int32_t>(tokens.size()),
                                 text.data(), static_cast<int32_t>(text.size()),
                                 /*remove_special=*/true, /*unparse_special=*/false);
  EXPECT_GE(n, 0);
  text.resize(static_cast<size_t>(std::max(n, 0)));
  return text;
}

TEST_F(FixtureTest, SameSeedSameBytesOtherSeedOtherBytes) {
  for (FixtureArch arch : {FixtureArch::kLlama, FixtureArch::kBert}) {
    SCOPED_TRACE(fixture_arch_name(arch));
    const auto start = std::chrono::steady_clock::now();
    const std::string a = ReadFile(Write(arch, 7, "a.gguf"));
    const auto took = std::chrono::steady_clock::now() - start;
    const std::string b = ReadFile(Write(arch, 7, "b.gguf"));
    const std::string c = ReadFile(Write(arch, 8, "c.gguf"));
    ASSERT_FALSE(a.empty());
    EXPECT_TRUE(a.starts_with("GGUF"));
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
    EXPECT_EQ(a.size(), c.size());  // the seed changes weights only
    EXPECT_LT(a.size(), 512u * 1024) << "fixtures are meant to be tiny";
    EXPECT_LT(took, std::chrono::seconds(1));
    EXPECT_FALSE(fs::exists(dir_ / "a.gguf.tmp"));
  }
}

TEST_F(FixtureTest, BadPathIsAnError) {
  EXPECT_FALSE(write_fixture_model("", FixtureArch::kLlama).ok());
  const Status status =
      write_fixture_model((dir_ / "no" / "such" / "dir" / "x.gguf").string(), FixtureArch::kBert);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kInternal);
}

TEST_F(FixtureTest, ArchNamesRoundTrip) {
  for (FixtureArch arch : {FixtureArch::kLlama, FixtureArch::kBert}) {
    auto parsed = fixture_arch_from_name(fixture_arch_name(arch));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, arch);
  }
  auto bad = fixture_arch_from_name("gpt2");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(FixtureTest, LlamaFixtureLoadsWithItsShapeNameAndTemplate) {
  ModelPtr model = Load(Write(FixtureArch::kLlama, kDefaultFixtureSeed, "llama.gguf"));
  ASSERT_NE(model, nullptr);
  const FixtureDims dims = fixture_dims(FixtureArch::kLlama);
  const llama_vocab* vocab = llama_model_get_vocab(model.get());
  EXPECT_EQ(llama_vocab_n_tokens(vocab), static_cast<int32_t>(dims.n_vocab));
  EXPECT_EQ(llama_vocab_type(vocab), LLAMA_VOCAB_TYPE_SPM);
  EXPECT_EQ(llama_model_n_embd(model.get()), static_cast<int32_t>(dims.n_embd));
  EXPECT_EQ(llama_model_n_layer(model.get()), static_cast<int32_t>(dims.n_layer));
  EXPECT_EQ(llama_model_n_head(model.get()), static_cast<int32_t>(dims.n_head));
  EXPECT_EQ(llama_model_n_head_kv(model.get()), static_cast<int32_t>(dims.n_head_kv));
  EXPECT_EQ(llama_model_n_ctx_train(model.get()), static_cast<int32_t>(dims.n_ctx_train));
  EXPECT_GE(dims.n_vocab, 600u);

  char name[128] = {};
  ASSERT_GT(llama_model_meta_val_str(model.get(), "general.name", name, sizeof name), 0);
  EXPECT_STREQ(name, kLlamaFixtureName);

  const char* tmpl = llama_model_chat_template(model.get(), /*name=*/nullptr);
  ASSERT_NE(tmpl, nullptr);
  EXPECT_NE(std::string(tmpl).find("<|im_start|>"), std::string::npos);

  // llama.cpp's built-in template engine recognizes it as ChatML.
  const llama_chat_message messages[] = {{"system", "Be brief."}, {"user", "Hello"}};
  std::string formatted(512, '\0');
  const int n = llama_chat_apply_template(tmpl, messages, 2, /*add_ass=*/true, formatted.data(),
                                          static_cast<int32_t>(formatted.size()));
  ASSERT_GT(n, 0);
  formatted.resize(static_cast<size_t>(n));
  EXPECT_EQ(formatted,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
            "<|im_start|>assistant\n");

  // The special tokens parse as single control tokens; <|im_end|> ends a turn.
  const std::vector<llama_token> chat = Tokenize(vocab, formatted, true, /*parse_special=*/true);
  ASSERT_GE(chat.size(), 3u);
  EXPECT_EQ(chat[0], llama_vocab_bos(vocab));
  EXPECT_EQ(Tokenize(vocab, "<|im_end|>", false, true).size(), 1u);
  EXPECT_TRUE(llama_vocab_is_eog(vocab, Tokenize(vocab, "<|im_end|>", false, true)[0]));
  EXPECT_TRUE(llama_vocab_is_eog(vocab, llama_vocab_eos(vocab)));
}

TEST_F(FixtureTest, LlamaFixtureTokenizesAnyText) {
  ModelPtr model = Load(Write(FixtureArch::kLlama, kDefaultFixtureSeed, "llama.gguf"));
  ASSERT_NE(model, nullptr);
  const llama_vocab* vocab = llama_model_get_vocab(model.get());

  // Common words are single pieces (with the word-start mark: the fixture adds no space prefix
  // of its own, as chat models' vocabularies do not).
  const std::vector<llama_token> words = Tokenize(vocab, " hello world", false);
  EXPECT_EQ(words.size(), 2u) << Detokenize(vocab, words);

  for (const std::string& text : std::vector<std::string>{
           "hello world",
           "The quick brown fox jumps over the lazy dog.",
           "Grüße, naïve café — 日本語 🙂 \t tabs\nnew lines  double  spaces",
           "{\"json\": [1, 2.5e-3, null]}",
           "\x01\x7f control bytes",
       }) {
    SCOPED_TRACE(text);
    const std::vector<llama_token> tokens = Tokenize(vocab, text, false);
    ASSERT_FALSE(tokens.empty());
    for (llama_token token : tokens) EXPECT_NE(token, 0) << "no <unk>: bytes cover the rest";
    EXPECT_EQ(Detokenize(vocab, tokens), text);
  }
}

TEST_F(FixtureTest, LlamaFixtureDecodesGreedilyAndDeterministically) {
  const fs::path path = Write(FixtureArch::kLlama, kDefaultFixtureSeed, "llama.gguf");
  ModelPtr model = Load(path);
  ASSERT_NE(model, nullptr);
  const llama_vocab* vocab = llama_model_get_vocab(model.get());

  auto generate = [&](const std::string& prompt) {
    const llama_vocab* vocab = llama_model_get_vocab(model.get());  // model changes below
    ContextPtr ctx = NewContext(model.get(), /*embeddings=*/false);
    EXPECT_NE(ctx, nullptr);
    std::vector<llama_token> out;
    if (!ctx) return out;
    SamplerPtr sampler(llama_sampler_chain_init(llama_sampler_chain_default_params()));
    llama_sampler_chain_add(sampler.get(), llama_sampler_init_greedy());
    std::vector<llama_token> tokens = Tokenize(vocab, prompt, true, true);
    llama_batch batch = llama_batch_get_one(tokens.data(), static_cast<int32_t>(tokens.size()));
    llama_token next = 0;
    for (int i = 0; i < 20; ++i) {
      if (llama_decode(ctx.get(), batch) != 0) {
        ADD_FAILURE() << "decode failed at token " << i;
        break;
      }
      next = llama_sampler_sample(sampler.get(), ctx.get(), -1);
      out.push_back(next);
      if (llama_vocab_is_eog(vocab, next)) break;
      batch = llama_batch_get_one(&next, 1);
    }
    return out;
  };

  const std::string prompt = "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n";
  const std::vector<llama_token> first = generate(prompt);
  ASSERT_EQ(first.size(), 20u) << "the fixture never ends a turn by itself";
  std::string text;
  for (llama_token token : first) {
    EXPECT_EQ(llama_vocab_get_attr(vocab, token) & LLAMA_TOKEN_ATTR_NORMAL, LLAMA_TOKEN_ATTR_NORMAL)
        << "greedy output is word pieces only";
    char piece[64];
    const int n = llama_token_to_piece(vocab, token, piece, sizeof piece, 0, false);
    ASSERT_GT(n, 0);
    text.append(piece, static_cast<size_t>(n));
  }
  // Whole ASCII words and punctuation, as the fixture's output rows allow.
  EXPECT_TRUE(std::all_of(text.begin(), text.end(), [](char c) { return c >= ' ' && c <= '~'; }))
      << text;

  // Same model, same prompt: same tokens. A second file from the same seed: same tokens too.
  EXPECT_EQ(generate(prompt), first) << text;
  ModelPtr again = Load(Write(FixtureArch::kLlama, kDefaultFixtureSeed, "again.gguf"));
  ASSERT_NE(again, nullptr);
  model = std::move(again);
  EXPECT_EQ(generate(prompt), first) << text;
}

TEST_F(FixtureTest, BertFixtureYieldsPooledEmbeddings) {
  ModelPtr model = Load(Write(FixtureArch::kBert, kDefaultFixtureSeed, "bert.gguf"));
  ASSERT_NE(model, nullptr);
  const FixtureDims dims = fixture_dims(FixtureArch::kBert);
  const llama_vocab* vocab = llama_model_get_vocab(model.get());
  EXPECT_EQ(llama_vocab_type(vocab), LLAMA_VOCAB_TYPE_WPM);
  EXPECT_EQ(llama_vocab_n_tokens(vocab), static_cast<int32_t>(dims.n_vocab));
  EXPECT_EQ(llama_model_n_embd(model.get()), static_cast<int32_t>(dims.n_embd));
  EXPECT_EQ(llama_model_n_ctx_train(model.get()), static_cast<int32_t>(dims.n_ctx_train));
  char name[128] = {};
  ASSERT_GT(llama_model_meta_val_str(model.get(), "general.name", name, sizeof name), 0);
  EXPECT_STREQ(name, kBertFixtureName);

  // [CLS] words [SEP]; known words are one piece each, word-internal pieces continue a word,
  // and a word with no matching piece is [UNK].
  const std::vector<llama_token> tokens = Tokenize(vocab, "Hello, World! walking 日本", true);
  ASSERT_GE(tokens.size(), 4u);
  EXPECT_EQ(tokens.front(), llama_vocab_bos(vocab));
  EXPECT_EQ(tokens.back(), llama_vocab_sep(vocab));
  // Real BERT GGUFs detokenize with a leading space too (WPM has no add_space_prefix).
  EXPECT_EQ(Detokenize(vocab, Tokenize(vocab, "Hello World", false)), " hello world");
  const std::vector<llama_token> pieces = Tokenize(vocab, "walking", false);
  EXPECT_EQ(pieces.size(), 2u) << "▁walk + ing";

  ContextPtr ctx = NewContext(model.get(), /*embeddings=*/true);
  ASSERT_NE(ctx, nullptr);
  EXPECT_EQ(llama_pooling_type(ctx.get()), LLAMA_POOLING_TYPE_MEAN);

  auto embed = [&](const std::string& text) {
    std::vector<llama_token> input = Tokenize(vocab, text, true);
    llama_batch batch = llama_batch_init(static_cast<int32_t>(input.size()), 0, 1);
    for (size_t i = 0; i < input.size(); ++i) {
      batch.token[i] = input[i];
      batch.pos[i] = static_cast<llama_pos>(i);
      batch.n_seq_id[i] = 1;
      batch.seq_id[i][0] = 0;
      batch.logits[i] = true;
    }
    batch.n_tokens = static_cast<int32_t>(input.size());
    llama_memory_clear(llama_get_memory(ctx.get()), true);
    std::vector<float> out;
    if (llama_decode(ctx.get(), batch) == 0) {
      const float* pooled = llama_get_embeddings_seq(ctx.get(), 0);
      if (pooled) out.assign(pooled, pooled + dims.n_embd);
    }
    llama_batch_free(batch);
    return out;
  };

  const std::vector<float> a = embed("the cat sat on the mat");
  const std::vector<float> a2 = embed("the cat sat on the mat");
  const std::vector<float> b = embed("a completely different sentence about money");
  ASSERT_EQ(a.size(), dims.n_embd);
  ASSERT_EQ(b.size(), dims.n_embd);
  double norm = 0;
  for (float x : a) {
    ASSERT_TRUE(std::isfinite(x));
    norm += static_cast<double>(x) * x;
  }
  EXPECT_GT(norm, 0.0);
  EXPECT_EQ(a, a2);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace keel
