#include "tools/toolbox.h"

#include <chrono>

#include "api/json_util.h"
#include "core/log.h"
#include "http/deadline.h"
#include "tools/schema.h"

namespace keel {

namespace {

constexpr double kBuckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

std::string escape_label(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

}  // namespace

std::string cap_output(std::string text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  const size_t total = text.size();
  size_t end = max_bytes;
  // Not inside a UTF-8 sequence: back off continuation bytes.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80) --end;
  text.resize(end);
  text += "\n[output cut at " + std::to_string(end) + " of " + std::to_string(total) + " bytes]";
  return text;
}

ToolSpec OfferedTool::spec() const {
  ToolSpec spec = tool->spec();
  spec.name = name;
  return spec;
}

Toolbox::Toolbox(const std::vector<ToolsetConfig>& toolsets) {
  for (const auto& config : toolsets) {
    auto toolset = make_toolset(config);
    if (toolset) {
      for (auto& warning : (*toolset)->warnings()) warnings_.push_back(std::move(warning));
      toolsets_.push_back(std::move(toolset.value()));
    } else {
      errors_.push_back(toolset.error().message);
    }
  }
}

Toolbox::~Toolbox() = default;

std::vector<std::string> Toolbox::toolset_names() const {
  std::vector<std::string> names;
  for (const auto& toolset : toolsets_) names.push_back(toolset->config().name);
  return names;
}

Task<Result<std::vector<OfferedTool>>> Toolbox::tools_of(const std::vector<std::string>& names,
                                                         CancelPtr cancel, bool skip_unavailable) {
  std::vector<OfferedTool> offered;
  for (const auto& name : names) {
    Toolset* toolset = nullptr;
    for (const auto& candidate : toolsets_) {
      if (candidate->config().name == name) toolset = candidate.get();
    }
    if (toolset == nullptr) co_return Error(ErrorCode::kNotFound, "no toolset named " + name);
    auto tools = co_await toolset->tools(cancel);
    if (!tools) {
      Error error = tools.error();
      error.message = "toolset " + name + ": " + error.message;
      if (skip_unavailable && !cancel->cancelled()) {
        KEEL_LOG(kWarn) << error.message << " (its tools are left out of this request)";
        continue;
      }
      co_return error;
    }
    for (const auto& tool : *tools) {
      if (pins_ && toolset->config().kind == ToolsetKind::kMcp) {
        auto verdict = pins_->check(name, tool->spec());
        if (!verdict) {
          KEEL_LOG(kWarn) << verdict.error().message;
        } else if (*verdict == ToolPins::Verdict::kChanged) {
          KEEL_LOG(kWarn) << "toolset " << name << ": tool " << tool->spec().name
                          << " changed its definition since it was pinned; it stays disabled "
                             "until `keel tools approve "
                          << name << "/" << tool->spec().name << "`";
          continue;
        }
      }
      OfferedTool entry{tool_name_for_models(tool->spec().name), name, &toolset->config(), tool};
      for (const auto& other : offered) {
        if (other.name == entry.name) {
          co_return Error(ErrorCode::kInvalidArgument, "tool name " + entry.name +
                                                           " is offered by both toolset " +
                                                           other.toolset + " and toolset " + name);
        }
      }
      offered.push_back(std::move(entry));
    }
  }
  co_return offered;
}

Task<Result<std::vector<std::string>>> Toolbox::approve(const std::string& toolset_name,
                                                        const std::string& tool_name,
                                                        CancelPtr cancel) {
  std::vector<std::string> approved;
  if (!pins_) co_return approved;
  for (const auto& toolset : toolsets_) {
    const ToolsetConfig& config = toolset->config();
    if (config.kind != ToolsetKind::kMcp) continue;
    if (!toolset_name.empty() && config.name != toolset_name) continue;
    auto tools = co_await toolset->tools(cancel);
    if (!tools) {
      Error error = tools.error();
      error.message = "toolset " + config.name + ": " + error.message;
      co_return error;
    }
    for (const auto& tool : *tools) {
      if (!tool_name.empty() && tool->spec().name != tool_name) continue;
      if (Status done = pins_->approve(config.name, tool->spec()); !done) co_return done.error();
      approved.push_back(config.name + "/" + tool->spec().name);
    }
  }
  co_return approved;
}

Task<ToolOutput> Toolbox::invoke(const OfferedTool& offered, std::string_view arguments,
                                 CancelPtr cancel, TraceContext trace, std::string_view call_id) {
  const auto start = std::chrono::steady_clock::now();
  // OpenTelemetry's execute_tool span: kind internal, as the conventions have it for every tool.
  SpanScope span(trace, trace ? "execute_tool " + offered.name : std::string());
  if (span.recording()) {
    span.set(gen_ai::kOperationName, "execute_tool");
    span.set(gen_ai::kToolName, offered.name);
    if (!call_id.empty()) span.set(gen_ai::kToolCallId, call_id);
    span.set(gen_ai::kToolType,
             offered.config->kind == ToolsetKind::kBuiltin ? "function" : "extension");
    span.set(keel_attr::kToolset, offered.toolset);
  }
  const auto finish = [&](ToolOutput output, const char* status) {
    record(offered, status,
           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    output.text =
        cap_output(std::move(output.text), static_cast<size_t>(offered.config->max_output_bytes));
    if (span.recording()) {
      span.set(keel_attr::kToolStatus, status);
      span.set(keel_attr::kToolOutputBytes, static_cast<int64_t>(output.text.size()));
      if (std::string_view(status) == "ok") {
        span.ok();
      } else {
        span.set(gen_ai::kErrorType, status);
        // The tool's own words may quote what it was given: the status names the failure.
        span.fail(status);
      }
      span.end();
    }
    return output;
  };
  // An empty argument text is a call without arguments (some models send "" for {}).
  std::optional<Json> parsed =
      arguments.empty() ? std::optional<Json>(Json::object()) : try_parse_json(arguments);
  if (!parsed || !parsed->is_object()) {
    co_return finish({"the arguments of " + offered.name + " are not a JSON object", true},
                     "invalid_arguments");
  }
  if (Status valid = validate_json_schema(offered.tool->spec().parameters, *parsed); !valid) {
    co_return finish({"invalid arguments for " + offered.name + ": " + valid.error().message, true},
                     "invalid_arguments");
  }
  // The call's own token: the caller's, plus this toolset's timeout.
  CancelPtr call_token = cancel ? cancel->child() : std::make_shared<CancelToken>();
  Deadline timeout;
  timeout.arm(
      co_await asio::this_coro::executor,
      std::chrono::steady_clock::now() + std::chrono::milliseconds(offered.config->timeout_ms),
      [](void* token) {
        static_cast<CancelToken*>(token)->cancel(ErrorCode::kDeadlineExceeded,
                                                 "the tool call timed out");
      },
      call_token.get());
  auto result = co_await offered.tool->call(*parsed, call_token);
  timeout.cancel();
  // A tool that reports the timeout as its own failure is still a timeout.
  const bool timed_out = call_token->cancelled() &&
                         call_token->reason().code == ErrorCode::kDeadlineExceeded &&
                         !(cancel && cancel->cancelled());
  if (!result || timed_out) {
    std::string message = timed_out ? offered.name + " did not answer within " +
                                          std::to_string(offered.config->timeout_ms) + " ms"
                                    : offered.name + " failed: " + result.error().message;
    co_return finish({std::move(message), true}, timed_out ? "timeout" : "error");
  }
  const bool is_error = result->is_error;
  co_return finish(std::move(result.value()), is_error ? "tool_error" : "ok");
}

void Toolbox::record(const OfferedTool& tool, const char* status, double seconds) {
  const std::string labels =
      "toolset=\"" + escape_label(tool.toolset) + "\",tool=\"" + escape_label(tool.name) + "\"";
  std::lock_guard lock(mutex_);
  ++calls_[labels + ",status=\"" + status + "\""];
  Histogram& histogram = durations_[labels];
  if (histogram.counts.empty()) histogram.counts.resize(std::size(kBuckets));
  for (size_t i = 0; i < std::size(kBuckets); ++i) {
    if (seconds <= kBuckets[i]) ++histogram.counts[i];
  }
  histogram.sum += seconds;
  ++histogram.count;
}

std::string Toolbox::render_metrics() const {
  std::lock_guard lock(mutex_);
  std::string out =
      "# HELP keel_tool_calls_total Tool calls keel made, by outcome.\n"
      "# TYPE keel_tool_calls_total counter\n";
  for (const auto& [labels, count] : calls_) {
    out += "keel_tool_calls_total{" + labels + "} " + std::to_string(count) + "\n";
  }
  out +=
      "# HELP keel_tool_call_duration_seconds Tool call latency.\n"
      "# TYPE keel_tool_call_duration_seconds histogram\n";
  for (const auto& [labels, histogram] : durations_) {
    for (size_t i = 0; i < std::size(kBuckets); ++i) {
      out += "keel_tool_call_duration_seconds_bucket{" + labels + ",le=\"" + number(kBuckets[i]) +
             "\"} " + std::to_string(histogram.counts[i]) + "\n";
    }
    out += "keel_tool_call_duration_seconds_bucket{" + labels + ",le=\"+Inf\"} " +
           std::to_string(histogram.count) + "\n";
    out += "keel_tool_call_duration_seconds_sum{" + labels + "} " + number(histogram.sum) + "\n";
    out += "keel_tool_call_duration_seconds_count{" + labels + "} " +
           std::to_string(histogram.count) + "\n";
  }
  return out;
}

}  // namespace keel
