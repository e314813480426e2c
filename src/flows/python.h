// Python nodes of Prompt flow's flows: the file's @tool function called in a worker process of
// Debian's python3 (/usr/bin/python3; KEEL_PYTHON names another), with a small `promptflow` shim
// (promptflow.tool, promptflow.core.tool and log_metric, the promptflow.connections types) put in
// sys.modules first, so that Prompt flow's own node files run unchanged. One process per call; the
// node's inputs go in as JSON and its output comes back as JSON (what json.dumps cannot write, as
// str()).
//
//   auto out = run_python_node("flows/x", "extract.py", Json{{"input1", "..."}}, 60000);
//   // out->output; an exception is kInvalidArgument with its traceback
//
// Blocking: the caller's thread waits for the worker (keel flow run's own thread).
#pragma once

#include <string>

#include "api/chat.h"
#include "core/result.h"

namespace keel {

struct PythonResult {
  Json output;
  Json metrics = Json::object();  // log_metric(key, value)
};

Result<PythonResult> run_python_node(const std::string& folder, const std::string& file,
                                     const Json& inputs, int timeout_ms);

}  // namespace keel
