// `keel ingest NAME` (DESIGN.md "Commands"): ingests a configured knowledge base in this
// process, through the same router as `keel serve`; incremental (knowledge/ingest.h). Progress
// on stderr (a bar on a terminal), the summary on stdout (JSON with --json); exit status 1 when
// any file or source failed (the rest is indexed all the same).
// `keel search NAME QUERY [--k N] [--mode fused|vector|exact|keyword] [--json]`: what a
// search of the base returns, for checking a base by hand and for tests.
#include <unistd.h>

#include <cstdio>

#include "api/json_util.h"
#include "cli/commands.h"
#include "http/client.h"
#include "knowledge/knowledge_set.h"

namespace keel::cli {
namespace {

struct Opened {
  std::shared_ptr<Router> router;
  std::shared_ptr<knowledge::KnowledgeSet> set;
  knowledge::IndexedKnowledgeBase* base = nullptr;
};

// Loads the config, the router and the named base; prints why not and returns false.
bool open_base(const std::vector<std::string>& args, const std::string& name, Opened& out) {
  auto config = load_config(args);
  if (!config) {
    std::fprintf(stderr, "keel: %s\n", config.error().message.c_str());
    return false;
  }
  if (config->find_knowledge(name) == nullptr) {
    std::string known;
    for (const auto& base : config->knowledge) known += (known.empty() ? "" : ", ") + base.name;
    std::fprintf(stderr, "keel: no knowledge base named '%s' in %s (configured: %s)\n",
                 name.c_str(), config->source.c_str(), known.empty() ? "none" : known.c_str());
    return false;
  }
  auto made = make_router(*config);
  if (!made) {
    std::fprintf(stderr, "keel: %s\n", made.error().message.c_str());
    return false;
  }
  out.router = std::shared_ptr<Router>(std::move(*made));
  auto set = knowledge::KnowledgeSet::open(*config, [router = out.router] { return router; });
  if (!set) {
    std::fprintf(stderr, "keel: %s\n", set.error().message.c_str());
    return false;
  }
  out.set = std::move(*set);
  out.base = out.set->find_indexed(name);
  return true;
}

void draw_progress(const knowledge::IngestProgress& p) {
  constexpr int kWidth = 30;
  const int filled = p.total == 0 ? kWidth : static_cast<int>(kWidth * p.done / p.total);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kWidth, '-');
  std::string path = p.path;
  if (path.size() > 40) path = "..." + path.substr(path.size() - 37);
  std::fprintf(stderr, "\r[%s] %zu/%zu files, %lld chunks, %zu failed  %-40s", bar.c_str(), p.done,
               p.total, static_cast<long long>(p.chunks), p.failed, path.c_str());
  std::fflush(stderr);
}

template <typename T>
T run_to_end(Task<T> task) {
  asio::io_context context;
  std::optional<T> out;
  asio::co_spawn(
      context, [&]() -> Task<void> { out.emplace(co_await std::move(task)); }, asio::detached);
  context.run();
  http_pool_clear();
  return std::move(*out);
}

}  // namespace

int ingest(const std::vector<std::string>& args) {
  if (args.empty() || args[0].starts_with("--")) {
    std::fputs("usage: keel ingest NAME [--config FILE] [--json]\n", stderr);
    return 2;
  }
  bool json_output = false;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--json") {
      json_output = true;
    } else if (args[i] == "--config" && i + 1 < args.size()) {
      ++i;
    } else {
      std::fprintf(stderr, "keel ingest: unknown argument '%s'\n", args[i].c_str());
      return 2;
    }
  }
  Opened opened;
  if (!open_base(args, args[0], opened)) return 1;
  const bool terminal = ::isatty(STDERR_FILENO) == 1;
  knowledge::ProgressFn progress;
  if (terminal) progress = draw_progress;
  auto report = run_to_end(opened.base->ingest(progress, std::make_shared<CancelToken>()));
  if (terminal) std::fputc('\n', stderr);
  if (!report) {
    std::fprintf(stderr, "keel: ingest %s: %s\n", args[0].c_str(), report.error().message.c_str());
    return 1;
  }
  for (const auto& error : report->errors)
    std::fprintf(stderr, "keel: ingest %s: %s\n", args[0].c_str(), error.c_str());
  if (json_output) {
    Json out = {{"knowledge", args[0]},
                {"files", report->files},
                {"indexed", report->indexed},
                {"unchanged", report->unchanged},
                {"removed", report->removed},
                {"chunks_written", report->chunks},
                {"chunks_cut", report->chunks_cut},
                {"chunks_total", opened.base->index().chunk_count()},
                {"errors", report->errors}};
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf(
        "%s: %zu files: %zu indexed (%lld chunks), %zu unchanged, %zu removed, %zu failed; "
        "%lld chunks in the index\n",
        args[0].c_str(), report->files, report->indexed, static_cast<long long>(report->chunks),
        report->unchanged, report->removed, report->errors.size(),
        static_cast<long long>(opened.base->index().chunk_count()));
  }
  return report->errors.empty() ? 0 : 1;
}

int search(const std::vector<std::string>& args) {
  if (args.size() < 2 || args[0].starts_with("--") || args[1].starts_with("--")) {
    std::fputs(
        "usage: keel search NAME QUERY [--k N] [--mode fused|vector|exact|keyword] [--rerank] "
        "[--config FILE] [--json]\n",
        stderr);
    return 2;
  }
  bool json_output = false;
  int k = 5;
  std::string mode = "fused";
  knowledge::SearchOptions options;
  for (size_t i = 2; i < args.size(); ++i) {
    if (args[i] == "--json") {
      json_output = true;
    } else if (args[i] == "--rerank") {
      options.rerank = true;
    } else if (args[i] == "--k" && i + 1 < args.size()) {
      k = std::atoi(args[++i].c_str());
      if (k < 1 || k > 1000) {
        std::fputs("keel search: --k must be 1 to 1000\n", stderr);
        return 2;
      }
    } else if (args[i] == "--mode" && i + 1 < args.size()) {
      mode = args[++i];
      if (mode != "fused" && mode != "vector" && mode != "exact" && mode != "keyword") {
        std::fprintf(stderr, "keel search: unknown mode '%s' (fused, vector, exact, keyword)\n",
                     mode.c_str());
        return 2;
      }
    } else if (args[i] == "--config" && i + 1 < args.size()) {
      ++i;
    } else {
      std::fprintf(stderr, "keel search: unknown argument '%s'\n", args[i].c_str());
      return 2;
    }
  }
  Opened opened;
  if (!open_base(args, args[0], opened)) return 1;
  options.k = k;
  auto cancel = std::make_shared<CancelToken>();
  Result<std::vector<knowledge::Passage>> found =
      mode == "keyword"
          ? opened.base->search_keywords(args[1], k)
          : run_to_end(mode == "fused"
                           ? opened.base->search(args[1], options, cancel)
                           : opened.base->search_vectors(args[1], k, mode == "exact", cancel));
  if (!found) {
    std::fprintf(stderr, "keel: search %s: %s\n", args[0].c_str(), found.error().message.c_str());
    return 1;
  }
  if (json_output) {
    Json out = Json::array();
    for (const auto& p : *found) {
      out.push_back({{"knowledge", p.knowledge},
                     {"source", p.source},
                     {"chunk_id", p.chunk_id},
                     {"start", p.start},
                     {"end", p.end},
                     {"heading", p.heading},
                     {"text", p.text},
                     {"score", p.score}});
    }
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    for (const auto& p : *found) {
      std::printf("%.4f  %s [%lld-%lld] %s\n", p.score, p.source.c_str(),
                  static_cast<long long>(p.start), static_cast<long long>(p.end),
                  p.heading.c_str());
    }
  }
  return 0;
}

}  // namespace keel::cli
