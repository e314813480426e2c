#include "knowledge/ingest.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "knowledge/knowledge_set.h"
#include "knowledge_test_util.h"

namespace keel::knowledge {
namespace {

namespace fs = std::filesystem;

class IngestTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "ingest-" + std::to_string(getpid()) + "-" +
           testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/docs/sub");
    write("docs/a.md", "# Alpha\n\nThe alpha service restarts nightly at two.\n");
    write("docs/sub/b.txt", "Bravo notes.\n\nThe bravo queue drains every hour.\n");
    write("docs/c.html",
          "<title>Charlie</title><h1>Charlie</h1><p>Charlie holds the archive keys.</p>");
    write("docs/skip.bin", "not a document kind");
    config_.name = "kb";
    config_.sources = {"docs/"};
    config_.embedding_model = "embed";
    config_.chunk_tokens = 64;
    config_.overlap_tokens = 8;
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& path, const std::string& text) {
    std::ofstream(dir_ + "/" + path, std::ios::binary) << text;
  }
  std::unique_ptr<Index> open_index() {
    auto index = Index::open(dir_ + "/index");
    EXPECT_TRUE(index.ok()) << index.error().message;
    return std::move(*index);
  }
  IngestReport run_ingest(Index& index, const Embedder& embed, CancelPtr cancel = nullptr) {
    auto report = run_task(ingest(index, config_, dir_, embed, {}, cancel));
    EXPECT_TRUE(report.ok()) << report.error().message;
    return report.ok() ? *report : IngestReport{};
  }

  std::string dir_;
  KnowledgeConfig config_;
};

TEST_F(IngestTest, IncrementalRunsSkipUnchangedAndRemoveDeleted) {
  auto index = open_index();
  CountingEmbedder embedder;
  IngestReport first = run_ingest(*index, embedder.fn());
  EXPECT_EQ(first.files, 3u);
  EXPECT_EQ(first.indexed, 3u);
  EXPECT_TRUE(first.errors.empty()) << first.errors.front();
  EXPECT_EQ(index->chunk_count(), first.chunks);
  EXPECT_TRUE(fs::exists(dir_ + "/index/vectors.hnsw"));
  EXPECT_FALSE(*is_stale(*index, config_, dir_));

  const int calls = embedder.calls;
  IngestReport again = run_ingest(*index, embedder.fn());
  EXPECT_EQ(again.unchanged, 3u);
  EXPECT_EQ(again.indexed, 0u);
  EXPECT_EQ(embedder.calls, calls) << "unchanged files are not embedded again";

  write("docs/a.md", "# Alpha\n\nThe alpha service now restarts weekly.\n");
  fs::remove(dir_ + "/docs/sub/b.txt");
  EXPECT_TRUE(*is_stale(*index, config_, dir_));
  IngestReport changed = run_ingest(*index, embedder.fn());
  EXPECT_EQ(changed.indexed, 1u);
  EXPECT_EQ(changed.removed, 1u);
  auto hits = index->keyword_search("bravo queue", 5);
  ASSERT_TRUE(hits.ok());
  EXPECT_TRUE(hits->empty()) << "a deleted file's chunks are gone";
  auto weekly = index->keyword_search("weekly", 5);
  ASSERT_TRUE(weekly.ok());
  ASSERT_EQ(weekly->size(), 1u);
  auto passages = index->passages({weekly->front().id});
  ASSERT_TRUE(passages.ok());
  EXPECT_EQ(passages->front().second.source, "docs/a.md");
  EXPECT_EQ(passages->front().second.heading, "Alpha");
}

TEST_F(IngestTest, BadFilesAreNamedTheRestIsIndexedAndASecondRunRetries) {
  write("docs/binary.txt", std::string("\x7f"
                                       "ELF\0\0\0",
                                       7));
  write("docs/empty.md", "");
  write("docs/broken.pdf", "%PDF-1.4 truncated");
  config_.sources.push_back("missing/");
  config_.sources.push_back("docs/*.nothing");
  auto index = open_index();
  CountingEmbedder embedder;
  IngestReport report = run_ingest(*index, embedder.fn());
  EXPECT_EQ(report.indexed, 3u);
  std::string all;
  for (const auto& error : report.errors) all += error + "\n";
  EXPECT_NE(all.find("missing/: no such file or folder"), std::string::npos) << all;
  EXPECT_NE(all.find("docs/*.nothing: the glob matches no files"), std::string::npos) << all;
  EXPECT_NE(all.find("docs/binary.txt: a binary file, not text"), std::string::npos) << all;
  EXPECT_NE(all.find("docs/empty.md: an empty file"), std::string::npos) << all;
  EXPECT_NE(all.find("docs/broken.pdf: a corrupt or unreadable pdf"), std::string::npos) << all;
  EXPECT_TRUE(*is_stale(*index, config_, dir_)) << "failed files make the base stale";

  write("docs/binary.txt", "Now it is text.\n");
  IngestReport retry = run_ingest(*index, embedder.fn());
  EXPECT_EQ(retry.indexed, 1u) << "only the fixed file is indexed again";
}

TEST_F(IngestTest, EmbeddingModelFailingMidIngestKeepsTheRest) {
  auto index = open_index();
  CountingEmbedder embedder;
  embedder.fail_after = 1;  // the first call answers, the rest fail
  IngestReport report = run_ingest(*index, embedder.fn());
  EXPECT_EQ(report.indexed, 1u);
  ASSERT_EQ(report.errors.size(), 2u);
  EXPECT_NE(report.errors[0].find(": embedding with embed failed: upstream down"),
            std::string::npos)
      << report.errors[0];
  embedder.fail_after = -1;
  IngestReport second = run_ingest(*index, embedder.fn());
  EXPECT_EQ(second.indexed, 2u);
  EXPECT_EQ(second.unchanged, 1u);
  EXPECT_TRUE(second.errors.empty());
}

// A page of API names, which the estimate undercounts: before, the model refused its chunks and
// the file failed ("input N has M tokens; this model embeds 1 to L"). Now they are cut to fit and
// every piece cites its own range of the extracted text.
TEST_F(IngestTest, AChunkLongerThanTheModelTakesIsIndexedInPiecesAtTheirPositions) {
  std::string page = "# Generic Operating System Services\n\n";
  for (int i = 0; i < 30; ++i) {
    page += "os.path.join_" + std::to_string(i) + "(a, b) os.O_RDONLY_" + std::to_string(i) + " ";
  }
  page += "\n";
  write("docs/allos.md", page);
  auto index = open_index();
  FineModel model;  // counts each non-space byte; takes 120
  IngestReport report = run_ingest(*index, model.embedder());
  EXPECT_TRUE(report.errors.empty()) << report.errors.front();
  EXPECT_EQ(report.indexed, 4u);
  EXPECT_GT(report.chunks_cut, 0);
  EXPECT_EQ(model.refusals, 0);

  auto extracted = extract_document("docs/allos.md", page);
  ASSERT_TRUE(extracted.ok());
  auto ids = index->chunk_ids({"docs/allos.md"});
  ASSERT_TRUE(ids.ok());
  auto passages = index->passages(std::vector<int64_t>(ids->begin(), ids->end()));
  ASSERT_TRUE(passages.ok());
  ASSERT_GT(passages->size(), 1u);
  bool has_last = false;
  for (const auto& [id, passage] : *passages) {
    has_last = has_last || passage.text.find("os.O_RDONLY_29") != std::string::npos;
    EXPECT_EQ(passage.text,
              extracted->text.substr(static_cast<size_t>(passage.start),
                                     static_cast<size_t>(passage.end - passage.start)));
    EXPECT_LE(fine_tokens(passage.heading + "\n\n" + passage.text), model.limit);
  }
  EXPECT_TRUE(has_last) << "the page's last name is indexed, not cut off";
}

TEST_F(IngestTest, AStoppedRunLeavesAUsableIndex) {
  auto index = open_index();
  CountingEmbedder embedder;
  run_ingest(*index, embedder.fn());
  const int64_t before = index->chunk_count();
  // A second run changes two files and stops during the second (as a crash would, the graph is
  // not published): what was committed is whole, and a fresh open rebuilds the graph from it.
  write("docs/a.md", "# Alpha\n\nChanged alpha text about restarts.\n");
  write("docs/c.html", "<h1>Charlie</h1><p>Changed charlie text.</p>");
  auto cancel = std::make_shared<CancelToken>();
  embedder.calls = 0;
  embedder.on_call = [&] {
    if (embedder.calls == 2) cancel->cancel(ErrorCode::kCancelled, "stopped");
  };
  auto stopped = run_task(ingest(*index, config_, dir_, embedder.fn(), {}, cancel));
  EXPECT_FALSE(stopped.ok());
  index.reset();
  auto reopened = open_index();
  EXPECT_EQ(reopened->chunk_count(), before);
  auto hits = reopened->vector_search(embed_text("charlie archive keys"), 1);
  ASSERT_TRUE(hits.ok()) << hits.error().message;
  ASSERT_EQ(hits->size(), 1u);
  auto top = reopened->passages({hits->front().id});
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(top->front().second.text, "Charlie holds the archive keys.") << "the old version stays";
  auto changed = reopened->keyword_search("changed alpha", 1);
  ASSERT_TRUE(changed.ok());
  ASSERT_EQ(changed->size(), 1u) << "the committed file is in both indexes";
  embedder.on_call = nullptr;
  IngestReport resumed = run_ingest(*reopened, embedder.fn());
  EXPECT_EQ(resumed.indexed, 1u) << "what the stopped run committed is not redone";
  EXPECT_EQ(resumed.unchanged, 2u);
}

TEST_F(IngestTest, GlobsAndFolders) {
  write("docs/sub/deep.md", "# Deep\n\ntext\n");
  std::vector<std::string> errors;
  KnowledgeConfig config = config_;
  config.sources = {"docs/*.md", "docs/**/*.md", "docs/c.html"};
  const auto files = list_sources(config, dir_, errors);
  EXPECT_TRUE(errors.empty());
  std::vector<std::string> paths;
  for (const auto& file : files) paths.push_back(file.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"docs/a.md", "docs/sub/deep.md", "docs/c.html"}));
}

TEST_F(IngestTest, KnowledgeSetSearchesFusedWithCitations) {
  const std::string yaml =
      "providers: [{name: p, kind: openai, base_url: 'http://127.0.0.1:1/v1', api_key: k}]\n"
      "models: [{name: embed, targets: [{provider: p, model: e}]}]\n"
      "knowledge:\n  - {name: kb, sources: [docs/], embedding_model: embed, chunk_tokens: 64, "
      "overlap_tokens: 8}\n";
  std::ofstream(dir_ + "/keel.yaml") << yaml;
  auto config = load_config_file(dir_ + "/keel.yaml");
  ASSERT_TRUE(config.ok()) << config.error().message;
  CountingEmbedder embedder;
  auto set = KnowledgeSet::open(
      *config, [] { return std::shared_ptr<Router>(); }, embedder.fn());
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ((*set)->names(), std::vector<std::string>{"kb"});
  EXPECT_EQ((*set)->find("nope"), nullptr);
  IndexedKnowledgeBase* base = (*set)->find_indexed("kb");
  ASSERT_NE(base, nullptr);
  auto empty = run_task(base->search("anything", {}, nullptr));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty()) << "an empty base finds nothing";
  auto report = run_task(base->ingest({}, nullptr));
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_TRUE(fs::exists(dir_ + "/.keel-knowledge/kb/index.db")) << "the default index folder";
  auto found = run_task(base->search("who holds the archive keys", {.k = 2}, nullptr));
  ASSERT_TRUE(found.ok()) << found.error().message;
  ASSERT_FALSE(found->empty());
  const Passage& top = found->front();
  EXPECT_EQ(top.knowledge, "kb");
  EXPECT_EQ(top.source, "docs/c.html");
  EXPECT_EQ(top.heading, "Charlie");
  EXPECT_EQ(top.text, "Charlie holds the archive keys.");
  EXPECT_GT(top.score, 0);
  EXPECT_EQ(top.chunk_id.rfind("chunk_", 0), 0u);
  EXPECT_LE(found->size(), 2u);
}

TEST(FusionTest, ReciprocalRankFusion) {
  const auto fused = reciprocal_rank_fusion({{1, 2, 3}, {3, 2, 4}});
  ASSERT_EQ(fused.size(), 4u);
  // 2: 1/62 + 1/62; 3: 1/63 + 1/61 (a bit more); 1: 1/61; 4: 1/63.
  EXPECT_EQ(fused[0].first, 3);
  EXPECT_EQ(fused[1].first, 2);
  EXPECT_EQ(fused[2].first, 1);
  EXPECT_EQ(fused[3].first, 4);
  EXPECT_DOUBLE_EQ(fused[1].second, 2.0 / 62);
}

TEST(FusionTest, FtsQueryQuotesWords) {
  EXPECT_EQ(Index::fts_query("How do I \"reset\" it? it"),
            "\"How\" OR \"do\" OR \"I\" OR \"reset\" OR \"it\"");
  EXPECT_EQ(Index::fts_query("  ?! "), "");
}

}  // namespace
}  // namespace keel::knowledge
