// Materializing (selectors, synthesized services) and scoping (Sidecar egress) the pushed set.
#include "push/scoped_set.h"

#include <gtest/gtest.h>

#include "mesh/compiler.h"
#include "mesh/resources.h"

namespace weft::control {
namespace {

std::vector<DocumentPtr> docsOf(const std::string& text) {
  ReadResult r = readDocuments(text, "t.yaml");
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors[0].format());
  std::vector<DocumentPtr> out;
  for (auto& d : r.documents) out.push_back(std::make_shared<Document>(std::move(d)));
  return out;
}

NodeState registered(const std::string& id, const std::string& service,
                     const std::map<std::string, std::string>& labels,
                     const std::string& address = "127.0.0.5") {
  NodeState n;
  n.info.id = id;
  n.info.workload = id;
  n.info.service = service;
  n.info.labels = labels;
  n.info.address = address;
  n.info.ports = {{"http", 15006, 9080}};
  return n;
}

// Parses and compiles a pushed set as a sidecar in `ns` would.
mesh::ConfigErrors compileAsSidecar(const std::string& yaml, const std::string& ns = "default") {
  mesh::ParseResult parsed = mesh::parseResources({{"resources", yaml}});
  mesh::ConfigErrors errors = parsed.errors;
  mesh::Bootstrap b;
  b.node.id = "x";
  b.node.namespace_name = ns;
  auto snapshot = mesh::compileSnapshot(b, parsed.resources, errors);
  return errors;
}

bool hasError(const mesh::ConfigErrors& errors) {
  return mesh::hasErrors(errors);
}

const char* kSelectingEntry =
    "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ratings}\n"
    "spec:\n  hosts: [ratings.default.svc.cluster.local]\n  location: MESH_INTERNAL\n"
    "  resolution: STATIC\n  ports: [{number: 9080, name: http, protocol: HTTP}]\n"
    "  workloadSelector:\n    labels: {app: ratings}\n";

TEST(Materialize, SelectorBecomesEndpointsFromWorkloadEntriesOfTheNamespace) {
  std::string text = std::string(kSelectingEntry) +
                     "---\napiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n"
                     "metadata: {name: r1}\nspec: {address: 10.0.0.1, labels: {app: ratings}, "
                     "ports: {http: 8080}}\n"
                     "---\napiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n"
                     "metadata: {name: r2, namespace: other}\nspec: {address: 10.0.0.2, "
                     "labels: {app: ratings}}\n"
                     "---\napiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n"
                     "metadata: {name: x}\nspec: {address: 10.0.0.3, labels: {app: other}}\n";
  MaterializedSet set = materialize(docsOf(text), {});
  ASSERT_EQ(set.resources.size(), 1u);  // WorkloadEntries are not pushed
  const std::string& yaml = set.resources[0]->text;
  EXPECT_EQ(yaml.find("workloadSelector"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("10.0.0.1"), std::string::npos) << yaml;
  EXPECT_EQ(yaml.find("10.0.0.2"), std::string::npos) << "other namespace";
  EXPECT_EQ(yaml.find("10.0.0.3"), std::string::npos) << "labels do not match";
  ScopedSet scoped = scopeFor(set, "default", {});
  auto errors = compileAsSidecar(scoped.yaml);
  EXPECT_FALSE(hasError(errors)) << errors[0].format() << "\n" << scoped.yaml;
  for (const auto& e : errors) EXPECT_EQ(e.message.find("no endpoints"), std::string::npos);
}

TEST(Materialize, SynthesizesAServicePerRegisteredServiceWithoutServiceEntry) {
  std::map<std::string, NodeState> nodes;
  nodes["reviews-1"] = registered("reviews-1", "reviews", {{"app", "reviews"}}, "127.0.0.5");
  nodes["reviews-2"] = registered("reviews-2", "reviews", {{"app", "reviews"}}, "127.0.0.6");
  nodes["ratings-1"] = registered("ratings-1", "ratings", {{"app", "ratings"}}, "127.0.0.7");
  // ratings is selected by a ServiceEntry: no synthesized one for it.
  MaterializedSet set = materialize(docsOf(kSelectingEntry), nodes);
  ASSERT_EQ(set.resources.size(), 2u);
  const Document* reviews = nullptr;
  for (const auto& d : set.resources) {
    if (d->hosts == std::vector<std::string>{"reviews.default.svc.cluster.local"}) {
      reviews = d.get();
    }
  }
  ASSERT_NE(reviews, nullptr);
  EXPECT_EQ(reviews->source, "registry");
  EXPECT_NE(reviews->text.find("127.0.0.5"), std::string::npos);
  EXPECT_NE(reviews->text.find("127.0.0.6"), std::string::npos);
  EXPECT_NE(reviews->text.find("9080"), std::string::npos);
  EXPECT_NE(reviews->text.find("15006"), std::string::npos);
  ScopedSet scoped = scopeFor(set, "default", {});
  auto errors = compileAsSidecar(scoped.yaml);
  EXPECT_FALSE(hasError(errors)) << scoped.yaml;
}

TEST(Materialize, NoSynthesisWhenAServiceEntryDeclaresTheHost) {
  std::map<std::string, NodeState> nodes;
  nodes["reviews-1"] = registered("reviews-1", "reviews", {{"app", "reviews"}});
  MaterializedSet set = materialize(
      docsOf("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: rv}\n"
             "spec:\n  hosts: [reviews.default.svc.cluster.local]\n  resolution: STATIC\n"
             "  ports: [{number: 9080, name: http}]\n  endpoints: [{address: 10.1.1.1}]\n"),
      nodes);
  EXPECT_EQ(set.resources.size(), 1u);
}

TEST(ScopeFor, SidecarEgressLimitsTheServices) {
  std::string text =
      "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: a, namespace: "
      "shop}\nspec: {hosts: [a.shop.svc.cluster.local], resolution: STATIC, ports: [{number: 80, "
      "name: http}], endpoints: [{address: 10.0.0.1}]}\n"
      "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: b, "
      "namespace: bank}\nspec: {hosts: [b.bank.svc.cluster.local], resolution: STATIC, ports: "
      "[{number: 80, name: http}], endpoints: [{address: 10.0.0.2}]}\n"
      "---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default, "
      "namespace: shop}\nspec:\n  egress:\n  - hosts: [\"./*\"]\n";
  MaterializedSet set = materialize(docsOf(text), {});
  ASSERT_EQ(set.sidecars.size(), 1u);
  ScopedSet shop = scopeFor(set, "shop", {});
  EXPECT_EQ(shop.sidecar, "shop/default");
  EXPECT_NE(shop.yaml.find("a.shop.svc.cluster.local"), std::string::npos);
  EXPECT_EQ(shop.yaml.find("b.bank.svc.cluster.local"), std::string::npos);
  ScopedSet bank = scopeFor(set, "bank", {});
  EXPECT_TRUE(bank.sidecar.empty());
  EXPECT_NE(bank.yaml.find("a.shop.svc.cluster.local"), std::string::npos);
  EXPECT_NE(bank.yaml.find("b.bank.svc.cluster.local"), std::string::npos);
  EXPECT_NE(shop.hash, bank.hash);
  EXPECT_EQ(shop.built_from, std::vector<std::string>{"ServiceEntry shop/a@0"});
}

TEST(ScopeFor, RootNamespaceSidecarIsTheMeshDefault) {
  std::string text =
      "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: a, namespace: "
      "shop}\nspec: {hosts: [a.shop.svc.cluster.local], resolution: STATIC, ports: [{number: 80, "
      "name: http}], endpoints: [{address: 10.0.0.1}]}\n"
      "---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default, "
      "namespace: istio-system}\nspec:\n  egress:\n  - hosts: [\"./*\"]\n"
      "---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: open, "
      "namespace: bank}\nspec:\n  egress:\n  - hosts: [\"*/*\"]\n";
  MaterializedSet set = materialize(docsOf(text), {});
  ScopedSet shop = scopeFor(set, "shop", {});
  EXPECT_EQ(shop.sidecar, "istio-system/default");
  EXPECT_NE(shop.yaml.find("a.shop.svc.cluster.local"), std::string::npos) << "'.' = own ns";
  ScopedSet other = scopeFor(set, "other", {});
  EXPECT_EQ(other.yaml.find("a.shop.svc.cluster.local"), std::string::npos);
  ScopedSet bank = scopeFor(set, "bank", {});
  EXPECT_EQ(bank.sidecar, "bank/open") << "the namespace's own Sidecar wins";
  EXPECT_NE(bank.yaml.find("a.shop.svc.cluster.local"), std::string::npos);
}

TEST(ScopeFor, ExportToLimitsVisibility) {
  std::string text =
      "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: private, "
      "namespace: shop}\nspec: {hosts: [p.shop.svc.cluster.local], exportTo: [\".\"], "
      "resolution: STATIC, ports: [{number: 80, name: http}], endpoints: [{address: 10.0.0.1}]}\n"
      "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: shared, "
      "namespace: shop}\nspec: {hosts: [s.shop.svc.cluster.local], exportTo: [bank], "
      "resolution: STATIC, ports: [{number: 80, name: http}], endpoints: [{address: 10.0.0.2}]}\n";
  MaterializedSet set = materialize(docsOf(text), {});
  ScopedSet shop = scopeFor(set, "shop", {});
  EXPECT_NE(shop.yaml.find("p.shop"), std::string::npos);
  EXPECT_EQ(shop.yaml.find("s.shop"), std::string::npos);
  ScopedSet bank = scopeFor(set, "bank", {});
  EXPECT_EQ(bank.yaml.find("p.shop"), std::string::npos);
  EXPECT_NE(bank.yaml.find("s.shop"), std::string::npos);
}

TEST(ScopeFor, EgressHostPatterns) {
  EXPECT_TRUE(egressHostMatches("*/*", "a", "b", "x.b.svc.cluster.local"));
  EXPECT_TRUE(egressHostMatches("./*", "a", "a", "x.a.svc.cluster.local"));
  EXPECT_FALSE(egressHostMatches("./*", "a", "b", "x.b.svc.cluster.local"));
  EXPECT_TRUE(egressHostMatches("b/*.example.com", "a", "b", "api.example.com"));
  EXPECT_FALSE(egressHostMatches("b/*.example.com", "a", "c", "api.example.com"));
  EXPECT_FALSE(egressHostMatches("~/*", "a", "a", "x"));
  EXPECT_TRUE(egressHostMatches("*/x.b.svc.cluster.local", "a", "b", "x.b.svc.cluster.local"));
}

TEST(ContentHash, DiffersWithContent) {
  EXPECT_EQ(contentHash("abc"), contentHash("abc"));
  EXPECT_NE(contentHash("abc"), contentHash("abd"));
}

}  // namespace
}  // namespace weft::control
