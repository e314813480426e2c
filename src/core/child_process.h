// A child process whose stdin and stdout are pipes to keel (stderr stays keel's), in a process
// group of its own so that killing -pid reaches whatever it starts, with SIGPIPE back to its
// default there (keel ignores it). Used by MCP's stdio transport (tools/mcp/) and Prompt flow's
// python workers (flows/python.cpp).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/result.h"

namespace keel {

struct PipedChild {
  pid_t pid = -1;
  int stdin_fd = -1;   // write end: the child's stdin
  int stdout_fd = -1;  // read end: the child's stdout
};

// argv[0] is looked up on PATH. `env`: the child's whole environment as NAME=VALUE lines; null
// passes keel's own. Both descriptors are close-on-exec; the caller owns them. An error when a
// pipe cannot be made (kInternal) or the program cannot be started (kUnavailable, strerror's
// text).
Result<PipedChild> spawn_piped(const std::vector<std::string>& argv,
                               const std::vector<std::string>* env = nullptr);

}  // namespace keel
