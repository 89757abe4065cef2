// Istio resource parsing: the typed model, short names, and positioned errors and warnings.
#include "mesh/resources.h"

#include <gtest/gtest.h>
#include <re2/re2.h>

#include <memory>
#include <string>
#include <vector>

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
  // timeout, retries, fault, mirror, connectionPool and outlierDetection are supported now.
  EXPECT_EQ(testing::matching(r.errors, "maxConnections").size(), 0u) << formatAll(r.errors);
  EXPECT_ENTRY(r.errors, "mesh.yaml:18:5: unknown field 'retires' in an http route");
  // trafficPolicy.tls is supported now (tls: {mode: ISTIO_MUTUAL} at 30:5).
  EXPECT_EQ(testing::matching(r.errors, "'tls'").size(), 0u) << formatAll(r.errors);
  EXPECT_ENTRY(r.errors, w(31, 36, "localityLbSetting"));
  EXPECT_ENTRY(r.errors, w(38, 3, "addresses"));
  EXPECT_ENTRY(r.errors, w(42, 26, "locality"));
  EXPECT_ENTRY(r.errors, w(42, 45, "network"));
  // queryParams and corsPolicy are supported now.
  EXPECT_EQ(testing::matching(r.errors, "queryParams").size(), 0u) << formatAll(r.errors);
  EXPECT_EQ(testing::matching(r.errors, "corsPolicy").size(), 0u) << formatAll(r.errors);
  EXPECT_EQ(testing::matching(r.errors, "warning:").size(), 5u) << formatAll(r.errors);
  EXPECT_EQ(r.errors.size(), 6u) << formatAll(r.errors);
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
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:38:5: an http route needs 'route', 'redirect' or "
               "'directResponse'");
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

TEST(ResourcesTest, RedirectAndDirectResponseRules) {
  ParseResult r = parse(R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [r]
  http:
  - redirect: {uri: /new}
  - redirect: {authority: b.example, port: 8443, scheme: https, redirectCode: 308}
  - redirect: {uri: /x, derivePort: FROM_REQUEST_PORT}
  - directResponse: {status: 503, body: {string: "unavailable"}}
  - directResponse: {status: 200, body: {bytes: "aGVsbG8="}}
  - directResponse: {status: 204}
  - route: [{destination: {host: r}}]
)");
  EXPECT_TRUE(r.errors.empty()) << formatAll(r.errors);
  const auto& http = r.resources.virtual_services.at(0).http;
  ASSERT_EQ(http.size(), 7u);
  ASSERT_TRUE(http[0].redirect);
  EXPECT_EQ(http[0].redirect->uri, "/new");
  EXPECT_EQ(http[0].redirect->code, 301);  // Istio's default
  EXPECT_TRUE(http[0].route.empty());
  ASSERT_TRUE(http[1].redirect);
  EXPECT_EQ(http[1].redirect->authority, "b.example");
  EXPECT_EQ(http[1].redirect->port, 8443);
  EXPECT_EQ(http[1].redirect->scheme, "https");
  EXPECT_EQ(http[1].redirect->code, 308);
  EXPECT_EQ(http[2].redirect->derive_port, RedirectAction::DerivePort::kFromRequestPort);
  ASSERT_TRUE(http[3].direct_response);
  EXPECT_EQ(http[3].direct_response->status, 503);
  EXPECT_EQ(http[3].direct_response->body, "unavailable");
  EXPECT_EQ(http[4].direct_response->body, "hello");
  EXPECT_EQ(http[5].direct_response->status, 204);
  EXPECT_EQ(http[5].direct_response->body, "");
  EXPECT_FALSE(http[6].redirect || http[6].direct_response);
}

TEST(ResourcesTest, RedirectAndDirectResponseValidation) {
  ParseResult r = parse(R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [r]
  http:
  - redirect: {uri: /a, redirectCode: 200}
  - redirect: {uri: /a, redirectCode: 304}
  - redirect: {redirectCode: 302}
  - redirect: {uri: /a, scheme: ftp}
  - redirect: {uri: /a, port: 1, derivePort: FROM_REQUEST_PORT}
  - redirect: {uri: /a, derivePort: SOMETIMES}
  - redirect: {uri: /a}
    directResponse: {status: 200}
  - redirect: {uri: /a}
    route: [{destination: {host: r}}]
    rewrite: {uri: /b}
  - directResponse: {status: 600}
  - directResponse: {body: {string: x}}
  - directResponse: {status: 200, body: {bytes: "!!"}}
  - directResponse: {status: 200, body: {string: a, bytes: YQ==}}
  - delegate: {name: other}
)");
  EXPECT_ENTRY(r.errors, "mesh.yaml:7:39: 200 is not a valid redirect code, must be 3xx");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:8:39: redirect code 304 is not supported (Istio/Envoy: 301, "
               "302, 303, 307 or 308)");
  EXPECT_ENTRY(r.errors, "mesh.yaml:9:15: redirect must specify uri, authority, scheme, or port");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:10:33: redirect scheme must be \"http\" or \"https\", not 'ftp'");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:11:46: 'redirect' may have only one of 'port' and 'derivePort'");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:12:37: derivePort must be FROM_PROTOCOL_DEFAULT or "
               "FROM_REQUEST_PORT, not 'SOMETIMES'");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:14:21: an http route cannot have both 'redirect' and 'directResponse'");
  EXPECT_ENTRY(r.errors, "mesh.yaml:16:12: an http route cannot have both 'redirect' and 'route'");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:17:14: an http route cannot have both 'redirect' and 'rewrite'");
  EXPECT_ENTRY(r.errors, "mesh.yaml:18:30: HTTP status 600 is not in range 200-599");
  EXPECT_ENTRY(r.errors, "mesh.yaml:19:21: missing required field 'status' in 'directResponse'");
  EXPECT_ENTRY(r.errors, "mesh.yaml:20:49: 'bytes' must be base64, not '!!'");
  EXPECT_ENTRY(r.errors, "mesh.yaml:21:60: 'body' must have only one of string, bytes");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:22:5: warning: field 'delegate' is not supported yet and is ignored");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:22:5: warning: this http route has no 'route' Weft can use and is "
               "skipped");
  EXPECT_EQ(r.errors.size(), 15u) << formatAll(r.errors);
  EXPECT_TRUE(r.resources.virtual_services.at(0).http.empty());
}

TEST(ResourcesTest, UriRegexRewrite) {
  ParseResult r = parse(R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [r]
  http:
  - match: [{uri: {prefix: /service/}}]
    rewrite:
      uriRegexRewrite:
        match: ^/service/([^/]+)(/.*)$
        rewrite: \2/instance/\1
      authority: r-internal
    route: [{destination: {host: r}}]
  - rewrite: {uri: "", uriRegexRewrite: {match: /v1/, rewrite: /v2/}}
    route: [{destination: {host: r}}]
  - rewrite: {uri: ""}
    route: [{destination: {host: r}}]
)");
  ASSERT_TRUE(r.errors.empty()) << formatAll(r.errors);
  const auto& http = r.resources.virtual_services.at(0).http;
  ASSERT_EQ(http.size(), 3u);
  EXPECT_FALSE(http[2].rewrite_uri) << "an empty uri rewrite keeps the path, as in Istio";
  ASSERT_TRUE(http[0].rewrite_uri_regex);
  EXPECT_EQ(http[0].rewrite_uri_regex->match, "^/service/([^/]+)(/.*)$");
  EXPECT_EQ(http[0].rewrite_uri_regex->rewrite, "\\2/instance/\\1");
  ASSERT_TRUE(http[0].rewrite_uri_regex->regex);
  EXPECT_EQ(http[0].rewrite_uri_regex->regex->NumberOfCapturingGroups(), 2);
  EXPECT_FALSE(http[0].rewrite_uri);
  EXPECT_EQ(http[0].rewrite_authority, "r-internal");
  // An empty uri is unset in Istio, so it may sit beside uriRegexRewrite.
  ASSERT_TRUE(http[1].rewrite_uri_regex);
  EXPECT_EQ(http[1].rewrite_uri_regex->rewrite, "/v2/");
  EXPECT_FALSE(http[1].rewrite_uri);
}

TEST(ResourcesTest, UriRegexRewriteValidation) {
  ParseResult r = parse(R"yaml(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [r]
  http:
  - rewrite:
      uri: /v2
      uriRegexRewrite: {match: /v1, rewrite: /v2}
    route: [{destination: {host: r}}]
  - rewrite: {uriRegexRewrite: {match: "/api/(v1", rewrite: /v2}}
    route: [{destination: {host: r}}]
  - rewrite: {uriRegexRewrite: {match: "/api/(v1)", rewrite: '/v2/\2'}}
    route: [{destination: {host: r}}]
  - rewrite: {uriRegexRewrite: {match: /api, rewrite: '/v2\'}}
    route: [{destination: {host: r}}]
  - rewrite: {uriRegexRewrite: {match: /api}}
    route: [{destination: {host: r}}]
  - rewrite: {uriRegexRewrite: {match: "", rewrite: /x}}
    route: [{destination: {host: r}}]
)yaml");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:9:24: 'rewrite' may have only one of 'uri' and 'uriRegexRewrite'");
  auto regex = testing::matching(r.errors, "mesh.yaml:11:40: invalid regex '/api/(v1': ");
  EXPECT_EQ(regex.size(), 1u) << formatAll(r.errors);
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:13:62: invalid rewrite '/v2/\\2': Rewrite schema requests 2 matches, "
               "but the regexp only has 1 parenthesized subexpressions.");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:15:55: invalid rewrite '/v2\\': Rewrite schema error: '\\' not allowed "
               "at end.");
  EXPECT_ENTRY(r.errors, "mesh.yaml:17:32: missing required field 'rewrite' in 'uriRegexRewrite'");
  EXPECT_ENTRY(r.errors, "mesh.yaml:19:40: 'match' must not be empty");
  EXPECT_EQ(r.errors.size(), 6u) << formatAll(r.errors);
  EXPECT_TRUE(hasErrors(r.errors));
  EXPECT_TRUE(r.resources.virtual_services.at(0).http.empty());
}

TEST(ResourcesTest, QueryParams) {
  ParseResult r = parse(R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [r]
  http:
  - match:
    - queryParams:
        v: {exact: "1"}
        p: {prefix: ab}
        re: {regex: "[0-9]+"}
        flag: {}
        empty: {exact: ""}
        bad: {regex: "("}
    route: [{destination: {host: r}}]
)");
  auto bad = testing::matching(r.errors, "mesh.yaml:14:22: invalid regex '('");
  EXPECT_EQ(bad.size(), 1u) << formatAll(r.errors);
  EXPECT_EQ(r.errors.size(), 1u) << formatAll(r.errors);
  const auto& qp = r.resources.virtual_services.at(0).http.at(0).matches.at(0).match.query_params;
  ASSERT_EQ(qp.size(), 5u);
  EXPECT_EQ(qp[0].name, "v");
  EXPECT_EQ(qp[0].match.kind, StringMatch::Kind::kExact);
  EXPECT_EQ(qp[1].match.kind, StringMatch::Kind::kPrefix);
  EXPECT_EQ(qp[2].match.kind, StringMatch::Kind::kRegex);
  // `{}` is Envoy's matcher without a pattern: present with an empty value, like exact "".
  EXPECT_EQ(qp[3].name, "flag");
  EXPECT_EQ(qp[3].match.kind, StringMatch::Kind::kExact);
  EXPECT_EQ(qp[3].match.value, "");
  EXPECT_EQ(qp[4].match.kind, StringMatch::Kind::kExact);
}

TEST(ResourcesTest, CorsPolicy) {
  ParseResult r = parse(R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [r]
  http:
  - corsPolicy:
      allowOrigins: [{exact: "https://a.example"}, {regex: "https://.*\\.b\\.example"}]
      allowMethods: [GET, POST]
      allowHeaders: [x-custom, content-type]
      exposeHeaders: [x-trace]
      maxAge: 24h
      allowCredentials: true
      unmatchedPreflights: IGNORE
    route: [{destination: {host: r}}]
  - corsPolicy: {allowOrigin: ["https://old.example"]}
    route: [{destination: {host: r}}]
  - corsPolicy:
      allowOrigins: [{exact: ""}]
      allowMethods: [FETCH]
      allowHeaders: ["bad header"]
      maxAge: 1500ms
      unmatchedPreflights: DROP
    route: [{destination: {host: r}}]
)");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:19:22: an allowOrigins entry needs a non-empty exact, prefix "
               "or regex");
  EXPECT_ENTRY(r.errors, "mesh.yaml:20:21: 'FETCH' is not a supported HTTP method");
  EXPECT_ENTRY(r.errors, "mesh.yaml:21:21: invalid header name 'bad header' in 'allowHeaders'");
  EXPECT_ENTRY(r.errors, "mesh.yaml:22:15: 'maxAge' is accurate only to seconds precision");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:23:28: unmatchedPreflights must be FORWARD or IGNORE, not "
               "'DROP'");
  EXPECT_EQ(r.errors.size(), 5u) << formatAll(r.errors);
  const auto& http = r.resources.virtual_services.at(0).http;
  ASSERT_EQ(http.size(), 2u);  // the third rule has errors
  ASSERT_TRUE(http[0].cors);
  const CorsPolicy& c = *http[0].cors;
  ASSERT_EQ(c.allow_origins.size(), 2u);
  EXPECT_EQ(c.allow_origins[1].kind, StringMatch::Kind::kRegex);
  EXPECT_TRUE(c.allow_origins[1].matches("https://x.b.example"));
  EXPECT_EQ(c.allow_methods, (std::vector<std::string>{"GET", "POST"}));
  EXPECT_EQ(c.allow_headers.size(), 2u);
  EXPECT_EQ(c.expose_headers.at(0), "x-trace");
  EXPECT_EQ(c.max_age_s, 86400u);
  EXPECT_TRUE(c.allow_credentials);
  EXPECT_FALSE(c.forward_unmatched_preflights);
  ASSERT_TRUE(http[1].cors);
  ASSERT_EQ(http[1].cors->allow_origins.size(), 1u);
  EXPECT_EQ(http[1].cors->allow_origins[0].kind, StringMatch::Kind::kExact);
  EXPECT_EQ(http[1].cors->allow_origins[0].value, "https://old.example");
  EXPECT_FALSE(http[1].cors->max_age_s);
  EXPECT_FALSE(http[1].cors->allow_credentials);
  EXPECT_TRUE(http[1].cors->forward_unmatched_preflights);
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

StringMatch makeMatch(StringMatch::Kind kind, std::string value) {
  StringMatch m;
  m.kind = kind;
  m.value = std::move(value);
  return m;
}

TEST(StringMatchTest, Matches) {
  StringMatch exact = makeMatch(StringMatch::Kind::kExact, "/a");
  EXPECT_TRUE(exact.matches("/a"));
  EXPECT_FALSE(exact.matches("/A"));
  EXPECT_FALSE(exact.matches("/a/"));
  exact.ignore_case = true;
  EXPECT_TRUE(exact.matches("/A"));
  StringMatch prefix = makeMatch(StringMatch::Kind::kPrefix, "/api");
  EXPECT_TRUE(prefix.matches("/api"));
  EXPECT_TRUE(prefix.matches("/api/v1"));
  EXPECT_FALSE(prefix.matches("/ap"));
  EXPECT_FALSE(prefix.matches("/API/v1"));
  prefix.ignore_case = true;
  EXPECT_TRUE(prefix.matches("/API/v1"));
  StringMatch present = makeMatch(StringMatch::Kind::kPresent, "");
  EXPECT_TRUE(present.matches(""));
  StringMatch regex = makeMatch(StringMatch::Kind::kRegex, "a+");
  EXPECT_FALSE(regex.matches("aaa"));  // not compiled: never matches
}

TEST(StringMatchTest, RegexRangeRejectsEarlyButNeverChangesTheAnswer) {
  struct Case {
    const char* regex;
    std::vector<std::pair<const char*, bool>> inputs;
  };
  const Case cases[] = {
      {"/api/v[0-9]+/.*",
       {{"/api/v1/x", true},
        {"/api/v12/", true},
        {"/", false},
        {"/api/vx/", false},
        {"/zzz", false},
        {"/api/v", false}}},
      {"(?i)/API/v1", {{"/api/V1", true}, {"/API/v1", true}, {"/api/v2", false}}},
      {"/a|/b.*", {{"/a", true}, {"/bcd", true}, {"/c", false}, {"/", false}}},
      {".*foo", {{"/x/foo", true}, {"foo", true}, {"/x/bar", false}}},
      {"[a-z]{20}x", {{"abcdefghijklmnopqrstx", true}, {"abcdefghijklmnopqrst", false}}},
  };
  for (const Case& c : cases) {
    StringMatch m = makeMatch(StringMatch::Kind::kRegex, c.regex);
    m.setRegex(std::make_shared<const re2::RE2>(c.regex));
    for (const auto& [input, expected] : c.inputs) {
      EXPECT_EQ(m.matches(input), expected) << c.regex << " on " << input;
      EXPECT_EQ(RE2::FullMatch(input, *m.regex), expected) << c.regex << " on " << input;
    }
  }
  // A literal start bounds the range, so a path like "/" is turned away without RE2.
  StringMatch api = makeMatch(StringMatch::Kind::kRegex, "/api/v[0-9]+/.*");
  api.setRegex(std::make_shared<const re2::RE2>(api.value));
  ASSERT_TRUE(api.regex_bounded);
  EXPECT_LT(std::string_view("/"), api.regex_min);
  EXPECT_GT(std::string_view("/zzz"), api.regex_max);
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
