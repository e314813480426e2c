#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "cli/commands.h"
#include "copilots/copilot.h"
#include "core/log.h"
#include "flows/flow_set.h"
#include "http/server.h"
#include "knowledge/knowledge_set.h"
#include "knowledge/vector_stores.h"
#include "prompts/prompt_set.h"
#include "providers/provider.h"
#include "router/router.h"
#include "server/app.h"
#include "store/store.h"
#include "tools/toolbox.h"

namespace keel::cli {

namespace {

void explain_empty(const Config& config) {
  KEEL_LOG(kWarn) << "no models are configured (" << config.source << "): keel answers "
                  << "/healthz and /v1/models but every chat request gets 404.";
  KEEL_LOG(kWarn) << "to serve hosted vendors, set any of OPENAI_API_KEY (or OPENAI_BASE_URL for "
                     "an OpenAI-compatible server such as Ollama, vLLM or llama-server), "
                     "ANTHROPIC_API_KEY, GEMINI_API_KEY, or AZURE_OPENAI_API_KEY with "
                     "AZURE_OPENAI_ENDPOINT and KEEL_AZURE_MODELS (deployments); or write a "
                     "keel.yaml (see README.md)";
}

}  // namespace

int serve(const std::vector<std::string>& args) {
  // SIGHUP reloads the config (App::reload): blocked here, before any thread starts, so every
  // thread inherits the mask and only the reloader below takes it, with sigwait, outside any
  // signal handler.
  sigset_t hangup;
  sigemptyset(&hangup);
  sigaddset(&hangup, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &hangup, nullptr);
  auto loaded = load_config(args, /*serving=*/true);
  if (!loaded) {
    std::fprintf(stderr, "keel: %s\n", loaded.error().message.c_str());
    return 1;
  }
  Config config = std::move(loaded.value());
  if (std::string listen = flag(args, "--listen"); !listen.empty()) {
    auto address = parse_listen(listen);
    if (!address) {
      std::fprintf(stderr, "keel: --listen: %s\n", address.error().message.c_str());
      return 1;
    }
    config.server.host = address->host;
    config.server.port = address->port;
  }
  if (!is_loopback_host(config.server.host) && config.api_keys.empty()) {
    std::fprintf(stderr,
                 "keel: refusing to listen on %s without api_keys: anyone who can reach it could "
                 "spend your vendors' credit. Set api_keys in the config, or listen on "
                 "127.0.0.1.\n",
                 config.server.host.c_str());
    return 1;
  }
  for (const auto& var : config.unset_vars) {
    KEEL_LOG(kWarn) << config.source << ": ${" << var << "} is not set; it expands to \"\"";
  }

  std::map<std::string, std::unique_ptr<Provider>> providers;
  for (const auto& provider_config : config.providers) {
    auto provider = make_provider(provider_config);
    if (!provider) {
      std::fprintf(stderr, "keel: %s\n", provider.error().message.c_str());
      return 1;
    }
    providers.emplace(provider_config.name, std::move(provider.value()));
  }
  RetentionOptions retention;
  retention.max_age_ms = config.log_retention.days * 24 * 60 * 60 * 1000;
  retention.max_requests = config.log_retention.max_requests;
  auto store = open_store(config.state, retention);
  if (!store) {
    std::fprintf(stderr, "keel: state: %s\n", store.error().message.c_str());
    return 1;
  }
  if (retention.enabled()) {
    KEEL_LOG(kInfo) << "request log: keeps " << config.log_retention.days << " days (0: no limit) "
                    << "and at most " << config.log_retention.max_requests
                    << " requests (0: no limit) (log_retention)";
  } else {
    KEEL_LOG(kInfo) << "request log: keeps every request (log_retention is off)";
  }
  auto router = std::make_unique<Router>(config, std::move(providers));
  if (config.models.empty()) explain_empty(config);
  auto prompts = PromptSet::load(config);
  if (!prompts) {
    std::fprintf(stderr, "keel: %s\n", prompts.error().message.c_str());
    return 1;
  }
  auto flows = FlowSet::load(config);
  if (!flows) {
    std::fprintf(stderr, "keel: %s\n", flows.error().message.c_str());
    return 1;
  }

  ServerOptions options;
  options.host = config.server.host;
  options.port = config.server.port;
  options.threads = config.server.threads;
  options.max_body_bytes = config.server.max_body_bytes;
  options.header_timeout_ms = config.server.header_timeout_ms;
  options.idle_timeout_ms = config.server.idle_timeout_ms;
  options.body_timeout_ms = config.server.body_timeout_ms;
  options.send_timeout_ms = config.server.send_timeout_ms;
  options.shutdown_grace_ms = config.server.shutdown_grace_ms;
  options.error_body = &App::server_error_body;

  App app(config, std::move(router), std::move(store.value()));
  auto pins = ToolPins::open(config.state);  // MCP tools' pinned definitions
  if (!pins) {
    std::fprintf(stderr, "keel: %s\n", pins.error().message.c_str());
    return 1;
  }
  options.header_check = [&app](const RequestHead& head) { return app.check_header(head); };
  Server server(options, [&app](Request& request, ResponseWriter& response) {
    return app.handle(request, response);
  });
  // After the server: MCP clients live on its io threads (their pipes and sockets belong to
  // its io_contexts), so the toolbox must go before the server does.
  Toolbox toolbox(config.toolsets);  // MCP servers start on first use
  for (const auto& warning : toolbox.warnings()) KEEL_LOG(kWarn) << warning;
  toolbox.set_pins(pins->get());
  app.set_toolbox(&toolbox);
  app.set_server(&server);
  app.set_prompts(std::move(*prompts));
  const std::shared_ptr<const FlowSet> flow_set = *flows;
  app.set_flows(std::move(*flows));
  // Knowledge bases: opened now, ingested in the background when their sources changed.
  auto knowledge = knowledge::KnowledgeSet::open(config, [&app] { return app.current_router(); });
  if (!knowledge) {
    std::fprintf(stderr, "keel: %s\n", knowledge.error().message.c_str());
    return 1;
  }
  (*knowledge)->ingest_stale_in_background();
  app.set_knowledge(std::move(*knowledge));
  auto vector_stores = knowledge::VectorStores::open(
      config, knowledge::router_embedder([&app] { return app.current_router(); }));
  if (!vector_stores) {
    std::fprintf(stderr, "keel: %s\n", vector_stores.error().message.c_str());
    return 1;
  }
  app.set_vector_stores(std::move(*vector_stores));
  // Copilots and chat flows as public names, searching the knowledge bases opened above; built
  // again from the new config on each reload (flows themselves are not reloaded).
  App::PublicNamesSource names_source;
  names_source.check = [](const Config& next) -> Status {
    auto checked = copilots::CopilotSet::load(next, nullptr);
    return checked ? Status() : Status(checked.error());
  };
  names_source.build = [&app, &toolbox, flow_set](
                           const Config& next,
                           const Router& router) -> Result<std::shared_ptr<const PublicNames>> {
    knowledge::KnowledgeSet* bases = app.knowledge();
    auto copilots = copilots::CopilotSet::load(
        next, [bases](const std::string& name) -> knowledge::KnowledgeBase* {
          return bases != nullptr ? bases->find(name) : nullptr;
        });
    if (!copilots) return copilots.error();
    auto names = std::make_shared<PublicNames>();
    if (Status added = add_copilots(*names, *copilots, &toolbox); !added.ok()) {
      return added.error();
    }
    if (Status added =
            add_chat_flows(*names, flow_set, &toolbox,
                           [&router](const std::string& n) { return router.has_model(n); });
        !added.ok()) {
      return added.error();
    }
    return std::shared_ptr<const PublicNames>(std::move(names));
  };
  auto public_names = names_source.build(config, *app.current_router());
  if (!public_names) {
    std::fprintf(stderr, "keel: %s\n", public_names.error().message.c_str());
    return 1;
  }
  app.set_public_names(std::move(*public_names));
  app.set_public_names_source(std::move(names_source));
  auto port = server.listen();
  if (!port) {
    std::fprintf(stderr, "keel: %s\n", port.error().message.c_str());
    return 1;
  }
  std::string host = config.server.host.find(':') != std::string::npos
                         ? "[" + config.server.host + "]"
                         : config.server.host;
  for (const auto& name : app.router().model_names()) KEEL_LOG(kInfo) << "model: " << name;
  KEEL_LOG(kInfo) << "keel listening on http://" << host << ":" << *port << " (config "
                  << config.source << ", " << config.models.size() << " models)";
  std::atomic<bool> stopping{false};
  std::thread reloader([&] {
    while (true) {
      int signal_number = 0;
      if (sigwait(&hangup, &signal_number) != 0) continue;
      if (stopping) return;
      KEEL_LOG(kInfo) << "SIGHUP: reloading " << config.source;
      (void)app.reload();  // logs what it did, or why nothing changed
    }
  });
  server.run();
  stopping = true;
  pthread_kill(reloader.native_handle(), SIGHUP);
  reloader.join();
  app.store().flush();
  KEEL_LOG(kInfo) << "keel stopped";
  return 0;
}

}  // namespace keel::cli
