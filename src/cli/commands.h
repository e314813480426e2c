// The `keel` subcommands. Each returns the process exit code.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "http/client.h"
#include "router/router.h"

namespace keel::cli {

int serve(const std::vector<std::string>& args);
int config(const std::vector<std::string>& args);
int models(const std::vector<std::string>& args);
int chat(const std::vector<std::string>& args);
int capabilities(const std::vector<std::string>& args);
int fixture(const std::vector<std::string>& args);  // without llama.cpp: says so, exits 1
int pull(const std::vector<std::string>& args);
int eval(const std::vector<std::string>& args);
int reload(const std::vector<std::string>& args);
int shadow(const std::vector<std::string>& args);   // shadow.cpp: `keel shadow report MODEL`   // reload.cpp: POST /admin/reload     // eval.cpp: `keel eval`, `keel eval compare`
int trace(const std::vector<std::string>& args);    // trace.cpp: `keel trace ID`
int tools(const std::vector<std::string>& args);   // list | call NAME --args JSON
int prompt(const std::vector<std::string>& args);  // prompt run NAME --input k=v ...
int flow(const std::vector<std::string>& args);    // flow check PATH | flow run PATH ...
int ingest(const std::vector<std::string>& args);  // ingest.cpp: `keel ingest NAME`
int search(const std::vector<std::string>& args);  // ingest.cpp: `keel search NAME QUERY`

// The provider kind x feature table (markdown) that README.md embeds.
std::string capability_matrix();

// --config FILE, else ./keel.yaml, else the built-in default: hosted vendors whose keys are in
// the environment, and the local engine (see default_local_model) when `serving`.
Result<Config> load_config(const std::vector<std::string>& args, bool serving = false);
// The built-in default config as YAML, from the environment; `local_model` (a GGUF path, may be
// empty) adds provider and model "local", also the last target of "default".
std::string default_config_yaml(const std::string& local_model = "");

// The small instruct model the embedded default pulls when no vendor key is set (about 400 MB;
// Qwen's own GGUF build, Apache-2.0).
inline constexpr const char* kDefaultModelSource =
    "hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf";
// The local model for the built-in config: $KEEL_MODEL (a path, or a pull source pulled first);
// else, when no vendor is present, kDefaultModelSource pulled into the models folder, or where
// that fails a generated fixture model (with a loud warning). "" when there is none.
std::string default_local_model(bool vendors_present);

// A router over the config's providers, for commands that call models in this process (keel
// prompt run, keel flow run).
Result<std::unique_ptr<Router>> make_router(const Config& config);

// "1.1 MiB", "512 B": sizes for people.
std::string human_bytes(double bytes);

// Value of `--name VALUE` in args, or "".
std::string flag(const std::vector<std::string>& args, const std::string& name);

// The base URL of a running keel for a client command (`keel chat`, `keel reload`): --url, else
// $KEEL_URL, else http://127.0.0.1:8080/v1; "" after printing "keel COMMAND: --url: why".
std::optional<Url> running_keel_url(const std::vector<std::string>& args, const char* command);

}  // namespace keel::cli
