// The `keel` subcommands. Each returns the process exit code.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"

namespace keel::cli {

int serve(const std::vector<std::string>& args);
int config(const std::vector<std::string>& args);
int models(const std::vector<std::string>& args);
int chat(const std::vector<std::string>& args);
int capabilities(const std::vector<std::string>& args);
int fixture(const std::vector<std::string>& args);  // without llama.cpp: says so, exits 1
int pull(const std::vector<std::string>& args);

// The provider kind x feature table (markdown) that README.md embeds.
std::string capability_matrix();

// --config FILE, else ./keel.yaml, else the built-in default (hosted vendors whose keys are in
// the environment).
Result<Config> load_config(const std::vector<std::string>& args);
// The built-in default config as YAML, from the environment.
std::string default_config_yaml();

// "1.1 MiB", "512 B": sizes for people.
std::string human_bytes(double bytes);

// Value of `--name VALUE` in args, or "".
std::string flag(const std::vector<std::string>& args, const std::string& name);

}  // namespace keel::cli
