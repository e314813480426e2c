// MCP over streamable HTTP: each message is a POST to the server's URL; the answer is one JSON
// message or an SSE stream that carries the response (and maybe notifications) before it ends.
// The session id the server gives at initialize (Mcp-Session-Id) goes with every later message.
#include "api/json_util.h"
#include "api/mcp.h"
#include "http/client.h"
#include "http/sse.h"
#include "tools/mcp/transport.h"

namespace keel {

namespace {

constexpr size_t kMaxBody = 64 << 20;

class HttpTransport final : public McpTransport {
 public:
  explicit HttpTransport(const ToolsetConfig& config) : config_(config) {}

  Task<Status> open(CancelPtr) override {
    auto url = Url::parse(config_.url);
    if (!url) co_return url.error();
    url_ = *url;
    alive_ = true;
    session_id_.clear();
    co_return Status::Ok();
  }
  bool alive() const override { return alive_; }
  std::string down_reason() const override { return down_reason_; }

  Task<Result<Json>> request(std::string method, Json params, CancelPtr cancel) override {
    if (!alive_) co_return Error(ErrorCode::kUnavailable, down_reason_);
    const int64_t id = next_id_++;
    auto response = co_await post(jsonrpc_request(id, method, params), cancel);
    if (!response) co_return response.error();
    ClientResponse& answer = **response;
    if (method == "initialize") session_id_ = answer.header("mcp-session-id");
    const std::string type = answer.header("content-type");
    std::optional<Result<Json>> result;
    if (type.find("text/event-stream") != std::string::npos) {
      SseParser parser;
      while (!result) {
        auto chunk = co_await answer.read_some();
        if (!chunk) co_return chunk.error();
        if (chunk->empty()) break;
        parser.feed(*chunk, [&](const SseEvent& event) {
          if (!result && !event.data.empty()) handle(event.data, id, result);
        });
      }
    } else {
      auto body = co_await answer.read_all(kMaxBody);
      if (!body) co_return body.error();
      handle(*body, id, result);
    }
    if (!result) {
      co_return Error(ErrorCode::kBadGateway,
                      "the MCP server answered " + method + " without a response");
    }
    if (method == "initialize" && result->ok()) {
      if (auto version = result->value().find("protocolVersion");
          version != result->value().end() && version->is_string()) {
        protocol_version_ = version->get<std::string>();
      }
    }
    co_return std::move(*result);
  }

  Task<Status> notify(std::string method, Json params) override {
    if (!alive_) co_return Status(ErrorCode::kUnavailable, down_reason_);
    auto response =
        co_await post(jsonrpc_notification(method, params), std::make_shared<CancelToken>());
    if (!response) co_return response.error();
    co_await (*response)->read_all(kMaxBody);
    co_return Status::Ok();
  }

  void close() override {
    alive_ = false;
    down_reason_ = "the MCP session was closed";
  }

 private:
  Task<Result<std::unique_ptr<ClientResponse>>> post(std::string body, CancelPtr cancel) {
    ClientRequest request;
    request.method = "POST";
    request.url = url_;
    request.body = std::move(body);
    request.headers = {{"content-type", "application/json"},
                       {"accept", "application/json, text/event-stream"}};
    if (!session_id_.empty()) request.headers.emplace_back("mcp-session-id", session_id_);
    if (!protocol_version_.empty()) {
      request.headers.emplace_back("mcp-protocol-version", protocol_version_);
    }
    for (const auto& [name, value] : config_.headers) request.headers.emplace_back(name, value);
    auto response = co_await http_send(std::move(request), cancel);
    if (!response) co_return response.error();
    const int status = (*response)->status();
    if (status == 404 && !session_id_.empty()) {
      alive_ = false;
      down_reason_ = "the MCP server ended the session";
      co_return Error(ErrorCode::kUnavailable, down_reason_);
    }
    if (status < 200 || status >= 300) {
      co_return Error(ErrorCode::kBadGateway,
                      "the MCP server answered HTTP " + std::to_string(status));
    }
    co_return response;
  }

  // One message of the answer: the response to `id` fills `result`; notifications are noted.
  void handle(std::string_view text, int64_t id, std::optional<Result<Json>>& result) {
    auto json = try_parse_json(text);
    if (!json) {
      result = Error(ErrorCode::kBadGateway, "the MCP server sent something that is not JSON");
      return;
    }
    auto message = jsonrpc_from_json(*json);
    if (!message) {
      result = Error(ErrorCode::kBadGateway, message.error().message);
      return;
    }
    using Kind = JsonRpcMessage::Kind;
    if (message->kind == Kind::kNotification) {
      if (message->method == "notifications/tools/list_changed") list_changed_ = true;
      return;
    }
    if (message->kind == Kind::kRequest) return;  // keel offers no client capabilities
    if (!message->id.is_number_integer() || message->id.get<int64_t>() != id) return;
    if (message->kind == Kind::kResponse) {
      result = std::move(message->result);
    } else {
      result = Error(ErrorCode::kBadGateway, "MCP error " + std::to_string(message->error_code) +
                                                 ": " + message->error_message);
    }
  }

  ToolsetConfig config_;
  Url url_;
  bool alive_ = false;
  std::string down_reason_ = "not started";
  std::string session_id_;
  std::string protocol_version_;
  int64_t next_id_ = 1;
};

}  // namespace

std::shared_ptr<McpTransport> make_http_transport(const ToolsetConfig& config) {
  return std::make_shared<HttpTransport>(config);
}

}  // namespace keel
