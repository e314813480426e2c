// The HTTP/1.1 request parser keel exposes: Beast's request_parser<string_body>, configured as
// src/http/server.cpp configures it (8 MiB body limit, the default max_body_bytes; 64 KiB header
// limit), fed with put() in pieces the way async_read hands it a growing buffer. Keel does not
// parse HTTP itself; this target guards the Boost version and settings keel ships with.
//
// The first input byte picks the piece size. Invariants beyond "no crash, no UB, no leak":
//  - put() never claims more bytes than it was given;
//  - a parsed body never exceeds the body limit, and a parsed header block never exceeds the
//    header limit;
//  - the outcome does not depend on how the bytes arrived: in pieces and whole, the request
//    parses or fails alike, with the same method, target and body;
//  - the same bytes as a URL path segment (keel's percent_decode, core/text.h): decoding never
//    grows them, and a segment without escapes decodes to itself.
#include <utility>  // before Boost: Boost 1.74 misses it (see CMakeLists.txt)

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/text.h"
#include "fuzz_check.h"

namespace {

namespace bhttp = boost::beast::http;

constexpr std::uint64_t kBodyLimit = 8 * 1024 * 1024;  // ServerConfig::max_body_bytes default
constexpr std::uint32_t kHeaderLimit = 64 * 1024;      // server.cpp

struct Parsed {
  bool done = false;
  std::string body;
  std::string target;
  std::string method;
};

// Feeds `input` as a socket read loop would: each put() sees everything not yet consumed,
// up to `piece` new bytes at a time. Returns the parsed request, or nullopt on an error.
std::optional<Parsed> parse(std::string_view input, size_t piece) {
  bhttp::request_parser<bhttp::string_body> parser;
  parser.body_limit(kBodyLimit);
  parser.header_limit(kHeaderLimit);
  parser.eager(true);  // async_read reads the body eagerly
  size_t consumed = 0;
  size_t available = std::min(input.size(), piece);
  while (!parser.is_done()) {
    boost::system::error_code ec;
    const size_t offered = available - consumed;
    const size_t used =
        parser.put(boost::asio::buffer(input.data() + consumed, offered), ec);
    FUZZ_CHECK(used <= offered, "put() consumed more than it was given");
    consumed += used;
    if (ec == bhttp::error::need_more) {
      if (available == input.size()) {
        // End of input: what a closed connection would do.
        parser.put_eof(ec);
        if (ec) return std::nullopt;
        break;
      }
      available = std::min(input.size(), available + piece);
      continue;
    }
    if (ec) return std::nullopt;
    if (used == 0 && !parser.is_done()) {
      if (available == input.size()) return std::nullopt;  // stuck: nothing more to offer
      available = std::min(input.size(), available + piece);
    }
  }
  if (!parser.is_done()) return std::nullopt;
  Parsed out;
  out.done = true;
  const auto& message = parser.get();
  out.body = message.body();
  out.target = std::string(message.target());
  out.method = std::string(message.method_string());
  FUZZ_CHECK(out.body.size() <= kBodyLimit, "a body over the limit was accepted");
  // The header fields themselves, serialised, cannot exceed what the parser was allowed to read.
  size_t header_bytes = 0;
  for (const auto& field : message) header_bytes += field.name_string().size() + field.value().size();
  FUZZ_CHECK(header_bytes <= kHeaderLimit, "a header block over the limit was accepted");
  // Keep-alive and payload queries must be safe on anything that parsed.
  (void)message.keep_alive();
  (void)message.chunked();
  (void)message.has_content_length();
  (void)message.payload_size();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = (data[0] % 64) + 1;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto pieces = parse(input, piece);
  auto whole = parse(input, input.size() == 0 ? 1 : input.size());
  FUZZ_CHECK(pieces.has_value() == whole.has_value(),
             "whether a request parses depends on how the bytes arrived");
  // The same bytes as a path segment (/v1/models/{model}): decoding never grows it, and a
  // segment without escapes decodes to itself.
  if (auto decoded = keel::percent_decode(input)) {
    FUZZ_CHECK(decoded->size() <= input.size(), "percent_decode grew its input");
  }
  if (input.find('%') == std::string_view::npos) {
    FUZZ_CHECK(keel::percent_decode(input) == std::string(input),
               "a segment without escapes did not decode to itself");
  }
  if (pieces && whole) {
    FUZZ_CHECK(pieces->body == whole->body, "the body depends on how the bytes arrived");
    FUZZ_CHECK(pieces->target == whole->target, "the target depends on how the bytes arrived");
    FUZZ_CHECK(pieces->method == whole->method, "the method depends on how the bytes arrived");
  }
  return 0;
}
