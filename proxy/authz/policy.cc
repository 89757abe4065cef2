// AuthorizationPolicy evaluation (see policy.h): Istio's semantics, no allocation per request.
#include "authz/policy.h"

#include <algorithm>

namespace weft::authz {
namespace {

char lowerAscii(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// `s` equals `lower` (already lower-case) ignoring ASCII case.
bool equalsFolded(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (lowerAscii(s[i]) != lower[i]) return false;
  }
  return true;
}

bool equals(std::string_view s, std::string_view v, bool ignore_case) {
  return ignore_case ? equalsFolded(s, v) : s == v;
}

bool anyPort(const std::vector<uint16_t>& ports, uint16_t port) {
  return std::find(ports.begin(), ports.end(), port) != ports.end();
}

std::string_view withoutQuery(std::string_view path) {
  size_t end = path.find_first_of("?#");
  return end == std::string_view::npos ? path : path.substr(0, end);
}

// A field with values `in` and `not_in`: an empty `in` is absent (matches); a value matching
// `not_in` fails.
bool stringField(const std::vector<StringMatcher>& in, const std::vector<StringMatcher>& not_in,
                 std::optional<std::string_view> value) {
  if (!in.empty() && !anyMatches(in, value)) return false;
  if (!not_in.empty() && anyMatches(not_in, value)) return false;
  return true;
}

bool cidrField(const std::vector<Cidr>& in, const std::vector<Cidr>& not_in,
               const std::optional<IpAddress>& ip) {
  if (!in.empty() && !anyContains(in, ip)) return false;
  if (!not_in.empty() && anyContains(not_in, ip)) return false;
  return true;
}

bool portField(const std::vector<uint16_t>& in, const std::vector<uint16_t>& not_in,
               uint16_t port) {
  if (!in.empty() && !anyPort(in, port)) return false;
  if (!not_in.empty() && anyPort(not_in, port)) return false;
  return true;
}

std::optional<std::string_view> present(std::string_view v) {
  if (v.empty()) return std::nullopt;
  return v;
}

bool sourceMatches(const CompiledSource& s, const RequestAttributes& r) {
  // Without mTLS the peer has no principal nor namespace, and without JWT support no request
  // has an authenticated principal: such values are absent (positive lists never match,
  // negative lists always do), as for Istio's plain-text and token-less requests.
  return stringField(s.principals, s.not_principals, present(r.principal)) &&
         stringField(s.request_principals, s.not_request_principals, std::nullopt) &&
         stringField(s.namespaces, s.not_namespaces, present(r.peer_namespace)) &&
         cidrField(s.ip_blocks, s.not_ip_blocks, r.source_ip) &&
         cidrField(s.remote_ip_blocks, s.not_remote_ip_blocks, r.remote_ip);
}

bool operationMatches(const CompiledOperation& o, const RequestAttributes& r) {
  return stringField(o.hosts, o.not_hosts, r.host) &&
         portField(o.ports, o.not_ports, r.destination_port) &&
         stringField(o.methods, o.not_methods, r.method) &&
         stringField(o.paths, o.not_paths, withoutQuery(r.path));
}

bool conditionMatches(const CompiledCondition& c, const RequestAttributes& r) {
  using Key = CompiledCondition::Key;
  switch (c.key) {
    case Key::kRequestHeader: {
      std::optional<std::string_view> v;
      if (r.header) v = r.header(r.header_context, c.header);
      return stringField(c.values, c.not_values, v);
    }
    case Key::kSourceIp:
      return cidrField(c.cidrs, c.not_cidrs, r.source_ip);
    case Key::kRemoteIp:
      return cidrField(c.cidrs, c.not_cidrs, r.remote_ip);
    case Key::kSourceNamespace:
      return stringField(c.values, c.not_values, present(r.peer_namespace));
    case Key::kSourcePrincipal:
      return stringField(c.values, c.not_values, present(r.principal));
    case Key::kDestinationPort:
      return portField(c.ports, c.not_ports, r.destination_port);
    case Key::kRequestAuth:
      return stringField(c.values, c.not_values, std::nullopt);
  }
  return false;
}

// The index of the first matching rule of `p`, or kNone. A policy without rules matches
// nothing (an ALLOW policy without rules therefore allows nothing).
int32_t firstMatch(const CompiledPolicy& p, const RequestAttributes& r) {
  for (size_t i = 0; i < p.rules.size(); ++i) {
    if (ruleMatches(p.rules[i], r)) return static_cast<int32_t>(i);
  }
  return Decision::kNone;
}

}  // namespace

bool StringMatcher::matches(std::string_view s) const {
  switch (kind) {
    case Kind::kPresence:
      return !s.empty();
    case Kind::kExact:
      return equals(s, value, ignore_case);
    case Kind::kPrefix:
      return s.size() >= value.size() && equals(s.substr(0, value.size()), value, ignore_case);
    case Kind::kSuffix:
      return s.size() >= value.size() &&
             equals(s.substr(s.size() - value.size()), value, ignore_case);
  }
  return false;
}

bool anyMatches(const std::vector<StringMatcher>& matchers, std::optional<std::string_view> value) {
  if (!value) return false;
  for (const auto& m : matchers) {
    if (m.matches(*value)) return true;
  }
  return false;
}

bool anyContains(const std::vector<Cidr>& cidrs, const std::optional<IpAddress>& ip) {
  if (!ip) return false;
  for (const auto& c : cidrs) {
    if (c.contains(*ip)) return true;
  }
  return false;
}

bool ruleMatches(const CompiledRule& rule, const RequestAttributes& r) {
  if (!rule.from.empty() &&
      std::none_of(rule.from.begin(), rule.from.end(),
                   [&](const CompiledSource& s) { return sourceMatches(s, r); })) {
    return false;
  }
  if (!rule.to.empty() &&
      std::none_of(rule.to.begin(), rule.to.end(),
                   [&](const CompiledOperation& o) { return operationMatches(o, r); })) {
    return false;
  }
  return std::all_of(rule.when.begin(), rule.when.end(),
                     [&](const CompiledCondition& c) { return conditionMatches(c, r); });
}

Decision evaluate(const CompiledPolicies& policies, const RequestAttributes& r) {
  Decision d;
  for (uint32_t i : policies.audit) {
    if (firstMatch(policies.policies[i], r) != Decision::kNone) {
      d.audit_policy = static_cast<int32_t>(i);
      break;
    }
  }
  for (uint32_t i : policies.deny) {
    int32_t rule = firstMatch(policies.policies[i], r);
    if (rule != Decision::kNone) {
      d.allowed = false;
      d.policy = static_cast<int32_t>(i);
      d.rule = rule;
      return d;
    }
  }
  if (policies.allow.empty()) return d;
  for (uint32_t i : policies.allow) {
    int32_t rule = firstMatch(policies.policies[i], r);
    if (rule != Decision::kNone) {
      d.policy = static_cast<int32_t>(i);
      d.rule = rule;
      return d;
    }
  }
  d.allowed = false;  // ALLOW policies exist and none matched
  return d;
}

}  // namespace weft::authz
