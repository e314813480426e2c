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
  return [router = std::move(router)](
             const std::string& model, std::vector<std::string> texts,
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
  auto embedded = co_await embed_(config_.embedding_model, std::move(texts), cancel);
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
  const std::string folder = config_folder(config);
  if (!embed) embed = router_embedder(router);
  for (const auto& base : config.knowledge) {
    std::string index_dir = base.index.empty() ? ".keel-knowledge/" + base.name : base.index;
    if (index_dir[0] != '/') index_dir = folder + "/" + index_dir;
    auto index = Index::open(index_dir);
    if (!index) {
      return Error(index.error().code,
                   "knowledge base " + base.name + ": " + index.error().message);
    }
    set->bases_.emplace(base.name, std::make_unique<IndexedKnowledgeBase>(
                                       base, folder, std::move(*index), embed, router));
  }
  return set;
}

KnowledgeBase* KnowledgeSet::find(const std::string& name) const { return find_indexed(name); }

IndexedKnowledgeBase* KnowledgeSet::find_indexed(const std::string& name) const {
  auto it = bases_.find(name);
  return it == bases_.end() ? nullptr : it->second.get();
}

std::vector<std::string> KnowledgeSet::names() const {
  std::vector<std::string> out;
  for (const auto& [name, base] : bases_) out.push_back(name);
  return out;
}

void KnowledgeSet::ingest_stale_in_background() {
  if (bases_.empty() || background_.joinable()) return;
  background_cancel_ = std::make_shared<CancelToken>();
  background_context_ = std::make_unique<asio::io_context>();
  background_ = std::thread([this, cancel = background_cancel_] {
    asio::io_context& context = *background_context_;
    auto work = asio::make_work_guard(context);  // until the run ends, so a cancel can be posted
    auto run = [&]() -> Task<void> {
      for (auto& [name, base] : bases_) {
        if (cancel->cancelled()) break;
        auto stale = is_stale(base->index(), base->config(), base->base_dir());
        if (stale && !*stale) continue;
        KEEL_LOG(kInfo) << "knowledge " << name << ": sources changed, ingesting in the background";
        auto report = co_await base->ingest({}, cancel);
        if (!report) {
          KEEL_LOG(kWarn) << "knowledge " << name << ": ingest stopped: " << report.error().message;
          continue;
        }
        for (const auto& error : report->errors)
          KEEL_LOG(kWarn) << "knowledge " << name << ": " << error;
        KEEL_LOG(kInfo) << "knowledge " << name << ": " << report->indexed << " files indexed ("
                        << report->chunks << " chunks), " << report->unchanged << " unchanged, "
                        << report->removed << " removed, " << report->errors.size() << " failed";
      }
      work.reset();
    };
    asio::co_spawn(context, run(), asio::detached);
    context.run();
    http_pool_clear();
  });
}

}  // namespace keel::knowledge
