// `keel flow check PATH` (DESIGN.md "Commands"): reads a Prompt flow folder (flow.dag.yaml and
// the files it names) and checks the graph before anything runs: cycles, unknown references,
// unknown node types, missing files. Errors name the file, line and node.
#include "flows/flow.h"

#include <cstdio>

#include "cli/commands.h"

namespace keel::cli {

int flow(const std::vector<std::string>& args) {
  if (args.size() < 2 || args[0] != "check") {
    std::fputs("usage: keel flow check PATH [--variant NODE=ID ...]\n", stderr);
    return 2;
  }
  FlowLoadOptions options;
  for (size_t i = 2; i < args.size(); ++i) {
    const size_t eq = i + 1 < args.size() ? args[i + 1].find('=') : std::string::npos;
    if (args[i] != "--variant" || eq == std::string::npos) {
      std::fprintf(stderr, "keel flow check: unknown argument '%s'\n", args[i].c_str());
      return 2;
    }
    options.variants[args[i + 1].substr(0, eq)] = args[i + 1].substr(eq + 1);
    ++i;
  }
  auto flow = load_flow(args[1], options);
  if (!flow) {
    std::fprintf(stderr, "%s\n", flow.error().message.c_str());
    return 1;
  }
  std::string order;
  for (size_t index : flow->order) {
    order += (order.empty() ? "" : ", ") + flow->nodes[index].name;
  }
  std::printf("%s: ok (%zu inputs, %zu nodes, %zu outputs%s; runs %s)\n", flow->file.c_str(),
              flow->inputs.size(), flow->nodes.size(), flow->outputs.size(),
              flow->is_chat() ? ", a chat flow" : "", order.c_str());
  return 0;
}

}  // namespace keel::cli
