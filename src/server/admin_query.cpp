#include "server/admin_query.h"

#include <charconv>
#include <set>

#include "api/json_util.h"
#include "core/text.h"

namespace keel {
namespace {

constexpr size_t kMaxPairs = 32;

Error bad(std::string message) { return Error(ErrorCode::kInvalidArgument, std::move(message)); }

// A parameter's name as an error message quotes it: a client's name can be long.
std::string shown(const std::string& name) {
  return truncate_utf8(name, 64);  // it marks a cut with "..."
}

// A whole decimal integer within [low, high].
std::optional<int64_t> integer(std::string_view text, int64_t low, int64_t high) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < low || value > high) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> parse_query_string(
    std::string_view query) {
  std::vector<std::pair<std::string, std::string>> pairs;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (piece.empty()) continue;
    if (pairs.size() == kMaxPairs) {
      return bad("more than " + std::to_string(kMaxPairs) + " query parameters");
    }
    const size_t eq = piece.find('=');
    std::string raw_name(piece.substr(0, eq));
    std::string raw_value(eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1));
    for (auto* part : {&raw_name, &raw_value}) {
      for (char& c : *part) {
        if (c == '+') c = ' ';
      }
    }
    auto name = percent_decode(raw_name);
    auto value = percent_decode(raw_value);
    if (!name || !value) return bad("a malformed %-escape in the query string");
    pairs.emplace_back(std::move(*name), std::move(*value));
  }
  return pairs;
}

Result<RequestQuery> parse_request_query(std::string_view text) {
  auto pairs = parse_query_string(text);
  if (!pairs) return pairs.error();
  RequestQuery query;
  std::set<std::string> seen;
  constexpr int64_t kMaxMillis = 253'402'300'799'999;  // 9999-12-31T23:59:59.999Z
  for (auto& pair : *pairs) {
    // Named references, not a structured binding: clang 14 (the fuzz build) cannot capture one.
    const std::string& name = pair.first;
    std::string& value = pair.second;
    if (!seen.insert(name).second) return bad("query parameter '" + shown(name) + "' is repeated");
    auto millis = [&](int64_t& out) -> Status {
      auto parsed = integer(value, 0, kMaxMillis);
      if (!parsed) return bad("'" + name + "' must be a time in unix milliseconds");
      out = *parsed;
      return Status::Ok();
    };
    if (name == "model") {
      query.model = std::move(value);
    } else if (name == "status") {
      const bool digits = value.size() == 3 && integer(value, 100, 599).has_value();
      if (value != "ok" && value != "error" && !value.empty() && !digits) {
        return bad("'status' must be ok, error or a three-digit HTTP status");
      }
      query.status = std::move(value);
    } else if (name == "key_id") {
      query.key_id = std::move(value);
    } else if (name == "since") {
      if (auto status = millis(query.since_ms); !status) return status.error();
    } else if (name == "until") {
      if (auto status = millis(query.until_ms); !status) return status.error();
    } else if (name == "limit") {
      auto limit = integer(value, 1, 500);
      if (!limit) return bad("'limit' must be a whole number from 1 to 500");
      query.limit = static_cast<int>(*limit);
    } else if (name == "offset") {
      auto offset = integer(value, 0, 1'000'000'000);
      if (!offset) return bad("'offset' must be a whole number from 0");
      query.offset = *offset;
    } else {
      return bad("unknown query parameter '" + shown(name) +
                 "' (known: model, status, key_id, since, until, limit, offset)");
    }
  }
  return query;
}

}  // namespace keel
