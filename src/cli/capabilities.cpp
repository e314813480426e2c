// `keel capabilities`: the provider kind x feature matrix, from what each kind declares
// (Provider::capabilities). README.md embeds this output; a test keeps the two equal.
#include <cstdio>

#include "cli/commands.h"
#include "providers/provider.h"

namespace keel::cli {

std::string capability_matrix() {
  std::string out =
      "| provider kind | streaming | tools | parallel tools | images | JSON schema | JSON mode "
      "| embeddings | token counting |\n"
      "|---|---|---|---|---|---|---|---|---|\n";
  for (ProviderKind kind : {ProviderKind::kOpenAI, ProviderKind::kAzure, ProviderKind::kAnthropic,
                            ProviderKind::kGemini, ProviderKind::kLocal}) {
    out += "| `" + std::string(provider_kind_name(kind)) + "` |";
    Capabilities caps;
    if (kind == ProviderKind::kLocal) {
      caps = local_capabilities();  // (no model to load just to ask)
    } else {
      ProviderConfig config;
      config.name = "matrix";
      config.kind = kind;
      config.base_url = "http://127.0.0.1";   // never contacted
      config.api_version = "2024-10-21";
      auto provider = make_provider(config);
      if (!provider) {
        out += " not in this build | | | | | | | |\n";
        continue;
      }
      caps = provider.value()->capabilities();
    }
    auto column = [&out](bool has) { out += has ? " yes |" : " no |"; };
    for (bool has :
         {caps.streaming, caps.tools, caps.parallel_tools, caps.images, caps.json_schema}) {
      column(has);
    }
    // JSON mode (response_format json_object); README's note under the table says how the
    // emulation works.
    switch (caps.json_object) {
      case Capabilities::JsonMode::kNone:
        out += " no |";
        break;
      case Capabilities::JsonMode::kNative:
        out += " yes |";
        break;
      case Capabilities::JsonMode::kEmulated:
        out += " emulated |";
        break;
    }
    column(caps.embeddings);
    column(caps.count_tokens);
    out += "\n";
  }
  return out;
}

int capabilities(const std::vector<std::string>&) {
  std::fputs(capability_matrix().c_str(), stdout);
  return 0;
}

}  // namespace keel::cli
