// The config's knowledge bases (`knowledge:`), by name: what the server holds and copilots,
// file_search and `keel ingest` look bases up in.
//
//   auto set = KnowledgeSet::open(config, [&] { return app.current_router(); });
//   KnowledgeBase* base = (*set)->find("handbook");
//   auto passages = co_await base->search("how do I reset my password", {.k = 5}, cancel);
//
// Thread-safe: searches run on any io thread at once; one ingest per base runs at a time
// (ingest_if_stale on a thread of its own, not blocking serving).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/config.h"
#include "knowledge/index.h"
#include "knowledge/ingest.h"
#include "knowledge/knowledge.h"
#include "router/router.h"

namespace keel::knowledge {

// The router to embed and rerank through, taken once per call (a reload may swap it).
using RouterSource = std::function<std::shared_ptr<Router>()>;

// Embeds through the router's public model (failover, retries and breakers apply).
Embedder router_embedder(RouterSource router);

// Reciprocal rank fusion (Cormack et al. 2009): score(d) = sum over lists of 1 / (k + rank),
// rank from 1. Ids in the order of their fused score, best first; ties by first appearance.
std::vector<std::pair<int64_t, double>> reciprocal_rank_fusion(
    const std::vector<std::vector<int64_t>>& rankings, int k = 60);

// A configured base over its on-disk Index.
class IndexedKnowledgeBase final : public KnowledgeBase {
 public:
  // How many of each index's best a search fuses: more than it returns, so that a chunk ranked
  // well by one index and middling by the other can still win.
  static constexpr int kCandidates = 40;

  IndexedKnowledgeBase(KnowledgeConfig config, std::string base_dir, std::unique_ptr<Index> index,
                       Embedder embed, RouterSource router);

  const std::string& name() const override { return config_.name; }
  Task<Result<std::vector<Passage>>> search(std::string query, SearchOptions options,
                                            CancelPtr cancel) override;

  // One list each, for the quality test and the benchmark: vector-only (graph or exact) and
  // keyword-only.
  Task<Result<std::vector<Passage>>> search_vectors(std::string query, int k, bool exact,
                                                    CancelPtr cancel);
  Result<std::vector<Passage>> search_keywords(const std::string& query, int k);

  const KnowledgeConfig& config() const { return config_; }
  const std::string& base_dir() const { return base_dir_; }
  Index& index() { return *index_; }
  bool ingesting() const { return ingesting_; }
  // Runs an ingest unless one is running (then kUnavailable).
  Task<Result<IngestReport>> ingest(const ProgressFn& progress, CancelPtr cancel);

 private:
  Task<Result<std::vector<float>>> embed_query(const std::string& query, CancelPtr cancel);
  Result<std::vector<Passage>> to_passages(const std::vector<std::pair<int64_t, double>>& ranked,
                                           size_t k);
  Task<std::vector<Passage>> rerank(const std::string& query, std::vector<Passage> passages,
                                    CancelPtr cancel);

  KnowledgeConfig config_;
  std::string base_dir_;
  std::unique_ptr<Index> index_;
  Embedder embed_;
  RouterSource router_;
  std::atomic<bool> ingesting_{false};
};

// What KnowledgeSet::reload changed, by base name.
struct KnowledgeChanges {
  std::vector<std::string> added, reopened, removed;
};

class KnowledgeSet {
 public:
  ~KnowledgeSet();
  // Opens every base's index (creating empty ones); relative sources and indexes are taken
  // from the config file's folder. `embed`: how chunks and queries are embedded (default:
  // router_embedder(router)).
  static Result<std::shared_ptr<KnowledgeSet>> open(const Config& config, RouterSource router,
                                                    Embedder embed = {});

  // A base by name: a handle that stays valid for the set's life (copilots keep it) and
  // searches whatever the config names now, across reloads; null for an unknown name.
  KnowledgeBase* find(const std::string& name) const;
  // The base as opened now (`keel ingest`, tests): a reload may replace it.
  IndexedKnowledgeBase* find_indexed(const std::string& name) const;
  std::vector<std::string> names() const;
  bool empty() const;

  // `keel reload`: bases that are new, or whose entry changed (sources, embedding model,
  // chunking, index, rerank model), are opened anew and take over from the next search;
  // searches in flight finish on the base they started with. A removed base answers searches
  // with an error naming it. An index that cannot be opened fails the reload and changes
  // nothing. The caller then runs ingest_stale_in_background (once its new router is in place:
  // a new base may name a new embedding model).
  Result<KnowledgeChanges> reload(const Config& next);

  // For `keel serve`: bases whose sources changed since their last ingest are ingested on one
  // background thread with its own io_context, one after the other; searches meanwhile see the
  // previous index. Returns at once; a call while a run is going makes it look again when it
  // ends. The destructor cancels the run and joins the thread.
  void ingest_stale_in_background();

 private:
  class Slot;
  // The bases now, in name order, for the background run.
  std::vector<std::shared_ptr<IndexedKnowledgeBase>> current() const;

  RouterSource router_;
  Embedder embed_;
  std::string folder_;
  mutable std::mutex mutex_;  // bases_ (the map and each slot's base)
  std::map<std::string, std::unique_ptr<Slot>> bases_;
  std::unique_ptr<asio::io_context> background_context_;
  std::thread background_;
  CancelPtr background_cancel_;
  std::atomic<bool> background_running_{false};
  std::atomic<bool> background_again_{false};
};

// The folder a base's configured paths are relative to: the config file's folder.
std::string config_folder(const Config& config);

}  // namespace keel::knowledge
