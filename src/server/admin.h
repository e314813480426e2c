// GET /admin/...: what the web console and operators read (DESIGN.md "HTTP surface"), as JSON,
// behind an admin key. Read-only; never a provider key or a client key.
//
//   GET /admin/requests?model=&status=&since=&until=&limit=&offset=   the request log, a page
//   GET /admin/requests/{id}        one request, its attempts, its bodies (when log_content)
//   GET /admin/models               per public model: targets, breakers, the last hour's stats
//   GET /admin/evals                evaluation runs (`keel eval`), newest first
//   GET /admin/evals/{id}           a run: its summary (report.h) and scored rows
//   GET /admin/evals/{a}/compare/{b}  two runs' paired comparison (evals::compare_runs)
//   GET /admin/shadow               the models with `shadow:` (/admin/shadow/{model}: reload.cpp)
//   GET /admin/flows                the config's flows as checked graphs
//   GET /admin/traces/{id}          a trace's spans as a tree (trace_json.h); id: req_... or hex
//   GET /admin/copilots             the config's copilots as configured, each with its YAML
//   GET /admin/knowledge            knowledge bases: sources, embedding model, ingest state
//   POST /admin/copilots/validate   {"yaml"}: a copilots: entry checked against the running config
//
// Access: a key from admin_keys (Bearer or x-api-key). With no admin_keys, /admin is open when
// api_keys is empty too (keel then listens on loopback only: config.cpp refuses other
// addresses without api_keys) and off (403) when there are client keys.
//
// Threads: the handlers run on an io thread; the store's reads run on the Admin's own thread, so
// a long read (an hour of a busy log) never stalls the io thread's other requests.
#pragma once

#include <string_view>

#include "core/config.h"
#include "core/config_source.h"
#include "flows/flow_set.h"
#include "http/server.h"
#include "router/router.h"
#include "store/store.h"

namespace keel {
namespace knowledge {
class KnowledgeSet;
}

class Admin {
 public:
  // `config` gives the running config (a reload swaps it); the store outlives the Admin. The
  // router is the caller's (App's current one).
  Admin(ConfigSource config, Store& store) : config_(std::move(config)), store_(store), reads_(1) {}

  // The handlers of /admin's rows in App::routes(), which checks the admin key first.
  Task<void> requests(Request& request, ResponseWriter& response);
  Task<void> request(std::string_view id, ResponseWriter& response);
  Task<void> models(const Router& router, ResponseWriter& response);
  // admin_evals.cpp
  Task<void> eval_runs(ResponseWriter& response);
  Task<void> eval_run(std::string_view id, ResponseWriter& response);
  Task<void> compare_eval_runs(std::string_view a, std::string_view b, ResponseWriter& response);
  Task<void> shadows(ResponseWriter& response);
  // admin_flows.cpp; `flows` may be null (none configured)
  Task<void> flows(const FlowSet* flows, ResponseWriter& response);
  Task<void> trace(std::string_view id, ResponseWriter& response);
  // admin_copilots.cpp; `knowledge` may be null (none configured)
  Task<void> copilots(ResponseWriter& response);
  Task<void> knowledge(knowledge::KnowledgeSet* knowledge, ResponseWriter& response);
  Task<void> validate_copilot(Request& request, ResponseWriter& response);

 private:
  ConfigSource config_;
  Store& store_;             // its StoreReader side, and flush() (Admin::request)
  asio::thread_pool reads_;  // one thread: the store serialises its reads anyway
};

}  // namespace keel
