#include "flows/flow_set.h"

#include <filesystem>

namespace keel {

Result<std::shared_ptr<const FlowSet>> FlowSet::load(const Config& config) {
  auto set = std::make_shared<FlowSet>();
  for (const auto& entry : config.flows) {
    std::string path = entry.path;
    if (!std::filesystem::path(path).is_absolute() && !config.source.empty() &&
        config.source[0] != '<') {
      path = (std::filesystem::path(config.source).parent_path() / path).lexically_normal();
    }
    auto flow = load_flow(path);
    if (!flow) {
      Error error = flow.error();
      error.message = config.source + ":" + std::to_string(entry.line) + ": flows: " + entry.name +
                      ": " + error.message;
      return error;
    }
    LoadedFlow loaded{entry.name, std::move(*flow), {}};
    loaded.options.models = entry.models;
    loaded.options.name = entry.name;
    loaded.options.trace_content = config.log_content;  // node spans keep content only then
    set->flows_.emplace(entry.name, std::move(loaded));
  }
  return std::shared_ptr<const FlowSet>(std::move(set));
}

const LoadedFlow* FlowSet::find(const std::string& name) const {
  auto it = flows_.find(name);
  return it == flows_.end() ? nullptr : &it->second;
}

std::vector<std::string> FlowSet::names() const {
  std::vector<std::string> out;
  for (const auto& [name, flow] : flows_) out.push_back(name);
  return out;
}

}  // namespace keel
