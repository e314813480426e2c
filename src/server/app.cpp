#include "server/app.h"

#include "api/anthropic/anthropic.h"
#include "api/json_util.h"
#include "api/mcp.h"
#include "api/openai_chat/openai_chat.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/text.h"
#include "http/sse.h"
#include "server/admin.h"
#include "server/auth.h"
#include "server/console.h"
#include "server/otlp_exporter.h"
#include "server/stream_sink.h"
#include "tools/loop.h"
#include "tools/toolbox.h"

namespace keel {

namespace {

using std::chrono::steady_clock;

constexpr std::string_view kJson = "application/json";
using Headers = std::vector<std::pair<std::string, std::string>>;

std::string dump(const Json& json) { return json_text(json); }

bool is_json_content_type(std::string_view value) {
  // "application/json", optionally with parameters ("; charset=utf-8"), any case.
  std::string_view media = value.substr(0, value.find(';'));
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  return beast::iequals(beast::string_view(media.data(), media.size()), "application/json");
}

// The model a body the parser refused names ("" when it is not a JSON object with a string
// "model"), so that the request log says which model a 400 was for. Only on the error path: the
// parsers that refused the body keep no partial result.
std::string model_named_in(std::string_view body) {
  const Json json = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return {};
  const auto model = json.find("model");
  return model != json.end() && model->is_string() ? model->get<std::string>() : std::string();
}

// OpenAI chat.completion.chunk frames; a terminal error is an error object and never [DONE].
class OpenAISseSink final : public StreamSink {
 public:
  OpenAISseSink(ResponseWriter& writer, const ChatRequest& request, std::string id,
                std::string request_id, ChatAggregator* transcript)
      : StreamSink(writer, std::move(request_id), transcript),
        encoder_(std::move(id), request.model, unix_seconds(), request.include_usage) {}

 protected:
  void append_frames(const ChatEvent& event, std::string& out) override {
    if (event.kind == ChatEvent::Kind::kError) {
      append_sse_frame(out, dump(error_to_wire(event.error)));
      return;
    }
    // The bytes dump() gives, without Json trees, each chunk framed straight into `out`.
    encoder_.encode_text(event, [&out](std::string_view chunk) { append_sse_frame(out, chunk); });
  }
  std::string closing_frames() override { return "data: [DONE]\n\n"; }

 private:
  OpenAIStreamEncoder encoder_;
};

// OpenAI text_completion frames (POST /v1/completions), errors and [DONE] as chat's.
class CompletionSseSink final : public StreamSink {
 public:
  CompletionSseSink(ResponseWriter& writer, const ChatRequest& request, std::string id,
                    std::string request_id, ChatAggregator* transcript)
      : StreamSink(writer, std::move(request_id), transcript),
        encoder_(std::move(id), request.model, unix_seconds(), request.include_usage) {}

 protected:
  void append_frames(const ChatEvent& event, std::string& out) override {
    chunks_.clear();
    if (event.kind == ChatEvent::Kind::kError) {
      chunks_.push_back(error_to_wire(event.error));
    } else {
      encoder_.encode(event, chunks_);
    }
    for (const Json& chunk : chunks_) append_sse_frame(out, dump(chunk));
  }
  std::string closing_frames() override { return "data: [DONE]\n\n"; }

 private:
  CompletionStreamEncoder encoder_;
  std::vector<Json> chunks_;
};

// Anthropic Messages stream events (message_start ... message_stop, or an error event).
class AnthropicSseSink final : public StreamSink {
 public:
  AnthropicSseSink(ResponseWriter& writer, const ChatRequest& request, std::string id,
                   std::string request_id, ChatAggregator* transcript)
      : StreamSink(writer, request_id, transcript),
        encoder_(std::move(id), request.model, request_id) {}

 protected:
  void append_frames(const ChatEvent& event, std::string& out) override {
    events_.clear();
    encoder_.encode(event, events_);
    render(out);
  }
  std::string closing_frames() override {
    events_.clear();
    encoder_.finish(events_);
    std::string frames;
    render(frames);
    return frames;
  }

 private:
  void render(std::string& out) const {
    for (const auto& event : events_) append_sse_frame(out, dump(event.data), event.name);
  }
  AnthropicStreamEncoder encoder_;
  std::vector<AnthropicSseEvent> events_;
};

class AggregatingSink final : public EventSink {
 public:
  Task<bool> on_event(ChatEvent event) override {
    aggregator_.add(event);
    co_return true;
  }
  Task<bool> on_events(std::vector<ChatEvent>& events) override {
    for (const auto& event : events) aggregator_.add(event);
    co_return true;
  }
  ChatAggregator& aggregator() { return aggregator_; }

 private:
  ChatAggregator aggregator_;
};

}  // namespace

App::App(Config config, std::unique_ptr<Router> router, std::unique_ptr<Store> store)
    : config_(std::move(config)),
      live_config_(std::make_shared<const Config>(config_)),
      router_(std::move(router)),
      store_(std::move(store)),
      metrics_(router_->model_names()),
      admin_(std::make_unique<Admin>([this] { return current_config(); }, *store_)) {
  for (const auto& key : config_.api_keys) key_ids_.push_back(key_id_of(key));
  if (auto exporter = OtlpExporter::start(config_.tracing, config_.providers)) {
    otlp_ = std::move(*exporter);
  } else {
    KEEL_LOG(kError) << exporter.error().message << "; traces are not exported";
  }
}

App::~App() = default;

std::string App::server_error_body(int status, std::string_view message,
                                   std::string_view target) {
  Error error(status == 413 ? ErrorCode::kPayloadTooLarge : ErrorCode::kInvalidArgument,
              std::string(message));
  const std::string_view path = target.substr(0, target.find('?'));
  const RouteMatch match = route_table().match(path, bhttp::verb::post);
  const bool anthropic = match.path_route && match.path_route->format == ApiFormat::kAnthropic;
  return dump(anthropic ? anthropic_error_to_wire(error, new_id("req_")) : error_to_wire(error));
}

namespace {

// A client's model name as the request log and error messages keep it: a name is short, and a
// client sending megabytes of one must not add megabytes to the log per request.
std::string loggable_name(const std::string& name) {
  constexpr size_t kMaxLoggedName = 256;
  return name.size() <= kMaxLoggedName ? name : truncate_utf8(name, kMaxLoggedName) + "...";
}

// An error body in the route's API's shape. JSON-RPC's has no request to answer yet: id null,
// code -32000 (the implementation-defined server errors), the HTTP status saying the rest.
std::string error_body(const Error& error, ApiFormat format, const std::string& request_id) {
  if (format == ApiFormat::kJsonRpc) return jsonrpc_error(Json(), -32000, error.message);
  return dump(format == ApiFormat::kAnthropic ? anthropic_error_to_wire(error, request_id)
                                              : error_to_wire(error));
}

Error unauthenticated() {
  Error error(ErrorCode::kUnauthenticated, "missing or invalid API key");
  error.type_code = "invalid_api_key";
  return error;
}

}  // namespace

std::optional<ServerReply> App::check_header(const RequestHead& head) const {
  if (config_.api_keys.empty() && config_.admin_keys.empty()) return std::nullopt;
  const std::string_view path =
      request_path(std::string_view(head.target().data(), head.target().size()));
  const RouteMatch match = route_table().match(path, head.method());
  if (!match.path_known) return std::nullopt;
  const std::optional<Error> error = refusal(match.path_route->access, head);
  if (!error) return std::nullopt;
  const ApiFormat format = route_format(*match.path_route, head);
  ServerReply reply;
  reply.status = http_status_for(error->code);
  // As send_error: every error names a request id (Anthropic's request_id is always a string).
  std::string request_id = new_id("req_");
  reply.body = error_body(*error, format, request_id);
  reply.headers.emplace_back("x-request-id", std::move(request_id));
  return reply;
}

std::optional<Error> App::refusal(Access access, const bhttp::fields& fields) const {
  switch (access) {
    case Access::kOpen:
      return std::nullopt;
    case Access::kApiKey:
      if (authorized(fields)) return std::nullopt;
      return unauthenticated();
    case Access::kAdmin:
      // Who may read /admin: server/admin.h.
      if (!config_.admin_keys.empty()) {
        if (key_listed(config_.admin_keys, presented_key(fields))) return std::nullopt;
        Error error(ErrorCode::kUnauthenticated, "missing or invalid admin key");
        error.type_code = "invalid_api_key";
        return error;
      }
      if (config_.api_keys.empty()) return std::nullopt;
      return Error(ErrorCode::kPermissionDenied,
                   "the admin API is off: keel has api_keys but no admin_keys (set admin_keys "
                   "to read /admin)");
  }
  return std::nullopt;
}

bool App::authorized(const bhttp::fields& fields) const {
  return config_.api_keys.empty() || key_listed(config_.api_keys, presented_key(fields));
}

Task<void> App::send_error(ResponseWriter& response, const Error& error, RequestRecord* record,
                           ApiFormat format) {
  int status = http_status_for(error.code);
  Headers headers;
  if (error.retry_after_ms) {
    headers.emplace_back("retry-after", std::to_string((*error.retry_after_ms + 999) / 1000));
  }
  if (record) {
    record->status = status;
    record->error_class = error_code_name(error.code);
  }
  // An error before the request has a record (401, 404 route) still gets an id: Anthropic's
  // request_id is always a string.
  const std::string request_id = record ? record->id : new_id("req_");
  headers.emplace_back("x-request-id", request_id);
  co_await response.send(status, kJson, error_body(error, format, request_id), headers);
}

Task<void> App::send_failure(ResponseWriter& response, const Error& error, RequestRecord& record,
                              ApiFormat format) {
  if (error.code == ErrorCode::kCancelled) {   // the client is gone: nobody to answer
    record.status = 499;
    record.error_class = error_code_name(ErrorCode::kCancelled);
    co_return;
  }
  co_await send_error(response, error, &record, format);
}

namespace {
// One access log line: what an operator needs to see a request without opening the database.
std::string access_log_line(const RequestRecord& record) {
  std::string line = "access " + record.id + " " + record.endpoint +
                     " model=" + (record.model.empty() ? "-" : record.model) + " target=";
  if (record.attempts.empty()) {
    line += '-';
  } else {
    const AttemptRecord& last = record.attempts.back();
    line += last.provider + "/" + last.target_model;
  }
  line += " status=" + std::to_string(record.status) + " ms=" + std::to_string(record.latency_ms);
  if (record.ttft_ms >= 0) line += " ttft_ms=" + std::to_string(record.ttft_ms);
  line += " tokens=" + std::to_string(record.prompt_tokens) + "+" +
          std::to_string(record.completion_tokens) +
          " attempts=" + std::to_string(record.attempts.size());
  if (record.stream) line += " stream";
  if (!record.error_class.empty()) line += " error=" + record.error_class;
  return line;
}
}  // namespace

void App::finish(RequestRecord& record, steady_clock::time_point start) {
  record.latency_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - start).count();
  metrics_.on_record(record);
  // The line is built only when it is written (KEEL_LOG checks the level first).
  if (config_.access_log) {
    KEEL_LOG(kInfo) << access_log_line(record);
  } else {
    KEEL_LOG(kDebug) << access_log_line(record);
  }
  if (otlp_) otlp_->add(record);
  store_->record(std::move(record));
}

std::span<const Route> App::routes() {
  using enum bhttp::verb;
  // Literal rows before the patterns that could shadow them (GET /v1/models/{model...}).
  static const Route table[] = {
      {.pattern = "/healthz", .methods = {get}, .access = Access::kOpen, .handler = &App::healthz},
      // The web console's files (console.h).
      {.pattern = "/", .methods = {get}, .access = Access::kOpen, .handler = &App::console_file},
      {.pattern = "/index.html",
       .methods = {get},
       .access = Access::kOpen,
       .handler = &App::console_file},
      {.pattern = "/console/{file...}",
       .methods = {get},
       .access = Access::kOpen,
       .handler = &App::console_file},
      // What the console and operators read (admin.h).
      {.pattern = "/admin/requests",
       .methods = {get},
       .access = Access::kAdmin,
       .handler = &App::admin_requests},
      {.pattern = "/admin/requests/{id}",
       .methods = {get},
       .access = Access::kAdmin,
       .handler = &App::admin_request},
      {.pattern = "/admin/models",
       .methods = {get},
       .access = Access::kAdmin,
       .handler = &App::admin_models},
      {.pattern = "/admin/traces/{id}",
       .methods = {get},
       .access = Access::kAdmin,
       .handler = &App::admin_trace},
      {.pattern = "/admin/reload",
       .methods = {post},
       .access = Access::kAdmin,
       .handler = &App::admin_reload_route},
      {.pattern = "/admin/shadow/{model}",
       .methods = {get},
       .access = Access::kAdmin,
       .handler = &App::admin_shadow_route},
      {.pattern = "/admin/shadow",
       .methods = {get},
       .access = Access::kAdmin,
       .handler = &App::admin_shadows},
      {.pattern = "/admin/evals",
       .methods = {get},
       .access = Access::kAdmin,
       .handler = &App::admin_evals},
      {.pattern = "/admin/evals/{id}",
       .methods = {get},
       .access = Access::kAdmin,
       .handler = &App::admin_eval},
      {.pattern = "/admin/evals/{a}/compare/{b}",
       .methods = {get},
       .access = Access::kAdmin,
       .handler = &App::admin_eval_compare},
      {.pattern = "/admin/flows",
       .methods = {get},
       .access = Access::kAdmin,
       .handler = &App::admin_flows},
      {.pattern = "/admin/copilots",
       .methods = {get},
       .access = Access::kAdmin,
       .handler = &App::admin_copilots},
      {.pattern = "/admin/copilots/validate",
       .methods = {post},
       .access = Access::kAdmin,
       .handler = &App::admin_validate_copilot},
      {.pattern = "/admin/knowledge",
       .methods = {get},
       .access = Access::kAdmin,
       .handler = &App::admin_knowledge},
      {.pattern = "/metrics", .methods = {get}, .handler = &App::metrics_text},
      {.pattern = "/v1/chat/completions",
       .methods = {post},
       .logged = true,
       .handler = &App::chat_completions},
      {.pattern = "/v1/completions",
       .methods = {post},
       .format = ApiFormat::kOpenAICompletions,
       .logged = true,
       .handler = &App::completions},
      {.pattern = "/v1/messages",
       .methods = {post},
       .format = ApiFormat::kAnthropic,
       .logged = true,
       .handler = &App::messages},
      {.pattern = "/v1/messages/count_tokens",
       .methods = {post},
       .format = ApiFormat::kAnthropic,
       .logged = true,
       .handler = &App::count_tokens},
      {.pattern = "/v1/embeddings", .methods = {post}, .logged = true, .handler = &App::embeddings},
      {.pattern = "/mcp",
       .methods = {post},
       .format = ApiFormat::kJsonRpc,
       .logged = true,
       .handler = &App::mcp_route},
      {.pattern = "/v1/responses",
       .methods = {post},
       .logged = true,
       .handler = &App::create_response},
      {.pattern = "/v1/responses/{id}",
       .methods = {get, delete_},
       .handler = &App::get_or_delete_response},
      {.pattern = "/v1/responses/{id}/input_items",
       .methods = {get},
       .handler = &App::response_input_items},
      {.pattern = "/v1/conversations", .methods = {post}, .handler = &App::create_conversation},
      {.pattern = "/v1/conversations/{id}",
       .methods = {get, post, delete_},
       .handler = &App::conversation},
      {.pattern = "/v1/conversations/{id}/items",
       .methods = {get, post},
       .handler = &App::conversation_items},
      {.pattern = "/v1/conversations/{id}/items/{item_id}",
       .methods = {get, delete_},
       .handler = &App::conversation_item},
      {.pattern = "/v1/files", .methods = {get, post}, .handler = &App::files_route},
      {.pattern = "/v1/files/{id}", .methods = {get, delete_}, .handler = &App::file_route},
      {.pattern = "/v1/files/{id}/content", .methods = {get}, .handler = &App::file_content_route},
      {.pattern = "/v1/vector_stores",
       .methods = {get, post},
       .handler = &App::vector_stores_route},
      {.pattern = "/v1/vector_stores/{id}",
       .methods = {get, delete_},
       .handler = &App::vector_store_route},
      {.pattern = "/v1/vector_stores/{id}/files",
       .methods = {get, post},
       .handler = &App::vector_store_files_route},
      {.pattern = "/v1/vector_stores/{id}/files/{file_id}",
       .methods = {get, post, delete_},
       .handler = &App::vector_store_file_route},
      {.pattern = "/v1/vector_stores/{id}/search",
       .methods = {post},
       .handler = &App::vector_store_search_route},
      // File batches share the handlers of files (server/knowledge.cpp tells them apart).
      {.pattern = "/v1/vector_stores/{id}/file_batches",
       .methods = {post},
       .handler = &App::vector_store_files_route},
      {.pattern = "/v1/vector_stores/{id}/file_batches/{batch_id}",
       .methods = {get},
       .handler = &App::vector_store_file_route},
      {.pattern = "/v1/vector_stores/{id}/file_batches/{batch_id}/cancel",
       .methods = {post},
       .handler = &App::vector_store_file_route},
      {.pattern = "/v1/vector_stores/{id}/file_batches/{batch_id}/files",
       .methods = {get},
       .handler = &App::vector_store_file_route},
      {.pattern = "/v1/models",
       .methods = {get},
       .format_by_client = true,
       .handler = &App::list_models},
      {.pattern = "/v1/models/{model...}",
       .methods = {get},
       .format_by_client = true,
       .handler = &App::get_model},
      {.pattern = "/v1/prompts/{name}/run",
       .methods = {post},
       .logged = true,
       .handler = &App::run_prompt},
      {.pattern = "/v1/flows/{name}/run",
       .methods = {post},
       .logged = true,
       .handler = &App::run_flow_route},
  };
  return table;
}

const RouteTable& App::route_table() {
  static const RouteTable table(routes());
  return table;
}

Task<void> App::handle(Request& request, ResponseWriter& response) {
  const std::string_view path = request.path();
  const bhttp::verb method = request.message.method();
  RouteMatch match = route_table().match(path, method);
  if (!match.path_known) {
    Error error(ErrorCode::kNotFound, "no route for " + std::string(request.message.method_string()) +
                                          " " + std::string(path));
    error.type_code = "unknown_url";
    co_await send_error(response, error, nullptr, ApiFormat::kOpenAI);
    co_return;
  }
  const ApiFormat format = route_format(*match.path_route, request.message);
  // check_header, when the server ran it, already checked a client key on this header.
  const Access access = match.path_route->access;
  if (access == Access::kAdmin || (access == Access::kApiKey && !request.header_checked)) {
    if (std::optional<Error> error = refusal(access, request.message)) {
      co_await send_error(response, *error, nullptr, format);
      co_return;
    }
  }
  if (!match.route) {
    Error error(ErrorCode::kInvalidArgument,
                std::string(request.message.method_string()) + " is not allowed on " +
                    std::string(path));
    error.type_code = "method_not_allowed";
    Headers headers{{"allow", std::move(match.allow)}};
    // Built before co_await: g++ 12 mis-destroys temporaries of a conditional expression
    // inside a co_await's operands.
    std::string body = error_body(error, format, new_id("req_"));
    co_await response.send(405, kJson, std::move(body), headers);
    co_return;
  }
  const Route& route = *match.route;
  RequestRecord record;
  RouteCall call{request, response, record, format, std::move(match.params)};
  if (!route.logged) {
    co_await (this->*route.handler)(call);
    co_return;
  }

  auto start = steady_clock::now();
  record.started_ms = unix_millis();
  // Time-ordered: the request log's keys (requests.id, attempts.request_id) then append to their
  // indexes; random ones cost a random index page per insert once the log is large.
  record.id = new_time_ordered_id("req_", record.started_ms);
  // Its trace (core/trace.h): the ids come from the request id; spans are recorded only where
  // something below adds one (a tool call, a flow node).
  record.trace = Trace::for_request(record.id);
  // The route's pattern, not the path: ids in a path must not become metric labels.
  record.endpoint = std::string(route.pattern);
  // Which client key, for the log's key_id (authorized() above, or check_header, matched it).
  if (!config_.api_keys.empty()) {
    if (const int key = key_position(config_.api_keys, presented_key(request.message)); key >= 0) {
      record.key_id = key_ids_[static_cast<size_t>(key)];
    }
  }
  // Overload: past the configured number of in-flight requests, refuse at once.
  struct InFlight {
    std::atomic<int>& count;
    ~InFlight() { --count; }
  } in_flight{in_flight_};
  int now_in_flight = ++in_flight_;
  if (config_.server.max_in_flight > 0 && now_in_flight > config_.server.max_in_flight) {
    Error error(ErrorCode::kUnavailable, "keel is overloaded: too many requests in flight");
    error.type_code = kOverloadedCode;
    co_await send_error(response, error, &record, format);
  } else if (method == bhttp::verb::post && !is_json_content_type(request.header("content-type"))) {
    Error error(ErrorCode::kUnsupportedMedia, "Content-Type must be application/json");
    co_await send_error(response, error, &record, format);
  } else {
    co_await (this->*route.handler)(call);
  }
  finish(record, start);
}

Task<void> App::healthz(RouteCall& call) {
  co_await call.response.send(200, kJson, R"({"status":"ok"})");
}

Task<void> App::console_file(RouteCall& call) {
  co_await serve_console(call.request, call.response);
}
Task<void> App::admin_requests(RouteCall& call) {
  co_await admin_->requests(call.request, call.response);
}
Task<void> App::admin_trace(RouteCall& call) {
  co_await admin_->trace(call.params.at(0), call.response);
}
Task<void> App::admin_request(RouteCall& call) {
  co_await admin_->request(call.params.at(0), call.response);
}
Task<void> App::admin_models(RouteCall& call) {
  const std::shared_ptr<Router> router = current_router();   // kept through the read
  co_await admin_->models(*router, call.response);
}
Task<void> App::admin_reload_route(RouteCall& call) { co_await admin_reload(call.response); }
Task<void> App::admin_shadow_route(RouteCall& call) {
  co_await admin_shadow(call.response, call.params.at(0));
}
Task<void> App::admin_evals(RouteCall& call) { co_await admin_->eval_runs(call.response); }
Task<void> App::admin_eval(RouteCall& call) {
  co_await admin_->eval_run(call.params.at(0), call.response);
}
Task<void> App::admin_eval_compare(RouteCall& call) {
  co_await admin_->compare_eval_runs(call.params.at(0), call.params.at(1), call.response);
}
Task<void> App::admin_shadows(RouteCall& call) { co_await admin_->shadows(call.response); }
Task<void> App::admin_flows(RouteCall& call) {
  co_await admin_->flows(flows_.get(), call.response);
}
Task<void> App::admin_copilots(RouteCall& call) { co_await admin_->copilots(call.response); }
Task<void> App::admin_knowledge(RouteCall& call) {
  co_await admin_->knowledge(knowledge_.get(), call.response);
}
Task<void> App::admin_validate_copilot(RouteCall& call) {
  co_await admin_->validate_copilot(call.request, call.response);
}

Task<void> App::metrics_text(RouteCall& call) {
  std::string page =
      metrics_.render(current_router()->status(), server_ ? server_->in_flight() : 0,
                      store_->stats());
  if (toolbox_) page += toolbox_->render_metrics();
  if (otlp_) page += otlp_->render_metrics();
  co_await call.response.send(200, "text/plain; version=0.0.4", std::move(page));
}

Task<void> App::mcp_route(RouteCall& call) {
  co_await mcp(call.request, call.response, call.record);
}

Task<void> App::list_models(RouteCall& call) {
  co_await models(call.response, {}, call.format);
}

Task<void> App::get_model(RouteCall& call) {
  co_await models(call.response, call.params.at(0), call.format);
}

Task<void> App::chat_completions(RouteCall& call) {
  co_await chat(call.request, call.response, call.record, ApiFormat::kOpenAI);
}

Task<void> App::completions(RouteCall& call) {
  co_await chat(call.request, call.response, call.record, ApiFormat::kOpenAICompletions);
}

Task<void> App::messages(RouteCall& call) {
  co_await chat(call.request, call.response, call.record, ApiFormat::kAnthropic);
}

Task<void> App::chat(Request& request, ResponseWriter& response, RequestRecord& record,
                     ApiFormat format) {
  bool anthropic = format == ApiFormat::kAnthropic;
  auto parsed = anthropic ? parse_messages_request(request.message.body())
                : format == ApiFormat::kOpenAICompletions
                    ? parse_completion_request(request.message.body())
                    : parse_chat_request(request.message.body());
  std::optional<ToolChoice> server_choice;  // names one of keel's tools (tools/loop.h)
  if (!parsed && !anthropic && parsed.error().param == "tool_choice") {
    std::string body(request.message.body());
    const ModelConfig* model = current_router()->model_config(model_named_in(body));
    if (model != nullptr && !model->tools.empty() &&
        (server_choice = take_server_tool_choice(body))) {
      parsed = parse_chat_request(body);
    }
  }
  if (!parsed) {
    record.model = model_named_in(request.message.body());
    co_await send_error(response, parsed.error(), &record, format);
    co_return;
  }
  ChatRequest& chat = *parsed;
  if (server_choice) chat.tool_choice = *server_choice;
  record.model = loggable_name(chat.model);
  record.stream = chat.stream;
  // This request's router: a reload meanwhile does not change it.
  const std::shared_ptr<Router> router = current_router();
  if (!serves(*router, chat.model)) {
    Error error(ErrorCode::kNotFound, "model '" + record.model + "' does not exist");
    error.type_code = "model_not_found";
    error.param = "model";
    co_await send_error(response, error, &record, format);
    co_return;
  }
  co_await answer_chat(router, chat, request.message.body(), response, record, format);
}

Task<void> App::answer_chat(std::shared_ptr<Router> router, const ChatRequest& chat, std::string_view body,
                            ResponseWriter& response, RequestRecord& record, ApiFormat format,
                            const RequestShaper& shape) {
  const bool anthropic = format == ApiFormat::kAnthropic;
  const bool completion = format == ApiFormat::kOpenAICompletions;
  std::string response_id = new_id(anthropic ? "msg_" : completion ? "cmpl-" : "chatcmpl-");
  // Shadow traffic needs the served answer's text, as the content log does.
  const ModelConfig* model_config = router->model_config(chat.model);
  const bool mirrored =
      model_config != nullptr && model_config->shadow && shadow_.sample(*model_config->shadow);
  std::unique_ptr<ChatAggregator> transcript;
  if (config_.log_content || mirrored) transcript = std::make_unique<ChatAggregator>();
  ChatOutcome outcome;
  if (chat.stream) {
    std::unique_ptr<StreamSink> sink;
    if (anthropic) {
      sink = std::make_unique<AnthropicSseSink>(response, chat, response_id, record.id,
                                                transcript.get());
    } else if (completion) {
      sink = std::make_unique<CompletionSseSink>(response, chat, response_id, record.id,
                                                 transcript.get());
    } else {
      sink = std::make_unique<OpenAISseSink>(response, chat, response_id, record.id,
                                             transcript.get());
    }
    outcome = co_await route_chat(*router, chat, *sink, response.client_gone(), shape,
                                  record.trace.root_context());
    if (outcome.status.ok()) {
      co_await sink->done();
    } else if (outcome.committed || response.started()) {
      co_await response.end();   // the error event went out already; no normal ending
    }
  } else {
    AggregatingSink sink;
    outcome = co_await route_chat(*router, chat, sink, response.client_gone(), shape,
                                  record.trace.root_context());
    if (outcome.status.ok()) {
      ChatResponse& whole = sink.aggregator().response();
      whole.id = response_id;
      whole.model = chat.model;
      whole.created = unix_seconds();
      std::string body;
      if (anthropic) {
        body = dump(messages_response_to_wire(whole, chat.model));
      } else if (completion) {
        body = dump(completion_response_to_wire(whole));
      } else {
        body = chat_response_to_wire_text(whole);   // dump(chat_response_to_wire(whole))
      }
      if (transcript) *transcript = sink.aggregator();
      Headers headers{{"x-request-id", record.id}};
      co_await response.send(200, kJson, std::move(body), headers);
    }
  }
  co_await settle(response, outcome, record, format);
  if (mirrored && outcome.status.ok()) {
    // After the answer went out: the candidate's call runs detached on this io thread, after
    // this request's handler has finished (co_spawn posts it; evals/shadow.h).
    evals::ServedAnswer served;
    served.request_id = record.id;
    served.model = chat.model;
    served.text = transcript->response().message.text();
    served.request = chat;
    served.latency_ms = unix_millis() - record.started_ms;
    served.prompt_tokens = outcome.usage.prompt_tokens;
    served.completion_tokens = outcome.usage.completion_tokens;
    served.provider = outcome.provider;
    served.upstream_model = outcome.upstream_model;
    shadow_.mirror(co_await asio::this_coro::executor, router, *model_config->shadow,
                   std::move(served));
  }
  if (transcript && config_.log_content) {
    Json content = {
        {"request", try_parse_json(body).value_or(Json())},
        {"response", anthropic    ? messages_response_to_wire(transcript->response(), chat.model)
                     : completion ? completion_response_to_wire(transcript->response())
                                  : chat_response_to_wire(transcript->response())}};
    record.content = dump(content);
  }
}

Task<void> App::settle(ResponseWriter& response, ChatOutcome& outcome, RequestRecord& record,
                       ApiFormat format) {
  record.attempts = std::move(outcome.attempts);
  record.ttft_ms = outcome.ttft_ms;
  record.prompt_tokens = outcome.usage.prompt_tokens;
  record.completion_tokens = outcome.usage.completion_tokens;
  if (outcome.status.ok()) {
    record.status = 200;
  } else {
    const Error& error = outcome.status.error();
    if (error.code == ErrorCode::kCancelled) {
      record.status = 499;
      record.error_class = error_code_name(error.code);
    } else if (response.started()) {
      record.status = 200;   // what the client saw; the failure is in error_class
      record.error_class = error_code_name(error.code);
    } else {
      co_await send_error(response, error, &record, format);
    }
  }
}

std::shared_ptr<const PublicName> App::public_name(const std::string& name) const {
  std::shared_ptr<const PublicNames> names = current_public_names();
  const PublicName* found = names ? names->find(name) : nullptr;
  if (found == nullptr) return nullptr;
  return std::shared_ptr<const PublicName>(std::move(names), found);
}

bool App::serves(const Router& router, const std::string& name) const {
  return router.has_model(name) || public_name(name) != nullptr;
}

Task<ChatOutcome> App::route_chat(Router& router, const ChatRequest& chat, EventSink& sink,
                                  CancelPtr client_gone, const RequestShaper& shape,
                                  TraceContext trace) {
  // A copilot (or another public name that is not a model) answers through its handler.
  if (const std::shared_ptr<const PublicName> named = public_name(chat.model)) {
    co_return co_await named->handler(router, chat, sink, std::move(client_gone), trace);
  }
  // The model as the request's router has it (a reload may have changed its tools).
  const ModelConfig* model = router.model_config(chat.model);
  if (toolbox_ == nullptr || model == nullptr || model->tools.empty()) {
    co_return co_await router.chat(chat, sink, std::move(client_gone), shape);
  }
  // The tool loop's rounds go out as the client's request: a prompt's variants do not apply
  // to a model that has tools.
  static const std::vector<std::string> kNoApproval;  // a model's tools all run in keel
  co_return co_await run_tool_loop(router, *toolbox_, chat, *model, sink, std::move(client_gone),
                                   kNoApproval, trace);
}

// GET /v1/models (`name` empty) or /v1/models/{name}, in `format`'s shape.
Task<void> App::models(ResponseWriter& response, std::string_view name, ApiFormat format) {
  const bool anthropic = format == ApiFormat::kAnthropic;
  const int64_t created = unix_seconds();
  const std::optional<std::string> model = percent_decode(name);
  Json body;
  const std::shared_ptr<Router> router = current_router();
  if (name.empty()) {
    auto names = router->model_names();
    if (const auto others = current_public_names()) {
      for (std::string& other : others->names()) names.push_back(std::move(other));
    }
    body = anthropic ? models_to_anthropic(names, created) : models_to_wire(names, created);
  } else if (model && serves(*router, *model)) {
    body = anthropic ? model_to_anthropic(*model, created) : model_to_wire(*model, created);
  } else {
    Error error(ErrorCode::kNotFound,
                "model '" + model.value_or(std::string(name)) + "' does not exist");
    error.type_code = "model_not_found";
    co_await send_error(response, error, nullptr, format);
    co_return;
  }
  co_await response.send(200, kJson, dump(body));
}

// POST /v1/messages/count_tokens: {"input_tokens": N} (MessageTokensCount) from a target that
// can count exactly. Where none can, a 400 in Anthropic's shape, never an estimate: clients
// such as Claude Code fall back to their own estimate on an error, but trust a 200.
Task<void> App::count_tokens(RouteCall& call) {
  Request& request = call.request;
  ResponseWriter& response = call.response;
  RequestRecord& record = call.record;
  auto parsed = parse_count_tokens_request(request.message.body());
  if (!parsed) {
    record.model = model_named_in(request.message.body());
    co_await send_error(response, parsed.error(), &record, ApiFormat::kAnthropic);
    co_return;
  }
  record.model = loggable_name(parsed->model);
  const std::shared_ptr<Router> router = current_router();
  auto count = co_await router->count_tokens(*parsed, response.client_gone(), record.attempts);
  if (!count) {
    co_await send_failure(response, count.error(), record, ApiFormat::kAnthropic);
    co_return;
  }
  record.status = 200;
  Json answer = Json::object();
  answer["input_tokens"] = *count;
  Headers headers{{"x-request-id", record.id}};
  co_await response.send(200, kJson, dump(answer), headers);
}

Task<void> App::embeddings(RouteCall& call) {
  Request& request = call.request;
  ResponseWriter& response = call.response;
  RequestRecord& record = call.record;
  auto parsed = parse_embed_request(request.message.body());
  if (!parsed) {
    record.model = model_named_in(request.message.body());
    co_await send_error(response, parsed.error(), &record);
    co_return;
  }
  record.model = loggable_name(parsed->model);
  const std::shared_ptr<Router> router = current_router();
  auto result = co_await router->embed(*parsed, response.client_gone(), record.attempts);
  if (!result) {
    co_await send_failure(response, result.error(), record, ApiFormat::kOpenAI);
    co_return;
  }
  result->model = parsed->model;
  record.status = 200;
  record.prompt_tokens = result->usage.prompt_tokens;
  Headers headers{{"x-request-id", record.id}};
  co_await response.send(200, kJson, dump(embeddings_to_wire(*result, parsed->base64)), headers);
}

}  // namespace keel
