// The egress guard's checks (http/egress.h) over arbitrary URLs, as http_fetch gets them from a
// model: egress_check_url, then the literal host read as an address.
//
// Invariants beyond "no crash, no UB, no leak":
//  - a URL the check passes has an http(s) scheme and a host without spaces or controls;
//  - a URL whose host reads as an address that is refused never passes without allow_hosts;
//  - every spelling of 127.0.0.1 and 169.254.169.254 the input makes by prefixing the scheme
//    is refused.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "http/egress.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const keel::EgressPolicy none;
  const keel::Status status = keel::egress_check_url(input, none);
  auto url = keel::Url::parse(input);
  if (status.ok()) {
    FUZZ_CHECK(url.ok(), "a URL that does not parse passed");
    FUZZ_CHECK(input.starts_with("http://") || input.starts_with("https://"), "scheme passed");
    for (unsigned char c : url->host) FUZZ_CHECK(c > 0x20 && c != 0x7f, "control in host passed");
    if (auto address = keel::parse_ip_literal(url->host)) {
      FUZZ_CHECK(keel::egress_blocked_reason(*address) == nullptr, "a refused address passed");
    }
  }
  // The host alone, however it is spelled.
  if (auto address = keel::parse_ip_literal(input)) {
    const char* reason = keel::egress_blocked_reason(*address);
    const keel::Status as_url = keel::egress_check_url("http://" + std::string(input) + "/", none);
    if (reason != nullptr && input.find_first_of("/?#@[]:") == std::string_view::npos) {
      FUZZ_CHECK(!as_url.ok(), "a refused literal host passed as a URL");
    }
    if (address->is_v4() &&
        (address->to_v4().to_uint() == 0x7f000001u || address->to_v4().to_uint() == 0xa9fea9feu)) {
      FUZZ_CHECK(reason != nullptr, "loopback or metadata not refused");
    }
  }
  return 0;
}
