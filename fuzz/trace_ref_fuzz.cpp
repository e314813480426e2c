// keel::parse_trace_ref over arbitrary bytes: the {id} of GET /admin/traces/{id} after the
// server's percent-decoding, and `keel trace ID`'s argument. It must be a clean
// kInvalidArgument or an id that names itself again, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/text.h"
#include "core/trace.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  const auto decoded = keel::percent_decode(raw);
  if (!decoded) return 0;  // the admin route answers 400 before parsing
  auto id = keel::parse_trace_ref(*decoded);
  if (!id) {
    FUZZ_CHECK(id.error().code == keel::ErrorCode::kInvalidArgument, "wrong error code");
    FUZZ_CHECK(!id.error().message.empty(), "an error without a message");
    return 0;
  }
  FUZZ_CHECK(id->valid(), "an invalid trace id accepted");
  const std::string hex = id->hex();
  FUZZ_CHECK(hex.size() == 32, "a trace id that is not 32 hex digits");
  FUZZ_CHECK(keel::TraceId::from_hex(hex) == *id, "hex does not round-trip");
  const std::string request = id->request_id();
  if (!request.empty()) {
    FUZZ_CHECK(keel::TraceId::for_request(request) == *id, "request id does not round-trip");
  }
  return 0;
}
