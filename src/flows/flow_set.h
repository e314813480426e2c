// The `flows:` of a config, read and checked once (load_flow), each with its llm nodes' model
// map, for POST /v1/flows/{name}/run. Immutable once loaded; shared between io threads.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "flows/flow.h"
#include "flows/run.h"

namespace keel {

struct LoadedFlow {
  std::string name;
  Flow flow;
  FlowRunOptions options;
};

class FlowSet {
 public:
  // Relative paths from the config file's folder; errors name the flow file and line.
  static Result<std::shared_ptr<const FlowSet>> load(const Config& config);
  const LoadedFlow* find(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, LoadedFlow> flows_;
};

}  // namespace keel
