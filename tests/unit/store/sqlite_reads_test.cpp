// SqliteStore's reads for the console (store.h StoreReader): filters, paging, one request with
// its attempts, and per-model window statistics.
#include <gtest/gtest.h>

#include "store/sqlite/sqlite_store.h"

namespace keel {
namespace {

RequestRecord request(std::string id, int64_t started_ms, std::string model, int status,
                      int64_t latency_ms, std::string error_class = "") {
  RequestRecord r;
  r.id = std::move(id);
  r.started_ms = started_ms;
  r.endpoint = "/v1/chat/completions";
  r.model = std::move(model);
  r.status = status;
  r.error_class = std::move(error_class);
  r.latency_ms = latency_ms;
  r.stream = true;
  r.ttft_ms = latency_ms / 2;
  r.prompt_tokens = 5;
  r.completion_tokens = 3;
  return r;
}

AttemptRecord attempt(std::string provider, int status, int64_t latency_ms) {
  AttemptRecord a;
  a.provider = std::move(provider);
  a.target_model = "m-" + a.provider;
  a.status = status;
  a.error_class = status == 200 ? "" : "unavailable";
  a.error_message = status == 200 ? "" : "upstream said 500";
  a.latency_ms = latency_ms;
  return a;
}

// A query with the given filters (designated initializers would leave g++ 12's
// -Wmissing-field-initializers complaining about the strings).
RequestQuery query(std::string model = "", std::string status = "", int64_t since_ms = 0,
                   int64_t until_ms = 0, int limit = 50, int64_t offset = 0) {
  RequestQuery q;
  q.model = std::move(model);
  q.status = std::move(status);
  q.since_ms = since_ms;
  q.until_ms = until_ms;
  q.limit = limit;
  q.offset = offset;
  return q;
}

class SqliteReadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = SqliteStore::open(":memory:");
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store_ = std::move(*opened);
    // Minute 0: two smart requests (one failed over), one echo; minute 1: a smart 502 and a 499.
    RequestRecord failover = request("r1", 1'000, "smart", 200, 100);
    failover.attempts = {attempt("primary", 500, 10), attempt("secondary", 200, 90)};
    failover.content = R"({"request":{},"response":{}})";
    store_->record(failover);
    store_->record(request("r2", 2'000, "smart", 200, 300));
    RequestRecord keyed = request("r3", 3'000, "echo", 200, 20);
    keyed.key_id = "key_aaaa0000";
    store_->record(keyed);
    RequestRecord bad = request("r4", 61'000, "smart", 502, 700, "bad_gateway");
    bad.attempts = {attempt("primary", 500, 700)};
    store_->record(bad);
    store_->record(request("r5", 62'000, "smart", 499, 50, "cancelled"));
    store_->flush();
  }
  std::vector<std::string> ids(const RequestQuery& q) {
    auto page = store_->query_requests(q);
    EXPECT_TRUE(page.ok()) << page.error().message;
    std::vector<std::string> out;
    if (page.ok()) {
      for (const auto& r : page->requests) out.push_back(r.id);
    }
    return out;
  }
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteReadsTest, FiltersNewestFirst) {
  EXPECT_EQ(ids(query()), (std::vector<std::string>{"r5", "r4", "r3", "r2", "r1"}));
  EXPECT_EQ(ids(query("echo")), std::vector<std::string>{"r3"});
  RequestQuery by_key;
  by_key.key_id = "key_aaaa0000";
  EXPECT_EQ(ids(by_key), std::vector<std::string>{"r3"});
  by_key.key_id = "key_bbbb0000";
  EXPECT_TRUE(ids(by_key).empty());
  EXPECT_EQ(ids(query("", "ok")), (std::vector<std::string>{"r3", "r2", "r1"}));
  EXPECT_EQ(ids(query("", "error")), (std::vector<std::string>{"r5", "r4"}));
  EXPECT_EQ(ids(query("", "502")), std::vector<std::string>{"r4"});
  EXPECT_EQ(ids(query("smart", "", 2'000, 62'000)), (std::vector<std::string>{"r4", "r2"}));
}

TEST_F(SqliteReadsTest, PagesSayWhetherMoreFollow) {
  auto first = store_->query_requests(query("", "", 0, 0, 2));
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->more);
  ASSERT_EQ(first->requests.size(), 2u);
  auto last = store_->query_requests(query("", "", 0, 0, 2, 4));
  ASSERT_TRUE(last.ok());
  EXPECT_FALSE(last->more);
  ASSERT_EQ(last->requests.size(), 1u);
  EXPECT_EQ(last->requests[0].id, "r1");
  EXPECT_TRUE(last->requests[0].content.empty()) << "a page leaves bodies to find_request";
  EXPECT_TRUE(last->requests[0].attempts.empty());
}

TEST_F(SqliteReadsTest, RefusesWhatTheContractRulesOut) {
  EXPECT_EQ(store_->query_requests(query("", "", 0, 0, 0)).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->query_requests(query("", "", 0, 0, 501)).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->query_requests(query("", "5xx")).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store_->query_requests(query("", "", 0, 0, 50, -1)).error().code,
            ErrorCode::kInvalidArgument);
  // A model name is bound, never spliced into the SQL.
  EXPECT_TRUE(ids(query("x' OR '1'='1")).empty());
}

TEST_F(SqliteReadsTest, FindsOneRequestWithAttemptsAndContent) {
  auto found = store_->find_request("r1");
  ASSERT_TRUE(found.ok()) << found.error().message;
  EXPECT_EQ(found->model, "smart");
  EXPECT_EQ(found->content, R"({"request":{},"response":{}})");
  ASSERT_EQ(found->attempts.size(), 2u);
  EXPECT_EQ(found->attempts[0].provider, "primary");
  EXPECT_EQ(found->attempts[0].status, 500);
  EXPECT_EQ(found->attempts[0].error_message, "upstream said 500");
  EXPECT_EQ(found->attempts[1].provider, "secondary");
  EXPECT_EQ(store_->find_request("nope").error().code, ErrorCode::kNotFound);
}

TEST_F(SqliteReadsTest, ModelStatsOverAWindow) {
  auto stats = store_->model_stats(0, 120'000, 60'000);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  ASSERT_EQ(stats->size(), 2u);
  const ModelWindowStats& echo = (*stats)[0];
  const ModelWindowStats& smart = (*stats)[1];
  EXPECT_EQ(echo.model, "echo");
  EXPECT_EQ(smart.model, "smart");
  EXPECT_EQ(smart.totals.requests, 4);
  EXPECT_EQ(smart.totals.errors, 2);
  // Latencies 50, 100, 300, 700: nearest-rank p50 is 100, p95 is 700.
  EXPECT_EQ(smart.totals.latency_p50_ms, 100);
  EXPECT_EQ(smart.totals.latency_p95_ms, 700);
  EXPECT_EQ(smart.totals.prompt_tokens, 20);
  EXPECT_EQ(smart.totals.completion_tokens, 12);
  ASSERT_EQ(smart.buckets.size(), 2u);
  EXPECT_EQ(smart.buckets[0].start_ms, 0);
  EXPECT_EQ(smart.buckets[0].requests, 2);
  EXPECT_EQ(smart.buckets[0].errors, 0);
  EXPECT_EQ(smart.buckets[0].latency_avg_ms, 200);
  EXPECT_EQ(smart.buckets[1].start_ms, 60'000);
  EXPECT_EQ(smart.buckets[1].errors, 2);
  EXPECT_EQ(smart.buckets[1].tokens, 16);
  ASSERT_EQ(smart.targets.size(), 2u);
  EXPECT_EQ(smart.targets[0].provider, "primary");
  EXPECT_EQ(smart.targets[0].attempts, 2);
  EXPECT_EQ(smart.targets[0].errors, 2);
  EXPECT_EQ(smart.targets[0].latency_avg_ms, 355);
  EXPECT_EQ(smart.targets[1].provider, "secondary");
  EXPECT_EQ(smart.targets[1].errors, 0);
  // A window that holds nothing: no models; a bad window: an error.
  auto empty = store_->model_stats(200'000, 260'000, 60'000);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_FALSE(store_->model_stats(10, 10, 60'000).ok());
  EXPECT_FALSE(store_->model_stats(0, 10, 0).ok());
}

}  // namespace
}  // namespace keel
