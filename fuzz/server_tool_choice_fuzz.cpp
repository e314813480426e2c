// take_server_tool_choice (tools/tool_choice.h) on arbitrary chat bodies: it never throws, and
// when it takes a choice out the body it leaves is a JSON object without tool_choice.
#include <cstddef>
#include <cstdint>
#include <string>

#include "api/json_util.h"
#include "fuzz_check.h"
#include "tools/tool_choice.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  const std::string original = body;
  auto choice = keel::take_server_tool_choice(body);
  if (!choice) {
    FUZZ_CHECK(body == original, "a body without a server choice was changed");
    return 0;
  }
  auto rest = keel::try_parse_json(body);
  FUZZ_CHECK(rest && rest->is_object() && !rest->contains("tool_choice"),
             "the body left is not an object without tool_choice");
  FUZZ_CHECK(choice->mode == keel::ToolChoice::Mode::kRequired ||
                 choice->mode == keel::ToolChoice::Mode::kNamed,
             "a choice other than required or named");
  return 0;
}
