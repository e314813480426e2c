// The route table's matcher (server/routes.h) and keel's own table (App::routes()).
#include "server/routes.h"

#include <gtest/gtest.h>

#include "server/app.h"

namespace keel {
namespace {

using enum bhttp::verb;

const std::vector<Route>& table() {
  static const std::vector<Route> rows = {
      {.pattern = "/v1/things", .methods = {get, post}},
      {.pattern = "/v1/things/special", .methods = {get}},
      {.pattern = "/v1/things/{id}", .methods = {get}},
      {.pattern = "/v1/things/{id}", .methods = {delete_}},
      {.pattern = "/v1/things/{id}/items/{item}", .methods = {delete_}},
      {.pattern = "/v1/tree/{path...}", .methods = {get}, .format = ApiFormat::kAnthropic},
  };
  return rows;
}

TEST(RoutesTest, LiteralRowsMatchExactly) {
  auto m = match_route(table(), "/v1/things", post);
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/v1/things");
  EXPECT_TRUE(m.params.empty());
  EXPECT_FALSE(match_route(table(), "/v1/thing", get).path_known);
  EXPECT_FALSE(match_route(table(), "/v1/things/", get).path_known) << "an empty {id}";
  EXPECT_FALSE(match_route(table(), "/v1/thingsx", get).path_known);
}

TEST(RoutesTest, EarlierLiteralRowWinsOverAPattern) {
  auto m = match_route(table(), "/v1/things/special", get);
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/v1/things/special");
}

TEST(RoutesTest, ALiteralPathFallsThroughToAPatternForAnotherMethod) {
  // "/v1/things/special" is a literal row for GET only; DELETE of that path is the {id} row's.
  auto m = match_route(table(), "/v1/things/special", delete_);
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/v1/things/{id}");
  EXPECT_EQ(m.params.at(0), "special");
  EXPECT_EQ(m.path_route->pattern, "/v1/things/special") << "the first row of the path";
}

TEST(RoutesTest, ParamsAreTheSegmentsInOrder) {
  auto m = match_route(table(), "/v1/things/abc/items/x1", delete_);
  ASSERT_NE(m.route, nullptr);
  ASSERT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.params[0], "abc");
  EXPECT_EQ(m.params[1], "x1");
  EXPECT_FALSE(match_route(table(), "/v1/things/abc/items", delete_).path_known);
  EXPECT_FALSE(match_route(table(), "/v1/things/abc/items/x1/more", delete_).path_known);
  EXPECT_FALSE(match_route(table(), "/v1/things/abc/other/x1", delete_).path_known);
}

TEST(RoutesTest, TheSameMethodOnAnotherRowOfThePath) {
  auto m = match_route(table(), "/v1/things/abc", delete_);
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->methods.front(), delete_);
  EXPECT_EQ(m.params.at(0), "abc");
}

TEST(RoutesTest, WrongMethodKnowsThePathAndWhatItAllows) {
  auto m = match_route(table(), "/v1/things/abc", post);
  EXPECT_EQ(m.route, nullptr);
  EXPECT_TRUE(m.path_known);
  EXPECT_EQ(m.allow, "GET, HEAD, DELETE");
  EXPECT_EQ(match_route(table(), "/v1/things", head).route->pattern, "/v1/things")
      << "GET takes HEAD";
}

TEST(RoutesTest, RestPatternTakesSlashesButNotNothing) {
  auto m = match_route(table(), "/v1/tree/org/model-7b", get);
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params.at(0), "org/model-7b");
  EXPECT_FALSE(match_route(table(), "/v1/tree/", get).path_known);
  EXPECT_FALSE(match_route(table(), "/v1/tree", get).path_known);
}

TEST(RoutesTest, FormatFollowsTheClientWhereTheRowSaysSo) {
  bhttp::fields openai;
  bhttp::fields anthropic;
  anthropic.set("anthropic-version", "2023-06-01");
  Route models{.pattern = "/v1/models", .methods = {get}, .format_by_client = true};
  EXPECT_EQ(route_format(models, openai), ApiFormat::kOpenAI);
  EXPECT_EQ(route_format(models, anthropic), ApiFormat::kAnthropic);
  EXPECT_EQ(route_format(table().back(), openai), ApiFormat::kAnthropic);
}

// keel's own table: every row has a handler and a method, and no row hides a later one.
TEST(RoutesTest, KeelsTableIsWellFormed) {
  const auto routes = App::routes();
  ASSERT_FALSE(routes.empty());
  for (const Route& route : routes) {
    EXPECT_NE(route.handler, nullptr) << route.pattern;
    EXPECT_FALSE(route.methods.empty()) << route.pattern;
    EXPECT_TRUE(route.pattern.starts_with('/')) << route.pattern;
    if (route.pattern.find('{') != std::string_view::npos) continue;
    // A literal row is reached by its own path and method.
    for (bhttp::verb method : route.methods) {
      auto m = match_route(routes, route.pattern, method);
      EXPECT_EQ(m.route, &route) << route.pattern << " is shadowed by an earlier row";
    }
  }
  auto model = match_route(routes, "/v1/models/meta-llama/Llama-3", get);
  ASSERT_NE(model.route, nullptr);
  EXPECT_EQ(model.params.at(0), "meta-llama/Llama-3");
}

}  // namespace
}  // namespace keel
