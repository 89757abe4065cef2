// The typed Istio resource model: ServiceEntry, DestinationRule and VirtualService as far as
// Weft implements them, parsed from multi-document YAML with every problem positioned.
//
// Host names are stored lower-case and already expanded (short names become
// <name>.<resource namespace>.svc.cluster.local; ServiceEntry hosts stay literal).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "authz/policy.h"
#include "mesh/config_error.h"
#include "mesh/snapshot.h"
#include "mesh/yaml_reader.h"

namespace weft::mesh {

struct ObjectMeta {
  std::string name;
  std::string namespace_name = "default";
  SourcePos pos;  // the document's position
};

// === ServiceEntry ===

struct ServicePort {
  uint16_t number = 0;
  std::string protocol = "HTTP";  // upper-case
  std::string name;
  uint16_t target_port = 0;  // 0: same as number
  SourcePos pos;
};

struct WorkloadEndpoint {
  std::string address;                    // numeric IP
  std::map<std::string, uint16_t> ports;  // service port name -> endpoint port
  std::map<std::string, std::string> labels;
  uint32_t weight = 1;
  std::string service_account;
  SourcePos pos;
};

struct ServiceEntry {
  ObjectMeta meta;
  std::vector<std::string> hosts;
  std::vector<SourcePos> host_pos;  // parallel to hosts
  std::vector<ServicePort> ports;
  bool mesh_internal = false;  // location (MESH_EXTERNAL is Istio's default)
  std::vector<WorkloadEndpoint> endpoints;
};

// === DestinationRule ===

// trafficPolicy.loadBalancer: `simple` and `consistentHash` form one component.
struct LoadBalancerSettings {
  std::optional<LbPolicy> simple;  // unset (or UNSPECIFIED): LEAST_REQUEST
  ConsistentHashPolicy hash;       // key kNone: no consistentHash
};

// The components of a trafficPolicy that override one another as a whole (Istio's
// MergeTrafficPolicy): an unset component falls back to the level below, or to the default.
struct PolicyComponents {
  std::optional<LoadBalancerSettings> load_balancer;
  std::optional<ConnectionPoolPolicy> connection_pool;
  std::optional<OutlierPolicy> outlier;  // enabled = true when set
  std::optional<ClientTlsPolicy> tls;
};

// trafficPolicy.portLevelSettings[]: replaces loadBalancer, connectionPool and outlierDetection
// wholesale for one port (a component it leaves unset takes its default).
struct PortTrafficPolicy {
  uint16_t port = 0;
  PolicyComponents components;
  SourcePos pos;
};

struct TrafficPolicy {
  PolicyComponents components;
  std::optional<RetryBudgetPolicy> retry_budget;
  std::vector<PortTrafficPolicy> port_level;  // first entry for a port wins

  // The port-level entry for `port`, or nullptr.
  const PortTrafficPolicy* forPort(uint16_t port) const;
};

struct Subset {
  std::string name;
  std::map<std::string, std::string> labels;
  std::optional<TrafficPolicy> policy;
  SourcePos pos;
};

struct DestinationRule {
  ObjectMeta meta;
  std::string host;  // expanded
  SourcePos host_pos;
  std::optional<TrafficPolicy> policy;
  std::vector<Subset> subsets;
};

// The effective policy of the cluster for (`rule`, `subset` or nullptr, `port`), merged as Istio
// does: top level, its port-level entry, the subset's components, the subset's port-level entry.
struct EffectivePolicy {
  LoadBalancerSettings load_balancer;
  ConnectionPoolPolicy connection_pool;
  OutlierPolicy outlier;
  RetryBudgetPolicy retry_budget;
  std::optional<ClientTlsPolicy> tls;  // unset: automatic mTLS
};
EffectivePolicy effectivePolicy(const DestinationRule* rule, const Subset* subset, uint16_t port);

// === VirtualService ===

// One http[].match entry: the request-time part (RouteMatch) plus the parts Istio resolves
// when it generates a proxy's configuration.
struct HttpMatch {
  RouteMatch match;
  std::optional<uint16_t> port;                      // only on this service port
  std::map<std::string, std::string> source_labels;  // calling proxy's labels must include
  std::optional<std::string> source_namespace;       // calling proxy's namespace
  std::vector<std::string> gateways;                 // empty: inherit the VirtualService's
};

struct HttpRouteDestination {
  std::string host;  // expanded
  std::string subset;
  uint16_t port = 0;  // 0: not given
  std::optional<uint32_t> weight;
  HeaderOperations request_headers;
  HeaderOperations response_headers;
  SourcePos pos;
};

// http[].mirror (+ mirrorPercentage / mirrorPercent) or one http[].mirrors[] entry.
struct HttpMirror {
  HttpRouteDestination destination;  // weight and headers unused
  uint32_t ppm = 1'000'000;          // percentage absent: 100%; never 0 (dropped when parsing)
};

struct HttpRoute {
  std::string name;
  std::vector<HttpMatch> matches;  // empty: matches everything
  std::vector<HttpRouteDestination> route;
  std::optional<std::string> rewrite_uri;
  std::optional<RegexRewrite> rewrite_uri_regex;  // exclusive with a non-empty rewrite_uri
  std::optional<std::string> rewrite_authority;
  HeaderOperations request_headers;
  HeaderOperations response_headers;
  uint32_t timeout_ms = 0;  // 0: none
  RetryPolicy retry;        // Istio's default policy when `retries` is absent
  FaultPolicy fault;
  std::vector<HttpMirror> mirrors;
  // Exclusive with `route`. derivePort FROM_REQUEST_PORT is resolved per service port by the
  // compiler.
  std::optional<RedirectAction> redirect;
  std::optional<DirectResponseAction> direct_response;
  std::optional<CorsPolicy> cors;
  SourcePos pos;
};

struct VirtualService {
  ObjectMeta meta;
  std::vector<std::string> hosts;  // expanded
  std::vector<SourcePos> host_pos;
  std::vector<HttpRoute> http;
};

// === AuthorizationPolicy (security.istio.io) ===

// Parsed straight into the compiled form the data path evaluates (patterns split, CIDRs parsed,
// methods upper-case, hosts lower-case); the compiler only selects the policies of a node.
struct AuthorizationPolicy {
  ObjectMeta meta;
  std::map<std::string, std::string> selector;  // selector.matchLabels; empty: no selector
  authz::CompiledPolicy::Action action = authz::CompiledPolicy::Action::kAllow;
  std::vector<authz::CompiledRule> rules;
};

// === PeerAuthentication (security.istio.io) ===

struct PeerAuthentication {
  ObjectMeta meta;
  std::map<std::string, std::string> selector;  // selector.matchLabels; empty: no selector
  std::optional<PeerMtlsMode> mode;             // mtls.mode; unset (or UNSET): inherit
  std::map<uint16_t, std::optional<PeerMtlsMode>> port_level;  // portLevelMtls
  SourcePos port_level_pos;
};

struct Resources {
  std::vector<ServiceEntry> service_entries;
  std::vector<DestinationRule> destination_rules;
  std::vector<VirtualService> virtual_services;
  std::vector<AuthorizationPolicy> authorization_policies;
  std::vector<PeerAuthentication> peer_authentications;
};

// A configuration file given by name and content.
struct ResourceFile {
  std::string name;
  std::string text;
  int first_line = 0;  // 0-based line of the text's start in the file named (added to positions)
};

struct ParseResult {
  Resources resources;
  ConfigErrors errors;  // errors and warnings
};

// Parses multi-document Istio YAML files (documents separated by `---`; empty documents are
// skipped). Resources with errors are kept in a best-effort form so that later checks can
// still report their own problems; use hasErrors() before trusting the result.
ParseResult parseResources(const std::vector<ResourceFile>& files);

// Istio's short-name expansion: no dot (and not "*") -> <name>.<ns>.svc.cluster.local;
// anything else verbatim. Lower-cases the result.
std::string expandHost(std::string_view host, std::string_view resource_namespace);

// "*.example.com" covers "a.example.com" and "a.b.example.com" (not "example.com"); "*" covers
// every host; otherwise equality.
bool hostCovers(std::string_view pattern, std::string_view host);

}  // namespace weft::mesh
