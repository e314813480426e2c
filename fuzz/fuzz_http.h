// Input decoding shared by the HTTP fuzz targets. libFuzzer's inputs are a few KiB, and the
// parser limits that matter (64 KiB header and trailer sections, basic_fields' 65,533-byte
// fields) lie far beyond: the old request target could never build a 64 KiB trailer field, so it
// never found the one that aborted keel (issue 15). Here a short escape stands for a long run.
//
//   0xFF n   the byte before it, repeated (n + 1) * 1024 more times (up to 256 KiB); at the
//            start, 'a' is repeated. Three in four values of n pass the 64 KiB limits, so a
//            mutation that writes one 0xFF into a field is likely to make it huge.
//   0xFE     a literal 0xFF
//
// "X: a\xff\x3f" is a 64 KiB field value in 6 bytes.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <cstddef>
#include <string>
#include <string_view>

inline std::string expand_runs(std::string_view input) {
  constexpr size_t kMaxExpanded = 512u << 10;  // past every limit, and each input fast
  std::string out;
  for (size_t i = 0; i < input.size() && out.size() < kMaxExpanded; ++i) {
    const auto byte = static_cast<unsigned char>(input[i]);
    if (byte == 0xFE) {
      out += '\xff';
    } else if (byte == 0xFF && i + 1 < input.size()) {
      const size_t count = (static_cast<unsigned char>(input[++i]) + 1u) * 1024u;
      out.append(count, out.empty() ? 'a' : out.back());
    } else {
      out += static_cast<char>(byte);
    }
  }
  return out;
}

// A message's fields as one string, to compare them before and after the trailer section.
inline std::string fuzz_fields_of(const boost::beast::http::fields& fields) {
  std::string out;
  for (const auto& field : fields) {
    out.append(field.name_string().data(), field.name_string().size());
    out += ": ";
    out.append(field.value().data(), field.value().size());
    out += "\r\n";
  }
  return out;
}
