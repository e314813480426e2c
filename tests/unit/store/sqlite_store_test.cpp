#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"

#include "store_file_test.h"

namespace keel {
namespace {

namespace fs = std::filesystem;

// A second, independent connection: what the sqlite3 CLI or another process would see.
class RawDb {
 public:
  explicit RawDb(const fs::path& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    sqlite3_busy_timeout(db_, 5000);
  }
  ~RawDb() { sqlite3_close_v2(db_); }

  void exec(const std::string& sql) {
    char* message = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
    EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << (message ? message : "");
    sqlite3_free(message);
  }
  // The first column of every row, as text; "NULL" for SQL NULL.
  std::vector<std::string> column(const std::string& sql) {
    std::vector<std::string> values;
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sql << ": " << sqlite3_errmsg(db_);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      auto* text = sqlite3_column_text(stmt, 0);
      values.push_back(text ? reinterpret_cast<const char*>(text) : "NULL");
    }
    sqlite3_finalize(stmt);
    return values;
  }
  std::string text(const std::string& sql) {
    auto values = column(sql);
    return values.empty() ? "<no row>" : values.front();
  }
  int64_t count(const std::string& table) {
    return std::stoll(text("SELECT count(*) FROM " + table));
  }

 private:
  sqlite3* db_ = nullptr;
};

class SqliteStoreTest : public StoreFileTest {};

RequestRecord make_record(const std::string& id, int64_t started_ms, int attempts = 0) {
  RequestRecord r;
  r.id = id;
  r.started_ms = started_ms;
  r.endpoint = "/v1/chat/completions";
  r.model = "smart";
  r.stream = true;
  r.status = 200;
  r.latency_ms = 120;
  r.ttft_ms = 40;
  r.prompt_tokens = 11;
  r.completion_tokens = 22;
  for (int i = 0; i < attempts; ++i) {
    AttemptRecord a;
    a.started_ms = started_ms + i;
    a.provider = "provider-" + std::to_string(i);
    a.target_model = "model-" + std::to_string(i);
    a.status = i + 1 < attempts ? 503 : 200;
    a.error_class = i + 1 < attempts ? "unavailable" : "";
    a.error_message = i + 1 < attempts ? "upstream said 503" : "";
    a.latency_ms = 10 * (i + 1);
    a.ttft_ms = i + 1 < attempts ? -1 : 5;
    a.prompt_tokens = i;
    a.completion_tokens = 2 * i;
    a.variant = i % 2 ? "prompts/p.claude.prompty" : "";
    r.attempts.push_back(a);
  }
  return r;
}

void expect_same(const AttemptRecord& got, const AttemptRecord& want) {
  EXPECT_EQ(got.started_ms, want.started_ms);
  EXPECT_EQ(got.provider, want.provider);
  EXPECT_EQ(got.target_model, want.target_model);
  EXPECT_EQ(got.status, want.status);
  EXPECT_EQ(got.error_class, want.error_class);
  EXPECT_EQ(got.error_message, want.error_message);
  EXPECT_EQ(got.latency_ms, want.latency_ms);
  EXPECT_EQ(got.ttft_ms, want.ttft_ms);
  EXPECT_EQ(got.prompt_tokens, want.prompt_tokens);
  EXPECT_EQ(got.completion_tokens, want.completion_tokens);
  EXPECT_EQ(got.variant, want.variant);
}

void expect_same(const RequestRecord& got, const RequestRecord& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.started_ms, want.started_ms);
  EXPECT_EQ(got.endpoint, want.endpoint);
  EXPECT_EQ(got.model, want.model);
  EXPECT_EQ(got.stream, want.stream);
  EXPECT_EQ(got.status, want.status);
  EXPECT_EQ(got.error_class, want.error_class);
  EXPECT_EQ(got.latency_ms, want.latency_ms);
  EXPECT_EQ(got.ttft_ms, want.ttft_ms);
  EXPECT_EQ(got.prompt_tokens, want.prompt_tokens);
  EXPECT_EQ(got.completion_tokens, want.completion_tokens);
  EXPECT_EQ(got.content, want.content);
  ASSERT_EQ(got.attempts.size(), want.attempts.size()) << want.id;
  for (size_t i = 0; i < want.attempts.size(); ++i) expect_same(got.attempts[i], want.attempts[i]);
}

TEST_F(SqliteStoreTest, RoundTripsRecordsWithAttempts) {
  auto store = open();
  ASSERT_TRUE(store);
  RequestRecord failed_over = make_record("req-1", 1000, 3);
  failed_over.content = R"({"request":{"model":"smart"},"response":{"text":"hi \u00e9"}})";
  RequestRecord no_attempts = make_record("req-2", 2000);
  no_attempts.stream = false;
  no_attempts.status = 404;
  no_attempts.error_class = "not_found";
  no_attempts.ttft_ms = -1;
  store->record(failed_over);
  store->record(no_attempts);
  store->flush();

  auto recent = store->recent(10);
  ASSERT_TRUE(recent.ok()) << recent.error().message;
  ASSERT_EQ(recent->size(), 2u);
  expect_same((*recent)[0], no_attempts);
  expect_same((*recent)[1], failed_over);
}

TEST_F(SqliteStoreTest, InMemoryRoundTrips) {
  auto store = SqliteStore::open(":memory:");
  ASSERT_TRUE(store.ok()) << store.error().message;
  RequestRecord record = make_record("mem-1", 5, 2);
  (*store)->record(record);
  (*store)->flush();
  auto recent = (*store)->recent(5);
  ASSERT_TRUE(recent.ok());
  ASSERT_EQ(recent->size(), 1u);
  expect_same(recent->front(), record);
}

TEST_F(SqliteStoreTest, RecentIsNewestFirstAndHonoursLimit) {
  auto store = open();
  ASSERT_TRUE(store);
  // Out of order on purpose, with two records in the same millisecond.
  store->record(make_record("b", 200, 1));
  store->record(make_record("a", 100, 2));
  store->record(make_record("d", 400, 3));
  store->record(make_record("c1", 300));
  store->record(make_record("c2", 300));
  store->flush();

  auto all = store->recent(100);
  ASSERT_TRUE(all.ok());
  std::vector<std::string> ids;
  for (const auto& r : *all) ids.push_back(r.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"d", "c2", "c1", "b", "a"}));

  const auto& d = all->front();
  ASSERT_EQ(d.attempts.size(), 3u);
  EXPECT_EQ(d.attempts[0].provider, "provider-0");
  EXPECT_EQ(d.attempts[1].provider, "provider-1");
  EXPECT_EQ(d.attempts[2].provider, "provider-2");

  auto two = store->recent(2);
  ASSERT_TRUE(two.ok());
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[0].id, "d");
  EXPECT_EQ((*two)[1].id, "c2");

  auto none = store->recent(0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_FALSE(store->recent(-1).ok());
}

TEST_F(SqliteStoreTest, EmptyContentIsNull) {
  auto store = open();
  ASSERT_TRUE(store);
  RequestRecord with_content = make_record("with", 1);
  with_content.content = R"({"request":{},"response":{}})";
  store->record(with_content);
  store->record(make_record("without", 2));
  store->flush();

  RawDb raw(path_);
  EXPECT_EQ(raw.text("SELECT content FROM requests WHERE id = 'with'"), with_content.content);
  EXPECT_EQ(raw.text("SELECT content IS NULL FROM requests WHERE id = 'without'"), "1");
  auto recent = store->recent(2);
  ASSERT_TRUE(recent.ok());
  EXPECT_EQ((*recent)[0].content, "");
}

TEST_F(SqliteStoreTest, FlushMakesEverythingBeforeItVisibleToOthers) {
  auto store = open();
  ASSERT_TRUE(store);
  RawDb raw(path_);
  for (int round = 1; round <= 5; ++round) {
    for (int i = 0; i < 100; ++i) {
      store->record(make_record("r" + std::to_string(round) + "-" + std::to_string(i), i, 2));
    }
    store->flush();
    EXPECT_EQ(raw.count("requests"), round * 100);
    EXPECT_EQ(raw.count("attempts"), round * 200);
  }
  store->flush();  // nothing queued: returns at once
}

TEST_F(SqliteStoreTest, DestructorCommitsWhatIsQueued) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    for (int i = 0; i < 1000; ++i) store->record(make_record("q" + std::to_string(i), i, 1));
  }
  RawDb raw(path_);
  EXPECT_EQ(raw.count("requests"), 1000);
  EXPECT_EQ(raw.count("attempts"), 1000);
}

TEST_F(SqliteStoreTest, ManyThreadsRecordWhileOthersRead) {
  SqliteStoreOptions options;
  options.queue_capacity = 1'000'000;
  options.max_batch = 500;
  auto store = open(options);
  ASSERT_TRUE(store);
  constexpr int kThreads = 6;
  constexpr int kPerThread = 2000;
  std::atomic<bool> writing{true};
  std::thread reader([&] {
    while (writing) {
      auto recent = store->recent(20);
      ASSERT_TRUE(recent.ok()) << recent.error().message;
      for (const auto& r : *recent) ASSERT_EQ(r.attempts.size(), 2u);
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        store->record(make_record("t" + std::to_string(t) + "-" + std::to_string(i), i, 2));
        if (i % 700 == 0) store->flush();
      }
    });
  }
  for (auto& w : writers) w.join();
  store->flush();
  writing = false;
  reader.join();

  EXPECT_EQ(store->stats().dropped, 0);
  EXPECT_EQ(store->stats().failed, 0);
  RawDb raw(path_);
  EXPECT_EQ(raw.count("requests"), kThreads * kPerThread);
  EXPECT_EQ(raw.count("attempts"), 2 * kThreads * kPerThread);
  EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
}

TEST_F(SqliteStoreTest, ReopenedFileSeesEarlierRows) {
  RequestRecord record = make_record("kept", 42, 2);
  record.content = "{}";
  {
    auto store = open();
    ASSERT_TRUE(store);
    store->record(record);
    store->flush();
  }
  auto store = open();
  ASSERT_TRUE(store);
  auto recent = store->recent(10);
  ASSERT_TRUE(recent.ok());
  ASSERT_EQ(recent->size(), 1u);
  expect_same(recent->front(), record);

  store->record(make_record("after", 43));
  store->flush();
  EXPECT_EQ(store->recent(10)->size(), 2u);
}

TEST_F(SqliteStoreTest, FileIsWalWithSchemaVersionAndExactColumns) {
  auto store = open();
  ASSERT_TRUE(store);
  RawDb raw(path_);
  EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.text("PRAGMA user_version"), "2");
  EXPECT_EQ(raw.column("SELECT name FROM pragma_table_info('requests') ORDER BY cid"),
            (std::vector<std::string>{"id", "started_ms", "endpoint", "model", "stream", "status",
                                      "error_class", "latency_ms", "ttft_ms", "prompt_tokens",
                                      "completion_tokens", "content", "key_id"}));
  EXPECT_EQ(raw.column("SELECT name FROM pragma_table_info('attempts') ORDER BY cid"),
            (std::vector<std::string>{"request_id", "seq", "started_ms", "provider", "target_model",
                                      "status", "error_class", "error_message", "latency_ms",
                                      "ttft_ms", "prompt_tokens", "completion_tokens", "variant"}));
  EXPECT_EQ(raw.column("SELECT name FROM pragma_index_list('requests') WHERE origin = 'c'"),
            (std::vector<std::string>{"requests_started_ms"}));

  store->record(make_record("x", 1, 2));
  store->flush();
  EXPECT_EQ(raw.column("SELECT seq FROM attempts WHERE request_id = 'x' ORDER BY seq"),
            (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(raw.text("SELECT stream FROM requests WHERE id = 'x'"), "1");
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  {
    RawDb raw(path_);
    raw.exec("PRAGMA user_version = 3");
  }
  auto store = SqliteStore::open(path_.string());
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message.find("schema version 3"), std::string::npos)
      << store.error().message;
}

// A log written by a keel before key ids and prompt variants (schema 1) gains requests.key_id
// and attempts.variant at open and keeps its rows.
TEST_F(SqliteStoreTest, VersionOneLogGainsKeyIdAndVariantAndKeepsItsRows) {
  {
    RawDb raw(path_);
    // The schema keel wrote before requests.key_id (schema version 1).
    raw.exec(
        "CREATE TABLE requests(id TEXT PRIMARY KEY, started_ms INTEGER, endpoint TEXT, model TEXT, "
        "stream INTEGER, status INTEGER, error_class TEXT, latency_ms INTEGER, ttft_ms INTEGER, "
        "prompt_tokens INTEGER, completion_tokens INTEGER, content TEXT);"
        "CREATE TABLE attempts(request_id TEXT REFERENCES requests(id), seq INTEGER, "
        "started_ms INTEGER, provider TEXT, target_model TEXT, status INTEGER, error_class TEXT, "
        "error_message TEXT, latency_ms INTEGER, ttft_ms INTEGER, prompt_tokens INTEGER, "
        "completion_tokens INTEGER, PRIMARY KEY(request_id, seq));"
        "CREATE INDEX requests_started_ms ON requests(started_ms);"
        "INSERT INTO requests(id, started_ms, model, status) VALUES ('old', 5, 'm', 200);"
        "INSERT INTO attempts(request_id, seq, provider) VALUES('old', 0, 'p');"
        "PRAGMA user_version = 1;");
  }
  auto store = open();
  ASSERT_TRUE(store);
  RequestRecord fresh = make_record("new", 6, 1);
  fresh.key_id = "key_0123abcd";
  fresh.attempts[0].variant = "prompts/a.claude.prompty";
  store->record(fresh);
  store->flush();
  RawDb raw(path_);
  EXPECT_EQ(raw.text("PRAGMA user_version"), "2");
  EXPECT_EQ(raw.column("SELECT coalesce(key_id, 'NULL') FROM requests ORDER BY started_ms"),
            (std::vector<std::string>{"NULL", "key_0123abcd"}));
  auto recent = store->recent(2);
  ASSERT_TRUE(recent.ok());
  EXPECT_EQ(recent->at(0).key_id, "key_0123abcd");
  EXPECT_EQ(recent->at(1).id, "old");
  EXPECT_EQ(raw.text("SELECT variant FROM attempts WHERE request_id = 'new'"),
            "prompts/a.claude.prompty");
  EXPECT_EQ(raw.text("SELECT provider FROM attempts WHERE request_id = 'old'"), "p");
  EXPECT_EQ(recent->at(0).attempts.at(0).variant, "prompts/a.claude.prompty");
}

TEST_F(SqliteStoreTest, UnopenablePathsFail) {
  EXPECT_FALSE(SqliteStore::open((dir_ / "missing" / "keel.db").string()).ok());
  EXPECT_FALSE(SqliteStore::open("").ok());
  {
    std::FILE* garbage = std::fopen(path_.c_str(), "w");
    std::fputs("this is not a database, just long enough to have a header......", garbage);
    std::fclose(garbage);
  }
  auto store = SqliteStore::open(path_.string());
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message.find(path_.string()), std::string::npos);
}

TEST_F(SqliteStoreTest, DuplicateIdIsSkippedWithoutLosingItsBatch) {
  auto store = open();
  ASSERT_TRUE(store);
  store->record(make_record("dup", 1, 1));
  store->record(make_record("other-1", 2, 1));
  store->record(make_record("dup", 3, 3));  // fails on the request row: none of its attempts stay
  store->record(make_record("other-2", 4, 1));
  store->flush();

  EXPECT_EQ(store->stats().failed, 1);
  RawDb raw(path_);
  EXPECT_EQ(raw.count("requests"), 3);
  EXPECT_EQ(raw.count("attempts"), 3);
  EXPECT_EQ(raw.text("SELECT started_ms FROM requests WHERE id = 'dup'"), "1");
}

// Records queued together are written many rows per INSERT (16 at a time, then one by one):
// batches of a few full groups plus a remainder, with 0 to 3 attempts each, must round-trip
// exactly and keep their queue order among equal start times.
TEST_F(SqliteStoreTest, BigBatchesRoundTripInOrder) {
  auto store = open();
  ASSERT_TRUE(store);
  std::vector<RequestRecord> want;
  int attempts = 0;
  for (int i = 0; i < 53; ++i) {
    RequestRecord r = make_record("big-" + std::to_string(i), 1000 + i / 2, i % 4);
    attempts += i % 4;
    if (i % 5 == 0) r.content = "{\"i\":" + std::to_string(i) + "}";
    if (i % 7 == 0) r.error_class = "unavailable";
    store->record(r);
    want.push_back(r);
  }
  store->flush();
  auto got = store->recent(100);
  ASSERT_TRUE(got.ok()) << got.error().message;
  ASSERT_EQ(got->size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) expect_same((*got)[i], want[want.size() - 1 - i]);
  RawDb raw(path_);
  EXPECT_EQ(raw.count("attempts"), attempts);
}

// A duplicate id in the middle of a big batch: the batch is written again record by record,
// and only the duplicate is skipped.
TEST_F(SqliteStoreTest, DuplicateInABigBatchSkipsOnlyItself) {
  auto store = open();
  ASSERT_TRUE(store);
  for (int i = 0; i < 40; ++i) {
    store->record(make_record(i == 20 ? "big-5" : "big-" + std::to_string(i), i, 2));
  }
  store->flush();
  EXPECT_EQ(store->stats().failed, 1);
  RawDb raw(path_);
  EXPECT_EQ(raw.count("requests"), 39);
  EXPECT_EQ(raw.count("attempts"), 78);
  EXPECT_EQ(raw.text("SELECT started_ms FROM requests WHERE id = 'big-5'"), "5");
}

TEST_F(SqliteStoreTest, FullQueueDropsAndCounts) {
  SqliteStoreOptions options;
  options.queue_capacity = 2;
  options.max_batch = 100;
  auto store = open(options);
  ASSERT_TRUE(store);
  RawDb blocker(path_);
  // Holding the write lock stalls the writer in its BEGIN (within the 5 s busy timeout), so the
  // queue fills: at most one batch (<= capacity) is in flight and capacity more wait.
  blocker.exec("BEGIN IMMEDIATE");
  for (int i = 0; i < 10; ++i) store->record(make_record("d" + std::to_string(i), i));
  const int64_t dropped = store->stats().dropped;
  EXPECT_GE(dropped, 6);
  blocker.exec("COMMIT");
  store->flush();

  EXPECT_EQ(store->stats().failed, 0);
  EXPECT_EQ(blocker.count("requests"), 10 - dropped);
  const StoreStats stats = store->stats();
  EXPECT_EQ(stats.dropped, dropped);
  EXPECT_EQ(stats.failed, 0);
  EXPECT_EQ(stats.queued, 0);
}

// --- retention (log_retention) ---------------------------------------------------------------

constexpr int64_t kDayMs = 24 * 60 * 60 * 1000;

SqliteStoreOptions retention_options(int64_t max_age_ms, int64_t max_requests, size_t chunk) {
  SqliteStoreOptions options;
  options.retention.max_age_ms = max_age_ms;
  options.retention.max_requests = max_requests;
  options.prune_interval_ms = 3'600'000;   // only the pass at start and prune_now()
  options.prune_chunk = chunk;
  return options;
}

TEST_F(SqliteStoreTest, RetentionByAgeDeletesOldRequestsWithTheirAttempts) {
  auto store = open(retention_options(kDayMs, 0, 2));
  ASSERT_TRUE(store);
  store->prune_now();   // the pass at start is over: the next is an hour away
  const int64_t now = unix_millis();
  // Five old requests that started in the same millisecond (more than a chunk of ties), one
  // just inside the window, two recent ones.
  for (int i = 0; i < 5; ++i) store->record(make_record("old-" + std::to_string(i), now - 3 * kDayMs, 2));
  store->record(make_record("edge", now - kDayMs + 60'000, 1));
  store->record(make_record("new-0", now - 3'600'000, 1));
  store->record(make_record("new-1", now, 3));
  store->flush();

  EXPECT_EQ(store->prune_now(), 5);
  EXPECT_EQ(store->stats().pruned, 5);
  RawDb raw(path_);
  EXPECT_EQ(raw.column("SELECT id FROM requests ORDER BY started_ms"),
            (std::vector<std::string>{"edge", "new-0", "new-1"}));
  EXPECT_EQ(raw.count("attempts"), 5);
  EXPECT_EQ(raw.text("SELECT count(*) FROM attempts WHERE request_id NOT IN "
                     "(SELECT id FROM requests)"),
            "0");
  EXPECT_EQ(store->prune_now(), 0);   // nothing left to delete
  EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
}

TEST_F(SqliteStoreTest, RetentionByCountKeepsTheNewest) {
  auto store = open(retention_options(0, 10, 4));
  ASSERT_TRUE(store);
  store->prune_now();   // the pass at start is over: the next is an hour away
  for (int i = 0; i < 25; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "r%02d", i);
    store->record(make_record(id, 1'000 + i, i % 3));
  }
  store->flush();

  EXPECT_EQ(store->prune_now(), 15);   // in steps of at most 4
  RawDb raw(path_);
  auto kept = raw.column("SELECT id FROM requests ORDER BY id");
  ASSERT_EQ(kept.size(), 10u);
  EXPECT_EQ(kept.front(), "r15");
  EXPECT_EQ(kept.back(), "r24");
  EXPECT_EQ(raw.text("SELECT count(*) FROM attempts WHERE request_id NOT IN "
                     "(SELECT id FROM requests)"),
            "0");
  EXPECT_EQ(raw.count("attempts"), 9);   // r15..r24: i % 3 attempts each

  // More requests: the cap holds, the newest stay; recent() sees the same.
  for (int i = 25; i < 30; ++i) store->record(make_record("r" + std::to_string(i), 1'000 + i));
  store->flush();
  EXPECT_EQ(store->prune_now(), 5);
  auto recent = store->recent(100);
  ASSERT_TRUE(recent.ok());
  ASSERT_EQ(recent->size(), 10u);
  EXPECT_EQ(recent->front().id, "r29");
  EXPECT_EQ(recent->back().id, "r20");
}

TEST_F(SqliteStoreTest, RetentionOffKeepsEverything) {
  auto store = open();
  ASSERT_TRUE(store);
  store->record(make_record("ancient", 1, 1));
  store->flush();
  EXPECT_EQ(store->prune_now(), 0);
  EXPECT_EQ(RawDb(path_).count("requests"), 1);
}

TEST_F(SqliteStoreTest, RetentionWorksOffABacklogAtStartInSteps) {
  const int64_t now = unix_millis();
  {
    auto store = open();   // no retention: a log that grew for a long time
    ASSERT_TRUE(store);
    for (int i = 0; i < 40; ++i) {
      store->record(make_record("old-" + std::to_string(i), now - 10 * kDayMs + i, 1));
    }
    store->record(make_record("recent", now, 1));
  }
  // Reopened with a 7-day limit, three requests per step: the writer's pass at start deletes
  // all 40 over 14 transactions, in between taking new records.
  SqliteStoreOptions options = retention_options(7 * kDayMs, 0, 3);
  options.prune_interval_ms = 10;
  auto store = open(options);
  ASSERT_TRUE(store);
  store->record(make_record("during", now, 1));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (store->stats().pruned < 40 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  store->flush();
  EXPECT_EQ(store->stats().pruned, 40);
  RawDb raw(path_);
  EXPECT_EQ(raw.column("SELECT id FROM requests ORDER BY id"),
            (std::vector<std::string>{"during", "recent"}));
  EXPECT_EQ(raw.count("attempts"), 2);
}

TEST_F(SqliteStoreTest, RetentionByCountPrunesAfterATenthOfTheLimitIsWritten) {
  // An hour between scheduled passes, but 1,000 requests written since the last pass (a tenth
  // of 2,000 is less) start one: under load the log must not wait a whole interval.
  auto store = open(retention_options(0, 2'000, 5'000));
  ASSERT_TRUE(store);
  store->prune_now();
  for (int i = 0; i < 3'500; ++i) store->record(make_record("c" + std::to_string(i), i));
  store->flush();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (store->stats().pruned < 1'000 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(store->stats().pruned, 1'000);
  store->flush();
  RawDb raw(path_);
  EXPECT_EQ(raw.count("requests"), 3'500 - store->stats().pruned);
  EXPECT_LE(raw.count("requests"), 3'000);
  // What the last pass kept is the newest.
  EXPECT_EQ(raw.text("SELECT max(started_ms) FROM requests"), "3499");
}

TEST_F(SqliteStoreTest, RetentionInMemory) {
  auto store = SqliteStore::open(":memory:", retention_options(0, 2, 10));
  ASSERT_TRUE(store.ok());
  (*store)->prune_now();
  for (int i = 0; i < 5; ++i) (*store)->record(make_record("m" + std::to_string(i), i, 1));
  (*store)->flush();
  EXPECT_EQ((*store)->prune_now(), 3);
  auto recent = (*store)->recent(10);
  ASSERT_TRUE(recent.ok());
  ASSERT_EQ(recent->size(), 2u);
  EXPECT_EQ(recent->front().id, "m4");
  EXPECT_EQ(recent->front().attempts.size(), 1u);
}

// --- giving space back (incremental vacuum) ---------------------------------------------------

// A record with `bytes` of content, so that a few hundred fill megabytes.
RequestRecord big_record(const std::string& id, int64_t started_ms, size_t bytes) {
  RequestRecord r = make_record(id, started_ms, 1);
  r.content = std::string(bytes, 'x');
  return r;
}

TEST_F(SqliteStoreTest, NewLogUsesIncrementalVacuum) {
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(RawDb(path_).text("PRAGMA auto_vacuum"), "2");  // INCREMENTAL
}

TEST_F(SqliteStoreTest, FileShrinksAfterRetentionCutsTheLogWhileTheStoreRuns) {
  {
    auto store = open();  // no retention: the log grows
    ASSERT_TRUE(store);
    for (int i = 0; i < 2'000; ++i) store->record(big_record("b" + std::to_string(i), i, 2'000));
  }
  RawDb raw(path_);
  raw.text("PRAGMA wal_checkpoint(TRUNCATE)");
  const auto full_size = fs::file_size(path_);
  EXPECT_GT(full_size, 4'000'000u);

  // Reopened with a limit of 100 requests, 64 pages per vacuum step: the pass deletes 1,900
  // requests and the vacuum that follows gives their pages back, in steps, while the store stays
  // open and goes on logging.
  SqliteStoreOptions options = retention_options(0, 100, 500);
  options.vacuum_pages = 64;
  auto store = open(options);
  ASSERT_TRUE(store);
  store->prune_now();  // waits for the pass at start and its vacuum, if not over yet
  EXPECT_EQ(store->stats().pruned, 1'900);
  const auto shrunk_size = fs::file_size(path_);
  EXPECT_LT(shrunk_size, full_size / 10) << full_size << " -> " << shrunk_size;
  EXPECT_LT(std::stoll(raw.text("PRAGMA freelist_count")), 64);
  EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
  store->record(big_record("after", 5'000, 2'000));
  store->flush();
  EXPECT_EQ(raw.count("requests"), 101);
  auto recent = store->recent(1);
  ASSERT_TRUE(recent.ok());
  ASSERT_EQ(recent->size(), 1u);
  EXPECT_EQ(recent->front().id, "after");
}

TEST_F(SqliteStoreTest, SteadyPruningDoesNotVacuum) {
  // A pass that frees less than a quarter of the file leaves the pages for the next inserts.
  SqliteStoreOptions options = retention_options(0, 1'000, 5'000);
  options.vacuum_pages = 8;
  auto store = open(options);
  ASSERT_TRUE(store);
  for (int i = 0; i < 1'100; ++i) store->record(big_record("s" + std::to_string(i), i, 1'000));
  store->flush();
  store->prune_now();  // or the pass that 1,000 writes start, when the batches split so
  EXPECT_EQ(store->stats().pruned, 100);
  RawDb raw(path_);
  EXPECT_GE(std::stoll(raw.text("PRAGMA freelist_count")), 8);
}

// A log as an older keel left it (auto_vacuum NONE, with tables), opened with `options`: the
// auto_vacuum mode it then has ("0" NONE, "2" INCREMENTAL). The store logs on either way.
std::string open_old_log(const fs::path& path, const SqliteStoreOptions& options) {
  {
    RawDb legacy(path);
    legacy.exec("PRAGMA journal_mode = WAL");
    legacy.exec("CREATE TABLE legacy(a)");
    EXPECT_EQ(legacy.text("PRAGMA auto_vacuum"), "0");
  }
  auto store = SqliteStore::open(path.string(), options);
  EXPECT_TRUE(store.ok());
  if (!store.ok()) return "";
  (*store)->record(make_record("r", 1, 1));
  (*store)->flush();
  EXPECT_EQ((*store)->prune_now(), 0);  // no retention; nothing to vacuum either
  RawDb raw(path);
  EXPECT_EQ(raw.count("requests"), 1);
  return raw.text("PRAGMA auto_vacuum");
}

TEST_F(SqliteStoreTest, SmallOldLogIsConvertedAtOpen) { EXPECT_EQ(open_old_log(path_, {}), "2"); }

TEST_F(SqliteStoreTest, LargeOldLogIsLeftAsItIs) {
  SqliteStoreOptions options;
  options.vacuum_convert_max_bytes = 0;  // every file is too large to convert at open
  EXPECT_EQ(open_old_log(path_, options), "0");
}

}  // namespace
}  // namespace keel
