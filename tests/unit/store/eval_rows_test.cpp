#include <gtest/gtest.h>

#include <filesystem>

#include "store/sqlite/sqlite_store.h"

namespace keel {
namespace {

TEST(EvalRows, SavedReplacedAndReadBackByRunAndShadowPairsByModel) {
  for (std::string path :
       {std::string(":memory:"), (std::filesystem::temp_directory_path() /
                                  ("keel-eval-rows-" + std::to_string(::getpid()) + ".db"))
                                     .string()}) {
    std::filesystem::remove(path);
    auto store = SqliteStore::open(path);
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE((*store)->save_eval_run("run-1", R"({"target": "m"})").ok());
    ASSERT_TRUE((*store)->save_eval_run("run-1", R"({"target": "other"})").ok());  // kept first
    EvalRowRecord row{"run-1", 1, "b", 5, R"({"v": 1})"};
    ASSERT_TRUE((*store)->save_eval_row(row).ok());
    row.candidate = "a";
    ASSERT_TRUE((*store)->save_eval_row(row).ok());
    row.line = 0;
    ASSERT_TRUE((*store)->save_eval_row(row).ok());
    row.result = R"({"v": 2})";
    ASSERT_TRUE((*store)->save_eval_row(row).ok());  // same key: replaced
    ASSERT_TRUE((*store)->save_eval_row({"run-2", 0, "a", 5, "{}"}).ok());
    auto rows = (*store)->eval_rows("run-1");
    ASSERT_TRUE(rows) << rows.error().message;
    ASSERT_EQ(rows->size(), 3u);
    EXPECT_EQ((*rows)[0].line, 0);
    EXPECT_EQ((*rows)[0].result, R"({"v": 2})");
    EXPECT_EQ((*rows)[1].candidate, "a");
    EXPECT_EQ((*rows)[2].candidate, "b");
    EXPECT_TRUE((*store)->eval_rows("none")->empty());
    ASSERT_TRUE((*store)->save_eval_run("run-3", R"({"target": "x"})").ok());
    auto runs = (*store)->eval_runs(10);
    ASSERT_TRUE(runs) << runs.error().message;
    ASSERT_EQ(runs->size(), 2u);        // run-2 has rows but no eval_runs entry: not listed
    EXPECT_EQ((*runs)[0].id, "run-3");  // newest first
    EXPECT_EQ((*runs)[0].rows, 0);
    EXPECT_EQ((*runs)[0].last_ms, 0);
    EXPECT_EQ((*runs)[1].id, "run-1");
    EXPECT_EQ((*runs)[1].describe, R"({"target": "m"})");
    EXPECT_EQ((*runs)[1].rows, 3);
    EXPECT_EQ((*runs)[1].last_ms, 5);
    EXPECT_EQ((*store)->eval_runs(1)->size(), 1u);
    EXPECT_FALSE((*store)->eval_runs(-1));
    // Queued like request records: written by the writer, read after flush().
    (*store)->record_shadow_pair({"req_1", "main", "cand", 10, "{}"}, Trace());
    (*store)->record_shadow_pair({"req_2", "main", "cand", 20, R"({"x": 1})"}, Trace());
    (*store)->record_shadow_pair({"req_3", "other", "cand", 30, "{}"}, Trace());
    (*store)->flush();
    auto pairs = (*store)->shadow_pairs("main", 10);
    ASSERT_TRUE(pairs) << pairs.error().message;
    ASSERT_EQ(pairs->size(), 2u);
    EXPECT_EQ((*pairs)[0].id, "req_2");  // newest first
    EXPECT_EQ((*pairs)[0].result, R"({"x": 1})");
    EXPECT_EQ((*pairs)[1].shadow_model, "cand");
    EXPECT_EQ((*store)->shadow_pairs("main", 1)->size(), 1u);
    EXPECT_FALSE((*store)->shadow_pairs("main", -1));
    store->reset();
    if (path != ":memory:") {
      auto again = SqliteStore::open(path);
      ASSERT_TRUE(again);
      EXPECT_EQ((*again)->eval_rows("run-1")->size(), 3u);  // durable
      again->reset();
      std::filesystem::remove(path);
      std::filesystem::remove(path + "-wal");
      std::filesystem::remove(path + "-shm");
    }
  }
}

}  // namespace
}  // namespace keel
