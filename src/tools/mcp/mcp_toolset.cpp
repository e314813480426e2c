#include "tools/mcp/mcp_toolset.h"

#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "api/mcp.h"
#include "core/log.h"
#include "http/deadline.h"
#include "tools/mcp/transport.h"

namespace keel {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kBackoffFirstMs = 500;
constexpr int kBackoffMaxMs = 30000;
constexpr int kMaxPages = 100;  // a server that pages forever

// One io thread's connection to the server.
class McpClient {
 public:
  McpClient(const ToolsetConfig& config, asio::any_io_executor executor)
      : config_(config), executor_(std::move(executor)) {}
  ~McpClient() { close(); }

  void close() {
    if (transport_) transport_->close();
  }

  Task<Result<std::vector<ToolSpec>>> list(CancelPtr caller) {
    if (Status ready = co_await ensure_ready(caller); !ready) co_return ready.error();
    // Listing gets the call timeout: a server that stops answering cannot hold a request.
    CancelPtr cancel = caller->child();
    Deadline deadline;
    deadline.arm(
        executor_, Clock::now() + std::chrono::milliseconds(config_.timeout_ms),
        [](void* t) {
          static_cast<CancelToken*>(t)->cancel(ErrorCode::kDeadlineExceeded,
                                               "tools/list timed out");
        },
        cancel.get());
    if (transport_->take_list_changed()) listed_ = false;
    if (listed_) co_return tools_;
    std::vector<ToolSpec> tools;
    std::string cursor;
    for (int page = 0;; ++page) {
      if (page == kMaxPages) {
        co_return Error(ErrorCode::kBadGateway,
                        "tools/list did not end after " + std::to_string(kMaxPages) + " pages");
      }
      Json params = Json::object();
      if (!cursor.empty()) params["cursor"] = cursor;
      auto result = co_await transport_->request("tools/list", params, cancel);
      note_if_down();
      if (!result) co_return result.error();
      auto parsed = parse_tools_list_result(*result);
      if (!parsed) co_return Error(ErrorCode::kBadGateway, parsed.error().message);
      for (auto& tool : parsed->tools) tools.push_back(std::move(tool));
      if (parsed->next_cursor.empty()) break;
      cursor = parsed->next_cursor;
    }
    tools_ = std::move(tools);
    listed_ = true;
    co_return tools_;
  }

  Task<Result<McpCallResult>> call(const std::string& name, const Json& arguments,
                                   CancelPtr cancel) {
    if (Status ready = co_await ensure_ready(cancel); !ready) co_return ready.error();
    auto result =
        co_await transport_->request("tools/call", mcp_call_params(name, arguments), cancel);
    if (!result) co_return result.error();
    auto parsed = parse_call_tool_result(*result);
    if (!parsed) co_return Error(ErrorCode::kBadGateway, parsed.error().message);
    backoff_ms_ = kBackoffFirstMs;  // the server works: a later crash starts the backoff anew
    co_return parsed;
  }

 private:
  // The server went down during a request: the backoff counts from now.
  void note_if_down() {
    if (transport_ && !transport_->alive() && !restart_at_) {
      restart_at_ = Clock::now() + std::chrono::milliseconds(backoff_ms_);
      backoff_ms_ = std::min(backoff_ms_ * 2, kBackoffMaxMs);
    }
  }

  Task<Status> ensure_ready(CancelPtr cancel) {
    // Another call on this thread is starting the server: wait for it.
    while (starting_) {
      asio::steady_timer pause(executor_, std::chrono::milliseconds(5));
      co_await pause.async_wait(asio::use_awaitable);
      if (cancel->cancelled()) co_return cancel->reason();
    }
    if (transport_ && transport_->alive() && initialized_) co_return Status::Ok();
    if (transport_) {
      last_failure_ = transport_->down_reason();
      note_if_down();  // a server that was up and went down waits out the backoff too
      transport_->close();
      transport_.reset();
    }
    if (restart_at_ && Clock::now() < *restart_at_) {
      const auto wait =
          std::chrono::duration_cast<std::chrono::milliseconds>(*restart_at_ - Clock::now());
      co_return Status(ErrorCode::kUnavailable, "the MCP server is down (" + last_failure_ +
                                                    "); next start in " +
                                                    std::to_string(wait.count()) + " ms");
    }
    starting_ = true;
    Status started = co_await start(cancel);
    starting_ = false;
    if (!started) {
      last_failure_ = started.error().message;
      if (transport_) transport_->close();
      transport_.reset();
      restart_at_ = Clock::now() + std::chrono::milliseconds(backoff_ms_);
      backoff_ms_ = std::min(backoff_ms_ * 2, kBackoffMaxMs);
      co_return started;
    }
    restart_at_.reset();
    co_return Status::Ok();
  }

  Task<Status> start(CancelPtr cancel) {
    initialized_ = false;
    listed_ = false;
    transport_ = config_.url.empty() ? make_stdio_transport(config_, executor_)
                                     : make_http_transport(config_);
    // Start-up has its own timeout: a server that never answers initialize is stopped.
    CancelPtr token = cancel->child();
    Deadline deadline;
    deadline.arm(
        executor_, Clock::now() + std::chrono::milliseconds(config_.startup_timeout_ms),
        [](void* t) {
          static_cast<CancelToken*>(t)->cancel(ErrorCode::kDeadlineExceeded,
                                               "initialize timed out");
        },
        token.get());
    if (Status opened = co_await transport_->open(token); !opened) co_return opened;
    auto result =
        co_await transport_->request("initialize", mcp_initialize_params("keel", "0.1.0"), token);
    if (!result) {
      if (result.error().code == ErrorCode::kDeadlineExceeded) {
        co_return Status(ErrorCode::kDeadlineExceeded,
                         "the MCP server did not answer initialize within " +
                             std::to_string(config_.startup_timeout_ms) + " ms");
      }
      co_return result.error();
    }
    auto info = parse_initialize_result(*result);
    if (!info) co_return info.error();
    if (Status sent = co_await transport_->notify("notifications/initialized", Json()); !sent) {
      co_return sent;
    }
    KEEL_LOG(kDebug) << "toolset " << config_.name << ": MCP server " << info->name << " "
                     << info->version << ", protocol " << info->protocol_version;
    initialized_ = true;
    co_return Status::Ok();
  }

  ToolsetConfig config_;
  asio::any_io_executor executor_;
  std::shared_ptr<McpTransport> transport_;
  bool starting_ = false;
  bool initialized_ = false;
  bool listed_ = false;
  std::vector<ToolSpec> tools_;
  std::optional<Clock::time_point> restart_at_;
  int backoff_ms_ = kBackoffFirstMs;
  std::string last_failure_;
};

class McpToolset;

class McpTool final : public Tool {
 public:
  McpTool(McpToolset& owner, ToolSpec spec) : owner_(owner), spec_(std::move(spec)) {}
  const ToolSpec& spec() const override { return spec_; }
  Task<Result<ToolOutput>> call(const Json& arguments, CancelPtr cancel) override;

 private:
  McpToolset& owner_;
  ToolSpec spec_;
};

class McpToolset final : public Toolset {
 public:
  explicit McpToolset(const ToolsetConfig& config) : config_(config) {}
  ~McpToolset() override {
    std::lock_guard lock(mutex_);
    for (auto& [thread, client] : clients_) client->close();
  }

  const ToolsetConfig& config() const override { return config_; }

  Task<Result<std::vector<ToolPtr>>> tools(CancelPtr cancel) override {
    McpClient& mcp = *co_await client();
    auto specs = co_await mcp.list(cancel);
    if (!specs) co_return specs.error();
    std::vector<ToolPtr> tools;
    for (auto& spec : *specs) {
      if (!config_.allow.empty() &&
          std::find(config_.allow.begin(), config_.allow.end(), spec.name) == config_.allow.end()) {
        continue;
      }
      tools.push_back(std::make_shared<McpTool>(*this, spec));
    }
    co_return tools;
  }

  Task<McpClient*> client() {
    auto executor = co_await asio::this_coro::executor;
    std::lock_guard lock(mutex_);
    auto& slot = clients_[std::this_thread::get_id()];
    if (!slot) slot = std::make_unique<McpClient>(config_, executor);
    co_return slot.get();
  }

 private:
  ToolsetConfig config_;
  std::mutex mutex_;
  std::map<std::thread::id, std::unique_ptr<McpClient>> clients_;
};

Task<Result<ToolOutput>> McpTool::call(const Json& arguments, CancelPtr cancel) {
  McpClient& mcp = *co_await owner_.client();
  auto result = co_await mcp.call(spec_.name, arguments, cancel);
  if (!result) co_return result.error();
  co_return ToolOutput{std::move(result->text), result->is_error};
}

}  // namespace

std::unique_ptr<Toolset> make_mcp_toolset(const ToolsetConfig& config) {
  return std::make_unique<McpToolset>(config);
}

}  // namespace keel
