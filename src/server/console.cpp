#include "server/console.h"

#include <string>
#include <utility>
#include <vector>

namespace keel {

Task<void> serve_console(Request& request, ResponseWriter& response) {
  std::vector<std::pair<std::string, std::string>> headers{
      {"content-security-policy", std::string(kConsoleCsp)},
      {"x-content-type-options", "nosniff"},
      {"x-frame-options", "DENY"},
      {"referrer-policy", "no-referrer"},
      // The files change with keel's build: revalidate rather than run an old console.
      {"cache-control", "no-cache"},
  };
  std::string_view path = request.path();
  if (path == "/" || path == "/index.html") path = "/console/index.html";
  const auto assets = console_assets();
  if (assets.empty()) {
    std::string body =
        "keel's web console is not in this build: " + std::string(console_absent_reason()) +
        ".\nThe HTTP API (/v1/..., /admin/..., /metrics) works without it.\n";
    co_await response.send(404, "text/plain; charset=utf-8", std::move(body), headers);
    co_return;
  }
  for (const auto& asset : assets) {
    if (asset.path == path) {
      co_await response.send(200, asset.content_type, std::string(asset.body), headers);
      co_return;
    }
  }
  co_await response.send(404, "text/plain; charset=utf-8", "no such console file\n", headers);
}

}  // namespace keel
