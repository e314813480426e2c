// keel's HTTP surface (DESIGN.md "HTTP surface"): routes, auth, metrics, request records.
// Every route is wrapped once: bad input becomes the OpenAI error shape with a fitting status.
//
//   App app(config, std::move(router), std::move(store));
//   Server server(options, [&app](Request& req, ResponseWriter& res) { return app.handle(req, res); });
#pragma once

#include <atomic>
#include <memory>

#include "core/config.h"
#include "flows/flow_set.h"
#include "http/server.h"
#include "prompts/prompt_set.h"
#include "router/router.h"
#include "server/metrics.h"
#include "server/routes.h"
#include "store/store.h"

namespace keel {

// What a route's handler gets (server/routes.h).
struct RouteCall {
  Request& request;
  ResponseWriter& response;
  RequestRecord& record;   // logged as the request's record when the route is `logged`
  ApiFormat format;        // the shape of this request's errors
  std::vector<std::string_view> params;   // the route pattern's {names}, into the path
};

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
  // The config's prompts (PromptSet::load), for /v1/prompts/{name}/run; none by default.
  void set_prompts(std::shared_ptr<const PromptSet> prompts) { prompts_ = std::move(prompts); }
  // The config's flows (FlowSet::load), for /v1/flows/{name}/run; none by default.
  void set_flows(std::shared_ptr<const FlowSet> flows) { flows_ = std::move(flows); }

  // Every route keel serves, in the order they are matched (src/server/routes.h).
  static std::span<const Route> routes();

 private:
  // The handlers of routes(), one per row.
  Task<void> healthz(RouteCall& call);
  Task<void> metrics_text(RouteCall& call);
  Task<void> list_models(RouteCall& call);
  Task<void> get_model(RouteCall& call);
  Task<void> chat_completions(RouteCall& call);
  Task<void> messages(RouteCall& call);
  Task<void> count_tokens(RouteCall& call);
  Task<void> embeddings(RouteCall& call);
  Task<void> run_prompt(RouteCall& call);      // src/server/prompts.cpp
  Task<void> run_flow_route(RouteCall& call);  // src/server/flows.cpp

  // /v1/chat/completions (OpenAI) and /v1/messages (Anthropic): one path through the router.
  Task<void> chat(Request& request, ResponseWriter& response, RequestRecord& record,
                  ApiFormat format);
  // The router's answer to `chat` in `format`'s shape, streamed when chat.stream; `shape`
  // reshapes the request per attempt (prompt variants). `body`: the request, for log_content.
  Task<void> answer_chat(const ChatRequest& chat, std::string_view body, ResponseWriter& response,
                         RequestRecord& record, ApiFormat format, const RequestShaper& shape = {});
  Task<void> models(ResponseWriter& response, std::string_view name, ApiFormat format);
  Task<void> send_error(ResponseWriter& response, const Error& error, RequestRecord* record,
                        ApiFormat format = ApiFormat::kOpenAI);
  // A router's failure: a cancelled request (the client went away) is logged as 499 and gets
  // no answer; any other error is sent in `format`'s shape.
  Task<void> send_failure(ResponseWriter& response, const Error& error, RequestRecord& record,
                          ApiFormat format);
  bool authorized(const bhttp::fields& fields) const;
  void finish(RequestRecord& record, std::chrono::steady_clock::time_point start);

  Config config_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<Store> store_;
  Metrics metrics_;
  const Server* server_ = nullptr;
  std::shared_ptr<const PromptSet> prompts_;
  std::shared_ptr<const FlowSet> flows_;
  std::atomic<int> in_flight_{0};
};

}  // namespace keel
