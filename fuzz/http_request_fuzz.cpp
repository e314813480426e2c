// The HTTP/1.1 request parsing keel's server does (src/http/server.cpp, Session::serve): its
// RequestParser (Beast's parser with keel's field counting and trailer handling, http/parser.h)
// with the server's limits, fed by `feed` (the same function the session calls) from a buffer
// that grows piece by piece as socket reads grow it, then check_framing on the header, as the
// session does before it reads the body. Inputs are expanded (fuzz_http.h), so header and
// trailer sections, chunk-size lines and fields of 64 KiB and more are a few bytes away: the
// earlier target, which fed Beast's own request_parser inputs of at most 4 KiB, never reached
// the 65,534-byte trailer field that aborted keel (issue 15; fuzz/README.md has the numbers).
//
// The first input byte picks the piece size. Invariants beyond "no crash, no UB, no leak" (an
// exception escaping the parser is a crash too):
//  - put() never claims more bytes than it was given, and no more than the field limit (plus
//    one read) ever waits unparsed in the buffer;
//  - a parsed body never exceeds the body limit, the header's fields never the header limit,
//    and no field is longer than basic_fields can store;
//  - trailer fields never join the header: the fields are the same once the header is parsed
//    and once the message is;
//  - the outcome does not depend on how the bytes arrived (for inputs well below the limits,
//    where the bound on buffered bytes cannot tell pieces from whole): in pieces and whole, the
//    request parses or fails alike, with the same method, target and body;
//  - the same bytes as a URL path segment (keel's percent_decode, core/text.h): decoding never
//    grows them, and a segment without escapes decodes to itself.

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>  // Boost 1.74 misses it; CMakeLists.txt pre-includes it too

#include "core/text.h"
#include "fuzz_check.h"
#include "fuzz_http.h"
#include "http/parser.h"

namespace {

namespace bhttp = boost::beast::http;

constexpr std::uint64_t kBodyLimit = 8 * 1024 * 1024;  // ServerConfig::max_body_bytes default
constexpr std::uint32_t kHeaderLimit = 64 * 1024;      // Session::kHeaderLimit

#ifdef KEEL_FUZZ_BEAST_PARSER
// Measurement only (fuzz/README.md): Beast's own parser, as keel used it before issue 15, to time
// how soon this harness finds the crash the bounded parser prevents.
struct Parser : bhttp::request_parser<bhttp::string_body> {
  explicit Parser(std::uint32_t limit) : limit_(limit) { header_limit(limit); }
  std::uint32_t field_limit() const { return limit_; }
  std::uint32_t limit_;
};
#else
using Parser = keel::RequestParser;
#endif

struct Parsed {
  std::string body;
  std::string target;
  std::string method;
};

// Feeds `input` as Session::read_message does: the buffer gets up to `piece` new bytes per
// "read", `feed` parses what it holds. Returns the parsed request, or nullopt on an error.
std::optional<Parsed> parse(std::string_view input, size_t piece) {
  Parser parser(kHeaderLimit);
  parser.body_limit(kBodyLimit);
  boost::beast::flat_buffer buffer;
  size_t offered = 0;
  boost::system::error_code ec;
  auto read_until = [&](bool header_only) {
    for (;;) {
      const keel::Feed step = keel::feed(parser, buffer, ec, header_only);
      FUZZ_CHECK(buffer.size() <= kHeaderLimit + piece, "more than the field limit waits unparsed");
      if (step != keel::Feed::kMore) return step == keel::Feed::kDone;
      if (offered == input.size()) return false;  // the peer closed
      const size_t n = std::min(piece, input.size() - offered);
      boost::asio::buffer_copy(buffer.prepare(n), boost::asio::buffer(input.data() + offered, n));
      buffer.commit(n);
      offered += n;
    }
  };
  if (!read_until(/*header_only=*/true)) return std::nullopt;
  const auto& message = parser.get();
  const std::string header_fields = fuzz_fields_of(message);
  size_t header_bytes = 0;
  for (const auto& field : message) {
    FUZZ_CHECK(field.name_string().size() <= keel::kMaxFieldBytes, "a field name too long");
    FUZZ_CHECK(field.value().size() <= keel::kMaxFieldBytes, "a field value too long");
    header_bytes += field.name_string().size() + field.value().size() + 4;
  }
  FUZZ_CHECK(header_bytes <= kHeaderLimit, "a header block over the limit was accepted");
  if (auto refusal = keel::check_framing(message, parser.chunked())) {
    FUZZ_CHECK(refusal->status == 400 || refusal->status == 501, "a framing refusal's status");
    return std::nullopt;
  }
  if (!read_until(/*header_only=*/false)) return std::nullopt;
#ifndef KEEL_FUZZ_BEAST_PARSER  // Beast's parser merges them: measuring the crash alone
  FUZZ_CHECK(fuzz_fields_of(message) == header_fields, "a trailer field joined the header");
#endif
  Parsed out;
  out.body = message.body();
  out.target = std::string(message.target());
  out.method = std::string(message.method_string());
  FUZZ_CHECK(out.body.size() <= kBodyLimit, "a body over the limit was accepted");
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
  // Small pieces as a slow client sends them, or large ones as reads of a fast one.
  const size_t piece = data[0] & 0x80 ? ((data[0] & 0x7F) + 1) * 1024 : (data[0] % 64) + 1;
  const std::string expanded =
      expand_runs(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  const std::string_view input(expanded);
  // At most about 512 reads per input: tiny pieces over an expanded input cost seconds each.
  auto pieces = parse(input, std::max(piece, input.size() / 512));
  auto whole = parse(input, input.size() == 0 ? 1 : input.size());
  if (input.size() < kHeaderLimit / 2) {
    FUZZ_CHECK(pieces.has_value() == whole.has_value(),
               "whether a request parses depends on how the bytes arrived");
  }
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
