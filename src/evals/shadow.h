// Shadow traffic: a public model's `shadow: {model, percent}` mirrors that share of its
// successful requests to a candidate after the client has its answer, off the request path,
// bounded in concurrency; the pair (served answer, candidate's answer) is scored by the
// configured evaluators, with the served answer as the reference, and kept in the store.
//
//   ShadowMirror shadow(store, config);                          // one per server
//   if (shadow.sample(*model.shadow)) ... collect the answer ...
//   shadow.mirror(router, *model.shadow, served);                // returns at once
//
// Never changes what the client gets: mirror() is called after the answer went out, and the
// candidate's call runs detached on the mirror's own thread (started by the first mirror): a
// mirror costs about what a request costs, and there it does not wait in line with, or delay,
// the requests of the io threads (past max_concurrency running mirrors, new ones are dropped
// and counted).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
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
// (building the Json cost the mirror thread about a fifth of its work per pair).
std::string shadow_pair_text(std::string_view question, const ServedAnswer& served,
                             std::optional<double> served_cost, const CallResult& call,
                             const std::vector<std::pair<std::string, Score>>& scores,
                             std::string_view trace_id);

class ShadowMirror {
 public:
  // `config` gives the running config (pricing), read as each mirror starts.
  ShadowMirror(Store& store, ConfigSource config) : store_(store), config_(std::move(config)) {}
  // Stops the mirror thread; mirrors still running are abandoned (their pairs are not stored).
  ~ShadowMirror();
  ShadowMirror(const ShadowMirror&) = delete;
  ShadowMirror& operator=(const ShadowMirror&) = delete;

  // Whether this request is mirrored: drawn at `percent` (0-100), and a mirror slot is free now
  // (else it is counted as dropped, before the request pays for keeping its answer). Thread-safe.
  bool sample(const ShadowConfig& shadow);
  void mirror(std::shared_ptr<Router> router, const ShadowConfig& shadow, ServedAnswer served);
  ShadowStats stats() const;

 private:
  Task<void> run(std::shared_ptr<Router> router, ShadowConfig shadow, ServedAnswer served);
  // Starts the mirror thread and its io_context once; its executor.
  asio::any_io_executor executor();

  Store& store_;
  ConfigSource config_;
  std::mutex rng_mutex_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::atomic<int> running_{0};
  std::atomic<int64_t> mirrored_{0}, dropped_{0}, failed_{0};
  // The mirror thread. Its io_context lives on that thread's stack, so that mirrors abandoned at
  // shutdown are destroyed there, returning their connections to that thread's pool.
  std::once_flag started_;
  std::thread thread_;
  std::atomic<asio::io_context*> context_{nullptr};
  asio::any_io_executor executor_;
  // The running mirrors' cancel tokens, to cancel at shutdown (the mirror thread's only).
  std::unordered_set<CancelToken*> live_;
};

// `keel shadow report`: per metric the mean with a bootstrap CI, the candidate's failures, and
// latency (p50/p95), tokens and cost of served vs candidate answers, from stored pairs.
Json shadow_report(const std::vector<ShadowPairRecord>& pairs);
std::string describe_shadow_report(const std::string& model, const Json& report);

}  // namespace keel::evals
