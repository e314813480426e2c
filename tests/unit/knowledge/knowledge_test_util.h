// Helpers for the knowledge tests: running a coroutine to completion, and an in-process
// embedder (hashed word counts: deterministic, meaningful enough for ranking tests).
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "http/asio.h"
#include "knowledge/ingest.h"

namespace keel::knowledge {

template <typename T>
T run_task(Task<T> task) {
  asio::io_context context;
  std::optional<T> out;
  asio::co_spawn(
      context, [&]() -> Task<void> { out.emplace(co_await std::move(task)); }, asio::detached);
  context.run();
  return std::move(*out);
}

// Lower-cased words hashed (FNV-1a) into 256 buckets, counted.
inline std::vector<float> embed_text(const std::string& text) {
  std::vector<float> vector(256, 0.0f);
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    uint32_t h = 2166136261u;
    for (unsigned char c : word) h = (h ^ c) * 16777619u;
    vector[h % vector.size()] += 1.0f;
    word.clear();
  };
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      flush();
    }
  }
  flush();
  vector[255] += 0.01f;  // never all zero
  return vector;
}

struct CountingEmbedder {
  int calls = 0;
  int fail_after = -1;  // calls after this many fail (-1: never)
  std::function<void()> on_call;
  Embedder fn() {
    return Embedder([this](const std::string&, std::vector<std::string> texts,
                           CancelPtr) -> Task<Result<std::vector<std::vector<float>>>> {
      ++calls;
      if (on_call) on_call();
      if (fail_after >= 0 && calls > fail_after) {
        co_return Error(ErrorCode::kUnavailable, "upstream down");
      }
      std::vector<std::vector<float>> out;
      for (const auto& text : texts) out.push_back(embed_text(text));
      co_return out;
    });
  }
};

// A character-level tokenizer: every non-space byte is a token, plus [CLS] and [SEP]. It counts
// identifiers and punctuation much finer than chunk.h's estimate, as WordPiece does.
inline int64_t fine_tokens(const std::string& text) {
  return 2 +
         std::count_if(text.begin(), text.end(), [](unsigned char c) { return !std::isspace(c); });
}

// What the local engine does with one model: counts with its tokenizer, refuses an input over
// the limit as too long, embeds the rest. Records every text it embedded.
struct FineModel {
  int64_t limit = 120;
  bool has_tokenizer = true;  // false: a remote upstream, known only by its refusals
  std::string refusal = "input 0 is too long";
  int embed_calls = 0;
  int refusals = 0;
  std::vector<std::string> embedded;

  Embedder embedder() {
    EmbedFn embed = [this](const std::string&, std::vector<std::string> texts,
                           CancelPtr) -> Task<Result<std::vector<std::vector<float>>>> {
      ++embed_calls;
      for (const auto& text : texts) {
        if (fine_tokens(text) > limit) {
          ++refusals;
          co_return Error(ErrorCode::kInvalidArgument, refusal);
        }
      }
      std::vector<std::vector<float>> out;
      for (const auto& text : texts) {
        embedded.push_back(text);
        out.push_back(embed_text(text));
      }
      co_return out;
    };
    if (!has_tokenizer) return Embedder(std::move(embed));
    EmbedCountFn count = [this](const std::string&, std::vector<std::string> texts,
                                CancelPtr) -> Task<Result<EmbedTokenCounts>> {
      EmbedTokenCounts counts;
      counts.max_tokens = limit;
      for (const auto& text : texts) counts.tokens.push_back(fine_tokens(text));
      co_return counts;
    };
    return Embedder(std::move(embed), std::move(count));
  }
};

}  // namespace keel::knowledge
