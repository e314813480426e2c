// Shared by the tests that use llama.cpp directly: owning pointers for its handles, a quiet
// log, and the thread count every test uses.
#pragma once

#include <llama.h>

#include <cstdio>
#include <memory>

namespace keel::testing_llama {

struct ModelDeleter {
  void operator()(llama_model* m) const { llama_model_free(m); }
};
struct ContextDeleter {
  void operator()(llama_context* c) const { llama_free(c); }
};
struct SamplerDeleter {
  void operator()(llama_sampler* s) const { llama_sampler_free(s); }
};
using ModelPtr = std::unique_ptr<llama_model, ModelDeleter>;
using ContextPtr = std::unique_ptr<llama_context, ContextDeleter>;
using SamplerPtr = std::unique_ptr<llama_sampler, SamplerDeleter>;

// llama.cpp's context default is 4 threads; on a 2-core machine that is ~15x slower. Tests use
// one: ctest runs other tests beside them, and a thread that is descheduled stalls every step of
// a multi-threaded decode (measured: 100 tokens in 4-41 s with 2 threads on a loaded 2-core
// machine, 50 ms with 1).
constexpr int kTestThreads = 1;

// Keeps test output readable: only llama.cpp's errors reach stderr. Then initialises the backend.
inline void init_quiet_backend() {
  llama_log_set(
      [](ggml_log_level level, const char* text, void*) {
        if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
      },
      nullptr);
  llama_backend_init();
}

}  // namespace keel::testing_llama
