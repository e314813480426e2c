// keel::parse_request_query over arbitrary bytes: the query string of GET /admin/requests as the
// server hands it over (everything after the first '?' of the request target). It must be a
// clean kInvalidArgument or a query within the store's contract, never a crash or a hang.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "server/admin_query.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto query = keel::parse_request_query(text);
  if (!query) {
    FUZZ_CHECK(query.error().code == keel::ErrorCode::kInvalidArgument, "wrong error code");
    FUZZ_CHECK(!query.error().message.empty(), "an error without a message");
    return 0;
  }
  FUZZ_CHECK(query->limit >= 1 && query->limit <= 500, "limit out of range");
  FUZZ_CHECK(query->offset >= 0, "negative offset");
  FUZZ_CHECK(query->since_ms >= 0 && query->until_ms >= 0, "negative time");
  const std::string& status = query->status;
  FUZZ_CHECK(status.empty() || status == "ok" || status == "error" ||
                 (status.size() == 3 && status[0] >= '1' && status[0] <= '5'),
             "a status the store refuses");
  // The generic splitter accepts whatever the typed parse accepted.
  FUZZ_CHECK(keel::parse_query_string(text).ok(), "pairs refused after a good query");
  return 0;
}
