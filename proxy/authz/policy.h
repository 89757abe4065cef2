// Istio AuthorizationPolicy on the inbound side: the precompiled policies of one node and their
// evaluation (Envoy's RBAC filter as Istio configures it).
//
// The compiled structures are built once per snapshot (mesh/compiler.cc) and only read per
// request: string patterns are already split into exact/prefix/suffix/presence, CIDRs are parsed
// networks, methods upper-case and hosts lower-case, so evaluate() allocates nothing.
//
// The construction helpers (parseCidr, makeStringMatcher) are inline so that the configuration
// library can use them without linking the data path.
#pragma once

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace weft::authz {

// An IPv4 or IPv6 address in network byte order (IPv4 in the first 4 bytes).
struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};
};

// A parsed address from text ("10.1.2.3", "::1"); nullopt if it is not a numeric address.
inline std::optional<IpAddress> parseIp(std::string_view text) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof(buf)) return std::nullopt;
  text.copy(buf, text.size());
  buf[text.size()] = '\0';
  IpAddress a;
  if (inet_pton(AF_INET, buf, a.bytes.data()) == 1) return a;
  if (inet_pton(AF_INET6, buf, a.bytes.data()) == 1) {
    a.v6 = true;
    return a;
  }
  return std::nullopt;
}

// A network: "10.0.0.0/8", "2001:db8::/32", or a single address (a /32 or /128).
struct Cidr {
  IpAddress network;  // host bits cleared
  uint8_t prefix = 0;

  bool contains(const IpAddress& a) const {
    if (a.v6 != network.v6) return false;
    uint8_t full = prefix / 8;
    for (uint8_t i = 0; i < full; ++i) {
      if (a.bytes[i] != network.bytes[i]) return false;
    }
    uint8_t rest = prefix % 8;
    if (rest == 0) return true;
    uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
    return (a.bytes[full] & mask) == network.bytes[full];
  }
};

// Istio accepts an address or address/prefix; host bits set below the prefix are cleared (as
// Envoy's CidrRange does). nullopt on anything else.
inline std::optional<Cidr> parseCidr(std::string_view text) {
  std::string_view addr = text;
  std::optional<unsigned> prefix;
  if (size_t slash = text.find('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    std::string_view p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3) return std::nullopt;
    unsigned v = 0;
    for (char c : p) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (p.size() > 1 && p[0] == '0') return std::nullopt;
    prefix = v;
  }
  auto ip = parseIp(addr);
  if (!ip) return std::nullopt;
  unsigned max = ip->v6 ? 128 : 32;
  if (prefix && *prefix > max) return std::nullopt;
  Cidr c;
  c.prefix = static_cast<uint8_t>(prefix.value_or(max));
  c.network = *ip;
  for (unsigned bit = c.prefix; bit < 128; ++bit) {
    c.network.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  }
  return c;
}

// An Istio string pattern: "abc" exact, "abc*" prefix, "*abc" suffix, "*" presence (any
// non-empty value).
struct StringMatcher {
  enum class Kind : uint8_t { kExact, kPrefix, kSuffix, kPresence };
  Kind kind = Kind::kExact;
  bool ignore_case = false;  // value is lower-case then; ASCII case folding per request
  std::string value;

  bool matches(std::string_view s) const;
};

inline StringMatcher makeStringMatcher(std::string_view pattern, bool ignore_case = false) {
  StringMatcher m;
  m.ignore_case = ignore_case;
  if (pattern == "*") {
    m.kind = StringMatcher::Kind::kPresence;
  } else if (pattern.size() > 1 && pattern.back() == '*') {
    m.kind = StringMatcher::Kind::kPrefix;
    pattern.remove_suffix(1);
  } else if (pattern.size() > 1 && pattern.front() == '*') {
    m.kind = StringMatcher::Kind::kSuffix;
    pattern.remove_prefix(1);
  }
  m.value.assign(pattern);
  if (ignore_case) {
    for (char& c : m.value) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return m;
}

// True if any matcher matches `value`; an absent value (nullopt) matches none.
bool anyMatches(const std::vector<StringMatcher>& matchers, std::optional<std::string_view> value);
bool anyContains(const std::vector<Cidr>& cidrs, const std::optional<IpAddress>& ip);

// rules[].from[].source. Empty vectors are absent fields.
struct CompiledSource {
  std::vector<StringMatcher> principals, not_principals;
  std::vector<StringMatcher> request_principals, not_request_principals;
  std::vector<StringMatcher> namespaces, not_namespaces;
  std::vector<Cidr> ip_blocks, not_ip_blocks;
  std::vector<Cidr> remote_ip_blocks, not_remote_ip_blocks;
};

// rules[].to[].operation.
struct CompiledOperation {
  std::vector<StringMatcher> hosts, not_hosts;      // ignore_case
  std::vector<uint16_t> ports, not_ports;           // destination port
  std::vector<StringMatcher> methods, not_methods;  // upper-case
  std::vector<StringMatcher> paths, not_paths;      // compared without the query string
};

// rules[].when[].
struct CompiledCondition {
  enum class Key : uint8_t {
    kRequestHeader,    // request.headers[header]
    kSourceIp,         // source.ip
    kRemoteIp,         // remote.ip
    kSourceNamespace,  // source.namespace (peer certificate)
    kSourcePrincipal,  // source.principal (peer certificate)
    kDestinationPort,  // destination.port
    kRequestAuth,      // request.auth.* (a valid JWT): never present yet
  };
  Key key = Key::kRequestHeader;
  std::string header;  // lower-case, for kRequestHeader
  std::vector<StringMatcher> values, not_values;
  std::vector<Cidr> cidrs, not_cidrs;      // source.ip / remote.ip
  std::vector<uint16_t> ports, not_ports;  // destination.port
  bool has_values = false;                 // `values` given (else only notValues)
};

struct CompiledRule {
  std::vector<CompiledSource> from;   // empty: any source
  std::vector<CompiledOperation> to;  // empty: any operation
  std::vector<CompiledCondition> when;
};

struct CompiledPolicy {
  enum class Action : uint8_t { kAllow, kDeny, kAudit };
  std::string name;  // "<namespace>/<name>"
  Action action = Action::kAllow;
  std::vector<CompiledRule> rules;
};

// The policies that apply to one node, by action, in configuration order.
struct CompiledPolicies {
  std::vector<CompiledPolicy> policies;
  std::vector<uint32_t> deny, allow, audit;  // indexes into policies
  bool empty() const { return policies.empty(); }
};

// What evaluation looks at. Views into the request; valid for the evaluate() call.
struct RequestAttributes {
  std::string_view method;
  std::string_view path;  // may carry a query string (ignored)
  std::string_view host;  // the full Host / authority, port included
  // Request header lookup by lower-case name (nullopt when absent).
  const void* header_context = nullptr;
  std::optional<std::string_view> (*header)(const void* context, std::string_view name) = nullptr;
  uint16_t destination_port = 0;
  std::optional<IpAddress> source_ip;  // the connection's peer
  std::optional<IpAddress> remote_ip;  // the original client (X-Forwarded-For leftmost)
  std::string_view principal;          // peer certificate identity; empty: no mTLS
  std::string_view peer_namespace;     // idem
};

struct Decision {
  static constexpr int32_t kNone = -1;
  bool allowed = true;
  int32_t policy = kNone;        // index into CompiledPolicies::policies of the deciding policy
  int32_t rule = kNone;          // index of the deciding rule within it
  int32_t audit_policy = kNone;  // an AUDIT policy whose rule matched (logging only)
};

// Istio's order: any matching DENY rule denies; with no ALLOW policy the request is allowed;
// otherwise it is allowed only if an ALLOW rule matches. AUDIT never changes the decision.
Decision evaluate(const CompiledPolicies& policies, const RequestAttributes& request);

// Exposed for tests.
bool ruleMatches(const CompiledRule& rule, const RequestAttributes& request);

}  // namespace weft::authz
