// Every configured toolset, and the one place a tool call is made (Semantic Kernel's function
// invocation filter): the arguments are parsed and checked against the tool's JSON Schema, the
// call gets its toolset's timeout and output cap, and it is counted for /metrics.
//
//   Toolbox toolbox(config.toolsets);
//   auto offered = co_await toolbox.tools_of({"web"}, cancel);      // name -> tool
//   ToolOutput out = co_await toolbox.invoke(offered->at(0), R"({"url":"..."})", cancel);
//
// Thread-safe: one Toolbox serves every io thread; each call runs on its caller's thread.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/trace.h"
#include "tools/pins.h"
#include "tools/tool.h"

namespace keel {

// A tool as offered to a model: the name it goes by there, and where it comes from.
struct OfferedTool {
  std::string name;  // letters, digits, _ and - only, at most 64 (every vendor's rule)
  std::string toolset;
  const ToolsetConfig* config = nullptr;
  ToolPtr tool;
  ToolSpec spec() const;  // the tool's spec under `name`
};

class Toolbox {
 public:
  explicit Toolbox(const std::vector<ToolsetConfig>& toolsets);
  ~Toolbox();

  bool empty() const { return toolsets_.empty(); }
  // Toolsets that could not be built (an OpenAPI spec that does not import), one message each
  // naming the toolset; they are left out.
  const std::vector<std::string>& errors() const { return errors_; }
  // What the toolsets that were built say is not as configured, naming the toolset.
  const std::vector<std::string>& warnings() const { return warnings_; }
  // Pins MCP tools' definitions (tools/pins.h): a changed one is left out of tools_of. Optional;
  // must outlive the toolbox.
  void set_pins(ToolPins* pins) { pins_ = pins; }
  // Approves the current definitions of the MCP tools of `toolset` (all when empty) named
  // `tool` (all when empty); returns "toolset/tool" for each.
  Task<Result<std::vector<std::string>>> approve(const std::string& toolset,
                                                 const std::string& tool, CancelPtr cancel);
  std::vector<std::string> toolset_names() const;

  // The tools of the named toolsets. A toolset that fails to list (an MCP server that is down)
  // is an error naming it, or with `skip_unavailable` is left out with a warning in the log;
  // two tools with one name are an error naming both toolsets.
  Task<Result<std::vector<OfferedTool>>> tools_of(const std::vector<std::string>& toolsets,
                                                  CancelPtr cancel, bool skip_unavailable = false);

  // Calls the tool with the model's argument text. Never fails: what goes wrong (bad JSON,
  // a schema violation, a timeout, the tool's own error) is a ToolOutput with is_error, in
  // words the model can act on. The text is cut at the toolset's max_output_bytes. With a
  // trace, the call is an `execute_tool` span under `trace.parent` (`call_id`: the model's id
  // for the call, gen_ai.tool.call.id): tool, toolset, status and output bytes.
  Task<ToolOutput> invoke(const OfferedTool& tool, std::string_view arguments, CancelPtr cancel,
                          TraceContext trace = {}, std::string_view call_id = {});

  // keel_tool_calls_total and keel_tool_call_duration_seconds (Prometheus text).
  std::string render_metrics() const;

 private:
  struct Histogram {
    std::vector<uint64_t> counts;
    double sum = 0;
    uint64_t count = 0;
  };
  void record(const OfferedTool& tool, const char* status, double seconds);

  std::vector<std::unique_ptr<Toolset>> toolsets_;
  ToolPins* pins_ = nullptr;
  std::vector<std::string> errors_;
  std::vector<std::string> warnings_;
  mutable std::mutex mutex_;
  std::map<std::string, uint64_t> calls_;       // label text -> count
  std::map<std::string, Histogram> durations_;  // label text -> histogram
};

// The name a tool goes by with models: characters outside [A-Za-z0-9_-] become '_', cut to 64.
std::string tool_name_for_models(std::string_view name);

// Cuts `text` to at most `max_bytes` (on a UTF-8 boundary) with a note saying how much was cut.
std::string cap_output(std::string text, size_t max_bytes);

}  // namespace keel
