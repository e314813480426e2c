// keel's floor: the least a proxy built on keel's HTTP layer does per request, for bench/run.sh's
// `floor` target. It is keel's own server and upstream client (src/http: Boost.Beast and Asio
// coroutines, one io thread, the keep-alive pool, the same socket and flushing code), forwarding
// the client's body to one upstream byte for byte and the answer back, the way nginx's
// proxy_pass does: no JSON, no routing, no request log, no metrics.
//
// Measured beside nginx and keel in the same run, it splits keel's distance from nginx into what
// the HTTP layer costs (floor against nginx) and what keel does above it (keel against floor).
// It is a benchmark tool, not a product: no TLS settings, no retries, no config file.
//
//   keel_floor_proxy LISTEN_PORT UPSTREAM_BASE_URL [THREADS]
//   keel_floor_proxy 8090 http://127.0.0.1:8081        # POST /v1/x -> http://127.0.0.1:8081/v1/x
#include <cstdio>
#include <cstdlib>
#include <string>

#include "http/client.h"
#include "http/server.h"

namespace {

using namespace keel;

Task<void> forward(const Url& upstream, Request& req, ResponseWriter& res) {
  ClientRequest out;
  out.method = std::string(req.message.method_string());
  out.url = upstream.with_path(
      std::string_view(req.message.target().data(), req.message.target().size()));
  if (auto type = req.header("content-type"); !type.empty())
    out.headers.emplace_back("Content-Type", std::string(type));
  if (auto auth = req.header("authorization"); !auth.empty())
    out.headers.emplace_back("Authorization", std::string(auth));
  out.body = std::move(req.message.body());

  auto sent = co_await http_send(std::move(out), res.client_gone());
  if (!sent) {
    co_await res.send(502, "text/plain", sent.error().message + "\n");
    co_return;
  }
  ClientResponse& answer = *sent.value();
  std::string type = answer.header("content-type");
  if (type.starts_with("text/event-stream")) {
    // Relay each piece as it arrives, as nginx does with proxy_buffering off.
    if (!co_await res.begin_stream(answer.status(), type)) co_return;
    for (;;) {
      auto piece = co_await answer.read_some();
      if (!piece || piece.value().empty()) break;
      if (!co_await res.write(piece.value())) co_return;
    }
    co_await res.end();
    co_return;
  }
  auto body = co_await answer.read_all();
  if (!body) {
    co_await res.send(502, "text/plain", body.error().message + "\n");
    co_return;
  }
  co_await res.send(answer.status(), type, std::move(body.value()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: %s LISTEN_PORT UPSTREAM_BASE_URL [THREADS]\n", argv[0]);
    return 2;
  }
  auto upstream = Url::parse(argv[2]);
  if (!upstream) {
    std::fprintf(stderr, "bad upstream URL: %s\n", upstream.error().message.c_str());
    return 2;
  }
  ServerOptions options;
  options.port = static_cast<uint16_t>(std::atoi(argv[1]));
  options.threads = argc == 4 ? std::atoi(argv[3]) : 1;
  options.shutdown_grace_ms = 1000;
  Url base = upstream.value();
  Server server(options, [&base](Request& req, ResponseWriter& res) -> Task<void> {
    return forward(base, req, res);
  });
  auto port = server.listen();
  if (!port) {
    std::fprintf(stderr, "listen: %s\n", port.error().message.c_str());
    return 1;
  }
  std::printf("keel_floor_proxy listening on 127.0.0.1:%u\n", static_cast<unsigned>(port.value()));
  std::fflush(stdout);
  server.run();
  return 0;
}
