// `keel shadow report MODEL [--limit N] [--json]`: what shadow traffic found (evals/shadow.h),
// from the pairs in the state store.
#include "evals/shadow.h"

#include <cstdio>
#include <cstdlib>

#include "cli/commands.h"
#include "store/store.h"

namespace keel::cli {

int shadow(const std::vector<std::string>& args) {
  if (args.size() < 2 || args[0] != "report" || args[1].starts_with("--")) {
    std::fputs("usage: keel shadow report MODEL [--config FILE] [--limit N] [--json]\n", stderr);
    return 2;
  }
  const std::string model = args[1];
  auto config = load_config(args);
  if (!config) {
    std::fprintf(stderr, "keel shadow: %s\n", config.error().message.c_str());
    return 1;
  }
  int limit = 10000;
  if (std::string text = flag(args, "--limit"); !text.empty()) limit = std::atoi(text.c_str());
  auto store = open_store(config->state);
  if (!store) {
    std::fprintf(stderr, "keel shadow: state: %s\n", store.error().message.c_str());
    return 1;
  }
  auto pairs = (*store)->shadow_pairs(model, std::max(limit, 0));
  if (!pairs) {
    std::fprintf(stderr, "keel shadow: %s\n", pairs.error().message.c_str());
    return 1;
  }
  if (pairs->empty()) {
    std::fprintf(stderr, "keel shadow: no shadow pairs for model '%s' in %s\n", model.c_str(),
                 config->state.c_str());
    return 1;
  }
  Json report = evals::shadow_report(*pairs);
  if (std::find(args.begin(), args.end(), "--json") != args.end()) {
    std::puts(report.dump(2).c_str());
  } else {
    std::fputs(evals::describe_shadow_report(model, report).c_str(), stdout);
  }
  return 0;
}

}  // namespace keel::cli
