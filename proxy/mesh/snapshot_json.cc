// Snapshot -> JSON (what /config_dump shows). The form is documented in docs/configuration.md;
// keys keep the order written here so that dumps diff cleanly.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "mesh/snapshot.h"

namespace weft::mesh {

namespace {

using Json = nlohmann::ordered_json;

Json stringMatchJson(const StringMatch& m) {
  Json j = Json::object();
  switch (m.kind) {
    case StringMatch::Kind::kExact:
      j["exact"] = m.value;
      break;
    case StringMatch::Kind::kPrefix:
      j["prefix"] = m.value;
      break;
    case StringMatch::Kind::kRegex:
      j["regex"] = m.value;
      break;
    case StringMatch::Kind::kPresent:
      j["present"] = true;
      break;
  }
  if (m.ignore_case) j["ignore_case"] = true;
  return j;
}

Json headerOpsJson(const HeaderOperations& ops) {
  Json j = Json::object();
  Json set = Json::array();
  for (const auto& [k, v] : ops.set) set.push_back({{"name", k}, {"value", v}});
  Json add = Json::array();
  for (const auto& [k, v] : ops.add) add.push_back({{"name", k}, {"value", v}});
  j["set"] = std::move(set);
  j["add"] = std::move(add);
  j["remove"] = ops.remove;
  return j;
}

Json addressJson(const SocketAddress& a) {
  return toString(a);
}

Json retryJson(const RetryPolicy& r) {
  Json j;
  j["attempts"] = r.attempts;
  Json on = Json::array();
  for (uint32_t bit = 1; bit != 0; bit <<= 1) {
    if ((r.retry_on & bit) == 0) continue;
    const char* name = retryOnName(bit);
    on.push_back(name ? Json(name) : Json(bit));
  }
  j["retry_on"] = std::move(on);
  j["retriable_status_codes"] = r.retriable_status_codes;
  j["per_try_timeout_ms"] = r.per_try_timeout_ms;
  j["backoff_base_ms"] = r.backoff_base_ms;
  j["retry_remote_localities"] = r.retry_remote_localities;
  j["retry_ignore_previous_hosts"] = r.retry_ignore_previous_hosts;
  return j;
}

Json faultJson(const FaultPolicy& f) {
  Json j;
  j["delay_ms"] = f.delay_ms;
  j["delay_ppm"] = f.delay_ppm;
  j["abort_status"] = f.abort_status;
  j["abort_ppm"] = f.abort_ppm;
  return j;
}

const char* hashKeyName(ConsistentHashPolicy::Key k) {
  switch (k) {
    case ConsistentHashPolicy::Key::kNone:
      return "none";
    case ConsistentHashPolicy::Key::kHeader:
      return "header";
    case ConsistentHashPolicy::Key::kCookie:
      return "cookie";
    case ConsistentHashPolicy::Key::kSourceIp:
      return "source_ip";
    case ConsistentHashPolicy::Key::kQueryParameter:
      return "query_parameter";
  }
  return "none";
}

Json hashJson(const ConsistentHashPolicy& h) {
  Json j;
  j["key"] = hashKeyName(h.key);
  j["name"] = h.name;
  j["cookie_path"] = h.cookie_path;
  j["cookie_ttl_s"] = h.cookie_ttl_set ? Json(h.cookie_ttl_s) : Json(nullptr);
  j["algorithm"] = h.maglev ? "maglev" : "ring_hash";
  j["table_size"] = h.table_size;
  return j;
}

Json poolJson(const ConnectionPoolPolicy& p) {
  Json j;
  j["max_connections"] = p.max_connections;
  j["connect_timeout_ms"] = p.connect_timeout_ms;
  j["max_pending_requests"] = p.max_pending_requests;
  j["max_requests"] = p.max_requests;
  j["max_requests_per_connection"] = p.max_requests_per_connection;
  j["max_retries"] = p.max_retries;
  j["idle_timeout_ms"] = p.idle_timeout_ms;
  j["tcp_keepalive"] = p.tcp_keepalive;
  j["keepalive_time_s"] = p.keepalive_time_s;
  j["keepalive_interval_s"] = p.keepalive_interval_s;
  j["keepalive_probes"] = p.keepalive_probes;
  return j;
}

Json outlierJson(const OutlierPolicy& o) {
  Json j;
  j["enabled"] = o.enabled;
  j["consecutive_5xx"] = o.consecutive_5xx;
  j["consecutive_gateway"] = o.consecutive_gateway;
  j["interval_ms"] = o.interval_ms;
  j["base_ejection_ms"] = o.base_ejection_ms;
  j["max_ejection_percent"] = o.max_ejection_percent;
  j["min_health_percent"] = o.min_health_percent;
  j["split_local_origin"] = o.split_local_origin;
  j["consecutive_local_origin"] = o.consecutive_local_origin;
  return j;
}

Json clusterJson(const Cluster& c) {
  Json j;
  j["name"] = c.name;
  j["service_host"] = c.service_host;
  j["service_name"] = c.service_name;
  j["service_namespace"] = c.service_namespace;
  j["port"] = c.port;
  j["subset"] = c.subset;
  j["protocol"] = c.protocol;
  j["mesh_internal"] = c.mesh_internal;
  if (c.tls) {
    static constexpr const char* kModes[] = {"DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"};
    Json t = {{"mode", kModes[static_cast<int>(c.tls->mode)]}};
    if (!c.tls->sni.empty()) t["sni"] = c.tls->sni;
    if (!c.tls->ca_certificates.empty()) t["ca_certificates"] = c.tls->ca_certificates;
    if (!c.tls->client_certificate.empty()) t["client_certificate"] = c.tls->client_certificate;
    if (!c.tls->subject_alt_names.empty()) t["subject_alt_names"] = c.tls->subject_alt_names;
    if (c.tls->insecure_skip_verify) t["insecure_skip_verify"] = true;
    j["tls"] = std::move(t);
  } else {
    j["tls"] = {{"mode", "AUTO"}};
  }
  j["lb"] = toString(c.lb);
  j["consistent_hash"] = hashJson(c.hash);
  j["connection_pool"] = poolJson(c.pool);
  j["outlier_detection"] = outlierJson(c.outlier);
  j["retry_budget"] = {{"percent", c.retry_budget.percent},
                       {"min_retry_concurrency", c.retry_budget.min_retry_concurrency}};
  Json eps = Json::array();
  for (const auto& e : c.endpoints) {
    Json ej;
    ej["address"] = e.address;
    ej["port"] = e.port;
    ej["weight"] = e.weight;
    ej["labels"] = e.labels.get();
    ej["service_account"] = e.service_account;
    ej["auto_mtls"] = e.auto_mtls;
    eps.push_back(std::move(ej));
  }
  j["endpoints"] = std::move(eps);
  return j;
}

Json redirectJson(const RedirectAction& a) {
  Json j;
  j["uri"] = a.uri;
  j["authority"] = a.authority;
  j["port"] = a.port;
  switch (a.derive_port) {
    case RedirectAction::DerivePort::kNone:
      j["derive_port"] = nullptr;
      break;
    case RedirectAction::DerivePort::kFromProtocolDefault:
      j["derive_port"] = "FROM_PROTOCOL_DEFAULT";
      break;
    case RedirectAction::DerivePort::kFromRequestPort:
      j["derive_port"] = "FROM_REQUEST_PORT";
      break;
  }
  j["scheme"] = a.scheme;
  j["code"] = a.code;
  return j;
}

Json corsJson(const CorsPolicy& c) {
  Json j;
  Json origins = Json::array();
  for (const auto& m : c.allow_origins) origins.push_back(stringMatchJson(m));
  j["allow_origins"] = std::move(origins);
  j["allow_methods"] = c.allow_methods;
  j["allow_headers"] = c.allow_headers;
  j["expose_headers"] = c.expose_headers;
  j["max_age_s"] = c.max_age_s ? Json(*c.max_age_s) : Json(nullptr);
  j["allow_credentials"] = c.allow_credentials;
  j["unmatched_preflights"] = c.forward_unmatched_preflights ? "FORWARD" : "IGNORE";
  return j;
}

Json routeJson(const Route& r, const Snapshot& s) {
  Json j;
  j["name"] = r.name;
  Json matches = Json::array();
  for (const auto& m : r.matches) {
    Json mj = Json::object();
    mj["name"] = m.name;
    if (m.uri) mj["uri"] = stringMatchJson(*m.uri);
    if (m.method) mj["method"] = stringMatchJson(*m.method);
    Json headers = Json::array();
    for (const auto& h : m.headers) {
      Json hj;
      hj["name"] = h.name;
      hj["match"] = stringMatchJson(h.match);
      hj["invert"] = h.invert;
      headers.push_back(std::move(hj));
    }
    mj["headers"] = std::move(headers);
    Json params = Json::array();
    for (const auto& qp : m.query_params) {
      params.push_back({{"name", qp.name}, {"match", stringMatchJson(qp.match)}});
    }
    mj["query_params"] = std::move(params);
    matches.push_back(std::move(mj));
  }
  j["match"] = std::move(matches);
  Json dests = Json::array();
  for (const auto& d : r.destinations) {
    Json dj;
    dj["cluster"] = d.cluster < s.clusters.size() ? s.clusters[d.cluster].name : std::string();
    dj["weight"] = d.weight;
    dj["request_headers"] = headerOpsJson(d.request_headers);
    dj["response_headers"] = headerOpsJson(d.response_headers);
    dests.push_back(std::move(dj));
  }
  j["destinations"] = std::move(dests);
  j["total_weight"] = r.total_weight;
  j["rewrite_uri"] = r.rewrite_uri ? Json(*r.rewrite_uri) : Json(nullptr);
  if (r.rewrite_uri_regex) {
    j["rewrite_uri_regex"] = {{"match", r.rewrite_uri_regex->match},
                              {"rewrite", r.rewrite_uri_regex->rewrite}};
  } else {
    j["rewrite_uri_regex"] = nullptr;
  }
  j["rewrite_authority"] = r.rewrite_authority ? Json(*r.rewrite_authority) : Json(nullptr);
  j["request_headers"] = headerOpsJson(r.request_headers);
  j["response_headers"] = headerOpsJson(r.response_headers);
  j["timeout_ms"] = r.timeout_ms;
  j["retry"] = retryJson(r.retry);
  j["fault"] = faultJson(r.fault);
  Json mirrors = Json::array();
  for (const auto& m : r.mirrors) {
    Json mj;
    mj["cluster"] = m.cluster < s.clusters.size() ? s.clusters[m.cluster].name : std::string();
    mj["ppm"] = m.ppm;
    mirrors.push_back(std::move(mj));
  }
  j["mirrors"] = std::move(mirrors);
  j["redirect"] = r.redirect ? redirectJson(*r.redirect) : Json(nullptr);
  if (r.direct_response) {
    j["direct_response"] = {{"status", r.direct_response->status},
                            {"body", r.direct_response->body}};
  } else {
    j["direct_response"] = nullptr;
  }
  j["cors"] = r.cors ? corsJson(*r.cors) : Json(nullptr);
  return j;
}

}  // namespace

std::string toJson(const Snapshot& s) {
  const Bootstrap& b = s.bootstrap;
  Json j;
  j["version"] = s.version;
  j["version_info"] = s.version_info;

  Json node;
  node["id"] = b.node.id;
  node["workload"] = b.node.workload;
  node["service"] = b.node.service;
  node["namespace"] = b.node.namespace_name;
  node["service_account"] = b.node.service_account;
  node["cluster_id"] = b.node.cluster_id;
  node["trust_domain"] = b.node.trust_domain;
  node["labels"] = b.node.labels;
  node["app"] = b.node.app();
  node["version"] = b.node.version();
  node["canonical_service"] = b.node.canonicalService();
  node["canonical_revision"] = b.node.canonicalRevision();
  node["spiffe_id"] = b.node.spiffeId();
  node["service_fqdn"] = b.node.serviceFqdn();
  j["node"] = std::move(node);

  Json boot;
  boot["path"] = b.path;
  boot["admin"] = addressJson(b.admin);
  boot["outbound"] = addressJson(b.outbound);
  boot["inbound"] = addressJson(b.inbound);
  boot["inbound_app"] = addressJson(b.inbound_app);
  boot["resources"] = b.resources;
  boot["access_log"] = {{"enabled", b.access_log.enabled},
                        {"path", b.access_log.path},
                        {"format", b.access_log.format}};
  boot["timeouts_ms"] = {{"header_read", b.timeouts.header_read_ms},
                         {"downstream_idle", b.timeouts.downstream_idle_ms},
                         {"upstream_connect", b.timeouts.upstream_connect_ms},
                         {"upstream_pool_idle", b.timeouts.upstream_pool_idle_ms},
                         {"drain", b.timeouts.drain_ms}};
  boot["limits"] = {{"max_request_header_bytes", b.max_request_header_bytes},
                    {"max_request_headers", b.max_request_headers},
                    {"retry_buffer_bytes", b.retry_buffer_bytes}};
  if (b.control_plane) {
    // The token itself is never shown.
    boot["control_plane"] = {
        {"url", b.control_plane->url},
        {"token_file", b.control_plane->token_file},
        {"ca_certificate", b.control_plane->ca_certificate.empty()
                               ? Json(nullptr)
                               : Json(b.control_plane->ca_certificate)},
        {"resource_scope", b.control_plane->scope},
        {"cache_file",
         b.control_plane->cache_file.empty() ? Json(nullptr) : Json(b.control_plane->cache_file)},
        {"certificate_ttl_s", b.control_plane->certificate_ttl_s == 0
                                  ? Json(nullptr)
                                  : Json(b.control_plane->certificate_ttl_s)}};
  }
  if (b.identity) {
    boot["identity"] = {{"certificate", b.identity->certificate},
                        {"private_key", b.identity->private_key},
                        {"ca_certificates", b.identity->ca_certificates}};
  }
  j["bootstrap"] = std::move(boot);

  if (b.control_plane) {
    // Dynamic mode: the push compiled into this snapshot (null before the first one).
    Json cp;
    cp["url"] = b.control_plane->url;
    cp["version"] = s.pushed ? Json(s.pushed->version) : Json(nullptr);
    cp["source"] = s.pushed ? Json(s.pushed->sourceName()) : Json(nullptr);
    cp["built_from"] = s.pushed ? s.pushed->built_from : std::vector<std::string>{};
    // Where the configuration came from: "cache" (the cache file, read at start, until the
    // control plane sends a new version), "control_plane", or null before either.
    cp["origin"] =
        !s.pushed ? Json(nullptr) : Json(s.pushed->from_cache ? "cache" : "control_plane");
    j["control_plane"] = std::move(cp);
  }

  // Domains per virtual host, sorted, wildcards as "*.suffix".
  std::vector<std::vector<std::string>> domains(s.outbound_routes.virtual_hosts.size());
  for (const auto& [name, ids] : s.outbound_routes.domains) {
    for (uint32_t id : ids) {
      if (id < domains.size()) domains[id].push_back(name);
    }
  }
  for (const auto& [suffix, ids] : s.outbound_routes.wildcard_domains) {
    for (uint32_t id : ids) {
      if (id < domains.size()) domains[id].push_back("*" + suffix);
    }
  }
  Json vhosts = Json::array();
  for (size_t i = 0; i < s.outbound_routes.virtual_hosts.size(); ++i) {
    const VirtualHost& vh = s.outbound_routes.virtual_hosts[i];
    std::sort(domains[i].begin(), domains[i].end());
    Json vj;
    vj["name"] = vh.name;
    vj["service_host"] = vh.service_host;
    vj["port"] = vh.port;
    vj["domains"] = domains[i];
    Json routes = Json::array();
    for (const auto& r : vh.routes) routes.push_back(routeJson(r, s));
    vj["routes"] = std::move(routes);
    vhosts.push_back(std::move(vj));
  }
  j["outbound_routes"] = {{"virtual_hosts", std::move(vhosts)}};

  Json clusters = Json::array();
  for (const auto& c : s.clusters) clusters.push_back(clusterJson(c));
  j["clusters"] = std::move(clusters);
  j["inbound_app"] = clusterJson(s.inbound_app);
  j["peer_authentication"] = {
      {"mode", toString(s.inbound_mtls.mode)},
      {"policy", s.inbound_mtls.policy.empty() ? std::string("(default)") : s.inbound_mtls.policy}};
  if (s.authz) {
    // The AuthorizationPolicies of this node, in evaluation order within each action.
    Json policies = Json::array();
    for (const auto& p : s.authz->policies) {
      const char* action = p.action == authz::CompiledPolicy::Action::kAllow  ? "ALLOW"
                           : p.action == authz::CompiledPolicy::Action::kDeny ? "DENY"
                                                                              : "AUDIT";
      policies.push_back({{"name", p.name}, {"action", action}, {"rules", p.rules.size()}});
    }
    j["authorization_policies"] = std::move(policies);
  }
  // Names come from YAML files: invalid UTF-8 is replaced (U+FFFD) rather than thrown on.
  return j.dump(2, ' ', false, Json::error_handler_t::replace);
}

}  // namespace weft::mesh
