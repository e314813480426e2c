// keel::multipart_boundary and keel::parse_multipart over arbitrary bytes, as POST /v1/files
// hands them over: the input's first line is the Content-Type header, the rest the body. Either
// a clean error (kInvalidArgument, or kUnsupportedMedia for another type) or parts that lie
// within the body, in order, each with a name.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "http/multipart.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  if (newline == std::string_view::npos) return 0;
  const std::string_view content_type = input.substr(0, newline);
  const std::string_view body = input.substr(newline + 1);
  auto boundary = keel::multipart_boundary(content_type);
  if (!boundary) {
    FUZZ_CHECK(boundary.error().code == keel::ErrorCode::kInvalidArgument ||
                   boundary.error().code == keel::ErrorCode::kUnsupportedMedia,
               "wrong error code");
    return 0;
  }
  FUZZ_CHECK(!boundary->empty() && boundary->size() <= 70, "a boundary out of bounds");
  auto parts = keel::parse_multipart(body, *boundary);
  if (!parts) {
    FUZZ_CHECK(parts.error().code == keel::ErrorCode::kInvalidArgument, "wrong error code");
    FUZZ_CHECK(!parts.error().message.empty(), "an error without a message");
    return 0;
  }
  FUZZ_CHECK(parts->size() <= keel::kMaxMultipartParts, "too many parts");
  const char* last = body.data();
  for (const auto& part : *parts) {
    FUZZ_CHECK(!part.name.empty(), "a part without a name");
    FUZZ_CHECK(part.data.data() >= last &&
                   part.data.data() + part.data.size() <= body.data() + body.size(),
               "part data outside the body or out of order");
    last = part.data.data() + part.data.size();
  }
  return 0;
}
