// Retrieval latency and memory of a knowledge index (src/knowledge/index.h) at a given size,
// against a brute-force exact scan measured in the same run. The embedding call is excluded:
// query vectors are made up front. Chunks are synthetic: random unit vectors of DIMS and text
// drawn from a Zipf-distributed vocabulary, so BM25 has realistic posting lists.
//
//   keel_knowledge_bench --chunks 100000 --dims 384 --queries 200 --dir /tmp/kb-bench
//
// Prints one JSON object: build times, p50/p99 per search kind, graph recall@10 against the
// exact scan, RSS growth and the index's files' sizes.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "knowledge/index.h"
#include "knowledge/knowledge_set.h"

using namespace keel::knowledge;
using Clock = std::chrono::steady_clock;

namespace {

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct Percentiles {
  double p50 = 0, p99 = 0;
};
Percentiles percentiles(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    return samples[std::min(samples.size() - 1, static_cast<size_t>(q * samples.size()))];
  };
  return {at(0.5), at(0.99)};
}

std::vector<float> random_vector(std::mt19937& rng, int dims) {
  std::normal_distribution<float> normal;
  std::vector<float> v(static_cast<size_t>(dims));
  for (auto& x : v) x = normal(rng);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  int chunks = 10000, dims = 384, queries = 200, per_file = 100;
  std::string dir = "/tmp/keel-knowledge-bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--chunks")
      chunks = std::atoi(argv[i + 1]);
    else if (flag == "--dims")
      dims = std::atoi(argv[i + 1]);
    else if (flag == "--queries")
      queries = std::atoi(argv[i + 1]);
    else if (flag == "--dir")
      dir = argv[i + 1];
    else {
      std::fprintf(
          stderr,
          "usage: keel_knowledge_bench [--chunks N] [--dims D] [--queries Q] [--dir DIR]\n");
      return 2;
    }
  }
  std::filesystem::remove_all(dir);
  std::mt19937 rng(42);
  // A Zipf vocabulary of 20,000 made-up words.
  std::vector<std::string> vocabulary;
  for (int w = 0; w < 20000; ++w) vocabulary.push_back("w" + std::to_string(w));
  std::vector<double> weights;
  for (int w = 0; w < 20000; ++w) weights.push_back(1.0 / (w + 1));
  std::discrete_distribution<int> zipf(weights.begin(), weights.end());
  auto sentence = [&](int words) {
    std::string text;
    for (int i = 0; i < words; ++i)
      text += (i ? " " : "") + vocabulary[static_cast<size_t>(zipf(rng))];
    return text;
  };

  const long rss_before = rss_kib();
  auto opened = Index::open(dir);
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.error().message.c_str());
    return 1;
  }
  Index& index = **opened;
  (void)index.use_embedding_model("bench");
  const auto insert_start = Clock::now();
  for (int file = 0; file * per_file < chunks; ++file) {
    std::vector<Chunk> batch;
    std::vector<std::vector<float>> vectors;
    for (int i = 0; i < per_file && file * per_file + i < chunks; ++i) {
      Chunk chunk;
      chunk.text = sentence(200);
      chunk.heading = "file " + std::to_string(file);
      chunk.end = chunk.text.size();
      batch.push_back(std::move(chunk));
      vectors.push_back(random_vector(rng, dims));
    }
    FileState state;
    state.path = "file-" + std::to_string(file);
    state.hash = state.path;
    if (auto ok = index.replace_file(state, batch, vectors); !ok) {
      std::fprintf(stderr, "%s\n", ok.error().message.c_str());
      return 1;
    }
  }
  const double insert_ms = ms_since(insert_start);
  const auto graph_start = Clock::now();
  if (auto ok = index.publish_vectors(); !ok) {
    std::fprintf(stderr, "%s\n", ok.error().message.c_str());
    return 1;
  }
  const double graph_ms = ms_since(graph_start);
  const long rss_after = rss_kib();

  std::vector<std::vector<float>> query_vectors;
  std::vector<std::string> query_texts;
  for (int q = 0; q < queries; ++q) {
    query_vectors.push_back(random_vector(rng, dims));
    query_texts.push_back(sentence(8));
  }
  std::vector<double> graph_ms_samples, exact_ms_samples, keyword_ms_samples, fused_ms_samples;
  double recall = 0;
  for (int q = 0; q < queries; ++q) {
    auto start = Clock::now();
    auto graph = index.vector_search(query_vectors[q], 10);
    graph_ms_samples.push_back(ms_since(start));
    start = Clock::now();
    auto exact = index.exact_vector_search(query_vectors[q], 10);
    exact_ms_samples.push_back(ms_since(start));
    start = Clock::now();
    auto keyword = index.keyword_search(query_texts[q], 10);
    keyword_ms_samples.push_back(ms_since(start));
    // Fused as IndexedKnowledgeBase::search does it, minus the embedding call.
    start = Clock::now();
    auto graph40 = index.vector_search(query_vectors[q], IndexedKnowledgeBase::kCandidates);
    auto keyword40 = index.keyword_search(query_texts[q], IndexedKnowledgeBase::kCandidates);
    std::vector<int64_t> a, b, top;
    for (const auto& hit : *graph40) a.push_back(hit.id);
    for (const auto& hit : *keyword40) b.push_back(hit.id);
    const auto fused = reciprocal_rank_fusion({a, b});
    for (size_t i = 0; i < fused.size() && i < 5; ++i) top.push_back(fused[i].first);
    auto passages = index.passages(top);
    fused_ms_samples.push_back(ms_since(start));
    std::set<int64_t> truth;
    for (const auto& hit : *exact) truth.insert(hit.id);
    int found = 0;
    for (const auto& hit : *graph) found += truth.count(hit.id) ? 1 : 0;
    recall += truth.empty() ? 1 : static_cast<double>(found) / truth.size();
  }
  auto size_of = [&](const char* name) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(dir + "/" + name, ec);
    return ec ? 0.0 : static_cast<double>(size);
  };
  const Percentiles graph = percentiles(graph_ms_samples), exact = percentiles(exact_ms_samples),
                    keyword = percentiles(keyword_ms_samples),
                    fused = percentiles(fused_ms_samples);
  std::printf(
      "{\"chunks\": %d, \"dims\": %d, \"queries\": %d, \"insert_ms\": %.0f, \"graph_build_ms\": "
      "%.0f,\n"
      " \"vector_hnsw_ms\": {\"p50\": %.3f, \"p99\": %.3f}, \"vector_exact_ms\": {\"p50\": %.3f, "
      "\"p99\": %.3f},\n"
      " \"keyword_bm25_ms\": {\"p50\": %.3f, \"p99\": %.3f}, \"fused_ms\": {\"p50\": %.3f, "
      "\"p99\": %.3f},\n"
      " \"hnsw_recall_at_10\": %.4f, \"rss_growth_mib\": %.1f, \"rss_mib_per_100k_chunks\": %.1f,\n"
      " \"index_db_mib\": %.1f, \"vectors_hnsw_mib\": %.1f}\n",
      chunks, dims, queries, insert_ms, graph_ms, graph.p50, graph.p99, exact.p50, exact.p99,
      keyword.p50, keyword.p99, fused.p50, fused.p99, recall / queries,
      (rss_after - rss_before) / 1024.0, (rss_after - rss_before) / 1024.0 * 100000.0 / chunks,
      size_of("index.db") / 1048576.0, size_of("vectors.hnsw") / 1048576.0);
  std::filesystem::remove_all(dir);
  return 0;
}
