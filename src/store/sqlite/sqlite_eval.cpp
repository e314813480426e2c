// Evaluation runs and their rows (`keel eval`) and shadow pairs, in the request log's database.
// Written synchronously on the read connection: an eval run writes a row per scored line and
// needs it durable before it moves on (a rerun skips it), at a rate far below the request log's.
#include <sqlite3.h>

#include "core/clock.h"
#include "store/sqlite/sqlite_store.h"

namespace keel {

namespace {

// Column names are a contract, like the request log's: operators query them with sqlite3.
constexpr const char* kEvalSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS eval_runs(
  id TEXT PRIMARY KEY,
  created_ms INTEGER,
  describe TEXT
);
CREATE TABLE IF NOT EXISTS eval_rows(
  run_id TEXT,
  line INTEGER,
  candidate TEXT,
  created_ms INTEGER,
  result TEXT,
  PRIMARY KEY(run_id, line, candidate)
);
CREATE TABLE IF NOT EXISTS shadow_pairs(
  id TEXT PRIMARY KEY,
  model TEXT,
  shadow_model TEXT,
  created_ms INTEGER,
  result TEXT
);
CREATE INDEX IF NOT EXISTS shadow_pairs_model ON shadow_pairs(model, created_ms);
)sql";

Error sqlite_error(sqlite3* db) {
  return Error(ErrorCode::kUnavailable, std::string("sqlite: ") + sqlite3_errmsg(db));
}

struct Statement {
  sqlite3_stmt* stmt = nullptr;
  ~Statement() { sqlite3_finalize(stmt); }
};

Status prepare(sqlite3* db, const char* sql, Statement& out) {
  if (sqlite3_prepare_v2(db, sql, -1, &out.stmt, nullptr) != SQLITE_OK) return sqlite_error(db);
  return Status::Ok();
}

void bind(sqlite3_stmt* stmt, int index, const std::string& text) {
  sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

std::string column(sqlite3_stmt* stmt, int index) {
  auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, index));
  return text ? std::string(text, static_cast<size_t>(sqlite3_column_bytes(stmt, index)))
              : std::string();
}

Status ensure_tables(sqlite3* db, bool& done) {
  if (done) return Status::Ok();
  char* message = nullptr;
  if (sqlite3_exec(db, kEvalSchemaSql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message ? message : sqlite3_errmsg(db);
    sqlite3_free(message);
    return Status(ErrorCode::kUnavailable, "sqlite: " + text);
  }
  done = true;
  return Status::Ok();
}

// One INSERT, its values bound by `bind_values`.
template <typename Bind>
Status insert_row(sqlite3* db, const char* sql, Bind bind_values) {
  Statement insert;
  if (auto status = prepare(db, sql, insert); !status) return status;
  bind_values(insert.stmt);
  if (sqlite3_step(insert.stmt) != SQLITE_DONE) return sqlite_error(db);
  return Status::Ok();
}

}  // namespace

Status SqliteStore::save_eval_run(const std::string& run_id, const std::string& describe) {
  std::lock_guard lock(read_mutex_);
  sqlite3* db = read_connection();
  if (auto status = ensure_tables(db, eval_tables_); !status) return status;
  return insert_row(db,
                    "INSERT OR IGNORE INTO eval_runs(id, created_ms, describe) VALUES(?1, ?2, ?3)",
                    [&](sqlite3_stmt* stmt) {
                      bind(stmt, 1, run_id);
                      sqlite3_bind_int64(stmt, 2, unix_millis());
                      bind(stmt, 3, describe);
                    });
}

Status SqliteStore::save_eval_row(const EvalRowRecord& row) {
  std::lock_guard lock(read_mutex_);
  sqlite3* db = read_connection();
  if (auto status = ensure_tables(db, eval_tables_); !status) return status;
  return insert_row(db,
                    "INSERT OR REPLACE INTO eval_rows(run_id, line, candidate, created_ms, "
                    "result) VALUES(?1, ?2, ?3, ?4, ?5)",
                    [&](sqlite3_stmt* stmt) {
                      bind(stmt, 1, row.run_id);
                      sqlite3_bind_int64(stmt, 2, row.line);
                      bind(stmt, 3, row.candidate);
                      sqlite3_bind_int64(stmt, 4, row.created_ms ? row.created_ms : unix_millis());
                      bind(stmt, 5, row.result);
                    });
}

Result<std::vector<EvalRowRecord>> SqliteStore::eval_rows(const std::string& run_id) {
  std::lock_guard lock(read_mutex_);
  sqlite3* db = read_connection();
  if (auto status = ensure_tables(db, eval_tables_); !status) return status.error();
  Statement select;
  if (auto status = prepare(db,
                            "SELECT line, candidate, created_ms, result FROM eval_rows "
                            "WHERE run_id = ?1 ORDER BY line, candidate",
                            select);
      !status) {
    return status.error();
  }
  bind(select.stmt, 1, run_id);
  std::vector<EvalRowRecord> rows;
  int rc;
  while ((rc = sqlite3_step(select.stmt)) == SQLITE_ROW) {
    EvalRowRecord& row = rows.emplace_back();
    row.run_id = run_id;
    row.line = sqlite3_column_int64(select.stmt, 0);
    row.candidate = column(select.stmt, 1);
    row.created_ms = sqlite3_column_int64(select.stmt, 2);
    row.result = column(select.stmt, 3);
  }
  if (rc != SQLITE_DONE) return sqlite_error(db);
  return rows;
}

Result<std::vector<EvalRunRecord>> SqliteStore::eval_runs(int limit) {
  if (limit < 0) return Error(ErrorCode::kInvalidArgument, "eval_runs: negative limit");
  std::lock_guard lock(read_mutex_);
  sqlite3* db = read_connection();
  if (auto status = ensure_tables(db, eval_tables_); !status) return status.error();
  Statement select;
  // One pass over eval_rows' primary key per run (run_id leads it).
  if (auto status = prepare(db,
                            "SELECT r.id, r.created_ms, r.describe, "
                            "(SELECT COUNT(*) FROM eval_rows e WHERE e.run_id = r.id), "
                            "(SELECT MAX(e.created_ms) FROM eval_rows e WHERE e.run_id = r.id) "
                            "FROM eval_runs r ORDER BY r.created_ms DESC, r.rowid DESC LIMIT ?1",
                            select);
      !status) {
    return status.error();
  }
  sqlite3_bind_int(select.stmt, 1, limit);
  std::vector<EvalRunRecord> runs;
  int rc;
  while ((rc = sqlite3_step(select.stmt)) == SQLITE_ROW) {
    EvalRunRecord& run = runs.emplace_back();
    run.id = column(select.stmt, 0);
    run.created_ms = sqlite3_column_int64(select.stmt, 1);
    run.describe = column(select.stmt, 2);
    run.rows = sqlite3_column_int64(select.stmt, 3);
    run.last_ms = sqlite3_column_int64(select.stmt, 4);  // NULL (no rows) reads as 0
  }
  if (rc != SQLITE_DONE) return sqlite_error(db);
  return runs;
}

void SqliteStore::record_shadow_pair(ShadowPairRecord pair, Trace trace) {
  RequestRecord carrier;  // no id: its spans and its pair are written
  carrier.trace = std::move(trace);
  carrier.shadow_pair = std::make_shared<const ShadowPairRecord>(std::move(pair));
  record(std::move(carrier));
}

// On the writer's thread, inside its transaction.
bool SqliteStore::insert_shadow_pair(const ShadowPairRecord& pair) {
  sqlite3* db = write_db_.get();
  if (!insert_shadow_pair_) {
    if (!ensure_tables(db, writer_eval_tables_).ok()) return false;
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v3(db,
                           "INSERT OR REPLACE INTO shadow_pairs(id, model, shadow_model, "
                           "created_ms, result) VALUES(?1, ?2, ?3, ?4, ?5)",
                           -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
      return false;
    }
    insert_shadow_pair_.reset(raw);
  }
  sqlite3_stmt* stmt = insert_shadow_pair_.get();
  bind(stmt, 1, pair.id);
  bind(stmt, 2, pair.model);
  bind(stmt, 3, pair.shadow_model);
  sqlite3_bind_int64(stmt, 4, pair.created_ms ? pair.created_ms : unix_millis());
  bind(stmt, 5, pair.result);
  const int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  return rc == SQLITE_DONE;
}

Result<std::vector<ShadowPairRecord>> SqliteStore::shadow_pairs(const std::string& model,
                                                                int limit) {
  if (limit < 0) return Error(ErrorCode::kInvalidArgument, "shadow_pairs: negative limit");
  std::lock_guard lock(read_mutex_);
  sqlite3* db = read_connection();
  if (auto status = ensure_tables(db, eval_tables_); !status) return status.error();
  Statement select;
  if (auto status = prepare(db,
                            "SELECT id, shadow_model, created_ms, result FROM shadow_pairs "
                            "WHERE model = ?1 ORDER BY created_ms DESC, rowid DESC LIMIT ?2",
                            select);
      !status) {
    return status.error();
  }
  bind(select.stmt, 1, model);
  sqlite3_bind_int(select.stmt, 2, limit);
  std::vector<ShadowPairRecord> pairs;
  int rc;
  while ((rc = sqlite3_step(select.stmt)) == SQLITE_ROW) {
    ShadowPairRecord& pair = pairs.emplace_back();
    pair.id = column(select.stmt, 0);
    pair.model = model;
    pair.shadow_model = column(select.stmt, 1);
    pair.created_ms = sqlite3_column_int64(select.stmt, 2);
    pair.result = column(select.stmt, 3);
  }
  if (rc != SQLITE_DONE) return sqlite_error(db);
  return pairs;
}

}  // namespace keel
