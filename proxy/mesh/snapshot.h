// Snapshot: everything one sidecar needs, compiled from Istio-format resources for one node.
//
// A Snapshot is immutable once built. The main thread builds it (static files now, the control
// plane later) and hands each worker a shared_ptr<const Snapshot>; requests already in flight
// finish on the snapshot they started with. Indexes (not pointers) link routes to clusters so
// the structure can be copied and dumped as JSON.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

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

  bool matches(std::string_view s) const;
};

struct HeaderMatch {
  std::string name;     // lower-case
  StringMatch match;    // kPresent: any value
  bool invert = false;  // withoutHeaders
};

// One entry of a VirtualService http[].match list: all its fields must match.
struct RouteMatch {
  std::string name;
  std::optional<StringMatch> uri;  // tested against the path without the query string
                                   // (prefix: against the start of the path)
  std::optional<StringMatch> method;
  std::vector<HeaderMatch> headers;
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

struct Route {
  std::string name;  // "<virtualservice>.<namespace>" and the route's own name, for logs
  std::vector<RouteMatch> matches;  // ORed; empty matches every request
  std::vector<RouteDestination> destinations;
  uint32_t total_weight = 0;
  std::optional<std::string> rewrite_uri;  // replaces the matched prefix (whole path for exact)
  std::optional<std::string> rewrite_authority;
  HeaderOperations request_headers;
  HeaderOperations response_headers;
};

// The routes of one service port.
struct VirtualHost {
  std::string name;          // "<fqdn>:<port>"
  std::string service_host;  // FQDN
  uint16_t port = 0;
  std::vector<Route> routes;  // first match wins; no match: 404 NR
};

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

struct Endpoint {
  std::string address;  // numeric IP
  uint16_t port = 0;
  uint32_t weight = 1;
  std::map<std::string, std::string> labels;
  std::string service_account;  // empty: no sidecar (plain text)
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
  std::vector<Endpoint> endpoints;
  std::string protocol = "HTTP";  // the ServiceEntry port's protocol
  bool mesh_internal = false;     // ServiceEntry location MESH_INTERNAL
};

struct Snapshot {
  uint64_t version = 0;
  std::string version_info;  // human-readable ("static-<hash>" in static mode)
  Bootstrap bootstrap;       // node identity, listeners, limits
  RouteTable outbound_routes;
  std::vector<Cluster> clusters;  // outbound clusters
  Cluster inbound_app;            // the local app behind the inbound listener
};

using SnapshotPtr = std::shared_ptr<const Snapshot>;

// Snapshot -> JSON text (what /config_dump shows).
std::string toJson(const Snapshot& snapshot);

struct LoadResult {
  SnapshotPtr snapshot;  // set when there are no errors
  ConfigErrors errors;   // errors and warnings of the bootstrap and every resource file
};

// Static mode: bootstrap + the Istio-format resource files it names -> Snapshot for its node.
LoadResult loadStatic(const std::string& bootstrap_path, uint64_t version);

}  // namespace weft::mesh
