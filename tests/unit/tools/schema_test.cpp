#include "tools/schema.h"

#include <gtest/gtest.h>

namespace keel {
namespace {

std::string check(const char* schema, const char* value) {
  Status status = validate_json_schema(Json::parse(schema), Json::parse(value));
  return status.ok() ? "ok" : status.error().message;
}

// Cases as data: schema, value, expected ("ok" or the message).
struct Case {
  const char* schema;
  const char* value;
  const char* expected;
};

TEST(SchemaTest, Table) {
  const Case cases[] = {
      {R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})",
       R"({"city":"Oslo"})", "ok"},
      {R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})", R"({})",
       R"(arguments: missing required property "city")"},
      {R"({"type":"object","properties":{"city":{"type":"string"}}})", R"({"city":3})",
       "arguments.city: expected a string, got an integer"},
      {R"({"type":"object","additionalProperties":false,"properties":{"a":{}}})",
       R"({"a":1,"b":2})", "arguments.b: unknown property"},
      {R"({"type":"object","additionalProperties":{"type":"integer"}})", R"({"x":1.5})",
       "arguments.x: expected an integer, got a number"},
      {R"({"type":"integer"})", "3.0", "ok"},
      {R"({"type":["string","null"]})", "null", "ok"},
      {R"({"type":["string","null"]})", "1", "arguments: expected a string or null, got an integer"},
      {R"({"enum":["a","b"]})", R"("c")", R"(arguments: must be one of ["a","b"])"},
      {R"({"const":5})", "5", "ok"},
      {R"({"type":"number","minimum":1,"maximum":10})", "11", "arguments: more than 10"},
      {R"({"type":"number","exclusiveMinimum":0})", "0", "arguments: must be more than 0"},
      {R"({"type":"number","multipleOf":0.5})", "1.5", "ok"},
      {R"({"type":"number","multipleOf":2})", "3", "arguments: not a multiple of 2"},
      {R"({"type":"string","minLength":2,"maxLength":3})", R"("åäö")", "ok"},
      {R"({"type":"string","maxLength":2})", R"("abc")", "arguments: longer than 2 characters"},
      {R"({"type":"array","items":{"type":"integer"},"minItems":1})", "[1,\"x\"]",
       "arguments[1]: expected an integer, got a string"},
      {R"({"type":"array","uniqueItems":true})", "[1,2,1]", "arguments: items are not unique"},
      {R"({"type":"array","prefixItems":[{"type":"string"}],"items":{"type":"number"}})",
       R"(["a",1,2])", "ok"},
      {R"({"anyOf":[{"type":"string"},{"type":"integer"}]})", "true",
       "arguments: matches none of anyOf (arguments: expected a string, got a boolean)"},
      {R"({"oneOf":[{"type":"number"},{"type":"integer"}]})", "1",
       "arguments: matches more than one of oneOf"},
      {R"({"allOf":[{"minimum":1},{"maximum":2}]})", "3", "arguments: more than 2"},
      {R"({"not":{"type":"null"}})", "null", R"(arguments: matches "not")"},
      {R"({"$defs":{"n":{"type":"integer"}},"properties":{"a":{"$ref":"#/$defs/n"}}})",
       R"({"a":"x"})", "arguments.a: expected an integer, got a string"},
      {R"({"definitions":{"n":{"type":"integer"}},"properties":{"a":{"$ref":"#/definitions/n"}}})",
       R"({"a":2})", "ok"},
      {R"({"properties":{"a":{"$ref":"#/$defs/missing"}}})", R"({"a":1})",
       "arguments.a: unresolvable $ref #/$defs/missing"},
      {R"({"format":"email","pattern":"^x$"})", R"("anything")", "ok"},
      {"true", "1", "ok"},
      {"false", "1", "arguments: not allowed"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(check(c.schema, c.value), c.expected) << c.schema << " / " << c.value;
  }
}

TEST(SchemaTest, RecursiveSchemaEnds) {
  const char* schema = R"({"$ref":"#"})";
  EXPECT_EQ(check(schema, "1"), "arguments: schema nested too deeply");
  const char* tree =
      R"({"type":"object","properties":{"child":{"$ref":"#"},"v":{"type":"integer"}}})";
  EXPECT_EQ(check(tree, R"({"child":{"child":{"v":1}}})"), "ok");
  EXPECT_EQ(check(tree, R"({"child":{"child":{"v":"x"}}})"),
            "arguments.child.child.v: expected an integer, got a string");
}

}  // namespace
}  // namespace keel
