// OpenAI's attribute filters (api/attribute_filter.h): tables of filters, attributes and whether
// they match, and of bad filters and the field each error names.
#include "api/attribute_filter.h"

#include <gtest/gtest.h>

namespace keel {
namespace {

bool matches(const char* filter, const char* attributes) {
  auto parsed = parse_attribute_filter(Json::parse(filter), "filters");
  EXPECT_TRUE(parsed) << filter << ": " << parsed.error().message;
  return parsed && parsed->matches(Json::parse(attributes));
}

TEST(AttributeFilter, Comparisons) {
  const char* file = R"({"team":"ops","year":2024,"score":0.5,"public":true})";
  struct Case {
    const char* filter;
    bool expected;
  } cases[] = {
      {R"({"type":"eq","key":"team","value":"ops"})", true},
      {R"({"type":"eq","key":"team","value":"dev"})", false},
      {R"({"type":"ne","key":"team","value":"dev"})", true},
      {R"({"type":"eq","key":"year","value":2024.0})", true},
      {R"({"type":"eq","key":"year","value":"2024"})", false},  // types never mix
      {R"({"type":"eq","key":"public","value":true})", true},
      {R"({"type":"eq","key":"public","value":1})", false},
      {R"({"type":"gt","key":"year","value":2023})", true},
      {R"({"type":"gte","key":"year","value":2024})", true},
      {R"({"type":"lt","key":"score","value":0.5})", false},
      {R"({"type":"lte","key":"score","value":0.5})", true},
      {R"({"type":"gt","key":"team","value":"dev"})", true},  // strings order by bytes
      {R"({"type":"gt","key":"team","value":1})", false},
      {R"({"type":"in","key":"year","value":[2023,2024]})", true},
      {R"({"type":"in","key":"team","value":["dev","qa"]})", false},
      {R"({"type":"nin","key":"team","value":["dev","qa"]})", true},
      // An attribute the file lacks: every comparison false, so ne and nin true.
      {R"({"type":"eq","key":"owner","value":"ann"})", false},
      {R"({"type":"lt","key":"owner","value":"zzz"})", false},
      {R"({"type":"ne","key":"owner","value":"ann"})", true},
      {R"({"type":"nin","key":"owner","value":["ann"]})", true},
  };
  for (const Case& c : cases) EXPECT_EQ(matches(c.filter, file), c.expected) << c.filter;
}

TEST(AttributeFilter, Compounds) {
  const char* file = R"({"team":"ops","year":2024})";
  EXPECT_TRUE(matches(R"({"type":"and","filters":[{"type":"eq","key":"team","value":"ops"},
                          {"type":"gt","key":"year","value":2000}]})",
                      file));
  EXPECT_FALSE(matches(R"({"type":"and","filters":[{"type":"eq","key":"team","value":"ops"},
                           {"type":"gt","key":"year","value":2024}]})",
                       file));
  EXPECT_TRUE(matches(R"({"type":"or","filters":[{"type":"eq","key":"team","value":"dev"},
                          {"type":"and","filters":[{"type":"lte","key":"year","value":2024}]}]})",
                      file));
  EXPECT_FALSE(matches(R"({"type":"eq","key":"team","value":"ops"})", "{}"));
}

TEST(AttributeFilter, BadFiltersNameTheirField) {
  struct Case {
    const char* filter;
    const char* param;
  } cases[] = {
      {R"("team = ops")", "filters"},
      {R"({"key":"team","value":"ops"})", "filters.type"},
      {R"({"type":"like","key":"team","value":"ops"})", "filters.type"},
      {R"({"type":"eq","value":"ops"})", "filters.key"},
      {R"({"type":"eq","key":"team"})", "filters.value"},
      {R"({"type":"eq","key":"team","value":[1]})", "filters.value"},
      {R"({"type":"in","key":"team","value":"ops"})", "filters.value"},
      {R"({"type":"in","key":"team","value":[true]})", "filters.value"},
      {R"({"type":"and"})", "filters.filters"},
      {R"({"type":"or","filters":[{"type":"eq","key":"a","value":1},{"type":"x"}]})",
       "filters.filters[1].type"},
  };
  for (const Case& c : cases) {
    auto parsed = parse_attribute_filter(Json::parse(c.filter), "filters");
    ASSERT_FALSE(parsed) << c.filter;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(parsed.error().param, c.param) << c.filter;
  }
  Json deep = {{"type", "eq"}, {"key", "a"}, {"value", 1}};
  for (int i = 0; i < 9; ++i) deep = {{"type", "and"}, {"filters", Json::array({deep})}};
  EXPECT_FALSE(parse_attribute_filter(deep, "filters"));
}

TEST(AttributeFilter, Attributes) {
  EXPECT_EQ(*parse_attributes(Json(), "attributes"), Json::object());
  EXPECT_TRUE(parse_attributes(Json::parse(R"({"a":"x","b":2,"c":false})"), "attributes"));
  EXPECT_EQ(parse_attributes(Json::parse(R"({"a":null})"), "attributes").error().param,
            "attributes.a");
  EXPECT_EQ(parse_attributes(Json::parse(R"({"a":[1]})"), "attributes").error().param,
            "attributes.a");
  EXPECT_FALSE(
      parse_attributes(Json::parse(R"({"a":")" + std::string(513, 'x') + R"("})"), "attributes"));
  EXPECT_FALSE(
      parse_attributes(Json::parse(R"({")" + std::string(65, 'k') + R"(":1})"), "attributes"));
  Json many = Json::object();
  for (int i = 0; i < 17; ++i) many["k" + std::to_string(i)] = i;
  EXPECT_FALSE(parse_attributes(many, "attributes"));
}

}  // namespace
}  // namespace keel
