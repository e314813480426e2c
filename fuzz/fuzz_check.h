// Checks for fuzz targets: a broken invariant aborts with a message, so libFuzzer records it as
// a crash and saves the input. (assert() would vanish under NDEBUG in RelWithDebInfo.)
//
//   FUZZ_CHECK(event.data.find('\r') == std::string::npos, "event data holds a CR");
//   std::string body = dump_checked(json);   // as the server dumps it, and valid UTF-8
#pragma once

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "api/json_util.h"

#define FUZZ_CHECK(cond, what)                                                          \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s (%s)\n", __FILE__, __LINE__, \
                   what, #cond);                                                        \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

// Serialises `json` the way keel's server and providers do (invalid UTF-8 replaced, never a
// throw), and checks that nothing needed replacing: every string keel builds from untrusted
// input must already be valid UTF-8, or clients and upstreams get U+FFFD where text was.
inline std::string dump_checked(const nlohmann::ordered_json& json) {
  std::string out = json.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  bool strict_ok = true;
  try {
    (void)json.dump();
  } catch (const nlohmann::ordered_json::type_error& e) {
    std::fprintf(stderr, "dump: %s\n", e.what());
    strict_ok = false;
  }
  FUZZ_CHECK(strict_ok, "keel built JSON holding invalid UTF-8");
  // keel's own writer (api/json_util.h), which the server uses for big bodies, byte for byte.
  FUZZ_CHECK(keel::json_text(json) == out, "json_text differs from Json::dump");
  return out;
}
