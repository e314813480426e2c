// One interface for every tool, whatever its origin (builtin, MCP, later OpenAPI): Semantic
// Kernel's "function" of a plugin. Cross-cutting behaviour (argument checks, timeouts, output
// caps, metrics) wraps invocation once, in Toolbox::invoke (tools/toolbox.h), not in each kind.
//
//   auto tools = co_await toolset.tools(cancel);          // Result<std::vector<ToolPtr>>
//   auto output = co_await tools->at(0)->call(Json{{"expression", "1+1"}}, cancel);
//
// Contract: call() runs on the calling io thread's coroutine and returns when the tool has
// answered or `cancel` fired (then promptly, with the token's reason). An Error means the call
// could not be made (transport down, timeout); a ToolOutput with is_error means the tool ran and
// reports a failure. Both reach the model as a tool error. It never throws.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api/chat.h"
#include "core/cancel.h"
#include "core/config.h"
#include "http/asio.h"

namespace keel {

struct ToolOutput {
  std::string text;
  bool is_error = false;
};

class Tool {
 public:
  virtual ~Tool() = default;
  // name, description and JSON Schema parameters, as the toolset gives them.
  virtual const ToolSpec& spec() const = 0;
  virtual Task<Result<ToolOutput>> call(const Json& arguments, CancelPtr cancel) = 0;
};

using ToolPtr = std::shared_ptr<Tool>;

class Toolset {
 public:
  virtual ~Toolset() = default;
  virtual const ToolsetConfig& config() const = 0;
  // The toolset's tools, `allow` applied. An MCP toolset connects and lists on first use, and
  // lists again after the server says its list changed. Called on an io thread.
  virtual Task<Result<std::vector<ToolPtr>>> tools(CancelPtr cancel) = 0;
  // What is usable but not as configured (a preset operation the spec lacks), one line each.
  virtual std::vector<std::string> warnings() const { return {}; }
};

// Builds the toolset a config entry describes (tools/builtin, tools/mcp, tools/openapi). An
// openapi toolset reads and imports its spec here: errors name the toolset, file and reason.
Result<std::unique_ptr<Toolset>> make_toolset(const ToolsetConfig& config);

}  // namespace keel
