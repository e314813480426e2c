// Url (http/client.h): apart from the client so that the fuzz targets of the egress guard link
// it without the rest of the client.
#include "http/client.h"

namespace keel {

Result<Url> Url::parse(std::string_view text) {
  Url url;
  if (text.starts_with("https://")) {
    url.tls = true;
    url.port = 443;
    text.remove_prefix(8);
  } else if (text.starts_with("http://")) {
    text.remove_prefix(7);
  } else {
    return Error(ErrorCode::kInvalidArgument, "URL must start with http:// or https://");
  }
  size_t slash = text.find('/');
  std::string_view authority = text.substr(0, slash);
  url.target = slash == std::string_view::npos ? "/" : std::string(text.substr(slash));
  if (authority.find('@') != std::string_view::npos)
    return Error(ErrorCode::kInvalidArgument, "URL must not contain credentials");
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with("[")) {  // [::1]:8080
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return Error(ErrorCode::kInvalidArgument, "bad IPv6 host");
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':')
      port = authority.substr(close + 2);
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return Error(ErrorCode::kInvalidArgument, "URL has no host");
  url.host = std::string(host);
  if (!port.empty()) {
    int value = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return Error(ErrorCode::kInvalidArgument, "bad port in URL");
      value = value * 10 + (c - '0');
      if (value > 65535) return Error(ErrorCode::kInvalidArgument, "bad port in URL");
    }
    if (value == 0) return Error(ErrorCode::kInvalidArgument, "bad port in URL");
    url.port = static_cast<uint16_t>(value);
  }
  return url;
}

Url Url::with_path(std::string_view suffix) const {
  Url out = *this;
  std::string path = target.substr(0, target.find('?'));
  std::string query = target.find('?') == std::string::npos ? "" : target.substr(target.find('?'));
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (!suffix.starts_with("/")) path += '/';
  out.target = path + std::string(suffix) + query;
  return out;
}

}  // namespace keel
