// DestinationRule tls and PeerAuthentication: parsing with positioned errors, the merge of
// policy levels, automatic-mTLS endpoint marking and the choice of a node's inbound mode.
#include <gtest/gtest.h>

#include "mesh/resources.h"
#include "mesh_test_util.h"

namespace weft::mesh {
namespace {

using testing::compileText;
using testing::formatAll;
using testing::testBootstrap;

constexpr const char* kService = R"(apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews.shop.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints:
  - {address: 10.0.0.1, serviceAccount: reviews, labels: {version: v1}}
  - {address: 10.0.0.2, labels: {version: v2}}
  - {address: 10.0.0.3, labels: {version: v2, security.istio.io/tlsMode: istio}}
  - {address: 10.0.0.4, serviceAccount: reviews, labels: {security.istio.io/tlsMode: disabled}}
)";

std::string withService(const std::string& more) {
  return std::string(kService) + "---\n" + more;
}

const Cluster* findCluster(const Snapshot& s, const std::string& name) {
  for (const auto& c : s.clusters) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

TEST(ClientTlsTest, NoDestinationRuleMeansAutomaticMtlsAndMarksSidecars) {
  LoadResult r = compileText(kService);
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  const Cluster* c = findCluster(*r.snapshot, "outbound|9080||reviews.shop.svc.cluster.local");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->tls, nullptr);
  EXPECT_EQ(c->namespace_name, "shop");
  ASSERT_EQ(c->endpoints.size(), 4u);
  EXPECT_TRUE(c->endpoints[0].auto_mtls);   // serviceAccount
  EXPECT_FALSE(c->endpoints[1].auto_mtls);  // neither
  EXPECT_TRUE(c->endpoints[2].auto_mtls);   // the label
  EXPECT_FALSE(c->endpoints[3].auto_mtls);  // the label says no
}

TEST(ClientTlsTest, NoAutomaticMtlsToAWorkloadWhosePolicyIsDisable) {
  // reviews v2 (10.0.0.3, labelled) runs with DISABLE; v1 (serviceAccount) is not selected.
  LoadResult r = compileText(withService(R"(apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: v2, namespace: shop}
spec:
  selector: {matchLabels: {version: v2}}
  mtls: {mode: DISABLE}
)"));
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  const Cluster* c = findCluster(*r.snapshot, "outbound|9080||reviews.shop.svc.cluster.local");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->endpoints[0].auto_mtls);
  EXPECT_FALSE(c->endpoints[2].auto_mtls);
}

TEST(ClientTlsTest, ModesMergeAcrossLevels) {
  LoadResult r = compileText(withService(R"(apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews.shop.svc.cluster.local
  trafficPolicy:
    tls: {mode: DISABLE}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      tls: {mode: ISTIO_MUTUAL}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      portLevelSettings:
      - port: {number: 9080}
        tls: {mode: SIMPLE, sni: reviews.example.com, caCertificates: /etc/ca.pem,
              subjectAltNames: [reviews.example.com]}
)"));
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  using Mode = ClientTlsPolicy::Mode;
  const Snapshot& s = *r.snapshot;
  const Cluster* base = findCluster(s, "outbound|9080||reviews.shop.svc.cluster.local");
  const Cluster* v1 = findCluster(s, "outbound|9080|v1|reviews.shop.svc.cluster.local");
  const Cluster* v2 = findCluster(s, "outbound|9080|v2|reviews.shop.svc.cluster.local");
  ASSERT_TRUE(base && v1 && v2);
  ASSERT_TRUE(base->tls && v1->tls && v2->tls);
  EXPECT_EQ(base->tls->mode, Mode::kDisable);
  EXPECT_EQ(v1->tls->mode, Mode::kIstioMutual);
  EXPECT_EQ(v2->tls->mode, Mode::kSimple);
  EXPECT_EQ(v2->tls->sni, "reviews.example.com");
  EXPECT_EQ(v2->tls->ca_certificates, "/etc/ca.pem");
  EXPECT_EQ(v2->tls->subject_alt_names, std::vector<std::string>{"reviews.example.com"});
}

TEST(ClientTlsTest, ErrorsArePositioned) {
  LoadResult r = compileText(withService(R"(apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews.shop.svc.cluster.local
  trafficPolicy:
    tls: {mode: MUTUAL, caCertificates: /ca.pem}
  subsets:
  - name: a
    labels: {version: v1}
    trafficPolicy: {tls: {mode: TLS}}
  - name: b
    labels: {version: v1}
    trafficPolicy: {tls: {mode: ISTIO_MUTUAL, clientCertificate: /c.pem, privateKey: /k.pem}}
  - name: c
    labels: {version: v1}
    trafficPolicy: {tls: {mode: SIMPLE, credentialName: x}}
)"));
  EXPECT_FALSE(r.snapshot);
  // The ServiceEntry takes 14 lines and the separator one: the rule starts at line 16.
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:21:10: 'tls' mode MUTUAL needs clientCertificate and privateKey");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:25:33: 'mode' must be one of DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL, "
               "not 'TLS'");
  EXPECT_EQ(testing::matching(r.errors, "go with mode MUTUAL only").size(), 1u)
      << formatAll(r.errors);
  EXPECT_EQ(testing::matching(r.errors, "'credentialName' is not supported yet").size(), 1u)
      << formatAll(r.errors);
}

std::string peerAuth(const std::string& name, const std::string& ns, const std::string& body) {
  return "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: " + name +
         ", namespace: " + ns + "}\nspec:\n" + body + "---\n";
}

InboundMtls inboundFor(const std::string& text) {
  // The node: productpage in default, labels {app: productpage, version: v1}, app port 9080.
  LoadResult r = compileText(text);
  EXPECT_TRUE(r.snapshot) << formatAll(r.errors);
  return r.snapshot ? r.snapshot->inbound_mtls : InboundMtls{};
}

TEST(PeerAuthenticationTest, NoPolicyIsPermissive) {
  InboundMtls m = inboundFor("");
  EXPECT_EQ(m.mode, PeerMtlsMode::kPermissive);
  EXPECT_EQ(m.policy, "");
}

TEST(PeerAuthenticationTest, MostSpecificLevelWins) {
  std::string mesh_wide = peerAuth("default", "istio-system", "  mtls: {mode: STRICT}\n");
  EXPECT_EQ(inboundFor(mesh_wide).mode, PeerMtlsMode::kStrict);
  EXPECT_EQ(inboundFor(mesh_wide).policy, "istio-system/default");

  std::string ns_wide = peerAuth("ns", "default", "  mtls: {mode: PERMISSIVE}\n");
  EXPECT_EQ(inboundFor(mesh_wide + ns_wide).mode, PeerMtlsMode::kPermissive);
  EXPECT_EQ(inboundFor(mesh_wide + ns_wide).policy, "default/ns");

  std::string workload = peerAuth(
      "pp", "default", "  selector: {matchLabels: {app: productpage}}\n  mtls: {mode: DISABLE}\n");
  EXPECT_EQ(inboundFor(mesh_wide + ns_wide + workload).mode, PeerMtlsMode::kDisable);

  // UNSET inherits from the level above.
  std::string unset =
      peerAuth("pp", "default", "  selector: {matchLabels: {app: productpage}}\n  mtls: {}\n");
  EXPECT_EQ(inboundFor(mesh_wide + unset).mode, PeerMtlsMode::kStrict);

  // Other namespaces, and selectors that do not match, do not apply.
  std::string other_ns = peerAuth("x", "other", "  mtls: {mode: DISABLE}\n");
  std::string other_app = peerAuth(
      "y", "default", "  selector: {matchLabels: {app: reviews}}\n  mtls: {mode: DISABLE}\n");
  EXPECT_EQ(inboundFor(mesh_wide + other_ns + other_app).mode, PeerMtlsMode::kStrict);
  // A selector in the root namespace selects workloads of that namespace only.
  std::string root_selector =
      peerAuth("z", "istio-system",
               "  selector: {matchLabels: {app: productpage}}\n  mtls: {mode: DISABLE}\n");
  EXPECT_EQ(inboundFor(mesh_wide + root_selector).mode, PeerMtlsMode::kStrict);
}

TEST(PeerAuthenticationTest, PortLevelOverridesForTheAppPort) {
  std::string text = peerAuth("pp", "default",
                              "  selector: {matchLabels: {app: productpage}}\n"
                              "  mtls: {mode: STRICT}\n"
                              "  portLevelMtls:\n    9080: {mode: PERMISSIVE}\n    8000: {mode: "
                              "DISABLE}\n");
  EXPECT_EQ(inboundFor(text).mode, PeerMtlsMode::kPermissive);
}

TEST(PeerAuthenticationTest, ErrorsAndWarnings) {
  LoadResult r =
      compileText(peerAuth("a", "default", "  mtls: {mode: STRIKT}\n") +
                  peerAuth("b", "default", "  portLevelMtls:\n    9080: {mode: DISABLE}\n") +
                  peerAuth("c", "default", "  mtls: {mode: STRICT}\n  extra: 1\n"));
  EXPECT_FALSE(r.snapshot);
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:5:16: 'mode' must be one of UNSET, DISABLE, PERMISSIVE, STRICT, not "
               "'STRIKT'");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:12:5: warning: 'portLevelMtls' applies only to a policy with a "
               "selector; it is ignored");
  EXPECT_EQ(testing::matching(r.errors, "unknown field 'extra'").size(), 1u) << formatAll(r.errors);
}

}  // namespace
}  // namespace weft::mesh
