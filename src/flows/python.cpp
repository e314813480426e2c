#include "flows/python.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "api/json_util.h"

extern char** environ;

namespace keel {

namespace {

// The worker: the shim first, then the node file, then its last @tool function with the
// inputs it takes (None for a bypassed input whose parameter has a default: omitted). The
// node's own prints go to stderr, so stdout carries only the answer.
constexpr const char* kRunner = R"py(
import importlib.util, inspect, json, os, sys, traceback, types
_answer = sys.stdout
sys.stdout = sys.stderr
_tools, _metrics = [], {}
def tool(func=None, **kwargs):
    def mark(f):
        _tools.append(f)
        return f
    return mark(func) if callable(func) else mark
def log_metric(key, value, variant_id=None):
    _metrics[key] = value
class _Connection(dict):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.__dict__.update(kwargs)
pf = types.ModuleType("promptflow")
core = types.ModuleType("promptflow.core")
connections = types.ModuleType("promptflow.connections")
for module in (pf, core):
    module.tool = tool
    module.log_metric = log_metric
for name in ("CustomConnection", "AzureOpenAIConnection", "OpenAIConnection",
             "SerpConnection", "CognitiveSearchConnection"):
    setattr(connections, name, type(name, (_Connection,), {}))
pf.core, pf.connections = core, connections
sys.modules.update({"promptflow": pf, "promptflow.core": core,
                    "promptflow.connections": connections})
request = json.load(sys.stdin)
try:
    sys.path.insert(0, request["folder"])
    spec = importlib.util.spec_from_file_location(
        "__keel_node__", os.path.join(request["folder"], request["path"]))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not _tools:
        raise RuntimeError("no @tool function in " + request["path"])
    fn = _tools[-1]
    params = inspect.signature(fn).parameters
    var_kw = any(p.kind == p.VAR_KEYWORD for p in params.values())
    kwargs = {}
    for key, value in request["inputs"].items():
        if key not in params and not var_kw:
            continue
        if value is None and key in params and params[key].default is not inspect.Parameter.empty:
            continue
        kwargs[key] = value
    output = fn(**kwargs)
    _answer.write(json.dumps({"output": output, "metrics": _metrics}, default=str))
except BaseException:
    _answer.write(json.dumps({"error": traceback.format_exc()}))
)py";

}  // namespace

Result<PythonResult> run_python_node(const std::string& folder, const std::string& file,
                                     const Json& inputs, int timeout_ms) {
  int in_pipe[2], out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return Error(ErrorCode::kInternal, "pipe failed");
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    close(in_pipe[0]);
    close(in_pipe[1]);
    return Error(ErrorCode::kInternal, "pipe failed");
  }
  // Debian's python3 (where python3-requests and python3-bs4 install), unless KEEL_PYTHON names
  // another; a python3 on PATH when there is none.
  std::string python = "python3";
  if (const char* chosen = std::getenv("KEEL_PYTHON"); chosen && *chosen) {
    python = chosen;
  } else if (access("/usr/bin/python3", X_OK) == 0) {
    python = "/usr/bin/python3";
  }
  const pid_t pid = fork();
  if (pid < 0) return Error(ErrorCode::kInternal, std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    const char* argv[] = {python.c_str(), "-c", kRunner, nullptr};
    execvpe(python.c_str(), const_cast<char**>(argv), environ);
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  const std::string request = Json{{"folder", folder}, {"path", file}, {"inputs", inputs}}.dump(
      -1, ' ', false, Json::error_handler_t::replace);
  signal(SIGPIPE, SIG_IGN);
  size_t written = 0;
  while (written < request.size()) {
    const ssize_t n = write(in_pipe[1], request.data() + written, request.size() - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  close(in_pipe[1]);
  std::string answer;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  bool timed_out = false;
  char buffer[65536];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd fd{out_pipe[0], POLLIN, 0};
    if (poll(&fd, 1, static_cast<int>(left)) <= 0) continue;
    const ssize_t n = read(out_pipe[0], buffer, sizeof buffer);
    if (n <= 0) break;
    answer.append(buffer, static_cast<size_t>(n));
  }
  close(out_pipe[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  if (timed_out) {
    return Error(ErrorCode::kDeadlineExceeded,
                 file + ": timed out after " + std::to_string(timeout_ms) + " ms");
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    return Error(ErrorCode::kUnavailable, python + " cannot be run (apt install python3)");
  }
  auto json = try_parse_json(answer);
  if (!json || !json->is_object()) {
    return Error(ErrorCode::kInternal, file + ": the python worker gave no answer");
  }
  if (json->contains("error")) {
    return Error(ErrorCode::kInvalidArgument,
                 file + " raised:\n" + json->value("error", std::string()));
  }
  return PythonResult{json->value("output", Json()), json->value("metrics", Json::object())};
}

}  // namespace keel
