#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "cli/commands.h"
#include "copilots/copilot.h"
#include "flows/flow_set.h"
#include "http/download.h"
#include "prompts/prompt_set.h"
#include "providers/provider.h"
#include "tools/toolbox.h"
#ifdef KEEL_HAS_LLAMA
#include "providers/local/model_info.h"
#endif

namespace keel::cli {

std::string flag(const std::vector<std::string>& args, const std::string& name) {
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == name) return args[i + 1];
  }
  return {};
}

std::optional<Url> running_keel_url(const std::vector<std::string>& args, const char* command) {
  std::string text = flag(args, "--url");
  if (text.empty()) {
    const char* env = std::getenv("KEEL_URL");
    text = env && *env ? env : "http://127.0.0.1:8080/v1";
  }
  auto url = Url::parse(text);
  if (!url) {
    std::fprintf(stderr, "keel %s: --url: %s\n", command, url.error().message.c_str());
    return std::nullopt;
  }
  return *url;
}

namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

std::vector<std::string> split_names(const std::string& listed, const std::string& fallback) {
  std::vector<std::string> names;
  std::stringstream stream(listed.empty() ? fallback : listed);
  std::string name;
  while (std::getline(stream, name, ',')) {
    if (!name.empty()) names.push_back(name);
  }
  return names;
}

}  // namespace

bool any_vendor_key() {
  return !env("OPENAI_API_KEY").empty() || !env("OPENAI_BASE_URL").empty() ||
         !env("ANTHROPIC_API_KEY").empty() || !env("GEMINI_API_KEY").empty() ||
         (!env("AZURE_OPENAI_API_KEY").empty() && !env("AZURE_OPENAI_ENDPOINT").empty() &&
          !env("KEEL_AZURE_MODELS").empty());
}

std::string default_config_yaml(const std::string& local_model) {
  // Every hosted vendor whose key is in the environment. Each serves its own model names, and
  // "default" fails over across the first model of every vendor present, in this order, then the
  // local model when there is one.
  struct Vendor {
    const char* provider;
    const char* kind;
    const char* key_var;
    std::string extra;          // more provider keys (YAML flow map entries)
    const char* models_var;     // comma-separated override of the public names
    const char* models;         // default public names = upstream model names
    bool present;
  };
  std::vector<Vendor> vendors = {
      {"openai", "openai", "OPENAI_API_KEY",
       "base_url: \"${OPENAI_BASE_URL:-https://api.openai.com/v1}\"", "KEEL_OPENAI_MODELS",
       "gpt-4o-mini,gpt-4o,gpt-4.1-mini,text-embedding-3-small",
       !env("OPENAI_API_KEY").empty() || !env("OPENAI_BASE_URL").empty()},
      {"anthropic", "anthropic", "ANTHROPIC_API_KEY", "", "KEEL_ANTHROPIC_MODELS",
       "claude-sonnet-4-5,claude-haiku-4-5", !env("ANTHROPIC_API_KEY").empty()},
      {"gemini", "gemini", "GEMINI_API_KEY", "", "KEEL_GEMINI_MODELS",
       "gemini-2.5-flash,gemini-2.5-pro", !env("GEMINI_API_KEY").empty()},
      // Azure needs its endpoint and deployments: AZURE_OPENAI_ENDPOINT, KEEL_AZURE_MODELS.
      {"azure", "azure", "AZURE_OPENAI_API_KEY",
       "base_url: \"${AZURE_OPENAI_ENDPOINT}\", api_version: \"${AZURE_OPENAI_API_VERSION:-2024-10-21}\"",
       "KEEL_AZURE_MODELS", "",
       !env("AZURE_OPENAI_API_KEY").empty() && !env("AZURE_OPENAI_ENDPOINT").empty() &&
           !env("KEEL_AZURE_MODELS").empty()},
  };
  std::ostringstream providers, models;
  std::vector<std::string> defaults;
  for (const auto& vendor : vendors) {
    if (!vendor.present) continue;
    providers << "  - {name: " << vendor.provider << ", kind: " << vendor.kind
              << ", api_key: \"${" << vendor.key_var << "}\""
              << (vendor.extra.empty() ? "" : ", " + vendor.extra) << "}\n";
    auto names = split_names(env(vendor.models_var), vendor.models);
    for (const auto& name : names) {
      models << "  - {name: \"" << name << "\", targets: [{provider: " << vendor.provider
             << ", model: \"" << name << "\"}]}\n";
    }
    for (const auto& name : names) {
      if (name.find("embedding") == std::string::npos) {
        defaults.push_back(std::string("{provider: ") + vendor.provider + ", model: \"" + name +
                           "\"}");
        break;
      }
    }
  }
  if (!local_model.empty()) {
    std::string quoted;
    for (char c : local_model) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    providers << "  - {name: local, kind: local, model: \"" << quoted << "\"}\n";
    models << "  - {name: local, targets: [{provider: local, model: default}]}\n";
    defaults.push_back("{provider: local, model: default}");
  }
  std::ostringstream yaml;
  yaml << "listen: 127.0.0.1:8080\nstate: sqlite:keel.db\n";
  if (defaults.empty()) return yaml.str() + "providers: []\nmodels: []\n";
  yaml << "providers:\n" << providers.str() << "models:\n"
       << "  - {name: default, strategy: failover, targets: [";
  for (size_t i = 0; i < defaults.size(); ++i) yaml << (i ? ", " : "") << defaults[i];
  yaml << "]}\n" << models.str();
  return yaml.str();
}

Result<Config> load_config(const std::vector<std::string>& args, bool serving) {
  std::string path = flag(args, "--config");
  if (!path.empty()) return load_config_file(path);
  if (std::filesystem::exists("keel.yaml")) return load_config_file("keel.yaml");
  // Only a server fetches or makes the local model; `keel models` just lists what is set.
  std::string local_model;
  if (serving) {
    local_model = default_local_model(any_vendor_key());
  } else if (const char* model = std::getenv("KEEL_MODEL"); model && *model) {
    local_model = model;
  } else if (!any_vendor_key()) {
#ifdef KEEL_HAS_LLAMA
    local_model = kDefaultModelSource;  // what `keel serve` would pull (or stand in for)
#endif
  }
  auto config = parse_config(default_config_yaml(local_model), "<built-in>");
  return config;
}

int config(const std::vector<std::string>& args) {
  if (args.size() != 2 || args[0] != "check") {
    std::fputs("usage: keel config check FILE\n", stderr);
    return 2;
  }
  auto loaded = load_config_file(args[1]);
  if (!loaded) {
    std::fprintf(stderr, "%s\n", loaded.error().message.c_str());
    return 1;
  }
  for (const auto& var : loaded->unset_vars) {
    std::fprintf(stderr, "%s: warning: ${%s} is not set; it expands to \"\"\n", args[1].c_str(),
                 var.c_str());
  }
#ifndef KEEL_HAS_LLAMA
  // The file is valid, but `keel serve` would refuse it: say so now. Without the local engine
  // make_provider refuses kind local at once, loading nothing; its message is serve's.
  for (const auto& provider : loaded->providers) {
    if (provider.kind != ProviderKind::kLocal) continue;
    std::fprintf(stderr, "%s: %s\n", args[1].c_str(),
                 make_provider(provider).error().message.c_str());
    return 1;
  }
#endif
  // OpenAPI specs are read and imported now (MCP servers are not started: they start on use).
  const Toolbox toolbox(loaded->toolsets);
  for (const auto& error : toolbox.errors()) {
    std::fprintf(stderr, "%s: %s\n", args[1].c_str(), error.c_str());
  }
  if (!toolbox.errors().empty()) return 1;
  for (const auto& warning : toolbox.warnings()) {
    std::fprintf(stderr, "%s: warning: %s\n", args[1].c_str(), warning.c_str());
  }
  // Prompt files are part of the config: read and checked as serve would (file, line).
  if (auto prompts = PromptSet::load(*loaded); !prompts) {
    std::fprintf(stderr, "%s\n", prompts.error().message.c_str());
    return 1;
  }
  if (auto flows = FlowSet::load(*loaded); !flows) {
    std::fprintf(stderr, "%s\n", flows.error().message.c_str());
    return 1;
  }
  // Copilots' instruction files are read and rendered as serve would.
  if (auto copilots = copilots::CopilotSet::load(*loaded, nullptr); !copilots) {
    std::fprintf(stderr, "%s\n", copilots.error().message.c_str());
    return 1;
  }
  std::printf("%s: ok (%zu providers, %zu models)\n", args[1].c_str(), loaded->providers.size(),
              loaded->models.size());
  return 0;
}

namespace {

// The second half of `keel models`: the model files in the models folder, with what their
// GGUF headers say. A file that cannot be read is listed with the reason, never skipped.
void print_local_models(const std::filesystem::path& dir) {
#ifdef KEEL_HAS_LLAMA
  // No model is loaded in this process: ggml's reasons can go into each file's error line.
  auto files = local::list_model_files(dir, /*capture_ggml_log=*/true);
  if (!files) {
    std::printf("\nlocal model files in %s: %s\n", dir.c_str(), files.error().message.c_str());
    return;
  }
  std::printf("\nlocal model files in %s:\n", dir.c_str());
  if (files->empty()) {
    std::printf("  none (keel pull SOURCE downloads one)\n");
    return;
  }
  size_t width = 0;
  for (const auto& file : *files) width = std::max(width, file.path.filename().string().size());
  for (const auto& file : *files) {
    std::string name = file.path.filename().string();
    std::string size = human_bytes(static_cast<double>(file.file_size));
    std::printf("  %-*s  %10s  ", static_cast<int>(width), name.c_str(), size.c_str());
    if (!file.info) {
      // The message names the path already; keep only the reason.
      std::string reason = file.info.error().message;
      std::string prefix = file.path.string() + ": ";
      if (reason.starts_with(prefix)) reason.erase(0, prefix.size());
      std::printf("error: %s\n", reason.c_str());
      continue;
    }
    const auto& info = *file.info;
    std::string params = local::format_parameter_count(info.parameters) + " params";
    if (!info.size_label.empty()) params += " (" + info.size_label + ")";
    std::printf("%-10s  %-18s  %s\n", info.architecture.c_str(), params.c_str(),
                info.quantization.c_str());
  }
#else
  std::printf("\nlocal model files in %s: not listed (local engine not built)\n", dir.c_str());
#endif
}

}  // namespace

int models(const std::vector<std::string>& args) {
  auto loaded = load_config(args);
  if (!loaded) {
    std::fprintf(stderr, "%s\n", loaded.error().message.c_str());
    return 1;
  }
  if (loaded->models.empty()) std::printf("no models configured (%s)\n", loaded->source.c_str());
  for (const auto& model : loaded->models) {
    std::printf("%s  (%s)\n", model.name.c_str(), strategy_name(model.strategy));
    for (const auto& target : model.targets) {
      const auto* provider = loaded->find_provider(target.provider);
      std::printf("    -> %s/%s  [%s]\n", target.provider.c_str(), target.model.c_str(),
                  provider ? provider_kind_name(provider->kind) : "?");
    }
  }
  std::string dir = flag(args, "--models-dir");
  print_local_models(dir.empty() ? default_models_dir() : std::filesystem::path(dir));
  return 0;
}

}  // namespace keel::cli
