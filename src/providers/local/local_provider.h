// Provider kind `local`: a GGUF model run in-process by llama.cpp (DESIGN.md "Local engine").
//
//   providers:
//     - {name: local, kind: local, model: models/qwen2.5-0.5b-instruct-q4_k_m.gguf,
//        threads: 2, parallel: 4}
//
// The prompt comes from the model's own chat template through llama.cpp's common chat code
// (tool calls parsed back into native tool calls), or a plain transcript for a model without a
// template. `response_format` is enforced with a grammar. Generation runs on the engine's
// inference thread (engine.h); this class turns a ChatRequest into an engine job and the job's
// text back into ChatEvents on the caller's io thread.
//
// A model that fails to load does not stop keel: the provider still exists, and its requests
// get 503 with the reason.
#pragma once

#include <memory>

#include "core/config.h"
#include "core/result.h"

namespace keel {

class Provider;

Result<std::unique_ptr<Provider>> make_local_provider(const ProviderConfig& config);

}  // namespace keel
