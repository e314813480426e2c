// The calculator tool's expression parser (tools/builtin/calculator.h) over arbitrary text, as
// a model sends it. Invariants: no crash, no UB, no unbounded recursion (the depth limit), a
// finite result or an error with a message; the same input always gives the same answer.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "tools/builtin/calculator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto first = keel::evaluate_expression(input);
  if (first.ok()) {
    FUZZ_CHECK(std::isfinite(*first), "a result that is not finite");
  } else {
    FUZZ_CHECK(!first.error().message.empty(), "an error without a message");
  }
  auto second = keel::evaluate_expression(input);
  FUZZ_CHECK(first.ok() == second.ok(), "the same input answered differently");
  return 0;
}
