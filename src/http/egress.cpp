// The egress guard's resolving sender (http/egress.h).
#include "http/egress.h"

namespace keel {

namespace {

Error refused(const std::string& host, const asio::ip::address& address, const char* reason) {
  Error error(ErrorCode::kPermissionDenied, "egress to " + host +
                                                " is refused: " + address.to_string() + " is " +
                                                reason + " (allow_hosts can name it)");
  error.type_code = "egress_refused";
  return error;
}

// The one address to connect to: every address the host resolves to must pass.
Task<Result<asio::ip::address>> resolve_checked(const Url& url, const EgressPolicy& policy,
                                                const CancelPtr& cancel) {
  if (const auto literal = parse_ip_literal(url.host)) {
    const char* reason = egress_blocked_reason(*literal);
    if (reason && !egress_allowed(policy, url.host, &*literal)) {
      co_return refused(url.host, *literal, reason);
    }
    co_return *literal;
  }
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  CancelRegistration on_cancel(cancel, [&resolver] { resolver.cancel(); });
  beast::error_code ec;
  const auto results = co_await resolver.async_resolve(
      url.host, std::to_string(url.port), asio::redirect_error(asio::use_awaitable, ec));
  if (cancel->cancelled()) co_return cancel->reason();
  if (ec || results.empty()) {
    co_return Error(ErrorCode::kUnavailable, "cannot resolve " + url.host);
  }
  std::optional<asio::ip::address> chosen;
  for (const auto& entry : results) {
    const asio::ip::address address = entry.endpoint().address();
    const char* reason = egress_blocked_reason(address);
    if (reason && !egress_allowed(policy, url.host, &address)) {
      co_return refused(url.host, address, reason);
    }
    if (!chosen) chosen = address;
  }
  co_return *chosen;
}

// `location` (absolute, scheme-relative, absolute-path or relative) against `base`.
std::string resolve_location(const std::string& base_text, const Url& base,
                             std::string_view location) {
  if (location.starts_with("http://") || location.starts_with("https://")) {
    return std::string(location);
  }
  const std::string scheme = base.tls ? "https:" : "http:";
  if (location.starts_with("//")) return scheme + std::string(location);
  const size_t authority_end = base_text.find('/', scheme.size() + 2);
  const std::string origin =
      authority_end == std::string::npos ? base_text : base_text.substr(0, authority_end);
  if (location.starts_with("/")) return origin + std::string(location);
  std::string path = base.target.substr(0, base.target.find('?'));
  path.resize(path.rfind('/') + 1);
  return origin + path + std::string(location);
}

std::string url_text(const Url& url) {
  const bool v6 = url.host.find(':') != std::string::npos;
  const std::string host = v6 ? "[" + url.host + "]" : url.host;
  return (url.tls ? "https://" : "http://") + host + ":" + std::to_string(url.port) + url.target;
}

}  // namespace

Task<Result<std::unique_ptr<ClientResponse>>> egress_send(ClientRequest request,
                                                          const EgressPolicy& policy,
                                                          CancelPtr cancel,
                                                          std::string* final_url) {
  if (!cancel) cancel = std::make_shared<CancelToken>();
  for (int hop = 0;; ++hop) {
    auto address = co_await resolve_checked(request.url, policy, cancel);
    if (!address) co_return address.error();
    request.connect_address = address->to_string();
    auto response = co_await http_send(request, cancel);
    if (!response) co_return response.error();
    const int status = (*response)->status();
    const std::string location = (*response)->header("location");
    const bool redirect =
        status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
    if (!redirect || location.empty()) {
      if (final_url) *final_url = url_text(request.url);
      co_return response;
    }
    if (hop >= policy.max_redirects) {
      co_return Error(ErrorCode::kBadGateway, "too many redirects (more than " +
                                                  std::to_string(policy.max_redirects) + ")");
    }
    const std::string next = resolve_location(url_text(request.url), request.url, location);
    auto url = Url::parse(next);
    if (!url)
      co_return Error(ErrorCode::kBadGateway, "bad redirect Location: " + url.error().message);
    if (status == 303 || ((status == 301 || status == 302) && request.method == "POST")) {
      request.method = "GET";
      request.body.clear();
    }
    // Headers meant for one host (credentials) do not follow a redirect to another.
    if (url->host != request.url.host) {
      std::erase_if(request.headers, [](const auto& header) {
        std::string name;
        for (char c : header.first)
          name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return name == "authorization" || name == "cookie";
      });
    }
    request.url = std::move(url.value());
  }
}

}  // namespace keel
