#include "store/sqlite/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <limits>
#include <thread>
#include <utility>

#include "core/clock.h"
#include "core/log.h"
#include "store/sqlite/sqlite_rows.h"

namespace keel {
namespace {

// 2: requests.key_id (issue 24) and attempts.variant (the prompt variant an attempt sent,
//    issue 21). A version 1 log gains both columns at open.
constexpr int kSchemaVersion = 2;
constexpr int kBusyTimeoutMs = 5000;

// Column names are a contract: end-to-end tests and operators query them with the sqlite3 CLI.
constexpr const char* kSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS requests(
  id TEXT PRIMARY KEY,
  started_ms INTEGER,
  endpoint TEXT,
  model TEXT,
  stream INTEGER,
  status INTEGER,
  error_class TEXT,
  latency_ms INTEGER,
  ttft_ms INTEGER,
  prompt_tokens INTEGER,
  completion_tokens INTEGER,
  content TEXT,
  key_id TEXT
);
CREATE TABLE IF NOT EXISTS attempts(
  request_id TEXT REFERENCES requests(id),
  seq INTEGER,
  started_ms INTEGER,
  provider TEXT,
  target_model TEXT,
  status INTEGER,
  error_class TEXT,
  error_message TEXT,
  latency_ms INTEGER,
  ttft_ms INTEGER,
  prompt_tokens INTEGER,
  completion_tokens INTEGER,
  variant TEXT,
  PRIMARY KEY(request_id, seq)
);
CREATE INDEX IF NOT EXISTS requests_started_ms ON requests(started_ms);
)sql";

constexpr const char* kInsertRequestHead =
    "INSERT INTO requests(id, started_ms, endpoint, model, stream, status, error_class, "
    "latency_ms, ttft_ms, prompt_tokens, completion_tokens, content, key_id) VALUES";
constexpr const char* kInsertAttemptHead =
    "INSERT INTO attempts(request_id, seq, started_ms, provider, target_model, status, "
    "error_class, error_message, latency_ms, ttft_ms, prompt_tokens, completion_tokens, variant) "
    "VALUES";
constexpr int kRequestColumns = 13;  // of each INSERT above
constexpr int kAttemptColumns = 13;
// Rows per INSERT on the writer's fast path: a statement (its cursors opened and closed, its
// program run, its savepoint) per this many rows instead of per row; the writer thread's CPU
// per record fell by about a fifth. 16 x 12 parameters stay far below SQLite's limit.
constexpr size_t kRowsPerInsert = 16;

// head + `rows` groups of `columns` anonymous parameters (numbered 1, 2, ... left to right).
std::string insert_sql(const char* head, size_t rows, int columns) {
  std::string sql = head;
  for (size_t row = 0; row < rows; ++row) {
    sql += row ? ",(" : "(";
    for (int column = 0; column < columns; ++column) sql += column ? ",?" : "?";
    sql += ')';
  }
  return sql;
}
// rowid breaks ties so that records started in the same millisecond keep their queue order.
constexpr const char* kSelectRequestsSql =
    "SELECT id, started_ms, endpoint, model, stream, status, error_class, latency_ms, ttft_ms, "
    "prompt_tokens, completion_tokens, content, key_id FROM requests "
    "ORDER BY started_ms DESC, rowid DESC LIMIT ?1";
// Retention. By start time through requests_started_ms; by count through rowids, which grow in
// insertion order, so max(rowid) - N is the newest N requests' lower edge (age pruning can leave
// gaps, which only makes the count kept a little smaller).
constexpr const char* kNthOldestStartSql =
    "SELECT started_ms FROM requests ORDER BY started_ms LIMIT 1 OFFSET ?1";
constexpr const char* kDeleteAttemptsStartedSql =
    "DELETE FROM attempts WHERE request_id IN (SELECT id FROM requests WHERE started_ms <= ?1)";
constexpr const char* kDeleteRequestsStartedSql = "DELETE FROM requests WHERE started_ms <= ?1";
// Two subqueries: SQLite answers a lone min() or max() from one end of the B-tree, but a SELECT
// with both scans the whole table (0.16 s at 1.5 million rows, every step).
constexpr const char* kRowidRangeSql =
    "SELECT (SELECT min(rowid) FROM requests), (SELECT max(rowid) FROM requests)";
constexpr const char* kDeleteAttemptsUptoSql =
    "DELETE FROM attempts WHERE request_id IN (SELECT id FROM requests WHERE rowid <= ?1)";
constexpr const char* kDeleteRequestsUptoSql = "DELETE FROM requests WHERE rowid <= ?1";
constexpr const char* kSelectAttemptsSql =
    "SELECT started_ms, provider, target_model, status, error_class, error_message, latency_ms, "
    "ttft_ms, prompt_tokens, completion_tokens, variant FROM attempts WHERE request_id = ?1 "
    "ORDER BY seq";

std::string errmsg(sqlite3* db) { return db ? sqlite3_errmsg(db) : "out of memory"; }

Status exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) == SQLITE_OK) return Status::Ok();
  std::string text = message ? message : errmsg(db);
  sqlite3_free(message);
  return Status(ErrorCode::kUnavailable, "sqlite: " + text);
}

// For pragmas that answer with one value.
Result<std::string> query_text(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) {
    return Error(ErrorCode::kUnavailable, "sqlite: " + errmsg(db));
  }
  std::string value;
  int rc = sqlite3_step(raw);
  if (rc == SQLITE_ROW) {
    auto* text = sqlite3_column_text(raw, 0);
    value = text ? reinterpret_cast<const char*>(text) : "";
  }
  sqlite3_finalize(raw);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    return Error(ErrorCode::kUnavailable, "sqlite: " + errmsg(db));
  }
  return value;
}

void bind_text(sqlite3_stmt* stmt, int index, const std::string& text) {
  // SQLITE_STATIC: the record outlives the step that reads the binding.
  sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
}

// Steps a statement that returns no rows and resets it for its next use.
int run(sqlite3_stmt* stmt) {
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  return rc;
}

// SQLite's global settings, once, before its first connection: memory statistics off (keeping
// them takes a global mutex on every allocation and free, about a tenth of a record's insert
// cost; nothing here reads them). A no-op if SQLite was already initialized by other code.
void configure_sqlite_once() {
  static const bool configured = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)configured;
}

Result<sqlite3*> open_connection(const std::string& path) {
  configure_sqlite_once();
  sqlite3* db = nullptr;
  // NOMUTEX: SQLite's own per-connection mutex is taken and released on every bind and step
  // (about a sixth of a record's insert cost); each connection here is used by one thread at
  // a time already (the writer thread; readers under read_mutex_).
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = errmsg(db);
    sqlite3_close_v2(db);
    return Error(ErrorCode::kUnavailable, "cannot open: " + message);
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  return db;
}

Status create_schema(sqlite3* db) {
  auto version_text = query_text(db, "PRAGMA user_version");
  if (!version_text) return version_text.error();
  const long version = std::strtol(version_text->c_str(), nullptr, 10);
  if (version == kSchemaVersion) return Status::Ok();
  if (version > kSchemaVersion) {
    return Status(ErrorCode::kUnavailable, "schema version " + std::to_string(version) +
                                               " is newer than this keel knows (" +
                                               std::to_string(kSchemaVersion) + ")");
  }
  // IMMEDIATE: two processes opening a new file at once create the schema one after the other.
  if (auto status = exec(db, "BEGIN IMMEDIATE"); !status) return status;
  // Version 1 lacks requests.key_id; its rows keep NULL there. (A second process may have
  // migrated in between: the version is read again inside the transaction.)
  auto current = query_text(db, "PRAGMA user_version");
  if (!current) {
    (void)exec(db, "ROLLBACK");
    return current.error();
  }
  const long now = std::strtol(current->c_str(), nullptr, 10);
  if (now == kSchemaVersion) return exec(db, "COMMIT");
  // Version 1 lacks requests.key_id and attempts.variant; its rows keep NULL there.
  Status status = Status::Ok();
  if (now == 1) status = exec(db, "ALTER TABLE requests ADD COLUMN key_id TEXT");
  if (now == 1 && status) status = exec(db, "ALTER TABLE attempts ADD COLUMN variant TEXT");
  if (status) status = exec(db, kSchemaSql);
  if (status) {
    status = exec(db, ("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str());
  }
  if (status) status = exec(db, "COMMIT");
  if (!status) (void)exec(db, "ROLLBACK");
  return status;
}

// The file gives pages back only in auto_vacuum INCREMENTAL mode (the writer's vacuum steps).
// SQLite takes that mode only before a database's first table, or through a VACUUM, which
// rewrites the whole file and blocks it meanwhile: a log made by an older keel (mode NONE) is
// converted at open while small (a second or so), else left as it is, with the command to convert
// it while keel is stopped.
Status use_incremental_vacuum(sqlite3* db, const std::string& path,
                              const SqliteStoreOptions& options) {
  auto mode = query_text(db, "PRAGMA auto_vacuum");
  if (!mode) return mode.error();
  if (*mode != "0") return Status::Ok();  // INCREMENTAL (2) already, or FULL (1) set by hand
  auto tables = query_text(db, "SELECT count(*) FROM sqlite_schema");
  if (!tables) return tables.error();
  if (*tables == "0") return exec(db, "PRAGMA auto_vacuum = INCREMENTAL");
  if (path == ":memory:") return Status::Ok();
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  if (ec || bytes > options.vacuum_convert_max_bytes) {
    KEEL_LOG(kWarn) << "store: " << path << " predates incremental vacuum, so its file does not "
                    << "shrink after log_retention deletes; to convert it, stop keel and run: "
                    << "sqlite3 " << path << " 'PRAGMA auto_vacuum = INCREMENTAL; VACUUM'";
    return Status::Ok();
  }
  KEEL_LOG(kInfo) << "store: converting " << path << " (" << bytes / 1024
                  << " KiB) to incremental vacuum (one VACUUM)";
  if (auto status = exec(db, "PRAGMA auto_vacuum = INCREMENTAL"); !status) return status;
  return exec(db, "VACUUM");
}

}  // namespace

void SqliteStore::DbCloser::operator()(sqlite3* db) const { sqlite3_close_v2(db); }
void SqliteStore::StmtFinalizer::operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path,
                                                       SqliteStoreOptions options) {
  if (path.empty()) return Error(ErrorCode::kInvalidArgument, "sqlite store needs a path");
  const bool in_memory = path == ":memory:";
  auto fail = [&path](Error error) {
    error.message = "sqlite database '" + path + "': " + error.message;
    return error;
  };

  auto write_raw = open_connection(path);
  if (!write_raw) return fail(write_raw.error());
  Db write_db(*write_raw);

  // Before the schema: a new file takes INCREMENTAL only before its first table.
  if (auto status = use_incremental_vacuum(write_db.get(), path, options); !status) {
    return fail(status.error());
  }
  auto mode = query_text(write_db.get(), "PRAGMA journal_mode = WAL");
  if (!mode) return fail(mode.error());
  if (!in_memory && *mode != "wal") {
    return fail(Error(ErrorCode::kUnavailable, "cannot use WAL (journal_mode is " + *mode + ")"));
  }
  // NORMAL under WAL loses no committed transaction when the process dies; only a power cut can
  // take back the last few.
  // Foreign keys are not enforced (SQLite's default): the writer inserts each request before
  // its attempts in one transaction, and checking costs a lookup per attempt row.
  if (auto status = exec(write_db.get(), "PRAGMA synchronous = NORMAL");
      !status) {
    return fail(status.error());
  }
  if (auto status = create_schema(write_db.get()); !status) return fail(status.error());

  Db read_db;
  if (!in_memory) {
    auto read_raw = open_connection(path);
    if (!read_raw) return fail(read_raw.error());
    read_db.reset(*read_raw);
  }

  std::unique_ptr<SqliteStore> store(
      new SqliteStore(std::move(write_db), std::move(read_db), options));
  if (auto status = store->prepare_statements(); !status) return fail(status.error());
  if (auto status = store->prepare_span_statements(); !status) return fail(status.error());
  if (auto page_size = query_text(store->write_db_.get(), "PRAGMA page_size")) {
    store->page_size_ = std::max(std::strtoll(page_size->c_str(), nullptr, 10), 512LL);
  }
  auto state = SqliteState::open(path, options.retention);
  if (!state) return fail(state.error());
  store->state_ = std::move(*state);
  store->writer_ = std::thread(&SqliteStore::writer_loop, store.get());
  return store;
}

SqliteStore::SqliteStore(Db write_db, Db read_db, SqliteStoreOptions options)
    : write_db_(std::move(write_db)), read_db_(std::move(read_db)), options_(options) {
  if (options_.max_batch == 0) options_.max_batch = 1;
}

SqliteStore::~SqliteStore() {
  {
    std::lock_guard lock(queue_mutex_);
    stop_ = true;
  }
  work_cv_.notify_one();
  if (writer_.joinable()) writer_.join();
}

Status SqliteStore::prepare_statements() {
  auto prepare = [](sqlite3* db, const char* sql, Stmt& out) -> Status {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
      return Status(ErrorCode::kInternal,
                    "sqlite: cannot prepare '" + std::string(sql) + "': " + errmsg(db));
    }
    out.reset(raw);
    return Status::Ok();
  };
  sqlite3* writer = write_db_.get();
  sqlite3* reader = read_connection();
  const std::pair<const char*, Stmt*> writer_statements[] = {
      {"BEGIN IMMEDIATE", &begin_},
      {"COMMIT", &commit_},
      {"ROLLBACK", &rollback_},
      {"SAVEPOINT keel_record", &savepoint_},
      {"RELEASE keel_record", &release_},
      {"ROLLBACK TO keel_record", &rollback_to_},
  };
  for (const auto& [sql, stmt] : writer_statements) {
    if (auto status = prepare(writer, sql, *stmt); !status) return status;
  }
  const std::pair<const char*, Stmt*> retention_statements[] = {
      {kNthOldestStartSql, &nth_oldest_start_},
      {kDeleteAttemptsStartedSql, &delete_attempts_started_},
      {kDeleteRequestsStartedSql, &delete_requests_started_},
      {kRowidRangeSql, &rowid_range_},
      {kDeleteAttemptsUptoSql, &delete_attempts_upto_},
      {kDeleteRequestsUptoSql, &delete_requests_upto_},
      {"PRAGMA freelist_count", &freelist_count_},
      {"PRAGMA page_count", &page_count_},
      {"PRAGMA wal_checkpoint(PASSIVE)", &checkpoint_},
  };
  for (const auto& [sql, stmt] : retention_statements) {
    if (auto status = prepare(writer, sql, *stmt); !status) return status;
  }
  const std::pair<std::string, Stmt*> insert_statements[] = {
      {insert_sql(kInsertRequestHead, 1, kRequestColumns), &insert_request_},
      {insert_sql(kInsertAttemptHead, 1, kAttemptColumns), &insert_attempt_},
      {insert_sql(kInsertRequestHead, kRowsPerInsert, kRequestColumns), &insert_requests_},
      {insert_sql(kInsertAttemptHead, kRowsPerInsert, kAttemptColumns), &insert_attempts_},
  };
  for (const auto& [sql, stmt] : insert_statements) {
    if (auto status = prepare(writer, sql.c_str(), *stmt); !status) return status;
  }
  // A pragma's argument cannot be a bound parameter.
  const std::string vacuum = "PRAGMA incremental_vacuum(" +
                             std::to_string(std::max<size_t>(options_.vacuum_pages, 1)) + ")";
  if (auto status = prepare(writer, vacuum.c_str(), incremental_vacuum_); !status) return status;
  if (auto status = prepare(reader, kSelectRequestsSql, select_requests_); !status) return status;
  return prepare(reader, kSelectAttemptsSql, select_attempts_);
}

namespace {
// How long the writer lets records gather before a transaction: a crash loses at most this much
// of the log beyond what is queued anyway. Each commit rewrites the partly filled last page of
// every table and index into the WAL: at 50 streaming connections (`make bench-gateway`) the
// writer thread's CPU per record fell from about 3.6 to 3.1 us when this went from 5 to 20 ms.
constexpr auto kGroupCommitWindow = std::chrono::milliseconds(20);
}  // namespace

void SqliteStore::record(RequestRecord record) {
  size_t waiting = 0;
  bool accepted = false;
  bool wake = false;
  {
    std::lock_guard lock(queue_mutex_);
    waiting = queue_.size();
    if (waiting < options_.queue_capacity) {
      queue_.push_back(std::move(record));
      ++accepted_;
      accepted = true;
      // Only a sleeping writer needs a wake-up: under load it is busy or gathering a batch,
      // and a notify per request would cost a futex call each.
      wake = writer_waiting_;
      writer_waiting_ = false;
    }
  }
  if (accepted) {
    if (wake) work_cv_.notify_one();
    return;
  }
  const int64_t dropped = ++dropped_;
  // The first drop and then one line per thousand: a stuck disk must not also flood the log.
  if (dropped == 1 || dropped % 1000 == 0) {
    KEEL_LOG(kWarn) << "store: queue full (" << waiting << " records waiting); dropped " << dropped
                    << " request records so far";
  }
}

void SqliteStore::flush() {
  std::unique_lock lock(queue_mutex_);
  const uint64_t target = accepted_;
  written_cv_.wait(lock, [&] { return handled_ >= target; });
}

void SqliteStore::writer_loop() {
  using Clock = std::chrono::steady_clock;
  const bool retention = options_.retention.enabled();
  const auto prune_interval = std::chrono::milliseconds(std::max(options_.prune_interval_ms, 1));
  Clock::time_point next_prune = Clock::now();   // a first pass at start
  bool in_pass = false;                          // a scheduled pass is under way
  int64_t pass_deleted = 0;                      // by it so far
  // With max_requests, a pass is also due once a tenth of it (at least 1,000) has been written
  // since the last one: under heavy load a minute of traffic can be millions of requests, and
  // the log should not hold several times the limit between passes.
  const uint64_t writes_per_pass =
      options_.retention.max_requests > 0
          ? std::max<uint64_t>(static_cast<uint64_t>(options_.retention.max_requests) / 10, 1'000)
          : std::numeric_limits<uint64_t>::max();
  uint64_t written_since_pass = 0;
  // Free pages to give back to the file system, a vacuum step per turn of the loop (never during
  // a retention pass, whose deletes would free more).
  bool vacuum_due = !retention && vacuum_wanted();  // with retention: after the pass at start
  int64_t vacuum_freed = 0;                         // pages, by the steps of this run so far
  auto end_pass = [&](int64_t deleted) {
    if (deleted > 0) {
      KEEL_LOG(kInfo) << "store: log_retention deleted " << deleted << " requests and their attempts";
    }
    in_pass = false;
    pass_deleted = 0;
    next_prune = Clock::now() + prune_interval;
    vacuum_due = vacuum_due || vacuum_wanted();
  };
  // One step; at the run's end a checkpoint, which truncates the file to what is left.
  auto vacuum = [&] {
    const VacuumStep step = vacuum_step();
    vacuum_freed += step.freed;
    vacuum_due = step.more;
    if (vacuum_due) return;
    checkpoint();
    if (vacuum_freed > 0) {
      KEEL_LOG(kInfo) << "store: gave back " << vacuum_freed * page_size_ / 1024
                      << " KiB of the log's file (incremental vacuum)";
    }
    vacuum_freed = 0;
  };
  std::vector<RequestRecord> batch;
  batch.reserve(options_.max_batch);
  for (;;) {
    uint64_t prune_wanted = 0;   // > prune_done_: a prune_now() caller waits for a whole pass
    {
      std::unique_lock lock(queue_mutex_);
      while (!stop_ && queue_.empty() && prune_wanted_ == prune_done_ && !vacuum_due &&
             !(retention && Clock::now() >= next_prune)) {
        writer_waiting_ = true;
        if (retention) {
          work_cv_.wait_until(lock, next_prune);
        } else {
          work_cv_.wait(lock);
        }
      }
      writer_waiting_ = false;
      if (stop_ && queue_.empty()) return;  // everything is written
      if (!stop_ && !queue_.empty() && queue_.size() < options_.max_batch) {
        // Group commit: let a burst gather into one transaction instead of one per request.
        lock.unlock();
        std::this_thread::sleep_for(kGroupCommitWindow);
        lock.lock();
      }
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (prune_wanted_ != prune_done_) prune_wanted = prune_wanted_;
    }
    if (!batch.empty()) {
      size_t lost = 0;
      try {
        lost = write_batch(batch);
      } catch (const std::exception& e) {
        lost = batch.size();
        KEEL_LOG(kError) << "store: writing " << batch.size() << " records failed: " << e.what();
        std::unique_lock<std::mutex> shared_connection;
        if (!read_db_) shared_connection = std::unique_lock(read_mutex_);
        if (!sqlite3_get_autocommit(write_db_.get())) run(rollback_.get());
      }
      failed_ += static_cast<int64_t>(lost);
      {
        std::lock_guard lock(queue_mutex_);
        handled_ += batch.size();
      }
      written_cv_.notify_all();
      written_since_pass += batch.size();
      batch.clear();
      if (retention && !in_pass && written_since_pass >= writes_per_pass) next_prune = Clock::now();
    }
    if (prune_wanted != 0) {
      // A whole pass now, step after step, then the vacuum it makes due, for prune_now().
      int64_t deleted = 0;
      if (retention) {
        for (;;) {
          const PruneStep step = prune_step();
          deleted += step.deleted;
          if (!step.more || step.failed) break;
        }
      }
      written_since_pass = 0;
      end_pass(deleted + pass_deleted);  // it finished any scheduled pass under way, too
      while (vacuum_due) vacuum();
      {
        std::lock_guard lock(queue_mutex_);
        prune_done_ = prune_wanted;
        prune_now_deleted_ = deleted;
      }
      written_cv_.notify_all();
    } else if (retention && Clock::now() >= next_prune) {
      // One step per turn of the loop, so queued records go in between the steps of a long pass.
      if (!in_pass) {
        in_pass = true;
        written_since_pass = 0;
      }
      const PruneStep step = prune_step();
      pass_deleted += step.deleted;
      if (step.more && !step.failed) {
        next_prune = Clock::now();
      } else {
        end_pass(pass_deleted);
      }
    } else if (vacuum_due) {
      vacuum();
    }
  }
}

StoreStats SqliteStore::stats() const {
  StoreStats stats;
  {
    std::lock_guard lock(queue_mutex_);
    stats.queued = static_cast<int64_t>(queue_.size());
  }
  stats.dropped = dropped_.load();
  stats.failed = failed_.load();
  stats.pruned = pruned_.load();
  return stats;
}

int64_t SqliteStore::prune_now() {
  std::unique_lock lock(queue_mutex_);
  const uint64_t ticket = ++prune_wanted_;
  work_cv_.notify_one();
  written_cv_.wait(lock, [&] { return prune_done_ >= ticket; });
  return prune_now_deleted_;
}

SqliteStore::PruneStep SqliteStore::prune_step() {
  std::unique_lock<std::mutex> shared_connection;
  if (!read_db_) shared_connection = std::unique_lock(read_mutex_);
  sqlite3* db = write_db_.get();
  const auto chunk = static_cast<int64_t>(std::max<size_t>(options_.prune_chunk, 1));
  PruneStep step;
  // Deletes the requests a statement pair selects with `bound`, their attempts first.
  auto delete_requests = [&](sqlite3_stmt* attempts, sqlite3_stmt* requests, int64_t bound) {
    sqlite3_bind_int64(attempts, 1, bound);
    if (run(attempts) != SQLITE_DONE) return false;
    sqlite3_bind_int64(requests, 1, bound);
    if (run(requests) != SQLITE_DONE) return false;
    step.deleted += sqlite3_changes64(db);
    return true;
  };
  auto ok = [&] {
    if (run(begin_.get()) != SQLITE_DONE) return false;
    if (options_.retention.max_age_ms > 0) {
      // Requests that started before `cutoff`, at most about `chunk` of them: up to the start
      // time of the chunk-th oldest when that is older still.
      const int64_t cutoff = unix_millis() - options_.retention.max_age_ms;
      int64_t bound = cutoff - 1;   // started_ms <= bound
      sqlite3_stmt* nth = nth_oldest_start_.get();
      sqlite3_bind_int64(nth, 1, chunk - 1);
      const int rc = sqlite3_step(nth);
      if (rc == SQLITE_ROW && sqlite3_column_int64(nth, 0) < bound) {
        bound = sqlite3_column_int64(nth, 0);
        step.more = true;
      }
      sqlite3_reset(nth);
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) return false;
      if (!delete_requests(delete_attempts_started_.get(), delete_requests_started_.get(), bound)) {
        return false;
      }
      // Spans go with the requests of their time (sqlite_trace.cpp).
      if (!prune_spans((bound + 1) * 1'000'000)) return false;
    }
    if (options_.retention.max_requests > 0) {
      // The oldest beyond max_requests by rowid, at most `chunk` of them.
      sqlite3_stmt* range = rowid_range_.get();
      const int rc = sqlite3_step(range);
      const bool rows = rc == SQLITE_ROW && sqlite3_column_type(range, 0) != SQLITE_NULL;
      const int64_t lowest = rows ? sqlite3_column_int64(range, 0) : 0;
      const int64_t highest = rows ? sqlite3_column_int64(range, 1) : 0;
      sqlite3_reset(range);
      if (rc != SQLITE_ROW) return false;
      const int64_t last = highest - options_.retention.max_requests;   // rowid <= last goes
      if (rows && last >= lowest) {
        const int64_t upto = std::min(last, lowest + chunk - 1);
        if (upto < last) step.more = true;
        if (!delete_requests(delete_attempts_upto_.get(), delete_requests_upto_.get(), upto)) {
          return false;
        }
        // Spans older than the oldest request kept go too.
        sqlite3_stmt* oldest = nth_oldest_start_.get();
        sqlite3_bind_int64(oldest, 1, 0);
        const int found = sqlite3_step(oldest);
        const int64_t kept_from = found == SQLITE_ROW ? sqlite3_column_int64(oldest, 0) : 0;
        sqlite3_reset(oldest);
        if (found != SQLITE_ROW && found != SQLITE_DONE) return false;
        if (kept_from > 0 && !prune_spans(kept_from * 1'000'000)) return false;
      }
    }
    return run(commit_.get()) == SQLITE_DONE;
  }();
  if (!ok) {
    KEEL_LOG(kError) << "store: log_retention could not delete old requests: " << errmsg(db);
    if (!sqlite3_get_autocommit(db)) run(rollback_.get());
    return PruneStep{.deleted = 0, .more = false, .failed = true};
  }
  pruned_ += step.deleted;
  return step;
}

// Read in autocommit mode: each pragma reads the header of the latest committed state.
int64_t SqliteStore::pragma_value(sqlite3_stmt* stmt) {
  int64_t value = -1;
  if (sqlite3_step(stmt) == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
  sqlite3_reset(stmt);
  return value;
}

bool SqliteStore::vacuum_wanted() {
  if (options_.vacuum_pages == 0) return false;
  std::unique_lock<std::mutex> shared_connection;
  if (!read_db_) shared_connection = std::unique_lock(read_mutex_);
  const int64_t free_pages = pragma_value(freelist_count_.get());
  const int64_t pages = pragma_value(page_count_.get());
  // A quarter of the file free: a retention pass at a steady limit frees about a tenth (what
  // the next tenth of the limit fills again), so only a cut such as a lowered limit starts a
  // run; the run then gives back all but less than a step.
  return free_pages >= static_cast<int64_t>(options_.vacuum_pages) && free_pages * 4 > pages;
}

SqliteStore::VacuumStep SqliteStore::vacuum_step() {
  std::unique_lock<std::mutex> shared_connection;
  if (!read_db_) shared_connection = std::unique_lock(read_mutex_);
  sqlite3* db = write_db_.get();
  const int64_t before = pragma_value(freelist_count_.get());
  // Its own transaction (autocommit); SQLite moves pages from the end of the file into free
  // ones and truncates, a page per sqlite3_step.
  sqlite3_stmt* vacuum = incremental_vacuum_.get();
  int rc;
  while ((rc = sqlite3_step(vacuum)) == SQLITE_ROW) {
  }
  sqlite3_reset(vacuum);
  if (rc != SQLITE_DONE) {
    KEEL_LOG(kError) << "store: incremental vacuum failed: " << errmsg(db);
    return VacuumStep{.freed = 0, .more = false};
  }
  const int64_t after = pragma_value(freelist_count_.get());
  return VacuumStep{.freed = std::max<int64_t>(before - after, 0),
                    .more = after >= static_cast<int64_t>(options_.vacuum_pages) && after < before};
}

void SqliteStore::checkpoint() {
  std::unique_lock<std::mutex> shared_connection;
  if (!read_db_) shared_connection = std::unique_lock(read_mutex_);
  // PASSIVE never waits for readers; what a reader still needs is copied at a later checkpoint.
  sqlite3_stmt* stmt = checkpoint_.get();
  while (sqlite3_step(stmt) == SQLITE_ROW) {
  }
  sqlite3_reset(stmt);
}

size_t SqliteStore::write_batch(const std::vector<RequestRecord>& batch) {
  std::unique_lock<std::mutex> shared_connection;
  if (!read_db_) shared_connection = std::unique_lock(read_mutex_);
  sqlite3* db = write_db_.get();
  auto begin = [&] {
    if (run(begin_.get()) == SQLITE_DONE) return true;
    KEEL_LOG(kError) << "store: cannot begin a transaction, " << batch.size()
                     << " records lost: " << errmsg(db);
    return false;
  };
  auto commit = [&] {
    if (run(commit_.get()) == SQLITE_DONE) return true;
    KEEL_LOG(kError) << "store: commit failed, " << batch.size() << " records lost: " << errmsg(db);
    if (!sqlite3_get_autocommit(db)) run(rollback_.get());
    return false;
  };

  if (!begin()) return batch.size();
  // Fast path: every record straight into the transaction, many rows per INSERT. Almost
  // always all of them go in; if one fails (a duplicate id), the whole transaction is rolled
  // back and written again below with a savepoint per record, which skips just the failing ones.
  if (insert_records(batch)) {
    return commit() ? 0 : batch.size();
  }
  if (!sqlite3_get_autocommit(db)) run(rollback_.get());
  if (!begin()) return batch.size();
  size_t skipped = 0;
  for (const auto& record : batch) {
    switch (write_record(record)) {
      case WriteOutcome::kWritten:
        break;
      case WriteOutcome::kSkipped:
        ++skipped;
        break;
      case WriteOutcome::kBatchLost:
        KEEL_LOG(kError) << "store: transaction rolled back, " << batch.size()
                         << " records lost: " << errmsg(db);
        // SQLite may have rolled back already (disk full, I/O error); never leave one open.
        if (!sqlite3_get_autocommit(db)) run(rollback_.get());
        return batch.size();
    }
  }
  return commit() ? skipped : batch.size();
}

SqliteStore::WriteOutcome SqliteStore::write_record(const RequestRecord& record) {
  sqlite3* db = write_db_.get();
  // A savepoint per record: a record that fails (a duplicate id) leaves neither its request row
  // nor any of its attempts, and the rest of the batch still commits.
  if (run(savepoint_.get()) != SQLITE_DONE) return WriteOutcome::kBatchLost;
  bool ok = insert_record(record);
  if (ok && run(release_.get()) == SQLITE_DONE) return WriteOutcome::kWritten;
  std::string message = errmsg(db);
  if (sqlite3_get_autocommit(db)) return WriteOutcome::kBatchLost;
  run(rollback_to_.get());
  run(release_.get());
  KEEL_LOG(kError) << "store: request record '" << record.id << "' not written: " << message;
  return WriteOutcome::kSkipped;
}

namespace {

// A request row's kRequestColumns parameters, from parameter `at` on.
void bind_request(sqlite3_stmt* stmt, int at, const RequestRecord& record) {
  bind_text(stmt, at, record.id);
  sqlite3_bind_int64(stmt, at + 1, record.started_ms);
  bind_text(stmt, at + 2, record.endpoint);
  bind_text(stmt, at + 3, record.model);
  sqlite3_bind_int(stmt, at + 4, record.stream ? 1 : 0);
  sqlite3_bind_int(stmt, at + 5, record.status);
  bind_text(stmt, at + 6, record.error_class);
  sqlite3_bind_int64(stmt, at + 7, record.latency_ms);
  sqlite3_bind_int64(stmt, at + 8, record.ttft_ms);
  sqlite3_bind_int64(stmt, at + 9, record.prompt_tokens);
  sqlite3_bind_int64(stmt, at + 10, record.completion_tokens);
  if (record.content.empty()) {
    sqlite3_bind_null(stmt, at + 11);
  } else {
    bind_text(stmt, at + 11, record.content);
  }
  if (record.key_id.empty()) {
    sqlite3_bind_null(stmt, at + 12);
  } else {
    bind_text(stmt, at + 12, record.key_id);
  }
}

// The row of attempt `seq` of `record`, from parameter `at` on.
void bind_attempt(sqlite3_stmt* stmt, int at, const RequestRecord& record, size_t seq) {
  const AttemptRecord& a = record.attempts[seq];
  bind_text(stmt, at, record.id);
  sqlite3_bind_int64(stmt, at + 1, static_cast<int64_t>(seq));
  sqlite3_bind_int64(stmt, at + 2, a.started_ms);
  bind_text(stmt, at + 3, a.provider);
  bind_text(stmt, at + 4, a.target_model);
  sqlite3_bind_int(stmt, at + 5, a.status);
  bind_text(stmt, at + 6, a.error_class);
  bind_text(stmt, at + 7, a.error_message);
  sqlite3_bind_int64(stmt, at + 8, a.latency_ms);
  sqlite3_bind_int64(stmt, at + 9, a.ttft_ms);
  sqlite3_bind_int64(stmt, at + 10, a.prompt_tokens);
  sqlite3_bind_int64(stmt, at + 11, a.completion_tokens);
  bind_text(stmt, at + 12, a.variant);
}

// Inserts `count` rows, kRowsPerInsert per run of `many` while that many are left, then one per
// run of `one`; bind(stmt, first parameter, i) binds row i. False at the first failed run.
template <int kColumns, class Bind>
bool insert_rows(sqlite3_stmt* many, sqlite3_stmt* one, size_t count, const Bind& bind) {
  size_t row = 0;
  for (; row + kRowsPerInsert <= count; row += kRowsPerInsert) {
    for (size_t k = 0; k < kRowsPerInsert; ++k) {
      bind(many, 1 + static_cast<int>(k) * kColumns, row + k);
    }
    if (run(many) != SQLITE_DONE) return false;
  }
  for (; row < count; ++row) {
    bind(one, 1, row);
    if (run(one) != SQLITE_DONE) return false;
  }
  return true;
}

}  // namespace

bool SqliteStore::insert_record(const RequestRecord& record) {
  // A record without an id carries only spans (record_spans).
  if (!record.id.empty()) {
    bind_request(insert_request_.get(), 1, record);
    if (run(insert_request_.get()) != SQLITE_DONE) return false;
    for (size_t seq = 0; seq < record.attempts.size(); ++seq) {
      bind_attempt(insert_attempt_.get(), 1, record, seq);
      if (run(insert_attempt_.get()) != SQLITE_DONE) return false;
    }
  }
  const RequestRecord* one = &record;
  if (record.shadow_pair && !insert_shadow_pair(*record.shadow_pair)) return false;
  return insert_spans(&one, 1);
}

bool SqliteStore::insert_records(const std::vector<RequestRecord>& batch) {
  // Requests in batch order (their rowids keep the queue order recent() breaks ties with);
  // records without an id carry only spans.
  request_rows_.clear();
  attempt_rows_.clear();
  bool spans = false;
  for (const auto& record : batch) {
    spans = spans || !record.trace.spans().empty();
    if (record.shadow_pair && !insert_shadow_pair(*record.shadow_pair)) return false;
    if (record.id.empty()) continue;
    request_rows_.push_back(&record);
    for (size_t seq = 0; seq < record.attempts.size(); ++seq) {
      attempt_rows_.emplace_back(&record, seq);
    }
  }
  if (!insert_rows<kRequestColumns>(insert_requests_.get(), insert_request_.get(),
                                    request_rows_.size(),
                                    [this](sqlite3_stmt* stmt, int at, size_t i) {
                                      bind_request(stmt, at, *request_rows_[i]);
                                    })) {
    return false;
  }
  if (!insert_rows<kAttemptColumns>(
          insert_attempts_.get(), insert_attempt_.get(), attempt_rows_.size(),
          [this](sqlite3_stmt* stmt, int at, size_t i) {
            bind_attempt(stmt, at, *attempt_rows_[i].first, attempt_rows_[i].second);
          })) {
    return false;
  }
  if (!spans) return true;
  request_rows_.clear();
  for (const auto& record : batch) request_rows_.push_back(&record);
  return insert_spans(request_rows_.data(), request_rows_.size());
}

Result<std::vector<RequestRecord>> SqliteStore::recent(int limit) {
  if (limit < 0) return Error(ErrorCode::kInvalidArgument, "recent: limit must not be negative");
  std::lock_guard lock(read_mutex_);
  sqlite3* db = read_connection();
  std::vector<RequestRecord> records;

  // No read transaction: a request's attempts commit with it and never change afterwards, so
  // per-statement snapshots agree with each other.
  sqlite3_stmt* requests = select_requests_.get();
  sqlite3_bind_int(requests, 1, limit);
  int rc;
  while ((rc = sqlite3_step(requests)) == SQLITE_ROW) {
    sqlite_rows::read_request(requests, records.emplace_back());
  }
  sqlite3_reset(requests);
  if (rc != SQLITE_DONE) return Error(ErrorCode::kUnavailable, "sqlite: " + errmsg(db));

  sqlite3_stmt* attempts = select_attempts_.get();
  for (RequestRecord& r : records) {
    bind_text(attempts, 1, r.id);
    while ((rc = sqlite3_step(attempts)) == SQLITE_ROW) {
      sqlite_rows::read_attempt(attempts, r.attempts.emplace_back());
    }
    sqlite3_reset(attempts);
    if (rc != SQLITE_DONE) return Error(ErrorCode::kUnavailable, "sqlite: " + errmsg(db));
  }
  return records;
}

}  // namespace keel
