#include "providers/local/engine.h"

#include <common.h>
#include <ggml-cpu.h>

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>

#include "core/log.h"
#include "providers/local/stop_filter.h"

namespace keel::local {
namespace {

// llama.cpp logs through one global callback. Errors are remembered per thread so a failed load
// can say why; everything goes to keel's log at debug level.
thread_local std::string t_last_llama_error;

void llama_log(ggml_log_level level, const char* text, void*) {
  // The first error of a failed load names the cause ("tensor ... data is not within the file
  // bounds"); the ones after it only say that loading failed.
  if (level == GGML_LOG_LEVEL_ERROR && t_last_llama_error.empty()) {
    t_last_llama_error = text;
    while (!t_last_llama_error.empty() &&
           (t_last_llama_error.back() == '\n' || t_last_llama_error.back() == ' ')) {
      t_last_llama_error.pop_back();
    }
  }
  if (level >= GGML_LOG_LEVEL_WARN) {
    std::string line = text;
    while (!line.empty() && (line.back() == '\n' || line.back() == '.')) line.pop_back();
    if (!line.empty()) {  // (the model loader's progress dots are dropped)
      KEEL_LOG(kDebug) << "llama.cpp: " << line;
    }
  }
}

void init_backend_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    llama_log_set(llama_log, nullptr);
    llama_backend_init();
  });
}

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

// Checks a model file before llama.cpp maps it, so each failure has its own plain message.
Status check_model_file(const std::string& path) {
  struct stat st {};
  if (path.empty()) return Error(ErrorCode::kInvalidArgument, "no model file configured");
  if (::stat(path.c_str(), &st) != 0) {
    return Error(ErrorCode::kNotFound,
                 "model file '" + path + "': " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return Error(ErrorCode::kInvalidArgument, "model file '" + path + "' is not a regular file");
  }
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  if (!in.read(magic, 4)) {
    return Error(ErrorCode::kInvalidArgument,
                 "model file '" + path + "' is too short to be a GGUF (" +
                     std::to_string(st.st_size) + " bytes)");
  }
  if (std::memcmp(magic, "GGUF", 4) != 0) {
    return Error(ErrorCode::kInvalidArgument,
                 "model file '" + path + "' is not a GGUF file (bad magic)");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const uint64_t available = available_memory_bytes();
  if (available > 0 && size > available) {
    return Error(ErrorCode::kResourceExhausted,
                 "model file '" + path + "' is " + mib(size) + " but only " + mib(available) +
                     " of memory is available; refusing to load it");
  }
  return Status();
}

std::optional<std::string> meta_string(const llama_model* model, const std::string& key) {
  char buf[256];
  int32_t n = llama_model_meta_val_str(model, key.c_str(), buf, sizeof buf);
  if (n < 0) return std::nullopt;
  return std::string(buf, std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1));
}

GenerateOutput failed_output(Error error) {
  GenerateOutput out;
  out.done = true;
  out.finish = FinishReason::kError;
  out.error = std::move(error);
  return out;
}

}  // namespace

uint64_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t value = 0;
  std::string unit;
  while (in >> key >> value) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return value * 1024;
  }
  return 0;
}

struct Engine::Slot {
  int id = 0;
  std::vector<llama_token> cache;   // tokens whose KV is in this sequence, in order
  std::shared_ptr<GenerateJob> job;
  size_t prompt_done = 0;           // prompt tokens in the KV cache
  int generated = 0;
  int cached_tokens = 0;
  int max_tokens = 0;
  bool generating = false;
  llama_token next = 0;             // sampled, to be fed at the next step
  int i_batch = -1;                 // index of this slot's logits in the current batch
  uint64_t last_used = 0;
  std::unique_ptr<StopFilter> filter;
};

Engine::Engine(EngineOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<Engine>> Engine::load(const EngineOptions& options) {
  if (auto status = check_model_file(options.model_path); !status.ok()) return status.error();
  init_backend_once();

  std::unique_ptr<Engine> engine(new Engine(options));
  llama_model_params model_params = llama_model_default_params();
  model_params.load_mode = LLAMA_LOAD_MODE_MMAP;
  t_last_llama_error.clear();
  engine->model_ = llama_model_load_from_file(options.model_path.c_str(), model_params);
  if (!engine->model_) {
    std::string why = t_last_llama_error.empty() ? "corrupt or truncated GGUF" : t_last_llama_error;
    return Error(ErrorCode::kInvalidArgument,
                 "model file '" + options.model_path + "' could not be loaded: " + why);
  }
  engine->vocab_ = llama_model_get_vocab(engine->model_);

  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = options.threads > 0 ? options.threads : cores;
  engine->parallel_ = std::max(1, options.parallel);
  int n_ctx_seq = options.context;
  if (n_ctx_seq <= 0) n_ctx_seq = std::min(llama_model_n_ctx_train(engine->model_), 4096);
  n_ctx_seq = std::max(n_ctx_seq, 64);

  // An embedding-only model (BERT and kin: its GGUF names a pooling type) gets no generation
  // context; chat requests for it are refused by the provider.
  const auto arch = meta_string(engine->model_, "general.architecture").value_or("");
  const auto pooling = meta_string(engine->model_, arch + ".pooling_type");
  engine->own_pooling_ = pooling.has_value() && *pooling != "0";
  const bool embedding_only = engine->own_pooling_;

  // One persistent pool of compute threads for every graph this engine runs. Without it ggml
  // makes and joins a disposable pool per llama_decode: a clone3 per generated token, and on an
  // idle virtual machine the new threads' first wake-ups cost milliseconds (docs/dev.md, "The
  // local engine's threads"). Its workers spin for `poll` between graphs, then sleep.
  ggml_threadpool_params pool_params = ggml_threadpool_params_default(threads);
  pool_params.poll = static_cast<uint32_t>(std::clamp(options.poll, 0, 100));
  engine->threadpool_ = ggml_threadpool_new(&pool_params);
  if (!engine->threadpool_) {
    llama_model_free(engine->model_);
    engine->model_ = nullptr;
    return Error(ErrorCode::kResourceExhausted,
                 "could not start " + std::to_string(threads) + " compute threads");
  }

  if (!embedding_only) {
    t_last_llama_error.clear();
    llama_context_params ctx_params = llama_context_default_params();
    ctx_params.n_seq_max = static_cast<uint32_t>(engine->parallel_);
    ctx_params.n_ctx = static_cast<uint32_t>(n_ctx_seq * engine->parallel_);
    ctx_params.n_batch = static_cast<uint32_t>(std::max(options.batch, 32));
    ctx_params.n_ubatch = ctx_params.n_batch;
    ctx_params.n_threads = threads;
    ctx_params.n_threads_batch = threads;
    ctx_params.kv_unified = false;  // each sequence has its own n_ctx_seq cells
    ctx_params.no_perf = true;
    engine->ctx_ = llama_init_from_model(engine->model_, ctx_params);
    if (!engine->ctx_) {
      llama_model_free(engine->model_);
      engine->model_ = nullptr;
      return Error(ErrorCode::kResourceExhausted,
                   "model file '" + options.model_path +
                       "': could not create a context of " + std::to_string(ctx_params.n_ctx) +
                       " tokens (" + t_last_llama_error + ")");
    }
    llama_attach_threadpool(engine->ctx_, engine->threadpool_, nullptr);
    engine->n_ctx_seq_ = static_cast<int>(llama_n_ctx_seq(engine->ctx_));
    engine->batch_ = llama_batch_init(static_cast<int32_t>(ctx_params.n_batch), 0, 1);
    for (int i = 0; i < engine->parallel_; ++i) {
      auto slot = std::make_unique<Slot>();
      slot->id = i;
      engine->slots_.push_back(std::move(slot));
    }
  }
  engine->options_.threads = threads;
  engine->thread_ = std::thread([raw = engine.get()] { raw->run(); });
  return engine;
}

Engine::~Engine() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wakeup_.notify_all();
  if (thread_.joinable()) thread_.join();
  const Error gone(ErrorCode::kUnavailable, "the local engine is shutting down");
  for (auto& job : queue_) {
    if (job->deliver) job->deliver(failed_output(gone));
  }
  for (auto& job : embed_queue_) {
    if (job->deliver) job->deliver(gone);
  }
  if (ctx_) llama_batch_free(batch_);
  if (embed_ctx_) llama_free(embed_ctx_);
  if (ctx_) llama_free(ctx_);
  if (threadpool_) ggml_threadpool_free(threadpool_);  // after the contexts that use it
  if (model_) llama_model_free(model_);
}

void Engine::submit(std::shared_ptr<GenerateJob> job) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(job));
  }
  wakeup_.notify_one();
}

void Engine::submit(std::shared_ptr<EmbedJob> job) {
  {
    std::lock_guard lock(mutex_);
    embed_queue_.push_back(std::move(job));
  }
  wakeup_.notify_one();
}

void Engine::wake() { wakeup_.notify_one(); }

EngineStats Engine::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void Engine::run() {
  std::deque<std::shared_ptr<GenerateJob>> waiting;
  while (true) {
    std::shared_ptr<EmbedJob> embed_job;
    {
      std::unique_lock lock(mutex_);
      const bool busy = std::any_of(slots_.begin(), slots_.end(),
                                    [](const auto& slot) { return slot->job != nullptr; });
      if (!busy) {
        // Sleep until there is work; cancelled waiting jobs are rechecked on every wake.
        wakeup_.wait(lock, [&] {
          return stopping_ || !queue_.empty() || !embed_queue_.empty() ||
                 std::any_of(waiting.begin(), waiting.end(),
                             [](const auto& job) { return job->is_cancelled(); }) ||
                 (!waiting.empty() && !slots_.empty());
        });
      }
      if (stopping_) {
        for (auto& job : waiting) queue_.push_front(std::move(job));
        for (auto& slot : slots_) {
          if (slot->job) queue_.push_back(std::move(slot->job));
        }
        return;
      }
      while (!queue_.empty()) {
        waiting.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (!embed_queue_.empty()) {
        embed_job = std::move(embed_queue_.front());
        embed_queue_.pop_front();
      }
    }
    if (embed_job) run_embeddings(*embed_job);
    if (slots_.empty()) {
      // An embedding-only model: generation jobs are refused before they get here; drop any.
      for (auto& job : waiting) {
        job->deliver(failed_output(
            Error(ErrorCode::kInvalidArgument, "this model cannot generate text")));
      }
      waiting.clear();
      continue;
    }
    // A request whose client has gone leaves at once, waiting or running.
    std::erase_if(waiting, [](const auto& job) { return job->is_cancelled(); });
    for (auto& slot : slots_) {
      if (slot->job && slot->job->is_cancelled()) {
        slot->job.reset();
        slot->generating = false;
      }
    }
    admit(waiting);
    step();
  }
}

void Engine::admit(std::deque<std::shared_ptr<GenerateJob>>& waiting) {
  llama_memory_t memory = llama_get_memory(ctx_);
  while (!waiting.empty()) {
    auto& job = waiting.front();
    // The free slot whose cached tokens share the longest prefix with this prompt; among
    // equals, the least recently used, so popular prefixes stay cached longest.
    Slot* best = nullptr;
    size_t best_prefix = 0;
    for (auto& slot : slots_) {
      if (slot->job) continue;
      const size_t limit = std::min(slot->cache.size(), job->prompt.size());
      size_t prefix = 0;
      while (prefix < limit && slot->cache[prefix] == job->prompt[prefix]) ++prefix;
      if (!best || prefix > best_prefix ||
          (prefix == best_prefix && slot->last_used < best->last_used)) {
        best = slot.get();
        best_prefix = prefix;
      }
    }
    if (!best) return;
    // Keep at least the last prompt token to decode: its logits start the answer.
    const size_t reuse = std::min(best_prefix, job->prompt.size() - 1);
    llama_memory_seq_rm(memory, best->id, static_cast<llama_pos>(reuse), -1);
    best->cache.resize(reuse);
    best->prompt_done = reuse;
    best->cached_tokens = static_cast<int>(reuse);
    best->generated = 0;
    best->generating = false;
    best->i_batch = -1;
    best->last_used = ++use_counter_;
    const int room = n_ctx_seq_ - static_cast<int>(job->prompt.size());
    best->max_tokens = job->max_tokens < 0 ? room : std::min(job->max_tokens, room);
    best->filter = std::make_unique<StopFilter>(job->stop);
    // Penalties look back over the prompt too (as llama-server does); the grammar does not.
    for (llama_token token : job->prompt) common_sampler_accept(job->sampler.get(), token, false);
    best->job = std::move(job);
    waiting.pop_front();
    std::lock_guard lock(mutex_);
    stats_.prompt_tokens_reused += reuse;
  }
}

bool Engine::step() {
  common_batch_clear(batch_);
  const int capacity = std::max(options_.batch, 32);
  uint64_t sequences = 0;
  // Running sequences first: one token each, so generation never waits behind a long prompt.
  for (auto& slot : slots_) {
    slot->i_batch = -1;
    if (!slot->job || !slot->generating) continue;
    common_batch_add(batch_, slot->next, static_cast<llama_pos>(slot->cache.size()), {slot->id},
                     true);
    slot->cache.push_back(slot->next);
    slot->i_batch = batch_.n_tokens - 1;
    ++sequences;
  }
  // Then prompt chunks for newly admitted sequences, as much as the batch holds.
  uint64_t prompt_tokens = 0;
  for (auto& slot : slots_) {
    if (!slot->job || slot->generating) continue;
    const auto& prompt = slot->job->prompt;
    bool added = false;
    while (slot->prompt_done < prompt.size() && batch_.n_tokens < capacity) {
      const bool last = slot->prompt_done + 1 == prompt.size();
      common_batch_add(batch_, prompt[slot->prompt_done],
                       static_cast<llama_pos>(slot->cache.size()), {slot->id}, last);
      slot->cache.push_back(prompt[slot->prompt_done]);
      ++slot->prompt_done;
      ++prompt_tokens;
      added = true;
      if (last) slot->i_batch = batch_.n_tokens - 1;
    }
    if (added) ++sequences;
  }
  if (batch_.n_tokens == 0) return false;

  const int32_t rc = llama_decode(ctx_, batch_);
  {
    std::lock_guard lock(mutex_);
    ++stats_.decode_calls;
    stats_.max_batch_sequences = std::max(stats_.max_batch_sequences, sequences);
    stats_.prompt_tokens_decoded += prompt_tokens;
  }
  if (rc != 0) {
    // The batch is lost: fail every sequence in it and forget their (now unknown) caches.
    const Error error(ErrorCode::kInternal,
                      "llama_decode failed (" + std::to_string(rc) + ")");
    llama_memory_t memory = llama_get_memory(ctx_);
    for (auto& slot : slots_) {
      if (!slot->job) continue;
      llama_memory_seq_rm(memory, slot->id, -1, -1);
      slot->cache.clear();
      finish(*slot, FinishReason::kError, error);
    }
    return true;
  }

  for (auto& slot : slots_) {
    if (!slot->job || slot->i_batch < 0) continue;
    GenerateJob& job = *slot->job;
    const llama_token token = common_sampler_sample(job.sampler.get(), ctx_, slot->i_batch);
    common_sampler_accept(job.sampler.get(), token, true);
    ++slot->generated;
    slot->generating = true;
    if (llama_vocab_is_eog(vocab_, token)) {
      finish(*slot, FinishReason::kStop);
      continue;
    }
    emit_token(*slot, token);
    if (slot->filter->stopped()) {
      finish(*slot, FinishReason::kStop);
    } else if (slot->generated >= slot->max_tokens ||
               static_cast<int>(slot->cache.size()) >= n_ctx_seq_) {
      finish(*slot, FinishReason::kLength);
    } else {
      slot->next = token;
    }
  }
  return true;
}

void Engine::emit_token(Slot& slot, llama_token token) {
  const auto& special_ok = slot.job->special_ok;
  const bool special =
      std::find(special_ok.begin(), special_ok.end(), token) != special_ok.end();
  std::string text = slot.filter->push(common_token_to_piece(vocab_, token, special));
  if (text.empty()) return;
  GenerateOutput out;
  out.text = std::move(text);
  slot.job->deliver(std::move(out));
}

void Engine::finish(Slot& slot, FinishReason reason, std::optional<Error> error) {
  GenerateOutput out;
  if (!error) out.text = slot.filter->flush();
  out.done = true;
  out.finish = reason;
  out.prompt_tokens = static_cast<int>(slot.job->prompt.size());
  out.completion_tokens = slot.generated;
  out.cached_tokens = slot.cached_tokens;
  out.error = std::move(error);
  slot.job->deliver(std::move(out));
  slot.job.reset();
  slot.generating = false;
  slot.i_batch = -1;
}

int Engine::embedding_input_limit() const {
  return std::max(std::min(llama_model_n_ctx_train(model_), 4096), 64);
}

void Engine::run_embeddings(EmbedJob& job) {
  if (!embed_ctx_) {
    t_last_llama_error.clear();
    llama_context_params params = llama_context_default_params();
    params.n_ctx = static_cast<uint32_t>(embedding_input_limit());
    params.n_batch = params.n_ctx;
    params.n_ubatch = params.n_ctx;  // non-causal models need a whole input in one ubatch
    params.n_seq_max = 1;
    params.n_threads = options_.threads;
    params.n_threads_batch = options_.threads;
    params.embeddings = true;
    params.no_perf = true;
    // The model's own pooling when its GGUF names one, else the mean over tokens.
    params.pooling_type = own_pooling_ ? LLAMA_POOLING_TYPE_UNSPECIFIED : LLAMA_POOLING_TYPE_MEAN;
    embed_ctx_ = llama_init_from_model(model_, params);
    if (!embed_ctx_) {
      job.deliver(Error(ErrorCode::kInternal,
                        "could not create an embeddings context: " + t_last_llama_error));
      return;
    }
    llama_attach_threadpool(embed_ctx_, threadpool_, nullptr);
  }
  const int n_ctx = static_cast<int>(llama_n_ctx(embed_ctx_));
  // What count_embed_tokens promised, even where llama.cpp pads the context past it.
  const int max_tokens = std::min(n_ctx, embedding_input_limit());
  const int n_embd = llama_model_n_embd(model_);
  const bool encoder_only = llama_model_has_encoder(model_) && !llama_model_has_decoder(model_);
  llama_batch batch = llama_batch_init(n_ctx, 0, 1);
  std::vector<std::vector<float>> vectors;
  for (size_t i = 0; i < job.inputs.size(); ++i) {
    const auto& tokens = job.inputs[i];
    if (tokens.empty() || static_cast<int>(tokens.size()) > max_tokens) {
      llama_batch_free(batch);
      job.deliver(Error(ErrorCode::kInvalidArgument, "input " + std::to_string(i) + " is " +
                                                         (tokens.empty() ? "empty" : "too long") +
                                                         ": " + std::to_string(tokens.size()) +
                                                         " tokens; this model embeds 1 to " +
                                                         std::to_string(max_tokens)));
      return;
    }
    llama_memory_clear(llama_get_memory(embed_ctx_), true);
    common_batch_clear(batch);
    for (size_t j = 0; j < tokens.size(); ++j) {
      common_batch_add(batch, tokens[j], static_cast<llama_pos>(j), {0}, true);
    }
    const int32_t rc = encoder_only ? llama_encode(embed_ctx_, batch)
                                    : llama_decode(embed_ctx_, batch);
    const float* pooled = rc == 0 ? llama_get_embeddings_seq(embed_ctx_, 0) : nullptr;
    if (!pooled) {
      llama_batch_free(batch);
      job.deliver(Error(ErrorCode::kInternal,
                        "embedding input " + std::to_string(i) + " failed (" +
                            std::to_string(rc) + ")"));
      return;
    }
    std::vector<float> vector(static_cast<size_t>(n_embd));
    common_embd_normalize(pooled, vector.data(), n_embd, 2);  // L2, as OpenAI's are
    vectors.push_back(std::move(vector));
  }
  llama_batch_free(batch);
  job.deliver(std::move(vectors));
}

}  // namespace keel::local
