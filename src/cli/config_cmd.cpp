#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "cli/commands.h"

namespace keel::cli {

std::string flag(const std::vector<std::string>& args, const std::string& name) {
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == name) return args[i + 1];
  }
  return {};
}

std::string default_config_yaml() {
  // Only vendors this build speaks; the others are named so the user knows why they're unused.
  std::ostringstream yaml;
  yaml << "listen: 127.0.0.1:8080\nstate: sqlite:keel.db\nproviders:\n";
  const char* openai_key = std::getenv("OPENAI_API_KEY");
  const char* openai_base = std::getenv("OPENAI_BASE_URL");
  bool openai = (openai_key && *openai_key) || (openai_base && *openai_base);
  if (!openai) return yaml.str() + "  []\nmodels: []\n";
  yaml << "  - name: openai\n    kind: openai\n"
       << "    base_url: ${OPENAI_BASE_URL:-https://api.openai.com/v1}\n"
       << "    api_key: ${OPENAI_API_KEY}\n";
  // Public names: $KEEL_OPENAI_MODELS (comma-separated), the first also as "default".
  const char* listed = std::getenv("KEEL_OPENAI_MODELS");
  std::string names = listed && *listed ? listed : "gpt-4o-mini,gpt-4o,gpt-4.1-mini,text-embedding-3-small";
  yaml << "models:\n";
  std::stringstream stream(names);
  std::string name;
  bool first = true;
  while (std::getline(stream, name, ',')) {
    if (name.empty()) continue;
    if (first) {
      yaml << "  - {name: default, targets: [{provider: openai, model: \"" << name << "\"}]}\n";
      first = false;
    }
    yaml << "  - {name: \"" << name << "\", targets: [{provider: openai, model: \"" << name
         << "\"}]}\n";
  }
  return yaml.str();
}

Result<Config> load_config(const std::vector<std::string>& args) {
  std::string path = flag(args, "--config");
  if (!path.empty()) return load_config_file(path);
  if (std::filesystem::exists("keel.yaml")) return load_config_file("keel.yaml");
  auto config = parse_config(default_config_yaml(), "<built-in>");
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
  std::printf("%s: ok (%zu providers, %zu models)\n", args[1].c_str(), loaded->providers.size(),
              loaded->models.size());
  return 0;
}

int models(const std::vector<std::string>& args) {
  auto loaded = load_config(args);
  if (!loaded) {
    std::fprintf(stderr, "%s\n", loaded.error().message.c_str());
    return 1;
  }
  if (loaded->models.empty()) {
    std::printf("no models configured (%s)\n", loaded->source.c_str());
    return 0;
  }
  for (const auto& model : loaded->models) {
    std::printf("%s  (%s)\n", model.name.c_str(), strategy_name(model.strategy));
    for (const auto& target : model.targets) {
      const auto* provider = loaded->find_provider(target.provider);
      std::printf("    -> %s/%s  [%s]\n", target.provider.c_str(), target.model.c_str(),
                  provider ? provider_kind_name(provider->kind) : "?");
    }
  }
  return 0;
}

}  // namespace keel::cli
