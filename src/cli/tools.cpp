// keel tools list | call NAME --args JSON: the configured toolsets, from the command line.
#include <cstdio>
#include <iostream>

#include "api/json_util.h"
#include "cli/commands.h"
#include "http/client.h"
#include "tools/toolbox.h"

namespace keel::cli {

namespace {

bool has_flag(const std::vector<std::string>& args, const std::string& name) {
  return std::find(args.begin(), args.end(), name) != args.end();
}

// Runs `body` on a fresh io_context until it returns; the toolbox's servers go with it.
template <typename Body>
int run_with_toolbox(const Config& config, Body body) {
  auto pins = ToolPins::open(config.state);
  if (!pins) {
    std::fprintf(stderr, "keel: %s\n", pins.error().message.c_str());
    return 1;
  }
  asio::io_context context;
  int code = 1;
  {
    Toolbox toolbox(config.toolsets);
    toolbox.set_pins(pins->get());
    for (const auto& error : toolbox.errors()) std::fprintf(stderr, "keel: %s\n", error.c_str());
    if (!toolbox.errors().empty()) return 1;
    asio::co_spawn(
        context,
        [&]() -> Task<void> {
          code = co_await body(toolbox);
          context.stop();
        },
        asio::detached);
    context.run();
  }
  http_pool_clear();
  return code;
}

int list(const Config& config, bool json) {
  return run_with_toolbox(config, [&](Toolbox& toolbox) -> Task<int> {
    Json out = Json::array();
    int code = 0;
    for (const auto& name : toolbox.toolset_names()) {
      const std::vector<std::string> one{name};
      auto tools = co_await toolbox.tools_of(one, std::make_shared<CancelToken>());
      if (!tools) {
        std::fprintf(stderr, "keel: %s\n", tools.error().message.c_str());
        code = 1;
        continue;
      }
      for (const auto& tool : *tools) {
        if (json) {
          Json entry = Json::object();
          entry["toolset"] = name;
          entry["name"] = tool.name;
          entry["description"] = tool.tool->spec().description;
          entry["parameters"] = tool.tool->spec().parameters;
          out.push_back(std::move(entry));
        } else {
          std::printf("%s/%s\t%s\n", name.c_str(), tool.name.c_str(),
                      tool.tool->spec().description.c_str());
        }
      }
    }
    if (json) std::printf("%s\n", out.dump(2).c_str());
    co_return code;
  });
}

int call(const Config& config, const std::string& target, const std::string& args_text, bool json) {
  const size_t slash = target.find('/');
  const std::string toolset = slash == std::string::npos ? "" : target.substr(0, slash);
  const std::string tool_name = slash == std::string::npos ? target : target.substr(slash + 1);
  return run_with_toolbox(config, [&](Toolbox& toolbox) -> Task<int> {
    std::vector<std::string> names = toolbox.toolset_names();
    if (!toolset.empty()) names = {toolset};
    auto cancel = std::make_shared<CancelToken>();
    for (const auto& name : names) {
      const std::vector<std::string> one{name};
      auto tools = co_await toolbox.tools_of(one, cancel);
      if (!tools) {
        std::fprintf(stderr, "keel: %s\n", tools.error().message.c_str());
        continue;
      }
      for (const auto& tool : *tools) {
        if (tool.name != tool_name) continue;
        ToolOutput output = co_await toolbox.invoke(tool, args_text, cancel);
        if (json) {
          Json answer = Json::object();
          answer["text"] = output.text;
          answer["is_error"] = output.is_error;
          std::printf("%s\n", answer.dump().c_str());
        } else {
          std::printf("%s\n", output.text.c_str());
        }
        co_return output.is_error ? 1 : 0;
      }
    }
    std::fprintf(stderr, "keel: no tool named %s\n", target.c_str());
    co_return 1;
  });
}

int approve(const Config& config, const std::string& target) {
  const size_t slash = target.find('/');
  const std::string toolset = target.substr(0, slash);
  const std::string tool = slash == std::string::npos ? "" : target.substr(slash + 1);
  return run_with_toolbox(config, [&](Toolbox& toolbox) -> Task<int> {
    auto approved = co_await toolbox.approve(toolset, tool, std::make_shared<CancelToken>());
    if (!approved) {
      std::fprintf(stderr, "keel: %s\n", approved.error().message.c_str());
      co_return 1;
    }
    if (approved->empty()) {
      std::fprintf(stderr, "keel: no MCP tool matches %s\n",
                   target.empty() ? "(all)" : target.c_str());
      co_return 1;
    }
    for (const auto& name : *approved) std::printf("approved %s\n", name.c_str());
    co_return 0;
  });
}

}  // namespace

int tools(const std::vector<std::string>& args) {
  if (args.empty() || (args[0] != "list" && args[0] != "call" && args[0] != "approve")) {
    std::fputs(
        "usage: keel tools list [--config FILE] [--json]\n"
        "       keel tools call [TOOLSET/]NAME --args JSON [--config FILE] [--json]\n"
        "       keel tools approve [TOOLSET[/TOOL]] [--config FILE]\n",
        stderr);
    return 2;
  }
  auto loaded = load_config(args);
  if (!loaded) {
    std::fprintf(stderr, "keel: %s\n", loaded.error().message.c_str());
    return 1;
  }
  const bool json = has_flag(args, "--json");
  if (args[0] == "list") return list(*loaded, json);
  if (args[0] == "approve") {
    return approve(*loaded, args.size() >= 2 && !args[1].starts_with("--") ? args[1] : "");
  }
  if (args.size() < 2 || args[1].starts_with("--")) {
    std::fputs("keel tools call: name the tool\n", stderr);
    return 2;
  }
  const std::string arguments = flag(args, "--args");
  return call(*loaded, args[1], arguments.empty() ? "{}" : arguments, json);
}

}  // namespace keel::cli
