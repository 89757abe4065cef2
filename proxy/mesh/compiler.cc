// Compiling the resource model into one node's Snapshot (see compiler.h).
#include "mesh/compiler.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace weft::mesh {

std::string outboundClusterName(uint16_t port, std::string_view subset, std::string_view host) {
  return "outbound|" + std::to_string(port) + "|" + std::string(subset) + "|" + std::string(host);
}

std::vector<std::string> serviceDomains(std::string_view host, std::string_view client_namespace) {
  std::vector<std::string> out{std::string(host)};
  constexpr std::string_view kSuffix = ".svc.cluster.local";
  if (host.size() <= kSuffix.size() || host.substr(host.size() - kSuffix.size()) != kSuffix) {
    return out;
  }
  std::string_view head = host.substr(0, host.size() - kSuffix.size());  // "n.ns"
  size_t dot = head.find('.');
  if (dot == head.npos || dot == 0 || head.find('.', dot + 1) != head.npos) return out;
  std::string_view name = head.substr(0, dot);
  std::string_view ns = head.substr(dot + 1);
  if (name == "*") return out;
  out.push_back(std::string(head) + ".svc");
  out.push_back(std::string(head));
  if (ns == client_namespace) out.push_back(std::string(name));
  return out;
}

namespace {

bool isWildcard(std::string_view host) {
  return host.size() > 1 && host[0] == '*';
}

void applyPolicy(Cluster& c, const EffectivePolicy& p) {
  c.lb = p.load_balancer.simple.value_or(LbPolicy::kLeastRequest);
  c.hash = p.load_balancer.hash;
  c.pool = p.connection_pool;
  c.outlier = p.outlier;
  c.retry_budget = p.retry_budget;
  c.tls = p.tls ? std::make_shared<const ClientTlsPolicy>(*p.tls) : nullptr;
}

// Istio's automatic mTLS sends mutual TLS to endpoints that run a sidecar. Istio learns it from
// the label security.istio.io/tlsMode; a ServiceEntry endpoint names its sidecar's identity with
// serviceAccount, which Weft takes as the same statement.
bool runsSidecar(const WorkloadEndpoint& we) {
  auto it = we.labels.find("security.istio.io/tlsMode");
  if (it != we.labels.end()) return it->second == "istio";
  return !we.service_account.empty();
}

bool isHttpProtocol(const std::string& p) {
  return p == "HTTP" || p == "HTTP2" || p == "GRPC" || p == "GRPC-WEB";
}

std::string describe(const ObjectMeta& m) {
  return m.namespace_name + "/" + m.name;
}

// Istio's mesh configuration rootNamespace default: policies there apply mesh-wide.
constexpr std::string_view kRootNamespace = "istio-system";

// PeerAuthentication [ISTIO-SEMANTICS §7]: the most specific policy wins: one with a selector
// that matches the workload (its namespace), else the workload namespace's policy without
// selector, else the root namespace's policy without selector, else PERMISSIVE. An UNSET mode
// inherits from the next level. Several candidates at one level: the first wins (Istio takes
// the oldest). The policy levels that apply to a workload of `ns` with `labels`:
struct PeerPolicies {
  const PeerAuthentication* mesh_wide = nullptr;
  const PeerAuthentication* namespace_wide = nullptr;
  const PeerAuthentication* workload = nullptr;
};

PeerPolicies peerPoliciesFor(const std::vector<PeerAuthentication>& all, const std::string& ns,
                             const std::map<std::string, std::string>& labels) {
  PeerPolicies p;
  for (const PeerAuthentication& pa : all) {
    const std::string& pns = pa.meta.namespace_name;
    if (pa.selector.empty()) {
      if (pns == ns && !p.namespace_wide) p.namespace_wide = &pa;
      if (pns == kRootNamespace && !p.mesh_wide) p.mesh_wide = &pa;
      continue;
    }
    if (pns != ns || p.workload) continue;
    bool selected = std::all_of(pa.selector.begin(), pa.selector.end(), [&](const auto& kv) {
      auto it = labels.find(kv.first);
      return it != labels.end() && it->second == kv.second;
    });
    if (selected) p.workload = &pa;
  }
  return p;
}

// The mode of the workload's policies (port level aside) and the policy that decided it.
InboundMtls workloadMode(const PeerPolicies& p) {
  InboundMtls out;
  for (const PeerAuthentication* pa : {p.mesh_wide, p.namespace_wide, p.workload}) {
    if (pa && pa->mode) {
      out.mode = *pa->mode;
      out.policy = describe(pa->meta);
    }
  }
  return out;
}

struct Service {
  std::string host;
  const ServiceEntry* se = nullptr;
  SourcePos pos;
  const DestinationRule* dr = nullptr;
  const VirtualService* vs = nullptr;
  std::vector<const ServicePort*> http_ports;
};

class Compiler {
 public:
  Compiler(const Bootstrap& b, const Resources& r, ConfigErrors& errors, Snapshot& snap)
      : b_(b), r_(r), errors_(errors), snap_(snap) {}

  void run() {
    collectServices();
    selectDestinationRules();
    selectVirtualServices();
    buildClusters();
    buildRoutes();
    buildInbound();
    buildAuthz();
    buildInboundMtls();
    // Growth slack is a fifth of a large snapshot: give it back.
    snap_.clusters.shrink_to_fit();
    for (Cluster& c : snap_.clusters) c.endpoints.shrink_to_fit();
  }

 private:
  void error(const SourcePos& pos, std::string msg) {
    addError(errors_, pos, std::move(msg), false);
  }
  void warnOnce(const SourcePos& pos, std::string msg) {
    std::string key =
        pos.file + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column) + ":" + msg;
    if (reported_.insert(key).second) addError(errors_, pos, std::move(msg), true);
  }

  void collectServices();
  void selectDestinationRules();
  void selectVirtualServices();
  void buildClusters();
  void buildRoutes();
  void buildInbound();
  void buildAuthz();
  void buildInboundMtls();
  uint32_t addCluster(Cluster c);
  uint32_t emptyCluster(const std::string& host, uint16_t port, const std::string& subset);
  const Service* findService(const std::string& host) const;
  uint32_t resolveDestination(const HttpRouteDestination& d, uint16_t vhost_port);
  std::optional<Route> compileRoute(const VirtualService& vs, const HttpRoute& rule, uint16_t port);
  void fillServiceNames(Cluster& c) const;

  const Bootstrap& b_;
  const Resources& r_;
  ConfigErrors& errors_;
  Snapshot& snap_;
  std::vector<Service> services_;
  std::map<std::string, size_t> service_by_host_;
  std::map<std::string, uint32_t> cluster_by_name_;
  std::set<std::string> reported_;
  std::map<SharedLabels::Map, SharedLabels> label_sets_;  // one shared copy per distinct set

  SharedLabels internLabels(const SharedLabels::Map& labels) {
    auto [it, added] = label_sets_.try_emplace(labels);
    if (added) it->second = labels;
    return it->second;
  }
};

void Compiler::collectServices() {
  std::map<std::string, const ServiceEntry*> owner;
  for (const auto& se : r_.service_entries) {
    std::vector<const ServicePort*> http_ports;
    for (const auto& p : se.ports) {
      if (isHttpProtocol(p.protocol)) http_ports.push_back(&p);
    }
    for (size_t i = 0; i < se.hosts.size(); ++i) {
      const std::string& host = se.hosts[i];
      auto [it, inserted] = owner.emplace(host, &se);
      if (!inserted) {
        error(se.host_pos[i], "host '" + host + "' is already declared by ServiceEntry " +
                                  describe(it->second->meta));
        continue;
      }
      Service s;
      s.host = host;
      s.se = &se;
      s.pos = se.host_pos[i];
      s.http_ports = http_ports;
      service_by_host_[host] = services_.size();
      services_.push_back(std::move(s));
    }
  }
}

void Compiler::selectDestinationRules() {
  // (namespace, host) -> first rule; later ones conflict.
  std::map<std::pair<std::string, std::string>, const DestinationRule*> unique;
  std::vector<const DestinationRule*> rules;
  for (const auto& dr : r_.destination_rules) {
    auto [it, inserted] = unique.emplace(std::make_pair(dr.meta.namespace_name, dr.host), &dr);
    if (!inserted) {
      error(dr.host_pos, "DestinationRule " + describe(dr.meta) + " has the same host '" + dr.host +
                             "' as " + describe(it->second->meta) +
                             " (merging DestinationRules is not supported)");
      continue;
    }
    rules.push_back(&dr);
    bool used = std::any_of(services_.begin(), services_.end(),
                            [&](const Service& s) { return hostCovers(dr.host, s.host); });
    if (!used) {
      warnOnce(dr.host_pos, "DestinationRule " + describe(dr.meta) + ": host '" + dr.host +
                                "' matches no ServiceEntry host; the rule is ignored");
    }
  }
  for (auto& s : services_) {
    std::vector<std::string> order{b_.node.namespace_name, s.se->meta.namespace_name,
                                   "istio-system"};
    for (const auto& ns : order) {
      const DestinationRule* best = nullptr;
      for (const DestinationRule* dr : rules) {
        if (dr->meta.namespace_name != ns || !hostCovers(dr->host, s.host)) continue;
        if (dr->host == s.host) {  // the exact host wins over wildcards
          best = dr;
          break;
        }
        if (!best || dr->host.size() > best->host.size()) best = dr;
      }
      if (best) {
        s.dr = best;
        break;
      }
    }
  }
}

void Compiler::selectVirtualServices() {
  std::map<std::string, const VirtualService*> by_host;
  for (const auto& vs : r_.virtual_services) {
    for (size_t i = 0; i < vs.hosts.size(); ++i) {
      const std::string& h = vs.hosts[i];
      auto [it, inserted] = by_host.emplace(h, &vs);
      if (!inserted) {
        error(vs.host_pos[i], "VirtualService " + describe(vs.meta) + " declares host '" + h +
                                  "' already declared by VirtualService " +
                                  describe(it->second->meta) +
                                  "; several VirtualServices for one host conflict for sidecars "
                                  "(Istio IST0109)");
        continue;
      }
      bool used = std::any_of(services_.begin(), services_.end(),
                              [&](const Service& s) { return hostCovers(h, s.host); });
      if (!used) {
        warnOnce(vs.host_pos[i], "VirtualService " + describe(vs.meta) + ": host '" + h +
                                     "' matches no ServiceEntry host and is ignored");
      }
    }
  }
  for (auto& s : services_) {
    auto exact = by_host.find(s.host);
    if (exact != by_host.end()) {
      s.vs = exact->second;
      continue;
    }
    size_t best_len = 0;
    for (const auto& [pattern, vs] : by_host) {
      if (isWildcard(pattern) && hostCovers(pattern, s.host) &&
          (s.vs == nullptr || pattern.size() > best_len)) {
        s.vs = vs;
        best_len = pattern.size();
      }
    }
  }
}

void Compiler::fillServiceNames(Cluster& c) const {
  const std::string& h = c.service_host;
  c.service_name = h.substr(0, h.find('.'));
  c.service_namespace = "unknown";
  constexpr std::string_view kSuffix = ".svc.cluster.local";
  if (h.size() > kSuffix.size() &&
      h.compare(h.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0) {
    size_t first = h.find('.');
    size_t second = h.find('.', first + 1);
    c.service_namespace = h.substr(first + 1, second - first - 1);
  }
}

uint32_t Compiler::addCluster(Cluster c) {
  auto it = cluster_by_name_.find(c.name);
  if (it != cluster_by_name_.end()) return it->second;
  auto id = static_cast<uint32_t>(snap_.clusters.size());
  cluster_by_name_.emplace(c.name, id);
  snap_.clusters.push_back(std::move(c));
  return id;
}

uint32_t Compiler::emptyCluster(const std::string& host, uint16_t port, const std::string& subset) {
  std::string name = outboundClusterName(port, subset, host);
  auto it = cluster_by_name_.find(name);
  if (it != cluster_by_name_.end()) return it->second;
  Cluster c;
  c.name = name;
  c.service_host = host;
  c.port = port;
  c.subset = subset;
  fillServiceNames(c);
  return addCluster(std::move(c));
}

void Compiler::buildClusters() {
  for (const auto& s : services_) {
    for (const ServicePort* p : s.http_ports) {
      Cluster base;
      base.name = outboundClusterName(p->number, "", s.host);
      base.service_host = s.host;
      base.port = p->number;
      base.protocol = p->protocol;
      base.mesh_internal = s.se->mesh_internal;
      base.namespace_name = s.se->meta.namespace_name;
      fillServiceNames(base);
      applyPolicy(base, effectivePolicy(s.dr, nullptr, p->number));
      for (const auto& we : s.se->endpoints) {
        Endpoint e;
        e.address = we.address;
        auto named = p->name.empty() ? we.ports.end() : we.ports.find(p->name);
        e.port = named != we.ports.end() ? named->second
                 : p->target_port != 0   ? p->target_port
                                         : p->number;
        e.weight = we.weight;
        e.labels = internLabels(we.labels);
        e.service_account = we.service_account;
        // Istio 1.10+: no automatic mTLS to a workload whose own policy is DISABLE.
        e.auto_mtls =
            runsSidecar(we) && (r_.peer_authentications.empty() ||
                                workloadMode(peerPoliciesFor(r_.peer_authentications,
                                                             s.se->meta.namespace_name, we.labels))
                                        .mode != PeerMtlsMode::kDisable);
        base.endpoints.push_back(std::move(e));
      }
      addCluster(base);  // the service's cluster, then its subsets in declaration order
      if (!s.dr) continue;
      for (const auto& sub : s.dr->subsets) {
        Cluster c = base;
        c.name = outboundClusterName(p->number, sub.name, s.host);
        c.subset = sub.name;
        applyPolicy(c, effectivePolicy(s.dr, &sub, p->number));
        c.endpoints.clear();
        for (const auto& e : base.endpoints) {
          bool match = std::all_of(sub.labels.begin(), sub.labels.end(), [&](const auto& kv) {
            auto it = e.labels.find(kv.first);
            return it != e.labels.end() && it->second == kv.second;
          });
          if (match) c.endpoints.push_back(e);
        }
        if (c.endpoints.empty()) {
          warnOnce(sub.pos, "subset '" + sub.name + "' of host '" + s.host +
                                "' selects no endpoint: requests routed to it get 503");
        }
        addCluster(std::move(c));
      }
    }
  }
}

const Service* Compiler::findService(const std::string& host) const {
  auto it = service_by_host_.find(host);
  if (it != service_by_host_.end()) return &services_[it->second];
  const Service* best = nullptr;
  for (const auto& s : services_) {
    if (isWildcard(s.host) && hostCovers(s.host, host) &&
        (!best || s.host.size() > best->host.size())) {
      best = &s;
    }
  }
  return best;
}

uint32_t Compiler::resolveDestination(const HttpRouteDestination& d, uint16_t vhost_port) {
  const Service* s = findService(d.host);
  if (!s) {
    uint16_t port = d.port != 0 ? d.port : vhost_port;
    warnOnce(d.pos, "destination host '" + d.host +
                        "' matches no ServiceEntry host: requests routed there get 503");
    return emptyCluster(d.host, port, d.subset);
  }
  uint16_t port = d.port;
  if (port == 0) port = s->http_ports.size() == 1 ? s->http_ports[0]->number : vhost_port;
  bool has_port = std::any_of(s->http_ports.begin(), s->http_ports.end(),
                              [&](const ServicePort* p) { return p->number == port; });
  if (!has_port) {
    warnOnce(d.pos, "destination host '" + d.host + "' has no HTTP port " + std::to_string(port) +
                        (d.port == 0 ? " (set destination.port)" : "") +
                        ": requests routed there get 503");
    return emptyCluster(s->host, port, d.subset);
  }
  if (!d.subset.empty()) {
    bool defined = s->dr && std::any_of(s->dr->subsets.begin(), s->dr->subsets.end(),
                                        [&](const Subset& sub) { return sub.name == d.subset; });
    if (!defined) {
      warnOnce(d.pos, "subset '" + d.subset + "' of host '" + s->host +
                          "' is not defined by a DestinationRule visible to this proxy: requests "
                          "routed there get 503");
      return emptyCluster(s->host, port, d.subset);
    }
  }
  auto it = cluster_by_name_.find(outboundClusterName(port, d.subset, s->host));
  if (it != cluster_by_name_.end()) return it->second;
  return emptyCluster(s->host, port, d.subset);
}

std::optional<Route> Compiler::compileRoute(const VirtualService& vs, const HttpRoute& rule,
                                            uint16_t port) {
  Route route;
  route.name = vs.meta.name + "." + vs.meta.namespace_name;
  if (!rule.name.empty()) route.name += "." + rule.name;
  for (const auto& m : rule.matches) {
    if (m.port && *m.port != port) continue;
    if (m.source_namespace && *m.source_namespace != b_.node.namespace_name) continue;
    bool labels_match =
        std::all_of(m.source_labels.begin(), m.source_labels.end(), [&](const auto& kv) {
          auto it = b_.node.labels.find(kv.first);
          return it != b_.node.labels.end() && it->second == kv.second;
        });
    if (!labels_match) continue;
    if (!m.gateways.empty() &&
        std::find(m.gateways.begin(), m.gateways.end(), "mesh") == m.gateways.end()) {
      continue;
    }
    route.matches.push_back(m.match);
  }
  // A rule whose match entries all apply elsewhere is not a catch-all: it is left out.
  if (!rule.matches.empty() && route.matches.empty()) return std::nullopt;
  for (const auto& d : rule.route) {
    RouteDestination rd;
    rd.cluster = resolveDestination(d, port);
    rd.weight = rule.route.size() == 1 ? 100 : d.weight.value_or(0);
    rd.request_headers = d.request_headers;
    rd.response_headers = d.response_headers;
    route.total_weight += rd.weight;
    route.destinations.push_back(std::move(rd));
  }
  if (rule.redirect) {
    route.redirect = rule.redirect;
    // Istio resolves FROM_REQUEST_PORT to the port of the route table being generated.
    if (rule.redirect->derive_port == RedirectAction::DerivePort::kFromRequestPort) {
      route.redirect->port = port;
    }
  }
  route.direct_response = rule.direct_response;
  route.cors = rule.cors;
  if (route.destinations.empty() && !route.redirect && !route.direct_response) {
    return std::nullopt;
  }
  route.rewrite_uri = rule.rewrite_uri;
  route.rewrite_uri_regex = rule.rewrite_uri_regex;
  route.rewrite_authority = rule.rewrite_authority;
  route.request_headers = rule.request_headers;
  route.response_headers = rule.response_headers;
  route.timeout_ms = rule.timeout_ms;
  route.retry = rule.retry;
  route.fault = rule.fault;
  for (const auto& m : rule.mirrors) {
    if (!findService(m.destination.host)) {
      warnOnce(m.destination.pos, "mirror host '" + m.destination.host +
                                      "' matches no ServiceEntry host; the mirror is dropped");
      continue;
    }
    MirrorPolicy mp;
    mp.cluster = resolveDestination(m.destination, port);
    mp.ppm = m.ppm;
    route.mirrors.push_back(mp);
  }
  // Envoy mirrors only requests it forwards: redirect and direct-response routes have none.
  if (route.redirect || route.direct_response) route.mirrors.clear();
  return route;
}

void Compiler::buildRoutes() {
  RouteTable& table = snap_.outbound_routes;
  std::vector<std::vector<uint32_t>> vhosts_of(services_.size());
  for (size_t i = 0; i < services_.size(); ++i) {
    const Service& s = services_[i];
    for (const ServicePort* p : s.http_ports) {
      VirtualHost vh;
      vh.name = s.host + ":" + std::to_string(p->number);
      vh.service_host = s.host;
      vh.port = p->number;
      if (s.vs) {
        for (const auto& rule : s.vs->http) {
          if (auto r = compileRoute(*s.vs, rule, p->number)) vh.routes.push_back(std::move(*r));
        }
      } else {
        Route r;
        r.name = "default";
        RouteDestination d;
        d.cluster = cluster_by_name_.at(outboundClusterName(p->number, "", s.host));
        d.weight = 100;
        r.destinations.push_back(std::move(d));
        r.total_weight = 100;
        vh.routes.push_back(std::move(r));
      }
      vh.index();
      vhosts_of[i].push_back(static_cast<uint32_t>(table.virtual_hosts.size()));
      table.virtual_hosts.push_back(std::move(vh));
    }
  }
  // Full host names first, then short aliases that no other service claims.
  std::map<std::string, size_t> owner;
  for (size_t i = 0; i < services_.size(); ++i) {
    if (vhosts_of[i].empty()) continue;
    const std::string& host = services_[i].host;
    if (isWildcard(host)) {
      table.wildcard_domains.emplace_back(host.substr(1), vhosts_of[i]);
    } else {
      owner.emplace(host, i);
      table.domains[host] = vhosts_of[i];
    }
  }
  for (size_t i = 0; i < services_.size(); ++i) {
    if (vhosts_of[i].empty() || isWildcard(services_[i].host)) continue;
    auto domains = serviceDomains(services_[i].host, b_.node.namespace_name);
    for (size_t d = 1; d < domains.size(); ++d) {
      if (owner.emplace(domains[d], i).second) table.domains[domains[d]] = vhosts_of[i];
    }
  }
  std::stable_sort(table.wildcard_domains.begin(), table.wildcard_domains.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

void Compiler::buildInbound() {
  Cluster& c = snap_.inbound_app;
  c.name = "inbound|" + std::to_string(b_.inbound.port) + "||";
  c.service_host = b_.node.serviceFqdn();
  c.service_name = b_.node.service;
  c.service_namespace = b_.node.namespace_name;
  c.port = b_.inbound.port;
  c.mesh_internal = true;
  Endpoint e;
  e.address = b_.inbound_app.host;
  e.port = b_.inbound_app.port;
  e.labels = b_.node.labels;
  c.endpoints.push_back(std::move(e));
}

// PeerAuthentication for this node's inbound port (see peerPoliciesFor); portLevelMtls (only on
// a policy with a selector) overrides the mode for the app port it names.
void Compiler::buildInboundMtls() {
  PeerPolicies p = peerPoliciesFor(r_.peer_authentications, b_.node.namespace_name, b_.node.labels);
  InboundMtls& out = snap_.inbound_mtls;
  out = workloadMode(p);
  if (p.workload) {
    auto it = p.workload->port_level.find(snap_.inbound_app.endpoints.front().port);
    if (it != p.workload->port_level.end() && it->second) {
      out.mode = *it->second;
      out.policy = describe(p.workload->meta);
    }
  }
}

// Istio's scope [AP; ISTIO-SEMANTICS §1]: a policy of the root namespace applies to every
// workload of the mesh (its selector, if any, to matching workloads of any namespace); a
// policy of the node's namespace applies without selector, or when the selector's labels are
// all among the node's; policies of other namespaces never apply.
void Compiler::buildAuthz() {
  auto policies = std::make_shared<authz::CompiledPolicies>();
  for (const AuthorizationPolicy& ap : r_.authorization_policies) {
    const std::string& ns = ap.meta.namespace_name;
    if (ns != kRootNamespace && ns != b_.node.namespace_name) continue;
    bool selected = std::all_of(ap.selector.begin(), ap.selector.end(), [&](const auto& kv) {
      auto it = b_.node.labels.find(kv.first);
      return it != b_.node.labels.end() && it->second == kv.second;
    });
    if (!selected) continue;
    auto index = static_cast<uint32_t>(policies->policies.size());
    authz::CompiledPolicy p;
    p.name = ns + "/" + ap.meta.name;
    p.action = ap.action;
    p.rules = ap.rules;
    switch (ap.action) {
      case authz::CompiledPolicy::Action::kAllow:
        policies->allow.push_back(index);
        break;
      case authz::CompiledPolicy::Action::kDeny:
        // A DENY policy without rules matches nothing: it has no effect.
        if (p.rules.empty()) continue;
        policies->deny.push_back(index);
        break;
      case authz::CompiledPolicy::Action::kAudit:
        if (p.rules.empty()) continue;
        policies->audit.push_back(index);
        break;
    }
    policies->policies.push_back(std::move(p));
  }
  if (!policies->empty()) snap_.authz = std::move(policies);
}

uint64_t fnv1a(uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  // Separator so that ("ab","c") and ("a","bc") differ.
  h ^= 0xff;
  h *= 1099511628211ull;
  return h;
}

}  // namespace

std::shared_ptr<Snapshot> compileSnapshot(const Bootstrap& bootstrap, const Resources& resources,
                                          ConfigErrors& errors) {
  auto snap = std::make_shared<Snapshot>();
  snap->bootstrap = bootstrap;
  Compiler(bootstrap, resources, errors, *snap).run();
  return snap;
}

namespace {

// buildSnapshot before the result becomes const (dynamic mode still records the push on it).
std::shared_ptr<Snapshot> build(const Bootstrap& bootstrap, const std::vector<ResourceFile>& files,
                                uint64_t version, std::string_view bootstrap_text,
                                ConfigErrors& errors) {
  // Parsed on a short-lived thread: the YAML library's node trees and the parsed resources,
  // all garbage once compiled, then come from another malloc arena than the snapshot, which
  // is given back whole instead of leaving the long-lived heap full of holes (measured: a
  // sidecar with a 1,000-service mesh keeps ~7 MiB less resident memory).
  ParseResult parsed;
  std::thread([&] { parsed = parseResources(files); }).join();
  errors.insert(errors.end(), parsed.errors.begin(), parsed.errors.end());
  auto snap = compileSnapshot(bootstrap, parsed.resources, errors);
  // The parsed resources are freed here, by this thread, back to the parsing arena.
  parsed = ParseResult{};
  uint64_t h = fnv1a(14695981039346656037ull, bootstrap_text);
  for (const auto& f : files) h = fnv1a(fnv1a(h, f.name), f.text);
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  snap->version = version;
  snap->version_info = std::string("static-") + hex;
  return snap;
}

}  // namespace

LoadResult buildSnapshot(const Bootstrap& bootstrap, const std::vector<ResourceFile>& files,
                         uint64_t version, std::string_view bootstrap_text) {
  LoadResult result;
  auto snap = build(bootstrap, files, version, bootstrap_text, result.errors);
  if (!hasErrors(result.errors)) result.snapshot = std::move(snap);
  return result;
}

bool readWholeFile(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream buf;
  buf << in.rdbuf();
  out = buf.str();
  return true;
}

namespace {

LoadResult loadResources(const Bootstrap& bootstrap, std::string_view bootstrap_text,
                         uint64_t version, std::shared_ptr<const PushedConfig> pushed) {
  LoadResult result;
  std::vector<ResourceFile> files;
  for (const auto& path : bootstrap.resources) {
    ResourceFile f{path, {}};
    if (!readWholeFile(path, f.text)) {
      addError(result.errors, SourcePos{path, 0, 0}, "cannot read the resource file", false);
      continue;
    }
    files.push_back(std::move(f));
  }
  if (pushed) files.push_back(ResourceFile{pushed->sourceName(), pushed->resources()});
  auto snap = build(bootstrap, files, version, bootstrap_text, result.errors);
  if (hasErrors(result.errors)) return result;
  if (pushed) {
    snap->version_info = pushed->sourceName();
    snap->pushed = std::move(pushed);
  }
  result.snapshot = std::move(snap);
  return result;
}

}  // namespace

LoadResult loadStatic(const std::string& bootstrap_path, uint64_t version,
                      std::shared_ptr<const PushedConfig> pushed) {
  LoadResult result;
  std::string text;
  if (!readWholeFile(bootstrap_path, text)) {
    addError(result.errors, SourcePos{bootstrap_path, 0, 0}, "cannot read the bootstrap file",
             false);
    return result;
  }
  BootstrapResult boot = parseBootstrap(text, bootstrap_path);
  result.errors = std::move(boot.errors);
  if (!boot.bootstrap) return result;
  LoadResult built = loadResources(*boot.bootstrap, text, version, std::move(pushed));
  result.errors.insert(result.errors.end(), built.errors.begin(), built.errors.end());
  if (!hasErrors(result.errors)) result.snapshot = std::move(built.snapshot);
  return result;
}

LoadResult loadWithBootstrap(const Bootstrap& bootstrap, uint64_t version,
                             std::shared_ptr<const PushedConfig> pushed) {
  return loadResources(bootstrap, {}, version, std::move(pushed));
}

}  // namespace weft::mesh
