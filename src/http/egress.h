// The egress guard: every outbound request whose URL a model (or a tool's caller) can steer goes
// through here, so that a tool cannot be talked into reaching keel's own network (SSRF).
//
//   EgressPolicy policy{.allow_hosts = {"intranet.example"}};
//   auto response = co_await egress_send(std::move(request), policy, cancel);
//   if (!response) ...;   // kPermissionDenied names the host and why it was refused
//
// Refused unless `allow_hosts` names them: loopback, private (RFC 1918, CGNAT), link-local
// (cloud metadata 169.254.169.254 included), unspecified, multicast, broadcast and reserved IPv4;
// ::1, ::, ULA (fd00:ec2::254 included), link- and site-local and multicast IPv6, and IPv6 forms
// that carry an IPv4 address (mapped, compatible, NAT64, 6to4) when that address is refused.
// A host name is resolved once; every address it gives must pass, and the connection goes to
// the checked address (ClientRequest::connect_address), so DNS rebinding cannot swap it. Each
// redirect is checked the same way before it is followed.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/asio.h"
#include "http/client.h"

namespace keel {

struct EgressPolicy {
  // Host names (any case, a trailing dot ignored), IP addresses or CIDR ranges ("10.0.0.0/8")
  // that may be reached even though their addresses are refused by default.
  std::vector<std::string> allow_hosts;
  int max_redirects = 5;
};

// Why `address` is refused by default ("loopback", "link-local", ...), or nullptr.
const char* egress_blocked_reason(const asio::ip::address& address);

// A host as a URL gives it (brackets allowed) read as an IP address, with every form
// getaddrinfo accepts for IPv4 (decimal 2130706433, octal 0177.0.0.1, hex 0x7f.1, short forms);
// "localhost" and its subdomains (RFC 6761) read as 127.0.0.1; nullopt for any other name.
std::optional<asio::ip::address> parse_ip_literal(std::string_view host);

// Whether the policy names `host` (a name or literal) or, when given, `address`.
bool egress_allowed(const EgressPolicy& policy, std::string_view host,
                    const asio::ip::address* address = nullptr);

// The checks that need no resolver: the URL parses, is http(s), and a literal host is not
// refused. Host names pass here and are checked on their resolved addresses.
Status egress_check_url(std::string_view url, const EgressPolicy& policy);

// Resolves, checks and pins `request.url`'s host, sends, and follows redirects (each checked
// again; 303, and 301/302 of a POST, become a GET) up to policy.max_redirects. `final_url`, when
// given, gets the URL that answered.
Task<Result<std::unique_ptr<ClientResponse>>> egress_send(ClientRequest request,
                                                          const EgressPolicy& policy,
                                                          CancelPtr cancel,
                                                          std::string* final_url = nullptr);

}  // namespace keel
