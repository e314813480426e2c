#include "tools/builtin/builtin.h"
#include "tools/mcp/mcp_toolset.h"
#include "tools/tool.h"

namespace keel {

Result<std::unique_ptr<Toolset>> make_openapi_toolset(const ToolsetConfig& config);

Result<std::unique_ptr<Toolset>> make_toolset(const ToolsetConfig& config) {
  if (config.kind == ToolsetKind::kMcp) return make_mcp_toolset(config);
  if (config.kind == ToolsetKind::kOpenApi) return make_openapi_toolset(config);
  return make_builtin_toolset(config);
}

}  // namespace keel
