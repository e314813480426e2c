// MCP transports (the SDK's split: transport apart from protocol apart from client). A transport
// carries JSON-RPC requests to one server and brings back their results, in any order.
//
//   auto transport = make_stdio_transport(config);        // or make_http_transport(config)
//   co_await transport->open(cancel);
//   auto result = co_await transport->request("tools/list", Json::object(), cancel);
//
// Contract: one transport belongs to one io thread; every method runs on it. request() returns
// the result of the response with its id, an Error for a JSON-RPC error (kBadGateway, with the
// server's message) or for a lost connection (kUnavailable), or the token's reason when `cancel`
// fires (then the server is told with notifications/cancelled).
#pragma once

#include <memory>
#include <string>

#include "api/chat.h"
#include "core/cancel.h"
#include "core/config.h"
#include "http/asio.h"

namespace keel {

class McpTransport {
 public:
  virtual ~McpTransport() = default;
  virtual Task<Status> open(CancelPtr cancel) = 0;
  // False once the connection is gone (a stdio server exited, an HTTP session expired).
  virtual bool alive() const = 0;
  // Why it is not alive, for error messages.
  virtual std::string down_reason() const = 0;
  virtual Task<Result<Json>> request(std::string method, Json params, CancelPtr cancel) = 0;
  virtual Task<Status> notify(std::string method, Json params) = 0;
  // Ends the connection now (kills a stdio server). Safe to call twice.
  virtual void close() = 0;
  // The server sent notifications/tools/list_changed since the last call.
  bool take_list_changed() { return std::exchange(list_changed_, false); }

 protected:
  bool list_changed_ = false;
};

std::shared_ptr<McpTransport> make_stdio_transport(const ToolsetConfig& config,
                                                   asio::any_io_executor executor);
std::shared_ptr<McpTransport> make_http_transport(const ToolsetConfig& config);

}  // namespace keel
