// Tiny random-weight GGUF models that llama.cpp loads and runs: test fixtures, and what `make
// run` serves when no trained model can be downloaded. Their answers and embeddings are not
// meaningful; their general.name says so.
//
//   Status written = write_fixture_model("/tmp/tiny-llama.gguf", FixtureArch::kLlama, 42);
//   if (!written) return written.error();
//
// Deterministic: the same arch and seed give a byte-identical file on every machine (own PRNG,
// no std distributions, no libm). Files are a few hundred KB and take milliseconds to write.
//
// - kLlama: arch "llama", SentencePiece vocab with byte fallback (any text tokenizes), ChatML
//   chat template in tokenizer.chat_template, <|im_end|> as end-of-turn. The output rows of all
//   tokens but whole words, "," and "." are zero, so greedy decoding never ends a turn on its
//   own and yields ASCII words (" see city us look"): callers stop it with a token limit.
//   Sampling at a temperature rarely picks anything else.
// - kBert: arch "bert", WordPiece vocab (lowercased; unknown words become [UNK]), mean pooling,
//   for llama_context_params.embeddings = true.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace keel {

enum class FixtureArch { kLlama, kBert };

// "llama" / "bert".
const char* fixture_arch_name(FixtureArch arch);
// Inverse of fixture_arch_name; kInvalidArgument for any other name.
Result<FixtureArch> fixture_arch_from_name(std::string_view name);

// general.name of the generated files: callers that serve one can detect it and warn.
inline constexpr const char* kLlamaFixtureName = "keel random fixture (answers are not meaningful)";
inline constexpr const char* kBertFixtureName =
    "keel random embedding fixture (embeddings are not meaningful)";

inline constexpr uint64_t kDefaultFixtureSeed = 42;

// The shape of a fixture, for tests and callers that size contexts. n_vocab depends on the
// built-in word list only, not on the seed.
struct FixtureDims {
  uint32_t n_vocab = 0;
  uint32_t n_embd = 0;
  uint32_t n_layer = 0;
  uint32_t n_head = 0;
  uint32_t n_head_kv = 0;
  uint32_t n_ff = 0;
  uint32_t n_ctx_train = 0;
};
FixtureDims fixture_dims(FixtureArch arch);

// Writes the fixture to `path` (through `path`.tmp, then a rename, so a reader never sees half a
// file). kInvalidArgument for an empty path, kInternal when the file cannot be written.
Status write_fixture_model(const std::string& path, FixtureArch arch,
                           uint64_t seed = kDefaultFixtureSeed);

}  // namespace keel
