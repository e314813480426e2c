// Spans in the state store (sqlite_trace.cpp) and the spans derived from the request log
// (request_spans.h).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
#include "store/request_spans.h"
#include "store/sqlite/sqlite_store.h"
#include "store_file_test.h"

namespace keel {
namespace {

namespace fs = std::filesystem;

class SqliteTraceTest : public StoreFileTest {
 protected:
  // Rows of `sql` from an independent connection (what the sqlite3 CLI sees), columns joined
  // by '|', NULL as "NULL".
  std::vector<std::string> rows(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    std::vector<std::string> out;
    while (stmt && sqlite3_step(stmt) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        auto* text = sqlite3_column_text(stmt, i);
        if (i) row += '|';
        row += text ? reinterpret_cast<const char*>(text) : "NULL";
      }
      out.push_back(row);
    }
    sqlite3_finalize(stmt);
    sqlite3_close_v2(db);
    return out;
  }

};

// A chat that failed over once and called one tool in between.
RequestRecord traced_request(int64_t started_ms) {
  RequestRecord r;
  r.id = new_time_ordered_id("req_", started_ms);
  r.started_ms = started_ms;
  r.endpoint = "/v1/chat/completions";
  r.model = "agent";
  r.status = 200;
  r.latency_ms = 900;
  r.prompt_tokens = 30;
  r.completion_tokens = 7;
  AttemptRecord failed;
  failed.started_ms = started_ms + 1;
  failed.provider = "openai";
  failed.target_model = "gpt-4o-mini";
  failed.status = 503;
  failed.error_class = "unavailable";
  failed.error_message = "upstream said 503";
  failed.latency_ms = 10;
  AttemptRecord answered = failed;
  answered.started_ms = started_ms + 500;
  answered.provider = "claude";
  answered.target_model = "claude-sonnet-4-5";
  answered.status = 200;
  answered.error_class.clear();
  answered.error_message.clear();
  answered.latency_ms = 300;
  answered.ttft_ms = 120;
  answered.prompt_tokens = 30;
  answered.completion_tokens = 7;
  r.attempts = {failed, answered};
  r.trace = Trace::for_request(r.id);
  Span tool;
  tool.trace_id = r.trace.id();
  tool.span_id = SpanId::random();
  tool.parent_id = r.trace.root();
  tool.name = "execute_tool get_weather";
  tool.start_ns = (started_ms + 100) * 1'000'000;
  tool.end_ns = (started_ms + 350) * 1'000'000 + 500'000;
  tool.status = SpanStatus::kOk;
  tool.set(gen_ai::kOperationName, "execute_tool");
  tool.set(gen_ai::kToolName, "get_weather");
  tool.set(gen_ai::kToolCallId, "call_1");
  tool.set(keel_attr::kToolset, "web");
  tool.set(keel_attr::kToolStatus, "ok");
  tool.set(keel_attr::kToolOutputBytes, int64_t{42});
  tool.set("keel.test.ratio", 0.5);
  tool.set("keel.test.flag", true);
  tool.set("keel.test.text", std::string("\"quoted\"\n\x01 caf\xc3\xa9"));
  tool.set("keel.test.bytes", std::string("ok \xff\xfe end"));  // not UTF-8: replaced
  tool.set("keel.test.big", 1e300);
  r.trace.add(tool);
  return r;
}

TEST(RequestSpans, DeriveTheRequestAndItsAttempts) {
  const RequestRecord record = traced_request(1'764'167'000'000);
  const std::vector<Span> spans = request_spans(record);
  ASSERT_EQ(spans.size(), 3u);
  const Span& request = spans[0];
  EXPECT_EQ(request.trace_id, TraceId::for_request(record.id));
  EXPECT_EQ(request.span_id, record.trace.root());
  EXPECT_FALSE(request.parent_id.valid());
  EXPECT_EQ(request.name, "POST /v1/chat/completions");
  EXPECT_EQ(request.kind, SpanKind::kServer);
  EXPECT_EQ(request.start_ns, record.started_ms * 1'000'000);
  EXPECT_EQ(request.duration_ns(), 900'000'000);
  EXPECT_EQ(request.status, SpanStatus::kOk);
  EXPECT_EQ(std::get<int64_t>(*request.find(gen_ai::kUsageOutputTokens)), 7);

  const Span& failed = spans[1];
  EXPECT_EQ(failed.parent_id, request.span_id);
  EXPECT_EQ(failed.span_id, derived_span_id(request.trace_id, 1));
  EXPECT_EQ(failed.name, "chat gpt-4o-mini");
  EXPECT_EQ(failed.kind, SpanKind::kClient);
  EXPECT_EQ(failed.status, SpanStatus::kError);
  EXPECT_EQ(failed.status_message, "upstream said 503");
  EXPECT_EQ(std::get<std::string>(*failed.find(gen_ai::kErrorType)), "unavailable");
  EXPECT_EQ(failed.find(gen_ai::kResponseModel), nullptr);
  const Span& answered = spans[2];
  EXPECT_EQ(std::get<std::string>(*answered.find(gen_ai::kOperationName)), "chat");
  EXPECT_EQ(std::get<std::string>(*answered.find(gen_ai::kResponseModel)), "claude-sonnet-4-5");
  EXPECT_EQ(std::get<int64_t>(*answered.find(keel_attr::kAttempt)), 1);

  std::vector<Span> named = spans;
  ProviderConfig claude;
  claude.name = "claude";
  claude.kind = ProviderKind::kAnthropic;
  name_providers(named, {claude});
  EXPECT_EQ(named[1].find(gen_ai::kProviderName), nullptr);  // "openai" is not configured here
  EXPECT_EQ(std::get<std::string>(*named[2].find(gen_ai::kProviderName)), "anthropic");
}

TEST(RequestSpans, TreeOrderPutsChildrenUnderTheirParentsByStart) {
  RequestRecord record = traced_request(1'764'167'000'000);
  std::vector<Span> spans = request_spans(record);
  for (const Span& span : record.trace.spans()) spans.push_back(span);
  std::reverse(spans.begin(), spans.end());
  const std::vector<Span> ordered = tree_order(spans);
  ASSERT_EQ(ordered.size(), 4u);
  EXPECT_EQ(ordered[0].name, "POST /v1/chat/completions");
  EXPECT_EQ(ordered[1].name, "chat gpt-4o-mini");
  EXPECT_EQ(ordered[2].name, "execute_tool get_weather");
  EXPECT_EQ(ordered[3].name, "chat claude-sonnet-4-5");
  EXPECT_EQ(tree_depths(ordered), (std::vector<int>{0, 1, 1, 1}));

  // A cycle of parents (a damaged store) neither loops nor loses a span.
  Span a;
  a.span_id = SpanId{1};
  a.parent_id = SpanId{2};
  Span b;
  b.span_id = SpanId{2};
  b.parent_id = SpanId{1};
  EXPECT_EQ(tree_order({a, b}).size(), 2u);
}

TEST_F(SqliteTraceTest, ARequestsSpansAreWrittenWithItAndReadAsOneTrace) {
  auto store = open();
  ASSERT_TRUE(store);
  const RequestRecord record = traced_request(unix_millis());
  const std::string id = record.id;
  const TraceId trace = record.trace.id();
  store->record(record);
  store->flush();

  auto spans = store->trace_spans(trace);
  ASSERT_TRUE(spans.ok()) << spans.error().message;
  ASSERT_EQ(spans->size(), 4u);
  const std::vector<Span> ordered = tree_order(*spans);
  const Span& tool = ordered[2];
  EXPECT_EQ(tool.name, "execute_tool get_weather");
  EXPECT_EQ(tool.parent_id, derived_span_id(trace, 0));
  EXPECT_EQ(tool.status, SpanStatus::kOk);
  EXPECT_EQ(tool.duration_ns(), 250'500'000);
  EXPECT_EQ(std::get<std::string>(*tool.find(gen_ai::kToolName)), "get_weather");
  EXPECT_EQ(std::get<int64_t>(*tool.find(keel_attr::kToolOutputBytes)), 42);
  EXPECT_EQ(std::get<double>(*tool.find("keel.test.ratio")), 0.5);
  EXPECT_EQ(std::get<bool>(*tool.find("keel.test.flag")), true);
  EXPECT_EQ(std::get<std::string>(*tool.find("keel.test.text")), "\"quoted\"\n\x01 caf\xc3\xa9");
  EXPECT_EQ(std::get<std::string>(*tool.find("keel.test.bytes")),
            "ok \xef\xbf\xbd\xef\xbf\xbd end");
  EXPECT_EQ(std::get<double>(*tool.find("keel.test.big")), 1e300);

  // Issue 20's row per tool call, by request.
  EXPECT_EQ(rows("SELECT request_id, toolset, tool, call_id, duration_ms, status, output_bytes "
                 "FROM tool_calls"),
            (std::vector<std::string>{id + "|web|get_weather|call_1|250.5|ok|42"}));
  EXPECT_EQ(rows("SELECT count(*) FROM spans"), (std::vector<std::string>{"1"}));
}

TEST_F(SqliteTraceTest, SpansOfNoRequestAreWrittenAloneAndUnknownTracesAreNotFound) {
  auto store = open();
  ASSERT_TRUE(store);
  Trace trace(TraceId::random(), SpanId::random());
  {
    SpanScope row(TraceContext{&trace, SpanId{}}, "eval_row 0");
    row.set(keel_attr::kEvalRun, "run-1");
    SpanScope judge(row.context(), "evaluate f1");
    judge.fail("the judge's answer is not a score");
  }
  const TraceId id = trace.id();
  store->record_spans(std::move(trace));
  store->record_spans(Trace(TraceId::random(), SpanId::random()));  // no spans: nothing
  store->flush();
  EXPECT_EQ(rows("SELECT count(*) FROM requests"), (std::vector<std::string>{"0"}));
  auto spans = store->trace_spans(id);
  ASSERT_TRUE(spans.ok()) << spans.error().message;
  const std::vector<Span> ordered = tree_order(*spans);
  ASSERT_EQ(ordered.size(), 2u);
  EXPECT_EQ(ordered[0].name, "eval_row 0");
  EXPECT_EQ(ordered[1].status, SpanStatus::kError);
  EXPECT_EQ(ordered[1].status_message, "the judge's answer is not a score");

  auto missing = store->trace_spans(TraceId::random());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  // A request without spans of its own is still a trace: its log row.
  RequestRecord plain;
  plain.id = new_time_ordered_id("req_", unix_millis());
  plain.started_ms = unix_millis();
  plain.status = 200;
  store->record(plain);
  store->flush();
  auto derived = store->trace_spans(TraceId::for_request(plain.id));
  ASSERT_TRUE(derived.ok());
  EXPECT_EQ(derived->size(), 1u);
}

// A log written before 2026-12-08 keeps its spans in a WITHOUT ROWID table: opened, they move
// to the rowid table (key a unique index), tool_calls reads them, and new spans go in beside them.
TEST_F(SqliteTraceTest, SpansOfAnOlderLogMoveToTheRowidTable) {
  {
    auto store = open();  // today's schema, then the spans table put back as it was
    ASSERT_TRUE(store);
  }
  const std::string old_span =
      "('0123456789abcdef0123456789abcdef', '0011223344556677', NULL, 'execute_tool echo', 1, "
      "1000, 3000, 1, NULL, '{\"gen_ai.operation.name\":\"execute_tool\",\"gen_ai.tool.name\":"
      "\"echo\",\"keel.tool.toolset\":\"kit\",\"keel.tool.status\":\"ok\"}')";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  const std::string sql =
      "DROP VIEW tool_calls; DROP TABLE spans; "
      "CREATE TABLE spans(trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_id TEXT, "
      "name TEXT, kind INTEGER, start_ns INTEGER, end_ns INTEGER, status INTEGER, "
      "status_message TEXT, attributes TEXT, PRIMARY KEY(trace_id, span_id)) WITHOUT ROWID; "
      "CREATE INDEX spans_start_ns ON spans(start_ns); "
      "CREATE VIEW tool_calls AS SELECT trace_id FROM spans; "
      "INSERT INTO spans VALUES " +
      old_span + ";";
  char* message = nullptr;
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message), SQLITE_OK)
      << (message ? message : "");
  sqlite3_close_v2(db);

  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(rows("SELECT count(*) FROM sqlite_schema WHERE sql LIKE '%WITHOUT ROWID%'"),
            (std::vector<std::string>{"0"}));
  EXPECT_EQ(rows("SELECT name FROM sqlite_schema WHERE tbl_name = 'spans' ORDER BY name"),
            (std::vector<std::string>{"spans", "spans_start_ns", "spans_trace_span"}));
  EXPECT_EQ(rows("SELECT tool, toolset, status, duration_ms FROM tool_calls"),
            (std::vector<std::string>{"echo|kit|ok|0.002"}));
  auto old = store->trace_spans(TraceId::from_hex("0123456789abcdef0123456789abcdef"));
  ASSERT_TRUE(old.ok()) << old.error().message;
  ASSERT_EQ(old->size(), 1u);
  EXPECT_EQ((*old)[0].name, "execute_tool echo");

  Trace trace(TraceId::random(), SpanId::random());
  { SpanScope row(TraceContext{&trace, SpanId{}}, "eval_row 0"); }
  const TraceId id = trace.id();
  store->record_spans(std::move(trace));
  store->flush();
  EXPECT_EQ(rows("SELECT count(*) FROM spans"), (std::vector<std::string>{"2"}));
  ASSERT_TRUE(store->trace_spans(id).ok());
  store.reset();
  EXPECT_TRUE(open());  // opened again: nothing left to move
}

TEST_F(SqliteTraceTest, RetentionByAgeTakesOldSpansWithTheirRequests) {
  SqliteStoreOptions options;
  options.retention.max_age_ms = 24 * 3'600'000;
  options.prune_interval_ms = 3'600'000;
  auto store = open(options);
  ASSERT_TRUE(store);
  store->prune_now();
  store->record(traced_request(unix_millis() - 3 * 24 * 3'600'000));
  store->record(traced_request(unix_millis()));
  store->flush();
  EXPECT_EQ(rows("SELECT count(*) FROM spans"), (std::vector<std::string>{"2"}));
  EXPECT_EQ(store->prune_now(), 1);
  EXPECT_EQ(rows("SELECT count(*) FROM spans"), (std::vector<std::string>{"1"}));
}

TEST_F(SqliteTraceTest, RetentionByCountTakesSpansOlderThanTheOldestRequestKept) {
  SqliteStoreOptions options;
  options.retention.max_requests = 1;
  options.prune_interval_ms = 3'600'000;
  auto store = open(options);
  ASSERT_TRUE(store);
  store->prune_now();
  store->record(traced_request(unix_millis() - 60'000));
  store->record(traced_request(unix_millis()));
  store->flush();
  EXPECT_EQ(store->prune_now(), 1);
  EXPECT_EQ(rows("SELECT count(*) FROM spans"), (std::vector<std::string>{"1"}));
}

}  // namespace
}  // namespace keel
