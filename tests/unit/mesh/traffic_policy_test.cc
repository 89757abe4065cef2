// Traffic policies: VirtualService timeout/retries/fault/mirror and DestinationRule
// loadBalancer/connectionPool/outlierDetection/retryBudget, with Istio's defaults and merging.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "mesh/compiler.h"
#include "mesh/resources.h"
#include "mesh_test_util.h"

namespace weft::mesh {
namespace {

using testing::compileText;
using testing::formatAll;

const Cluster* findCluster(const Snapshot& s, const std::string& name) {
  for (const auto& c : s.clusters) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string clusterName(const Snapshot& s, uint32_t id) {
  return id < s.clusters.size() ? s.clusters[id].name : "<bad index>";
}

// reviews: ports 9080 and 9090, endpoints v1 and v2; ratings: one port.
const std::string kServices = R"(apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: 9080, name: http}
  - {number: 9090, name: admin}
  endpoints:
  - {address: 10.0.0.1, labels: {version: v1}}
  - {address: 10.0.0.2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http}]
  endpoints: [{address: 10.0.1.1, labels: {version: v1}}]
---
)";

const std::string kReviewsSubsets = R"(apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
)";

// The routes of the virtual host "<host>:<port>".
const std::vector<Route>& routesOf(const Snapshot& s, const std::string& vhost) {
  for (const auto& vh : s.outbound_routes.virtual_hosts) {
    if (vh.name == vhost) return vh.routes;
  }
  static const std::vector<Route> kNone;
  ADD_FAILURE() << "no virtual host " << vhost;
  return kNone;
}

const Route& firstRoute(const Snapshot& s,
                        const std::string& vhost = "reviews.default.svc.cluster.local:9080") {
  const auto& routes = routesOf(s, vhost);
  static const Route kEmpty;
  if (routes.empty()) {
    ADD_FAILURE() << "no routes in " << vhost;
    return kEmpty;
  }
  return routes.front();
}

std::string vs(const std::string& http_rule_body) {
  return R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
)" + http_rule_body;
}

// === Defaults ===

TEST(TrafficPolicyTest, RouteDefaultsAreIstios) {
  // A VirtualService rule without any of the fields, and a service without VirtualService.
  LoadResult r = compileText(kServices + vs(""));
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  for (const Route* route : {&firstRoute(*r.snapshot),
                             &firstRoute(*r.snapshot, "ratings.default.svc.cluster.local:9080")}) {
    EXPECT_EQ(route->timeout_ms, 0u);
    EXPECT_EQ(route->retry.attempts, 2u);
    EXPECT_EQ(route->retry.retry_on, RetryPolicy::kIstioDefault);
    EXPECT_EQ(route->retry.retry_on, RetryPolicy::kConnectFailure | RetryPolicy::kRefusedStream |
                                         RetryPolicy::kUnavailable | RetryPolicy::kCancelled |
                                         RetryPolicy::kRetriableStatusCodes);
    EXPECT_TRUE(route->retry.retriable_status_codes.empty());  // no 503 since Istio 1.24
    EXPECT_EQ(route->retry.per_try_timeout_ms, 0u);
    EXPECT_EQ(route->retry.backoff_base_ms, 25u);
    EXPECT_FALSE(route->retry.retry_remote_localities);
    EXPECT_TRUE(route->retry.retry_ignore_previous_hosts);
    EXPECT_FALSE(route->fault.active());
    EXPECT_TRUE(route->mirrors.empty());
  }
  EXPECT_TRUE(r.errors.empty()) << formatAll(r.errors);
}

TEST(TrafficPolicyTest, ClusterDefaultsAreIstios) {
  LoadResult r = compileText(kServices + kReviewsSubsets);
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  for (const auto& c : r.snapshot->clusters) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(c.lb, LbPolicy::kLeastRequest);
    EXPECT_EQ(c.hash.key, ConsistentHashPolicy::Key::kNone);
    EXPECT_EQ(c.pool.max_connections, 0xffffffffu);
    EXPECT_EQ(c.pool.max_pending_requests, 0xffffffffu);
    EXPECT_EQ(c.pool.max_requests, 0xffffffffu);
    EXPECT_EQ(c.pool.max_retries, 0xffffffffu);
    EXPECT_EQ(c.pool.max_requests_per_connection, 0u);
    EXPECT_EQ(c.pool.connect_timeout_ms, 0u);
    EXPECT_EQ(c.pool.idle_timeout_ms, 0u);
    EXPECT_FALSE(c.pool.tcp_keepalive);
    EXPECT_FALSE(c.outlier.enabled);
    EXPECT_DOUBLE_EQ(c.retry_budget.percent, 20.0);
    EXPECT_EQ(c.retry_budget.min_retry_concurrency, 3u);
  }
}

// === VirtualService ===

TEST(TrafficPolicyTest, TimeoutAndRetriesParsed) {
  LoadResult r = compileText(kServices + vs(R"(    timeout: 3s
    retries:
      attempts: 4
      perTryTimeout: 250ms
      retryOn: "5xx, reset,503,retriable-4xx ,429,gateway-error,unavailable"
      retryRemoteLocalities: true
      retryIgnorePreviousHosts: false
      backoff: 40ms
)"));
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  EXPECT_TRUE(r.errors.empty()) << formatAll(r.errors);
  const Route& route = firstRoute(*r.snapshot);
  EXPECT_EQ(route.timeout_ms, 3000u);
  EXPECT_EQ(route.retry.attempts, 4u);
  EXPECT_EQ(route.retry.per_try_timeout_ms, 250u);
  // Integer tokens become status codes and add retriable-status-codes.
  EXPECT_EQ(route.retry.retry_on, RetryPolicy::k5xx | RetryPolicy::kReset |
                                      RetryPolicy::kRetriable4xx | RetryPolicy::kGatewayError |
                                      RetryPolicy::kUnavailable |
                                      RetryPolicy::kRetriableStatusCodes);
  EXPECT_EQ(route.retry.retriable_status_codes, (std::vector<uint16_t>{503, 429}));
  EXPECT_TRUE(route.retry.retry_remote_localities);
  EXPECT_FALSE(route.retry.retry_ignore_previous_hosts);
  EXPECT_EQ(route.retry.backoff_base_ms, 40u);
}

TEST(TrafficPolicyTest, EveryRetryOnName) {
  LoadResult r = compileText(kServices + vs(R"(    retries:
      attempts: 1
      retryOn: 5xx,gateway-error,reset,connect-failure,refused-stream,retriable-4xx,retriable-status-codes,reset-before-request,cancelled,deadline-exceeded,internal,resource-exhausted,unavailable
)"));
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  EXPECT_EQ(firstRoute(*r.snapshot).retry.retry_on, (1u << 13) - 1);
  EXPECT_TRUE(firstRoute(*r.snapshot).retry.retriable_status_codes.empty());
}

TEST(TrafficPolicyTest, OnlyStatusCodesInRetryOn) {
  LoadResult r = compileText(kServices + vs(R"(    retries: {attempts: 3, retryOn: "502,504"}
)"));
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  const RetryPolicy& p = firstRoute(*r.snapshot).retry;
  EXPECT_EQ(p.retry_on, RetryPolicy::kRetriableStatusCodes);
  EXPECT_EQ(p.retriable_status_codes, (std::vector<uint16_t>{502, 504}));
}

TEST(TrafficPolicyTest, AttemptsWithoutRetryOnKeepTheDefaultConditions) {
  LoadResult r = compileText(kServices + vs(R"(    retries: {attempts: 5}
)"));
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  const RetryPolicy& p = firstRoute(*r.snapshot).retry;
  EXPECT_EQ(p.attempts, 5u);
  EXPECT_EQ(p.retry_on, RetryPolicy::kIstioDefault);
  EXPECT_TRUE(p.retriable_status_codes.empty());
  EXPECT_TRUE(r.errors.empty()) << formatAll(r.errors);
}

TEST(TrafficPolicyTest, ZeroOrMissingAttemptsDisableRetries) {
  {
    LoadResult r = compileText(kServices + vs(R"(    retries: {attempts: 0}
)"));
    ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
    EXPECT_EQ(firstRoute(*r.snapshot).retry.attempts, 0u);
    EXPECT_TRUE(r.errors.empty()) << formatAll(r.errors);
  }
  {
    // Istio: a retries block without attempts disables retries; said loudly.
    LoadResult r = compileText(kServices + vs(R"(    retries: {retryOn: 5xx}
)"));
    ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
    EXPECT_EQ(firstRoute(*r.snapshot).retry.attempts, 0u);
    EXPECT_ENTRY(r.errors,
                 "mesh.yaml:33:14: warning: 'retries' with attempts 0 (or without 'attempts') "
                 "disables retries; its other fields are ignored");
  }
}

TEST(TrafficPolicyTest, FaultParsed) {
  LoadResult r = compileText(kServices + vs(R"(    fault:
      delay:
        fixedDelay: 7s
        percentage: {value: 0.1}
      abort:
        httpStatus: 503
        percentage: {value: 12.5}
)"));
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  EXPECT_TRUE(r.errors.empty()) << formatAll(r.errors);
  const FaultPolicy& f = firstRoute(*r.snapshot).fault;
  EXPECT_EQ(f.delay_ms, 7000u);
  EXPECT_EQ(f.delay_ppm, 1000u);  // 0.1% in parts per million
  EXPECT_EQ(f.abort_status, 503);
  EXPECT_EQ(f.abort_ppm, 125'000u);
  EXPECT_TRUE(f.active());
}

TEST(TrafficPolicyTest, FaultWithoutPercentageInjectsNothing) {
  LoadResult r = compileText(kServices + vs(R"(    fault:
      delay: {fixedDelay: 2s}
      abort: {httpStatus: 500}
)"));
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  const FaultPolicy& f = firstRoute(*r.snapshot).fault;
  EXPECT_EQ(f.delay_ms, 2000u);
  EXPECT_EQ(f.delay_ppm, 0u);
  EXPECT_EQ(f.abort_status, 500);
  EXPECT_EQ(f.abort_ppm, 0u);
  EXPECT_FALSE(f.active());
}

TEST(TrafficPolicyTest, FaultPercentageForms) {
  LoadResult r = compileText(kServices + vs(R"(    fault:
      delay: {fixedDelay: 1ms, percent: 25}
      abort: {httpStatus: 200, percentage: {value: 100}}
)"));
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  const FaultPolicy& f = firstRoute(*r.snapshot).fault;
  EXPECT_EQ(f.delay_ms, 1u);
  EXPECT_EQ(f.delay_ppm, 250'000u);  // deprecated integer percent
  EXPECT_EQ(f.abort_status, 200);
  EXPECT_EQ(f.abort_ppm, 1'000'000u);
  // Values whose binary form is just below the decimal one still round to the intended ppm.
  LoadResult r2 = compileText(kServices + vs(R"(    fault:
      delay: {fixedDelay: 1s, percentage: {value: 0.57}}
      abort: {httpStatus: 599, percentage: {value: 0.0001}}
)"));
  ASSERT_TRUE(r2.snapshot) << formatAll(r2.errors);
  EXPECT_EQ(firstRoute(*r2.snapshot).fault.delay_ppm, 5700u);
  EXPECT_EQ(firstRoute(*r2.snapshot).fault.abort_ppm, 1u);
  EXPECT_EQ(firstRoute(*r2.snapshot).fault.abort_status, 599);
}

TEST(TrafficPolicyTest, GrpcAbortIsWarned) {
  LoadResult r = compileText(kServices + vs(R"(    fault:
      abort: {grpcStatus: UNAVAILABLE, percentage: {value: 50}}
)"));
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:34:15: warning: field 'grpcStatus' is not supported yet and is ignored");
  EXPECT_FALSE(firstRoute(*r.snapshot).fault.active());
}

TEST(TrafficPolicyTest, MirrorDefaultsToAllRequests) {
  LoadResult r =
      compileText(kServices + kReviewsSubsets + vs(R"(    mirror: {host: reviews, subset: v2}
)"));
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  EXPECT_TRUE(r.errors.empty()) << formatAll(r.errors);
  const Route& route = firstRoute(*r.snapshot);
  ASSERT_EQ(route.mirrors.size(), 1u);
  EXPECT_EQ(route.mirrors[0].ppm, 1'000'000u);
  EXPECT_EQ(clusterName(*r.snapshot, route.mirrors[0].cluster),
            "outbound|9080|v2|reviews.default.svc.cluster.local");
}

TEST(TrafficPolicyTest, MirrorPercentages) {
  auto mirrorsOf = [](const std::string& body) {
    LoadResult r = compileText(kServices + vs(body));
    EXPECT_TRUE(r.snapshot) << formatAll(r.errors);
    std::vector<std::pair<std::string, uint32_t>> out;
    if (!r.snapshot) return out;
    for (const auto& m : firstRoute(*r.snapshot).mirrors) {
      out.emplace_back(clusterName(*r.snapshot, m.cluster), m.ppm);
    }
    return out;
  };
  using V = std::vector<std::pair<std::string, uint32_t>>;
  const std::string ratings = "outbound|9080||ratings.default.svc.cluster.local";
  EXPECT_EQ(mirrorsOf("    mirror: {host: ratings}\n    mirrorPercentage: {value: 0.1}\n"),
            (V{{ratings, 1000}}));
  EXPECT_EQ(mirrorsOf("    mirror: {host: ratings}\n    mirrorPercentage: {value: 0}\n"), V{});
  EXPECT_EQ(mirrorsOf("    mirror: {host: ratings}\n    mirrorPercent: 30\n"),
            (V{{ratings, 300'000}}));
  EXPECT_EQ(mirrorsOf("    mirror: {host: ratings}\n    mirrorPercent: 0\n"), V{});
  // The port chooses the cluster; several mirrors keep their order and percentages.
  EXPECT_EQ(
      mirrorsOf(R"(    mirrors:
    - destination: {host: reviews, port: {number: 9090}}
      percentage: {value: 50}
    - destination: {host: ratings}
    - destination: {host: ratings}
      percentage: {value: 0}
)"),
      (V{{"outbound|9090||reviews.default.svc.cluster.local", 500'000}, {ratings, 1'000'000}}));
}

TEST(TrafficPolicyTest, MirrorToUnknownHostIsDropped) {
  LoadResult r = compileText(kServices + vs(R"(    mirror: {host: nowhere}
)"));
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  EXPECT_TRUE(firstRoute(*r.snapshot).mirrors.empty());
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:33:13: warning: mirror host 'nowhere.default.svc.cluster.local' matches "
               "no ServiceEntry host; the mirror is dropped");
}

// === DestinationRule ===

TEST(TrafficPolicyTest, DestinationRuleFieldsParsed) {
  LoadResult r = compileText(kServices + R"(apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer:
      consistentHash:
        httpCookie: {name: user, path: /, ttl: 90s}
        maglev: {tableSize: 65537}
    connectionPool:
      tcp:
        maxConnections: 100
        connectTimeout: 2s
        tcpKeepalive: {probes: 3, time: 60s, interval: 10s}
      http:
        http1MaxPendingRequests: 7
        http2MaxRequests: 9
        maxRequestsPerConnection: 1
        maxRetries: 4
        idleTimeout: 30s
    outlierDetection:
      consecutive5xxErrors: 0
      consecutiveGatewayErrors: 3
      interval: 1s
      baseEjectionTime: 3m
      maxEjectionPercent: 100
      minHealthPercent: 25
      splitExternalLocalOriginErrors: true
      consecutiveLocalOriginFailures: 2
    retryBudget:
      percent: {value: 12.5}
      minRetryConcurrency: 1
)");
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  EXPECT_TRUE(r.errors.empty()) << formatAll(r.errors);
  const Cluster* c = findCluster(*r.snapshot, "outbound|9080||reviews.default.svc.cluster.local");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->hash.key, ConsistentHashPolicy::Key::kCookie);
  EXPECT_EQ(c->hash.name, "user");
  EXPECT_EQ(c->hash.cookie_path, "/");
  EXPECT_TRUE(c->hash.cookie_ttl_set);
  EXPECT_EQ(c->hash.cookie_ttl_s, 90u);
  EXPECT_TRUE(c->hash.maglev);
  EXPECT_EQ(c->hash.table_size, 65537u);
  EXPECT_EQ(c->pool.max_connections, 100u);
  EXPECT_EQ(c->pool.connect_timeout_ms, 2000u);
  EXPECT_TRUE(c->pool.tcp_keepalive);
  EXPECT_EQ(c->pool.keepalive_probes, 3u);
  EXPECT_EQ(c->pool.keepalive_time_s, 60u);
  EXPECT_EQ(c->pool.keepalive_interval_s, 10u);
  EXPECT_EQ(c->pool.max_pending_requests, 7u);
  EXPECT_EQ(c->pool.max_requests, 9u);
  EXPECT_EQ(c->pool.max_requests_per_connection, 1u);
  EXPECT_EQ(c->pool.max_retries, 4u);
  EXPECT_EQ(c->pool.idle_timeout_ms, 30'000u);
  EXPECT_TRUE(c->outlier.enabled);
  EXPECT_EQ(c->outlier.consecutive_5xx, 0u);
  EXPECT_EQ(c->outlier.consecutive_gateway, 3u);
  EXPECT_EQ(c->outlier.interval_ms, 1000u);
  EXPECT_EQ(c->outlier.base_ejection_ms, 180'000u);
  EXPECT_EQ(c->outlier.max_ejection_percent, 100u);
  EXPECT_EQ(c->outlier.min_health_percent, 25u);
  EXPECT_TRUE(c->outlier.split_local_origin);
  EXPECT_EQ(c->outlier.consecutive_local_origin, 2u);
  EXPECT_DOUBLE_EQ(c->retry_budget.percent, 12.5);
  EXPECT_EQ(c->retry_budget.min_retry_concurrency, 1u);
  // The other port of the service gets the same policy.
  const Cluster* admin =
      findCluster(*r.snapshot, "outbound|9090||reviews.default.svc.cluster.local");
  ASSERT_TRUE(admin);
  EXPECT_EQ(admin->pool.max_connections, 100u);
  EXPECT_TRUE(admin->outlier.enabled);
}

TEST(TrafficPolicyTest, OutlierDetectionPresenceEnablesIstioDefaults) {
  LoadResult r = compileText(kServices + R"(apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    outlierDetection: {}
    connectionPool: {tcp: {maxConnections: 0}, http: {maxRetries: 0}}
)");
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  const Cluster* c = findCluster(*r.snapshot, "outbound|9080||reviews.default.svc.cluster.local");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->outlier.enabled);
  EXPECT_EQ(c->outlier.consecutive_5xx, 5u);
  EXPECT_EQ(c->outlier.consecutive_gateway, 0u);
  EXPECT_EQ(c->outlier.interval_ms, 10'000u);
  EXPECT_EQ(c->outlier.base_ejection_ms, 30'000u);
  EXPECT_EQ(c->outlier.max_ejection_percent, 10u);
  EXPECT_EQ(c->outlier.min_health_percent, 0u);
  EXPECT_FALSE(c->outlier.split_local_origin);
  EXPECT_EQ(c->outlier.consecutive_local_origin, 5u);
  // 0 is "not set" for Istio's connection pool limits: they stay unlimited.
  EXPECT_EQ(c->pool.max_connections, ConnectionPoolPolicy::kUnlimited);
  EXPECT_EQ(c->pool.max_retries, ConnectionPoolPolicy::kUnlimited);
}

TEST(TrafficPolicyTest, ConsistentHashKeys) {
  auto hashOf = [](const std::string& lb) {
    LoadResult r = compileText(kServices + R"(apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: )" + lb + "\n");
    EXPECT_TRUE(r.snapshot) << formatAll(r.errors);
    if (!r.snapshot) return ConsistentHashPolicy{};
    return findCluster(*r.snapshot, "outbound|9080||reviews.default.svc.cluster.local")->hash;
  };
  auto h = hashOf("{consistentHash: {httpHeaderName: X-User}}");
  EXPECT_EQ(h.key, ConsistentHashPolicy::Key::kHeader);
  EXPECT_EQ(h.name, "x-user");
  EXPECT_FALSE(h.maglev);
  EXPECT_EQ(h.table_size, 1024u);
  h = hashOf("{consistentHash: {useSourceIp: true, ringHash: {minimumRingSize: 4096}}}");
  EXPECT_EQ(h.key, ConsistentHashPolicy::Key::kSourceIp);
  EXPECT_FALSE(h.maglev);
  EXPECT_EQ(h.table_size, 4096u);
  h = hashOf("{consistentHash: {httpQueryParameterName: user, minimumRingSize: 2048}}");
  EXPECT_EQ(h.key, ConsistentHashPolicy::Key::kQueryParameter);
  EXPECT_EQ(h.name, "user");
  EXPECT_EQ(h.table_size, 2048u);
  h = hashOf("{consistentHash: {httpCookie: {name: s, ttl: 0s}, maglev: {}}}");
  EXPECT_EQ(h.key, ConsistentHashPolicy::Key::kCookie);
  EXPECT_TRUE(h.cookie_ttl_set);  // session cookie
  EXPECT_EQ(h.cookie_ttl_s, 0u);
  EXPECT_TRUE(h.maglev);
  EXPECT_EQ(h.table_size, 65537u);
  h = hashOf("{consistentHash: {httpCookie: {name: s}}}");
  EXPECT_FALSE(h.cookie_ttl_set);
  h = hashOf("{simple: LEAST_CONN}");
  EXPECT_EQ(h.key, ConsistentHashPolicy::Key::kNone);
}

// A subset's policy replaces the rule's per component; retryBudget too.
TEST(TrafficPolicyTest, SubsetOverridesPerComponent) {
  LoadResult r = compileText(kServices + R"(apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    connectionPool: {tcp: {maxConnections: 10}, http: {http2MaxRequests: 20}}
    outlierDetection: {consecutive5xxErrors: 7}
    retryBudget: {minRetryConcurrency: 9}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      connectionPool: {http: {http1MaxPendingRequests: 1}}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      loadBalancer: {consistentHash: {httpHeaderName: x-id}}
      outlierDetection: {interval: 5s}
      retryBudget: {percent: {value: 50}}
)");
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  EXPECT_TRUE(r.errors.empty()) << formatAll(r.errors);
  const Snapshot& s = *r.snapshot;
  const Cluster* all = findCluster(s, "outbound|9080||reviews.default.svc.cluster.local");
  const Cluster* v1 = findCluster(s, "outbound|9080|v1|reviews.default.svc.cluster.local");
  const Cluster* v2 = findCluster(s, "outbound|9080|v2|reviews.default.svc.cluster.local");
  ASSERT_TRUE(all && v1 && v2);
  EXPECT_EQ(all->lb, LbPolicy::kRoundRobin);
  EXPECT_EQ(all->pool.max_connections, 10u);
  EXPECT_EQ(all->pool.max_requests, 20u);
  EXPECT_EQ(all->outlier.consecutive_5xx, 7u);
  EXPECT_EQ(all->retry_budget.min_retry_concurrency, 9u);

  // v1 replaces connectionPool as a whole: its tcp and http2MaxRequests fall back to defaults.
  EXPECT_EQ(v1->pool.max_pending_requests, 1u);
  EXPECT_EQ(v1->pool.max_connections, ConnectionPoolPolicy::kUnlimited);
  EXPECT_EQ(v1->pool.max_requests, ConnectionPoolPolicy::kUnlimited);
  EXPECT_EQ(v1->lb, LbPolicy::kRoundRobin);  // inherited
  EXPECT_TRUE(v1->outlier.enabled);
  EXPECT_EQ(v1->outlier.consecutive_5xx, 7u);
  EXPECT_EQ(v1->retry_budget.min_retry_concurrency, 9u);

  // v2 replaces loadBalancer (simple falls back to the default) and outlierDetection.
  EXPECT_EQ(v2->lb, LbPolicy::kLeastRequest);
  EXPECT_EQ(v2->hash.key, ConsistentHashPolicy::Key::kHeader);
  EXPECT_EQ(v2->outlier.interval_ms, 5000u);
  EXPECT_EQ(v2->outlier.consecutive_5xx, 5u);
  EXPECT_EQ(v2->pool.max_connections, 10u);  // inherited
  EXPECT_DOUBLE_EQ(v2->retry_budget.percent, 50.0);
  EXPECT_EQ(v2->retry_budget.min_retry_concurrency, 3u);  // the subset's retryBudget is whole
}

// portLevelSettings replace loadBalancer, connectionPool and outlierDetection wholesale.
TEST(TrafficPolicyTest, PortLevelSettingsReplaceWholesale) {
  LoadResult r = compileText(kServices + R"(apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {simple: RANDOM}
    connectionPool: {tcp: {maxConnections: 10}}
    outlierDetection: {consecutive5xxErrors: 2}
    retryBudget: {minRetryConcurrency: 8}
    portLevelSettings:
    - port: {number: 9090}
      connectionPool: {http: {maxRetries: 1}}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      connectionPool: {tcp: {maxConnections: 5}}
      portLevelSettings:
      - port: {number: 9080}
        loadBalancer: {simple: ROUND_ROBIN}
  - name: v2
    labels: {version: v2}
)");
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  EXPECT_TRUE(r.errors.empty()) << formatAll(r.errors);
  const Snapshot& s = *r.snapshot;
  auto c = [&](const std::string& name) {
    const Cluster* p = findCluster(s, name);
    EXPECT_TRUE(p) << name;
    static const Cluster kEmpty;
    return p ? p : &kEmpty;
  };
  // Port 9080, no port-level entry at the top: the top-level policy.
  const Cluster* p80 = c("outbound|9080||reviews.default.svc.cluster.local");
  EXPECT_EQ(p80->lb, LbPolicy::kRandom);
  EXPECT_EQ(p80->pool.max_connections, 10u);
  EXPECT_TRUE(p80->outlier.enabled);
  // Port 9090: only the port-level connectionPool; loadBalancer and outlierDetection default.
  const Cluster* p90 = c("outbound|9090||reviews.default.svc.cluster.local");
  EXPECT_EQ(p90->pool.max_retries, 1u);
  EXPECT_EQ(p90->pool.max_connections, ConnectionPoolPolicy::kUnlimited);
  EXPECT_EQ(p90->lb, LbPolicy::kLeastRequest);
  EXPECT_FALSE(p90->outlier.enabled);
  EXPECT_EQ(p90->retry_budget.min_retry_concurrency, 8u);  // not a port-level component
  // Subset v2 has no policy: the same as the service's clusters, port by port.
  EXPECT_EQ(c("outbound|9090|v2|reviews.default.svc.cluster.local")->pool.max_retries, 1u);
  EXPECT_FALSE(c("outbound|9090|v2|reviews.default.svc.cluster.local")->outlier.enabled);
  EXPECT_EQ(c("outbound|9080|v2|reviews.default.svc.cluster.local")->lb, LbPolicy::kRandom);
  // Subset v1 port 9080: its own port-level entry replaces everything with only a loadBalancer.
  const Cluster* v1p80 = c("outbound|9080|v1|reviews.default.svc.cluster.local");
  EXPECT_EQ(v1p80->lb, LbPolicy::kRoundRobin);
  EXPECT_EQ(v1p80->pool.max_connections, ConnectionPoolPolicy::kUnlimited);
  EXPECT_FALSE(v1p80->outlier.enabled);
  // Subset v1 port 9090: the top-level port entry, then v1's connectionPool over it.
  const Cluster* v1p90 = c("outbound|9090|v1|reviews.default.svc.cluster.local");
  EXPECT_EQ(v1p90->pool.max_connections, 5u);
  EXPECT_EQ(v1p90->pool.max_retries, ConnectionPoolPolicy::kUnlimited);
  EXPECT_EQ(v1p90->lb, LbPolicy::kLeastRequest);
  EXPECT_FALSE(v1p90->outlier.enabled);
}

// === Errors and warnings, with positions ===

TEST(TrafficPolicyTest, VirtualServiceErrors) {
  // kServices has 24 lines: the VirtualService starts on line 25.
  LoadResult r = compileText(kServices + R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
    timeout: soon
    retries: {attempts: -1, perTryTimeout: 0s, retryOn: "5xx,sometimes"}
    fault:
      delay: {percentage: {value: 101}}
      abort: {httpStatus: 600, percentage: {value: "5"}}
  - route:
    - destination: {host: reviews}
    retries: {attempts: 1, retryOn: "5xx,99,envoy-ratelimited"}
    fault:
      delay: {fixedDelay: 0s}
      abort: {percentage: {value: 1}}
    mirror: {host: ratings}
    mirrors: [{destination: {host: ratings}}]
  - route:
    - destination: {host: reviews}
    mirror: {host: ratings}
    mirrorPercentage: {value: 100.5}
    mirrors: []
  - route:
    - destination: {host: reviews}
    mirrorPercent: 10
)");
  EXPECT_FALSE(r.snapshot);
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:33:14: 'timeout' must be a duration such as \"10s\", \"250ms\", "
               "\"1.5s\" or \"1m\" (whole milliseconds), not 'soon'");
  EXPECT_ENTRY(r.errors, "mesh.yaml:34:25: 'attempts' must be a decimal integer, not '-1'");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:34:44: 'perTryTimeout' must be between 1ms and 4294967295ms, not 0s");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:34:57: unknown retryOn condition 'sometimes' (expected 5xx, "
               "gateway-error, reset, connect-failure, refused-stream, retriable-4xx, "
               "retriable-status-codes, reset-before-request, cancelled, deadline-exceeded, "
               "internal, resource-exhausted, unavailable or an HTTP status code)");
  EXPECT_ENTRY(r.errors, "mesh.yaml:36:35: 'value' must be a number between 0 and 100, not 101");
  EXPECT_ENTRY(r.errors, "mesh.yaml:36:14: 'delay' needs 'fixedDelay'");
  EXPECT_ENTRY(r.errors, "mesh.yaml:37:27: 'httpStatus' must be between 200 and 599, not 600");
  EXPECT_ENTRY(r.errors, "mesh.yaml:37:52: 'value' must be a number between 0 and 100, not \"5\"");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:40:37: retryOn status code '99' is not an HTTP status code (100-599)");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:40:37: warning: retryOn condition 'envoy-ratelimited' is not supported "
               "yet and is ignored");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:42:27: 'fixedDelay' must be between 1ms and 4294967295ms, not 0s");
  EXPECT_ENTRY(r.errors, "mesh.yaml:43:14: 'abort' needs 'httpStatus'");
  EXPECT_ENTRY(r.errors, "mesh.yaml:38:5: an http route must have only one of 'mirror', 'mirrors'");
  EXPECT_ENTRY(r.errors, "mesh.yaml:49:31: 'value' must be a number between 0 and 100, not 100.5");
  EXPECT_ENTRY(r.errors, "mesh.yaml:46:5: an http route must have only one of 'mirror', 'mirrors'");
  EXPECT_ENTRY(r.errors, "mesh.yaml:53:5: warning: 'mirrorPercent' without 'mirror' is ignored");
  EXPECT_EQ(r.errors.size(), 16u) << formatAll(r.errors);
}

TEST(TrafficPolicyTest, DestinationRuleErrors) {
  LoadResult r = compileText(kServices + R"(apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer:
      simple: RANDOM
      consistentHash: {useSourceIp: true}
    connectionPool:
      tcp: {maxConnections: 2147483648, connectTimeout: 0s, maxConnectionDuration: 1h}
      http: {http2MaxRequests: "5", idleTimeout: 1h, h2UpgradePolicy: UPGRADE}
    outlierDetection:
      consecutiveErrors: 3
      maxEjectionPercent: 101
      minHealthPercent: 50
      interval: 0s
    retryBudget: {percent: {value: -1}, minRetryConcurrency: 4294967296}
    tls: {mode: ISTIO_MUTUAL}
    portLevelSettings:
    - connectionPool: {}
    - port: {number: 9080}
    - port: {number: 9080}
  subsets:
  - name: v1
    trafficPolicy:
      loadBalancer:
        consistentHash:
          httpHeaderName: x-a
          useSourceIp: true
  - name: v2
    trafficPolicy:
      loadBalancer:
        consistentHash:
          httpCookie: {path: /}
          maglev: {tableSize: 65536}
  - name: v3
    trafficPolicy:
      loadBalancer:
        consistentHash: {ringHash: {minimumRingSize: 8388609}, maglev: {}}
  - name: v4
    trafficPolicy:
      loadBalancer: {consistentHash: {}}
)");
  EXPECT_FALSE(r.snapshot);
  auto at = [](int line, int col, const std::string& msg) {
    return "mesh.yaml:" + std::to_string(line) + ":" + std::to_string(col) + ": " + msg;
  };
  // Line 25 is the DestinationRule's first line.
  EXPECT_ENTRY(r.errors, at(32, 7, "'loadBalancer' must have only one of simple, consistentHash"));
  EXPECT_ENTRY(r.errors,
               at(35, 29, "'maxConnections' must be between 0 and 2147483647, not 2147483648"));
  EXPECT_ENTRY(r.errors,
               at(35, 57, "'connectTimeout' must be between 1ms and 4294967295ms, not 0s"));
  EXPECT_ENTRY(r.errors, at(35, 61,
                            "warning: field 'maxConnectionDuration' is not supported yet and is "
                            "ignored"));
  EXPECT_ENTRY(r.errors,
               at(36, 32, "'http2MaxRequests' must be an unquoted decimal integer, not \"5\""));
  EXPECT_ENTRY(r.errors,
               at(36, 54, "warning: field 'h2UpgradePolicy' is not supported yet and is ignored"));
  EXPECT_ENTRY(r.errors, at(38, 7,
                            "warning: 'consecutiveErrors' is deprecated, ignored (use "
                            "consecutive5xxErrors)"));
  EXPECT_ENTRY(r.errors, at(39, 27, "'maxEjectionPercent' must be between 0 and 100, not 101"));
  EXPECT_ENTRY(r.errors, at(41, 17, "'interval' must be between 1ms and 4294967295ms, not 0s"));
  EXPECT_ENTRY(r.errors, at(42, 36, "'value' must be a number between 0 and 100, not '-1'"));
  EXPECT_ENTRY(r.errors, at(42, 62,
                            "'minRetryConcurrency' must be between 0 and 4294967295, not "
                            "4294967296"));
  // tls: {mode: ISTIO_MUTUAL} (43:5) is supported now.
  EXPECT_ENTRY(r.errors, at(45, 7, "missing required field 'port' in a portLevelSettings entry"));
  EXPECT_ENTRY(r.errors, at(47, 7,
                            "warning: port 9080 appears twice in 'portLevelSettings'; the first "
                            "entry is used"));
  EXPECT_ENTRY(r.errors, at(53, 11,
                            "'consistentHash' must have only one of httpHeaderName, httpCookie, "
                            "useSourceIp, httpQueryParameterName"));
  EXPECT_ENTRY(r.errors, at(59, 23, "missing required field 'name' in 'httpCookie'"));
  EXPECT_ENTRY(r.errors, at(60, 31, "'tableSize' must be a prime number, not 65536"));
  EXPECT_ENTRY(r.errors, at(64, 25, "'consistentHash' must have only one of ringHash, maglev"));
  EXPECT_ENTRY(r.errors, at(67, 38,
                            "warning: 'consistentHash' has no hash key (httpHeaderName, "
                            "httpCookie, useSourceIp or httpQueryParameterName): it is ignored"));
  EXPECT_EQ(r.errors.size(), 18u) << formatAll(r.errors);
}

TEST(TrafficPolicyTest, NegativeAndHugeNumbersAreRejected) {
  LoadResult r = compileText(kServices + R"(apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 4294967296, baseEjectionTime: 50d}
)");
  EXPECT_FALSE(r.snapshot);
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:31:46: 'consecutive5xxErrors' must be between 0 and 4294967295, not "
               "4294967296");
  EXPECT_ENTRY(r.errors,
               "mesh.yaml:31:76: 'baseEjectionTime' must be a duration such as \"10s\", "
               "\"250ms\", \"1.5s\" or \"1m\" (whole milliseconds), not '50d'");
  EXPECT_EQ(r.errors.size(), 2u) << formatAll(r.errors);
}

// === JSON ===

TEST(TrafficPolicyTest, JsonDumpCarriesTheNewFields) {
  LoadResult r = compileText(kServices + kReviewsSubsets + R"(apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
    timeout: 1500ms
    retries: {attempts: 3, retryOn: "gateway-error,503", perTryTimeout: 1s}
    fault: {delay: {fixedDelay: 2s, percentage: {value: 0.5}}}
    mirror: {host: reviews, subset: v2}
    mirrorPercentage: {value: 25}
)");
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  auto j = nlohmann::json::parse(toJson(*r.snapshot));
  const auto& vh = j["outbound_routes"]["virtual_hosts"][0];
  ASSERT_EQ(vh["name"], "reviews.default.svc.cluster.local:9080");
  const auto& route = vh["routes"][0];
  EXPECT_EQ(route["timeout_ms"], 1500);
  EXPECT_EQ(route["retry"], nlohmann::json::parse(R"({
    "attempts": 3, "retry_on": ["gateway-error", "retriable-status-codes"],
    "retriable_status_codes": [503], "per_try_timeout_ms": 1000, "backoff_base_ms": 25,
    "retry_remote_localities": false, "retry_ignore_previous_hosts": true})"));
  EXPECT_EQ(route["fault"], nlohmann::json::parse(
                                R"({"delay_ms": 2000, "delay_ppm": 5000, "abort_status": 0,
                                    "abort_ppm": 0})"));
  EXPECT_EQ(route["mirrors"], nlohmann::json::parse(R"([
    {"cluster": "outbound|9080|v2|reviews.default.svc.cluster.local", "ppm": 250000}])"));
  // A default route shows Istio's default retry policy.
  const auto& ratings = j["outbound_routes"]["virtual_hosts"][2]["routes"][0];
  EXPECT_EQ(ratings["retry"]["retry_on"],
            nlohmann::json::parse(R"(["connect-failure", "refused-stream",
              "retriable-status-codes", "cancelled", "unavailable"])"));
  const auto& cluster = j["clusters"][0];
  EXPECT_EQ(cluster["consistent_hash"], nlohmann::json::parse(R"({
    "key": "none", "name": "", "cookie_path": "", "cookie_ttl_s": null,
    "algorithm": "ring_hash", "table_size": 1024})"));
  EXPECT_EQ(cluster["connection_pool"], nlohmann::json::parse(R"({
    "max_connections": 4294967295, "connect_timeout_ms": 0, "max_pending_requests": 4294967295,
    "max_requests": 4294967295, "max_requests_per_connection": 0, "max_retries": 4294967295,
    "idle_timeout_ms": 0, "tcp_keepalive": false, "keepalive_time_s": 0,
    "keepalive_interval_s": 0, "keepalive_probes": 0})"));
  EXPECT_EQ(cluster["outlier_detection"], nlohmann::json::parse(R"({
    "enabled": false, "consecutive_5xx": 5, "consecutive_gateway": 0, "interval_ms": 10000,
    "base_ejection_ms": 30000, "max_ejection_percent": 10, "min_health_percent": 0,
    "split_local_origin": false, "consecutive_local_origin": 5})"));
  EXPECT_EQ(cluster["retry_budget"],
            nlohmann::json::parse(R"({"percent": 20.0, "min_retry_concurrency": 3})"));
  // Key order is stable: the new keys follow the existing ones.
  std::string text = toJson(*r.snapshot);
  EXPECT_LT(text.find("\"lb\""), text.find("\"consistent_hash\""));
  EXPECT_LT(text.find("\"response_headers\""), text.find("\"timeout_ms\""));
}

TEST(TrafficPolicyTest, EveryConnectionPoolFieldIsEnforcedWithoutWarnings) {
  LoadResult r = compileText(kServices + R"(---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {consistentHash: {httpHeaderName: x-user}}
    connectionPool:
      tcp: {maxConnections: 10, tcpKeepalive: {time: 10s}}
      http: {http1MaxPendingRequests: 5, idleTimeout: 30s, maxRetries: 3}
    outlierDetection: {consecutive5xxErrors: 3}
)");
  ASSERT_TRUE(r.snapshot) << formatAll(r.errors);
  EXPECT_TRUE(r.errors.empty()) << formatAll(r.errors);
  const Cluster* c = findCluster(*r.snapshot, "outbound|9080||reviews.default.svc.cluster.local");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->pool.max_connections, 10u);
  EXPECT_EQ(c->pool.max_pending_requests, 5u);
  EXPECT_EQ(c->pool.max_retries, 3u);
}

}  // namespace
}  // namespace weft::mesh
