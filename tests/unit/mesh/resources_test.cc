// Istio resource parsing: the typed model, short names, and positioned errors and warnings.
#include "mesh/resources.h"

#include <gtest/gtest.h>

#include "mesh_test_util.h"

namespace weft::mesh {
namespace {

using testing::formatAll;

ParseResult parse(const std::string& text) {
  return parseResources({{"mesh.yaml", text}});
}

TEST(ResourcesTest, ParsesServiceEntry) {
  ParseResult r = parse(R"(apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [Reviews.Shop.svc.cluster.local, reviews.example.com]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: 9080, name: http, protocol: http, targetPort: 9999}
  - {number: 9090, name: admin}
  endpoints:
  - address: 10.0.0.1
    ports: {http: 15406}
    labels: {app: reviews, version: v1}
    weight: 3
    serviceAccount: bookinfo-reviews
  - {address: "fe80::1"}
)");
  ASSERT_TRUE(r.errors.empty()) << formatAll(r.errors);
  ASSERT_EQ(r.resources.service_entries.size(), 1u);
  const ServiceEntry& se = r.resources.service_entries[0];
  EXPECT_EQ(se.meta.name, "reviews");
  EXPECT_EQ(se.meta.namespace_name, "shop");
  EXPECT_EQ(se.meta.pos.line, 1);
  EXPECT_EQ(se.hosts,
            (std::vector<std::string>{"reviews.shop.svc.cluster.local", "reviews.example.com"}));
  EXPECT_TRUE(se.mesh_internal);
  ASSERT_EQ(se.ports.size(), 2u);
  EXPECT_EQ(se.ports[0].number, 9080);
  EXPECT_EQ(se.ports[0].protocol, "HTTP");
  EXPECT_EQ(se.ports[0].target_port, 9999);
  EXPECT_EQ(se.ports[1].name, "admin");
  EXPECT_EQ(se.ports[1].protocol, "HTTP");  // absent protocol: HTTP
  EXPECT_EQ(se.ports[1].target_port, 0);
  ASSERT_EQ(se.endpoints.size(), 2u);
  EXPECT_EQ(se.endpoints[0].address, "10.0.0.1");
  EXPECT_EQ(se.endpoints[0].ports.at("http"), 15406);
  EXPECT_EQ(se.endpoints[0].labels.at("version"), "v1");
  EXPECT_EQ(se.endpoints[0].weight, 3u);
  EXPECT_EQ(se.endpoints[0].service_account, "bookinfo-reviews");
  EXPECT_EQ(se.endpoints[1].address, "fe80::1");
  EXPECT_EQ(se.endpoints[1].weight, 1u);
}

TEST(ResourcesTest, ExpandHost) {
  EXPECT_EQ(expandHost("reviews", "shop"), "reviews.shop.svc.cluster.local");
  EXPECT_EQ(expandHost("Reviews", "shop"), "reviews.shop.svc.cluster.local");
  EXPECT_EQ(expandHost("reviews.default", "shop"), "reviews.default");
  EXPECT_EQ(expandHost("reviews.default.svc.cluster.local", "shop"),
            "reviews.default.svc.cluster.local");
  EXPECT_EQ(expandHost("*", "shop"), "*");
  EXPECT_EQ(expandHost("*.example.com", "shop"), "*.example.com");
  EXPECT_EQ(expandHost("10.1.2.3", "shop"), "10.1.2.3");
  EXPECT_EQ(expandHost("fe80::1", "shop"), "fe80::1");
}

TEST(ResourcesTest, HostCovers) {
  EXPECT_TRUE(hostCovers("*", "anything.example.com"));
  EXPECT_TRUE(hostCovers("*.example.com", "a.example.com"));
  EXPECT_TRUE(hostCovers("*.example.com", "a.b.example.com"));
  EXPECT_FALSE(hostCovers("*.example.com", "example.com"));
  EXPECT_FALSE(hostCovers("*.example.com", "aexample.com"));
  EXPECT_TRUE(hostCovers("a.example.com", "a.example.com"));
  EXPECT_FALSE(hostCovers("a.example.com", "b.example.com"));
}

TEST(ResourcesTest, ShortNamesUseTheRuleNamespace) {
  ParseResult r = parse(R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews, reviews.default, "*.example.com"]
  http:
  - route:
    - destination: {host: ratings}
    - destination: {host: ratings.default.svc.cluster.local}
      weight: 10
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews2}
spec:
  host: reviews
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: inventory, namespace: shop}
spec:
  hosts: [inventory]
  ports: [{number: 80}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
)");
  ASSERT_FALSE(hasErrors(r.errors)) << formatAll(r.errors);
  const VirtualService& vs = r.resources.virtual_services.at(0);
  EXPECT_EQ(vs.hosts, (std::vector<std::string>{"reviews.shop.svc.cluster.local", "reviews.default",
                                                "*.example.com"}));
  ASSERT_EQ(vs.http.size(), 1u);
  EXPECT_EQ(vs.http[0].route[0].host, "ratings.shop.svc.cluster.local");
  EXPECT_EQ(vs.http[0].route[1].host, "ratings.default.svc.cluster.local");
  EXPECT_FALSE(vs.http[0].route[0].weight);
  EXPECT_EQ(vs.http[0].route[1].weight, 10u);
  EXPECT_EQ(r.resources.destination_rules.at(0).host, "reviews.shop.svc.cluster.local");
  EXPECT_EQ(r.resources.destination_rules.at(1).meta.namespace_name, "default");
  EXPECT_EQ(r.resources.destination_rules.at(1).host, "reviews.default.svc.cluster.local");
  EXPECT_EQ(r.resources.service_entries.at(0).hosts.at(0), "inventory");  // never expanded
}

TEST(ResourcesTest, UnsupportedFieldsWarnUnknownFieldsFail) {
  ParseResult r = parse(R"(
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  exportTo: ["."]
  http:
  - name: main
    match:
    - uri: {prefix: /api}
      queryParams: {v: {exact: "1"}}
    timeout: 2s
    retries: {attempts: 3}
    fault: {abort: {httpStatus: 500}}
    mirror: {host: reviews}
    corsPolicy: {allowOrigins: [{exact: x}]}
    retires: 3
    route:
    - destination: {host: reviews}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    connectionPool: {tcp: {maxConnections: 1}}
    outlierDetection: {consecutive5xxErrors: 1}
    tls: {mode: ISTIO_MUTUAL}
    loadBalancer: {simple: RANDOM, localityLbSetting: {enabled: true}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  addresses: [10.0.0.1]
  ports: [{number: 9080, name: http}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, locality: us/east, network: n1}
)");
  auto w = [](int line, int col, const std::string& field) {
    return "mesh.yaml:" + std::to_string(line) + ":" + std::to_string(col) + ": warning: field '" +
           field + "' is not supported yet and is ignored";
  };
  // The text starts with a newline: line numbers are one more than in the raw document.
  EXPECT_ENTRY(r.errors, w(7, 3, "exportTo"));
  EXPECT_ENTRY(r.errors, w(12, 7, "queryParams"));
  // timeout, retries, fault and outlierDetection are supported now; mirror and
  // connectionPool.tcp.maxConnections are validated, and warned about as not enforced yet.
  const std::string later = "' is validated but not enforced yet: it has no effect on traffic";
  EXPECT_ENTRY(r.errors, "mesh.yaml:16:13: warning: field 'mirror" + later);
  EXPECT_ENTRY(r.errors, "mesh.yaml:28:44: warning: field 'maxConnections" + later);
  EXPECT_ENTRY(r.errors, w(17, 5, "corsPolicy"));
  EXPECT_ENTRY(r.errors, "mesh.yaml:18:5: unknown field 'retires' in an http route");
  EXPECT_ENTRY(r.errors, w(30, 5, "tls"));
  EXPECT_ENTRY(r.errors, w(31, 36, "localityLbSetting"));
  EXPECT_ENTRY(r.errors, w(38, 3, "addresses"));
  EXPECT_ENTRY(r.errors, w(42, 26, "locality"));
  EXPECT_ENTRY(r.errors, w(42, 45, "network"));
  EXPECT_EQ(testing::matching(r.errors, "warning:").size(), 10u) << formatAll(r.errors);
  EXPECT_EQ(r.errors.size(), 11u) << formatAll(r.errors);
  // The supported parts are still read.
  ASSERT_EQ(r.resources.destination_rules.size(), 1u);
  const auto& policy = r.resources.destination_rules[0].policy;
  ASSERT_TRUE(policy && policy->components.load_balancer);
  EXPECT_EQ(policy->components.load_balancer->simple, LbPolicy::kRandom);
  EXPECT_EQ(policy->components.connection_pool->max_connections, 1u);
  EXPECT_TRUE(policy->components.outlier->enabled);
  EXPECT_EQ(policy->components.outlier->consecutive_5xx, 1u);
}

TEST(ResourcesTest, ErrorsAcrossDocumentsAreCollected) {
  ParseResult r = parse(R"(
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec: {}
---
---
apiVersion: networking.istio.io/v2
kind: ServiceEntry
metadata: {name: a}
spec:
  hosts: [a.example.com]
  ports: [{number: 80, protocol: TCP}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: b}
spec:
  hosts: [b.example.com]
  ports: [{number: 80}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: c}
spec:
  hosts: [c.example.com]
  http:
  - match:
    - uri: {regex: "/api/(v1"}
      headers: {end-user: {exact: jason, prefix: j}}
    route:
    - destination: {host: c.example.com}
      weight: -1
  - route:
    - destination: {host: c.example.com, subset: v1}
    - destination: {host: c.example.com, subset: v2}
  - match: [{method: {exact: GET}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: c
spec:
  hosts: [c.example.com]
)");
  // Line numbers are one more than in the raw document (the text starts with a newline).
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:3:7: warning: kind 'Gateway' (networking.istio.io/v1) is not supported "
               "yet; the resource is skipped");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:8:13: apiVersion 'networking.istio.io/v2' is not supported for "
               "ServiceEntry; use networking.istio.io/v1, v1beta1 or v1alpha3");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:13:34: warning: protocol TCP is not supported yet; this port is ignored");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:12:3: 'resolution' is absent, so it is NONE, which is not supported "
               "yet; set resolution: STATIC and list the endpoints");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:12:3: warning: ServiceEntry default/a has no endpoints: requests to it "
               "get 503");
  EXPECT_ENTRY(r.errors, "mesh.yaml:21:15: resolution DNS is not supported yet (only STATIC)");
  auto regex = testing::matching(r.errors, "mesh.yaml:30:20: invalid regex '/api/(v1': ");
  EXPECT_EQ(regex.size(), 1u) << formatAll(r.errors);
  EXPECT_ENTRY(r.errors, "mesh.yaml:31:27: 'end-user' must have only one of exact, prefix, regex");
  EXPECT_ENTRY(r.errors, "mesh.yaml:34:15: 'weight' must be a decimal integer, not '-1'");
  EXPECT_ENTRY(r.errors, "mesh.yaml:36:5: the destinations' weights add up to 0");
  EXPECT_ENTRY(r.errors, "mesh.yaml:38:5: an http route needs 'route'");
  EXPECT_ENTRY(r.errors, "mesh.yaml:40:1: duplicate VirtualService default/c");
  EXPECT_EQ(r.errors.size(), 13u) << formatAll(r.errors);
}

TEST(ResourcesTest, RegexMustCompileAndMatchesWholeValue) {
  ParseResult r = parse(R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [r]
  http:
  - match:
    - uri: {regex: "/api/v[0-9]+"}
      headers: {user-agent: {regex: "(?i).*firefox.*"}}
    - uri: {regex: "[z-a]"}
    route: [{destination: {host: r}}]
)");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:10:20: invalid regex '[z-a]': invalid character class range: z-a");
  ASSERT_EQ(r.resources.virtual_services.size(), 1u);
  ASSERT_EQ(r.resources.virtual_services[0].http.size(), 1u);
  const auto& m = r.resources.virtual_services[0].http[0].matches.at(0).match;
  ASSERT_TRUE(m.uri);
  EXPECT_TRUE(m.uri->matches("/api/v12"));
  EXPECT_FALSE(m.uri->matches("/api/v12/x"));  // whole value
  EXPECT_FALSE(m.uri->matches("x/api/v1"));
  EXPECT_TRUE(m.headers.at(0).match.matches("Mozilla Firefox 1"));
}

TEST(ResourcesTest, HttpRouteFields) {
  ParseResult r = parse(R"(apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  gateways: [mesh]
  http:
  - name: jason
    match:
    - name: by-user
      uri: {prefix: /Reviews}
      ignoreUriCase: true
      method: {exact: GET}
      headers:
        End-User: {exact: jason}
        x-present: {}
        x-null:
      withoutHeaders:
        x-canary: {prefix: "1"}
      port: 9080
      sourceLabels: {app: productpage}
      sourceNamespace: default
      gateways: [mesh]
    rewrite: {uri: /v2/, authority: reviews-v2}
    headers:
      request:
        set: {X-Route: jason}
        add: {x-tag: a}
        remove: [x-debug]
      response:
        set: {x-served-by: v2}
    route:
    - destination: {host: reviews, subset: v2, port: {number: 9080}}
      weight: 80
      headers:
        response: {add: {x-dest: v2}}
    - destination: {host: reviews, subset: v3}
      weight: 20
)");
  ASSERT_TRUE(r.errors.empty()) << formatAll(r.errors);
  const HttpRoute& h = r.resources.virtual_services.at(0).http.at(0);
  EXPECT_EQ(h.name, "jason");
  ASSERT_EQ(h.matches.size(), 1u);
  const HttpMatch& m = h.matches[0];
  EXPECT_EQ(m.match.name, "by-user");
  ASSERT_TRUE(m.match.uri);
  EXPECT_EQ(m.match.uri->kind, StringMatch::Kind::kPrefix);
  EXPECT_TRUE(m.match.uri->ignore_case);
  EXPECT_TRUE(m.match.uri->matches("/reviews/1"));
  EXPECT_TRUE(m.match.method->matches("GET"));
  EXPECT_FALSE(m.match.method->matches("get"));
  ASSERT_EQ(m.match.headers.size(), 4u);
  EXPECT_EQ(m.match.headers[0].name, "end-user");
  EXPECT_EQ(m.match.headers[1].match.kind, StringMatch::Kind::kPresent);
  EXPECT_EQ(m.match.headers[2].match.kind, StringMatch::Kind::kPresent);
  EXPECT_TRUE(m.match.headers[3].invert);
  EXPECT_EQ(m.port, 9080);
  EXPECT_EQ(m.source_labels.at("app"), "productpage");
  EXPECT_EQ(m.source_namespace, "default");
  EXPECT_EQ(h.rewrite_uri, "/v2/");
  EXPECT_EQ(h.rewrite_authority, "reviews-v2");
  ASSERT_EQ(h.request_headers.set.size(), 1u);
  EXPECT_EQ(h.request_headers.set[0], (std::pair<std::string, std::string>{"x-route", "jason"}));
  EXPECT_EQ(h.request_headers.add[0].first, "x-tag");
  EXPECT_EQ(h.request_headers.remove, std::vector<std::string>{"x-debug"});
  EXPECT_EQ(h.response_headers.set[0].second, "v2");
  ASSERT_EQ(h.route.size(), 2u);
  EXPECT_EQ(h.route[0].port, 9080);
  EXPECT_EQ(h.route[0].subset, "v2");
  EXPECT_EQ(h.route[0].weight, 80u);
  EXPECT_EQ(h.route[0].response_headers.add[0].second, "v2");
  EXPECT_EQ(h.route[1].port, 0);
}

TEST(ResourcesTest, GatewaysWithoutMeshAreIgnored) {
  ParseResult r = parse(R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [r]
  gateways: [istio-system/ingress]
  http:
  - route: [{destination: {host: r}}]
)");
  EXPECT_FALSE(hasErrors(r.errors));
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:6:13: warning: gateway 'istio-system/ingress': gateways other than "
               "'mesh' are not supported yet and are ignored");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:6:13: warning: VirtualService default/r does not apply to sidecars "
               "('mesh' is not in its gateways) and is ignored");
  EXPECT_TRUE(r.resources.virtual_services.empty());
}

TEST(ResourcesTest, RedirectOnlyRuleIsSkippedWithWarnings) {
  ParseResult r = parse(R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [r]
  http:
  - redirect: {uri: /new}
  - route: [{destination: {host: r}}]
)");
  EXPECT_FALSE(hasErrors(r.errors)) << formatAll(r.errors);
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:7:5: warning: field 'redirect' is not supported yet and is ignored");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:7:5: warning: this http route has no 'route' Weft can use and is "
               "skipped");
  EXPECT_EQ(r.resources.virtual_services.at(0).http.size(), 1u);
}

TEST(ResourcesTest, StructuralErrors) {
  ParseResult r = parse(R"(apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: Bad_Name, namespace: x}
spec:
  hosts: [ok.example.com, "bad host", ok.example.com]
  hosts: [again]
  ports:
  - {number: 80, name: http}
  - {number: 80, name: http2}
  - {number: 81, name: http}
  - {name: x}
  resolution: STATIC
  location: OUTSIDE
  endpoints:
  - {address: example.com}
  - {address: "unix:///sock"}
  - {address: 10.0.0.1, ports: {http: 0}, weight: 1.5}
---
kind: DestinationRule
metadata: {namespace: default}
spec:
  host: r
  subsets:
  - {name: v1}
  - {name: v1}
  - {name: V2}
  trafficPolicy: {loadBalancer: {simple: FASTEST}}
)");
  EXPECT_ENTRY(r.errors, "mesh.yaml:3:18: 'name' must be a lower-case DNS name, not 'Bad_Name'");
  EXPECT_ENTRY(r.errors, "mesh.yaml:6:3: duplicate key 'hosts' in ServiceEntry spec");
  EXPECT_ENTRY(r.errors, "mesh.yaml:5:27: invalid ServiceEntry host 'bad host'");
  EXPECT_ENTRY(r.errors, "mesh.yaml:5:39: duplicate host 'ok.example.com'");
  EXPECT_ENTRY(r.errors, "mesh.yaml:9:5: duplicate port number 80");
  EXPECT_ENTRY(r.errors, "mesh.yaml:10:5: duplicate port name 'http'");
  EXPECT_ENTRY(r.errors, "mesh.yaml:11:5: missing required field 'number' in a ServiceEntry port");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:13:13: 'location' must be MESH_INTERNAL or MESH_EXTERNAL, not 'OUTSIDE'");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:15:15: endpoint 'address' must be a numeric IP address with resolution "
               "STATIC, not 'example.com'");
  EXPECT_ENTRY(r.errors, "mesh.yaml:16:15: unix socket endpoints are not supported yet");
  EXPECT_ENTRY(r.errors, "mesh.yaml:17:39: 'http' must be between 1 and 65535, not 0");
  EXPECT_ENTRY(r.errors, "mesh.yaml:17:51: 'weight' must be a decimal integer, not '1.5'");
  EXPECT_ENTRY(r.errors, "mesh.yaml:19:1: missing required field 'apiVersion' in a resource");
  EXPECT_ENTRY(r.errors, "mesh.yaml:20:11: missing required field 'name' in 'metadata'");
  EXPECT_ENTRY(r.errors, "mesh.yaml:25:5: duplicate subset 'v1'");
  EXPECT_ENTRY(r.errors, "mesh.yaml:26:12: subset 'name' must be a DNS label, not 'V2'");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:27:42: 'simple' must be one of ROUND_ROBIN, LEAST_REQUEST, RANDOM, "
               "PASSTHROUGH, not 'FASTEST'");
  EXPECT_EQ(r.errors.size(), 17u) << formatAll(r.errors);
}

TEST(ResourcesTest, SyntaxErrorsAndNullDocuments) {
  ParseResult r = parseResources({{"a.yaml", "---\n---\n# only comments\n---\n"},
                                  {"b.yaml", "apiVersion: x\nkind: [\n"},
                                  {"c.yaml", "just a string\n"}});
  ASSERT_EQ(r.errors.size(), 2u) << formatAll(r.errors);
  EXPECT_EQ(r.errors[0].file, "b.yaml");
  EXPECT_GT(r.errors[0].line, 0);
  EXPECT_ENTRY(r.errors, "c.yaml:1:1: a resource must be a map, not a scalar");
}

TEST(ResourcesTest, DuplicateResourcesAcrossFiles) {
  const std::string se = R"(apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: r, namespace: shop}
spec: {host: r}
)";
  ParseResult r = parseResources({{"a.yaml", se}, {"b.yaml", se}});
  EXPECT_ENTRY(r.errors, "b.yaml:1:1: duplicate DestinationRule shop/r");
  EXPECT_EQ(r.resources.destination_rules.size(), 1u);
}

TEST(StringMatchTest, Matches) {
  StringMatch exact{StringMatch::Kind::kExact, "/a", false, nullptr};
  EXPECT_TRUE(exact.matches("/a"));
  EXPECT_FALSE(exact.matches("/A"));
  EXPECT_FALSE(exact.matches("/a/"));
  exact.ignore_case = true;
  EXPECT_TRUE(exact.matches("/A"));
  StringMatch prefix{StringMatch::Kind::kPrefix, "/api", false, nullptr};
  EXPECT_TRUE(prefix.matches("/api"));
  EXPECT_TRUE(prefix.matches("/api/v1"));
  EXPECT_FALSE(prefix.matches("/ap"));
  EXPECT_FALSE(prefix.matches("/API/v1"));
  prefix.ignore_case = true;
  EXPECT_TRUE(prefix.matches("/API/v1"));
  StringMatch present{StringMatch::Kind::kPresent, "", false, nullptr};
  EXPECT_TRUE(present.matches(""));
  StringMatch regex{StringMatch::Kind::kRegex, "a+", false, nullptr};
  EXPECT_FALSE(regex.matches("aaa"));  // not compiled: never matches
}

}  // namespace
}  // namespace weft::mesh

namespace weft::mesh {
namespace {

// yaml-cpp 0.7 loops forever on these in LoadAll; the loader must report them instead.
TEST(ResourcesTest, InputsTheYamlLibraryCannotParse) {
  for (const char* text : {",", "a: b\n---\n,\n", "]", "kind: x\n}"}) {
    ParseResult r = parseResources({{"mesh.yaml", text}});
    ASSERT_FALSE(r.errors.empty()) << text;
    EXPECT_TRUE(hasErrors(r.errors)) << text;
    EXPECT_GT(r.errors[0].line, 0) << text;
  }
  ParseResult r = parseResources({{"mesh.yaml", "a: b\n---\n,\n"}});
  EXPECT_ENTRY(r.errors, "mesh.yaml:3:1: unexpected ',': the YAML parser cannot continue here");
  BootstrapResult b = parseBootstrap(",", "b.yaml");
  EXPECT_ENTRY(b.errors, "b.yaml:1:1: unexpected ',': the YAML parser cannot continue here");
}

}  // namespace
}  // namespace weft::mesh
