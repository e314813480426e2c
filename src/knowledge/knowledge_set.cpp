#include "knowledge/knowledge_set.h"

#include <algorithm>
#include <filesystem>
#include <unordered_map>

#include "core/log.h"
#include "http/client.h"

namespace keel::knowledge {
namespace {

// Folds a rerank answer; the model's text is all it needs.
class CollectingSink final : public EventSink {
 public:
  Task<bool> on_event(ChatEvent event) override {
    aggregator_.add(event);
    co_return true;
  }
  std::string text() const { return aggregator_.response().message.text(); }

 private:
  ChatAggregator aggregator_;
};

// The passage numbers (1-based) in a rerank answer such as "[3, 1, 2]", in order, each once.
std::vector<size_t> parse_ranking(const std::string& text, size_t count) {
  std::vector<size_t> order;
  const size_t open = text.find('[');
  const size_t close = text.find(']', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || close == std::string::npos) return order;
  size_t value = 0;
  bool in_number = false;
  for (size_t i = open + 1; i <= close; ++i) {
    const char c = text[i];
    if (c >= '0' && c <= '9') {
      value = std::min<size_t>(value * 10 + static_cast<size_t>(c - '0'), 1'000'000);
      in_number = true;
      continue;
    }
    if (in_number && value >= 1 && value <= count &&
        std::find(order.begin(), order.end(), value - 1) == order.end()) {
      order.push_back(value - 1);
    }
    value = 0;
    in_number = false;
  }
  return order;
}

}  // namespace

std::string config_folder(const Config& config) {
  if (config.source.empty() || config.source[0] == '<') return ".";
  const std::string parent = std::filesystem::path(config.source).parent_path().string();
  return parent.empty() ? "." : parent;
}

Embedder router_embedder(RouterSource router) {
  EmbedFn embed = [router](const std::string& model, std::vector<std::string> texts,
                           CancelPtr cancel) -> Task<Result<std::vector<std::vector<float>>>> {
    std::shared_ptr<Router> current = router();
    if (!current) co_return Error(ErrorCode::kUnavailable, "no router to embed through");
    EmbedRequest request;
    request.model = model;
    request.inputs = std::move(texts);
    request.raw_input = Json(request.inputs);
    std::vector<AttemptRecord> attempts;
    // No temporaries inside co_await (g++ 12 ends their lifetime at the first suspension).
    CancelPtr token = cancel ? cancel : std::make_shared<CancelToken>();
    auto embedded = co_await current->embed(request, token, attempts);
    if (!embedded) co_return embedded.error();
    co_return std::move(embedded->vectors);
  };
  EmbedCountFn count = [router](const std::string& model, std::vector<std::string> texts,
                                CancelPtr cancel) -> Task<Result<EmbedTokenCounts>> {
    std::shared_ptr<Router> current = router();
    if (!current) co_return Error(ErrorCode::kUnavailable, "no router to embed through");
    CancelPtr token = cancel ? cancel : std::make_shared<CancelToken>();
    co_return co_await current->count_embed_tokens(model, texts, token);
  };
  return Embedder(std::move(embed), std::move(count));
}

std::vector<std::pair<int64_t, double>> reciprocal_rank_fusion(
    const std::vector<std::vector<int64_t>>& rankings, int k) {
  std::vector<std::pair<int64_t, double>> fused;
  std::unordered_map<int64_t, size_t> position;
  for (const auto& ranking : rankings) {
    for (size_t rank = 0; rank < ranking.size(); ++rank) {
      const double score = 1.0 / (k + static_cast<double>(rank + 1));
      auto [it, inserted] = position.emplace(ranking[rank], fused.size());
      if (inserted) {
        fused.emplace_back(ranking[rank], score);
      } else {
        fused[it->second].second += score;
      }
    }
  }
  std::stable_sort(fused.begin(), fused.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return fused;
}

IndexedKnowledgeBase::IndexedKnowledgeBase(KnowledgeConfig config, std::string base_dir,
                                           std::unique_ptr<Index> index, Embedder embed,
                                           RouterSource router)
    : config_(std::move(config)),
      base_dir_(std::move(base_dir)),
      index_(std::move(index)),
      embed_(std::move(embed)),
      router_(std::move(router)) {}

Task<Result<std::vector<float>>> IndexedKnowledgeBase::embed_query(const std::string& query,
                                                                   CancelPtr cancel) {
  std::vector<std::string> texts(1, query);
  auto embedded = co_await embed_.embed(config_.embedding_model, std::move(texts), cancel);
  if (!embedded) co_return embedded.error();
  if (embedded->size() != 1) {
    std::string message = "the embedding model returned " + std::to_string(embedded->size()) +
                          " vectors for one query";
    co_return Error(ErrorCode::kBadGateway, std::move(message));
  }
  co_return std::move(embedded->front());
}

Result<std::vector<Passage>> IndexedKnowledgeBase::to_passages(
    const std::vector<std::pair<int64_t, double>>& ranked, size_t k) {
  std::vector<int64_t> ids;
  for (size_t i = 0; i < ranked.size() && i < k; ++i) ids.push_back(ranked[i].first);
  auto found = index_->passages(ids);
  if (!found) return found.error();
  std::unordered_map<int64_t, double> scores(ranked.begin(), ranked.end());
  std::vector<Passage> passages;
  for (auto& [id, passage] : *found) {
    passage.knowledge = config_.name;
    passage.score = scores[id];
    passages.push_back(std::move(passage));
  }
  return passages;
}

Task<Result<std::vector<Passage>>> IndexedKnowledgeBase::search_vectors(std::string query, int k,
                                                                        bool exact,
                                                                        CancelPtr cancel) {
  auto vector = co_await embed_query(query, cancel);
  if (!vector) co_return vector.error();
  auto hits = exact ? index_->exact_vector_search(*vector, k) : index_->vector_search(*vector, k);
  if (!hits) co_return hits.error();
  std::vector<std::pair<int64_t, double>> ranked;
  for (const auto& hit : *hits) ranked.emplace_back(hit.id, hit.score);
  co_return to_passages(ranked, static_cast<size_t>(k));
}

Result<std::vector<Passage>> IndexedKnowledgeBase::search_keywords(const std::string& query,
                                                                   int k) {
  auto hits = index_->keyword_search(query, k);
  if (!hits) return hits.error();
  std::vector<std::pair<int64_t, double>> ranked;
  for (const auto& hit : *hits) ranked.emplace_back(hit.id, hit.score);
  return to_passages(ranked, static_cast<size_t>(k));
}

Task<Result<std::vector<Passage>>> IndexedKnowledgeBase::search(std::string query,
                                                                SearchOptions options,
                                                                CancelPtr cancel) {
  if (options.k <= 0) co_return std::vector<Passage>();
  const int candidates = std::max(kCandidates, options.k * 2);
  auto keyword_hits = index_->keyword_search(query, candidates);
  if (!keyword_hits) co_return keyword_hits.error();
  std::vector<int64_t> keyword_ids, vector_ids;
  for (const auto& hit : *keyword_hits) keyword_ids.push_back(hit.id);
  if (index_->chunk_count() == 0) co_return std::vector<Passage>();
  auto vector = co_await embed_query(query, cancel);
  if (!vector) co_return vector.error();
  auto vector_hits = index_->vector_search(*vector, candidates);
  if (!vector_hits) co_return vector_hits.error();
  for (const auto& hit : *vector_hits) vector_ids.push_back(hit.id);
  auto passages = to_passages(reciprocal_rank_fusion({vector_ids, keyword_ids}),
                              static_cast<size_t>(options.k));
  if (!passages) co_return passages.error();
  if (options.rerank && !config_.rerank_model.empty() && passages->size() > 1) {
    co_return co_await rerank(query, std::move(*passages), cancel);
  }
  co_return std::move(*passages);
}

Task<std::vector<Passage>> IndexedKnowledgeBase::rerank(const std::string& query,
                                                        std::vector<Passage> passages,
                                                        CancelPtr cancel) {
  std::shared_ptr<Router> router = router_ ? router_() : nullptr;
  if (!router) co_return passages;
  constexpr size_t kPassageChars = 1200;
  std::string prompt =
      "Rank the passages by how well they answer the question, best first. Answer with the "
      "passage numbers only, as a JSON array such as [2, 1, 3].\n\nQuestion: " +
      query + "\n";
  for (size_t i = 0; i < passages.size(); ++i) {
    prompt += "\nPassage " + std::to_string(i + 1) + ":\n" +
              passages[i].text.substr(0, kPassageChars) + "\n";
  }
  ChatRequest request;
  request.model = config_.rerank_model;
  Message message;
  message.role = Role::kUser;
  message.content.push_back(ContentPart{ContentPart::Type::kText, prompt, "", "", nullptr});
  request.messages.push_back(std::move(message));
  request.sampling.temperature = 0;
  CollectingSink sink;
  CancelPtr token = cancel ? cancel : std::make_shared<CancelToken>();
  ChatOutcome outcome = co_await router->chat(request, sink, token);
  if (!outcome.status.ok()) {
    KEEL_LOG(kWarn) << "knowledge " << config_.name << ": rerank with " << config_.rerank_model
                    << " failed, keeping the fused order: " << outcome.status.error().message;
    co_return passages;
  }
  const std::vector<size_t> order = parse_ranking(sink.text(), passages.size());
  std::vector<Passage> out;
  std::vector<bool> used(passages.size(), false);
  for (size_t index : order) {
    out.push_back(passages[index]);
    used[index] = true;
  }
  for (size_t i = 0; i < passages.size(); ++i) {
    if (!used[i]) out.push_back(std::move(passages[i]));
  }
  // Scores follow the new order, so "higher is better" still holds.
  for (size_t i = 0; i < out.size(); ++i) out[i].score = 1.0 / static_cast<double>(i + 1);
  co_return out;
}

Task<Result<IngestReport>> IndexedKnowledgeBase::ingest(const ProgressFn& progress,
                                                        CancelPtr cancel) {
  bool expected = false;
  if (!ingesting_.compare_exchange_strong(expected, true)) {
    co_return Error(ErrorCode::kUnavailable,
                    "knowledge base " + config_.name + " is being ingested already");
  }
  auto report =
      co_await knowledge::ingest(*index_, config_, base_dir_, embed_, progress, std::move(cancel));
  ingesting_ = false;
  co_return report;
}

// A name's handle: what copilots hold. The base behind it is swapped by a reload; a search
// takes the base it starts with, so a swap never pulls it out from under the search.
class KnowledgeSet::Slot final : public KnowledgeBase {
 public:
  Slot(std::string name, std::mutex& mutex) : name_(std::move(name)), mutex_(mutex) {}
  const std::string& name() const override { return name_; }
  Task<Result<std::vector<Passage>>> search(std::string query, SearchOptions options,
                                            CancelPtr cancel) override {
    std::shared_ptr<IndexedKnowledgeBase> base = get();
    if (!base) {
      co_return Error(ErrorCode::kUnavailable,
                      "knowledge base " + name_ + " is no longer in the config");
    }
    co_return co_await base->search(std::move(query), options, std::move(cancel));
  }
  std::shared_ptr<IndexedKnowledgeBase> get() const {
    std::lock_guard lock(mutex_);
    return base_;
  }
  // With the set's mutex held.
  std::shared_ptr<IndexedKnowledgeBase> base_;

 private:
  std::string name_;
  std::mutex& mutex_;
};

namespace {

bool same_base(const KnowledgeConfig& a, const KnowledgeConfig& b) {
  return a.sources == b.sources && a.embedding_model == b.embedding_model &&
         a.chunk_tokens == b.chunk_tokens && a.overlap_tokens == b.overlap_tokens &&
         a.rerank_model == b.rerank_model && a.index == b.index && a.embed_batch == b.embed_batch &&
         a.embedding_max_tokens == b.embedding_max_tokens;
}

Result<std::shared_ptr<IndexedKnowledgeBase>> open_base(const KnowledgeConfig& base,
                                                        const std::string& folder,
                                                        const Embedder& embed,
                                                        const RouterSource& router) {
  std::string index_dir = base.index.empty() ? ".keel-knowledge/" + base.name : base.index;
  if (index_dir[0] != '/') index_dir = folder + "/" + index_dir;
  auto index = Index::open(index_dir);
  if (!index) {
    return Error(index.error().code, "knowledge base " + base.name + ": " + index.error().message);
  }
  return std::make_shared<IndexedKnowledgeBase>(base, folder, std::move(*index), embed, router);
}

}  // namespace

KnowledgeSet::~KnowledgeSet() {
  if (background_.joinable()) {
    // The token belongs to the background thread: cancelled there.
    asio::post(*background_context_, [cancel = background_cancel_] {
      cancel->cancel(ErrorCode::kCancelled, "keel is stopping");
    });
    background_.join();
  }
}

Result<std::shared_ptr<KnowledgeSet>> KnowledgeSet::open(const Config& config, RouterSource router,
                                                         Embedder embed) {
  auto set = std::make_shared<KnowledgeSet>();
  set->folder_ = config_folder(config);
  set->router_ = router;
  set->embed_ = embed ? std::move(embed) : router_embedder(router);
  for (const auto& base : config.knowledge) {
    auto opened = open_base(base, set->folder_, set->embed_, set->router_);
    if (!opened) return opened.error();
    auto slot = std::make_unique<Slot>(base.name, set->mutex_);
    slot->base_ = std::move(*opened);
    set->bases_.emplace(base.name, std::move(slot));
  }
  return set;
}

Result<KnowledgeChanges> KnowledgeSet::reload(const Config& next) {
  // Opened first, outside the lock, so that a failure changes nothing.
  std::map<std::string, std::shared_ptr<IndexedKnowledgeBase>> opened;
  KnowledgeChanges changes;
  for (const auto& base : next.knowledge) {
    std::shared_ptr<IndexedKnowledgeBase> now;
    if (auto it = bases_.find(base.name); it != bases_.end()) now = it->second->get();
    if (now && same_base(now->config(), base)) continue;
    auto fresh = open_base(base, folder_, embed_, router_);
    if (!fresh) return fresh.error();
    (now ? changes.reopened : changes.added).push_back(base.name);
    opened.emplace(base.name, std::move(*fresh));
  }
  {
    std::lock_guard lock(mutex_);
    for (auto& [name, slot] : bases_) {
      const bool kept = std::any_of(next.knowledge.begin(), next.knowledge.end(),
                                    [&](const KnowledgeConfig& base) { return base.name == name; });
      if (!kept && slot->base_) {
        slot->base_.reset();
        changes.removed.push_back(name);
      }
    }
    for (auto& [name, base] : opened) {
      auto& slot = bases_[name];
      if (!slot) slot = std::make_unique<Slot>(name, mutex_);
      slot->base_ = std::move(base);
    }
  }
  return changes;
}

KnowledgeBase* KnowledgeSet::find(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = bases_.find(name);
  return it == bases_.end() ? nullptr : it->second.get();
}

IndexedKnowledgeBase* KnowledgeSet::find_indexed(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = bases_.find(name);
  return it == bases_.end() ? nullptr : it->second->base_.get();
}

std::vector<std::string> KnowledgeSet::names() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [name, slot] : bases_) {
    if (slot->base_) out.push_back(name);
  }
  return out;
}

bool KnowledgeSet::empty() const { return names().empty(); }

std::vector<std::shared_ptr<IndexedKnowledgeBase>> KnowledgeSet::current() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<IndexedKnowledgeBase>> out;
  for (const auto& [name, slot] : bases_) {
    if (slot->base_) out.push_back(slot->base_);
  }
  return out;
}

void KnowledgeSet::ingest_stale_in_background() {
  if (empty()) return;
  background_again_ = true;
  if (background_running_.exchange(true)) return;  // the run going looks again when it ends
  if (background_.joinable()) background_.join();  // a run that has ended
  background_cancel_ = std::make_shared<CancelToken>();
  background_context_ = std::make_unique<asio::io_context>();
  background_ = std::thread([this, cancel = background_cancel_] {
    asio::io_context& context = *background_context_;
    auto work = asio::make_work_guard(context);  // until the run ends, so a cancel can be posted
    auto run = [&]() -> Task<void> {
      for (;;) {
        while (background_again_.exchange(false) && !cancel->cancelled()) {
          for (const auto& base : current()) {
            if (cancel->cancelled()) break;
            const std::string& name = base->name();
            auto stale = is_stale(base->index(), base->config(), base->base_dir());
            if (stale && !*stale) continue;
            KEEL_LOG(kInfo) << "knowledge " << name
                            << ": sources changed, ingesting in the background";
            auto report = co_await base->ingest({}, cancel);
            if (!report) {
              KEEL_LOG(kWarn) << "knowledge " << name
                              << ": ingest stopped: " << report.error().message;
              continue;
            }
            for (const auto& error : report->errors)
              KEEL_LOG(kWarn) << "knowledge " << name << ": " << error;
            KEEL_LOG(kInfo) << "knowledge " << name << ": " << report->indexed << " files indexed ("
                            << report->chunks << " chunks), " << report->unchanged << " unchanged, "
                            << report->removed << " removed, " << report->errors.size()
                            << " failed";
          }
        }
        background_running_ = false;
        // A call that came as the last pass ended, and saw this run still going, is served here.
        if (!background_again_ || cancel->cancelled() || background_running_.exchange(true)) break;
      }
      work.reset();
    };
    asio::co_spawn(context, run(), asio::detached);
    context.run();
    http_pool_clear();
  });
}

}  // namespace keel::knowledge
