// Row <-> record helpers shared by the SQLite store's writer (sqlite_store.cpp) and its reads
// (sqlite_reads.cpp). Internal to src/store/sqlite/.
#pragma once

#include <sqlite3.h>

#include <string>

#include "store/store.h"

namespace keel::sqlite_rows {

// The request columns every read selects, in the order read_request() takes them.
inline constexpr const char* kRequestColumns =
    "id, started_ms, endpoint, model, stream, status, error_class, latency_ms, ttft_ms, "
    "prompt_tokens, completion_tokens, content, key_id";
inline constexpr const char* kAttemptColumns =
    "started_ms, provider, target_model, status, error_class, error_message, latency_ms, "
    "ttft_ms, prompt_tokens, completion_tokens, variant";

inline std::string column_text(sqlite3_stmt* stmt, int index) {
  auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, index));
  if (!text) return {};
  return std::string(text, static_cast<size_t>(sqlite3_column_bytes(stmt, index)));
}

inline void read_request(sqlite3_stmt* stmt, RequestRecord& r) {
  r.id = column_text(stmt, 0);
  r.started_ms = sqlite3_column_int64(stmt, 1);
  r.endpoint = column_text(stmt, 2);
  r.model = column_text(stmt, 3);
  r.stream = sqlite3_column_int(stmt, 4) != 0;
  r.status = sqlite3_column_int(stmt, 5);
  r.error_class = column_text(stmt, 6);
  r.latency_ms = sqlite3_column_int64(stmt, 7);
  r.ttft_ms = sqlite3_column_int64(stmt, 8);
  r.prompt_tokens = sqlite3_column_int64(stmt, 9);
  r.completion_tokens = sqlite3_column_int64(stmt, 10);
  r.content = column_text(stmt, 11);
  r.key_id = column_text(stmt, 12);
}

inline void read_attempt(sqlite3_stmt* stmt, AttemptRecord& a) {
  a.started_ms = sqlite3_column_int64(stmt, 0);
  a.provider = column_text(stmt, 1);
  a.target_model = column_text(stmt, 2);
  a.status = sqlite3_column_int(stmt, 3);
  a.error_class = column_text(stmt, 4);
  a.error_message = column_text(stmt, 5);
  a.latency_ms = sqlite3_column_int64(stmt, 6);
  a.ttft_ms = sqlite3_column_int64(stmt, 7);
  a.prompt_tokens = sqlite3_column_int64(stmt, 8);
  a.completion_tokens = sqlite3_column_int64(stmt, 9);
  a.variant = column_text(stmt, 10);
}

}  // namespace keel::sqlite_rows
