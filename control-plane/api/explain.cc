// Explain (see explain.h).
#include "api/explain.h"

#include "mesh/resources.h"
#include "router/router.h"

namespace weft::control {

namespace {

using nlohmann::json;

// "file:line:col" of the http rule `rule_name` (or of the VirtualService) `vs_name`.`ns`.
std::string routeSource(const Store& store, const std::string& route_name) {
  // route name: "<vs>.<namespace>[.<rule>]"
  size_t dot = route_name.find('.');
  if (dot == std::string::npos) return {};
  const std::string vs = route_name.substr(0, dot);
  std::string rest = route_name.substr(dot + 1);
  size_t dot2 = rest.find('.');
  const std::string ns = rest.substr(0, dot2);
  const std::string rule = dot2 == std::string::npos ? "" : rest.substr(dot2 + 1);
  DocumentPtr doc = store.find("VirtualService/" + ns + "/" + vs);
  if (!doc) return {};
  std::string where = doc->source + ":" + std::to_string(doc->first_line + 1);
  if (rule.empty()) return where;
  const mesh::ParseResult& parsed = parsedResources(*doc);
  for (const auto& v : parsed.resources.virtual_services) {
    for (const auto& r : v.http) {
      if (r.name == rule && r.pos.line > 0) {
        return r.pos.file + ":" + std::to_string(r.pos.line) + ":" + std::to_string(r.pos.column);
      }
    }
  }
  return where;
}

json headerOps(const mesh::HeaderOperations& ops) {
  return {{"set", ops.set}, {"add", ops.add}, {"remove", ops.remove}};
}

json clusterJson(const mesh::Cluster& c, uint32_t weight, uint32_t total) {
  json endpoints = json::array();
  uint64_t sum = 0;
  for (const auto& e : c.endpoints) sum += e.weight;
  for (const auto& e : c.endpoints) {
    endpoints.push_back({{"address", e.address},
                         {"port", e.port},
                         {"weight", e.weight},
                         {"share", sum ? static_cast<double>(e.weight) / sum : 0.0},
                         {"labels", e.labels},
                         {"service_account", e.service_account}});
  }
  json j = {{"cluster", c.name},
            {"host", c.service_host},
            {"port", c.port},
            {"subset", c.subset},
            {"weight", weight},
            {"share", total ? static_cast<double>(weight) / total : 0.0},
            {"endpoints", endpoints},
            {"load_balancer", c.hash.key != mesh::ConsistentHashPolicy::Key::kNone
                                  ? std::string("CONSISTENT_HASH")
                                  : std::string(mesh::toString(c.lb))}};
  j["connection_pool"] = {{"max_connections", c.pool.max_connections},
                          {"max_pending_requests", c.pool.max_pending_requests},
                          {"max_requests", c.pool.max_requests},
                          {"max_retries", c.pool.max_retries},
                          {"connect_timeout_ms", c.pool.connect_timeout_ms}};
  j["outlier_detection"] = {{"enabled", c.outlier.enabled},
                            {"consecutive_5xx", c.outlier.consecutive_5xx},
                            {"base_ejection_ms", c.outlier.base_ejection_ms},
                            {"max_ejection_percent", c.outlier.max_ejection_percent}};
  return j;
}

}  // namespace

std::optional<http::RequestHead> explainRequestHead(const std::string& url,
                                                    const std::string& method,
                                                    const std::vector<std::string>& headers,
                                                    std::string& error) {
  http::RequestHead head;
  head.method = method.empty() ? "GET" : method;
  if (!mesh::isHttpToken(head.method)) {
    error = "'method' must be an HTTP method";
    return std::nullopt;
  }
  std::string rest = url;
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  if (rest.rfind("https://", 0) == 0) {
    error = "only http:// URLs are routed by the sidecar";
    return std::nullopt;
  }
  if (rest.empty()) {
    error = "'url' is required";
    return std::nullopt;
  }
  if (rest[0] != '/') {
    size_t slash = rest.find_first_of("/?");
    head.authority = rest.substr(0, slash);
    rest = slash == std::string::npos ? "/" : rest.substr(slash);
    if (rest[0] == '?') rest = "/" + rest;
  }
  head.path = rest;
  head.target = rest;
  for (const auto& h : headers) {
    size_t colon = h.find(':');
    if (colon == std::string::npos || colon == 0 ||
        !mesh::isHttpToken(std::string_view(h).substr(0, colon))) {
      error = "each header must be name:value, not '" + h + "'";
      return std::nullopt;
    }
    std::string value = h.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    std::string name = mesh::toLower(h.substr(0, colon));
    if (name == "host" && head.authority.empty()) head.authority = value;
    head.headers.add(name, value);
  }
  if (head.authority.empty()) {
    error = "the URL needs a host (or give a host: header)";
    return std::nullopt;
  }
  if (!head.headers.has("host")) head.headers.add("host", head.authority);
  return head;
}

json explainRoute(const mesh::Snapshot& snapshot, const http::RequestHead& head,
                  const Store& store) {
  json out = {
      {"request", {{"method", head.method}, {"authority", head.authority}, {"path", head.path}}}};
  router::RouteResult r = router::findRoute(snapshot.outbound_routes, head);
  if (!r.virtual_host) {
    out["result"] = "no service answers to this host: 404, response flag NR";
    out["status"] = 404;
    return out;
  }
  out["virtual_host"] = r.virtual_host->name;
  if (!r.route) {
    out["result"] = "no route of the service matches: 404, response flag NR";
    out["status"] = 404;
    return out;
  }
  const mesh::Route& route = *r.route;
  json rj = {{"name", route.name}};
  const std::string source = routeSource(store, route.name);
  if (!source.empty()) rj["source"] = source;
  if (r.matched) {
    for (size_t i = 0; i < route.matches.size(); ++i) {
      if (&route.matches[i] == r.matched) rj["match_index"] = i;
    }
    if (!r.matched->name.empty()) rj["match_name"] = r.matched->name;
  }
  out["route"] = rj;
  if (route.redirect) {
    out["result"] = "redirect";
    out["status"] = route.redirect->code;
    out["location"] = router::redirectLocation(*route.redirect, head, r.matched);
    return out;
  }
  if (route.direct_response) {
    out["result"] = "direct response";
    out["status"] = route.direct_response->status;
    return out;
  }
  out["result"] = "routed";
  std::string path = head.path;
  router::rewritePath(route, r.matched, path);
  if (path != head.path) out["rewritten_path"] = path;
  if (route.rewrite_authority) out["rewritten_authority"] = *route.rewrite_authority;
  json dests = json::array();
  for (const auto& d : route.destinations) {
    if (d.cluster >= snapshot.clusters.size()) continue;
    json dj = clusterJson(snapshot.clusters[d.cluster], d.weight, route.total_weight);
    if (!d.request_headers.empty()) dj["request_headers"] = headerOps(d.request_headers);
    dests.push_back(std::move(dj));
  }
  out["destinations"] = dests;
  out["policies"] = {{"timeout_ms", route.timeout_ms},
                     {"retries",
                      {{"attempts", route.retry.attempts},
                       {"per_try_timeout_ms", route.retry.per_try_timeout_ms}}},
                     {"fault",
                      {{"delay_ms", route.fault.delay_ms},
                       {"delay_percent", route.fault.delay_ppm / 10000.0},
                       {"abort_status", route.fault.abort_status},
                       {"abort_percent", route.fault.abort_ppm / 10000.0}}},
                     {"mirrors", route.mirrors.size()},
                     {"cors", route.cors.has_value()}};
  if (!route.request_headers.empty()) out["request_headers"] = headerOps(route.request_headers);
  return out;
}

}  // namespace weft::control
