// multipart/form-data request bodies (RFC 7578 over RFC 2046's multipart syntax), as file
// uploads send them (the openai SDK's `files.create`). Pure; parts point into the body.
//
//   auto boundary = multipart_boundary(request.header("content-type"));
//   auto parts = parse_multipart(body, *boundary);
//   for (const auto& part : *parts) if (part.name == "file") save(part.filename, part.data);
//
// Untrusted bytes: fuzz/multipart_fuzz.cpp drives both functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace keel {

struct MultipartPart {
  std::string name;          // Content-Disposition's name
  std::string filename;      // its filename (filename* in UTF-8 wins); "" for a plain field
  std::string content_type;  // the part's Content-Type; "" when absent
  std::string_view data;     // the part's bytes, within the body
};

// The boundary parameter of a multipart/form-data Content-Type; kUnsupportedMedia for any
// other type, kInvalidArgument for a missing or malformed boundary.
Result<std::string> multipart_boundary(std::string_view content_type);

// The body's parts, in order. Anything that does not follow the syntax (no opening boundary,
// a part without Content-Disposition form-data and a name, no closing boundary, more than
// kMaxParts parts, a part's headers longer than kMaxHeaderBytes) is kInvalidArgument.
inline constexpr size_t kMaxMultipartParts = 64;
inline constexpr size_t kMaxMultipartHeaderBytes = 8192;
Result<std::vector<MultipartPart>> parse_multipart(std::string_view body,
                                                   std::string_view boundary);

}  // namespace keel
