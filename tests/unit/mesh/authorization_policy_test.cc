// AuthorizationPolicy: parsing (positioned errors) and selection of a node's policies.
#include <gtest/gtest.h>

#include "mesh/resources.h"
#include "mesh_test_util.h"

namespace weft::mesh {
namespace {

using testing::compileText;
using testing::formatAll;
using testing::testBootstrap;

ParseResult parse(const std::string& text) {
  return parseResources({ResourceFile{"authz.yaml", text}});
}

TEST(AuthorizationPolicyTest, ParsesEveryField) {
  ParseResult r = parse(R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: httpbin, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  action: DENY
  rules:
  - from:
    - source:
        principals: [cluster.local/ns/default/sa/sleep]
        notPrincipals: ["*/sa/admin"]
        namespaces: [default]
        notNamespaces: [test*]
        ipBlocks: [10.0.0.0/8, 192.168.1.7]
        notIpBlocks: ["10.1.0.0/16"]
        remoteIpBlocks: ["2001:db8::/32"]
        notRemoteIpBlocks: [127.0.0.1]
    to:
    - operation:
        hosts: [Httpbin.Foo, "httpbin.foo:*"]
        notHosts: [evil]
        ports: ["8000", 9000]
        notPorts: ["22"]
        methods: [get, POST]
        notMethods: [DELETE]
        paths: [/api/*, "*.json", /exact]
        notPaths: [/api/admin*]
    when:
    - {key: "request.headers[X-Version]", values: [v1], notValues: [v0]}
    - {key: source.ip, values: [10.0.0.0/8]}
    - {key: remote.ip, notValues: [1.2.3.4]}
    - {key: source.namespace, values: [default]}
    - {key: source.principal, values: ["*"]}
    - {key: destination.port, values: ["8000"]}
---
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: allow-all, namespace: foo}
spec:
  rules: [{}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-all, namespace: foo}
spec: {}
)");
  ASSERT_FALSE(hasErrors(r.errors)) << formatAll(r.errors);
  ASSERT_EQ(r.resources.authorization_policies.size(), 3u);
  const AuthorizationPolicy& ap = r.resources.authorization_policies[0];
  EXPECT_EQ(ap.meta.name, "httpbin");
  EXPECT_EQ(ap.selector.at("app"), "httpbin");
  EXPECT_EQ(ap.action, authz::CompiledPolicy::Action::kDeny);
  ASSERT_EQ(ap.rules.size(), 1u);
  const authz::CompiledRule& rule = ap.rules[0];
  ASSERT_EQ(rule.from.size(), 1u);
  EXPECT_EQ(rule.from[0].ip_blocks.size(), 2u);
  EXPECT_EQ(rule.from[0].ip_blocks[1].prefix, 32);
  EXPECT_EQ(rule.from[0].remote_ip_blocks[0].prefix, 32);
  EXPECT_TRUE(rule.from[0].remote_ip_blocks[0].network.v6);
  ASSERT_EQ(rule.to.size(), 1u);
  const authz::CompiledOperation& op = rule.to[0];
  EXPECT_EQ(op.hosts[0].value, "httpbin.foo");  // lower-cased
  EXPECT_TRUE(op.hosts[0].ignore_case);
  EXPECT_EQ(op.hosts[1].kind, authz::StringMatcher::Kind::kPrefix);
  EXPECT_EQ(op.ports, (std::vector<uint16_t>{8000, 9000}));
  EXPECT_EQ(op.not_ports, (std::vector<uint16_t>{22}));
  EXPECT_EQ(op.methods[0].value, "GET");  // upper-cased
  EXPECT_EQ(op.paths[0].kind, authz::StringMatcher::Kind::kPrefix);
  EXPECT_EQ(op.paths[1].kind, authz::StringMatcher::Kind::kSuffix);
  EXPECT_EQ(op.paths[2].kind, authz::StringMatcher::Kind::kExact);
  ASSERT_EQ(rule.when.size(), 6u);
  EXPECT_EQ(rule.when[0].header, "x-version");
  EXPECT_EQ(rule.when[1].cidrs.size(), 1u);
  EXPECT_EQ(rule.when[2].not_cidrs.size(), 1u);
  EXPECT_EQ(rule.when[5].ports, (std::vector<uint16_t>{8000}));
  EXPECT_EQ(r.resources.authorization_policies[1].rules.size(), 1u);
  EXPECT_EQ(r.resources.authorization_policies[1].action, authz::CompiledPolicy::Action::kAllow);
  EXPECT_TRUE(r.resources.authorization_policies[2].rules.empty());
}

TEST(AuthorizationPolicyTest, PositionedErrors) {
  ParseResult r = parse(R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: bad, namespace: foo}
spec:
  action: CUSTOM
  provider: {name: ext}
  rules:
  - from:
    - source: {ipBlocks: [10.0.0.0/33, not-an-ip]}
    - source: {}
    - source: {serviceAccounts: [sa]}
    to:
    - operation: {ports: ["0", "http"], methods: [""]}
    - operation: {paths: ["/a/{*}"], verbs: [GET]}
    when:
    - {key: "request.headers[x-a]"}
    - {key: destination.ip, values: [1.2.3.4]}
    - {key: source.unknown, values: [x]}
    - {key: remote.ip, values: [1.2.3]}
  - to: []
  - bogus: 1
---
apiVersion: security.istio.io/v2
kind: AuthorizationPolicy
metadata: {name: v2, namespace: foo}
spec:
  action: ALLOWED
)");
  EXPECT_TRUE(hasErrors(r.errors));
  EXPECT_ENTRY(r.errors,
               "authz.yaml:5:11: action CUSTOM (external authorization) is not supported yet");
  EXPECT_ENTRY(r.errors,
               "authz.yaml:6:13: 'provider' goes with action CUSTOM, which is not supported yet");
  EXPECT_ENTRY(r.errors, "authz.yaml:9:27: invalid IP address or CIDR '10.0.0.0/33' in 'ipBlocks'");
  EXPECT_ENTRY(r.errors, "authz.yaml:9:40: invalid IP address or CIDR 'not-an-ip' in 'ipBlocks'");
  EXPECT_ENTRY(r.errors, "authz.yaml:10:15: 'source' must not be empty");
  EXPECT_ENTRY(r.errors, "authz.yaml:11:33: 'serviceAccounts' is not supported yet");
  EXPECT_ENTRY(r.errors, "authz.yaml:13:27: invalid port '0' in 'ports'");
  EXPECT_ENTRY(r.errors, "authz.yaml:13:32: invalid port 'http' in 'ports'");
  EXPECT_ENTRY(r.errors, "authz.yaml:13:51: empty value not allowed in 'methods'");
  EXPECT_ENTRY(r.errors,
               "authz.yaml:14:27: path templates ({*}, {**}) are not supported yet in 'paths'");
  EXPECT_ENTRY(r.errors, "authz.yaml:14:38: unknown field 'verbs' in 'operation'");
  EXPECT_ENTRY(r.errors,
               "authz.yaml:16:7: at least one of 'values' or 'notValues' must be set "
               "for key 'request.headers[x-a]'");
  EXPECT_ENTRY(r.errors, "authz.yaml:17:13: condition key 'destination.ip' is not supported yet");
  EXPECT_ENTRY(r.errors, "authz.yaml:18:13: unknown condition key 'source.unknown'");
  EXPECT_ENTRY(r.errors, "authz.yaml:19:33: invalid IP address or CIDR '1.2.3' in 'values'");
  EXPECT_ENTRY(r.errors,
               "authz.yaml:20:9: 'to' must not be an empty list (omit it to match any operation)");
  EXPECT_ENTRY(r.errors, "authz.yaml:21:5: unknown field 'bogus' in an AuthorizationPolicy rule");
  EXPECT_ENTRY(r.errors,
               "authz.yaml:23:13: apiVersion 'security.istio.io/v2' is not supported "
               "for AuthorizationPolicy; use security.istio.io/v1 or v1beta1");
  EXPECT_ENTRY(r.errors,
               "authz.yaml:27:11: unknown action 'ALLOWED' (ALLOW, DENY, AUDIT or CUSTOM)");
}

TEST(AuthorizationPolicyTest, TargetRefsAndJwtWarn) {
  ParseResult r = parse(R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: gw, namespace: foo}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw}]
  rules: [{}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: jwt, namespace: foo}
spec:
  rules:
  - from: [{source: {requestPrincipals: ["*"]}}]
    when: [{key: "request.auth.claims[groups]", values: [admin]}]
)");
  EXPECT_FALSE(hasErrors(r.errors)) << formatAll(r.errors);
  ASSERT_EQ(r.resources.authorization_policies.size(), 1u);  // the targetRefs one is skipped
  EXPECT_EQ(r.resources.authorization_policies[0].meta.name, "jwt");
  EXPECT_EQ(testing::matching(r.errors, "authz.yaml:5:15: warning: 'targetRefs' binds").size(), 1u)
      << formatAll(r.errors);
  EXPECT_EQ(testing::matching(r.errors, "warning: JWT validation is not supported yet").size(), 1u)
      << formatAll(r.errors);
}

// Which policies apply to a node in namespace `foo` labelled app=httpbin.
TEST(AuthorizationPolicyTest, CompilerSelectsTheNodesPolicies) {
  Bootstrap b = testBootstrap("httpbin", "foo", "{app: httpbin, version: v1}");
  auto policy = [](const std::string& name, const std::string& ns, const std::string& extra,
                   const std::string& rules = "  rules: [{}]\n") {
    return "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: " + name +
           ", namespace: " + ns + "}\nspec:\n" + rules + extra + "---\n";
  };
  std::string text =
      policy("mesh-wide", "istio-system", "") +
      policy("root-selected", "istio-system", "  selector: {matchLabels: {app: httpbin}}\n") +
      policy("root-other", "istio-system", "  selector: {matchLabels: {app: sleep}}\n") +
      policy("ns-wide", "foo", "") +
      policy("selected", "foo", "  selector: {matchLabels: {app: httpbin, version: v1}}\n") +
      policy("other-labels", "foo", "  selector: {matchLabels: {app: httpbin, version: v2}}\n") +
      policy("other-ns", "bar", "") + policy("deny", "foo", "  action: DENY\n") +
      policy("deny-no-rules", "foo", "  action: DENY\n", "  rules: []\n") +
      policy("audit", "foo", "  action: AUDIT\n");
  LoadResult r = compileText(text, b);
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  ASSERT_TRUE(r.snapshot->authz);
  const auto& ps = *r.snapshot->authz;
  std::vector<std::string> names;
  for (const auto& p : ps.policies) names.push_back(p.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"istio-system/mesh-wide", "istio-system/root-selected",
                                      "foo/ns-wide", "foo/selected", "foo/deny", "foo/audit"}));
  EXPECT_EQ(ps.allow, (std::vector<uint32_t>{0, 1, 2, 3}));
  EXPECT_EQ(ps.deny, (std::vector<uint32_t>{4}));
  EXPECT_EQ(ps.audit, (std::vector<uint32_t>{5}));
}

TEST(AuthorizationPolicyTest, NoPolicyNoAuthz) {
  LoadResult r = compileText(R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: elsewhere, namespace: bar}
spec: {}
)");
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  EXPECT_FALSE(r.snapshot->authz);
}

}  // namespace
}  // namespace weft::mesh
