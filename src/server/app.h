// keel's HTTP surface (DESIGN.md "HTTP surface"): routes, auth, metrics, request records.
// Every route is wrapped once: bad input becomes the OpenAI error shape with a fitting status.
//
//   App app(config, std::move(router), std::move(store));
//   Server server(options, [&app](Request& req, ResponseWriter& res) { return app.handle(req, res); });
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>

#include "core/config.h"
#include "evals/shadow.h"
#include "flows/flow_set.h"
#include "http/server.h"
#include "prompts/prompt_set.h"
#include "router/router.h"
#include "server/metrics.h"
#include "server/public_names.h"
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

class Admin;
class OtlpExporter;
class Toolbox;
namespace knowledge {
class KnowledgeSet;
class VectorStores;
}  // namespace knowledge

class App {
 public:
  App(Config config, std::unique_ptr<Router> router, std::unique_ptr<Store> store);
  ~App();

  // Promotion without a restart (reload.cpp): reads the config file keel started with again,
  // checks it, builds its providers and router, and swaps the router in; requests in flight
  // finish on the router they started with. On any error nothing changes and the error says
  // why. Providers, models, router, pricing, knowledge bases and the public names (copilots,
  // chat flows: set_public_names_source) take effect; other sections changed are named in the
  // answer's `needs_restart`. Any thread; one reload at a time.
  Result<Json> reload();

  Task<void> handle(Request& request, ResponseWriter& response);

  // The body of an error the HTTP server answers itself (ServerOptions::error_body), in the
  // shape of the API that `target` belongs to.
  static std::string server_error_body(int status, std::string_view message,
                                       std::string_view target);
  // ServerOptions::header_check: a 401 for an API route without a valid key, decided on the
  // header alone, so the body is never read and `Expect: 100-continue` never answered.
  std::optional<ServerReply> check_header(const RequestHead& head) const;

  Router& router() { return *current_router(); }
  std::shared_ptr<Router> current_router() const;
  Store& store() { return *store_; }
  Metrics& metrics() { return metrics_; }
  evals::ShadowMirror& shadow() { return shadow_; }
  // The server, for /metrics' in-flight gauge; optional.
  void set_server(const Server* server) { server_ = server; }
  // The configured toolsets; models with `tools:` run the tool loop through it. Optional.
  void set_toolbox(Toolbox* toolbox) { toolbox_ = toolbox; }
  // The config's prompts (PromptSet::load), for /v1/prompts/{name}/run; none by default.
  void set_prompts(std::shared_ptr<const PromptSet> prompts) { prompts_ = std::move(prompts); }
  // The config's flows (FlowSet::load), for /v1/flows/{name}/run; none by default.
  void set_flows(std::shared_ptr<const FlowSet> flows) { flows_ = std::move(flows); }
  // Public names that are not router models (copilots; server/public_names.h): listed by
  // GET /v1/models and served by every front door. Set before the server starts; reload()
  // swaps in a new set when a source is set (requests in flight keep the set they started on).
  void set_public_names(std::shared_ptr<const PublicNames> names);
  // How reload() rebuilds the public names from the new config: `check` before anything
  // changes (a failure leaves everything as it was), `build` once the knowledge bases are
  // reloaded, with the new router (not yet serving).
  struct PublicNamesSource {
    std::function<Status(const Config& next)> check;
    std::function<Result<std::shared_ptr<const PublicNames>>(const Config& next,
                                                             const Router& router)>
        build;
  };
  void set_public_names_source(PublicNamesSource source) { names_source_ = std::move(source); }
  std::shared_ptr<const PublicNames> current_public_names() const;
  // The running config: as started, then each reload's (reload.cpp).
  std::shared_ptr<const Config> current_config() const;
  // The config's knowledge bases (KnowledgeSet::open), by name; none by default.
  void set_knowledge(std::shared_ptr<knowledge::KnowledgeSet> knowledge) {
    knowledge_ = std::move(knowledge);
  }
  knowledge::KnowledgeSet* knowledge() const { return knowledge_.get(); }
  // Uploaded files and vector stores (/v1/files, /v1/vector_stores); none by default.
  void set_vector_stores(std::shared_ptr<knowledge::VectorStores> stores) {
    vector_stores_ = std::move(stores);
  }

  // Every route keel serves, in the order they are matched (src/server/routes.h).
  static std::span<const Route> routes();
  // routes(), indexed for lookups (routes.h).
  static const RouteTable& route_table();

 private:
  // The handlers of routes(), one per row.
  Task<void> healthz(RouteCall& call);
  Task<void> console_file(RouteCall& call);
  Task<void> admin_requests(RouteCall& call);
  Task<void> admin_request(RouteCall& call);
  Task<void> admin_trace(RouteCall& call);  // GET /admin/traces/{id}
  Task<void> admin_models(RouteCall& call);
  Task<void> admin_reload_route(RouteCall& call);
  Task<void> mcp_route(RouteCall& call);
  Task<void> admin_shadow_route(RouteCall& call);
  Task<void> admin_evals(RouteCall& call);
  Task<void> admin_eval(RouteCall& call);
  Task<void> admin_eval_compare(RouteCall& call);
  Task<void> admin_shadows(RouteCall& call);
  Task<void> admin_flows(RouteCall& call);
  Task<void> admin_copilots(RouteCall& call);
  Task<void> admin_knowledge(RouteCall& call);
  Task<void> admin_validate_copilot(RouteCall& call);
  Task<void> metrics_text(RouteCall& call);
  Task<void> list_models(RouteCall& call);
  Task<void> get_model(RouteCall& call);
  Task<void> chat_completions(RouteCall& call);
  Task<void> completions(RouteCall& call);  // OpenAI's legacy text completions
  Task<void> messages(RouteCall& call);
  Task<void> count_tokens(RouteCall& call);
  Task<void> embeddings(RouteCall& call);
  Task<void> run_prompt(RouteCall& call);      // src/server/prompts.cpp
  Task<void> run_flow_route(RouteCall& call);  // src/server/flows.cpp
  // /v1/files and /v1/vector_stores, OpenAI's shapes (src/server/knowledge.cpp).
  Task<void> files_route(RouteCall& call);
  Task<void> file_route(RouteCall& call);
  Task<void> file_content_route(RouteCall& call);
  Task<void> vector_stores_route(RouteCall& call);
  Task<void> vector_store_route(RouteCall& call);
  Task<void> vector_store_files_route(RouteCall& call);
  Task<void> vector_store_file_route(RouteCall& call);
  Task<void> vector_store_search_route(RouteCall& call);

  // /v1/chat/completions (OpenAI), /v1/completions (OpenAI's text completions) and /v1/messages
  // (Anthropic): one path through the router.
  Task<void> chat(Request& request, ResponseWriter& response, RequestRecord& record,
                  ApiFormat format);
  // POST /v1/responses and the stored Responses state (server/responses.cpp).
  Task<void> responses(Request& request, ResponseWriter& response, RequestRecord& record);
  // The stored-state routes, one handler per row (server/responses.cpp).
  Task<void> create_response(RouteCall& call);
  Task<void> get_or_delete_response(RouteCall& call);
  Task<void> response_input_items(RouteCall& call);
  Task<void> create_conversation(RouteCall& call);
  Task<void> conversation(RouteCall& call);
  Task<void> conversation_items(RouteCall& call);
  Task<void> conversation_item(RouteCall& call);
  Task<void> state_route(RouteCall& call, int which);
  // A chat's outcome into its record; a failure the client has not seen yet is sent to it.
  Task<void> settle(ResponseWriter& response, ChatOutcome& outcome, RequestRecord& record,
                    ApiFormat format);
  // The router's answer to `chat` in `format`'s shape, streamed when chat.stream; `shape`
  // reshapes the request per attempt (prompt variants). `body`: the request, for log_content.
  Task<void> answer_chat(std::shared_ptr<Router> router, const ChatRequest& chat, std::string_view body,
                         ResponseWriter& response, RequestRecord& record, ApiFormat format,
                         const RequestShaper& shape = {});
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
  // The request's router, or the tool loop over it when the model has `tools:`.
  // `trace`: where the tool loop's tool calls are recorded (the request's trace).
  Task<ChatOutcome> route_chat(Router& router, const ChatRequest& chat, EventSink& sink,
                               CancelPtr client_gone, const RequestShaper& shape = {},
                               TraceContext trace = {});
  // The public name's handler when `name` is not a router model (public_names.h); else null.
  // It keeps the set it belongs to alive (a reload may swap the set meanwhile).
  std::shared_ptr<const PublicName> public_name(const std::string& name) const;
  // Whether any front door answers `name`: a model of `router` or another public name.
  bool serves(const Router& router, const std::string& name) const;
  bool authorized(const bhttp::fields& fields) const;
  // Why a request may not use a route of `access` (401 no or wrong key, 403 /admin is off);
  // nullopt when it may.
  std::optional<Error> refusal(Access access, const bhttp::fields& fields) const;
  void finish(RequestRecord& record, std::chrono::steady_clock::time_point start);

  Task<void> admin_reload(ResponseWriter& response);
  // GET /admin/shadow/{model}: the mirror's counters and the stored pairs' report (reload.cpp).
  Task<void> admin_shadow(ResponseWriter& response, std::string_view model);

  Config config_;  // as keel started; the running one is current_config()
  // Guards router_, public_names_ and live_config_ (a reload swaps them).
  mutable std::mutex router_mutex_;
  std::shared_ptr<const Config> live_config_;
  std::shared_ptr<Router> router_;
  std::mutex reload_mutex_;  // one reload at a time
  std::unique_ptr<Store> store_;
  Metrics metrics_;
  evals::ShadowMirror shadow_{*store_, [this] { return current_config(); }};
  const Server* server_ = nullptr;
  Toolbox* toolbox_ = nullptr;
  std::shared_ptr<const PromptSet> prompts_;
  std::shared_ptr<const FlowSet> flows_;
  std::shared_ptr<const PublicNames> public_names_;
  PublicNamesSource names_source_;
  std::shared_ptr<knowledge::KnowledgeSet> knowledge_;
  std::shared_ptr<knowledge::VectorStores> vector_stores_;
  std::atomic<int> in_flight_{0};
  std::vector<std::string> key_ids_;  // key_id_of each of config_.api_keys
  std::unique_ptr<Admin> admin_;  // /admin/... (admin.h)
  std::unique_ptr<OtlpExporter> otlp_;  // with tracing.otlp_endpoint (otlp_exporter.h)
};

}  // namespace keel
