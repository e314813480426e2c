// The HTTP/1.1 message parsers keel's server and client use: Beast's parser with the limits
// Boost 1.74 does not enforce itself, and the step that feeds it buffered bytes.
//
//   RequestParser parser(64 * 1024);          // header limit; also bounds the trailer section
//   parser.body_limit(max_body_bytes);
//   beast::error_code ec;
//   while (feed(parser, buffer, ec, /*header_only=*/false) == Feed::kMore) { ...read more... }
//
// What Beast 1.74 leaves open (issue 15):
//  - Trailer fields (RFC 9112 7.1.2) are inserted into the same fields as the header, so a
//    trailer could pose as Authorization or Content-Type after a front proxy checked the header.
//    Here they are counted against the header limit and dropped (RFC 9110 6.5.1 lets a recipient
//    discard them); nothing keel reads can come from a trailer.
//  - A field name or value of 65,534 bytes or more makes basic_fields throw std::length_error.
//    The header limit keeps header fields below that only by a few bytes, and nothing limits
//    trailers: one chunked request aborted keel. Such a field is a header_limit error here.
//  - header_limit applies to what one put() sees, not to the fields already consumed, and the
//    trailer section and chunk extensions are buffered whole before they are parsed, with no
//    limit at all. Fields are counted here; `feed` (and the client's bounded buffer) bound what
//    may wait unparsed.
#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace keel {

// As in http/asio.h; this header stays free of Asio's sockets and TLS, so that the fuzz
// targets can include it without linking OpenSSL.
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

// The longest field name or value basic_fields can store (it keeps their sizes in 16 bits).
inline constexpr size_t kMaxFieldBytes = 65533;

template <bool isRequest, class Body>
class BoundedParser : public bhttp::parser<isRequest, Body> {
 public:
  // `field_limit` bounds the header section and, separately, the trailer section.
  explicit BoundedParser(std::uint32_t field_limit) : field_limit_(field_limit) {
    this->header_limit(field_limit);
  }
  std::uint32_t field_limit() const { return field_limit_; }
  // Trailer fields seen (and dropped), for tests.
  size_t trailer_fields() const { return trailer_fields_; }

 private:
  // Private in bhttp::parser too, and virtual: Beast calls it for every header and trailer
  // field (after its own checks of Content-Length, Transfer-Encoding and Connection).
  void on_field_impl(bhttp::field name, beast::string_view name_string, beast::string_view value,
                     beast::error_code& ec) override {
    // name: value CRLF, as on the wire
    const size_t bytes = name_string.size() + value.size() + 4;
    if (this->is_header_done()) {  // the trailer section
      trailer_bytes_ += bytes;
      ++trailer_fields_;
      if (trailer_bytes_ > field_limit_) ec = bhttp::error::header_limit;
      return;
    }
    header_bytes_ += bytes;
    if (header_bytes_ > field_limit_ || name_string.size() > kMaxFieldBytes ||
        value.size() > kMaxFieldBytes) {
      ec = bhttp::error::header_limit;
      return;
    }
    this->get().insert(name, name_string, value);
  }

  std::uint32_t field_limit_;
  size_t header_bytes_ = 0;
  size_t trailer_bytes_ = 0;
  size_t trailer_fields_ = 0;
};

using RequestParser = BoundedParser<true, bhttp::string_body>;
using ResponseParser = BoundedParser<false, bhttp::buffer_body>;

enum class Feed {
  kDone,   // the header (header_only) or the whole message is parsed
  kMore,   // more bytes are needed; `ec` is clear
  kError,  // `ec` says what
};

// Feeds what `buffer` holds to `parser`, consuming what it parsed. Beast parses a chunk-size
// line with its extensions, and the whole trailer section, only once all of it is buffered:
// more than the parser's field limit waiting unparsed is a header_limit error, so a peer cannot
// make keel buffer without bound. (Body bytes never wait: a body takes what arrives.)
template <class Parser>
Feed feed(Parser& parser, beast::flat_buffer& buffer, beast::error_code& ec, bool header_only) {
  ec = {};
  for (;;) {
    if (header_only ? parser.is_header_done() : parser.is_done()) return Feed::kDone;
    if (buffer.size() == 0) return Feed::kMore;
    const size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == bhttp::error::need_more) {
      ec = {};
      if (buffer.size() >= parser.field_limit()) {
        ec = bhttp::error::header_limit;
        return Feed::kError;
      }
      return Feed::kMore;
    }
    if (ec) return Feed::kError;
  }
}

// A request the server refuses after its header, with the status to answer.
struct Refusal {
  int status;
  std::string_view message;
};

// What a request header says about the message's framing that Beast lets through, as nginx and
// RFC 9112 treat it: a refusal, or nothing when the request may be read on. `chunked` is the
// parser's verdict (chunked is the last coding).
inline std::optional<Refusal> check_framing(const bhttp::request_header<>& header, bool chunked) {
  if (auto coding = header.find(bhttp::field::transfer_encoding); coding != header.end()) {
    // RFC 9112 6.3: a Transfer-Encoding other than chunked (last) leaves the body's length
    // unknown; reading on would let a smuggled request through.
    if (!chunked) return Refusal{400, "unsupported Transfer-Encoding"};
    // chunked after another coding (gzip, chunked): keel decodes none, and ignoring it would
    // hand the handler bytes it cannot read (RFC 9112 6.1: 501 for a coding not understood).
    if (!beast::iequals(coding->value(), "chunked") ||
        header.count(bhttp::field::transfer_encoding) > 1) {
      return Refusal{501, "only the chunked transfer coding is supported"};
    }
  }
  // RFC 9112 3.2: a request with no Host (HTTP/1.1) or more than one is a 400.
  const size_t hosts = header.count(bhttp::field::host);
  if (hosts == 0 && header.version() >= 11) {
    return Refusal{400, "HTTP/1.1 request without a Host header"};
  }
  if (hosts > 1) return Refusal{400, "request with more than one Host header"};
  return std::nullopt;
}

}  // namespace keel
