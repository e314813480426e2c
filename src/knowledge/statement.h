// One prepared SQLite statement, bound by position and finalized at scope exit; internal to
// src/knowledge/ (the index and the vector stores' records).
#pragma once

#include <sqlite3.h>

#include <string>
#include <string_view>

#include "core/result.h"

namespace keel::knowledge {

inline Error db_error(sqlite3* db, const std::string& what) {
  return Error(ErrorCode::kInternal,
               "knowledge index: " + what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

// One prepared statement; finalized at scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  Statement& text(int index, std::string_view value) {
    if (stmt_)
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    return *this;
  }
  Statement& integer(int index, int64_t value) {
    if (stmt_) sqlite3_bind_int64(stmt_, index, value);
    return *this;
  }
  Statement& blob(int index, const void* data, size_t size) {
    if (stmt_) sqlite3_bind_blob64(stmt_, index, data, size, SQLITE_TRANSIENT);
    return *this;
  }
  int step() { return stmt_ ? sqlite3_step(stmt_) : SQLITE_ERROR; }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Status run(const char* what) {
    const int rc = step();
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) return Status::Ok();
    return db_error(db_, what);
  }
  std::string column_text(int column) const {
    auto* value = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    return value ? std::string(value, static_cast<size_t>(sqlite3_column_bytes(stmt_, column)))
                 : std::string();
  }
  int64_t column_int(int column) const { return sqlite3_column_int64(stmt_, column); }
  double column_double(int column) const { return sqlite3_column_double(stmt_, column); }
  std::string_view column_blob(int column) const {
    const void* data = sqlite3_column_blob(stmt_, column);
    return data ? std::string_view(static_cast<const char*>(data),
                                   static_cast<size_t>(sqlite3_column_bytes(stmt_, column)))
                : std::string_view();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace keel::knowledge
