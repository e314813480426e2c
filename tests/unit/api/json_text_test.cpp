// json_text (api/json_util.h): the same bytes as Json::dump(-1, ' ', false, replace), which the
// server used to write bodies with, for every kind of value.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "api/json_util.h"

namespace keel {
namespace {

std::string nlohmann_dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

TEST(JsonTextTest, WritesWhatDumpWrites) {
  const Json values[] = {
      nullptr,
      true,
      false,
      0,
      -1,
      std::numeric_limits<int64_t>::min(),
      std::numeric_limits<uint64_t>::max(),
      1.0,
      0.1,
      -2.5e-300,
      1e300,
      std::numeric_limits<double>::quiet_NaN(),
      std::numeric_limits<double>::infinity(),
      "",
      "plain",
      "quote \" backslash \\ slash / controls \b\f\n\r\t \x01 \x1f del \x7f",
      "2-byte é, 3-byte €, 4-byte 😀, edge U+FFFF \xef\xbf\xbf and U+10FFFF \xf4\x8f\xbf\xbf",
      Json::array(),
      Json::object(),
      Json::parse(R"({"b":1,"a":[1,2,{"c":null,"d":"x\ny"}],"e":{},"f":[],"g":1.5})"),
  };
  for (const Json& value : values) EXPECT_EQ(json_text(value), nlohmann_dump(value)) << value;
}

TEST(JsonTextTest, FloatsOfEveryMagnitudeAsDumpWritesThem) {
  std::mt19937_64 bits(20261207);
  std::mt19937_64 small(7);
  for (int i = 0; i < 20000; ++i) {
    uint64_t pattern = bits();
    double number;
    std::memcpy(&number, &pattern, sizeof number);  // any double, NaNs and subnormals included
    const Json any = number;
    ASSERT_EQ(json_text(any), nlohmann_dump(any)) << pattern;
    // And the numbers bodies carry: scores, temperatures, latencies.
    const Json everyday = static_cast<double>(small() % 2000001) / 1000.0 - 1000.0;
    ASSERT_EQ(json_text(everyday), nlohmann_dump(everyday));
  }
}

TEST(JsonTextTest, InvalidUtf8IsReplacedAsDumpReplacesIt) {
  const std::string invalid[] = {
      "\xff",                     // never a UTF-8 byte
      "a\xc3",                    // cut short
      "\xc0\xaf",                 // overlong
      "\xe0\x80\xaf",             // overlong, 3 bytes
      "\xed\xa0\x80",             // a surrogate
      "\xf4\x90\x80\x80",         // above U+10FFFF
      "ok \x80 then \"quoted\"",  // a lone continuation byte between escapes
  };
  for (const std::string& text : invalid) {
    Json value = text;
    EXPECT_EQ(json_text(value), nlohmann_dump(value));
    Json object = {{text, text}};  // keys too
    EXPECT_EQ(json_text(object), nlohmann_dump(object));
  }
}

}  // namespace
}  // namespace keel
