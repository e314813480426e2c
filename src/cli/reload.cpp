// `keel reload [--url URL]`: asks a running keel to reload its config file (POST /admin/reload;
// SIGHUP does the same). Prints what it reloaded, or why nothing changed.
#include <cstdio>
#include <cstdlib>

#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"
#include "cli/commands.h"
#include "http/client.h"

namespace keel::cli {

int reload(const std::vector<std::string>& args) {
  const std::optional<Url> base = running_keel_url(args, "reload");
  if (!base) return 2;
  // /admin/reload takes an admin key (admin_keys); KEEL_API_KEY serves where one key is both.
  const char* key = std::getenv("KEEL_ADMIN_KEY");
  if (!key || !*key) key = std::getenv("KEEL_API_KEY");
  int code = 1;
  asio::io_context context;
  auto call = [&]() -> Task<void> {
    ClientRequest request;
    request.method = "POST";
    request.url = *base;
    request.url.target = "/admin/reload";  // at the root, whatever path the base URL has
    request.headers = {{"content-type", "application/json"}};
    if (key && *key) request.headers.emplace_back("authorization", std::string("Bearer ") + key);
    request.body = "{}";
    auto response = co_await http_send(std::move(request), std::make_shared<CancelToken>());
    if (!response) {
      std::fprintf(stderr, "keel reload: %s\n", response.error().message.c_str());
      co_return;
    }
    auto body = co_await (*response)->read_all(1 << 20);
    const std::string text = body ? *body : std::string();
    if ((*response)->status() != 200) {
      std::fprintf(stderr, "keel reload: %s\n", upstream_error_message(text).c_str());
      co_return;
    }
    auto json = try_parse_json(text);
    if (json && json->contains("models")) {
      std::printf("reloaded: %zu models", (*json)["models"].size());
      for (const auto& key_name : (*json)["needs_restart"]) {
        std::printf("; %s changed (needs a restart)", key_name.get<std::string>().c_str());
      }
      std::printf("\n");
    } else {
      std::printf("%s\n", text.c_str());
    }
    code = 0;
  };
  asio::co_spawn(context, call(), asio::detached);
  context.run();
  http_pool_clear();
  return code;
}

}  // namespace keel::cli
