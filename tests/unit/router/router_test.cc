// Router: authority splitting, route matching, destination choice, header and path rewriting.
#include "router/router.h"

#include <gtest/gtest.h>
#include <re2/re2.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mesh/compiler.h"

namespace weft::router {
namespace {

using mesh::HeaderMatch;
using mesh::Route;
using mesh::RouteMatch;
using mesh::RouteTable;
using mesh::StringMatch;
using mesh::VirtualHost;

StringMatch exact(std::string v) {
  StringMatch m;
  m.kind = StringMatch::Kind::kExact;
  m.value = std::move(v);
  return m;
}

StringMatch prefix(std::string v) {
  StringMatch m;
  m.kind = StringMatch::Kind::kPrefix;
  m.value = std::move(v);
  return m;
}

StringMatch regex(std::string v) {
  StringMatch m;
  m.kind = StringMatch::Kind::kRegex;
  m.value = v;
  m.regex = std::make_shared<const re2::RE2>(v);
  return m;
}

StringMatch present() {
  StringMatch m;
  m.kind = StringMatch::Kind::kPresent;
  return m;
}

HeaderMatch header(std::string name, StringMatch m, bool invert = false) {
  HeaderMatch h;
  h.name = std::move(name);
  h.match = std::move(m);
  h.invert = invert;
  return h;
}

http::RequestHead request(std::string method, std::string path, std::string authority = "") {
  http::RequestHead h;
  h.method = std::move(method);
  h.path = std::move(path);
  h.target = h.path;
  h.authority = std::move(authority);
  return h;
}

struct Split {
  std::string host;
  uint16_t port;
};

Split split(std::string_view authority) {
  std::string_view host = "untouched";
  uint16_t port = 4242;
  splitAuthority(authority, host, port);
  return {std::string(host), port};
}

// ---------------------------------------------------------------------------------------------
// splitAuthority

TEST(SplitAuthorityTest, HostOnly) {
  Split s = split("reviews.default.svc.cluster.local");
  EXPECT_EQ(s.host, "reviews.default.svc.cluster.local");
  EXPECT_EQ(s.port, 0);
}

TEST(SplitAuthorityTest, HostAndPort) {
  Split s = split("reviews:9080");
  EXPECT_EQ(s.host, "reviews");
  EXPECT_EQ(s.port, 9080);
  s = split("10.1.2.3:65535");
  EXPECT_EQ(s.host, "10.1.2.3");
  EXPECT_EQ(s.port, 65535);
  s = split("a:0");
  EXPECT_EQ(s.host, "a");
  EXPECT_EQ(s.port, 0);
}

TEST(SplitAuthorityTest, BracketedIpv6) {
  Split s = split("[::1]:8080");
  EXPECT_EQ(s.host, "[::1]");
  EXPECT_EQ(s.port, 8080);
  s = split("[fe80::1:2]");
  EXPECT_EQ(s.host, "[fe80::1:2]");
  EXPECT_EQ(s.port, 0);
  // The colons inside the brackets are not a port separator.
  s = split("[2001:db8::7]");
  EXPECT_EQ(s.host, "[2001:db8::7]");
  EXPECT_EQ(s.port, 0);
}

TEST(SplitAuthorityTest, UnclosedBracketKeepsWholeAuthority) {
  Split s = split("[::1:80");
  EXPECT_EQ(s.host, "[::1:80");
  EXPECT_EQ(s.port, 0);
}

TEST(SplitAuthorityTest, BadPortsGiveZero) {
  for (const char* a : {"host:65536", "host:99999999999", "host:-1", "host:80x", "host:x80",
                        "host:", "host: 80", "host:+80"}) {
    Split s = split(a);
    EXPECT_EQ(s.host, "host") << a;
    EXPECT_EQ(s.port, 0) << a;
  }
  Split s = split("[::1]:http");
  EXPECT_EQ(s.host, "[::1]");
  EXPECT_EQ(s.port, 0);
  s = split("[::1]:");
  EXPECT_EQ(s.host, "[::1]");
  EXPECT_EQ(s.port, 0);
}

TEST(SplitAuthorityTest, Empty) {
  Split s = split("");
  EXPECT_EQ(s.host, "");
  EXPECT_EQ(s.port, 0);
  s = split(":80");
  EXPECT_EQ(s.host, "");
  EXPECT_EQ(s.port, 80);
}

// ---------------------------------------------------------------------------------------------
// matches()

TEST(MatchesTest, EmptyMatchAcceptsEverything) {
  RouteMatch m;
  EXPECT_TRUE(matches(m, request("GET", "/")));
  EXPECT_TRUE(matches(m, request("DELETE", "/a/b?c=d")));
}

TEST(MatchesTest, UriExactIgnoresQueryAndFragment) {
  RouteMatch m;
  m.uri = exact("/health");
  EXPECT_TRUE(matches(m, request("GET", "/health")));
  EXPECT_TRUE(matches(m, request("GET", "/health?verbose=1")));
  EXPECT_TRUE(matches(m, request("GET", "/health#top")));
  EXPECT_FALSE(matches(m, request("GET", "/health/")));
  EXPECT_FALSE(matches(m, request("GET", "/healthz")));
  EXPECT_FALSE(matches(m, request("GET", "/Health")));
  EXPECT_FALSE(matches(m, request("GET", "/x?/health")));
}

TEST(MatchesTest, UriExactIgnoreCase) {
  RouteMatch m;
  m.uri = exact("/Health");
  m.uri->ignore_case = true;
  EXPECT_TRUE(matches(m, request("GET", "/hEALTH?a")));
  EXPECT_FALSE(matches(m, request("GET", "/healthy")));
}

TEST(MatchesTest, UriPrefix) {
  RouteMatch m;
  m.uri = prefix("/api");
  EXPECT_TRUE(matches(m, request("GET", "/api")));
  EXPECT_TRUE(matches(m, request("GET", "/api/v1/users")));
  EXPECT_TRUE(matches(m, request("GET", "/apiary")));
  EXPECT_TRUE(matches(m, request("GET", "/api?x=1")));
  EXPECT_FALSE(matches(m, request("GET", "/ap")));
  EXPECT_FALSE(matches(m, request("GET", "/v1/api")));
  EXPECT_FALSE(matches(m, request("GET", "/API")));
  // The query string is not part of the tested path.
  EXPECT_FALSE(matches(m, request("GET", "/?/api")));
}

TEST(MatchesTest, UriRegexMatchesWholePathWithoutQuery) {
  RouteMatch m;
  m.uri = regex("/users/[0-9]+");
  EXPECT_TRUE(matches(m, request("GET", "/users/42")));
  EXPECT_TRUE(matches(m, request("GET", "/users/42?expand=true")));
  EXPECT_FALSE(matches(m, request("GET", "/users/42/posts")));
  EXPECT_FALSE(matches(m, request("GET", "/v2/users/42")));
  EXPECT_FALSE(matches(m, request("GET", "/users/abc")));
  // A regex that would match the query must not see it.
  RouteMatch q;
  q.uri = regex(".*debug=1.*");
  EXPECT_FALSE(matches(q, request("GET", "/a?debug=1")));
  EXPECT_TRUE(matches(q, request("GET", "/debug=1")));
}

TEST(MatchesTest, Method) {
  RouteMatch m;
  m.method = exact("POST");
  EXPECT_TRUE(matches(m, request("POST", "/")));
  EXPECT_FALSE(matches(m, request("GET", "/")));
  EXPECT_FALSE(matches(m, request("post", "/")));
  RouteMatch r;
  r.method = regex("GET|HEAD");
  EXPECT_TRUE(matches(r, request("HEAD", "/")));
  EXPECT_FALSE(matches(r, request("PUT", "/")));
}

TEST(MatchesTest, HeaderExactPrefixRegex) {
  RouteMatch m;
  m.headers.push_back(header("end-user", exact("jason")));
  http::RequestHead req = request("GET", "/");
  EXPECT_FALSE(matches(m, req));  // absent
  req.headers.add("End-User", "jason");
  EXPECT_TRUE(matches(m, req));  // names are case-insensitive
  req.headers.set("end-user", "jasonx");
  EXPECT_FALSE(matches(m, req));

  RouteMatch p;
  p.headers.push_back(header("user-agent", prefix("curl/")));
  http::RequestHead a = request("GET", "/");
  a.headers.add("user-agent", "curl/8.0");
  EXPECT_TRUE(matches(p, a));
  a.headers.set("user-agent", "Mozilla curl/8.0");
  EXPECT_FALSE(matches(p, a));

  RouteMatch r;
  r.headers.push_back(header("x-version", regex("v[12]")));
  http::RequestHead b = request("GET", "/");
  b.headers.add("x-version", "v2");
  EXPECT_TRUE(matches(r, b));
  b.headers.set("x-version", "v22");
  EXPECT_FALSE(matches(r, b));
}

TEST(MatchesTest, HeaderPresent) {
  RouteMatch m;
  m.headers.push_back(header("x-canary", present()));
  http::RequestHead req = request("GET", "/");
  EXPECT_FALSE(matches(m, req));
  req.headers.add("x-canary", "");
  EXPECT_TRUE(matches(m, req));
}

TEST(MatchesTest, HeaderInvert) {
  RouteMatch m;
  m.headers.push_back(header("x-debug", present(), /*invert=*/true));
  http::RequestHead req = request("GET", "/");
  EXPECT_TRUE(matches(m, req));
  req.headers.add("x-debug", "1");
  EXPECT_FALSE(matches(m, req));

  RouteMatch v;
  v.headers.push_back(header("x-env", exact("prod"), /*invert=*/true));
  http::RequestHead a = request("GET", "/");
  EXPECT_TRUE(matches(v, a));  // absent: "not prod"
  a.headers.add("x-env", "staging");
  EXPECT_TRUE(matches(v, a));
  a.headers.set("x-env", "prod");
  EXPECT_FALSE(matches(v, a));
}

TEST(MatchesTest, AllFieldsMustMatch) {
  RouteMatch m;
  m.uri = prefix("/api");
  m.method = exact("GET");
  m.headers.push_back(header("a", exact("1")));
  m.headers.push_back(header("b", exact("2")));
  http::RequestHead req = request("GET", "/api/x");
  req.headers.add("a", "1");
  req.headers.add("b", "2");
  EXPECT_TRUE(matches(m, req));

  http::RequestHead wrong_method = request("POST", "/api/x");
  wrong_method.headers.add("a", "1");
  wrong_method.headers.add("b", "2");
  EXPECT_FALSE(matches(m, wrong_method));

  http::RequestHead wrong_path = request("GET", "/x");
  wrong_path.headers.add("a", "1");
  wrong_path.headers.add("b", "2");
  EXPECT_FALSE(matches(m, wrong_path));

  http::RequestHead missing_b = request("GET", "/api/x");
  missing_b.headers.add("a", "1");
  EXPECT_FALSE(matches(m, missing_b));
}

// ---------------------------------------------------------------------------------------------
// findRoute

Route route(std::string name, std::vector<RouteMatch> ms, uint32_t cluster = 0) {
  Route r;
  r.name = std::move(name);
  r.matches = std::move(ms);
  mesh::RouteDestination d;
  d.cluster = cluster;
  d.weight = 100;
  r.destinations.push_back(d);
  r.total_weight = 100;
  return r;
}

RouteMatch uriMatch(StringMatch m, std::string name = "") {
  RouteMatch rm;
  rm.name = std::move(name);
  rm.uri = std::move(m);
  return rm;
}

// reviews (ports 9080 and 9090) and *.example.com.
RouteTable table() {
  RouteTable t;
  VirtualHost reviews;
  reviews.name = "reviews.default.svc.cluster.local:9080";
  reviews.service_host = "reviews.default.svc.cluster.local";
  reviews.port = 9080;
  reviews.routes.push_back(route("exact", {uriMatch(exact("/health"), "health")}, 1));
  reviews.routes.push_back(route(
      "api", {uriMatch(prefix("/static"), "static"), uriMatch(prefix("/api"), "api-prefix")}, 2));
  reviews.routes.push_back(route("api-shadowed", {uriMatch(prefix("/api/v2"))}, 3));
  reviews.routes.push_back(route("catch-all", {}, 4));
  t.virtual_hosts.push_back(reviews);

  VirtualHost admin;
  admin.name = "reviews.default.svc.cluster.local:9090";
  admin.port = 9090;
  admin.routes.push_back(route("admin", {uriMatch(prefix("/admin"))}, 5));
  t.virtual_hosts.push_back(admin);

  VirtualHost wildcard;
  wildcard.name = "*.example.com:80";
  wildcard.port = 80;
  wildcard.routes.push_back(route("ext", {uriMatch(prefix("/"))}, 6));
  t.virtual_hosts.push_back(wildcard);

  t.domains["reviews"] = {0, 1};
  t.domains["reviews.default.svc.cluster.local"] = {0, 1};
  t.wildcard_domains.push_back({".example.com", {2}});
  for (VirtualHost& vh : t.virtual_hosts) vh.index();
  return t;
}

TEST(FindRouteTest, FirstMatchingRouteWins) {
  RouteTable t = table();
  RouteResult r = findRoute(t, request("GET", "/api/v2/items", "reviews:9080"));
  ASSERT_NE(r.virtual_host, nullptr);
  EXPECT_EQ(r.virtual_host, &t.virtual_hosts[0]);
  ASSERT_NE(r.route, nullptr);
  EXPECT_EQ(r.route, &t.virtual_hosts[0].routes[1]);
  EXPECT_EQ(r.route->name, "api");
  // `matched` is the entry of the route that matched (the second of two), not a copy.
  ASSERT_NE(r.matched, nullptr);
  EXPECT_EQ(r.matched, &t.virtual_hosts[0].routes[1].matches[1]);
  EXPECT_EQ(r.matched->name, "api-prefix");
}

RouteMatch headerMatch(std::vector<HeaderMatch> hs) {
  RouteMatch rm;
  rm.headers = std::move(hs);
  return rm;
}

RouteTable oneHost(VirtualHost vh) {
  vh.name = "svc:80";
  vh.port = 80;
  vh.index();
  RouteTable t;
  t.virtual_hosts.push_back(std::move(vh));
  t.domains["svc"] = {0};
  return t;
}

std::string routeFor(const RouteTable& t, std::vector<std::pair<std::string, std::string>> hs) {
  http::RequestHead h = request("GET", "/", "svc");
  for (const auto& [n, v] : hs) h.headers.add(n, v);
  RouteResult r = findRoute(t, h);
  return r.route ? r.route->name : "none";
}

TEST(FindRouteTest, SharedHeaderNamesAreLookedUpOnceAndStillMatchPerRoute) {
  VirtualHost vh;
  vh.routes.push_back(route("a1", {headerMatch({header("x-a", exact("1"))})}));
  vh.routes.push_back(route("b-not-z", {headerMatch({header("x-b", prefix("z"), true)})}));
  vh.routes.push_back(route("a2", {headerMatch({header("x-a", regex("2.*"))})}));
  vh.routes.push_back(
      route("a-and-b", {headerMatch({header("x-a", present()), header("x-b", exact("zz"))})}));
  vh.routes.push_back(route("rest", {}));
  RouteTable t = oneHost(std::move(vh));
  const auto& routes = t.virtual_hosts[0].routes;
  EXPECT_EQ(routes[0].matches[0].headers[0].slot, routes[2].matches[0].headers[0].slot);
  EXPECT_NE(routes[0].matches[0].headers[0].slot, routes[1].matches[0].headers[0].slot);
  EXPECT_EQ(routeFor(t, {{"x-a", "1"}, {"x-b", "z"}}), "a1");
  EXPECT_EQ(routeFor(t, {{"X-A", "25"}, {"x-b", "zq"}}), "a2");
  EXPECT_EQ(routeFor(t, {{"x-a", "3"}, {"x-b", "zz"}}), "a-and-b");
  EXPECT_EQ(routeFor(t, {{"x-b", "zz"}}), "rest");
  EXPECT_EQ(routeFor(t, {}), "b-not-z");
}

TEST(FindRouteTest, MoreHeaderNamesThanSlotsStillMatch) {
  VirtualHost vh;
  const int n = mesh::VirtualHost::kMaxHeaderSlots + 8;
  for (int i = 0; i < n; ++i) {
    std::string name = "h" + std::to_string(i);
    vh.routes.push_back(route(name, {headerMatch({header(name, exact("v"))})}));
  }
  RouteTable t = oneHost(std::move(vh));
  EXPECT_EQ(t.virtual_hosts[0].routes.back().matches[0].headers[0].slot,
            mesh::HeaderMatch::kNoSlot);
  for (int i : {0, 31, 32, n - 1}) {
    std::string name = "h" + std::to_string(i);
    EXPECT_EQ(routeFor(t, {{name, "v"}}), name);
  }
  EXPECT_EQ(routeFor(t, {{"h" + std::to_string(n - 1), "w"}}), "none");
}

// The filters may only pass over entries that cannot match: the indexed walk must give the
// answer of a plain walk over every entry, for every request.
TEST(FindRouteTest, FiltersNeverChangeTheAnswer) {
  auto caseless = [](StringMatch m) {
    m.ignore_case = true;
    return m;
  };
  auto entry = [](std::optional<StringMatch> uri, std::optional<StringMatch> method,
                  std::vector<HeaderMatch> hs) {
    RouteMatch rm;
    rm.uri = std::move(uri);
    rm.method = std::move(method);
    rm.headers = std::move(hs);
    return rm;
  };
  StringMatch api_regex = regex("/api/v[0-9]+/.*");
  api_regex.setRegex(api_regex.regex);
  StringMatch any_regex = regex(".*z");
  any_regex.setRegex(any_regex.regex);
  VirtualHost vh;
  vh.routes.push_back(route("exact", {entry(exact("/a"), std::nullopt, {})}));
  vh.routes.push_back(route("long-prefix", {entry(prefix("/abcdefghij"), std::nullopt, {})}));
  vh.routes.push_back(route("post-b", {entry(prefix("/b"), exact("POST"), {})}));
  vh.routes.push_back(route("case", {entry(caseless(prefix("/CaSe")), std::nullopt, {})}));
  vh.routes.push_back(route("regex", {entry(api_regex, std::nullopt, {})}));
  vh.routes.push_back(route("any-regex", {entry(any_regex, std::nullopt, {})}));
  vh.routes.push_back(route("hdr", {entry(std::nullopt, std::nullopt,
                                          {header("x-a", exact("1")), header("x-b", present())})}));
  vh.routes.push_back(
      route("without", {entry(prefix("/w"), std::nullopt, {header("x-a", present(), true)})}));
  vh.routes.push_back(route(
      "two-entries", {entry(exact("/t1"), std::nullopt, {}),
                      entry(std::nullopt, caseless(exact("get")), {header("x-c", prefix("v"))})}));
  vh.routes.push_back(route("long-method", {entry(std::nullopt, exact("PROPPATCHX"), {})}));
  RouteMatch query;
  query.query_params.push_back({"q", exact("")});
  vh.routes.push_back(route("query", {query}));
  RouteTable t = oneHost(vh);

  auto reference = [&](const http::RequestHead& h) -> std::string {
    for (const Route& r : t.virtual_hosts[0].routes) {
      for (const RouteMatch& m : r.matches) {
        if (matches(m, h)) return r.name;
      }
    }
    return "none";
  };
  int compared = 0;
  for (const char* path :
       {"/",         "/a",           "/a?x=1", "/ab",     "/abcdefghij", "/abcdefghijk",
        "/abcdefgh", "/b",           "/bx",    "/case/1", "/CASE",       "/api/v1/x",
        "/api/vx",   "/z",           "/qz",    "/w",      "/w/x",        "/t1",
        "/t1?q",     "/zzzzzzzzzzz", "/?q",    "/#?q"}) {
    for (const char* method : {"GET", "POST", "get", "PROPPATCHX"}) {
      for (int hs = 0; hs < 8; ++hs) {
        http::RequestHead h = request(method, path, "svc");
        if (hs & 1) h.headers.add("X-A", "1");
        if (hs & 2) h.headers.add("x-b", "");
        if (hs & 4) h.headers.add("x-c", "v2");
        RouteResult r = findRoute(t, h);
        EXPECT_EQ(r.route ? r.route->name : "none", reference(h))
            << method << " " << path << " headers " << hs;
        ++compared;
      }
    }
  }
  EXPECT_EQ(compared, 22 * 4 * 8);
  // Spot checks that the walk really is selective.
  EXPECT_EQ(routeFor(t, {}), "none");
  EXPECT_EQ(routeFor(t, {{"x-a", "1"}, {"x-b", "y"}}), "hdr");
}

TEST(FindRouteTest, EntriesPastTheBitSetsAreStillWalkedInOrder) {
  VirtualHost vh;
  const int n = static_cast<int>(VirtualHost::kIndexedWords) * 64 + 100;
  for (int i = 0; i < n; ++i) {
    RouteMatch m = uriMatch(exact("/r" + std::to_string(i % 2200)));
    if (i % 2 == 1) m.headers.push_back(header("x-k", present()));
    vh.routes.push_back(route("route" + std::to_string(i), {m}));
  }
  RouteTable t = oneHost(std::move(vh));
  auto find = [&](const std::string& path, bool with_header) {
    http::RequestHead h = request("GET", path, "svc");
    if (with_header) h.headers.add("X-K", "1");
    RouteResult r = findRoute(t, h);
    return r.route ? r.route->name : "none";
  };
  EXPECT_EQ(find("/r5", true), "route5");
  EXPECT_EQ(find("/r5", false), "none") << "route5 needs x-k; no later route has /r5";
  EXPECT_EQ(find("/r2100", false), "route2100") << "past the bit sets";
  EXPECT_EQ(find("/r2101", false), "none");
  EXPECT_EQ(find("/r2101", true), "route2101");
  EXPECT_EQ(find("/r1999", true), "route1999");
}

TEST(FindRouteTest, MatchedPointsAtFirstMatchingEntry) {
  RouteTable t = table();
  RouteResult r = findRoute(t, request("GET", "/static/app.js", "reviews"));
  ASSERT_NE(r.route, nullptr);
  EXPECT_EQ(r.route, &t.virtual_hosts[0].routes[1]);
  EXPECT_EQ(r.matched, &t.virtual_hosts[0].routes[1].matches[0]);
}

TEST(FindRouteTest, ExactRouteAndQueryString) {
  RouteTable t = table();
  RouteResult r =
      findRoute(t, request("GET", "/health?probe=1", "REVIEWS.default.svc.cluster.local"));
  ASSERT_NE(r.route, nullptr);
  EXPECT_EQ(r.route->name, "exact");
  EXPECT_EQ(r.matched, &t.virtual_hosts[0].routes[0].matches[0]);
}

TEST(FindRouteTest, RouteWithoutMatchesCatchesAllWithNullMatched) {
  RouteTable t = table();
  RouteResult r = findRoute(t, request("GET", "/other", "reviews"));
  ASSERT_NE(r.route, nullptr);
  EXPECT_EQ(r.route, &t.virtual_hosts[0].routes[3]);
  EXPECT_EQ(r.matched, nullptr);
}

TEST(FindRouteTest, PortSelectsVirtualHost) {
  RouteTable t = table();
  RouteResult r = findRoute(t, request("GET", "/admin/stats", "reviews:9090"));
  EXPECT_EQ(r.virtual_host, &t.virtual_hosts[1]);
  ASSERT_NE(r.route, nullptr);
  EXPECT_EQ(r.route->name, "admin");
  // Unknown or absent port: the first declared port's virtual host.
  r = findRoute(t, request("GET", "/admin/stats", "reviews:1234"));
  EXPECT_EQ(r.virtual_host, &t.virtual_hosts[0]);
  EXPECT_EQ(r.route->name, "catch-all");
}

TEST(FindRouteTest, WildcardDomain) {
  RouteTable t = table();
  RouteResult r = findRoute(t, request("GET", "/x", "api.example.com"));
  EXPECT_EQ(r.virtual_host, &t.virtual_hosts[2]);
  ASSERT_NE(r.route, nullptr);
  EXPECT_EQ(r.route->name, "ext");
}

TEST(FindRouteTest, NoVirtualHost) {
  RouteTable t = table();
  RouteResult r = findRoute(t, request("GET", "/health", "ratings:9080"));
  EXPECT_EQ(r.virtual_host, nullptr);
  EXPECT_EQ(r.route, nullptr);
  EXPECT_EQ(r.matched, nullptr);
  r = findRoute(t, request("GET", "/health", ""));
  EXPECT_EQ(r.virtual_host, nullptr);
  EXPECT_EQ(r.route, nullptr);
}

TEST(FindRouteTest, NoRouteMatches) {
  RouteTable t = table();
  RouteResult r = findRoute(t, request("GET", "/health", "reviews:9090"));
  EXPECT_EQ(r.virtual_host, &t.virtual_hosts[1]);
  EXPECT_EQ(r.route, nullptr);
  EXPECT_EQ(r.matched, nullptr);
}

TEST(FindRouteTest, CompiledVirtualService) {
  const std::string text = R"(apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: 9080, name: http}
  endpoints:
  - {address: 10.0.0.1, labels: {version: v1}}
  - {address: 10.0.0.2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
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
  - name: api
    match:
    - uri: {prefix: /api}
    rewrite: {uri: /v1/}
    route:
    - destination: {host: reviews, subset: v1}
  - name: rest
    route:
    - destination: {host: reviews, subset: v1}
)";
  mesh::BootstrapResult b = mesh::parseBootstrap(
      "node: {id: productpage-0, service: productpage, namespace: default, labels: {app: "
      "productpage}}\ninbound: {address: 127.0.0.1, port: 15006, app: 127.0.0.1:9080}\n",
      "bootstrap.yaml");
  ASSERT_TRUE(b.bootstrap.has_value());
  mesh::LoadResult r =
      mesh::buildSnapshot(*b.bootstrap, {mesh::ResourceFile{"mesh.yaml", text}}, 1);
  ASSERT_TRUE(r.snapshot);
  const mesh::Snapshot& s = *r.snapshot;

  http::RequestHead jason = request("GET", "/api/items", "reviews:9080");
  jason.headers.add("end-user", "jason");
  RouteResult rj = findRoute(s.outbound_routes, jason);
  ASSERT_NE(rj.route, nullptr);
  EXPECT_EQ(rj.route->name, "reviews.default.jason");
  EXPECT_EQ(s.clusters.at(rj.route->destinations.at(0).cluster).subset, "v2");

  RouteResult ra = findRoute(s.outbound_routes, request("GET", "/api/items?x=1", "reviews"));
  ASSERT_NE(ra.route, nullptr);
  EXPECT_EQ(ra.route->name, "reviews.default.api");
  ASSERT_NE(ra.matched, nullptr);
  std::string path = "/api/items?x=1";
  rewritePath(*ra.route, ra.matched, path);
  EXPECT_EQ(path, "/v1//items?x=1");

  RouteResult rr = findRoute(s.outbound_routes, request("GET", "/", "reviews.default"));
  ASSERT_NE(rr.route, nullptr);
  EXPECT_EQ(rr.route->name, "reviews.default.rest");
  EXPECT_EQ(s.clusters.at(rr.route->destinations.at(0).cluster).subset, "v1");
}

// ---------------------------------------------------------------------------------------------
// pickDestination

Route weighted(std::vector<uint32_t> weights) {
  Route r;
  for (size_t i = 0; i < weights.size(); ++i) {
    mesh::RouteDestination d;
    d.cluster = static_cast<uint32_t>(i);
    d.weight = weights[i];
    r.destinations.push_back(d);
    r.total_weight += weights[i];
  }
  return r;
}

TEST(PickDestinationTest, DeterministicChoiceByTicket) {
  Route r = weighted({30, 60, 10});  // tickets [0,30) -> 0, [30,90) -> 1, [90,100) -> 2
  const std::array<std::pair<uint64_t, uint32_t>, 10> cases = {{
      {0, 0},
      {29, 0},
      {30, 1},
      {89, 1},
      {90, 2},
      {99, 2},
      {100, 0},  // wraps modulo the total weight
      {129, 0},
      {1000 + 45, 1},
      {UINT64_MAX, 0},  // 18446744073709551615 % 100 == 15
  }};
  for (auto [random, expected] : cases) {
    const mesh::RouteDestination* d = pickDestination(r, random);
    ASSERT_NE(d, nullptr) << random;
    EXPECT_EQ(d->cluster, expected) << random;
    EXPECT_EQ(d, &r.destinations[expected]) << random;
  }
}

TEST(PickDestinationTest, ZeroWeightNeverChosen) {
  Route r = weighted({0, 5, 0, 5, 0});
  for (uint64_t i = 0; i < 1000; ++i) {
    const mesh::RouteDestination* d = pickDestination(r, i * 0x9E3779B97F4A7C15ull);
    ASSERT_NE(d, nullptr);
    EXPECT_TRUE(d->cluster == 1 || d->cluster == 3) << d->cluster;
  }
  EXPECT_EQ(pickDestination(r, 0)->cluster, 1u);
  EXPECT_EQ(pickDestination(r, 4)->cluster, 1u);
  EXPECT_EQ(pickDestination(r, 5)->cluster, 3u);
  EXPECT_EQ(pickDestination(r, 9)->cluster, 3u);
}

TEST(PickDestinationTest, UniformDrawsSplitByWeight) {
  Route r = weighted({20, 50, 0, 30});
  std::map<uint32_t, int> counts;
  uint64_t state = 0x123456789abcdefull;
  constexpr int kDraws = 100'000;
  for (int i = 0; i < kDraws; ++i) {
    // splitmix64
    state += 0x9E3779B97F4A7C15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    ++counts[pickDestination(r, z)->cluster];
  }
  EXPECT_EQ(counts.count(2), 0u);
  EXPECT_NEAR(counts[0] / double(kDraws), 0.20, 0.01);
  EXPECT_NEAR(counts[1] / double(kDraws), 0.50, 0.01);
  EXPECT_NEAR(counts[3] / double(kDraws), 0.30, 0.01);
}

TEST(PickDestinationTest, NoWeightOrNoDestination) {
  Route none;
  EXPECT_EQ(pickDestination(none, 7), nullptr);
  Route zero = weighted({0, 0});
  EXPECT_EQ(pickDestination(zero, 7), nullptr);
}

TEST(PickDestinationTest, SingleDestination) {
  Route r = weighted({1});
  EXPECT_EQ(pickDestination(r, 0), &r.destinations[0]);
  EXPECT_EQ(pickDestination(r, UINT64_MAX), &r.destinations[0]);
}

// ---------------------------------------------------------------------------------------------
// applyHeaderOperations

std::vector<std::pair<std::string, std::string>> fields(const http::HeaderMap& h) {
  std::vector<std::pair<std::string, std::string>> out;
  h.forEach([&](std::string_view n, std::string_view v) { out.emplace_back(n, v); });
  return out;
}

TEST(HeaderOperationsTest, RemoveThenSetThenAdd) {
  http::HeaderMap h;
  h.add("X-Debug", "1");
  h.add("x-a", "old");
  h.add("Keep", "k");
  h.add("x-b", "old1");
  h.add("X-B", "old2");
  mesh::HeaderOperations ops;
  // Each name appears in two operations: the order remove -> set -> add decides the result.
  ops.remove = {"x-debug", "x-c", "x-b"};
  ops.set = {{"x-a", "new"}, {"x-c", "set"}};
  ops.add = {{"x-a", "added"}, {"x-c", "added"}, {"x-b", "added"}};
  applyHeaderOperations(ops, h);

  EXPECT_FALSE(h.has("x-debug"));
  EXPECT_EQ(h.get("keep"), "k");
  // x-a: set replaced the old value, then add appended.
  ASSERT_EQ(h.count("x-a"), 2u);
  // x-c: removed (absent), set, then added.
  ASSERT_EQ(h.count("x-c"), 2u);
  // x-b: both old fields removed, then one added.
  ASSERT_EQ(h.count("x-b"), 1u);
  EXPECT_EQ(h.get("x-b"), "added");

  std::vector<std::string> xa, xc;
  for (const auto& [n, v] : fields(h)) {
    if (http::equalsIgnoreCase(n, "x-a")) xa.push_back(v);
    if (http::equalsIgnoreCase(n, "x-c")) xc.push_back(v);
  }
  EXPECT_EQ(xa, (std::vector<std::string>{"new", "added"}));
  EXPECT_EQ(xc, (std::vector<std::string>{"set", "added"}));
}

TEST(HeaderOperationsTest, SetOnlyIsNotUndoneByRemoveOfSameName) {
  http::HeaderMap h;
  h.add("x-user", "mallory");
  mesh::HeaderOperations ops;
  ops.remove = {"x-user"};
  ops.set = {{"x-user", "jason"}};
  applyHeaderOperations(ops, h);
  ASSERT_EQ(h.count("x-user"), 1u);
  EXPECT_EQ(h.get("x-user"), "jason");
}

TEST(HeaderOperationsTest, NamesAreCaseInsensitive) {
  http::HeaderMap h;
  h.add("X-Forwarded-Client-Cert", "abc");
  h.add("Server", "app");
  h.add("X-Trace", "1");
  mesh::HeaderOperations ops;
  ops.remove = {"x-forwarded-client-cert"};
  ops.set = {{"server", "weft"}};
  ops.add = {{"x-trace", "2"}};
  applyHeaderOperations(ops, h);
  EXPECT_FALSE(h.has("x-forwarded-client-cert"));
  EXPECT_EQ(h.count("SERVER"), 1u);
  EXPECT_EQ(h.get("Server"), "weft");
  EXPECT_EQ(h.count("X-TRACE"), 2u);
}

TEST(HeaderOperationsTest, EmptyOperationsChangeNothing) {
  http::HeaderMap h;
  h.add("a", "1");
  h.add("a", "2");
  applyHeaderOperations(mesh::HeaderOperations{}, h);
  EXPECT_EQ(fields(h), (std::vector<std::pair<std::string, std::string>>{{"a", "1"}, {"a", "2"}}));
}

// ---------------------------------------------------------------------------------------------
// rewritePath

Route rewriting(std::optional<std::string> uri) {
  Route r;
  r.rewrite_uri = std::move(uri);
  return r;
}

TEST(RewritePathTest, PrefixReplacementKeepsRestAndQuery) {
  Route r = rewriting("/v2");
  RouteMatch m = uriMatch(prefix("/api"));
  std::string path = "/api/users/7?limit=5&x=/api";
  rewritePath(r, &m, path);
  EXPECT_EQ(path, "/v2/users/7?limit=5&x=/api");

  path = "/api";
  rewritePath(r, &m, path);
  EXPECT_EQ(path, "/v2");

  path = "/api?q";
  rewritePath(r, &m, path);
  EXPECT_EQ(path, "/v2?q");
}

TEST(RewritePathTest, PrefixToRoot) {
  Route r = rewriting("/");
  RouteMatch m = uriMatch(prefix("/reviews/"));
  std::string path = "/reviews/1";
  rewritePath(r, &m, path);
  EXPECT_EQ(path, "/1");
}

TEST(RewritePathTest, ExactAndRegexReplaceWholePath) {
  Route r = rewriting("/status");
  RouteMatch e = uriMatch(exact("/health"));
  std::string path = "/health?full=1";
  rewritePath(r, &e, path);
  EXPECT_EQ(path, "/status?full=1");

  RouteMatch x = uriMatch(regex("/users/[0-9]+"));
  path = "/users/42";
  rewritePath(r, &x, path);
  EXPECT_EQ(path, "/status");
}

TEST(RewritePathTest, NoUriMatchReplacesWholePath) {
  Route r = rewriting("/fixed");
  std::string path = "/anything/here?k=v";
  rewritePath(r, nullptr, path);
  EXPECT_EQ(path, "/fixed?k=v");

  RouteMatch headers_only;
  headers_only.headers.push_back(header("x", present()));
  path = "/a/b";
  rewritePath(r, &headers_only, path);
  EXPECT_EQ(path, "/fixed");
}

TEST(RewritePathTest, EmptyResultBecomesSlash) {
  Route r = rewriting("");
  RouteMatch m = uriMatch(prefix("/api"));
  std::string path = "/api";
  rewritePath(r, &m, path);
  EXPECT_EQ(path, "/");

  path = "/api?x=1";
  rewritePath(r, &m, path);
  EXPECT_EQ(path, "/?x=1");

  RouteMatch e = uriMatch(exact("/x"));
  path = "/x";
  rewritePath(r, &e, path);
  EXPECT_EQ(path, "/");
}

TEST(RewritePathTest, NoRewriteLeavesPathAlone) {
  Route r = rewriting(std::nullopt);
  RouteMatch m = uriMatch(prefix("/api"));
  std::string path = "/api/x?y";
  rewritePath(r, &m, path);
  EXPECT_EQ(path, "/api/x?y");
}

Route regexRewriting(const std::string& match, const std::string& rewrite) {
  Route r;
  r.rewrite_uri_regex = mesh::RegexRewrite{match, rewrite, std::make_shared<const re2::RE2>(match)};
  return r;
}

TEST(RewritePathTest, RegexRewriteChangesPath) {
  Route r = regexRewriting("^/service/([^/]+)(/.*)$", "\\2/instance/\\1");
  RouteMatch m = uriMatch(prefix("/service"));
  std::string path = "/service/foo/v1/api";
  rewritePath(r, &m, path);
  EXPECT_EQ(path, "/v1/api/instance/foo");

  // No match: the path is left alone.
  path = "/other/foo";
  rewritePath(r, &m, path);
  EXPECT_EQ(path, "/other/foo");
}

TEST(RewritePathTest, RegexRewriteReplacesEveryMatch) {
  Route r = regexRewriting("/v1/", "/v2/");
  std::string path = "/v1/a/v1/b/v1/";
  rewritePath(r, nullptr, path);
  EXPECT_EQ(path, "/v2/a/v2/b/v2/");

  // Non-overlapping, left to right, as RE2::GlobalReplace.
  r = regexRewriting("aa", "b");
  path = "/aaaaa";
  rewritePath(r, nullptr, path);
  EXPECT_EQ(path, "/bba");
}

TEST(RewritePathTest, RegexRewriteGroupsAndWholeMatch) {
  Route r = regexRewriting("([a-z]+)-([0-9]+)", "\\2.\\1");
  std::string path = "/item-7/box-42";
  rewritePath(r, nullptr, path);
  EXPECT_EQ(path, "/7.item/42.box");

  r = regexRewriting("[0-9]+", "<\\0>");
  path = "/a/12/b/3";
  rewritePath(r, nullptr, path);
  EXPECT_EQ(path, "/a/<12>/b/<3>");

  // A literal backslash is written \\.
  r = regexRewriting("/x$", "/\\\\x");
  path = "/a/x";
  rewritePath(r, nullptr, path);
  EXPECT_EQ(path, "/a/\\x");
}

TEST(RewritePathTest, RegexRewriteKeepsQueryString) {
  Route r = regexRewriting("/api", "/v2");
  RouteMatch m = uriMatch(prefix("/api"));
  std::string path = "/api/users/api?next=/api&x=api";
  rewritePath(r, &m, path);
  EXPECT_EQ(path, "/v2/users/v2?next=/api&x=api");

  // An anchored regex sees the end of the path, not the end of the query string.
  r = regexRewriting("/([^/]+)$", "/last-\\1");
  path = "/a/b?c=/d";
  rewritePath(r, nullptr, path);
  EXPECT_EQ(path, "/a/last-b?c=/d");

  path = "/a/b?";
  rewritePath(r, nullptr, path);
  EXPECT_EQ(path, "/a/last-b?");
}

TEST(RewritePathTest, RegexRewriteToEmptyBecomesSlash) {
  Route r = regexRewriting("^/strip(/.*)?$", "\\1");
  std::string path = "/strip?k=v";
  rewritePath(r, nullptr, path);
  EXPECT_EQ(path, "/?k=v");

  path = "/strip/rest";
  rewritePath(r, nullptr, path);
  EXPECT_EQ(path, "/rest");
}

// ---------------------------------------------------------------------------------------------
// queryParams

mesh::QueryParamMatch param(std::string name, StringMatch m) {
  return mesh::QueryParamMatch{std::move(name), std::move(m)};
}

TEST(QueryParamTest, Parsing) {
  EXPECT_EQ(queryParam("/p?a=1&b=2", "a"), "1");
  EXPECT_EQ(queryParam("/p?a=1&b=2", "b"), "2");
  EXPECT_FALSE(queryParam("/p?a=1&b=2", "c"));
  EXPECT_FALSE(queryParam("/p", "a"));
  EXPECT_FALSE(queryParam("/p?", "a"));
  EXPECT_EQ(queryParam("/p?a", "a"), "");
  EXPECT_EQ(queryParam("/p?a=", "a"), "");
  EXPECT_EQ(queryParam("/p?a=x=y", "a"), "x=y");
  EXPECT_EQ(queryParam("/p?a=1&a=2", "a"), "1");  // first occurrence counts
  EXPECT_EQ(queryParam("/p?&&a=1&", "a"), "1");
  EXPECT_EQ(queryParam("/p?a=1#b=2", "b"), std::nullopt);
  EXPECT_EQ(queryParam("/p?ab=1&a=2", "a"), "2");      // names compare whole
  EXPECT_EQ(queryParam("/p?A=1", "a"), std::nullopt);  // case-sensitive
  EXPECT_EQ(queryParam("/p?a=%20", "a"), "%20");       // not percent-decoded
}

TEST(MatchesTest, QueryParams) {
  RouteMatch m;
  m.query_params.push_back(param("v", exact("1")));
  EXPECT_TRUE(matches(m, request("GET", "/x?v=1")));
  EXPECT_TRUE(matches(m, request("GET", "/x?a=2&v=1")));
  EXPECT_FALSE(matches(m, request("GET", "/x?v=12")));
  EXPECT_FALSE(matches(m, request("GET", "/x?v")));
  EXPECT_FALSE(matches(m, request("GET", "/x")));
  EXPECT_FALSE(matches(m, request("GET", "/x?v=2&v=1")));  // first occurrence counts

  RouteMatch empty;  // `flag: {}` and `flag: {exact: ""}`: present with an empty value
  empty.query_params.push_back(param("flag", exact("")));
  EXPECT_TRUE(matches(empty, request("GET", "/?flag")));
  EXPECT_TRUE(matches(empty, request("GET", "/?flag=")));
  EXPECT_FALSE(matches(empty, request("GET", "/?flag=1")));
  EXPECT_FALSE(matches(empty, request("GET", "/")));

  RouteMatch re;
  re.query_params.push_back(param("id", regex("[0-9]+")));
  re.query_params.push_back(param("name", prefix("jo")));
  EXPECT_TRUE(matches(re, request("GET", "/?id=42&name=jon")));
  EXPECT_FALSE(matches(re, request("GET", "/?id=42x&name=jon")));  // whole value
  EXPECT_FALSE(matches(re, request("GET", "/?id=42&name=ajon")));
  EXPECT_FALSE(matches(re, request("GET", "/?id=42")));  // all must match

  // The uri match still ignores the query string.
  RouteMatch both;
  both.uri = exact("/x");
  both.query_params.push_back(param("v", exact("1")));
  EXPECT_TRUE(matches(both, request("GET", "/x?v=1")));
  EXPECT_FALSE(matches(both, request("GET", "/y?v=1")));
}

// ---------------------------------------------------------------------------------------------
// redirectLocation

mesh::RedirectAction redirect(std::string uri) {
  mesh::RedirectAction a;
  a.uri = std::move(uri);
  return a;
}

TEST(RedirectLocationTest, UriReplacesWholePathAndKeepsQuery) {
  auto head = request("GET", "/old/page?x=1", "reviews:9080");
  RouteMatch m;
  m.uri = prefix("/old");
  EXPECT_EQ(redirectLocation(redirect("/new"), head, &m), "http://reviews:9080/new?x=1");
  // A uri with its own query replaces the request's.
  EXPECT_EQ(redirectLocation(redirect("/new?y=2"), head, &m), "http://reviews:9080/new?y=2");
  // No uri: the request's path and query; a uri without '/' gets one.
  mesh::RedirectAction scheme_only;
  scheme_only.scheme = "https";
  EXPECT_EQ(redirectLocation(scheme_only, head, nullptr), "https://reviews:9080/old/page?x=1");
  EXPECT_EQ(redirectLocation(redirect("new"), request("GET", "/a", "h"), nullptr), "http://h/new");
}

TEST(RedirectLocationTest, AuthorityAndPort) {
  auto head = request("GET", "/a", "reviews:9080");
  mesh::RedirectAction a = redirect("/b");
  a.authority = "other.example";
  EXPECT_EQ(redirectLocation(a, head, nullptr), "http://other.example/b");
  a.port = 8443;
  EXPECT_EQ(redirectLocation(a, head, nullptr), "http://other.example:8443/b");
  // A port without authority replaces the request's port.
  mesh::RedirectAction p = redirect("/b");
  p.port = 8080;
  EXPECT_EQ(redirectLocation(p, head, nullptr), "http://reviews:8080/b");
  EXPECT_EQ(redirectLocation(p, request("GET", "/", "[::1]:9080"), nullptr), "http://[::1]:8080/b");
  EXPECT_EQ(redirectLocation(p, request("GET", "/", "[::1]"), nullptr), "http://[::1]:8080/b");
  // FROM_PROTOCOL_DEFAULT (port 0): the request's port stays unless the scheme changes away
  // from its default port.
  mesh::RedirectAction d = redirect("/b");
  d.derive_port = mesh::RedirectAction::DerivePort::kFromProtocolDefault;
  EXPECT_EQ(redirectLocation(d, head, nullptr), "http://reviews:9080/b");
  d.scheme = "https";
  EXPECT_EQ(redirectLocation(d, request("GET", "/", "a:80"), nullptr), "https://a/b");
  EXPECT_EQ(redirectLocation(d, request("GET", "/", "a:9080"), nullptr), "https://a:9080/b");
  d.scheme = "http";
  EXPECT_EQ(redirectLocation(d, request("GET", "/", "a:80"), nullptr), "http://a:80/b");
}

TEST(RedirectLocationTest, SchemeFollowsForwardedProto) {
  auto head = request("GET", "/a", "h:443");
  head.headers.set("x-forwarded-proto", "https");
  EXPECT_EQ(redirectLocation(redirect("/b"), head, nullptr), "https://h:443/b");
  mesh::RedirectAction a = redirect("/b");
  a.scheme = "http";
  EXPECT_EQ(redirectLocation(a, head, nullptr), "http://h/b");  // :443 was https's default
}

TEST(RedirectLocationTest, CompiledRedirectRoute) {
  const std::string text = R"(apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: r}
spec:
  hosts: [r.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http}]
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [r]
  http:
  - match: [{queryParams: {legacy: {}}}]
    redirect: {uri: /v2, authority: r2, derivePort: FROM_REQUEST_PORT, redirectCode: 307}
  - route: [{destination: {host: r}}]
)";
  mesh::BootstrapResult b = mesh::parseBootstrap(
      "node: {id: productpage-0, service: productpage, namespace: default, labels: {app: "
      "productpage}}\ninbound: {address: 127.0.0.1, port: 15006, app: 127.0.0.1:9080}\n",
      "bootstrap.yaml");
  ASSERT_TRUE(b.bootstrap.has_value());
  mesh::LoadResult lr =
      mesh::buildSnapshot(*b.bootstrap, {mesh::ResourceFile{"mesh.yaml", text}}, 1);
  ASSERT_TRUE(lr.snapshot);
  const mesh::Snapshot* r = lr.snapshot.get();
  auto head = request("GET", "/v1/items?legacy", "r");
  RouteResult res = findRoute(r->outbound_routes, head);
  ASSERT_TRUE(res.route);
  ASSERT_TRUE(res.route->redirect);
  EXPECT_EQ(res.route->redirect->code, 307);
  EXPECT_EQ(redirectLocation(*res.route->redirect, head, res.matched), "http://r2:9080/v2?legacy");
  res = findRoute(r->outbound_routes, request("GET", "/v1/items?legacy=1", "r"));
  ASSERT_TRUE(res.route);
  EXPECT_FALSE(res.route->redirect);
}

}  // namespace
}  // namespace weft::router
