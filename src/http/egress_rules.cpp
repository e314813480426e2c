// The egress guard's pure checks (http/egress.h): address classes, IP literals, allow_hosts.
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "http/egress.h"

namespace keel {

namespace {

bool in_v4(uint32_t address, uint32_t network, int prefix) {
  const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return (address & mask) == (network & mask);
}

const char* blocked_v4(uint32_t a) {
  if (in_v4(a, 0x7f000000, 8)) return "loopback";
  if (in_v4(a, 0xa9fe0000, 16)) return "link-local (cloud metadata)";
  if (in_v4(a, 0x00000000, 8)) return "unspecified";
  if (in_v4(a, 0x0a000000, 8) || in_v4(a, 0xac100000, 12) || in_v4(a, 0xc0a80000, 16)) {
    return "private";
  }
  if (in_v4(a, 0x64400000, 10)) return "shared (carrier-grade NAT)";
  if (in_v4(a, 0xc0000000, 24) || in_v4(a, 0xc6120000, 15)) return "reserved";
  if (in_v4(a, 0xe0000000, 4)) return "multicast";
  if (in_v4(a, 0xf0000000, 4)) return "reserved";  // 255.255.255.255 included
  return nullptr;
}

std::string lower_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  while (!host.empty() && host.back() == '.') host.remove_suffix(1);
  std::string out;
  out.reserve(host.size());
  for (char c : host) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "10.0.0.0/8" or "fd00::/8" holding `address`.
bool in_cidr(std::string_view cidr, const asio::ip::address& address) {
  const size_t slash = cidr.find('/');
  if (slash == std::string_view::npos) return false;
  boost::system::error_code ec;
  const auto network = asio::ip::make_address(std::string(cidr.substr(0, slash)), ec);
  if (ec || network.is_v4() != address.is_v4()) return false;
  int prefix = 0;
  const std::string_view bits = cidr.substr(slash + 1);
  if (bits.empty() || bits.size() > 3) return false;
  for (char c : bits) {
    if (c < '0' || c > '9') return false;
    prefix = prefix * 10 + (c - '0');
  }
  if (network.is_v4()) {
    return prefix <= 32 && in_v4(address.to_v4().to_uint(), network.to_v4().to_uint(), prefix);
  }
  if (prefix > 128) return false;
  const auto a = address.to_v6().to_bytes();
  const auto n = network.to_v6().to_bytes();
  for (int bit = 0; bit < prefix; ++bit) {
    const int mask = 0x80 >> (bit % 8);
    if ((a[bit / 8] & mask) != (n[bit / 8] & mask)) return false;
  }
  return true;
}

}  // namespace

const char* egress_blocked_reason(const asio::ip::address& address) {
  if (address.is_v4()) return blocked_v4(address.to_v4().to_uint());
  const asio::ip::address_v6 v6 = address.to_v6();
  const auto b = v6.to_bytes();
  const auto v4_at = [&b](int offset) {
    return uint32_t{b[offset]} << 24 | uint32_t{b[offset + 1]} << 16 |
           uint32_t{b[offset + 2]} << 8 | uint32_t{b[offset + 3]};
  };
  if (v6.is_unspecified()) return "unspecified";
  if (v6.is_loopback()) return "loopback";
  const bool compatible = std::all_of(b.begin(), b.begin() + 12, [](auto x) { return x == 0; });
  if (v6.is_v4_mapped() || compatible) {
    const char* inner = blocked_v4(v4_at(12));
    return inner ? inner : (compatible ? "reserved (IPv4-compatible)" : nullptr);
  }
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {  // NAT64 64:ff9b::/96
    return blocked_v4(v4_at(12));
  }
  if (b[0] == 0x20 && b[1] == 0x02) return blocked_v4(v4_at(2));  // 6to4 2002::/16
  if ((b[0] & 0xfe) == 0xfc) return "unique local (ULA)";         // fd00:ec2::254 too
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "link-local";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return "site-local";
  if (b[0] == 0xff) return "multicast";
  return nullptr;
}

std::optional<asio::ip::address> parse_ip_literal(std::string_view host) {
  const std::string bare = lower_host(host);
  // RFC 6761: localhost and its subdomains are loopback, whatever a resolver would say.
  if (bare == "localhost" || bare.ends_with(".localhost")) {
    return asio::ip::address(asio::ip::address_v4::loopback());
  }
  if (bare.empty() || bare.find('\0') != std::string::npos) return std::nullopt;
  if (bare.find(':') != std::string::npos) {
    boost::system::error_code ec;
    std::string text = bare;
    // A zone ("fe80::1%eth0") names an interface; the address alone decides.
    if (const size_t zone = text.find('%'); zone != std::string::npos) text.resize(zone);
    const auto v6 = asio::ip::make_address_v6(text, ec);
    if (ec) return std::nullopt;
    return asio::ip::address(v6);
  }
  // inet_aton reads every numeric form getaddrinfo does: 2130706433, 0x7f.1, 0177.0.0.1, 127.1.
  in_addr v4{};
  if (inet_aton(bare.c_str(), &v4) == 0) return std::nullopt;
  return asio::ip::address(asio::ip::address_v4(ntohl(v4.s_addr)));
}

bool egress_allowed(const EgressPolicy& policy, std::string_view host,
                    const asio::ip::address* address) {
  const std::string name = lower_host(host);
  for (const auto& entry : policy.allow_hosts) {
    const std::string allowed = lower_host(entry);
    if (allowed.empty()) continue;
    if (allowed == name) return true;
    if (address == nullptr) continue;
    if (allowed.find('/') != std::string::npos) {
      if (in_cidr(allowed, *address)) return true;
    } else if (const auto literal = parse_ip_literal(allowed); literal && *literal == *address) {
      return true;
    }
  }
  return false;
}

Status egress_check_url(std::string_view text, const EgressPolicy& policy) {
  auto url = Url::parse(text);
  if (!url) return url.error();
  for (unsigned char c : url->host) {
    if (c <= 0x20 || c == 0x7f) {
      return Status(ErrorCode::kInvalidArgument, "URL host contains a space or control character");
    }
  }
  const auto literal = parse_ip_literal(url->host);
  if (!literal) return Status::Ok();
  if (const char* reason = egress_blocked_reason(*literal);
      reason != nullptr && !egress_allowed(policy, url->host, &*literal)) {
    Error error(ErrorCode::kPermissionDenied, "egress to " + url->host +
                                                  " is refused: " + literal->to_string() + " is " +
                                                  reason + " (allow_hosts can name it)");
    error.type_code = "egress_refused";
    return error;
  }
  return Status::Ok();
}

}  // namespace keel
