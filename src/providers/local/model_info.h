// What a GGUF model file says about itself, read from its header only (no tensor data is
// loaded): architecture, name, parameter count, quantization, and whether the file is whole.
// For `keel models` and anything else that lists local models before loading one.
//
//   auto info = local::read_model_info("/models/qwen3-0.6b-q4_k_m.gguf");
//   if (!info) print(info.error().message);        // not GGUF, corrupt, truncated, unreadable
//   else print(info->architecture, format_parameter_count(info->parameters));
//
//   for (const auto& entry : local::list_model_files(dir)) ...   // every *.gguf, errors included
//
// Safe on untrusted files: a corrupt or truncated file is an error value, never a crash. The
// header is parsed by ggml's gguf reader, which logs its reasons to ggml's log; with
// `capture_ggml_log` they go into the error message instead. That swaps ggml's process-wide log
// callback for the call, so pass it only while no other thread uses ggml (a command-line
// listing, not a server with a model loaded). Otherwise any thread.
// Built only with the local engine (KEEL_HAS_LLAMA); this header includes no llama/ggml header.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/result.h"

namespace keel::local {

struct ModelInfo {
  std::filesystem::path path;
  uint64_t file_size = 0;
  std::string architecture;   // general.architecture: "llama", "qwen3", "bert"...
  std::string name;           // general.name, may be empty
  std::string size_label;     // general.size_label ("0.6B"), may be empty
  uint64_t parameters = 0;    // elements of every tensor
  uint64_t tensors = 0;
  // The ggml type holding most of the tensor bytes ("Q4_K", "Q8_0", "F16", "F32"...): the
  // quantization in practice, without decoding general.file_type's enum.
  std::string quantization;
  uint32_t gguf_version = 0;
};

// Reads `path`'s GGUF header. Errors: kNotFound (no such file), kInvalidArgument (not GGUF,
// corrupt metadata, no general.architecture, or shorter than its tensors need: truncated),
// kInternal (cannot read).
Result<ModelInfo> read_model_info(const std::filesystem::path& path, bool capture_ggml_log = false);

struct ModelFile {
  std::filesystem::path path;
  uint64_t file_size = 0;
  Result<ModelInfo> info = Error(ErrorCode::kInternal, "not read");
};

// Every regular "*.gguf" file directly in `dir`, sorted by name, each with its info or the
// error reading it. A missing folder is an empty list; an unreadable one is an error.
Result<std::vector<ModelFile>> list_model_files(const std::filesystem::path& dir,
                                                bool capture_ggml_log = false);

// "260K", "596M", "7.6B": two or three significant digits, for listings.
std::string format_parameter_count(uint64_t parameters);

}  // namespace keel::local
