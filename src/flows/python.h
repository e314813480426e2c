// Python nodes of Prompt flow's flows: the file's @tool function called in a worker process of
// Debian's python3 (/usr/bin/python3; KEEL_PYTHON names another), with a small `promptflow` shim
// (promptflow.tool, promptflow.core.tool and log_metric, the promptflow.connections types) put in
// sys.modules first, so that Prompt flow's own node files run unchanged. The node's inputs go in
// as one JSON line and its output comes back as one (what json.dumps cannot write, as str()).
//
// Workers are kept: a process that answered goes back to an idle pool, one per flow folder (a
// node file's own imports stay cached there, as in Prompt flow's one process per flow), and is
// reused by the next call for that folder; at most kPythonIdleWorkers wait idle. A call that is
// cancelled or times out kills its worker's process group.
//
//   auto stop = std::make_shared<PythonCancel>();
//   auto out = run_python_node("flows/x", "extract.py", Json{{"input1", "..."}}, 60000, stop);
//   // out->output; an exception is kInvalidArgument with its traceback
//   // from any other thread: stop->cancel(Error(ErrorCode::kCancelled, "client gone"));
//
// Blocking: the caller's thread waits for the worker (flows/run.cpp calls it on a thread pool).
// Thread-safe.
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "api/chat.h"
#include "core/result.h"

namespace keel {

inline constexpr size_t kPythonIdleWorkers = 8;

struct PythonResult {
  Json output;
  Json metrics = Json::object();  // log_metric(key, value)
};

// Stops a call from another thread: its worker (if one is running it) is killed, and the call
// returns `reason`. A call that has not started yet returns `reason` at once.
class PythonCancel {
 public:
  void cancel(Error reason);
  // Called by run_python_node: binds the worker now running the call (-1: none). Returns false
  // when the call was cancelled already.
  bool attach(pid_t pid);
  std::optional<Error> reason() const;

 private:
  mutable std::mutex mutex_;
  pid_t pid_ = -1;
  std::optional<Error> reason_;
};

Result<PythonResult> run_python_node(const std::string& folder, const std::string& file,
                                     const Json& inputs, int timeout_ms,
                                     const std::shared_ptr<PythonCancel>& cancel = nullptr);

}  // namespace keel
