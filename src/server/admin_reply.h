// What every /admin handler (admin.cpp, admin_evals.cpp, admin_flows.cpp) answers with: JSON that
// no browser or proxy keeps, errors in OpenAI's shape, and store reads moved off the io thread.
//
//   auto rows = co_await off_io(reads_, [&] { return store_.eval_rows(id); });
//   if (!rows) co_return co_await send_admin_error(response, rows.error());
//   co_await send_admin_json(response, body);
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"
#include "http/server.h"

namespace keel {

inline std::string admin_dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Nothing an admin page reads should be kept by a browser or a proxy. (Headers are named
// variables: g++ 12 cannot keep an initializer list alive across a co_await.)
inline std::vector<std::pair<std::string, std::string>> admin_no_store() {
  return {{"cache-control", "no-store"}};
}

inline Task<void> send_admin_json(ResponseWriter& response, const Json& body) {
  const auto headers = admin_no_store();
  co_await response.send(200, "application/json", admin_dump(body), headers);
}

inline Task<void> send_admin_error(ResponseWriter& response, const Error& error) {
  const auto headers = admin_no_store();
  co_await response.send(http_status_for(error.code), "application/json",
                         admin_dump(error_to_wire(error)), headers);
}

// Runs `read` on `pool` and resumes the caller on its own executor with the result.
template <typename Read>
auto off_io(asio::thread_pool& pool, Read read) -> Task<decltype(read())> {
  std::optional<decltype(read())> result;
  co_await asio::co_spawn(
      pool,
      [&]() -> Task<void> {
        result.emplace(read());
        co_return;
      },
      asio::use_awaitable);
  co_return std::move(*result);
}

}  // namespace keel
