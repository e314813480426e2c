#include "tools/builtin/builtin.h"
#include "tools/mcp/mcp_toolset.h"
#include "tools/tool.h"

namespace keel {

std::unique_ptr<Toolset> make_toolset(const ToolsetConfig& config) {
  if (config.kind == ToolsetKind::kMcp) return make_mcp_toolset(config);
  return make_builtin_toolset(config);
}

}  // namespace keel
