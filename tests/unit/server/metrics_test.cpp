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

TEST(Metrics, LabelSetsAndCounts) {
  Metrics metrics;
  metrics.on_request("/v1/chat/completions", "smart", 200, 0.02);
  metrics.on_request("/v1/chat/completions", "smart", 200, 0.3);
  metrics.on_request("/v1/chat/completions", "we\"ird\\mo\ndel", 502, 0.001);
  metrics.on_error("upstream_error");
  metrics.on_ttft("smart", 0.004);
  metrics.on_tokens("smart", 8, 6);
  metrics.on_tokens("smart", 0, 3);
  AttemptRecord ok;
  ok.provider = "up-a";
  ok.target_model = "m";
  metrics.on_attempt(ok);
  AttemptRecord failed = ok;
  failed.error_class = "upstream_error";
  metrics.on_attempt(failed);
  metrics.on_attempt(failed);

  const std::string page = metrics.render({}, 0);
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
}

}  // namespace
}  // namespace keel
