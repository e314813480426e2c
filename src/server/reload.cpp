// The operator's routes: config reload (SIGHUP, POST /admin/reload, `keel reload`) and
// GET /admin/shadow/{model}.
//
// Config reload: checked before it applies; a bad
// file changes nothing. The new router is swapped in under a mutex; each request holds the
// router it started with (a shared_ptr), so requests in flight finish on the old config and
// the old router goes when the last of them does.
#include "api/json_util.h"
#include "core/log.h"
#include "core/text.h"
#include "knowledge/knowledge_set.h"
#include "providers/provider.h"
#include "server/app.h"

namespace keel {

std::shared_ptr<Router> App::current_router() const {
  std::lock_guard lock(router_mutex_);
  return router_;
}

void App::set_public_names(std::shared_ptr<const PublicNames> names) {
  std::lock_guard lock(router_mutex_);
  public_names_ = std::move(names);
}

std::shared_ptr<const Config> App::current_config() const {
  std::lock_guard lock(router_mutex_);
  return live_config_;
}

std::shared_ptr<const PublicNames> App::current_public_names() const {
  std::lock_guard lock(router_mutex_);
  return public_names_;
}

namespace {

// Sections a running server does not take over: they need a restart.
std::vector<std::string> needs_restart(const Config& now, const Config& next) {
  std::vector<std::string> keys;
  if (now.server.host != next.server.host || now.server.port != next.server.port) {
    keys.push_back("listen");
  }
  if (now.state != next.state) keys.push_back("state");
  if (now.api_keys != next.api_keys) keys.push_back("api_keys");
  if (now.log_content != next.log_content) keys.push_back("log_content");
  if (now.access_log != next.access_log) keys.push_back("access_log");
  if (now.log_retention.days != next.log_retention.days ||
      now.log_retention.max_requests != next.log_retention.max_requests) {
    keys.push_back("log_retention");
  }
  const ServerConfig& a = now.server;
  const ServerConfig& b = next.server;
  if (a.threads != b.threads || a.max_body_bytes != b.max_body_bytes ||
      a.header_timeout_ms != b.header_timeout_ms || a.idle_timeout_ms != b.idle_timeout_ms ||
      a.body_timeout_ms != b.body_timeout_ms || a.send_timeout_ms != b.send_timeout_ms ||
      a.shutdown_grace_ms != b.shutdown_grace_ms || a.max_in_flight != b.max_in_flight) {
    keys.push_back("server");
  }
  return keys;
}

}  // namespace

Result<Json> App::reload() {
  std::lock_guard reloading(reload_mutex_);
  if (config_.source.empty() || config_.source.front() == '<') {
    return Error(ErrorCode::kInvalidArgument,
                 "keel serve started on the built-in config: there is no file to reload "
                 "(start it with --config FILE)");
  }
  auto next = load_config_file(config_.source);
  if (!next) {
    Error error = next.error();
    error.message = "config not reloaded, nothing changed: " + error.message;
    KEEL_LOG(kWarn) << error.message;
    return error;
  }
  std::map<std::string, std::unique_ptr<Provider>> providers;
  for (const auto& provider_config : next->providers) {
    auto provider = make_provider(provider_config);
    if (!provider) {
      Error error = provider.error();
      error.message =
          "config not reloaded, nothing changed: " + config_.source + ": " + error.message;
      KEEL_LOG(kWarn) << error.message;
      return error;
    }
    providers.emplace(provider_config.name, std::move(provider.value()));
  }
  // Copilots (instructions files included) are checked before anything changes.
  if (names_source_.check) {
    if (Status checked = names_source_.check(*next); !checked.ok()) {
      Error error = checked.error();
      error.message = "config not reloaded, nothing changed: " + error.message;
      KEEL_LOG(kWarn) << error.message;
      return error;
    }
  }
  // Knowledge bases whose entry changed are reopened (before the router, so that a base that
  // cannot be opened leaves everything as it was).
  knowledge::KnowledgeChanges knowledge_changes;
  if (knowledge_) {
    auto changed = knowledge_->reload(*next);
    if (!changed) {
      Error error = changed.error();
      error.message = "config not reloaded, nothing changed: " + error.message;
      KEEL_LOG(kWarn) << error.message;
      return error;
    }
    knowledge_changes = std::move(*changed);
  }
  auto router = std::make_shared<Router>(*next, std::move(providers));
  const auto names = router->model_names();
  metrics_.add_models(names);
  // Every copilot and chat flow is built again from the new config (an instructions file may
  // have changed while its entry did not); they search the knowledge bases reloaded above.
  std::shared_ptr<const PublicNames> public_names;
  if (names_source_.build) {
    auto built = names_source_.build(*next, *router);
    if (!built) {
      // Only a file that changed since check() gets here; the knowledge bases are reloaded.
      KEEL_LOG(kWarn) << "config reload: copilots and chat flows kept as they were: "
                      << built.error().message;
    } else {
      public_names = std::move(*built);
    }
  }
  const auto restart = needs_restart(config_, *next);
  const size_t provider_count = next->providers.size();
  std::shared_ptr<const Config> live = std::make_shared<const Config>(std::move(*next));
  {
    std::lock_guard lock(router_mutex_);
    router_.swap(router);
    if (public_names) public_names_.swap(public_names);
    live_config_.swap(live);
  }
  router.reset();  // the old router, names and config live on in requests that hold them
  public_names.reset();
  live.reset();
  if (knowledge_) knowledge_->ingest_stale_in_background();
  KEEL_LOG(kInfo) << "config reloaded from " << config_.source << ": " << names.size()
                  << " models, " << provider_count << " providers";
  for (const auto& key : restart) {
    KEEL_LOG(kWarn) << "config reload: " << key << " changed; it takes effect only after a restart";
  }
  Json answer = {{"reloaded", true}, {"source", config_.source}};
  answer["models"] = names;
  answer["needs_restart"] = restart;
  if (const auto served = current_public_names()) answer["public_names"] = served->names();
  answer["knowledge"] = {{"added", knowledge_changes.added},
                         {"reopened", knowledge_changes.reopened},
                         {"removed", knowledge_changes.removed}};
  for (const char* what : {"added", "reopened", "removed"}) {
    for (const auto& name : answer["knowledge"][what]) {
      KEEL_LOG(kInfo) << "config reload: knowledge base " << name.get<std::string>() << " " << what;
    }
  }
  return answer;
}

Task<void> App::admin_reload(ResponseWriter& response) {
  // Building remote providers takes microseconds; a local model loads here, on this io thread
  // (its other requests wait; the other threads serve on).
  auto result = reload();
  if (!result) {
    co_await send_error(response, result.error(), nullptr);
    co_return;
  }
  co_await response.send(200, "application/json", result->dump());
}

Task<void> App::admin_shadow(ResponseWriter& response, std::string_view name) {
  const std::optional<std::string> model = percent_decode(name);
  if (!model || !current_router()->has_model(*model)) {
    Error error(ErrorCode::kNotFound, "model '" + std::string(name) + "' does not exist");
    error.type_code = "model_not_found";
    co_await send_error(response, error, nullptr);
    co_return;
  }
  auto pairs = store_->shadow_pairs(*model, 10000);
  if (!pairs) {
    co_await send_error(response, pairs.error(), nullptr);
    co_return;
  }
  const evals::ShadowStats stats = shadow_.stats();
  Json body = {
      {"model", *model},
      {"mirror",
       {{"mirrored", stats.mirrored}, {"dropped", stats.dropped}, {"failed", stats.failed}}},
      {"report", evals::shadow_report(*pairs)}};
  // The newest pairs themselves, side by side in the console (results as shadow.cpp stores them).
  constexpr size_t kRecentPairs = 20;
  Json recent = Json::array();
  for (size_t i = 0; i < pairs->size() && i < kRecentPairs; ++i) {
    const ShadowPairRecord& pair = (*pairs)[i];
    recent.push_back({{"id", pair.id},
                      {"created_ms", pair.created_ms},
                      {"shadow_model", pair.shadow_model},
                      {"result", try_parse_json(pair.result).value_or(Json())}});
  }
  body["recent"] = std::move(recent);
  co_await response.send(200, "application/json",
                         body.dump(-1, ' ', false, Json::error_handler_t::replace));
}

}  // namespace keel
