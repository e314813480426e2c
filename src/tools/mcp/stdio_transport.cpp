// MCP over stdio: the server is a child process; newline-delimited JSON-RPC on its stdin and
// stdout; its stderr is keel's.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <mutex>

#include "api/mcp.h"
#include "core/child_process.h"
#include "core/log.h"
#include "tools/mcp/transport.h"

extern char** environ;

namespace keel {

namespace {

constexpr size_t kMaxLine = 64 << 20;

class StdioTransport final : public McpTransport,
                             public std::enable_shared_from_this<StdioTransport> {
 public:
  StdioTransport(const ToolsetConfig& config, asio::any_io_executor executor)
      : config_(config), executor_(std::move(executor)) {}
  ~StdioTransport() override { close(); }

  Task<Status> open(CancelPtr) override {
    // Its own process group, so that close() reaches what it starts (npx starts node); SIGPIPE
    // back to its default there (keel ignores it, see make_stdio_transport).
    std::vector<std::string> argv{config_.command};
    argv.insert(argv.end(), config_.args.begin(), config_.args.end());
    std::vector<std::string> env;
    for (char** entry = environ; *entry != nullptr; ++entry) {
      const std::string_view line(*entry);
      const std::string name(line.substr(0, line.find('=')));
      if (!config_.env.count(name)) env.emplace_back(line);
    }
    for (const auto& [name, value] : config_.env) env.push_back(name + "=" + value);
    auto child = spawn_piped(argv, &env);
    if (!child) {
      pid_ = -1;
      co_return Status(child.error().code,
                       "cannot start " + config_.command + ": " + child.error().message);
    }
    pid_ = child->pid;
    stdin_ = std::make_unique<asio::posix::stream_descriptor>(executor_, child->stdin_fd);
    stdout_ = std::make_unique<asio::posix::stream_descriptor>(executor_, child->stdout_fd);
    alive_ = true;
    down_reason_.clear();
    asio::co_spawn(executor_, read_loop(shared_from_this()), asio::detached);
    co_return Status::Ok();
  }

  bool alive() const override { return alive_; }
  std::string down_reason() const override { return down_reason_; }

  Task<Result<Json>> request(std::string method, Json params, CancelPtr cancel) override {
    if (!alive_) co_return Error(ErrorCode::kUnavailable, down_reason_);
    auto self = shared_from_this();
    const int64_t id = next_id_++;
    Pending pending(executor_);
    pending_[id] = &pending;
    struct Forget {
      StdioTransport& transport;
      int64_t id;
      ~Forget() { transport.pending_.erase(id); }
    } forget{*this, id};
    send(jsonrpc_request(id, method, params));
    CancelRegistration wake(cancel, [&pending] { pending.wake.cancel(); });
    while (!pending.result) {
      if (cancel->cancelled()) {
        if (alive_) {
          send(jsonrpc_notification("notifications/cancelled",
                                    {{"requestId", id}, {"reason", cancel->reason().message}}));
        }
        co_return cancel->reason();
      }
      pending.wake.expires_at(asio::steady_timer::time_point::max());
      beast::error_code ec;
      co_await pending.wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    co_return std::move(*pending.result);
  }

  Task<Status> notify(std::string method, Json params) override {
    if (!alive_) co_return Status(ErrorCode::kUnavailable, down_reason_);
    send(jsonrpc_notification(method, params));
    co_return Status::Ok();
  }

  void close() override {
    if (stdin_) {
      beast::error_code ignored;
      stdin_->close(ignored);
    }
    if (stdout_) {
      beast::error_code ignored;
      stdout_->close(ignored);
    }
    mark_down("the MCP server was closed");
    reap(/*kill_first=*/true);
  }

 private:
  struct Pending {
    explicit Pending(const asio::any_io_executor& executor) : wake(executor) {}
    asio::steady_timer wake;
    std::optional<Result<Json>> result;
  };

  // Queues a line; one writer at a time drains the queue, so lines never interleave.
  void send(std::string line) {
    outbox_ += line;
    outbox_ += '\n';
    if (writing_ || !stdin_) return;
    writing_ = true;
    asio::co_spawn(executor_, write_loop(shared_from_this()), asio::detached);
  }

  static Task<void> write_loop(std::shared_ptr<StdioTransport> self) {
    while (!self->outbox_.empty() && self->stdin_ && self->stdin_->is_open()) {
      std::string batch = std::move(self->outbox_);
      self->outbox_.clear();
      beast::error_code ec;
      co_await asio::async_write(*self->stdin_, asio::buffer(batch),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;  // the reader sees the exit and fails what is pending
    }
    self->writing_ = false;
  }

  static Task<void> read_loop(std::shared_ptr<StdioTransport> self) {
    std::string buffer;
    auto* out = self->stdout_.get();
    for (;;) {
      beast::error_code ec;
      const size_t length =
          co_await asio::async_read_until(*out, asio::dynamic_buffer(buffer, kMaxLine), '\n',
                                          asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      std::string line = buffer.substr(0, length);
      buffer.erase(0, length);
      while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
      if (!line.empty()) self->dispatch(line);
      if (self->stdout_.get() != out) co_return;  // closed and reopened meanwhile
    }
    if (self->stdout_.get() == out) {
      const std::string status = self->reap(/*kill_first=*/true);
      self->mark_down("the MCP server " + self->config_.command + " exited" + status);
    }
  }

  void dispatch(const std::string& line) {
    auto message = parse_jsonrpc(line);
    if (!message) {
      KEEL_LOG(kWarn) << "toolset " << config_.name << ": ignoring a line that is not JSON-RPC ("
                      << message.error().message << ")";
      return;
    }
    using Kind = JsonRpcMessage::Kind;
    switch (message->kind) {
      case Kind::kResponse:
      case Kind::kError: {
        if (!message->id.is_number_integer()) return;
        auto it = pending_.find(message->id.get<int64_t>());
        if (it == pending_.end()) return;  // a reply to a request keel gave up on
        if (message->kind == Kind::kResponse) {
          it->second->result = std::move(message->result);
        } else {
          Error error(ErrorCode::kBadGateway, "MCP error " + std::to_string(message->error_code) +
                                                  ": " + message->error_message);
          it->second->result = error;
        }
        it->second->wake.cancel();
        return;
      }
      case Kind::kNotification:
        if (message->method == "notifications/tools/list_changed") list_changed_ = true;
        return;
      case Kind::kRequest:
        // keel offers no client capabilities (roots, sampling, elicitation); ping is required.
        if (message->method == "ping") {
          send(jsonrpc_result(message->id, Json::object()));
        } else {
          send(jsonrpc_error(message->id, kJsonRpcMethodNotFound,
                             "keel does not support " + message->method));
        }
        return;
    }
  }

  void mark_down(const std::string& reason) {
    if (!alive_) return;
    alive_ = false;
    down_reason_ = reason;
    for (auto& [id, pending] : pending_) {
      pending->result = Error(ErrorCode::kUnavailable, reason);
      pending->wake.cancel();
    }
  }

  // Waits for the child (stopping it first when asked); returns " (status N)" or " (signal N)".
  std::string reap(bool kill_first) {
    if (pid_ <= 0) return {};
    int status = 0;
    pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == 0 && kill_first) {
      // A server that closed its stdout is usually exiting: give it a moment first.
      for (int i = 0; i < 20 && done == 0; ++i) {
        usleep(5'000);
        done = waitpid(pid_, &status, WNOHANG);
      }
      if (done == 0) ::kill(-pid_, SIGTERM);
      for (int i = 0; i < 50 && done == 0; ++i) {
        usleep(10'000);
        done = waitpid(pid_, &status, WNOHANG);
      }
      if (done == 0) {
        ::kill(-pid_, SIGKILL);
        done = waitpid(pid_, &status, 0);
      }
    }
    pid_ = -1;
    if (done <= 0) return {};
    if (WIFSIGNALED(status)) return " (signal " + std::to_string(WTERMSIG(status)) + ")";
    if (WIFEXITED(status)) return " (status " + std::to_string(WEXITSTATUS(status)) + ")";
    return {};
  }

  ToolsetConfig config_;
  asio::any_io_executor executor_;
  pid_t pid_ = -1;
  std::unique_ptr<asio::posix::stream_descriptor> stdin_, stdout_;
  bool alive_ = false;
  std::string down_reason_ = "not started";
  int64_t next_id_ = 1;
  std::map<int64_t, Pending*> pending_;
  std::string outbox_;
  bool writing_ = false;
};

}  // namespace

std::shared_ptr<McpTransport> make_stdio_transport(const ToolsetConfig& config,
                                                   asio::any_io_executor executor) {
  // A write to the stdin of a server that has just exited raises SIGPIPE, whose default ends
  // keel; ignored, the write fails with EPIPE and the reader reports the exit. (Sockets use
  // MSG_NOSIGNAL; a pipe has no such flag.)
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { ::signal(SIGPIPE, SIG_IGN); });
  return std::make_shared<StdioTransport>(config, std::move(executor));
}

}  // namespace keel
