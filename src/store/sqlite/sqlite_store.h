// The default Store: one SQLite database in WAL mode, written by one background thread.
//
//   auto store = SqliteStore::open("keel.db");   // or ":memory:"
//   if (!store) return store.error();
//   (*store)->record(std::move(request));        // queued; returns at once
//   (*store)->flush();                           // committed now
//
// Threads: record(), flush() and recent() may be called from any thread. The writer thread owns
// the write connection and commits each batch of queued records in one transaction, so a crash
// loses only records not yet committed, never part of one. recent() runs on the caller's thread
// on its own read connection, serialised by a mutex; WAL lets it read while the writer commits.
// A ":memory:" database has only one connection (a second would open another, empty database),
// so there recent() and the writer take turns on it under that mutex.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/result.h"
#include "store/sqlite/sqlite_state.h"
#include "store/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace keel {

struct SqliteStoreOptions {
  size_t queue_capacity = 100'000;  // records waiting for the writer; more are dropped, counted
  size_t max_batch = 1'000;         // records per transaction
  // Retention (store.h). The writer thread prunes once at start and then every
  // `prune_interval_ms`, or sooner once it has written a tenth of max_requests (at least 1,000)
  // since the last pass, between batches; each transaction deletes at most about `prune_chunk`
  // requests per limit (ties in started_ms may add a few), so a large backlog is worked off in
  // steps that leave room for the batches queued meanwhile.
  RetentionOptions retention;
  int prune_interval_ms = 60'000;
  size_t prune_chunk = 5'000;
  // Giving space back (auto_vacuum INCREMENTAL): once a quarter of the file's pages are free
  // (a retention cut), the writer moves pages into the holes and truncates the file, at most
  // `vacuum_pages` per transaction (1 MiB of 4 KiB pages), between batches, until less than
  // that is free. 0: never. A log made before keel used this mode is converted at open when
  // its file is at most `vacuum_convert_max_bytes` (a whole-file VACUUM), else left as it is.
  size_t vacuum_pages = 256;
  uint64_t vacuum_convert_max_bytes = 64ull << 20;
};

// What a span's row binds beyond the span's own strings (hex ids, the attributes' JSON), bound
// SQLITE_STATIC and kept until the row is written: SQLite copies nothing, and the strings keep
// their capacity from batch to batch.
struct SpanRowText {
  char trace_id[32];
  char span_id[16];
  char parent_id[16];
  std::string attributes;
};

class SqliteStore final : public Store {
 public:
  // Opens or creates the database at `path` and its schema. Fails when the file cannot be
  // opened, is not a database, or holds a schema newer than this build knows.
  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path,
                                                   SqliteStoreOptions options = {});
  ~SqliteStore() override;  // commits everything queued, then joins the writer

  void record(RequestRecord record) override;
  // sqlite_trace.cpp: queued as a record without an id, written in the same batches.
  void record_spans(Trace trace) override;
  // Returns once every record accepted before the call has been written or, on a write error
  // (logged, counted in failed_count()), given up.
  void flush() override;
  // Newest first (by started_ms, then insertion order), attempts in seq order. limit < 0 is an
  // error.
  Result<std::vector<RequestRecord>> recent(int limit) override;
  StoreStats stats() const override;
  // sqlite_eval.cpp: on the read connection, under read_mutex_.
  Status save_eval_run(const std::string& run_id, const std::string& describe) override;
  Status save_eval_row(const EvalRowRecord& row) override;
  Result<std::vector<EvalRowRecord>> eval_rows(const std::string& run_id) override;
  Result<std::vector<EvalRunRecord>> eval_runs(int limit) override;
  void record_shadow_pair(ShadowPairRecord pair, Trace trace) override;
  Result<std::vector<ShadowPairRecord>> shadow_pairs(const std::string& model, int limit) override;

  // Stored Responses state, on a connection of its own (sqlite_state.h).
  Status put_response(const StoredResponse& response) override {
    return state_->put_response(response);
  }
  Result<std::optional<StoredResponse>> get_response(const std::string& id,
                                                     const std::string& owner) override {
    return state_->get_response(id, owner);
  }
  Result<bool> delete_response(const std::string& id, const std::string& owner) override {
    return state_->delete_response(id, owner);
  }
  Status put_conversation(const StoredConversation& conversation) override {
    return state_->put_conversation(conversation);
  }
  Result<std::optional<StoredConversation>> get_conversation(const std::string& id,
                                                             const std::string& owner) override {
    return state_->get_conversation(id, owner);
  }
  Result<bool> delete_conversation(const std::string& id, const std::string& owner) override {
    return state_->delete_conversation(id, owner);
  }
  Status append_conversation_items(const std::string& conversation_id,
                                   const std::vector<StoredItem>& items) override {
    return state_->append_conversation_items(conversation_id, items);
  }
  Result<std::vector<StoredItem>> conversation_items(const std::string& conversation_id) override {
    return state_->conversation_items(conversation_id);
  }
  Result<bool> delete_conversation_item(const std::string& conversation_id,
                                        const std::string& item_id) override {
    return state_->delete_conversation_item(conversation_id, item_id);
  }
  // StoreReader (sqlite_reads.cpp): on the read connection, under read_mutex_.
  Result<RequestPage> query_requests(const RequestQuery& query) override;
  Result<RequestRecord> find_request(const std::string& id) override;
  Result<std::vector<ModelWindowStats>> model_stats(int64_t since_ms, int64_t until_ms,
                                                    int64_t bucket_ms) override;
  // sqlite_trace.cpp: on the read connection, under read_mutex_.
  Result<std::vector<Span>> trace_spans(const TraceId& trace) override;

  // Runs a whole retention pass on the writer thread now (after the batch it may be writing),
  // and the vacuum it makes due to its end, and returns how many requests it deleted; 0 when
  // retention is off. The next scheduled pass is then prune_interval_ms away. stats().pruned
  // counts what every pass deleted.
  int64_t prune_now();

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

 private:
  struct DbCloser {
    void operator()(sqlite3* db) const;
  };
  struct StmtFinalizer {
    void operator()(sqlite3_stmt* stmt) const;
  };
  using Db = std::unique_ptr<sqlite3, DbCloser>;
  using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;
  enum class WriteOutcome { kWritten, kSkipped, kBatchLost };

  SqliteStore(Db write_db, Db read_db, SqliteStoreOptions options);
  Status prepare_statements();
  Status prepare_span_statements();  // sqlite_trace.cpp; creates the spans table first
  sqlite3* read_connection() const { return read_db_ ? read_db_.get() : write_db_.get(); }

  void writer_loop();
  // Returns how many records of `batch` were lost.
  size_t write_batch(const std::vector<RequestRecord>& batch);
  WriteOutcome write_record(const RequestRecord& record);   // in a savepoint of its own
  bool insert_record(const RequestRecord& record);           // its rows; false on an error
  // Every record's rows, several rows per INSERT; false on an error (nothing says which).
  bool insert_records(const std::vector<RequestRecord>& batch);
  // The spans of `count` records (sqlite_trace.cpp), several rows per INSERT.
  bool insert_spans(const RequestRecord* const* records, size_t count);
  // A carrier's shadow pair (sqlite_eval.cpp), on the writer's connection.
  bool insert_shadow_pair(const ShadowPairRecord& pair);
  bool prune_spans(int64_t before_ns);  // deletes spans that started before
  struct PruneStep {
    int64_t deleted = 0;   // requests
    bool more = false;     // a limit still has requests to delete
    bool failed = false;
  };
  // One retention transaction: at most about prune_chunk requests per limit.
  PruneStep prune_step();
  struct VacuumStep {
    int64_t freed = 0;  // pages given back
    bool more = false;  // at least vacuum_pages are still free
  };
  bool vacuum_wanted();      // enough free pages for a vacuum run
  VacuumStep vacuum_step();  // one incremental_vacuum transaction
  void checkpoint();         // a passive WAL checkpoint (it truncates a shrunk file)
  static int64_t pragma_value(sqlite3_stmt* stmt);

  // Connections are declared before statements so that statements are finalised first.
  Db write_db_;
  Db read_db_;  // null for ":memory:": reads share write_db_
  SqliteStoreOptions options_;

  // Used only by the writer thread (and under read_mutex_ when the connection is shared).
  Stmt begin_;
  Stmt commit_;
  Stmt rollback_;
  Stmt savepoint_;
  Stmt release_;
  Stmt rollback_to_;
  Stmt insert_request_;
  Stmt insert_attempt_;
  Stmt insert_requests_;   // kRowsPerInsert rows each
  Stmt insert_attempts_;
  // insert_records' list of (record, attempt index), kept for its capacity
  std::vector<std::pair<const RequestRecord*, size_t>> attempt_rows_;
  std::vector<const RequestRecord*> request_rows_;  // the batch's records that have an id
  Stmt insert_span_;                                // sqlite_trace.cpp
  Stmt insert_spans_;                               // kSpansPerInsert rows each
  Stmt delete_spans_before_;
  std::vector<const Span*> span_rows_;
  // The text of insert_spans_' rows that the spans do not hold, one per row (sqlite_trace.cpp).
  std::vector<SpanRowText> span_text_;
  Stmt insert_shadow_pair_;          // prepared at the first pair (sqlite_eval.cpp)
  bool writer_eval_tables_ = false;  // the writer has made sure the eval tables exist
  // Retention (prune_step)
  Stmt nth_oldest_start_;         // started_ms of the ?1-th oldest request (0-based)
  Stmt delete_attempts_started_;  // attempts of requests with started_ms <= ?1
  Stmt delete_requests_started_;
  Stmt rowid_range_;              // min(rowid), max(rowid) of requests
  Stmt delete_attempts_upto_;     // attempts of requests with rowid <= ?1
  Stmt delete_requests_upto_;
  // Vacuum (vacuum_step)
  Stmt freelist_count_;
  Stmt page_count_;
  Stmt incremental_vacuum_;
  Stmt checkpoint_;
  int64_t page_size_ = 4096;  // bytes, read at open

  std::mutex read_mutex_;  // guards the read connection and the statements below
  Stmt select_requests_;
  Stmt select_attempts_;
  bool eval_tables_ = false;  // eval_runs and eval_rows exist (sqlite_eval.cpp)

  mutable std::mutex queue_mutex_;
  std::condition_variable work_cv_;     // writer waits for records or stop
  std::condition_variable written_cv_;  // flush() waits for the writer to catch up
  std::deque<RequestRecord> queue_;
  uint64_t accepted_ = 0;  // records ever queued
  uint64_t handled_ = 0;   // of those, written or given up
  bool stop_ = false;
  bool writer_waiting_ = false;         // the writer sleeps on work_cv_: record() must wake it
  uint64_t prune_wanted_ = 0;           // prune_now() calls so far
  uint64_t prune_done_ = 0;             // of those, answered by a finished pass
  int64_t prune_now_deleted_ = 0;       // what the last such pass deleted

  std::atomic<int64_t> dropped_{0};
  std::atomic<int64_t> failed_{0};
  std::atomic<int64_t> pruned_{0};
  std::thread writer_;
  std::unique_ptr<SqliteState> state_;  // stored Responses state, on its own connection
};

}  // namespace keel
