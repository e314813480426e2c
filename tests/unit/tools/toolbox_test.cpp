// Toolbox::invoke, the one place a tool call is made: argument parsing and schema checks,
// timeouts, output caps and the builtin tools behind them.
#include "tools/toolbox.h"

#include <gtest/gtest.h>

#include "../http/test_server.h"
#include "tools/builtin/builtin.h"

namespace keel {
namespace {

using testkit::run_until_done;
using testkit::TestServer;

ToolsetConfig builtin(std::vector<std::string> tools) {
  ToolsetConfig config;
  config.name = "t";
  config.kind = ToolsetKind::kBuiltin;
  config.tools = std::move(tools);
  return config;
}

// run_until_done needs a default-constructible result.
template <typename T>
Task<std::optional<Result<T>>> optional_of(Task<Result<T>> task) {
  co_return co_await std::move(task);
}

class ToolboxTest : public ::testing::Test {
 protected:
  void TearDown() override { http_pool_clear(); }

  std::vector<OfferedTool> offered(Toolbox& toolbox, std::vector<std::string> names) {
    auto tools =
        *run_until_done(io_, optional_of(toolbox.tools_of(names, std::make_shared<CancelToken>())));
    EXPECT_TRUE(tools.ok());
    return tools.ok() ? *tools : std::vector<OfferedTool>{};
  }

  ToolOutput call(Toolbox& toolbox, const OfferedTool& tool, std::string arguments) {
    return run_until_done(io_, toolbox.invoke(tool, arguments, std::make_shared<CancelToken>()));
  }

  asio::io_context io_;
};

TEST_F(ToolboxTest, ArgumentsAreParsedAndChecked) {
  Toolbox toolbox({builtin({"calculator"})});
  auto tools = offered(toolbox, {"t"});
  ASSERT_EQ(tools.size(), 1u);
  EXPECT_EQ(tools[0].name, "calculator");
  auto ok = call(toolbox, tools[0], R"({"expression":"6*7"})");
  EXPECT_FALSE(ok.is_error);
  EXPECT_EQ(ok.text, "42");
  auto not_json = call(toolbox, tools[0], "{\"expression\":");
  EXPECT_TRUE(not_json.is_error);
  EXPECT_EQ(not_json.text, "the arguments of calculator are not a JSON object");
  auto wrong = call(toolbox, tools[0], R"({"expression":7})");
  EXPECT_TRUE(wrong.is_error);
  EXPECT_EQ(
      wrong.text,
      "invalid arguments for calculator: arguments.expression: expected a string, got an integer");
  auto extra = call(toolbox, tools[0], R"({"expression":"1","x":1})");
  EXPECT_EQ(extra.text, "invalid arguments for calculator: arguments.x: unknown property");
  auto tool_error = call(toolbox, tools[0], R"({"expression":"1/0"})");
  EXPECT_TRUE(tool_error.is_error);
  EXPECT_EQ(tool_error.text, "division by zero at position 4");
  const std::string metrics = toolbox.render_metrics();
  EXPECT_NE(metrics.find(R"(keel_tool_calls_total{toolset="t",tool="calculator",status="ok"} 1)"),
            std::string::npos);
  EXPECT_NE(
      metrics.find(
          R"(keel_tool_calls_total{toolset="t",tool="calculator",status="invalid_arguments"} 3)"),
      std::string::npos);
  EXPECT_NE(
      metrics.find(R"(keel_tool_call_duration_seconds_count{toolset="t",tool="calculator"} 5)"),
      std::string::npos);
}

TEST_F(ToolboxTest, UnknownToolsetAndClashesAreErrors) {
  Toolbox toolbox({builtin({"calculator"}), [] {
                     auto config = builtin({"calculator"});
                     config.name = "u";
                     return config;
                   }()});
  const std::vector<std::string> nope{"nope"}, both{"t", "u"};
  auto unknown =
      *run_until_done(io_, optional_of(toolbox.tools_of(nope, std::make_shared<CancelToken>())));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "no toolset named nope");
  auto clash =
      *run_until_done(io_, optional_of(toolbox.tools_of(both, std::make_shared<CancelToken>())));
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().message,
            "tool name calculator is offered by both toolset t and toolset u");
}

TEST_F(ToolboxTest, HttpFetchIsGuardedTimedOutAndCapped) {
  std::atomic<int> hits{0};
  TestServer server([&hits](Request& req, ResponseWriter& res) -> Task<void> {
    ++hits;
    if (req.path() == "/slow") {
      co_await testkit::wait_for_client_gone(res, 5000);
      co_return;
    }
    co_await res.send(200, "text/html; charset=utf-8",
                      "<html><head><style>p{}</style><script>evil()</script></head><body><p>Hello "
                      "&amp; welcome</p>" +
                          std::string(5000, 'x') + "</body></html>");
  });
  // Without allow_hosts: refused, and the server never hears of it.
  Toolbox guarded({builtin({"http_fetch"})});
  auto refused =
      call(guarded, offered(guarded, {"t"})[0], R"({"url":")" + server.base("/") + R"("})");
  EXPECT_TRUE(refused.is_error);
  EXPECT_NE(refused.text.find("127.0.0.1 is loopback"), std::string::npos) << refused.text;
  EXPECT_EQ(hits.load(), 0);

  auto config = builtin({"http_fetch"});
  config.allow_hosts = {"127.0.0.1"};
  config.timeout_ms = 300;
  config.max_output_bytes = 200;
  Toolbox allowed({config});
  auto fetch = offered(allowed, {"t"})[0];
  auto page = call(allowed, fetch, R"({"url":")" + server.base("/page#frag") + R"("})");
  EXPECT_FALSE(page.is_error) << page.text;
  EXPECT_EQ(page.text.rfind("HTTP 200 " + server.base("/page") + "\n\nHello & welcome xxx", 0), 0u)
      << page.text;
  EXPECT_NE(page.text.find("[output cut at 200 of "), std::string::npos);
  EXPECT_EQ(page.text.find("evil"), std::string::npos);
  const auto started = std::chrono::steady_clock::now();
  auto slow = call(allowed, fetch, R"({"url":")" + server.base("/slow") + R"("})");
  EXPECT_TRUE(slow.is_error);
  EXPECT_EQ(slow.text, "http_fetch did not answer within 300 ms");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
}

TEST(HtmlToTextTest, DropsMarkupKeepsText) {
  EXPECT_EQ(html_to_text("<p>a</p><p>b &lt;c&gt;</p><SCRIPT>x</SCRIPT>  d"), "a b <c> d");
  EXPECT_EQ(html_to_text("unterminated <tag"), "unterminated");
}

TEST(CapOutputTest, CutsOnACharacterBoundaryWithANote) {
  EXPECT_EQ(cap_output("short", 10), "short");
  EXPECT_EQ(cap_output("ééé", 3), "é\n[output cut at 2 of 6 bytes]");
}

}  // namespace
}  // namespace keel
