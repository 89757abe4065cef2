// Compiling resources into a node's Snapshot: clusters, endpoints, routes, domains, JSON.
#include "mesh/compiler.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "mesh_test_util.h"

namespace weft::mesh {
namespace {

using testing::compileText;
using testing::formatAll;
using testing::testBootstrap;

const Cluster* findCluster(const Snapshot& s, const std::string& name) {
  for (const auto& c : s.clusters) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::vector<std::string> clusterNames(const Snapshot& s) {
  std::vector<std::string> out;
  for (const auto& c : s.clusters) out.push_back(c.name);
  return out;
}

const std::string kReviews = R"(apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: 9080, name: http}
  - {number: 9090, name: admin, targetPort: 9999}
  - {number: 9091, name: grpc, protocol: TCP}
  endpoints:
  - {address: 10.0.0.1, ports: {http: 15406}, labels: {version: v1}, serviceAccount: reviews}
  - {address: 10.0.0.2, ports: {http: 15506}, labels: {version: v2}, weight: 5}
  - {address: 10.0.0.3, labels: {version: v3, extra: "yes"}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - name: v3
    labels: {version: v3}
    trafficPolicy: {loadBalancer: {simple: RANDOM}}
)";

TEST(CompilerTest, ClustersEndpointsAndLoadBalancing) {
  LoadResult r = compileText(kReviews);
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  const Snapshot& s = *r.snapshot;
  EXPECT_EQ(clusterNames(s), (std::vector<std::string>{
                                 "outbound|9080||reviews.default.svc.cluster.local",
                                 "outbound|9080|v1|reviews.default.svc.cluster.local",
                                 "outbound|9080|v2|reviews.default.svc.cluster.local",
                                 "outbound|9080|v3|reviews.default.svc.cluster.local",
                                 "outbound|9090||reviews.default.svc.cluster.local",
                                 "outbound|9090|v1|reviews.default.svc.cluster.local",
                                 "outbound|9090|v2|reviews.default.svc.cluster.local",
                                 "outbound|9090|v3|reviews.default.svc.cluster.local",
                             }));
  const Cluster* all = findCluster(s, "outbound|9080||reviews.default.svc.cluster.local");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->service_host, "reviews.default.svc.cluster.local");
  EXPECT_EQ(all->service_name, "reviews");
  EXPECT_EQ(all->service_namespace, "default");
  EXPECT_EQ(all->port, 9080);
  EXPECT_EQ(all->subset, "");
  EXPECT_TRUE(all->mesh_internal);
  EXPECT_EQ(all->lb, LbPolicy::kRoundRobin);
  ASSERT_EQ(all->endpoints.size(), 3u);
  // Port from the endpoint's ports map (by service port name), else the port number.
  EXPECT_EQ(all->endpoints[0].port, 15406);
  EXPECT_EQ(all->endpoints[0].service_account, "reviews");
  EXPECT_EQ(all->endpoints[0].weight, 1u);
  EXPECT_EQ(all->endpoints[1].port, 15506);
  EXPECT_EQ(all->endpoints[1].weight, 5u);
  EXPECT_EQ(all->endpoints[2].port, 9080);
  EXPECT_EQ(all->endpoints[2].labels.at("extra"), "yes");
  // targetPort when the ports map has no entry for the port's name.
  const Cluster* admin = findCluster(s, "outbound|9090||reviews.default.svc.cluster.local");
  ASSERT_TRUE(admin);
  EXPECT_EQ(admin->endpoints[0].port, 9999);
  EXPECT_EQ(admin->endpoints[2].port, 9999);

  const Cluster* v2 = findCluster(s, "outbound|9080|v2|reviews.default.svc.cluster.local");
  ASSERT_TRUE(v2);
  EXPECT_EQ(v2->subset, "v2");
  EXPECT_EQ(v2->lb, LbPolicy::kRoundRobin);
  ASSERT_EQ(v2->endpoints.size(), 1u);
  EXPECT_EQ(v2->endpoints[0].address, "10.0.0.2");
  const Cluster* v3 = findCluster(s, "outbound|9080|v3|reviews.default.svc.cluster.local");
  ASSERT_TRUE(v3);
  EXPECT_EQ(v3->lb, LbPolicy::kRandom);  // the subset's policy overrides
  ASSERT_EQ(v3->endpoints.size(), 1u);
  EXPECT_EQ(v3->endpoints[0].address, "10.0.0.3");
}

TEST(CompilerTest, DefaultLoadBalancerAndDefaultRoute) {
  LoadResult r = compileText(R"(apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: httpbin, namespace: tools}
spec:
  hosts: [httpbin.example.com]
  ports: [{number: 8000, name: http}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
)");
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  const Snapshot& s = *r.snapshot;
  ASSERT_EQ(s.clusters.size(), 1u);
  EXPECT_EQ(s.clusters[0].name, "outbound|8000||httpbin.example.com");
  EXPECT_EQ(s.clusters[0].lb, LbPolicy::kLeastRequest);
  EXPECT_EQ(s.clusters[0].service_name, "httpbin");
  EXPECT_EQ(s.clusters[0].service_namespace, "unknown");
  EXPECT_FALSE(s.clusters[0].mesh_internal);
  ASSERT_EQ(s.outbound_routes.virtual_hosts.size(), 1u);
  const VirtualHost& vh = s.outbound_routes.virtual_hosts[0];
  EXPECT_EQ(vh.name, "httpbin.example.com:8000");
  ASSERT_EQ(vh.routes.size(), 1u);
  EXPECT_EQ(vh.routes[0].name, "default");
  EXPECT_TRUE(vh.routes[0].matches.empty());
  ASSERT_EQ(vh.routes[0].destinations.size(), 1u);
  EXPECT_EQ(vh.routes[0].destinations[0].cluster, 0u);
  EXPECT_EQ(vh.routes[0].total_weight, 100u);
  // Non-svc.cluster.local hosts get no short aliases.
  EXPECT_EQ(s.outbound_routes.domains.size(), 1u);
  EXPECT_TRUE(s.outbound_routes.find("httpbin.example.com", 0));
  EXPECT_FALSE(s.outbound_routes.find("httpbin", 0));
}

TEST(CompilerTest, ServiceDomains) {
  EXPECT_EQ(serviceDomains("reviews.default.svc.cluster.local", "default"),
            (std::vector<std::string>{"reviews.default.svc.cluster.local", "reviews.default.svc",
                                      "reviews.default", "reviews"}));
  EXPECT_EQ(serviceDomains("reviews.default.svc.cluster.local", "shop"),
            (std::vector<std::string>{"reviews.default.svc.cluster.local", "reviews.default.svc",
                                      "reviews.default"}));
  EXPECT_EQ(serviceDomains("reviews.example.com", "default"),
            std::vector<std::string>{"reviews.example.com"});
  EXPECT_EQ(serviceDomains("a.b.c.svc.cluster.local", "default"),
            std::vector<std::string>{"a.b.c.svc.cluster.local"});
}

TEST(CompilerTest, RouteTableFind) {
  const std::string text = kReviews + R"(---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wild}
spec:
  hosts: ["*.example.com", "*.api.example.com"]
  ports: [{number: 443, name: http}]
  resolution: STATIC
  endpoints: [{address: 10.1.0.1}]
)";
  // A client in the service's namespace gets the bare name too.
  LoadResult same = compileText(text, testBootstrap("productpage", "default"));
  ASSERT_TRUE(same.snapshot) << formatAll(same.errors);
  const RouteTable& t = same.snapshot->outbound_routes;
  for (const char* host : {"reviews.default.svc.cluster.local", "reviews.default.svc",
                           "reviews.default", "reviews", "REVIEWS.Default", "reviews.default."}) {
    const VirtualHost* vh = t.find(host, 0);
    ASSERT_TRUE(vh) << host;
    EXPECT_EQ(vh->name, "reviews.default.svc.cluster.local:9080") << host;
  }
  EXPECT_EQ(t.find("reviews", 9090)->port, 9090);
  EXPECT_EQ(t.find("reviews", 9080)->port, 9080);
  EXPECT_EQ(t.find("reviews", 1234)->port, 9080);  // unknown port: the first declared one
  EXPECT_FALSE(t.find("reviews.other", 0));
  EXPECT_FALSE(t.find("", 0));
  // Wildcards by suffix, longest first; the bare suffix does not match.
  ASSERT_TRUE(t.find("x.api.example.com", 0));
  EXPECT_EQ(t.find("x.api.example.com", 0)->service_host, "*.api.example.com");
  EXPECT_EQ(t.find("www.example.com", 0)->service_host, "*.example.com");
  EXPECT_EQ(t.find("A.B.Example.COM", 0)->service_host, "*.example.com");
  EXPECT_FALSE(t.find("example.com", 0));

  LoadResult other = compileText(text, testBootstrap("productpage", "shop"));
  ASSERT_TRUE(other.snapshot) << formatAll(other.errors);
  EXPECT_TRUE(other.snapshot->outbound_routes.find("reviews.default", 0));
  EXPECT_FALSE(other.snapshot->outbound_routes.find("reviews", 0));
}

TEST(CompilerTest, FullNamesWinOverAliases) {
  LoadResult r = compileText(R"(apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: a}
spec:
  hosts: [reviews.default.svc.cluster.local]
  ports: [{number: 80}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: b}
spec:
  hosts: [reviews.default]
  ports: [{number: 80}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.2}]
)");
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  EXPECT_EQ(r.snapshot->outbound_routes.find("reviews.default", 80)->service_host,
            "reviews.default");
  EXPECT_EQ(r.snapshot->outbound_routes.find("reviews", 80)->service_host,
            "reviews.default.svc.cluster.local");
}

TEST(CompilerTest, VirtualServiceRoutesInOrderWithWeightsAndHeaders) {
  LoadResult r = compileText(kReviews + R"(---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: jason
    match:
    - headers: {end-user: {exact: jason}}
    route:
    - destination: {host: reviews, subset: v2}
      headers: {request: {set: {x-dest: v2}}}
    headers:
      request: {add: {x-user: jason}, remove: [x-debug]}
      response: {set: {x-route: jason}}
  - name: api
    match:
    - uri: {prefix: /api}
    - uri: {exact: /health}
    rewrite: {uri: /v1/, authority: reviews-internal}
    route:
    - destination: {host: reviews, subset: v1}
  - name: shift
    route:
    - destination: {host: reviews, subset: v1}
      weight: 30
    - destination: {host: reviews, subset: v3}
      weight: 60
    - destination: {host: reviews, subset: v2}
      weight: 0
)");
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  // Only the TCP port of kReviews is worth a warning.
  EXPECT_EQ(r.errors.size(), 1u) << formatAll(r.errors);
  const Snapshot& s = *r.snapshot;
  const VirtualHost* vh = s.outbound_routes.find("reviews", 9080);
  ASSERT_TRUE(vh);
  ASSERT_EQ(vh->routes.size(), 3u);
  const Route& jason = vh->routes[0];
  EXPECT_EQ(jason.name, "reviews.default.jason");
  ASSERT_EQ(jason.matches.size(), 1u);
  EXPECT_EQ(jason.matches[0].headers.at(0).name, "end-user");
  ASSERT_EQ(jason.destinations.size(), 1u);
  EXPECT_EQ(s.clusters[jason.destinations[0].cluster].name,
            "outbound|9080|v2|reviews.default.svc.cluster.local");
  EXPECT_EQ(jason.destinations[0].weight, 100u);
  EXPECT_EQ(jason.total_weight, 100u);
  EXPECT_EQ(jason.destinations[0].request_headers.set.at(0).first, "x-dest");
  EXPECT_EQ(jason.request_headers.add.at(0).second, "jason");
  EXPECT_EQ(jason.request_headers.remove.at(0), "x-debug");
  EXPECT_EQ(jason.response_headers.set.at(0).first, "x-route");

  const Route& api = vh->routes[1];
  EXPECT_EQ(api.matches.size(), 2u);
  EXPECT_EQ(api.rewrite_uri, "/v1/");
  EXPECT_EQ(api.rewrite_authority, "reviews-internal");

  const Route& shift = vh->routes[2];
  EXPECT_TRUE(shift.matches.empty());
  ASSERT_EQ(shift.destinations.size(), 3u);
  EXPECT_EQ(shift.destinations[0].weight, 30u);
  EXPECT_EQ(shift.destinations[1].weight, 60u);
  EXPECT_EQ(shift.destinations[2].weight, 0u);
  EXPECT_EQ(shift.total_weight, 90u);
  EXPECT_EQ(s.clusters[shift.destinations[1].cluster].name,
            "outbound|9080|v3|reviews.default.svc.cluster.local");

  // The same VirtualService serves the other port; the destination without a port takes the
  // virtual host's port when the service has several.
  const VirtualHost* admin = s.outbound_routes.find("reviews", 9090);
  ASSERT_TRUE(admin);
  ASSERT_EQ(admin->routes.size(), 3u);
  EXPECT_EQ(s.clusters[admin->routes[0].destinations[0].cluster].name,
            "outbound|9090|v2|reviews.default.svc.cluster.local");
}

TEST(CompilerTest, MatchesResolvedPerProxy) {
  const std::string text = kReviews + R"(---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: from-productpage
    match: [{sourceLabels: {app: productpage}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: from-shop
    match: [{sourceNamespace: shop}]
    route: [{destination: {host: reviews, subset: v3}}]
  - name: admin-port
    match: [{port: 9090, uri: {prefix: /admin}}, {port: 9080, uri: {prefix: /x}}]
    route: [{destination: {host: reviews, subset: v1}}]
  - name: rest
    route: [{destination: {host: reviews, subset: v1}}]
)";
  LoadResult pp = compileText(text, testBootstrap("productpage", "default", "{app: productpage}"));
  ASSERT_TRUE(pp.snapshot) << formatAll(pp.errors);
  const VirtualHost* vh = pp.snapshot->outbound_routes.find("reviews", 9080);
  ASSERT_EQ(vh->routes.size(), 3u);
  EXPECT_EQ(vh->routes[0].name, "reviews.default.from-productpage");
  EXPECT_TRUE(vh->routes[0].matches.at(0).headers.empty());  // matches every request
  EXPECT_EQ(vh->routes[1].name, "reviews.default.admin-port");
  ASSERT_EQ(vh->routes[1].matches.size(), 1u);
  EXPECT_EQ(vh->routes[1].matches[0].uri->value, "/x");
  EXPECT_EQ(vh->routes[2].name, "reviews.default.rest");
  const VirtualHost* admin = pp.snapshot->outbound_routes.find("reviews", 9090);
  EXPECT_EQ(admin->routes[1].matches.at(0).uri->value, "/admin");

  LoadResult shop = compileText(text, testBootstrap("ratings", "shop", "{app: ratings}"));
  ASSERT_TRUE(shop.snapshot) << formatAll(shop.errors);
  vh = shop.snapshot->outbound_routes.find("reviews.default", 9080);
  ASSERT_EQ(vh->routes.size(), 3u);
  EXPECT_EQ(vh->routes[0].name, "reviews.default.from-shop");
}

TEST(CompilerTest, UnknownSubsetsAndHostsBecomeEmptyClusters) {
  LoadResult r = compileText(kReviews + R"(---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews, nowhere]
  http:
  - match: [{uri: {prefix: /a}}]
    route:
    - destination: {host: reviews, subset: v9}
  - match: [{uri: {prefix: /b}}]
    route:
    - destination: {host: ratings}
  - route:
    - destination: {host: reviews, port: {number: 7777}}
)");
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:38:20: warning: subset 'v9' of host 'reviews.default.svc.cluster.local' "
               "is not defined by a DestinationRule visible to this proxy: requests routed there "
               "get 503");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:41:20: warning: destination host 'ratings.default.svc.cluster.local' "
               "matches no ServiceEntry host: requests routed there get 503");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:43:20: warning: destination host 'reviews.default.svc.cluster.local' has "
               "no HTTP port 7777: requests routed there get 503");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:34:20: warning: VirtualService default/reviews: host "
               "'nowhere.default.svc.cluster.local' matches no ServiceEntry host and is ignored");
  // Reported once even though two virtual hosts (ports 9080, 9090) use the rules.
  EXPECT_EQ(testing::matching(r.errors, "subset 'v9'").size(), 1u);
  const Snapshot& s = *r.snapshot;
  const Cluster* v9 = findCluster(s, "outbound|9080|v9|reviews.default.svc.cluster.local");
  ASSERT_TRUE(v9);
  EXPECT_TRUE(v9->endpoints.empty());
  const Cluster* ratings = findCluster(s, "outbound|9080||ratings.default.svc.cluster.local");
  ASSERT_TRUE(ratings);
  EXPECT_TRUE(ratings->endpoints.empty());
  const Cluster* p7777 = findCluster(s, "outbound|7777||reviews.default.svc.cluster.local");
  ASSERT_TRUE(p7777);
  EXPECT_TRUE(p7777->endpoints.empty());
}

TEST(CompilerTest, ConflictsAreErrors) {
  LoadResult r = compileText(kReviews + R"(---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: b, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  http: [{route: [{destination: {host: reviews}}]}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-2}
spec:
  host: reviews.default.svc.cluster.local
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews-2}
spec:
  hosts: [reviews.default.svc.cluster.local]
  ports: [{number: 80}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.9}]
)");
  EXPECT_FALSE(r.snapshot);
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:41:11: VirtualService default/b declares host "
               "'reviews.default.svc.cluster.local' already declared by VirtualService default/a; "
               "several VirtualServices for one host conflict for sidecars (Istio IST0109)");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:48:9: DestinationRule default/reviews-2 has the same host "
               "'reviews.default.svc.cluster.local' as default/reviews (merging DestinationRules "
               "is not supported)");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:54:11: host 'reviews.default.svc.cluster.local' is already declared by "
               "ServiceEntry default/reviews");
}

TEST(CompilerTest, DestinationRuleLookupOrder) {
  const std::string text = kReviews + R"(---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews.default.svc.cluster.local
  trafficPolicy: {loadBalancer: {simple: RANDOM}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: istio-system}
spec:
  host: "*.svc.cluster.local"
  trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: elsewhere, namespace: other}
spec:
  host: reviews.default.svc.cluster.local
  trafficPolicy: {loadBalancer: {simple: RANDOM}}
)";
  auto lb = [&](const std::string& ns) {
    LoadResult r = compileText(text, testBootstrap("p", ns, "{}"));
    EXPECT_TRUE(r.snapshot) << formatAll(r.errors);
    if (!r.snapshot) return LbPolicy::kLeastRequest;
    return findCluster(*r.snapshot, "outbound|9080||reviews.default.svc.cluster.local")->lb;
  };
  EXPECT_EQ(lb("shop"), LbPolicy::kRandom);         // client namespace first
  EXPECT_EQ(lb("default"), LbPolicy::kRoundRobin);  // then the service's namespace
  EXPECT_EQ(lb("other"), LbPolicy::kRandom);
  EXPECT_EQ(lb("nobody"), LbPolicy::kRoundRobin);
}

TEST(CompilerTest, RootNamespaceDestinationRule) {
  LoadResult r = compileText(R"(apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings, namespace: shop}
spec:
  hosts: [ratings.shop.svc.cluster.local]
  ports: [{number: 9080}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: all, namespace: istio-system}
spec:
  host: "*.svc.cluster.local"
  trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: unused}
spec:
  host: details
)");
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  EXPECT_EQ(r.snapshot->clusters.at(0).lb, LbPolicy::kPassthrough);
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:21:9: warning: DestinationRule default/unused: host "
               "'details.default.svc.cluster.local' matches no ServiceEntry host; the rule is "
               "ignored");
}

TEST(CompilerTest, InboundCluster) {
  LoadResult r = compileText("", testBootstrap("reviews", "shop", "{app: reviews}"));
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  const Cluster& in = r.snapshot->inbound_app;
  EXPECT_EQ(in.name, "inbound|15006||");
  EXPECT_EQ(in.service_host, "reviews.shop.svc.cluster.local");
  EXPECT_EQ(in.service_name, "reviews");
  EXPECT_EQ(in.service_namespace, "shop");
  ASSERT_EQ(in.endpoints.size(), 1u);
  EXPECT_EQ(in.endpoints[0].address, "127.0.0.1");
  EXPECT_EQ(in.endpoints[0].port, 9080);
  EXPECT_TRUE(r.snapshot->clusters.empty());
  EXPECT_TRUE(r.snapshot->outbound_routes.virtual_hosts.empty());
}

TEST(CompilerTest, VersionInfoIsAHashOfTheInput) {
  Bootstrap b = testBootstrap();
  LoadResult a = buildSnapshot(b, {{"m.yaml", kReviews}}, 7);
  LoadResult a2 = buildSnapshot(b, {{"m.yaml", kReviews}}, 8);
  LoadResult c = buildSnapshot(b, {{"m.yaml", kReviews + "\n"}}, 7);
  ASSERT_TRUE(a.snapshot && a2.snapshot && c.snapshot);
  EXPECT_EQ(a.snapshot->version, 7u);
  EXPECT_EQ(a.snapshot->version_info.rfind("static-", 0), 0u);
  EXPECT_EQ(a.snapshot->version_info.size(), 7u + 16u);
  EXPECT_EQ(a.snapshot->version_info, a2.snapshot->version_info);
  EXPECT_NE(a.snapshot->version_info, c.snapshot->version_info);
}

TEST(CompilerTest, JsonForm) {
  LoadResult r = compileText(kReviews + R"(---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: jason
    match: [{headers: {end-user: {exact: jason}}, uri: {regex: "/r.*"}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 1}
    - {destination: {host: reviews, subset: v3}, weight: 3}
)");
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  auto j = nlohmann::json::parse(toJson(*r.snapshot));
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["node"]["id"], "productpage-0");
  EXPECT_EQ(j["node"]["service_fqdn"], "productpage.default.svc.cluster.local");
  EXPECT_EQ(j["node"]["spiffe_id"], "spiffe://cluster.local/ns/default/sa/default");
  EXPECT_EQ(j["bootstrap"]["inbound"], "127.0.0.1:15006");
  EXPECT_EQ(j["bootstrap"]["timeouts_ms"]["header_read"], 10000);
  const auto& vh = j["outbound_routes"]["virtual_hosts"][0];
  EXPECT_EQ(vh["name"], "reviews.default.svc.cluster.local:9080");
  EXPECT_EQ(vh["domains"], nlohmann::json({"reviews", "reviews.default", "reviews.default.svc",
                                           "reviews.default.svc.cluster.local"}));
  EXPECT_EQ(vh["routes"][0]["name"], "reviews.default.jason");
  EXPECT_EQ(vh["routes"][0]["match"][0]["uri"]["regex"], "/r.*");
  EXPECT_EQ(vh["routes"][0]["match"][0]["headers"][0]["name"], "end-user");
  EXPECT_EQ(vh["routes"][0]["match"][0]["headers"][0]["match"]["exact"], "jason");
  EXPECT_EQ(vh["routes"][0]["destinations"][0]["cluster"],
            "outbound|9080|v2|reviews.default.svc.cluster.local");
  EXPECT_EQ(vh["routes"][1]["total_weight"], 4);
  EXPECT_EQ(vh["routes"][1]["destinations"][1]["weight"], 3);
  EXPECT_TRUE(vh["routes"][1]["rewrite_uri_regex"].is_null());
  const auto& c = j["clusters"][1];
  EXPECT_EQ(c["name"], "outbound|9080|v1|reviews.default.svc.cluster.local");
  EXPECT_EQ(c["lb"], "ROUND_ROBIN");
  EXPECT_EQ(c["endpoints"][0]["address"], "10.0.0.1");
  EXPECT_EQ(c["endpoints"][0]["port"], 15406);
  EXPECT_EQ(j["inbound_app"]["name"], "inbound|15006||");
}

TEST(CompilerTest, UriRegexRewriteIsCompiledOnceAndDumped) {
  LoadResult r = compileText(kReviews + R"(---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - rewrite: {uriRegexRewrite: {match: "^/v1/(.*)$", rewrite: '/v2/\1'}}
    route: [{destination: {host: reviews}}]
)");
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  const VirtualHost* a = r.snapshot->outbound_routes.find("reviews", 9080);
  const VirtualHost* b = r.snapshot->outbound_routes.find("reviews", 9090);
  ASSERT_TRUE(a && b && a != b);
  const Route& ra = a->routes.at(0);
  const Route& rb = b->routes.at(0);
  ASSERT_TRUE(ra.rewrite_uri_regex && rb.rewrite_uri_regex);
  EXPECT_FALSE(ra.rewrite_uri);
  EXPECT_EQ(ra.rewrite_uri_regex->rewrite, "/v2/\\1");
  // One RE2, compiled when the resources were parsed, shared by every port's route.
  ASSERT_TRUE(ra.rewrite_uri_regex->regex);
  EXPECT_EQ(ra.rewrite_uri_regex->regex.get(), rb.rewrite_uri_regex->regex.get());

  auto j = nlohmann::json::parse(toJson(*r.snapshot));
  const auto& route = j["outbound_routes"]["virtual_hosts"][0]["routes"][0];
  EXPECT_EQ(route["rewrite_uri_regex"]["match"], "^/v1/(.*)$");
  EXPECT_EQ(route["rewrite_uri_regex"]["rewrite"], "/v2/\\1");
  EXPECT_TRUE(route["rewrite_uri"].is_null());
}

TEST(CompilerTest, RedirectDirectResponseCorsAndQueryParams) {
  LoadResult r = compileText(kReviews + R"(---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: moved
    match: [{uri: {prefix: /old}, queryParams: {v: {exact: "1"}, flag: {}}}]
    redirect: {uri: /new, derivePort: FROM_REQUEST_PORT}
    mirror: {host: reviews}
  - name: gone
    match: [{uri: {prefix: /gone}}]
    directResponse: {status: 410, body: {string: gone}}
  - name: main
    corsPolicy:
      allowOrigins: [{exact: "https://a.example"}]
      allowMethods: [GET]
      maxAge: 1m
      unmatchedPreflights: IGNORE
    route: [{destination: {host: reviews}}]
)");
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  const Snapshot& s = *r.snapshot;
  for (uint16_t port : {9080, 9090}) {
    const VirtualHost* vh = s.outbound_routes.find("reviews", port);
    ASSERT_TRUE(vh);
    ASSERT_EQ(vh->routes.size(), 3u);
    const Route& moved = vh->routes[0];
    ASSERT_TRUE(moved.redirect);
    EXPECT_TRUE(moved.destinations.empty());
    EXPECT_TRUE(moved.mirrors.empty());  // Envoy mirrors only forwarded requests
    EXPECT_EQ(moved.redirect->uri, "/new");
    EXPECT_EQ(moved.redirect->port, port);  // FROM_REQUEST_PORT: the route table's port
    EXPECT_EQ(moved.redirect->code, 301);
    ASSERT_EQ(moved.matches.at(0).query_params.size(), 2u);
    const Route& gone = vh->routes[1];
    ASSERT_TRUE(gone.direct_response);
    EXPECT_TRUE(gone.destinations.empty());
    EXPECT_EQ(gone.direct_response->status, 410);
    EXPECT_EQ(gone.direct_response->body, "gone");
    const Route& main = vh->routes[2];
    ASSERT_TRUE(main.cors);
    EXPECT_EQ(main.cors->max_age_s, 60u);
    EXPECT_FALSE(main.redirect || main.direct_response);
    EXPECT_EQ(main.destinations.size(), 1u);
  }
  auto j = nlohmann::json::parse(toJson(s));
  const auto& routes = j["outbound_routes"]["virtual_hosts"][0]["routes"];
  EXPECT_EQ(routes[0]["match"][0]["query_params"][0]["name"], "v");
  EXPECT_EQ(routes[0]["match"][0]["query_params"][0]["match"]["exact"], "1");
  EXPECT_EQ(routes[0]["match"][0]["query_params"][1]["match"]["exact"], "");
  EXPECT_EQ(routes[0]["redirect"]["uri"], "/new");
  EXPECT_EQ(routes[0]["redirect"]["port"], 9080);
  EXPECT_EQ(routes[0]["redirect"]["derive_port"], "FROM_REQUEST_PORT");
  EXPECT_EQ(routes[0]["redirect"]["code"], 301);
  EXPECT_TRUE(routes[0]["direct_response"].is_null());
  EXPECT_EQ(routes[1]["direct_response"]["status"], 410);
  EXPECT_EQ(routes[1]["direct_response"]["body"], "gone");
  EXPECT_TRUE(routes[1]["redirect"].is_null());
  EXPECT_EQ(routes[2]["cors"]["allow_origins"][0]["exact"], "https://a.example");
  EXPECT_EQ(routes[2]["cors"]["allow_methods"], nlohmann::json({"GET"}));
  EXPECT_EQ(routes[2]["cors"]["max_age_s"], 60);
  EXPECT_EQ(routes[2]["cors"]["allow_credentials"], false);
  EXPECT_EQ(routes[2]["cors"]["unmatched_preflights"], "IGNORE");
  EXPECT_TRUE(routes[1]["cors"].is_null());
}

// The example Bookinfo configuration loads without errors or warnings for every sidecar.
TEST(ExampleConfigTest, BookinfoLoads) {
  const std::string dir = testing::sourceDir() + "/configs/example/";
  struct Sidecar {
    const char* file;
    const char* fqdn;
    uint16_t inbound;
    uint16_t app;
  } sidecars[] = {
      {"bootstrap-productpage.yaml", "productpage.default.svc.cluster.local", 15106, 9081},
      {"bootstrap-details.yaml", "details.default.svc.cluster.local", 15206, 9082},
      {"bootstrap-ratings.yaml", "ratings.default.svc.cluster.local", 15306, 9083},
      {"bootstrap-reviews-v1.yaml", "reviews.default.svc.cluster.local", 15406, 9084},
      {"bootstrap-reviews-v2.yaml", "reviews.default.svc.cluster.local", 15506, 9085},
      {"bootstrap-reviews-v3.yaml", "reviews.default.svc.cluster.local", 15606, 9086},
  };
  for (const auto& sc : sidecars) {
    LoadResult r = loadStatic(dir + sc.file, 1);
    ASSERT_TRUE(r.snapshot) << sc.file << "\n" << formatAll(r.errors);
    EXPECT_TRUE(r.errors.empty()) << sc.file << "\n" << formatAll(r.errors);
    const Snapshot& s = *r.snapshot;
    EXPECT_EQ(s.inbound_app.service_host, sc.fqdn);
    EXPECT_EQ(s.bootstrap.inbound.port, sc.inbound);
    EXPECT_EQ(s.inbound_app.endpoints.at(0).port, sc.app);
    EXPECT_TRUE(s.bootstrap.access_log.enabled);
    // Every mesh endpoint is some sidecar's inbound listener.
    for (const auto& c : s.clusters) {
      for (const auto& e : c.endpoints) {
        EXPECT_EQ(e.port % 100, 6) << c.name;
      }
    }
  }
  LoadResult r = loadStatic(dir + "bootstrap-productpage.yaml", 1);
  ASSERT_TRUE(r.snapshot);
  const Snapshot& s = *r.snapshot;
  const VirtualHost* reviews = s.outbound_routes.find("reviews", 9080);
  ASSERT_TRUE(reviews);
  ASSERT_EQ(reviews->routes.size(), 2u);
  EXPECT_EQ(s.clusters[reviews->routes[0].destinations[0].cluster].name,
            "outbound|9080|v2|reviews.default.svc.cluster.local");
  const auto& v2 = s.clusters[reviews->routes[0].destinations[0].cluster];
  ASSERT_EQ(v2.endpoints.size(), 1u);
  EXPECT_EQ(v2.endpoints[0].port, 15506);
  EXPECT_EQ(reviews->routes[1].total_weight, 100u);
  EXPECT_EQ(s.outbound_routes.find("details", 9080)->routes.size(), 1u);
  EXPECT_EQ(s.outbound_routes.find("ratings.default.svc", 0)->routes.size(), 1u);
}

// Dynamic mode: a push compiled after the bootstrap's files, named in positions and the dump.
TEST(LoadWithBootstrapTest, CompilesThePushAfterTheFiles) {
  Bootstrap b = testBootstrap();
  auto push = std::make_shared<PushedConfig>();
  push->version = 42;
  push->built_from = {"ServiceEntry default/reviews@7"};
  push->setResources(kReviews);
  LoadResult r = loadWithBootstrap(b, 3, push);
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  EXPECT_EQ(r.snapshot->version, 3u);
  EXPECT_EQ(r.snapshot->version_info, "control-plane@v42");
  ASSERT_TRUE(r.snapshot->pushed);
  EXPECT_EQ(r.snapshot->pushed->version, 42u);
  EXPECT_TRUE(findCluster(*r.snapshot, "outbound|9080||reviews.default.svc.cluster.local"));
}

TEST(LoadWithBootstrapTest, ErrorsOfThePushNameIt) {
  Bootstrap b = testBootstrap();
  auto push = std::make_shared<PushedConfig>();
  push->version = 5;
  push->setResources(
      "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: x}\nspec:\n"
      "  hosts: [x.default.svc.cluster.local]\n  resolution: STATIC\n  ports:\n"
      "  - {number: 80, name: http}\n  retires: 3\n");
  LoadResult r = loadWithBootstrap(b, 1, push);
  EXPECT_FALSE(r.snapshot);
  EXPECT_EQ(testing::matching(r.errors, "control-plane@v5:9:3: ").size(), 1u)
      << formatAll(r.errors);
}

TEST(LoadWithBootstrapTest, WithoutPushIsStatic) {
  LoadResult r = loadWithBootstrap(testBootstrap(), 1, nullptr);
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  EXPECT_FALSE(r.snapshot->pushed);
  EXPECT_EQ(r.snapshot->version_info.rfind("static-", 0), 0u);
  auto j = nlohmann::json::parse(toJson(*r.snapshot));
  EXPECT_FALSE(j.contains("control_plane"));
}

TEST(LoadWithBootstrapTest, DumpShowsThePushedVersionButNotTheToken) {
  Bootstrap b = testBootstrap();
  ControlPlaneConfig cp;
  cp.url = "http://127.0.0.1:15010";
  cp.host = "127.0.0.1";
  cp.port = 15010;
  cp.token_file = "/etc/weft/token";
  cp.token = "very-secret";
  b.control_plane = cp;
  LoadResult before = loadWithBootstrap(b, 1, nullptr);
  ASSERT_TRUE(before.snapshot) << formatAll(before.errors);
  auto j = nlohmann::json::parse(toJson(*before.snapshot));
  EXPECT_TRUE(j["control_plane"]["version"].is_null());
  auto push = std::make_shared<PushedConfig>();
  push->version = 9;
  push->built_from = {"a", "b"};
  push->setResources(kReviews);
  LoadResult after = loadWithBootstrap(b, 2, push);
  ASSERT_TRUE(after.snapshot) << formatAll(after.errors);
  std::string text = toJson(*after.snapshot);
  EXPECT_EQ(text.find("very-secret"), std::string::npos);
  j = nlohmann::json::parse(text);
  EXPECT_EQ(j["control_plane"]["url"], "http://127.0.0.1:15010");
  EXPECT_EQ(j["control_plane"]["version"], 9);
  EXPECT_EQ(j["control_plane"]["source"], "control-plane@v9");
  EXPECT_EQ(j["control_plane"]["built_from"], (nlohmann::json{"a", "b"}));
  EXPECT_EQ(j["bootstrap"]["control_plane"]["token_file"], "/etc/weft/token");
}

TEST(LoadStaticTest, ReportsBootstrapAndResourceErrors) {
  LoadResult r = loadStatic("/nonexistent/bootstrap.yaml", 1);
  EXPECT_FALSE(r.snapshot);
  EXPECT_ENTRY(r.errors, "/nonexistent/bootstrap.yaml: cannot read the bootstrap file");
}

}  // namespace
}  // namespace weft::mesh

namespace weft::mesh {
namespace {

TEST(CompilerTest, JsonSurvivesInvalidUtf8) {
  LoadResult r = testing::compileText(
      "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: a}\n"
      "spec:\n  hosts: [a.example.com]\n  ports: [{number: 80}]\n  resolution: STATIC\n"
      "  endpoints: [{address: 10.0.0.1, labels: {k: \"a\xc3\x28\"}}]\n");
  ASSERT_TRUE(r.snapshot) << testing::formatAll(r.errors);
  std::string json;
  EXPECT_NO_THROW(json = toJson(*r.snapshot));
  EXPECT_NE(json.find("\xEF\xBF\xBD"), std::string::npos);  // U+FFFD
}

}  // namespace
}  // namespace weft::mesh
