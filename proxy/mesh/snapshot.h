// Snapshot: everything one sidecar needs, compiled from Istio-format resources for one node.
//
// A Snapshot is immutable once built. The main thread builds it (static files now, the control
// plane later) and hands each worker a shared_ptr<const Snapshot>; requests already in flight
// finish on the snapshot they started with. Indexes (not pointers) link routes to clusters so
// the structure can be copied and dumped as JSON.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "authz/policy.h"
#include "mesh/bootstrap.h"

namespace re2 {
class RE2;
}

namespace weft::mesh {

// Istio StringMatch: exact, prefix or regex (RE2, whole value must match), compiled once here.
struct StringMatch {
  enum class Kind : uint8_t { kExact, kPrefix, kRegex, kPresent };
  Kind kind = Kind::kExact;
  std::string value;         // exact/prefix text or the regex source
  bool ignore_case = false;  // exact/prefix only (ignoreUriCase)
  std::shared_ptr<const re2::RE2> regex;
  // Every string the regex fully matches lies in [regex_min, regex_max] when regex_bounded
  // (RE2::PossibleMatchRange): two comparisons turn most non-matches away before RE2 runs.
  bool regex_bounded = false;
  std::string regex_min, regex_max;

  bool matches(std::string_view s) const;
  // Sets `regex` (compiled, ok()) and its match range.
  void setRegex(std::shared_ptr<const re2::RE2> re);
};

// rewrite.uriRegexRewrite, as Envoy's route regex_rewrite: every non-overlapping match of
// `regex` in the path (query string excluded) is replaced by `rewrite`, in which \0-\9 refer
// to capture groups (RE2::GlobalReplace). Compiled once here; never per request.
struct RegexRewrite {
  std::string match;    // the regex source
  std::string rewrite;  // the substitution
  std::shared_ptr<const re2::RE2> regex;
};

struct HeaderMatch {
  static constexpr uint8_t kNoSlot = 0xff;
  std::string name;     // lower-case
  StringMatch match;    // kPresent: any value
  bool invert = false;  // withoutHeaders
  // The name's index among the distinct header names of its virtual host's routes, so a
  // route walk looks each name up in the request once (kNoSlot past kMaxHeaderSlots names).
  uint8_t slot = kNoSlot;
};

// http[].match[].queryParams entry. The value is compared as it appears in the request (no
// percent-decoding); the first occurrence of the parameter counts, and `?key` (or `key=`) has
// the value "". `{}` and `exact: ""` both mean "present with an empty value" (Envoy's
// QueryParameterMatcher without a matcher), so `match` is never kPresent here.
struct QueryParamMatch {
  std::string name;
  StringMatch match;
};

// One entry of a VirtualService http[].match list: all its fields must match.
struct RouteMatch {
  std::string name;
  std::optional<StringMatch> uri;  // tested against the path without the query string
                                   // (prefix: against the start of the path)
  std::optional<StringMatch> method;
  std::vector<HeaderMatch> headers;
  std::vector<QueryParamMatch> query_params;
};

struct HeaderOperations {
  std::vector<std::pair<std::string, std::string>> set;  // overwrite
  std::vector<std::pair<std::string, std::string>> add;  // append
  std::vector<std::string> remove;
  bool empty() const { return set.empty() && add.empty() && remove.empty(); }
};

struct RouteDestination {
  uint32_t cluster = 0;  // index into Snapshot::clusters
  uint32_t weight = 0;
  HeaderOperations request_headers;  // applied after the route's own
  HeaderOperations response_headers;
};

// VirtualService http[].retries (Istio's default policy when the field is absent).
struct RetryPolicy {
  // retryOn conditions (Envoy's names, as Istio passes them through).
  enum On : uint32_t {
    k5xx = 1u << 0,                   // "5xx": any 5xx answer, or no answer at all
    kGatewayError = 1u << 1,          // "gateway-error": 502/503/504, or no answer
    kReset = 1u << 2,                 // "reset": no answer (reset, disconnect, read timeout)
    kConnectFailure = 1u << 3,        // "connect-failure"
    kRefusedStream = 1u << 4,         // "refused-stream" (HTTP/2; never seen on HTTP/1.1)
    kRetriable4xx = 1u << 5,          // "retriable-4xx": 409
    kRetriableStatusCodes = 1u << 6,  // "retriable-status-codes": the listed codes
    kResetBeforeRequest = 1u << 7,    // "reset-before-request"
    kCancelled = 1u << 8,             // gRPC status names, matched on grpc-status
    kDeadlineExceeded = 1u << 9,
    kInternal = 1u << 10,
    kResourceExhausted = 1u << 11,
    kUnavailable = 1u << 12,
  };
  static constexpr uint32_t kIstioDefault =
      kConnectFailure | kRefusedStream | kUnavailable | kCancelled | kRetriableStatusCodes;

  uint32_t attempts = 2;  // retries, not tries: 1 + attempts tries at most; 0 disables
  uint32_t retry_on = kIstioDefault;
  std::vector<uint16_t> retriable_status_codes;  // empty by default since Istio 1.24
  uint32_t per_try_timeout_ms = 0;               // 0: none
  uint32_t backoff_base_ms = 25;                 // jittered exponential, capped at 10x base
  bool retry_remote_localities = false;
  // retryIgnorePreviousHosts: a retry prefers an endpoint not tried yet (Istio's default).
  bool retry_ignore_previous_hosts = true;
};

// Envoy's name of one retryOn condition ("5xx", "gateway-error", ...); nullptr for an unknown bit.
const char* retryOnName(uint32_t bit);
// The condition bit for an Envoy retryOn name; 0 when Weft does not know the name.
uint32_t retryOnFromName(std::string_view name);

// VirtualService http[].fault. Percentages are kept in parts per million (Istio sends them to
// Envoy the same way), so fractional percentages like 0.1 work.
struct FaultPolicy {
  uint32_t delay_ms = 0;
  uint32_t delay_ppm = 0;  // 0: no delay (a percentage that is absent means 0%)
  uint16_t abort_status = 0;
  uint32_t abort_ppm = 0;  // 0: no abort
  bool active() const { return delay_ppm > 0 || abort_ppm > 0; }
};

// VirtualService http[].mirror / mirrors: a fire-and-forget copy of the request.
struct MirrorPolicy {
  uint32_t cluster = 0;      // index into Snapshot::clusters
  uint32_t ppm = 1'000'000;  // mirrorPercentage absent: 100%
};

// VirtualService http[].redirect: the proxy answers with a 3xx and a Location header built as
// Envoy's RedirectAction does (see router::redirectLocation).
struct RedirectAction {
  enum class DerivePort : uint8_t { kNone, kFromProtocolDefault, kFromRequestPort };
  std::string uri;        // replaces the whole path; empty: the request's path
  std::string authority;  // replaces the host (and port); empty: the request's Host
  // Explicit port of the Location; 0: none. FROM_REQUEST_PORT is resolved to the service port
  // of the route table when compiling (what Istio does: Envoy cannot derive it per request).
  uint16_t port = 0;
  DerivePort derive_port = DerivePort::kNone;  // as written, for the config dump
  std::string scheme;                          // "http"/"https"; empty: the request's scheme
  uint16_t code = 301;                         // 301, 302, 303, 307 or 308
};

// VirtualService http[].directResponse: the proxy answers with this status and body.
struct DirectResponseAction {
  uint16_t status = 200;
  std::string body;  // body.string, or body.bytes base64-decoded; empty: no body
};

// VirtualService http[].corsPolicy, in the form Istio hands to Envoy's CORS filter.
struct CorsPolicy {
  std::vector<StringMatch> allow_origins;  // allowOrigins, or allowOrigin as exact matches
  std::vector<std::string> allow_methods;
  std::vector<std::string> allow_headers;
  std::vector<std::string> expose_headers;
  std::optional<uint64_t> max_age_s;  // Access-Control-Max-Age; absent: not sent
  bool allow_credentials = false;
  bool forward_unmatched_preflights = true;  // unmatchedPreflights: FORWARD (default) / IGNORE
};

struct Route {
  std::string name;  // "<virtualservice>.<namespace>" and the route's own name, for logs
  std::vector<RouteMatch> matches;  // ORed; empty matches every request
  std::vector<RouteDestination> destinations;
  uint32_t total_weight = 0;
  std::optional<std::string> rewrite_uri;  // replaces the matched prefix (whole path for exact)
  std::optional<RegexRewrite> rewrite_uri_regex;  // exclusive with rewrite_uri
  std::optional<std::string> rewrite_authority;
  HeaderOperations request_headers;
  HeaderOperations response_headers;
  uint32_t timeout_ms = 0;  // whole request, retries included; 0: none (Istio's default)
  RetryPolicy retry;
  FaultPolicy fault;
  std::vector<MirrorPolicy> mirrors;
  // Exclusive with destinations: a route with a redirect or direct response has none.
  std::optional<RedirectAction> redirect;
  std::optional<DirectResponseAction> direct_response;
  std::optional<CorsPolicy> cors;
};

// The routes of one service port.
struct VirtualHost {
  std::string name;          // "<fqdn>:<port>"
  std::string service_host;  // FQDN
  uint16_t port = 0;
  std::vector<Route> routes;  // first match wins; no match: 404 NR

  static constexpr uint8_t kMaxHeaderSlots = 32;

  // The route walk's first, cheap look at each match entry: a request that fails one of these
  // tests cannot match the entry, so most entries are passed over from this compact array
  // without touching the (large) RouteMatch. Entries are in route order; a route without
  // matches has one entry that always passes (`match` == kAnyRequest).
  struct MatchFilter {
    static constexpr uint32_t kAnyRequest = 0xffffffffu;
    uint32_t route = 0;
    uint32_t match = kAnyRequest;   // index into routes[route].matches
    uint32_t required_headers = 0;  // header slots that must be present
    bool needs_query = false;       // queryParams: the request must have a query string
    uint64_t method = 0;            // packPrefix8 of an exact method; 0: any method
    // packPrefix8 of the path (without query) must lie in [path_low, path_high].
    uint64_t path_low = 0;
    uint64_t path_high = ~uint64_t{0};
  };
  std::vector<MatchFilter> filters;
  std::vector<std::string> header_names;  // by slot
  // Header slots by name length (63: 63 or longer), to find a request header's slot quickly.
  std::array<uint32_t, 64> slots_by_length{};

  // Bit sets over the first kIndexedWords * 64 filters (bit i: filters[i]): the walk drops
  // every entry that needs a header or a query string the request lacks with a few word
  // operations, before it looks at any entry. Later entries are checked one by one.
  static constexpr size_t kIndexedWords = 32;
  size_t indexed_words = 0;
  std::vector<uint64_t> needs_query_bits;   // [word]
  std::vector<uint64_t> needs_header_bits;  // [slot * indexed_words + word]

  // Numbers the distinct header names the routes match on (HeaderMatch::slot) and builds
  // `filters`. Call after the routes are final (the compiler does).
  void index();
};

// The first 8 bytes of `s`, big-endian, zero-padded: comparing two of these orders the strings
// as their prefixes compare (a shorter string sorts first; NUL never occurs in paths).
inline uint64_t packPrefix8(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) {
    v = (v << 8) | (i < s.size() ? static_cast<uint8_t>(s[i]) : 0);
  }
  return v;
}

struct RouteTable {
  std::vector<VirtualHost> virtual_hosts;
  // Lower-case domain without port -> virtual hosts for that name (one per service port).
  std::unordered_map<std::string, std::vector<uint32_t>> domains;
  // "*.example.com" wildcards as (".example.com", vhosts), longest suffix first.
  std::vector<std::pair<std::string, std::vector<uint32_t>>> wildcard_domains;

  // The virtual host for a Host/authority: `host` without port (any case); `port` 0 when the
  // authority carried none. A port equal to one of the service's ports selects that port's
  // virtual host; otherwise the service's first declared port is used. nullptr: no match.
  const VirtualHost* find(std::string_view host, uint16_t port) const;
};

enum class LbPolicy : uint8_t { kRoundRobin, kLeastRequest, kRandom, kPassthrough };
const char* toString(LbPolicy p);

// An endpoint's labels, shared by every endpoint that carries the same set (a service's
// endpoints carry one of a few; a subset cluster copies its service's endpoints): read like a
// const map, copied on write.
class SharedLabels {
 public:
  using Map = std::map<std::string, std::string>;

  SharedLabels() = default;
  explicit SharedLabels(std::shared_ptr<Map> map) : map_(std::move(map)) {}
  SharedLabels& operator=(Map map) {
    map_ = std::make_shared<Map>(std::move(map));
    return *this;
  }

  const Map& get() const { return map_ ? *map_ : emptyMap(); }
  Map::const_iterator find(const std::string& key) const { return get().find(key); }
  Map::const_iterator begin() const { return get().begin(); }
  Map::const_iterator end() const { return get().end(); }
  const std::string& at(const std::string& key) const { return get().at(key); }
  bool empty() const { return get().empty(); }
  size_t size() const { return get().size(); }
  // Copy on write: the other endpoints sharing the set keep theirs.
  std::string& operator[](const std::string& key) {
    if (!map_ || map_.use_count() > 1) map_ = std::make_shared<Map>(get());
    return (*map_)[key];
  }

 private:
  static const Map& emptyMap() {
    static const Map empty;
    return empty;
  }
  std::shared_ptr<Map> map_;
};

struct Endpoint {
  std::string address;  // numeric IP
  uint16_t port = 0;
  uint32_t weight = 1;
  SharedLabels labels;
  std::string service_account;  // empty: no sidecar (plain text), unless labelled so
  // Automatic mTLS sends mutual TLS to it: it runs a sidecar (a service account, or the label
  // security.istio.io/tlsMode: istio; the value "disabled" says no), and that workload's own
  // PeerAuthentication (workload level and above, as far as this configuration shows) is not
  // DISABLE.
  bool auto_mtls = false;
};

// DestinationRule trafficPolicy.tls: how this sidecar speaks to a cluster's endpoints.
struct ClientTlsPolicy {
  enum class Mode : uint8_t {
    kDisable,      // plain text
    kSimple,       // TLS, the server verified (caCertificates, else the system's roots)
    kMutual,       // SIMPLE plus a client certificate from files
    kIstioMutual,  // mutual TLS with the sidecar's mesh certificate
  };
  Mode mode = Mode::kDisable;
  std::string client_certificate;  // MUTUAL (paths as written)
  std::string private_key;
  std::string ca_certificates;  // SIMPLE / MUTUAL; empty: the system's trust store
  std::string sni;
  std::vector<std::string> subject_alt_names;  // any one of them must be in the server's SANs
  bool insecure_skip_verify = false;
};

// PeerAuthentication mtls.mode as it applies to this sidecar's inbound port.
enum class PeerMtlsMode : uint8_t {
  kPermissive,  // mutual TLS and plain text both accepted (told apart by the first byte)
  kStrict,      // mutual TLS only
  kDisable,     // plain text only
};
const char* toString(PeerMtlsMode mode);

struct InboundMtls {
  PeerMtlsMode mode = PeerMtlsMode::kPermissive;  // Istio's default without any policy
  std::string policy;  // "<namespace>/<name>" of the deciding PeerAuthentication; "": default
};

// DestinationRule trafficPolicy.connectionPool: Envoy's per-cluster circuit breakers (each
// client sidecar enforces them for itself). Istio's defaults are "unlimited".
struct ConnectionPoolPolicy {
  static constexpr uint32_t kUnlimited = 0xffffffffu;
  uint32_t max_connections = kUnlimited;       // tcp.maxConnections
  uint32_t connect_timeout_ms = 0;             // tcp.connectTimeout; 0: bootstrap's
  uint32_t max_pending_requests = kUnlimited;  // http.http1MaxPendingRequests
  uint32_t max_requests = kUnlimited;          // http.http2MaxRequests (all protocols)
  uint32_t max_requests_per_connection = 0;    // 0: unlimited; 1 disables keep-alive
  uint32_t max_retries = kUnlimited;           // concurrent retries
  uint32_t idle_timeout_ms = 0;                // http.idleTimeout; 0: bootstrap's
  bool tcp_keepalive = false;                  // tcp.tcpKeepalive set
  uint32_t keepalive_time_s = 0, keepalive_interval_s = 0, keepalive_probes = 0;
};

// DestinationRule trafficPolicy.outlierDetection (Envoy's consecutive-error ejection).
struct OutlierPolicy {
  bool enabled = false;              // off unless the DestinationRule sets outlierDetection
  uint32_t consecutive_5xx = 5;      // 0 disables
  uint32_t consecutive_gateway = 0;  // 0 disables
  uint32_t interval_ms = 10'000;
  uint32_t base_ejection_ms = 30'000;
  uint32_t max_ejection_percent = 10;
  uint32_t min_health_percent = 0;  // Istio sets the panic threshold to this: 0, no panic
  bool split_local_origin = false;
  uint32_t consecutive_local_origin = 5;
};

// DestinationRule trafficPolicy.loadBalancer.consistentHash.
struct ConsistentHashPolicy {
  enum class Key : uint8_t { kNone, kHeader, kCookie, kSourceIp, kQueryParameter };
  Key key = Key::kNone;
  std::string name;  // header (lower-case), cookie or query parameter name
  std::string cookie_path;
  uint32_t cookie_ttl_s = 0;  // with a cookie key: 0 and cookie_ttl_set = session cookie
  bool cookie_ttl_set = false;
  bool maglev = false;         // else ring hash
  uint64_t table_size = 1024;  // ring: minimumRingSize (1024); maglev: tableSize (65537)
};

// Istio 1.27's DestinationRule retryBudget (on by default in Weft, as in Linkerd): retries may
// add at most `percent` of the cluster's active requests, with a floor of `min_retry_concurrency`.
struct RetryBudgetPolicy {
  double percent = 20.0;
  uint32_t min_retry_concurrency = 3;
};

struct Cluster {
  // Istio's name: "outbound|<port>|<subset>|<fqdn>" ("inbound|<port>||" for the local app).
  std::string name;
  std::string service_host;       // FQDN
  std::string service_name;       // first label of the FQDN, for destination_service_name
  std::string service_namespace;  // second label for *.svc.cluster.local hosts, else "unknown"
  uint16_t port = 0;
  std::string subset;
  LbPolicy lb = LbPolicy::kLeastRequest;  // Istio's default
  ConsistentHashPolicy hash;              // replaces `lb` when its key is set
  ConnectionPoolPolicy pool;
  OutlierPolicy outlier;
  RetryBudgetPolicy retry_budget;
  std::vector<Endpoint> endpoints;
  std::string protocol = "HTTP";  // the ServiceEntry port's protocol
  bool mesh_internal = false;     // ServiceEntry location MESH_INTERNAL
  // The ServiceEntry's namespace: its endpoints' service accounts belong to it (their SPIFFE
  // identity is spiffe://<trust domain>/ns/<namespace>/sa/<service account>).
  std::string namespace_name;
  // DestinationRule tls; null: Istio's automatic mTLS (mutual TLS to endpoints that run a
  // sidecar, plain text to the others).
  std::shared_ptr<const ClientTlsPolicy> tls;
};

// One configuration pushed by the control plane (dynamic mode): Istio-format resources that are
// compiled after the bootstrap's own resource files.
struct PushedConfig {
  uint64_t version = 0;                 // the control plane's version for this node
  std::vector<std::string> built_from;  // what the control plane built it from (informational)
  bool from_cache = false;  // read from control_plane.cache_file at start, not pushed yet

  // The multi-document YAML. Kept gzip-compressed: it is read only to compile it (and on a
  // reload or a cache write), and a whole mesh's text is megabytes that compress 25 to 1.
  void setResources(std::string_view yaml);
  std::string resources() const;
  size_t resourcesSize() const { return resources_size_; }

  // The file name used in error positions: "control-plane@v<version>".
  std::string sourceName() const { return "control-plane@v" + std::to_string(version); }

 private:
  std::string resources_gz_;
  size_t resources_size_ = 0;
};

struct Snapshot {
  uint64_t version = 0;
  std::string version_info;  // human-readable ("static-<hash>" in static mode)
  Bootstrap bootstrap;       // node identity, listeners, limits
  RouteTable outbound_routes;
  std::vector<Cluster> clusters;  // outbound clusters
  Cluster inbound_app;            // the local app behind the inbound listener
  // The AuthorizationPolicies that apply to this node (inbound requests); null when none do.
  std::shared_ptr<const authz::CompiledPolicies> authz;
  InboundMtls inbound_mtls;                    // PeerAuthentication for the inbound port
  std::shared_ptr<const PushedConfig> pushed;  // dynamic mode: the push compiled in, if any
};

using SnapshotPtr = std::shared_ptr<const Snapshot>;

// Snapshot -> JSON text (what /config_dump shows).
std::string toJson(const Snapshot& snapshot);

struct LoadResult {
  SnapshotPtr snapshot;  // set when there are no errors
  ConfigErrors errors;   // errors and warnings of the bootstrap and every resource file
};

// Static mode: bootstrap + the Istio-format resource files it names -> Snapshot for its node.
// Dynamic mode adds the last configuration pushed by the control plane (`pushed`, compiled after
// the files). version_info is "static-<hash>", or "control-plane@v<version>" with a push.
LoadResult loadStatic(const std::string& bootstrap_path, uint64_t version,
                      std::shared_ptr<const PushedConfig> pushed = nullptr);

// Dynamic mode, on a push: an already loaded bootstrap, its resource files read again (as a
// reload does) and `pushed` after them.
LoadResult loadWithBootstrap(const Bootstrap& bootstrap, uint64_t version,
                             std::shared_ptr<const PushedConfig> pushed);

}  // namespace weft::mesh
