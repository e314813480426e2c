// Evaluation runs and their rows (`keel eval`), in the same database as the request log.
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

}  // namespace

Status SqliteStore::save_eval_run(const std::string& run_id, const std::string& describe) {
  std::lock_guard lock(read_mutex_);
  sqlite3* db = read_connection();
  if (auto status = ensure_tables(db, eval_tables_); !status) return status;
  Statement insert;
  if (auto status = prepare(
          db, "INSERT OR IGNORE INTO eval_runs(id, created_ms, describe) VALUES(?1, ?2, ?3)",
          insert);
      !status) {
    return status;
  }
  bind(insert.stmt, 1, run_id);
  sqlite3_bind_int64(insert.stmt, 2, unix_millis());
  bind(insert.stmt, 3, describe);
  if (sqlite3_step(insert.stmt) != SQLITE_DONE) return sqlite_error(db);
  return Status::Ok();
}

Status SqliteStore::save_eval_row(const EvalRowRecord& row) {
  std::lock_guard lock(read_mutex_);
  sqlite3* db = read_connection();
  if (auto status = ensure_tables(db, eval_tables_); !status) return status;
  Statement insert;
  if (auto status = prepare(db,
                            "INSERT OR REPLACE INTO eval_rows(run_id, line, candidate, "
                            "created_ms, result) VALUES(?1, ?2, ?3, ?4, ?5)",
                            insert);
      !status) {
    return status;
  }
  bind(insert.stmt, 1, row.run_id);
  sqlite3_bind_int64(insert.stmt, 2, row.line);
  bind(insert.stmt, 3, row.candidate);
  sqlite3_bind_int64(insert.stmt, 4, row.created_ms ? row.created_ms : unix_millis());
  bind(insert.stmt, 5, row.result);
  if (sqlite3_step(insert.stmt) != SQLITE_DONE) return sqlite_error(db);
  return Status::Ok();
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

}  // namespace keel
