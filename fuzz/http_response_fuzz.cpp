// The HTTP/1.1 response parsing keel's upstream client does (src/http/client.cpp): its
// ResponseParser (buffer_body, http/parser.h) with the client's limits, reading into a
// flat_buffer bounded as the connection's is, the header first (exchange: async_read_header),
// then the body in 16 KiB pieces (ClientResponse::read_some: bytes already buffered are put()
// first, then Beast's read_some, which fails with buffer_overflow when the bounded buffer is
// full). Inputs are expanded (fuzz_http.h), so 64 KiB header and trailer fields, long chunk
// extensions and many trailer fields are reachable: an upstream's chunked answer with a 64 KiB
// trailer field aborted keel before issue 15.
//
// The first input byte picks the read size. Invariants beyond "no crash, no UB, no leak" (an
// exception escaping the parser is a crash too):
//  - the buffer never holds more than its bound, and put() never claims more than it was given;
//  - header fields stay within the header limit and basic_fields' field size;
//  - trailer fields never join the header: the fields are the same after the header and at
//    the end;
//  - the body bytes are the same however the bytes arrived (for inputs below the limits).

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>  // Boost 1.74 misses it; CMakeLists.txt pre-includes it too

#include "fuzz_check.h"
#include "fuzz_http.h"
#include "http/parser.h"

namespace {

namespace bhttp = boost::beast::http;

constexpr std::uint32_t kHeaderLimit = 64 * 1024;  // client.cpp
constexpr size_t kReadChunk = 16 * 1024;           // client.cpp

// The body, or nullopt when the response failed (a parser error, overflow, or the end of the
// input before the message ended).
std::optional<std::string> parse(std::string_view input, size_t read_size) {
  keel::ResponseParser parser(kHeaderLimit);
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  boost::beast::flat_buffer buffer{kHeaderLimit};
  size_t offered = 0;
  boost::system::error_code ec;
  // Beast's read_some_op: parse what is buffered; on need_more, read what the bounded buffer
  // has room for (none: buffer_overflow). False on an error; true once put() got somewhere (the
  // header, body bytes, the end).
  auto read_some = [&]() -> bool {
    for (;;) {
      if (parser.is_done()) return true;
      if (buffer.size() > 0) {
        const size_t before = buffer.size();
        const size_t used = parser.put(buffer.data(), ec);
        FUZZ_CHECK(used <= before, "put() consumed more than it was given");
        buffer.consume(used);
        if (ec == bhttp::error::need_buffer) return true;
        if (ec != bhttp::error::need_more) return !ec;
      }
      const size_t room = buffer.max_size() - buffer.size();
      if (room == 0) return false;    // buffer_overflow
      if (offered == input.size()) {  // the upstream closed
        if (!parser.got_some()) return false;
        parser.put_eof(ec);
        return !ec && parser.is_done();
      }
      const size_t n = std::min({read_size, room, input.size() - offered});
      boost::asio::buffer_copy(buffer.prepare(n), boost::asio::buffer(input.data() + offered, n));
      buffer.commit(n);
      offered += n;
      FUZZ_CHECK(buffer.size() <= kHeaderLimit, "the bounded buffer grew past its bound");
    }
  };
  // The header (exchange), as async_read_header: reads until it is parsed.
  while (!parser.is_header_done()) {
    if (!read_some()) return std::nullopt;
  }
  const auto& message = parser.get();
  const std::string header_fields = fuzz_fields_of(message);
  for (const auto& field : message) {
    FUZZ_CHECK(field.name_string().size() <= keel::kMaxFieldBytes, "a field name too long");
    FUZZ_CHECK(field.value().size() <= keel::kMaxFieldBytes, "a field value too long");
  }
  (void)message.result_int();
  (void)message.keep_alive();
  // The body, as ClientResponse::read_some: into a 16 KiB scratch buffer at a time.
  std::string body;
  char scratch[kReadChunk];
  for (size_t rounds = 0; !parser.is_done(); ++rounds) {
    if (rounds > input.size() + 16) return std::nullopt;  // no progress: what a stall would be
    parser.get().body().data = scratch;
    parser.get().body().size = kReadChunk;
    if (!read_some()) return std::nullopt;
    const size_t got = kReadChunk - parser.get().body().size;
    body.append(scratch, got);
  }
  FUZZ_CHECK(fuzz_fields_of(parser.get()) == header_fields, "a trailer field joined the header");
  return body;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t read_size = data[0] & 0x80 ? ((data[0] & 0x7F) + 1) * 1024 : (data[0] % 64) + 1;
  const std::string expanded =
      expand_runs(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  // At most about 512 reads per input: tiny reads over an expanded input cost seconds each.
  auto pieces = parse(expanded, std::max(read_size, expanded.size() / 512));
  auto whole = parse(expanded, 65536);
  if (expanded.size() < kHeaderLimit / 2) {
    FUZZ_CHECK(pieces.has_value() == whole.has_value(),
               "whether a response parses depends on how the bytes arrived");
    if (pieces && whole) FUZZ_CHECK(*pieces == *whole, "the body depends on how it arrived");
  }
  return 0;
}
