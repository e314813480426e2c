// The embedded default's local model (issue 4 item 7): what `keel serve` with the built-in
// config runs when no vendor key is set, or beside the vendors when KEEL_MODEL is set.
//
//   KEEL_MODEL=PATH       that file;
//   KEEL_MODEL=hf:...|URL pulled into the models folder first (keel pull), then that file;
//   otherwise             kDefaultModelSource, pulled once into the models folder; where that
//                         fails (no network), a generated random-weight fixture, said loudly.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "cli/commands.h"
#include "core/log.h"
#include "http/download.h"
#ifdef KEEL_HAS_LLAMA
#include "providers/local/fixture.h"
#endif

namespace keel::cli {

namespace fs = std::filesystem;

namespace {

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

bool is_remote(const std::string& source) {
  return source.starts_with("hf:") || source.starts_with("http://") ||
         source.starts_with("https://");
}

// Pulls `source` into the models folder (a no-op when it is already there); the file's path, or
// "" when the pull failed (keel pull has said why on stderr).
std::string pull_into_models_dir(const std::string& source) {
  auto resolved = resolve_pull_source(source, env_or_empty("KEEL_HF_ENDPOINT"));
  if (!resolved) {
    KEEL_LOG(kError) << "KEEL_MODEL: " << resolved.error().message;
    return "";
  }
  const fs::path path = default_models_dir() / resolved->file_name;
  if (fs::exists(path)) return path.string();
  if (pull({source}) != 0) return "";
  return fs::exists(path) ? path.string() : "";
}

}  // namespace

std::string default_local_model(bool vendors_present) {
#ifndef KEEL_HAS_LLAMA
  if (!env_or_empty("KEEL_MODEL").empty()) {
    KEEL_LOG(kWarn) << "KEEL_MODEL is set but this keel has no local engine (llama.cpp was not "
                    << "built: run scripts/llama.sh, then rebuild)";
  }
  (void)vendors_present;
  return "";
#else
  if (std::string model = env_or_empty("KEEL_MODEL"); !model.empty()) {
    if (!is_remote(model)) return model;
    std::string path = pull_into_models_dir(model);
    if (path.empty()) {
      KEEL_LOG(kError) << "KEEL_MODEL: could not pull " << model;
    }
    return path;
  }
  if (vendors_present) return "";

  KEEL_LOG(kInfo) << "no vendor key is set: serving the local engine (set KEEL_MODEL=PATH to "
                  << "choose its model)";
  if (std::string path = pull_into_models_dir(kDefaultModelSource); !path.empty()) return path;

  const fs::path fixture = default_models_dir() / "keel-fixture-llama.gguf";
  KEEL_LOG(kWarn) << "could not download " << kDefaultModelSource
                  << " (no network here?): serving a generated tiny random-weight model "
                  << "instead. ITS ANSWERS ARE NOT MEANINGFUL: they only show that the local "
                  << "engine runs. Set KEEL_MODEL=PATH to a GGUF model, or rerun with network.";
  std::error_code ec;
  fs::create_directories(fixture.parent_path(), ec);
  if (!fs::exists(fixture)) {
    if (auto written = write_fixture_model(fixture.string(), FixtureArch::kLlama); !written.ok()) {
      KEEL_LOG(kError) << "could not write the fixture model: " << written.error().message;
      return "";
    }
  }
  return fixture.string();
#endif
}

}  // namespace keel::cli
