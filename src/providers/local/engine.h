// The local inference engine: one llama.cpp model, one context, one inference thread, and a
// scheduler that decodes up to `parallel` sequences together (continuous batching), the way
// llama-server's slots work (DESIGN.md "Local engine"). It knows nothing about HTTP, JSON or
// Asio: requests arrive as token vectors and leave as text pieces through a callback.
//
//   auto engine = Engine::load({.model_path = "m.gguf", .threads = 2, .parallel = 4});
//   auto job = std::make_shared<GenerateJob>();
//   job->prompt = engine.value()->tokenize(prompt_text);
//   job->deliver = [](GenerateOutput out) { ... };   // called on the engine thread
//   engine.value()->submit(job);
//   job->cancel();                                    // from any thread: dropped at the next step
//
// Threads: submit(), cancel() and embed() may be called from any thread. `deliver` callbacks run
// on the inference thread and must not block. The engine owns the llama_context; nothing else
// touches it.
#pragma once

#include <llama.h>
#include <sampling.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/chat.h"
#include "core/result.h"

namespace keel::local {

struct EngineOptions {
  std::string model_path;
  int threads = 0;        // 0: the number of cores
  int parallel = 4;       // sequences decoded together
  int context = 0;        // tokens per sequence; 0: the model's training context, capped at 4096
  int batch = 512;        // tokens per llama_decode call
  // How long the compute threads spin for the next decode before sleeping (ggml's threadpool
  // `poll`, 0-100; llama-server's --poll, whose default is 50). 1 spins a few milliseconds: enough
  // to span the gap between two decodes of a stream, short enough that an engine going idle
  // gives its cores back at once (50 kept one core busy ~180 ms after every request).
  int poll = 1;
};

struct SamplerDeleter {
  void operator()(common_sampler* sampler) const { common_sampler_free(sampler); }
};
using SamplerPtr = std::unique_ptr<common_sampler, SamplerDeleter>;

// What a generation step produces for one job. Pieces are whole UTF-8 sequences; the last
// output has `done` set (and `error` when it failed).
struct GenerateOutput {
  std::string text;
  bool done = false;
  FinishReason finish = FinishReason::kNone;
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;      // prompt tokens whose KV cache was reused (prefix cache)
  std::optional<Error> error;
};

// One generation request. Filled by the caller before submit(); then only `cancel()` may be
// called by the caller, the rest belongs to the engine.
struct GenerateJob {
  std::vector<llama_token> prompt;
  SamplerPtr sampler;                       // built with common_sampler_init; required
  std::vector<std::string> stop;            // stop strings: never sent, generation ends there
  std::vector<llama_token> special_ok;      // special tokens rendered as text (tool-call tags)
  int max_tokens = -1;                      // -1: until the context is full
  std::function<void(GenerateOutput)> deliver;

  void cancel() { cancelled.store(true, std::memory_order_relaxed); }
  bool is_cancelled() const { return cancelled.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancelled{false};
};

// An embeddings request: one pooled, L2-normalised vector per input.
struct EmbedJob {
  std::vector<std::vector<llama_token>> inputs;
  std::function<void(Result<std::vector<std::vector<float>>>)> deliver;
};

struct EngineStats {
  uint64_t decode_calls = 0;        // llama_decode calls for generation
  uint64_t max_batch_sequences = 0; // most sequences seen in one decode call
  uint64_t prompt_tokens_reused = 0;
  uint64_t prompt_tokens_decoded = 0;
};

class Engine {
 public:
  // Loads the model (mmap) and starts the inference thread. Fails with an error naming the file
  // when it is missing, unreadable, not a GGUF, truncated, or larger than the free memory.
  static Result<std::unique_ptr<Engine>> load(const EngineOptions& options);
  ~Engine();

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void submit(std::shared_ptr<GenerateJob> job);
  void submit(std::shared_ptr<EmbedJob> job);
  // Wakes the inference thread so a cancelled job leaves the batch now, not at the next token.
  void wake();

  const llama_model* model() const { return model_; }
  const llama_vocab* vocab() const { return vocab_; }
  int context_per_sequence() const { return n_ctx_seq_; }
  // The most tokens one embeddings input may hold: the embeddings context, whose ubatch is the
  // whole context (an encoder takes an input in one ubatch).
  int embedding_input_limit() const;
  int parallel() const { return parallel_; }
  const std::string& path() const { return options_.model_path; }
  EngineStats stats() const;

 private:
  struct Slot;
  explicit Engine(EngineOptions options);
  void run();
  void admit(std::deque<std::shared_ptr<GenerateJob>>& waiting);
  bool step();
  void finish(Slot& slot, FinishReason reason, std::optional<Error> error = std::nullopt);
  void emit_token(Slot& slot, llama_token token);
  void run_embeddings(EmbedJob& job);

  EngineOptions options_;
  llama_model* model_ = nullptr;
  const llama_vocab* vocab_ = nullptr;
  llama_context* ctx_ = nullptr;
  llama_context* embed_ctx_ = nullptr;  // made on first use, on the inference thread
  ggml_threadpool* threadpool_ = nullptr;  // compute threads of both contexts, kept for life
  bool own_pooling_ = false;  // the GGUF names a pooling type: an embedding-only model
  llama_batch batch_{};
  int n_ctx_seq_ = 0;
  int parallel_ = 1;
  std::vector<std::unique_ptr<Slot>> slots_;
  uint64_t use_counter_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable wakeup_;
  std::deque<std::shared_ptr<GenerateJob>> queue_;
  std::deque<std::shared_ptr<EmbedJob>> embed_queue_;
  bool stopping_ = false;
  EngineStats stats_;
  std::thread thread_;
};

// Bytes of memory the kernel reports as available (MemAvailable), 0 when unknown.
uint64_t available_memory_bytes();

}  // namespace keel::local
