// `keel trace ID [--config FILE] [--json]`: a trace from the state store as a tree (a request id
// names its request's trace; eval rows and shadow pairs name theirs as `trace_id`).
#include <algorithm>
#include <cstdio>

#include "cli/commands.h"
#include "server/trace_json.h"
#include "store/store.h"

namespace keel::cli {

int trace(const std::vector<std::string>& args) {
  if (args.empty() || args[0].starts_with("--")) {
    std::fputs("usage: keel trace ID [--config FILE] [--json]   (ID: req_... or a trace id)\n",
               stderr);
    return 2;
  }
  auto id = parse_trace_ref(args[0]);
  if (!id) {
    std::fprintf(stderr, "keel trace: %s\n", id.error().message.c_str());
    return 2;
  }
  auto config = load_config(args);
  if (!config) {
    std::fprintf(stderr, "keel trace: %s\n", config.error().message.c_str());
    return 1;
  }
  auto store = open_store(config->state);
  if (!store) {
    std::fprintf(stderr, "keel trace: state: %s\n", store.error().message.c_str());
    return 1;
  }
  auto spans = read_trace(**store, *id, config->providers);
  if (!spans) {
    std::fprintf(stderr, "keel trace: %s (state %s)\n", spans.error().message.c_str(),
                 config->state.c_str());
    return 1;
  }
  if (std::find(args.begin(), args.end(), "--json") != args.end()) {
    std::puts(trace_to_json(*spans).dump(2).c_str());
  } else {
    std::fputs(describe_trace(*spans).c_str(), stdout);
  }
  return 0;
}

}  // namespace keel::cli
