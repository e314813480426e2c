// The Prometheus page: label sets as the exposition format writes them, one series per set.
#include "server/metrics.h"

#include <gtest/gtest.h>

#include <string>

namespace keel {
namespace {

void expect_line(const std::string& page, const std::string& line) {
  std::string needle = "\n";
  needle += line;
  needle += '\n';
  EXPECT_NE(page.find(needle), std::string::npos) << line << "\nin:\n" << page;
}

RequestRecord record(const std::string& model, int status, int64_t latency_ms) {
  RequestRecord r;
  r.endpoint = "/v1/chat/completions";
  r.model = model;
  r.status = status;
  r.latency_ms = latency_ms;
  return r;
}

AttemptRecord attempt(const std::string& provider, const std::string& model,
                      const std::string& error_class = "") {
  AttemptRecord a;
  a.provider = provider;
  a.target_model = model;
  a.error_class = error_class;
  return a;
}

TEST(Metrics, LabelSetsAndCounts) {
  Metrics metrics({"smart", "we\"ird\\mo\ndel"});
  auto first = record("smart", 200, 20);
  first.ttft_ms = 4;
  first.prompt_tokens = 8;
  first.completion_tokens = 6;
  first.attempts = {attempt("up-a", "m")};
  metrics.on_record(first);
  auto second = record("smart", 200, 300);
  second.completion_tokens = 3;
  second.attempts = {attempt("up-a", "m", "upstream_error"), attempt("up-a", "m", "upstream_error")};
  metrics.on_record(second);
  auto odd = record("we\"ird\\mo\ndel", 502, 1);
  odd.error_class = "upstream_error";
  metrics.on_record(odd);

  const std::string page = metrics.render({}, 0, {});
  expect_line(page,
              R"(keel_requests_total{endpoint="/v1/chat/completions",model="smart",status="200"} 2)");
  expect_line(page, "keel_requests_total{endpoint=\"/v1/chat/completions\",model=\"we\\\"ird\\\\mo"
                    "\\ndel\",status=\"502\"} 1");
  expect_line(page, R"(keel_errors_total{class="upstream_error"} 1)");
  expect_line(page, R"(keel_tokens_total{model="smart",type="prompt"} 8)");
  expect_line(page, R"(keel_tokens_total{model="smart",type="completion"} 9)");
  expect_line(page, R"(keel_upstream_attempts_total{provider="up-a",model="m",outcome="ok"} 1)");
  expect_line(page, R"(keel_upstream_attempts_total{provider="up-a",model="m",outcome="error"} 2)");
  expect_line(page, R"(keel_request_duration_seconds_count{endpoint="/v1/chat/completions"} 3)");
  expect_line(page, R"(keel_time_to_first_token_seconds_count{model="smart"} 1)");
  // The odd model appears in keel_requests_total only (it had no tokens, ttft or attempts).
  EXPECT_EQ(page.find("model=\"we"), page.rfind("model=\"we"));
}

// Model names that are not public models (404s) share model="": a client sending names of its
// own cannot grow the page, or keel's memory, one series per name.
TEST(Metrics, UnknownModelNamesShareOneSeries) {
  Metrics metrics({"smart"});
  for (int i = 0; i < 1000; ++i) metrics.on_record(record("made-up-" + std::to_string(i), 404, 1));
  metrics.on_record(record("smart", 200, 1));
  const std::string page = metrics.render({}, 0, {});
  expect_line(page, R"(keel_requests_total{endpoint="/v1/chat/completions",model="",status="404"} 1000)");
  expect_line(page, R"(keel_requests_total{endpoint="/v1/chat/completions",model="smart",status="200"} 1)");
  EXPECT_EQ(page.find("made-up-"), std::string::npos);
}

TEST(Metrics, RequestLogCountersAndQueue) {
  Metrics metrics({});
  StoreStats log;
  log.queued = 7;
  log.dropped = 3;
  log.failed = 2;
  log.pruned = 12345;
  const std::string page = metrics.render({}, 0, log);
  expect_line(page, "keel_request_log_queue 7");
  expect_line(page, "keel_request_log_dropped_total 3");
  expect_line(page, "keel_request_log_failed_total 2");
  expect_line(page, "keel_request_log_pruned_total 12345");
  expect_line(page, "# TYPE keel_request_log_queue gauge");
  expect_line(page, "# TYPE keel_request_log_pruned_total counter");
}

// Each family remembers its last label values; alternating and changing values must still land
// every count on its own series.
TEST(Metrics, AlternatingLabelValuesKeepTheirOwnSeries) {
  Metrics metrics({"a", "b"});
  for (int i = 0; i < 6; ++i) {
    auto r = record(i % 2 ? "b" : "a", i < 4 ? 200 : 429, 10);
    r.ttft_ms = i % 3 == 0 ? 1 : -1;
    r.prompt_tokens = i % 2 ? 0 : 5;
    r.completion_tokens = 1;
    r.attempts = {attempt(i % 2 ? "p2" : "p1", r.model, i == 5 ? "rate_limited" : "")};
    if (i == 2) r.endpoint = "/v1/messages";
    metrics.on_record(r);
  }
  const std::string page = metrics.render({}, 0, {});
  // a: i = 0, 2 (/v1/messages), 4 (429); b: i = 1, 3, 5 (429)
  expect_line(page, R"(keel_requests_total{endpoint="/v1/chat/completions",model="a",status="200"} 1)");
  expect_line(page, R"(keel_requests_total{endpoint="/v1/messages",model="a",status="200"} 1)");
  expect_line(page, R"(keel_requests_total{endpoint="/v1/chat/completions",model="a",status="429"} 1)");
  expect_line(page, R"(keel_requests_total{endpoint="/v1/chat/completions",model="b",status="200"} 2)");
  expect_line(page, R"(keel_requests_total{endpoint="/v1/chat/completions",model="b",status="429"} 1)");
  expect_line(page, R"(keel_request_duration_seconds_count{endpoint="/v1/chat/completions"} 5)");
  expect_line(page, R"(keel_request_duration_seconds_count{endpoint="/v1/messages"} 1)");
  expect_line(page, R"(keel_time_to_first_token_seconds_count{model="a"} 1)");   // i = 0
  expect_line(page, R"(keel_time_to_first_token_seconds_count{model="b"} 1)");   // i = 3
  expect_line(page, R"(keel_tokens_total{model="a",type="prompt"} 15)");
  expect_line(page, R"(keel_tokens_total{model="a",type="completion"} 3)");
  expect_line(page, R"(keel_tokens_total{model="b",type="completion"} 3)");
  EXPECT_EQ(page.find(R"(model="b",type="prompt")"), std::string::npos);
  expect_line(page, R"(keel_upstream_attempts_total{provider="p1",model="a",outcome="ok"} 3)");
  expect_line(page, R"(keel_upstream_attempts_total{provider="p2",model="b",outcome="ok"} 2)");
  expect_line(page, R"(keel_upstream_attempts_total{provider="p2",model="b",outcome="error"} 1)");
}

}  // namespace
}  // namespace keel
