// Spans (core/trace.h) in the request log's database: table `spans`, written by the log's
// writer thread in the transaction of the records that carry them, and read back as a trace.
// A request's own span and its attempts' are not stored here: they are derived from `requests`
// and `attempts` when read (store/request_spans.h).
#include <sqlite3.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "api/json_util.h"
#include "core/log.h"
#include "store/request_spans.h"
#include "store/sqlite/sqlite_rows.h"
#include "store/sqlite/sqlite_store.h"

namespace keel {
namespace {

// Column names are a contract, like the request log's: operators query them with sqlite3.
// Ids are lowercase hex as OTLP/JSON writes them; times unix nanoseconds; kind and status
// OTLP's numbers; attributes one JSON object. `tool_calls` is issue 20's "each call is a row":
// request, tool, duration, status and bytes of every tool call keel made.
//
// A rowid table, its key (trace_id, span_id) a unique index: trace ids are random, so a table
// keyed by them (keel's WITHOUT ROWID table before 2026-12-08) put every span, attributes and
// all, at a random place in the B-tree, and each commit wrote as many whole pages to the WAL as
// it had spans. Rows now go at the table's end; only the index's short entries land at random.
// `python3 bench/spans_layout.py` (same inserts into both, process CPU): 8k spans 0.125 -> 0.080
// s, 200k spans 4.65 -> 2.73 s; it grows with the table, so a small one shows little (callgrind,
// ~1k shadow pairs: 3 % fewer instructions per pair).
constexpr const char* kSpanSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS spans(
  trace_id TEXT NOT NULL,
  span_id TEXT NOT NULL,
  parent_id TEXT,
  name TEXT,
  kind INTEGER,
  start_ns INTEGER,
  end_ns INTEGER,
  status INTEGER,
  status_message TEXT,
  attributes TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS spans_trace_span ON spans(trace_id, span_id);
CREATE INDEX IF NOT EXISTS spans_start_ns ON spans(start_ns);
CREATE VIEW IF NOT EXISTS tool_calls AS
  SELECT CASE WHEN substr(trace_id, 1, 8) = '00000000' THEN 'req_' || substr(trace_id, 9) END
           AS request_id,
         trace_id,
         span_id,
         json_extract(attributes, '$."keel.tool.toolset"') AS toolset,
         json_extract(attributes, '$."gen_ai.tool.name"') AS tool,
         json_extract(attributes, '$."gen_ai.tool.call.id"') AS call_id,
         start_ns / 1000000 AS started_ms,
         (end_ns - start_ns) / 1000000.0 AS duration_ms,
         json_extract(attributes, '$."keel.tool.status"') AS status,
         json_extract(attributes, '$."keel.tool.output_bytes"') AS output_bytes
  FROM spans WHERE json_extract(attributes, '$."gen_ai.operation.name"') = 'execute_tool';
)sql";

constexpr const char* kInsertSpanHead =
    "INSERT OR REPLACE INTO spans(trace_id, span_id, parent_id, name, kind, start_ns, end_ns, "
    "status, status_message, attributes) VALUES";
constexpr int kSpanColumns = 10;
constexpr size_t kSpansPerInsert = 16;

// A log written before the change holds the WITHOUT ROWID table: renamed, copied into the new
// one, dropped, in one transaction (the view and index that name it go first: SQLite would follow
// the rename). kSpanSchemaSql runs in between.
constexpr const char* kOldSpansAsideSql = R"sql(
DROP VIEW IF EXISTS tool_calls;
DROP INDEX IF EXISTS spans_start_ns;
ALTER TABLE spans RENAME TO spans_without_rowid;
)sql";
constexpr const char* kOldSpansCopySql = R"sql(
INSERT INTO spans(trace_id, span_id, parent_id, name, kind, start_ns, end_ns, status,
                  status_message, attributes)
  SELECT trace_id, span_id, parent_id, name, kind, start_ns, end_ns, status, status_message,
         attributes FROM spans_without_rowid ORDER BY start_ns;
DROP TABLE spans_without_rowid;
)sql";

constexpr const char* kSelectSpansSql =
    "SELECT trace_id, span_id, parent_id, name, kind, start_ns, end_ns, status, status_message, "
    "attributes FROM spans WHERE trace_id = ?1";

// SQLITE_TRANSIENT: the hex ids and the attributes' JSON are temporaries.
void bind_copy(sqlite3_stmt* stmt, int index, const std::string& text) {
  sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

int run(sqlite3_stmt* stmt) {
  const int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  return rc;
}

std::string sql_for(size_t rows) {
  std::string sql = kInsertSpanHead;
  for (size_t row = 0; row < rows; ++row) {
    sql += row ? ",(" : "(";
    for (int column = 0; column < kSpanColumns; ++column) sql += column ? ",?" : "?";
    sql += ')';
  }
  return sql;
}

// One JSON object, keys in byte order as nlohmann's std::map-backed object wrote them (the text
// the table has always held). Written directly: building and dumping that map cost ~8k
// instructions per span on the writer thread, a request with a shadow pair writes several.
// Strings a tool or a model returned may hold invalid UTF-8: replaced (as Json::dump's
// error_handler_t::replace does), never thrown on.
void attributes_json(const std::vector<SpanAttribute>& attributes, std::string& out) {
  std::vector<const SpanAttribute*> sorted;
  sorted.reserve(attributes.size());
  for (const SpanAttribute& attribute : attributes) sorted.push_back(&attribute);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const SpanAttribute* a, const SpanAttribute* b) { return a->key < b->key; });
  const auto append_text = [](std::string& out, const std::string& text) {
    if (valid_utf8(text)) {
      append_json_string(out, text);
    } else {
      append_json(out, Json(text));
    }
  };
  out = "{";
  for (size_t i = 0; i < sorted.size(); ++i) {
    // A key set twice (Span::set replaces, a hand-built span may not): the last value wins.
    if (i + 1 < sorted.size() && sorted[i + 1]->key == sorted[i]->key) continue;
    if (out.size() > 1) out += ',';
    append_text(out, sorted[i]->key);
    out += ':';
    std::visit(
        [&](const auto& value) {
          using T = std::decay_t<decltype(value)>;
          if constexpr (std::is_same_v<T, std::string>) {
            append_text(out, value);
          } else if constexpr (std::is_same_v<T, bool>) {
            out += value ? "true" : "false";
          } else if constexpr (std::is_same_v<T, int64_t>) {
            out += std::to_string(value);
          } else {
            append_json(out, Json(value));  // nlohmann's shortest round-trip form
          }
        },
        sorted[i]->value);
  }
  out += '}';
}

void read_attributes(const std::string& text, std::vector<SpanAttribute>& out) {
  const nlohmann::json object = nlohmann::json::parse(text, nullptr, false);
  if (!object.is_object()) return;
  for (const auto& [key, value] : object.items()) {
    AttributeValue typed;
    if (value.is_string()) {
      typed = value.get<std::string>();
    } else if (value.is_boolean()) {
      typed = value.get<bool>();
    } else if (value.is_number_integer()) {
      typed = value.get<int64_t>();
    } else if (value.is_number()) {
      typed = value.get<double>();
    } else {
      typed = value.dump();
    }
    out.push_back(SpanAttribute{key, std::move(typed)});
  }
}

constexpr char kHexDigits[] = "0123456789abcdef";

// 16 lowercase hex digits, as TraceId::hex and SpanId::hex write them.
void write_hex(char* out, uint64_t value) {
  for (int i = 15; i >= 0; --i, value >>= 4) out[i] = kHexDigits[value & 0xf];
}

// `text` holds what the row binds beyond the span's own strings; both outlive the statement's run.
void bind_span(sqlite3_stmt* stmt, int at, const Span& span, SpanRowText& text) {
  auto bind_static = [stmt](int index, const char* data, size_t size) {
    sqlite3_bind_text64(stmt, index, data, size, SQLITE_STATIC, SQLITE_UTF8);
  };
  write_hex(text.trace_id, span.trace_id.high);
  write_hex(text.trace_id + 16, span.trace_id.low);
  bind_static(at, text.trace_id, sizeof text.trace_id);
  write_hex(text.span_id, span.span_id.value);
  bind_static(at + 1, text.span_id, sizeof text.span_id);
  if (span.parent_id.valid()) {
    write_hex(text.parent_id, span.parent_id.value);
    bind_static(at + 2, text.parent_id, sizeof text.parent_id);
  } else {
    sqlite3_bind_null(stmt, at + 2);
  }
  bind_static(at + 3, span.name.data(), span.name.size());
  sqlite3_bind_int(stmt, at + 4, static_cast<int>(span.kind));
  sqlite3_bind_int64(stmt, at + 5, span.start_ns);
  sqlite3_bind_int64(stmt, at + 6, span.end_ns);
  sqlite3_bind_int(stmt, at + 7, static_cast<int>(span.status));
  if (span.status_message.empty()) {
    sqlite3_bind_null(stmt, at + 8);
  } else {
    bind_static(at + 8, span.status_message.data(), span.status_message.size());
  }
  attributes_json(span.attributes, text.attributes);
  bind_static(at + 9, text.attributes.data(), text.attributes.size());
}

// Whether `spans` is the WITHOUT ROWID table of logs written before 2026-12-08.
bool spans_without_rowid(sqlite3* db) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db,
                         "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'spans'",
                         -1, &raw, nullptr) != SQLITE_OK) {
    return false;
  }
  const bool found = sqlite3_step(raw) == SQLITE_ROW &&
                     sqlite_rows::column_text(raw, 0).find("WITHOUT ROWID") != std::string::npos;
  sqlite3_finalize(raw);
  return found;
}

SpanKind kind_from(int value) {
  switch (value) {
    case 2:
      return SpanKind::kServer;
    case 3:
      return SpanKind::kClient;
    default:
      return SpanKind::kInternal;
  }
}

SpanStatus status_from(int value) {
  switch (value) {
    case 1:
      return SpanStatus::kOk;
    case 2:
      return SpanStatus::kError;
    default:
      return SpanStatus::kUnset;
  }
}

}  // namespace

Status SqliteStore::prepare_span_statements() {
  sqlite3* writer = write_db_.get();
  auto exec = [writer](const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(writer, sql, nullptr, nullptr, &message) == SQLITE_OK) return true;
    KEEL_LOG(kDebug) << "sqlite: " << (message ? message : sqlite3_errmsg(writer));
    sqlite3_free(message);
    return false;
  };
  auto failed = [writer](const char* what) {
    return Status(ErrorCode::kUnavailable,
                  std::string("sqlite: cannot ") + what + ": " + sqlite3_errmsg(writer));
  };
  // The move takes the write lock (IMMEDIATE: another keel process opening the same file waits,
  // then finds the new table); a log in today's layout is only read here, as before, so a
  // read-only copy of it still opens.
  if (spans_without_rowid(writer)) {
    if (!exec("BEGIN IMMEDIATE")) return failed("move the spans table to its new layout");
    if (spans_without_rowid(writer)) {
      KEEL_LOG(kInfo) << "store: moving the spans table to its new layout (one copy)";
      if (!exec(kOldSpansAsideSql) || !exec(kSpanSchemaSql) || !exec(kOldSpansCopySql)) {
        Status status = failed("move the spans table to its new layout");
        exec("ROLLBACK");
        return status;
      }
    }
    if (!exec("COMMIT")) {
      Status status = failed("move the spans table to its new layout");
      exec("ROLLBACK");
      return status;
    }
  }
  if (!exec(kSpanSchemaSql)) return failed("create the spans table");
  const std::pair<std::string, Stmt*> statements[] = {
      {sql_for(1), &insert_span_},
      {sql_for(kSpansPerInsert), &insert_spans_},
      {"DELETE FROM spans WHERE start_ns < ?1", &delete_spans_before_},
  };
  for (const auto& [sql, stmt] : statements) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v3(writer, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) !=
        SQLITE_OK) {
      return Status(ErrorCode::kInternal, std::string("sqlite: cannot prepare span statements: ") +
                                              sqlite3_errmsg(writer));
    }
    stmt->reset(raw);
  }
  return Status::Ok();
}

void SqliteStore::record_spans(Trace trace) {
  if (trace.spans().empty()) return;
  RequestRecord carrier;  // no id: only its spans are written
  carrier.trace = std::move(trace);
  record(std::move(carrier));
}

bool SqliteStore::insert_spans(const RequestRecord* const* records, size_t count) {
  span_rows_.clear();
  for (size_t i = 0; i < count; ++i) {
    for (const Span& span : records[i]->trace.spans()) span_rows_.push_back(&span);
  }
  // The rows bind the spans' strings and span_text_ without a copy, valid until the records are
  // freed after the commit: the bindings are cleared before then (SQLite's contract for
  // SQLITE_STATIC), whichever way this returns.
  struct Unbind {
    sqlite3_stmt* many;
    sqlite3_stmt* one;
    ~Unbind() {
      sqlite3_clear_bindings(many);
      sqlite3_clear_bindings(one);
    }
  } unbind{insert_spans_.get(), insert_span_.get()};
  size_t row = 0;
  span_text_.resize(kSpansPerInsert);
  for (; row + kSpansPerInsert <= span_rows_.size(); row += kSpansPerInsert) {
    for (size_t k = 0; k < kSpansPerInsert; ++k) {
      bind_span(insert_spans_.get(), 1 + static_cast<int>(k) * kSpanColumns, *span_rows_[row + k],
                span_text_[k]);
    }
    if (run(insert_spans_.get()) != SQLITE_DONE) return false;
  }
  for (; row < span_rows_.size(); ++row) {
    bind_span(insert_span_.get(), 1, *span_rows_[row], span_text_[0]);
    if (run(insert_span_.get()) != SQLITE_DONE) return false;
  }
  return true;
}

bool SqliteStore::prune_spans(int64_t before_ns) {
  sqlite3_stmt* stmt = delete_spans_before_.get();
  sqlite3_bind_int64(stmt, 1, before_ns);
  return run(stmt) == SQLITE_DONE;
}

Result<std::vector<Span>> SqliteStore::trace_spans(const TraceId& trace) {
  if (!trace.valid()) return Error(ErrorCode::kInvalidArgument, "not a trace id");
  std::vector<Span> spans;
  // A request's trace: its own span and its attempts', from the log.
  if (const std::string request_id = trace.request_id(); !request_id.empty()) {
    auto record = find_request(request_id);
    if (record) {
      spans = request_spans(*record);
    } else if (record.error().code != ErrorCode::kNotFound) {
      return record.error();
    }
  }
  std::lock_guard lock(read_mutex_);
  sqlite3* db = read_connection();
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, kSelectSpansSql, -1, &raw, nullptr) != SQLITE_OK) {
    return Error(ErrorCode::kUnavailable, std::string("sqlite: ") + sqlite3_errmsg(db));
  }
  Stmt select(raw);
  bind_copy(raw, 1, trace.hex());
  int rc;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
    Span& span = spans.emplace_back();
    span.trace_id = TraceId::from_hex(sqlite_rows::column_text(raw, 0));
    span.span_id = SpanId::from_hex(sqlite_rows::column_text(raw, 1));
    span.parent_id = SpanId::from_hex(sqlite_rows::column_text(raw, 2));
    span.name = sqlite_rows::column_text(raw, 3);
    span.kind = kind_from(sqlite3_column_int(raw, 4));
    span.start_ns = sqlite3_column_int64(raw, 5);
    span.end_ns = sqlite3_column_int64(raw, 6);
    span.status = status_from(sqlite3_column_int(raw, 7));
    span.status_message = sqlite_rows::column_text(raw, 8);
    read_attributes(sqlite_rows::column_text(raw, 9), span.attributes);
  }
  if (rc != SQLITE_DONE) {
    return Error(ErrorCode::kUnavailable, std::string("sqlite: ") + sqlite3_errmsg(db));
  }
  if (spans.empty()) {
    return Error(ErrorCode::kNotFound, "no trace '" + trace.hex() + "' in the store");
  }
  return spans;
}

}  // namespace keel
