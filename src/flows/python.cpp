#include "flows/python.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <vector>

#include "api/json_util.h"
#include "core/child_process.h"


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
def _run(request):
    del _tools[:]
    _metrics.clear()
    folder = request["folder"]
    if folder not in sys.path:
        sys.path.insert(0, folder)
    os.chdir(folder)
    spec = importlib.util.spec_from_file_location(
        "__keel_node__", os.path.join(folder, request["path"]))
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
    return fn(**kwargs)
for line in sys.stdin:
    try:
        output = _run(json.loads(line))
        answer = json.dumps({"output": output, "metrics": _metrics}, default=str)
    except BaseException:
        answer = json.dumps({"error": traceback.format_exc()})
    _answer.write(answer + "\n")
    _answer.flush()
)py";

// One python3 process running kRunner: requests on `to_child`, answers on `from_child`.
struct Worker {
  pid_t pid = -1;
  int to_child = -1;
  int from_child = -1;
  std::string folder;
  std::string pending;  // bytes read past the last answer's newline (none in practice)
};

void stop_worker(Worker& worker) {
  if (worker.pid > 0) {
    kill(-worker.pid, SIGKILL);  // its process group: what the node started too
    int status = 0;
    waitpid(worker.pid, &status, 0);
  }
  if (worker.to_child >= 0) close(worker.to_child);
  if (worker.from_child >= 0) close(worker.from_child);
  worker = Worker{};
}

// Debian's python3 (where python3-requests and python3-bs4 install), unless KEEL_PYTHON names
// another; a python3 on PATH when there is none.
std::string python_binary() {
  if (const char* chosen = std::getenv("KEEL_PYTHON"); chosen && *chosen) return chosen;
  if (access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
  return "python3";
}

Result<Worker> spawn_worker(const std::string& folder) {
  const std::string python = python_binary();
  auto child = spawn_piped({python, "-c", kRunner});
  if (!child) {
    if (child.error().code != ErrorCode::kUnavailable) return child.error();
    return Error(ErrorCode::kUnavailable,
                 python + " cannot be run (apt install python3): " + child.error().message);
  }
  Worker worker;
  worker.pid = child->pid;
  worker.to_child = child->stdin_fd;
  worker.from_child = child->stdout_fd;
  worker.folder = folder;
  return worker;
}

// Idle workers, the oldest first.
class WorkerPool {
 public:
  Result<Worker> take(const std::string& folder) {
    {
      std::lock_guard lock(mutex_);
      for (auto it = idle_.begin(); it != idle_.end(); ++it) {
        if (it->folder != folder) continue;
        Worker worker = std::move(*it);
        idle_.erase(it);
        return worker;
      }
    }
    return spawn_worker(folder);
  }
  void give_back(Worker worker) {
    Worker evicted;
    {
      std::lock_guard lock(mutex_);
      idle_.push_back(std::move(worker));
      if (idle_.size() <= kPythonIdleWorkers) return;
      evicted = std::move(idle_.front());
      idle_.erase(idle_.begin());
    }
    stop_worker(evicted);
  }

 private:
  std::mutex mutex_;
  std::vector<Worker> idle_;
};

WorkerPool& pool() {
  static WorkerPool* workers = new WorkerPool;  // never destroyed: idle workers end with keel
  return *workers;
}

bool write_all_fd(int fd, const std::string& bytes) {
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    written += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

void PythonCancel::cancel(Error reason) {
  std::lock_guard lock(mutex_);
  if (reason_) return;
  reason_ = std::move(reason);
  if (pid_ > 0) kill(-pid_, SIGKILL);
}

bool PythonCancel::attach(pid_t pid) {
  std::lock_guard lock(mutex_);
  if (reason_) return false;
  pid_ = pid;
  return true;
}

std::optional<Error> PythonCancel::reason() const {
  std::lock_guard lock(mutex_);
  return reason_;
}

Result<PythonResult> run_python_node(const std::string& folder, const std::string& file,
                                     const Json& inputs, int timeout_ms,
                                     const std::shared_ptr<PythonCancel>& cancel) {
  static const bool ignore_sigpipe = [] { return signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
  (void)ignore_sigpipe;
  if (cancel) {
    if (auto reason = cancel->reason()) return *reason;
  }
  // Absolute: the worker changes into the folder, and may serve another call there after.
  std::error_code ec;
  const std::string where = std::filesystem::absolute(folder, ec).lexically_normal().string();
  auto taken = pool().take(where);
  if (!taken) return taken.error();
  Worker worker = std::move(*taken);
  if (cancel && !cancel->attach(worker.pid)) {
    pool().give_back(std::move(worker));
    return *cancel->reason();
  }
  const std::string request = Json{{"folder", where}, {"path", file}, {"inputs", inputs}}.dump(
                                  -1, ' ', false, Json::error_handler_t::replace) +
                              "\n";
  const bool sent = write_all_fd(worker.to_child, request);
  std::string answer = std::move(worker.pending);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  bool timed_out = false, complete = false;
  char buffer[65536];
  while (sent) {
    if (size_t newline = answer.find('\n'); newline != std::string::npos) {
      worker.pending = answer.substr(newline + 1);
      answer.resize(newline);
      complete = true;
      break;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd fd{worker.from_child, POLLIN, 0};
    if (poll(&fd, 1, static_cast<int>(std::min<int64_t>(left, 1000000))) <= 0) continue;
    const ssize_t n = read(worker.from_child, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    answer.append(buffer, static_cast<size_t>(n));
  }
  if (cancel) cancel->attach(-1);
  if (complete && cancel && cancel->reason()) complete = false;  // killed just as it answered
  if (!complete) {
    int status = 0;
    const bool exited = waitpid(worker.pid, &status, WNOHANG) == worker.pid;
    if (exited) worker.pid = -1;  // reaped: its pid may be reused, never kill it
    stop_worker(worker);
    if (cancel) {
      if (auto reason = cancel->reason()) return *reason;
    }
    if (timed_out) {
      return Error(ErrorCode::kDeadlineExceeded,
                   file + ": timed out after " + std::to_string(timeout_ms) + " ms");
    }
    if (exited && WIFEXITED(status) && WEXITSTATUS(status) == 127) {
      return Error(ErrorCode::kUnavailable,
                   python_binary() + " cannot be run (apt install python3)");
    }
    return Error(ErrorCode::kInternal, file + ": the python worker ended without an answer");
  }
  pool().give_back(std::move(worker));
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
