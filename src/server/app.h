// keel's HTTP surface (DESIGN.md "HTTP surface"): routes, auth, metrics, request records.
// Every route is wrapped once: bad input becomes the OpenAI error shape with a fitting status.
//
//   App app(config, std::move(router), std::move(store));
//   Server server(options, [&app](Request& req, ResponseWriter& res) { return app.handle(req, res); });
#pragma once

#include <atomic>
#include <memory>

#include "core/config.h"
#include "http/server.h"
#include "router/router.h"
#include "server/metrics.h"
#include "store/store.h"

namespace keel {

class Toolbox;

// Which API a route speaks, for its error bodies and stream format.
enum class ApiFormat { kOpenAI, kAnthropic };

class App {
 public:
  App(Config config, std::unique_ptr<Router> router, std::unique_ptr<Store> store);

  Task<void> handle(Request& request, ResponseWriter& response);

  // The body of an error the HTTP server answers itself (ServerOptions::error_body), in the
  // shape of the API that `target` belongs to.
  static std::string server_error_body(int status, std::string_view message,
                                       std::string_view target);
  // ServerOptions::header_check: a 401 for an API route without a valid key, decided on the
  // header alone, so the body is never read and `Expect: 100-continue` never answered.
  std::optional<ServerReply> check_header(const RequestHead& head) const;

  Router& router() { return *router_; }
  Store& store() { return *store_; }
  Metrics& metrics() { return metrics_; }
  // The server, for /metrics' in-flight gauge; optional.
  void set_server(const Server* server) { server_ = server; }
  // The configured toolsets; models with `tools:` run the tool loop through it. Optional.
  void set_toolbox(Toolbox* toolbox) { toolbox_ = toolbox; }

 private:
  // /v1/chat/completions (OpenAI) and /v1/messages (Anthropic): one path through the router.
  Task<void> chat(Request& request, ResponseWriter& response, RequestRecord& record,
                  ApiFormat format);
  Task<void> embeddings(Request& request, ResponseWriter& response, RequestRecord& record);
  Task<void> count_tokens(Request& request, ResponseWriter& response, RequestRecord& record);
  Task<void> models(ResponseWriter& response, std::string_view name, ApiFormat format);
  // POST /mcp: keel's toolsets as an MCP server (src/server/mcp_route.cpp).
  Task<void> mcp(Request& request, ResponseWriter& response, RequestRecord& record);
  Task<void> send_error(ResponseWriter& response, const Error& error, RequestRecord* record,
                        ApiFormat format = ApiFormat::kOpenAI);
  // A router's failure: a cancelled request (the client went away) is logged as 499 and gets
  // no answer; any other error is sent in `format`'s shape.
  Task<void> send_failure(ResponseWriter& response, const Error& error, RequestRecord& record,
                          ApiFormat format);
  // Router::chat, or the tool loop (tools/loop.h) for a model whose config names tools.
  Task<ChatOutcome> route_chat(const ChatRequest& chat, EventSink& sink, CancelPtr client_gone);
  bool authorized(const bhttp::fields& fields) const;
  void finish(RequestRecord& record, std::chrono::steady_clock::time_point start);

  Config config_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<Store> store_;
  Metrics metrics_;
  const Server* server_ = nullptr;
  Toolbox* toolbox_ = nullptr;
  std::atomic<int> in_flight_{0};
};

}  // namespace keel
