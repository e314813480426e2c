#include "tools/builtin/calculator.h"

#include <gtest/gtest.h>

#include <cmath>

namespace keel {
namespace {

double eval(const char* text) {
  auto value = evaluate_expression(text);
  EXPECT_TRUE(value.ok()) << text << ": " << (value.ok() ? "" : value.error().message);
  return value.ok() ? *value : NAN;
}

std::string failure(const char* text) {
  auto value = evaluate_expression(text);
  EXPECT_FALSE(value.ok()) << text;
  return value.ok() ? "" : value.error().message;
}

TEST(CalculatorTest, PrecedenceAndAssociativity) {
  EXPECT_DOUBLE_EQ(eval("1 + 2 * 3"), 7);
  EXPECT_DOUBLE_EQ(eval("(1 + 2) * 3"), 9);
  EXPECT_DOUBLE_EQ(eval("2 ^ 3 ^ 2"), 512);  // right-associative
  EXPECT_DOUBLE_EQ(eval("-2 ^ 2"), -4);      // as in mathematics
  EXPECT_DOUBLE_EQ(eval("2 ^ -1"), 0.5);
  EXPECT_DOUBLE_EQ(eval("10 - 4 - 3"), 3);
  EXPECT_DOUBLE_EQ(eval("12 / 4 / 3"), 1);
  EXPECT_DOUBLE_EQ(eval("7 % 4"), 3);
  EXPECT_DOUBLE_EQ(eval("--3"), 3);
  EXPECT_DOUBLE_EQ(eval(" 1.5e3 + .5 "), 1500.5);
  EXPECT_DOUBLE_EQ(eval("2 * (3 + 4) ^ 2 / sqrt(16)"), 24.5);
}

TEST(CalculatorTest, FunctionsAndConstants) {
  EXPECT_DOUBLE_EQ(eval("sqrt(144)"), 12);
  EXPECT_DOUBLE_EQ(eval("max(1, 7, 3)"), 7);
  EXPECT_DOUBLE_EQ(eval("min(4, -2)"), -2);
  EXPECT_DOUBLE_EQ(eval("pow(2, 10)"), 1024);
  EXPECT_DOUBLE_EQ(eval("hypot(3, 4)"), 5);
  EXPECT_DOUBLE_EQ(eval("log(1000)"), 3);
  EXPECT_DOUBLE_EQ(eval("ln(e)"), 1);
  EXPECT_NEAR(eval("sin(pi / 2)"), 1, 1e-12);
  EXPECT_DOUBLE_EQ(eval("round(2.5) + floor(-1.5) + ceil(1.2) + abs(-3)"), 3 - 2 + 2 + 3);
  EXPECT_DOUBLE_EQ(eval("PI"), M_PI);
}

TEST(CalculatorTest, ErrorsSayWhatAndWhere) {
  EXPECT_EQ(failure("1 +"), "expected a number at position 4");
  EXPECT_EQ(failure("1 / 0"), "division by zero at position 6");
  EXPECT_EQ(failure("(1 + 2"), "expected ')' at position 7");
  EXPECT_EQ(failure("foo(1)"), "unknown function 'foo' at position 7");
  EXPECT_EQ(failure("x + 1"), "unknown name 'x' at position 1");
  EXPECT_EQ(failure("1 2"), "unexpected '2' at position 3");
  EXPECT_EQ(failure("sqrt(1, 2)"), "sqrt takes 1 argument at position 11");
  EXPECT_EQ(failure("sqrt(-1)"), "the result is not a finite number");
  EXPECT_EQ(failure("10 ^ 400"), "the result is not a finite number");
  EXPECT_EQ(failure("system(\"ls\")"), "unexpected '\"' at position 8");
  EXPECT_EQ(failure(""), "expected a number at position 1");
}

TEST(CalculatorTest, DeepNestingIsRefusedNotOverflowed) {
  std::string deep(100000, '(');
  deep += "1";
  EXPECT_NE(failure(deep.c_str()).find("longer than"), std::string::npos);
  std::string nested(200, '(');
  nested += "1" + std::string(200, ')');
  EXPECT_NE(failure(nested.c_str()).find("nested too deeply"), std::string::npos);
  std::string signs(3000, '-');
  signs += "1";
  EXPECT_NE(failure(signs.c_str()).find("nested too deeply"), std::string::npos);
}

}  // namespace
}  // namespace keel
