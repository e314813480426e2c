// Helpers for the knowledge tests: running a coroutine to completion, and an in-process
// embedder (hashed word counts: deterministic, meaningful enough for ranking tests).
#pragma once

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
    return [this](const std::string&, std::vector<std::string> texts,
                  CancelPtr) -> Task<Result<std::vector<std::vector<float>>>> {
      ++calls;
      if (on_call) on_call();
      if (fail_after >= 0 && calls > fail_after) {
        co_return Error(ErrorCode::kUnavailable, "upstream down");
      }
      std::vector<std::vector<float>> out;
      for (const auto& text : texts) out.push_back(embed_text(text));
      co_return out;
    };
  }
};

}  // namespace keel::knowledge
