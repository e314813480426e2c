// `kind: mcp`: an MCP server's tools (client over stdio or streamable HTTP, tools/mcp/transport.h).
//
// Each io thread that uses the toolset gets its own connection (a stdio server per thread, as
// the HTTP client's pool is per thread). The connection starts on first use: initialize (keel
// asks for the newest protocol version it speaks and accepts any it knows), then
// notifications/initialized, then tools/list page by page. The list is kept until the server
// sends notifications/tools/list_changed. A server that exits or ends its session is started
// again on the next call, no sooner than a backoff (0.5 s, doubling to 30 s) after the last
// failed start; one that does not answer initialize within startup_timeout_ms is stopped.
#pragma once

#include <memory>

#include "tools/tool.h"

namespace keel {

std::unique_ptr<Toolset> make_mcp_toolset(const ToolsetConfig& config);

}  // namespace keel
