// The calculator tool's expression language: a recursive-descent parser over doubles, evaluated
// as it parses. Nothing else is evaluated: no names but the constants and functions below.
//
//   auto value = evaluate_expression("2 * (3 + 4) ^ 2 / sqrt(16)");   // 24.5
//
// Grammar: sum := product (('+'|'-') product)*; product := unary (('*'|'/'|'%') unary)*;
// unary := ('-'|'+') unary | power; power := primary ('^' unary)?; primary := NAME '(' args ')'
// | NAME | NUMBER | '(' sum ')'. So -2^2 = -4 and 2^3^2 = 512, as in mathematics. Constants pi, e;
// functions abs, sqrt, cbrt, exp, ln, log (base 10), log2, sin, cos, tan, asin, acos, atan, floor,
// ceil, round, min, max, pow, hypot. Errors (kInvalidArgument) say what and where; a result that is
// not finite is an error.
#pragma once

#include <string_view>

#include "core/result.h"

namespace keel {

Result<double> evaluate_expression(std::string_view expression);

}  // namespace keel
