// SqliteStore's StoreReader side (store.h): the console's and operators' reads of the request
// log. Apart from the writer: each read prepares its statements on the read connection (reads
// are rare, and their WHERE clauses vary with the filters given), under read_mutex_.
#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "store/sqlite/sqlite_rows.h"
#include "store/sqlite/sqlite_store.h"

namespace keel {
namespace {

using sqlite_rows::column_text;

struct Finalize {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Statement = std::unique_ptr<sqlite3_stmt, Finalize>;

Error read_error(sqlite3* db) {
  return Error(ErrorCode::kUnavailable, std::string("sqlite: ") + sqlite3_errmsg(db));
}

Result<Statement> prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) return read_error(db);
  return Statement(raw);
}

// A request counts as an error when the client did not get a clean 200.
constexpr const char* kIsError = "(status != 200 OR coalesce(error_class, '') != '')";

// Binds text parameters by position (SQLITE_TRANSIENT: the strings may not outlive the call).
void bind_text(sqlite3_stmt* stmt, int index, const std::string& text) {
  sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

// The value at `fraction` (0..1) of the sorted `values`, nearest rank; -1 when empty.
int64_t percentile(std::vector<int64_t>& values, double fraction) {
  if (values.empty()) return -1;
  std::sort(values.begin(), values.end());
  size_t rank = static_cast<size_t>(fraction * static_cast<double>(values.size()) + 0.999999);
  rank = std::clamp<size_t>(rank, 1, values.size());
  return values[rank - 1];
}

}  // namespace

Result<RequestPage> SqliteStore::query_requests(const RequestQuery& query) {
  if (query.limit < 1 || query.limit > 500) {
    return Error(ErrorCode::kInvalidArgument, "limit must be between 1 and 500");
  }
  if (query.offset < 0) return Error(ErrorCode::kInvalidArgument, "offset must not be negative");
  std::string sql =
      std::string("SELECT ") + sqlite_rows::kRequestColumns + " FROM requests WHERE 1";
  // Parameters in the order their clauses are appended.
  std::vector<std::variant<int64_t, std::string>> params;
  auto text_param = [&](const std::string& value) { params.emplace_back(value); };
  auto int_param = [&](int64_t value) { params.emplace_back(value); };
  if (!query.model.empty()) {
    sql += " AND model = ?";
    text_param(query.model);
  }
  if (query.status == "ok") {
    sql += std::string(" AND NOT ") + kIsError;
  } else if (query.status == "error") {
    sql += std::string(" AND ") + kIsError;
  } else if (!query.status.empty()) {
    const bool digits =
        query.status.size() == 3 && std::all_of(query.status.begin(), query.status.end(),
                                                [](char c) { return c >= '0' && c <= '9'; });
    if (!digits) {
      return Error(ErrorCode::kInvalidArgument,
                   "status must be ok, error or a three-digit HTTP status");
    }
    sql += " AND status = ?";
    int_param(std::stoll(query.status));
  }
  if (!query.key_id.empty()) {
    sql += " AND key_id = ?";
    text_param(query.key_id);
  }
  if (query.since_ms > 0) {
    sql += " AND started_ms >= ?";
    int_param(query.since_ms);
  }
  if (query.until_ms > 0) {
    sql += " AND started_ms < ?";
    int_param(query.until_ms);
  }
  // One row more than asked for says whether another page follows.
  sql += " ORDER BY started_ms DESC, rowid DESC LIMIT ? OFFSET ?";
  int_param(query.limit + 1);
  int_param(query.offset);

  std::lock_guard lock(read_mutex_);
  sqlite3* db = read_connection();
  auto stmt = prepare(db, sql);
  if (!stmt) return stmt.error();
  for (size_t i = 0; i < params.size(); ++i) {
    const int index = static_cast<int>(i) + 1;
    if (const auto* text = std::get_if<std::string>(&params[i])) {
      bind_text(stmt->get(), index, *text);
    } else {
      sqlite3_bind_int64(stmt->get(), index, std::get<int64_t>(params[i]));
    }
  }
  RequestPage page;
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW) {
    if (static_cast<int>(page.requests.size()) == query.limit) {
      page.more = true;
      break;
    }
    RequestRecord& record = page.requests.emplace_back();
    sqlite_rows::read_request(stmt->get(), record);
    record.content.clear();  // a page lists requests; find_request() has the bodies
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return read_error(db);
  return page;
}

Result<RequestRecord> SqliteStore::find_request(const std::string& id) {
  std::lock_guard lock(read_mutex_);
  sqlite3* db = read_connection();
  auto request = prepare(
      db, std::string("SELECT ") + sqlite_rows::kRequestColumns + " FROM requests WHERE id = ?1");
  if (!request) return request.error();
  bind_text(request->get(), 1, id);
  int rc = sqlite3_step(request->get());
  if (rc == SQLITE_DONE) {
    return Error(ErrorCode::kNotFound, "no request '" + id + "' in the log");
  }
  if (rc != SQLITE_ROW) return read_error(db);
  RequestRecord record;
  sqlite_rows::read_request(request->get(), record);

  auto attempts = prepare(db, std::string("SELECT ") + sqlite_rows::kAttemptColumns +
                                  " FROM attempts WHERE request_id = ?1 ORDER BY seq");
  if (!attempts) return attempts.error();
  bind_text(attempts->get(), 1, id);
  while ((rc = sqlite3_step(attempts->get())) == SQLITE_ROW) {
    sqlite_rows::read_attempt(attempts->get(), record.attempts.emplace_back());
  }
  if (rc != SQLITE_DONE) return read_error(db);
  return record;
}

Result<std::vector<ModelWindowStats>> SqliteStore::model_stats(int64_t since_ms, int64_t until_ms,
                                                               int64_t bucket_ms) {
  if (bucket_ms <= 0 || until_ms <= since_ms) {
    return Error(ErrorCode::kInvalidArgument, "model_stats: an empty window or bucket");
  }
  const int64_t bucket_count = (until_ms - since_ms + bucket_ms - 1) / bucket_ms;
  if (bucket_count > 10'000) {
    return Error(ErrorCode::kInvalidArgument, "model_stats: more than 10000 buckets");
  }
  std::lock_guard lock(read_mutex_);
  sqlite3* db = read_connection();
  std::map<std::string, ModelWindowStats> models;
  auto model = [&](const std::string& name) -> ModelWindowStats& {
    ModelWindowStats& stats = models[name];
    if (stats.buckets.empty()) {
      stats.model = name;
      stats.buckets.resize(static_cast<size_t>(bucket_count));
      for (int64_t i = 0; i < bucket_count; ++i)
        stats.buckets[i].start_ms = since_ms + i * bucket_ms;
    }
    return stats;
  };

  // One pass over the window's requests (through requests_started_ms): totals, buckets, and
  // the latencies for percentiles.
  auto rows =
      prepare(db, std::string("SELECT model, started_ms, latency_ms, ttft_ms, stream, "
                              "prompt_tokens, completion_tokens, ") +
                      kIsError + " FROM requests WHERE started_ms >= ?1 AND started_ms < ?2");
  if (!rows) return rows.error();
  sqlite3_bind_int64(rows->get(), 1, since_ms);
  sqlite3_bind_int64(rows->get(), 2, until_ms);
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<int64_t>>> samples;
  std::map<std::pair<std::string, int64_t>, int64_t> latency_sums;
  int rc;
  while ((rc = sqlite3_step(rows->get())) == SQLITE_ROW) {
    sqlite3_stmt* row = rows->get();
    const std::string name = column_text(row, 0);
    ModelWindowStats& stats = model(name);
    const int64_t latency = sqlite3_column_int64(row, 2);
    const int64_t ttft = sqlite3_column_int64(row, 3);
    const int64_t tokens = sqlite3_column_int64(row, 5) + sqlite3_column_int64(row, 6);
    const bool error = sqlite3_column_int(row, 7) != 0;
    stats.totals.requests += 1;
    stats.totals.errors += error ? 1 : 0;
    stats.totals.prompt_tokens += sqlite3_column_int64(row, 5);
    stats.totals.completion_tokens += sqlite3_column_int64(row, 6);
    auto& [latencies, ttfts] = samples[name];
    latencies.push_back(latency);
    if (sqlite3_column_int(row, 4) != 0 && ttft >= 0) ttfts.push_back(ttft);
    const int64_t index = (sqlite3_column_int64(row, 1) - since_ms) / bucket_ms;
    StatsBucket& bucket = stats.buckets[static_cast<size_t>(index)];
    bucket.requests += 1;
    bucket.errors += error ? 1 : 0;
    bucket.tokens += tokens;
    latency_sums[{name, index}] += latency;
  }
  if (rc != SQLITE_DONE) return read_error(db);
  for (auto& [name, stats] : models) {
    auto& [latencies, ttfts] = samples[name];
    stats.totals.latency_p50_ms = percentile(latencies, 0.50);
    stats.totals.latency_p95_ms = percentile(latencies, 0.95);
    stats.totals.ttft_p50_ms = percentile(ttfts, 0.50);
  }
  for (const auto& [key, sum] : latency_sums) {
    StatsBucket& bucket = models[key.first].buckets[static_cast<size_t>(key.second)];
    bucket.latency_avg_ms = sum / bucket.requests;
  }

  // Attempts per target (the primary key (request_id, seq) serves the join).
  auto targets =
      prepare(db,
              "SELECT r.model, a.provider, a.target_model, count(*), "
              "sum(a.status != 200 OR coalesce(a.error_class, '') != ''), avg(a.latency_ms) "
              "FROM requests r JOIN attempts a ON a.request_id = r.id "
              "WHERE r.started_ms >= ?1 AND r.started_ms < ?2 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3");
  if (!targets) return targets.error();
  sqlite3_bind_int64(targets->get(), 1, since_ms);
  sqlite3_bind_int64(targets->get(), 2, until_ms);
  while ((rc = sqlite3_step(targets->get())) == SQLITE_ROW) {
    sqlite3_stmt* row = targets->get();
    TargetWindowStats& target = model(column_text(row, 0)).targets.emplace_back();
    target.provider = column_text(row, 1);
    target.target_model = column_text(row, 2);
    target.attempts = sqlite3_column_int64(row, 3);
    target.errors = sqlite3_column_int64(row, 4);
    target.latency_avg_ms = static_cast<int64_t>(sqlite3_column_double(row, 5) + 0.5);
  }
  if (rc != SQLITE_DONE) return read_error(db);

  std::vector<ModelWindowStats> out;
  out.reserve(models.size());
  for (auto& [name, stats] : models) out.push_back(std::move(stats));
  return out;
}

}  // namespace keel
