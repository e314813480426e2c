// Shadow traffic: a public model's `shadow: {model, percent}` mirrors that share of its
// successful requests to a candidate after the client has its answer, off the request path,
// bounded in concurrency; the pair (served answer, candidate's answer) is scored by the
// configured evaluators, with the served answer as the reference, and kept in the store.
//
//   ShadowMirror shadow(store, config);                          // one per server
//   if (shadow.sample(*model.shadow)) ... collect the answer ...
//   shadow.mirror(co_await asio::this_coro::executor, router, *model.shadow, served);
//
// Never changes what the client gets: mirror() is called after the answer went out and returns
// at once. The candidate's call runs detached on the executor given: the io thread that served
// the request, as a proxy's mirrored request runs on its worker's event loop. Past
// max_concurrency running mirrors, new ones are dropped and counted. A thread of the mirrors'
// own cost more: waking it, then once per upstream socket event, doubled a mirror's CPU
// (docs/dev.md, "Shadow pair").
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config_source.h"
#include "evals/evaluators.h"
#include "evals/gateway.h"
#include "evals/report.h"
#include "http/asio.h"
#include "router/router.h"
#include "store/store.h"

namespace keel::evals {

struct ServedAnswer {
  std::string request_id;
  std::string model;  // the public model the client asked for
  ChatRequest request;
  std::string text;
  int64_t latency_ms = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::string provider;  // the target that answered
  std::string upstream_model;
};

struct ShadowStats {
  int64_t mirrored = 0;  // pairs stored
  int64_t dropped = 0;   // over max_concurrency
  int64_t failed = 0;    // the candidate failed (stored too, with its error)
};

// The stored pair (ShadowPairRecord::result) as JSON text: {question, served {text, latency_ms,
// prompt_tokens, completion_tokens, target, cost}, shadow {latency_ms, prompt_tokens,
// completion_tokens, target, cost, text, error when it failed}, scores {NAME: {value, passed} or
// {value: null, error}}, trace_id}: what json_text of that object as Json gives, written straight
// (building the Json cost a mirror about a fifth of its work per pair).
std::string shadow_pair_text(std::string_view question, const ServedAnswer& served,
                             std::optional<double> served_cost, const CallResult& call,
                             const std::vector<std::pair<std::string, Score>>& scores,
                             std::string_view trace_id);

class ShadowMirror {
 public:
  // `config` gives the running config (pricing), read as each mirror starts. Mirrors still
  // running when keel stops are abandoned with their io thread (their pairs are not stored):
  // the server, which owns those threads, is destroyed before this.
  ShadowMirror(Store& store, ConfigSource config) : store_(store), config_(std::move(config)) {}
  ShadowMirror(const ShadowMirror&) = delete;
  ShadowMirror& operator=(const ShadowMirror&) = delete;

  // Whether this request is mirrored: drawn at `percent` (0-100), and a mirror slot is free now
  // (else it is counted as dropped, before the request pays for keeping its answer). Thread-safe.
  bool sample(const ShadowConfig& shadow);
  void mirror(asio::any_io_executor executor, std::shared_ptr<Router> router,
              const ShadowConfig& shadow, ServedAnswer served);
  ShadowStats stats() const;

 private:
  Task<void> run(std::shared_ptr<Router> router, ShadowConfig shadow, ServedAnswer served);

  Store& store_;
  ConfigSource config_;
  std::mutex rng_mutex_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::atomic<int> running_{0};  // mirrors started and not yet ended, on every io thread
  std::atomic<int64_t> mirrored_{0}, dropped_{0}, failed_{0};
};

// `keel shadow report`: per metric the mean with a bootstrap CI, the candidate's failures, and
// latency (p50/p95), tokens and cost of served vs candidate answers, from stored pairs.
Json shadow_report(const std::vector<ShadowPairRecord>& pairs);
std::string describe_shadow_report(const std::string& model, const Json& report);

}  // namespace keel::evals
