// The one place that pulls in Boost.Asio/Beast, with the workarounds Boost 1.74 needs.
#pragma once

#include <string>
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace keel {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;
template <typename T>
using Task = boost::asio::awaitable<T>;

// Appends the header bytes Beast's serializer writes for its message to `out`. With a string
// body after prepare_payload(), header + body are exactly what bhttp::async_write sends; one
// plain asio::async_write of both costs less than Beast's composed write.
template <class Serializer>
void serialize_header(Serializer& serializer, std::string& out, beast::error_code& ec) {
  serializer.split(true);
  while (!serializer.is_header_done() && !ec) {
    serializer.next(ec, [&](beast::error_code&, const auto& buffers) {
      size_t n = 0;
      for (auto buffer : beast::buffers_range_ref(buffers)) {
        out.append(static_cast<const char*>(buffer.data()), buffer.size());
        n += buffer.size();
      }
      serializer.consume(n);
    });
  }
}
}  // namespace keel
