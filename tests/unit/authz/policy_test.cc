// AuthorizationPolicy evaluation: matchers and Istio's decision order.
#include "authz/policy.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace weft::authz {
namespace {

using Action = CompiledPolicy::Action;

// A request with headers held in a map (names lower-case).
struct TestRequest {
  std::map<std::string, std::string, std::less<>> headers;
  RequestAttributes attrs;

  TestRequest(std::string_view method = "GET", std::string_view path = "/",
              std::string_view host = "svc:8080") {
    attrs.method = method;
    attrs.path = path;
    attrs.host = host;
    attrs.destination_port = 8080;
    attrs.source_ip = parseIp("10.1.2.3");
    attrs.remote_ip = parseIp("192.168.0.9");
    attrs.header_context = &headers;
    attrs.header = [](const void* ctx, std::string_view name) -> std::optional<std::string_view> {
      const auto& h = *static_cast<const std::map<std::string, std::string, std::less<>>*>(ctx);
      auto it = h.find(name);
      if (it == h.end()) return std::nullopt;
      return std::string_view(it->second);
    };
  }
};

std::vector<StringMatcher> patterns(std::initializer_list<std::string_view> list,
                                    bool ignore_case = false) {
  std::vector<StringMatcher> out;
  for (auto p : list) out.push_back(makeStringMatcher(p, ignore_case));
  return out;
}

std::vector<Cidr> cidrs(std::initializer_list<std::string_view> list) {
  std::vector<Cidr> out;
  for (auto c : list) out.push_back(*parseCidr(c));
  return out;
}

CompiledRule toRule(CompiledOperation op) {
  CompiledRule r;
  r.to.push_back(std::move(op));
  return r;
}

CompiledPolicies make(std::vector<CompiledPolicy> list) {
  CompiledPolicies ps;
  for (auto& p : list) {
    auto i = static_cast<uint32_t>(ps.policies.size());
    if (p.action == Action::kAllow) ps.allow.push_back(i);
    if (p.action == Action::kDeny) ps.deny.push_back(i);
    if (p.action == Action::kAudit) ps.audit.push_back(i);
    ps.policies.push_back(std::move(p));
  }
  return ps;
}

CompiledPolicy policy(std::string name, Action action, std::vector<CompiledRule> rules) {
  CompiledPolicy p;
  p.name = std::move(name);
  p.action = action;
  p.rules = std::move(rules);
  return p;
}

// === Matchers ===

TEST(StringMatcherTest, ExactPrefixSuffixPresence) {
  EXPECT_TRUE(makeStringMatcher("/api").matches("/api"));
  EXPECT_FALSE(makeStringMatcher("/api").matches("/api/x"));
  EXPECT_TRUE(makeStringMatcher("/api/*").matches("/api/x"));
  EXPECT_TRUE(makeStringMatcher("/api/*").matches("/api/"));
  EXPECT_FALSE(makeStringMatcher("/api/*").matches("/api"));
  EXPECT_TRUE(makeStringMatcher("*.png").matches("/a/b.png"));
  EXPECT_FALSE(makeStringMatcher("*.png").matches("/a/b.jpg"));
  EXPECT_TRUE(makeStringMatcher("*").matches("x"));
  EXPECT_FALSE(makeStringMatcher("*").matches(""));
  // '*' elsewhere is a literal character (Istio: exact).
  EXPECT_TRUE(makeStringMatcher("a*b").matches("a*b"));
  EXPECT_FALSE(makeStringMatcher("a*b").matches("axb"));
  EXPECT_FALSE(makeStringMatcher("GET").matches("get"));
}

TEST(StringMatcherTest, IgnoreCase) {
  auto m = makeStringMatcher("Example.COM:*", true);
  EXPECT_EQ(m.value, "example.com:");
  EXPECT_TRUE(m.matches("EXAMPLE.com:80"));
  EXPECT_FALSE(m.matches("example.com"));
  EXPECT_TRUE(makeStringMatcher("*.Example.com", true).matches("a.EXAMPLE.com"));
  EXPECT_TRUE(makeStringMatcher("Example.com", true).matches("example.COM"));
}

TEST(CidrTest, ParseAndContains) {
  auto c = parseCidr("10.0.0.0/8");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->contains(*parseIp("10.255.1.1")));
  EXPECT_FALSE(c->contains(*parseIp("11.0.0.1")));
  EXPECT_FALSE(c->contains(*parseIp("::1")));
  auto host = parseCidr("192.168.1.7");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->prefix, 32);
  EXPECT_TRUE(host->contains(*parseIp("192.168.1.7")));
  EXPECT_FALSE(host->contains(*parseIp("192.168.1.8")));
  auto odd = parseCidr("172.16.5.4/12");  // host bits are cleared
  ASSERT_TRUE(odd);
  EXPECT_TRUE(odd->contains(*parseIp("172.31.0.1")));
  EXPECT_FALSE(odd->contains(*parseIp("172.32.0.1")));
  auto v6 = parseCidr("2001:db8::/32");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(*parseIp("2001:db8:1::5")));
  EXPECT_FALSE(v6->contains(*parseIp("2001:db9::5")));
  EXPECT_FALSE(v6->contains(*parseIp("10.0.0.1")));
  EXPECT_TRUE(parseCidr("0.0.0.0/0")->contains(*parseIp("8.8.8.8")));
  EXPECT_TRUE(parseCidr("10.1.2.3/31")->contains(*parseIp("10.1.2.2")));
  for (auto bad : {"", "10.0.0.0/", "10.0.0.0/33", "10.0.0/8", "::/129", "10.0.0.0/08",
                   "10.0.0.0/x", "host.example", "1.2.3.4/8/9"}) {
    EXPECT_FALSE(parseCidr(bad)) << bad;
  }
}

// === Decision order ===

TEST(EvaluateTest, NoPoliciesAllow) {
  TestRequest r;
  Decision d = evaluate(make({}), r.attrs);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.policy, Decision::kNone);
}

TEST(EvaluateTest, AllowWithoutRulesDeniesAll) {
  TestRequest r;
  Decision d = evaluate(make({policy("ns/deny-all", Action::kAllow, {})}), r.attrs);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.policy, Decision::kNone);
}

TEST(EvaluateTest, EmptyRuleAllowsAll) {
  TestRequest r("DELETE", "/anything");
  Decision d = evaluate(make({policy("ns/allow-all", Action::kAllow, {CompiledRule{}})}), r.attrs);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.policy, 0);
  EXPECT_EQ(d.rule, 0);
}

TEST(EvaluateTest, DenyWithoutRulesHasNoEffect) {
  TestRequest r;
  EXPECT_TRUE(evaluate(make({policy("ns/d", Action::kDeny, {})}), r.attrs).allowed);
}

TEST(EvaluateTest, DenyFirstThenAllow) {
  CompiledOperation get_api;
  get_api.methods = patterns({"GET"});
  get_api.paths = patterns({"/api/*"});
  CompiledCondition evil;
  evil.key = CompiledCondition::Key::kRequestHeader;
  evil.header = "x-evil";
  evil.values = patterns({"*"});
  CompiledRule deny_rule;
  deny_rule.when.push_back(evil);
  auto ps = make({policy("ns/allow", Action::kAllow, {toRule(get_api)}),
                  policy("ns/deny", Action::kDeny, {deny_rule})});

  TestRequest ok("GET", "/api/x?q=1");
  EXPECT_TRUE(evaluate(ps, ok.attrs).allowed);
  TestRequest post("POST", "/api/x");
  Decision d = evaluate(ps, post.attrs);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.policy, Decision::kNone);
  TestRequest admin("GET", "/admin");
  EXPECT_FALSE(evaluate(ps, admin.attrs).allowed);
  TestRequest evil_req("GET", "/api/x");
  evil_req.headers["x-evil"] = "1";
  d = evaluate(ps, evil_req.attrs);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.policy, 1);
  EXPECT_EQ(d.rule, 0);
}

TEST(EvaluateTest, DenyOnlyAllowsTheRest) {
  CompiledOperation op;
  op.paths = patterns({"/private*"});
  auto ps = make({policy("ns/d", Action::kDeny, {toRule(op)})});
  TestRequest pub("GET", "/public");
  EXPECT_TRUE(evaluate(ps, pub.attrs).allowed);
  TestRequest priv("GET", "/private/x");
  EXPECT_FALSE(evaluate(ps, priv.attrs).allowed);
}

TEST(EvaluateTest, AuditNeverChangesTheDecision) {
  auto audit = policy("ns/audit", Action::kAudit, {CompiledRule{}});
  TestRequest r;
  Decision d = evaluate(make({audit}), r.attrs);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.audit_policy, 0);
  // An AUDIT policy is not an ALLOW policy: it does not turn on default deny, nor allow.
  d = evaluate(make({audit, policy("ns/none", Action::kAllow, {})}), r.attrs);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.audit_policy, 0);
}

TEST(EvaluateTest, AnyAllowPolicyRuleAllows) {
  CompiledOperation a, b;
  a.paths = patterns({"/a"});
  b.paths = patterns({"/b"});
  auto ps = make({policy("ns/a", Action::kAllow, {toRule(a)}),
                  policy("ns/b", Action::kAllow, {toRule(a), toRule(b)})});
  TestRequest rb("GET", "/b");
  Decision d = evaluate(ps, rb.attrs);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.policy, 1);
  EXPECT_EQ(d.rule, 1);
  TestRequest rc("GET", "/c");
  EXPECT_FALSE(evaluate(ps, rc.attrs).allowed);
}

// === Within a rule ===

TEST(RuleTest, FromToWhenAreAnded) {
  CompiledSource src;
  src.ip_blocks = cidrs({"10.0.0.0/8"});
  CompiledOperation op;
  op.methods = patterns({"GET"});
  CompiledCondition c;
  c.key = CompiledCondition::Key::kRequestHeader;
  c.header = "x-user";
  c.values = patterns({"alice"});
  CompiledRule rule;
  rule.from.push_back(src);
  rule.to.push_back(op);
  rule.when.push_back(c);
  TestRequest r;
  EXPECT_FALSE(ruleMatches(rule, r.attrs));  // no x-user
  r.headers["x-user"] = "alice";
  EXPECT_TRUE(ruleMatches(rule, r.attrs));
  r.attrs.method = "PUT";
  EXPECT_FALSE(ruleMatches(rule, r.attrs));
  r.attrs.method = "GET";
  r.attrs.source_ip = parseIp("11.0.0.1");
  EXPECT_FALSE(ruleMatches(rule, r.attrs));
}

TEST(RuleTest, AnyFromAndAnyToMatch) {
  CompiledSource s1, s2;
  s1.ip_blocks = cidrs({"1.1.1.1"});
  s2.ip_blocks = cidrs({"10.0.0.0/8"});
  CompiledOperation o1, o2;
  o1.paths = patterns({"/x"});
  o2.paths = patterns({"/y"});
  CompiledRule rule;
  rule.from = {s1, s2};
  rule.to = {o1, o2};
  TestRequest r("GET", "/y");
  EXPECT_TRUE(ruleMatches(rule, r.attrs));
  r.attrs.path = "/z";
  EXPECT_FALSE(ruleMatches(rule, r.attrs));
}

TEST(RuleTest, AllWhenMustMatch) {
  CompiledCondition a, b;
  a.key = b.key = CompiledCondition::Key::kRequestHeader;
  a.header = "x-a";
  b.header = "x-b";
  a.values = b.values = patterns({"1"});
  CompiledRule rule;
  rule.when = {a, b};
  TestRequest r;
  r.headers["x-a"] = "1";
  EXPECT_FALSE(ruleMatches(rule, r.attrs));
  r.headers["x-b"] = "1";
  EXPECT_TRUE(ruleMatches(rule, r.attrs));
}

TEST(RuleTest, FieldsAndedValuesOredNotFieldsMustNotMatch) {
  CompiledOperation op;
  op.methods = patterns({"GET", "HEAD"});
  op.paths = patterns({"/api/*"});
  op.not_paths = patterns({"/api/admin*"});
  CompiledRule rule = toRule(op);
  TestRequest r("HEAD", "/api/list");
  EXPECT_TRUE(ruleMatches(rule, r.attrs));
  r.attrs.path = "/api/admin/x";
  EXPECT_FALSE(ruleMatches(rule, r.attrs));
  r.attrs.path = "/other";
  EXPECT_FALSE(ruleMatches(rule, r.attrs));

  CompiledOperation only_not;
  only_not.not_methods = patterns({"DELETE"});
  EXPECT_TRUE(ruleMatches(toRule(only_not), r.attrs));
  r.attrs.method = "DELETE";
  EXPECT_FALSE(ruleMatches(toRule(only_not), r.attrs));
}

TEST(RuleTest, PathsIgnoreTheQueryString) {
  CompiledOperation op;
  op.paths = patterns({"/api/x"});
  TestRequest r("GET", "/api/x?admin=1");
  EXPECT_TRUE(ruleMatches(toRule(op), r.attrs));
  CompiledOperation suffix;
  suffix.paths = patterns({"*.json"});
  r.attrs.path = "/a.json?x=.html";
  EXPECT_TRUE(ruleMatches(toRule(suffix), r.attrs));
  r.attrs.path = "/a.html?x=.json";
  EXPECT_FALSE(ruleMatches(toRule(suffix), r.attrs));
}

TEST(RuleTest, HostsCaseInsensitiveWithPort) {
  CompiledOperation op;
  op.hosts = patterns({"svc.example.com", "svc.example.com:*"}, true);
  TestRequest r("GET", "/", "SVC.Example.com:8080");
  EXPECT_TRUE(ruleMatches(toRule(op), r.attrs));
  r.attrs.host = "svc.example.com";
  EXPECT_TRUE(ruleMatches(toRule(op), r.attrs));
  CompiledOperation no_port;
  no_port.hosts = patterns({"svc.example.com"}, true);
  r.attrs.host = "svc.example.com:8080";  // compared with the full Host, port included
  EXPECT_FALSE(ruleMatches(toRule(no_port), r.attrs));
  CompiledOperation not_hosts;
  not_hosts.not_hosts = patterns({"evil.*"}, true);
  r.attrs.host = "EVIL.com";
  EXPECT_FALSE(ruleMatches(toRule(not_hosts), r.attrs));
}

TEST(RuleTest, Ports) {
  CompiledOperation op;
  op.ports = {8080, 9090};
  TestRequest r;
  EXPECT_TRUE(ruleMatches(toRule(op), r.attrs));
  r.attrs.destination_port = 7070;
  EXPECT_FALSE(ruleMatches(toRule(op), r.attrs));
  CompiledOperation not_ports;
  not_ports.not_ports = {7070};
  EXPECT_FALSE(ruleMatches(toRule(not_ports), r.attrs));
}

TEST(RuleTest, IpBlocksAndRemoteIpBlocks) {
  CompiledSource s;
  s.ip_blocks = cidrs({"10.0.0.0/8"});
  s.not_ip_blocks = cidrs({"10.1.2.3"});
  CompiledRule rule;
  rule.from.push_back(s);
  TestRequest r;
  EXPECT_FALSE(ruleMatches(rule, r.attrs));  // 10.1.2.3 is excluded
  r.attrs.source_ip = parseIp("10.9.9.9");
  EXPECT_TRUE(ruleMatches(rule, r.attrs));
  r.attrs.source_ip = std::nullopt;
  EXPECT_FALSE(ruleMatches(rule, r.attrs));

  CompiledSource remote;
  remote.remote_ip_blocks = cidrs({"192.168.0.0/16"});
  CompiledRule rr;
  rr.from.push_back(remote);
  EXPECT_TRUE(ruleMatches(rr, r.attrs));
  CompiledSource not_remote;
  not_remote.not_remote_ip_blocks = cidrs({"192.168.0.9"});
  CompiledRule nr;
  nr.from.push_back(not_remote);
  EXPECT_FALSE(ruleMatches(nr, r.attrs));
}

TEST(RuleTest, PeerIdentityAbsentWithoutMtls) {
  CompiledSource p;
  p.principals = patterns({"*"});
  CompiledRule principals;
  principals.from.push_back(p);
  CompiledSource n;
  n.namespaces = patterns({"default"});
  CompiledRule namespaces;
  namespaces.from.push_back(n);
  CompiledSource np;
  np.not_principals = patterns({"*"});
  CompiledRule not_principals;
  not_principals.from.push_back(np);
  TestRequest r;
  EXPECT_FALSE(ruleMatches(principals, r.attrs));
  EXPECT_FALSE(ruleMatches(namespaces, r.attrs));
  EXPECT_TRUE(ruleMatches(not_principals, r.attrs));
  // With a peer identity the same rules see it.
  r.attrs.principal = "cluster.local/ns/default/sa/sleep";
  r.attrs.peer_namespace = "default";
  EXPECT_TRUE(ruleMatches(principals, r.attrs));
  EXPECT_TRUE(ruleMatches(namespaces, r.attrs));
  EXPECT_FALSE(ruleMatches(not_principals, r.attrs));
}

TEST(RuleTest, RequestPrincipalsWithoutJwt) {
  CompiledSource rp;
  rp.request_principals = patterns({"*"});
  CompiledRule with_token;
  with_token.from.push_back(rp);
  CompiledSource nrp;
  nrp.not_request_principals = patterns({"*"});
  CompiledRule without_token;
  without_token.from.push_back(nrp);
  TestRequest r;
  r.headers["authorization"] = "Bearer abc";
  EXPECT_FALSE(ruleMatches(with_token, r.attrs));
  EXPECT_TRUE(ruleMatches(without_token, r.attrs));
}

TEST(ConditionTest, HeaderValuesAndNotValues) {
  CompiledCondition c;
  c.key = CompiledCondition::Key::kRequestHeader;
  c.header = "x-version";
  c.not_values = patterns({"v1"});
  CompiledRule rule;
  rule.when.push_back(c);
  TestRequest r;
  EXPECT_TRUE(ruleMatches(rule, r.attrs));  // notValues on a missing header matches
  r.headers["x-version"] = "v2";
  EXPECT_TRUE(ruleMatches(rule, r.attrs));
  r.headers["x-version"] = "v1";
  EXPECT_FALSE(ruleMatches(rule, r.attrs));
  c.values = patterns({"v*"});
  rule.when = {c};
  r.headers["x-version"] = "v3";
  EXPECT_TRUE(ruleMatches(rule, r.attrs));
  r.headers["x-version"] = "w3";
  EXPECT_FALSE(ruleMatches(rule, r.attrs));
}

TEST(ConditionTest, IpsPortsPeerAndAuth) {
  using Key = CompiledCondition::Key;
  TestRequest r;
  auto check = [&](CompiledCondition c) {
    CompiledRule rule;
    rule.when.push_back(std::move(c));
    return ruleMatches(rule, r.attrs);
  };
  CompiledCondition src;
  src.key = Key::kSourceIp;
  src.cidrs = cidrs({"10.0.0.0/8"});
  EXPECT_TRUE(check(src));
  src.key = Key::kRemoteIp;
  EXPECT_FALSE(check(src));
  CompiledCondition remote;
  remote.key = Key::kRemoteIp;
  remote.not_cidrs = cidrs({"192.168.0.0/24"});
  EXPECT_FALSE(check(remote));
  CompiledCondition port;
  port.key = Key::kDestinationPort;
  port.ports = {8080};
  EXPECT_TRUE(check(port));
  port.ports = {};
  port.not_ports = {8080};
  EXPECT_FALSE(check(port));
  CompiledCondition ns;
  ns.key = Key::kSourceNamespace;
  ns.values = patterns({"default"});
  EXPECT_FALSE(check(ns));
  r.attrs.peer_namespace = "default";
  EXPECT_TRUE(check(ns));
  CompiledCondition principal;
  principal.key = Key::kSourcePrincipal;
  principal.not_values = patterns({"cluster.local/*"});
  EXPECT_TRUE(check(principal));
  CompiledCondition auth;
  auth.key = Key::kRequestAuth;
  auth.values = patterns({"*"});
  EXPECT_FALSE(check(auth));
  auth.values = {};
  auth.not_values = patterns({"admin"});
  EXPECT_TRUE(check(auth));
}

}  // namespace
}  // namespace weft::authz
