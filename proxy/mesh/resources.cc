// Parsing Istio-format resources into the typed model (see resources.h).
#include "mesh/resources.h"
#include "mesh/security_resources.h"

#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>
#include <tuple>

namespace weft::mesh {

std::string expandHost(std::string_view host, std::string_view resource_namespace) {
  std::string h = toLower(host);
  if (h.empty() || h == "*" || h.find('.') != std::string::npos ||
      h.find(':') != std::string::npos) {
    return h;
  }
  return h + "." + std::string(resource_namespace) + ".svc.cluster.local";
}

bool hostCovers(std::string_view pattern, std::string_view host) {
  if (pattern == "*") return true;
  if (pattern.size() > 1 && pattern[0] == '*' && pattern[1] == '.') {
    std::string_view suffix = pattern.substr(1);  // ".example.com"
    return host.size() > suffix.size() && host.substr(host.size() - suffix.size()) == suffix;
  }
  return pattern == host;
}

namespace {

constexpr std::string_view kApiVersions[] = {
    "networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"};

std::string q(std::string_view s) {
  return "'" + std::string(s) + "'";
}

// A host in a VirtualService/DestinationRule/destination after expansion: a DNS name,
// "*.<dns name>" (when wildcards are allowed), "*" (idem) or an IP address.
bool validHost(const std::string& h, bool allow_wildcard) {
  if (isIpAddress(h)) return true;
  if (allow_wildcard) {
    if (h == "*") return true;
    if (h.size() > 2 && h[0] == '*' && h[1] == '.') return isDnsName(h.substr(2));
  }
  return isDnsName(h);
}

// True if the map `node` has `key` (including keys YamlMap reports as unsupported).
bool hasKey(const YAML::Node& node, std::string_view key) {
  if (!node.IsMap()) return false;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) return true;
  }
  return false;
}

std::optional<LbPolicy> parseLbName(const std::string& s, bool& ok) {
  ok = true;
  if (s == "ROUND_ROBIN") return LbPolicy::kRoundRobin;
  if (s == "LEAST_REQUEST" || s == "LEAST_CONN") return LbPolicy::kLeastRequest;
  if (s == "RANDOM") return LbPolicy::kRandom;
  if (s == "PASSTHROUGH") return LbPolicy::kPassthrough;
  if (s == "UNSPECIFIED") return std::nullopt;
  ok = false;
  return std::nullopt;
}

class Parser {
 public:
  using Seen = std::set<std::tuple<std::string, std::string, std::string>>;  // kind, ns, name
  Parser(YamlContext& ctx, Resources& out, Seen& seen) : ctx_(ctx), out_(out), seen_(seen) {}

  void document(const YAML::Node& doc);

 private:
  std::optional<ObjectMeta> meta(const YAML::Node& node, const YAML::Mark& doc_mark);
  void serviceEntry(ObjectMeta meta, const YAML::Node& spec);
  void destinationRule(ObjectMeta meta, const YAML::Node& spec);
  void virtualService(ObjectMeta meta, const YAML::Node& spec);
  void authorizationPolicy(ObjectMeta meta, const YAML::Node& spec);
  std::optional<authz::CompiledRule> authzRule(const YAML::Node& node);
  std::optional<authz::CompiledSource> authzSource(const YAML::Node& node);
  std::optional<authz::CompiledOperation> authzOperation(const YAML::Node& node);
  std::optional<authz::CompiledCondition> authzCondition(const YAML::Node& node);
  // A list of Istio string patterns (`field` of an AuthorizationPolicy); false after reporting.
  bool authzStrings(const YAML::Node& node, std::string_view field, bool ignore_case,
                    bool upper_case, std::vector<authz::StringMatcher>& out);
  bool authzCidrs(const YAML::Node& node, std::string_view field, std::vector<authz::Cidr>& out);
  bool authzPorts(const YAML::Node& node, std::string_view field, std::vector<uint16_t>& out);
  bool jwt_warned_ = false;

  std::optional<ServicePort> servicePort(const YAML::Node& node);
  std::optional<WorkloadEndpoint> workloadEndpoint(const YAML::Node& node);
  std::optional<TrafficPolicy> trafficPolicy(const YAML::Node& node);
  void policyComponents(const YamlMap& map, PolicyComponents& out);
  std::optional<LoadBalancerSettings> loadBalancer(const YAML::Node& node);
  std::optional<ConsistentHashPolicy> consistentHash(const YAML::Node& node);
  std::optional<ConnectionPoolPolicy> connectionPool(const YAML::Node& node);
  std::optional<OutlierPolicy> outlierDetection(const YAML::Node& node);
  std::optional<RetryBudgetPolicy> retryBudget(const YAML::Node& node);
  std::optional<Subset> subset(const YAML::Node& node);
  std::optional<RetryPolicy> retries(const YAML::Node& node);
  std::optional<FaultPolicy> fault(const YAML::Node& node);
  void mirrors(const YamlMap& map, const std::string& ns, std::vector<HttpMirror>& out);
  std::optional<HttpRouteDestination> destination(const YAML::Node& node, const std::string& ns);
  // An Istio Percent ({value: 0-100}) in parts per million.
  std::optional<uint32_t> percentPpm(const YAML::Node& node, std::string_view field);
  std::optional<double> percentValue(const YAML::Node& node, std::string_view field);
  std::optional<uint32_t> duration32(const YAML::Node& node, std::string_view field,
                                     uint64_t min_ms);
  std::optional<uint32_t> uint32Field(const YAML::Node& node, std::string_view field,
                                      uint64_t max = std::numeric_limits<uint32_t>::max());
  std::optional<HttpRoute> httpRoute(const YAML::Node& node, const std::string& ns);
  std::optional<HttpMatch> httpMatch(const YAML::Node& node);
  std::optional<HttpRouteDestination> routeDestination(const YAML::Node& node,
                                                       const std::string& ns);
  std::optional<StringMatch> stringMatch(const YAML::Node& node, std::string_view field);
  // An RE2 compiled once from `source` (read from `node`); nullptr after reporting if invalid.
  std::shared_ptr<const RE2> compileRegex(const YAML::Node& node, const std::string& source);
  std::optional<RegexRewrite> uriRegexRewrite(const YAML::Node& node);
  void queryParamMatches(const YAML::Node& node, std::vector<QueryParamMatch>& out);
  std::optional<RedirectAction> redirect(const YAML::Node& node);
  std::optional<DirectResponseAction> directResponse(const YAML::Node& node);
  std::optional<CorsPolicy> corsPolicy(const YAML::Node& node);
  void headerMatches(const YAML::Node& node, std::string_view field, bool invert,
                     std::vector<HeaderMatch>& out);
  void headers(const YAML::Node& node, HeaderOperations& request, HeaderOperations& response);
  void headerOperations(const YAML::Node& node, std::string_view what, HeaderOperations& ops);
  std::optional<std::string> host(const YAML::Node& node, std::string_view field,
                                  const std::string& ns, bool allow_wildcard);
  // Reads a list, calling fn for each item.
  template <typename Fn>
  void list(const YAML::Node& node, std::string_view field, Fn fn) {
    if (!node.IsSequence()) {
      ctx_.error(node.Mark(), q(field) + " must be a list, not " + describeNode(node));
      return;
    }
    for (const auto& item : node) fn(item);
  }

  YamlContext& ctx_;
  Resources& out_;
  Seen& seen_;
};

void Parser::document(const YAML::Node& doc) {
  auto top = YamlMap::open(ctx_, doc, "a resource", {"apiVersion", "kind", "metadata", "spec"},
                           {"status"});
  if (!top) return;
  const YAML::Node* kind_node = top->require("kind");
  const YAML::Node* api_node = top->require("apiVersion");
  std::optional<std::string> kind;
  std::optional<std::string> api;
  if (kind_node) kind = readNonEmptyString(ctx_, *kind_node, "kind");
  if (api_node) api = readNonEmptyString(ctx_, *api_node, "apiVersion");
  if (!kind) return;
  const bool security = *kind == "AuthorizationPolicy" || *kind == "PeerAuthentication";
  if (*kind != "ServiceEntry" && *kind != "DestinationRule" && *kind != "VirtualService" &&
      !security) {
    ctx_.warning(kind_node->Mark(), "kind " + q(*kind) + (api ? " (" + *api + ")" : "") +
                                        " is not supported yet; the resource is skipped");
    return;
  }
  if (security) {
    if (api && *api != "security.istio.io/v1" && *api != "security.istio.io/v1beta1") {
      ctx_.error(api_node->Mark(), "apiVersion " + q(*api) + " is not supported for " + *kind +
                                       "; use security.istio.io/v1 or v1beta1");
    }
  } else if (api && std::find(std::begin(kApiVersions), std::end(kApiVersions), *api) ==
                        std::end(kApiVersions)) {
    ctx_.error(api_node->Mark(), "apiVersion " + q(*api) + " is not supported for " + *kind +
                                     "; use networking.istio.io/v1, v1beta1 or v1alpha3");
  }
  std::optional<ObjectMeta> m;
  if (const YAML::Node* n = top->require("metadata")) m = meta(*n, doc.Mark());
  const YAML::Node* spec = top->require("spec");
  if (!spec) return;
  // A resource with a bad name is still checked, under an empty name.
  if (!m) m = ObjectMeta{{}, "default", ctx_.pos(doc.Mark())};
  if (!m->name.empty() && !seen_.insert({*kind, m->namespace_name, m->name}).second) {
    ctx_.error(m->pos, "duplicate " + *kind + " " + m->namespace_name + "/" + m->name);
    return;
  }
  if (*kind == "ServiceEntry") {
    serviceEntry(std::move(*m), *spec);
  } else if (*kind == "DestinationRule") {
    destinationRule(std::move(*m), *spec);
  } else if (*kind == "PeerAuthentication") {
    if (auto pa = parsePeerAuthentication(ctx_, std::move(*m), *spec)) {
      out_.peer_authentications.push_back(std::move(*pa));
    }
  } else if (security) {
    authorizationPolicy(std::move(*m), *spec);
  } else {
    virtualService(std::move(*m), *spec);
  }
}

std::optional<ObjectMeta> Parser::meta(const YAML::Node& node, const YAML::Mark& doc_mark) {
  auto map = YamlMap::open(ctx_, node, "'metadata'",
                           {"name", "namespace", "labels", "annotations", "uid", "resourceVersion",
                            "generation", "creationTimestamp", "managedFields"});
  if (!map) return std::nullopt;
  ObjectMeta m;
  m.pos = ctx_.pos(doc_mark);
  bool ok = true;
  if (const YAML::Node* n = map->require("name")) {
    auto v = readString(ctx_, *n, "name");
    if (v && isDnsName(*v)) {
      m.name = *v;
    } else {
      if (v) ctx_.error(n->Mark(), "'name' must be a lower-case DNS name, not " + q(*v));
      ok = false;
    }
  } else {
    ok = false;
  }
  if (const YAML::Node* n = map->find("namespace")) {
    auto v = readString(ctx_, *n, "namespace");
    if (v && isDnsLabel(*v)) {
      m.namespace_name = *v;
    } else if (v) {
      ctx_.error(n->Mark(), "'namespace' must be a DNS label, not " + q(*v));
    }
  }
  if (const YAML::Node* n = map->find("labels")) readStringMap(ctx_, *n, "labels");
  if (const YAML::Node* n = map->find("annotations")) readStringMap(ctx_, *n, "annotations");
  if (!ok) return std::nullopt;
  return m;
}

std::optional<std::string> Parser::host(const YAML::Node& node, std::string_view field,
                                        const std::string& ns, bool allow_wildcard) {
  auto v = readNonEmptyString(ctx_, node, field);
  if (!v) return std::nullopt;
  std::string h = expandHost(*v, ns);
  if (!validHost(h, allow_wildcard)) {
    ctx_.error(node.Mark(), "invalid host " + q(*v) +
                                (allow_wildcard ? "" : " (wildcards are not allowed here)"));
    return std::nullopt;
  }
  return h;
}

// === AuthorizationPolicy ===

void Parser::authorizationPolicy(ObjectMeta meta, const YAML::Node& spec) {
  auto map = YamlMap::open(ctx_, spec, "AuthorizationPolicy spec",
                           {"selector", "action", "rules", "targetRef", "targetRefs", "provider"});
  if (!map) return;
  AuthorizationPolicy ap;
  ap.meta = std::move(meta);
  bool skip = false;
  for (std::string_view f : {"targetRef", "targetRefs"}) {
    if (const YAML::Node* n = map->find(f)) {
      // Istio binds such policies to gateways and waypoints, never to sidecars.
      ctx_.warning(n->Mark(), q(f) +
                                  " binds the policy to gateways or waypoints, not to a "
                                  "sidecar; the policy is ignored here");
      skip = true;
    }
  }
  if (const YAML::Node* n = map->find("selector")) {
    if (auto sel = YamlMap::open(ctx_, *n, "'selector'", {"matchLabels"})) {
      if (const YAML::Node* ml = sel->find("matchLabels")) {
        if (auto labels = readStringMap(ctx_, *ml, "matchLabels")) ap.selector = std::move(*labels);
      }
    }
  }
  if (const YAML::Node* n = map->find("action")) {
    if (auto v = readNonEmptyString(ctx_, *n, "action")) {
      using A = authz::CompiledPolicy::Action;
      if (*v == "ALLOW") {
        ap.action = A::kAllow;
      } else if (*v == "DENY") {
        ap.action = A::kDeny;
      } else if (*v == "AUDIT") {
        ap.action = A::kAudit;
      } else if (*v == "CUSTOM") {
        ctx_.error(n->Mark(), "action CUSTOM (external authorization) is not supported yet");
      } else {
        ctx_.error(n->Mark(), "unknown action " + q(*v) + " (ALLOW, DENY, AUDIT or CUSTOM)");
      }
    }
  }
  if (const YAML::Node* n = map->find("provider")) {
    ctx_.error(n->Mark(), "'provider' goes with action CUSTOM, which is not supported yet");
  }
  if (const YAML::Node* n = map->find("rules")) {
    list(*n, "rules", [&](const YAML::Node& item) {
      if (auto r = authzRule(item)) ap.rules.push_back(std::move(*r));
    });
  }
  if (!skip) out_.authorization_policies.push_back(std::move(ap));
}

std::optional<authz::CompiledRule> Parser::authzRule(const YAML::Node& node) {
  // `{}` (or null) is a rule that matches every request.
  if (node.IsNull()) return authz::CompiledRule{};
  auto map = YamlMap::open(ctx_, node, "an AuthorizationPolicy rule", {"from", "to", "when"});
  if (!map) return std::nullopt;
  authz::CompiledRule rule;
  bool ok = true;
  if (const YAML::Node* n = map->find("from")) {
    list(*n, "from", [&](const YAML::Node& item) {
      auto from = YamlMap::open(ctx_, item, "a 'from' entry", {"source"});
      if (!from) {
        ok = false;
        return;
      }
      const YAML::Node* src = from->require("source");
      auto s = src ? authzSource(*src) : std::nullopt;
      if (!s) {
        ok = false;
        return;
      }
      rule.from.push_back(std::move(*s));
    });
    if (n->IsSequence() && n->size() == 0) {
      ctx_.error(n->Mark(), "'from' must not be an empty list (omit it to match any source)");
      ok = false;
    }
  }
  if (const YAML::Node* n = map->find("to")) {
    list(*n, "to", [&](const YAML::Node& item) {
      auto to = YamlMap::open(ctx_, item, "a 'to' entry", {"operation"});
      if (!to) {
        ok = false;
        return;
      }
      const YAML::Node* op = to->require("operation");
      auto o = op ? authzOperation(*op) : std::nullopt;
      if (!o) {
        ok = false;
        return;
      }
      rule.to.push_back(std::move(*o));
    });
    if (n->IsSequence() && n->size() == 0) {
      ctx_.error(n->Mark(), "'to' must not be an empty list (omit it to match any operation)");
      ok = false;
    }
  }
  if (const YAML::Node* n = map->find("when")) {
    list(*n, "when", [&](const YAML::Node& item) {
      auto c = authzCondition(item);
      if (!c) {
        ok = false;
        return;
      }
      rule.when.push_back(std::move(*c));
    });
  }
  if (!ok) return std::nullopt;
  return rule;
}

bool Parser::authzStrings(const YAML::Node& node, std::string_view field, bool ignore_case,
                          bool upper_case, std::vector<authz::StringMatcher>& out) {
  bool ok = true;
  list(node, field, [&](const YAML::Node& item) {
    auto v = readString(ctx_, item, field);
    if (!v) {
      ok = false;
      return;
    }
    if (v->empty()) {
      ctx_.error(item.Mark(), "empty value not allowed in " + q(field));
      ok = false;
      return;
    }
    if (field == "paths" || field == "notPaths") {
      if (v->find('{') != std::string::npos) {
        ctx_.error(item.Mark(), "path templates ({*}, {**}) are not supported yet in " + q(field));
        ok = false;
        return;
      }
    }
    if (upper_case) {
      for (char& c : *v) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      }
    }
    out.push_back(authz::makeStringMatcher(*v, ignore_case));
  });
  if (!node.IsSequence()) ok = false;
  return ok;
}

bool Parser::authzCidrs(const YAML::Node& node, std::string_view field,
                        std::vector<authz::Cidr>& out) {
  bool ok = true;
  list(node, field, [&](const YAML::Node& item) {
    auto v = readNonEmptyString(ctx_, item, field);
    if (!v) {
      ok = false;
      return;
    }
    auto c = authz::parseCidr(*v);
    if (!c) {
      ctx_.error(item.Mark(), "invalid IP address or CIDR " + q(*v) + " in " + q(field));
      ok = false;
      return;
    }
    out.push_back(*c);
  });
  if (!node.IsSequence()) ok = false;
  return ok;
}

bool Parser::authzPorts(const YAML::Node& node, std::string_view field,
                        std::vector<uint16_t>& out) {
  bool ok = true;
  list(node, field, [&](const YAML::Node& item) {
    // Istio's ports are strings; a plain YAML integer reads the same.
    auto v = readNonEmptyString(ctx_, item, field);
    uint64_t port = 0;
    bool valid = v && !v->empty() && v->size() <= 5 && (*v)[0] != '0';
    if (valid) {
      for (char c : *v) {
        if (c < '0' || c > '9') valid = false;
        port = port * 10 + static_cast<uint64_t>(c - '0');
      }
    }
    if (!valid || port < 1 || port > 65535) {
      if (v) ctx_.error(item.Mark(), "invalid port " + q(*v) + " in " + q(field));
      ok = false;
      return;
    }
    out.push_back(static_cast<uint16_t>(port));
  });
  if (!node.IsSequence()) ok = false;
  return ok;
}

std::optional<authz::CompiledSource> Parser::authzSource(const YAML::Node& node) {
  auto map = YamlMap::open(
      ctx_, node, "'source'",
      {"principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals", "namespaces",
       "notNamespaces", "ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks",
       "serviceAccounts", "notServiceAccounts", "trustDomains", "notTrustDomains"});
  if (!map) return std::nullopt;
  authz::CompiledSource s;
  bool ok = true;
  for (std::string_view f :
       {"serviceAccounts", "notServiceAccounts", "trustDomains", "notTrustDomains"}) {
    if (const YAML::Node* n = map->find(f)) {
      ctx_.error(n->Mark(), q(f) + " is not supported yet");
      ok = false;
    }
  }
  struct StringField {
    const char* name;
    std::vector<authz::StringMatcher>* out;
  };
  for (const StringField& f :
       {StringField{"principals", &s.principals}, StringField{"notPrincipals", &s.not_principals},
        StringField{"requestPrincipals", &s.request_principals},
        StringField{"notRequestPrincipals", &s.not_request_principals},
        StringField{"namespaces", &s.namespaces},
        StringField{"notNamespaces", &s.not_namespaces}}) {
    if (const YAML::Node* n = map->find(f.name)) {
      ok = authzStrings(*n, f.name, false, false, *f.out) && ok;
      std::string_view name(f.name);
      if (!jwt_warned_ && (name == "requestPrincipals" || name == "notRequestPrincipals")) {
        jwt_warned_ = true;
        ctx_.warning(n->Mark(),
                     "JWT validation is not supported yet: every request is treated as carrying "
                     "no valid token (requestPrincipals never match, notRequestPrincipals always "
                     "do)");
      }
    }
  }
  struct CidrField {
    const char* name;
    std::vector<authz::Cidr>* out;
  };
  for (const CidrField& f :
       {CidrField{"ipBlocks", &s.ip_blocks}, CidrField{"notIpBlocks", &s.not_ip_blocks},
        CidrField{"remoteIpBlocks", &s.remote_ip_blocks},
        CidrField{"notRemoteIpBlocks", &s.not_remote_ip_blocks}}) {
    if (const YAML::Node* n = map->find(f.name)) ok = authzCidrs(*n, f.name, *f.out) && ok;
  }
  if (ok && s.principals.empty() && s.not_principals.empty() && s.request_principals.empty() &&
      s.not_request_principals.empty() && s.namespaces.empty() && s.not_namespaces.empty() &&
      s.ip_blocks.empty() && s.not_ip_blocks.empty() && s.remote_ip_blocks.empty() &&
      s.not_remote_ip_blocks.empty()) {
    ctx_.error(node.Mark(), "'source' must not be empty");
    ok = false;
  }
  if (!ok) return std::nullopt;
  return s;
}

std::optional<authz::CompiledOperation> Parser::authzOperation(const YAML::Node& node) {
  auto map = YamlMap::open(
      ctx_, node, "'operation'",
      {"hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths"});
  if (!map) return std::nullopt;
  authz::CompiledOperation o;
  bool ok = true;
  if (const YAML::Node* n = map->find("hosts"))
    ok = authzStrings(*n, "hosts", true, false, o.hosts);
  if (const YAML::Node* n = map->find("notHosts")) {
    ok = authzStrings(*n, "notHosts", true, false, o.not_hosts) && ok;
  }
  if (const YAML::Node* n = map->find("ports")) ok = authzPorts(*n, "ports", o.ports) && ok;
  if (const YAML::Node* n = map->find("notPorts")) {
    ok = authzPorts(*n, "notPorts", o.not_ports) && ok;
  }
  if (const YAML::Node* n = map->find("methods")) {
    ok = authzStrings(*n, "methods", false, true, o.methods) && ok;
  }
  if (const YAML::Node* n = map->find("notMethods")) {
    ok = authzStrings(*n, "notMethods", false, true, o.not_methods) && ok;
  }
  if (const YAML::Node* n = map->find("paths")) {
    ok = authzStrings(*n, "paths", false, false, o.paths) && ok;
  }
  if (const YAML::Node* n = map->find("notPaths")) {
    ok = authzStrings(*n, "notPaths", false, false, o.not_paths) && ok;
  }
  if (ok && o.hosts.empty() && o.not_hosts.empty() && o.ports.empty() && o.not_ports.empty() &&
      o.methods.empty() && o.not_methods.empty() && o.paths.empty() && o.not_paths.empty()) {
    ctx_.error(node.Mark(), "'operation' must not be empty");
    ok = false;
  }
  if (!ok) return std::nullopt;
  return o;
}

std::optional<authz::CompiledCondition> Parser::authzCondition(const YAML::Node& node) {
  auto map = YamlMap::open(ctx_, node, "a 'when' condition", {"key", "values", "notValues"});
  if (!map) return std::nullopt;
  const YAML::Node* key_node = map->require("key");
  if (!key_node) return std::nullopt;
  auto key = readNonEmptyString(ctx_, *key_node, "key");
  if (!key) return std::nullopt;
  using Key = authz::CompiledCondition::Key;
  authz::CompiledCondition c;
  enum class Values { kStrings, kCidrs, kPorts } kind = Values::kStrings;
  constexpr std::string_view kHeader = "request.headers[";
  constexpr std::string_view kClaims = "request.auth.claims[";
  if (key->starts_with(kHeader) && key->size() > kHeader.size() + 1 && key->back() == ']') {
    std::string name = key->substr(kHeader.size(), key->size() - kHeader.size() - 1);
    if (!isHttpToken(name)) {
      ctx_.error(key_node->Mark(), "invalid header name in key " + q(*key));
      return std::nullopt;
    }
    c.key = Key::kRequestHeader;
    c.header = toLower(name);
  } else if (*key == "source.ip") {
    c.key = Key::kSourceIp;
    kind = Values::kCidrs;
  } else if (*key == "remote.ip") {
    c.key = Key::kRemoteIp;
    kind = Values::kCidrs;
  } else if (*key == "source.namespace") {
    c.key = Key::kSourceNamespace;
  } else if (*key == "source.principal") {
    c.key = Key::kSourcePrincipal;
  } else if (*key == "destination.port") {
    c.key = Key::kDestinationPort;
    kind = Values::kPorts;
  } else if (*key == "request.auth.principal" ||
             (key->starts_with(kClaims) && key->size() > kClaims.size() + 1 &&
              key->back() == ']')) {
    c.key = Key::kRequestAuth;
    if (!jwt_warned_) {
      jwt_warned_ = true;
      ctx_.warning(key_node->Mark(),
                   "JWT validation is not supported yet: every request is treated as carrying "
                   "no valid token (" +
                       q(*key) + " values never match, notValues always do)");
    }
  } else if (*key == "source.serviceAccount" || *key == "source.trustDomain" ||
             *key == "request.auth.audiences" || *key == "request.auth.presenter" ||
             *key == "destination.ip" || *key == "connection.sni" ||
             key->starts_with("experimental.envoy.filters.")) {
    ctx_.error(key_node->Mark(), "condition key " + q(*key) + " is not supported yet");
    return std::nullopt;
  } else {
    ctx_.error(key_node->Mark(), "unknown condition key " + q(*key));
    return std::nullopt;
  }
  const YAML::Node* values = map->find("values");
  const YAML::Node* not_values = map->find("notValues");
  if (!values && !not_values) {
    ctx_.error(map->mark(),
               "at least one of 'values' or 'notValues' must be set for key " + q(*key));
    return std::nullopt;
  }
  bool ok = true;
  auto read = [&](const YAML::Node& n, std::string_view field, bool negative) {
    switch (kind) {
      case Values::kStrings:
        return authzStrings(n, field, false, false, negative ? c.not_values : c.values);
      case Values::kCidrs:
        return authzCidrs(n, field, negative ? c.not_cidrs : c.cidrs);
      case Values::kPorts:
        return authzPorts(n, field, negative ? c.not_ports : c.ports);
    }
    return false;
  };
  if (values) ok = read(*values, "values", false) && ok;
  if (not_values) ok = read(*not_values, "notValues", true) && ok;
  if (ok && c.values.empty() && c.not_values.empty() && c.cidrs.empty() && c.not_cidrs.empty() &&
      c.ports.empty() && c.not_ports.empty()) {
    ctx_.error(map->mark(),
               "at least one of 'values' or 'notValues' must be set for key " + q(*key));
    ok = false;
  }
  c.has_values = !c.values.empty() || !c.cidrs.empty() || !c.ports.empty();
  if (!ok) return std::nullopt;
  return c;
}

// === ServiceEntry ===

void Parser::serviceEntry(ObjectMeta meta, const YAML::Node& spec) {
  auto map = YamlMap::open(ctx_, spec, "ServiceEntry spec",
                           {"hosts", "ports", "location", "resolution", "endpoints"},
                           {"addresses", "workloadSelector", "exportTo", "subjectAltNames"});
  if (!map) return;
  ServiceEntry se;
  se.meta = std::move(meta);
  if (const YAML::Node* n = map->require("hosts")) {
    list(*n, "hosts", [&](const YAML::Node& item) {
      auto v = readNonEmptyString(ctx_, item, "hosts");
      if (!v) return;
      std::string h = toLower(*v);
      bool wildcard = h.size() > 2 && h[0] == '*' && h[1] == '.';
      if (!(wildcard ? isDnsName(h.substr(2)) : isDnsName(h))) {
        ctx_.error(item.Mark(), "invalid ServiceEntry host " + q(*v));
        return;
      }
      if (std::find(se.hosts.begin(), se.hosts.end(), h) != se.hosts.end()) {
        ctx_.error(item.Mark(), "duplicate host " + q(*v));
        return;
      }
      se.hosts.push_back(h);
      se.host_pos.push_back(ctx_.pos(item.Mark()));
    });
    if (n->IsSequence() && n->size() == 0) ctx_.error(n->Mark(), "'hosts' must not be empty");
  }
  if (const YAML::Node* n = map->require("ports")) {
    list(*n, "ports", [&](const YAML::Node& item) {
      auto p = servicePort(item);
      if (!p) return;
      for (const auto& other : se.ports) {
        if (other.number == p->number) {
          ctx_.error(item.Mark(), "duplicate port number " + std::to_string(p->number));
          return;
        }
        if (!p->name.empty() && other.name == p->name) {
          ctx_.error(item.Mark(), "duplicate port name " + q(p->name));
          return;
        }
      }
      se.ports.push_back(std::move(*p));
    });
    if (n->IsSequence() && n->size() == 0) ctx_.error(n->Mark(), "'ports' must not be empty");
  }
  if (const YAML::Node* n = map->find("location")) {
    if (auto v = readString(ctx_, *n, "location")) {
      if (*v == "MESH_INTERNAL") {
        se.mesh_internal = true;
      } else if (*v != "MESH_EXTERNAL") {
        ctx_.error(n->Mark(), "'location' must be MESH_INTERNAL or MESH_EXTERNAL, not " + q(*v));
      }
    }
  }
  if (const YAML::Node* n = map->find("resolution")) {
    if (auto v = readString(ctx_, *n, "resolution")) {
      if (*v == "NONE" || *v == "DNS" || *v == "DNS_ROUND_ROBIN" || *v == "DYNAMIC_DNS") {
        ctx_.error(n->Mark(), "resolution " + *v + " is not supported yet (only STATIC)");
      } else if (*v != "STATIC") {
        ctx_.error(n->Mark(),
                   "'resolution' must be one of NONE, STATIC, DNS, DNS_ROUND_ROBIN, "
                   "DYNAMIC_DNS, not " +
                       q(*v));
      }
    }
  } else {
    ctx_.error(map->mark(),
               "'resolution' is absent, so it is NONE, which is not supported yet; "
               "set resolution: STATIC and list the endpoints");
  }
  if (const YAML::Node* n = map->find("endpoints")) {
    list(*n, "endpoints", [&](const YAML::Node& item) {
      if (auto e = workloadEndpoint(item)) se.endpoints.push_back(std::move(*e));
    });
  }
  if (se.endpoints.empty()) {
    ctx_.warning(map->mark(), "ServiceEntry " + se.meta.namespace_name + "/" + se.meta.name +
                                  " has no endpoints: requests to it get 503");
  }
  out_.service_entries.push_back(std::move(se));
}

std::optional<ServicePort> Parser::servicePort(const YAML::Node& node) {
  auto map = YamlMap::open(ctx_, node, "a ServiceEntry port",
                           {"number", "protocol", "name", "targetPort"});
  if (!map) return std::nullopt;
  ServicePort p;
  p.pos = ctx_.pos(node.Mark());
  bool ok = true;
  if (const YAML::Node* n = map->require("number")) {
    if (auto v = readPort(ctx_, *n, "number")) {
      p.number = *v;
    } else {
      ok = false;
    }
  } else {
    ok = false;
  }
  if (const YAML::Node* n = map->find("protocol")) {
    if (auto v = readString(ctx_, *n, "protocol")) {
      static const std::set<std::string> kKnown = {"HTTP",  "HTTPS", "GRPC",  "GRPC-WEB",
                                                   "HTTP2", "MONGO", "MYSQL", "REDIS",
                                                   "TCP",   "TLS",   "UDP"};
      std::string up = *v;
      for (auto& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (!kKnown.count(up)) {
        ctx_.error(n->Mark(), "unknown protocol " + q(*v));
      } else {
        p.protocol = up;
        if (up == "HTTP2" || up == "GRPC" || up == "GRPC-WEB") {
          ctx_.warning(n->Mark(), "protocol " + up + " is served as HTTP/1.1 for now");
        } else if (up != "HTTP") {
          ctx_.warning(n->Mark(), "protocol " + up + " is not supported yet; this port is ignored");
        }
      }
    }
  }
  if (const YAML::Node* n = map->find("name")) {
    if (auto v = readString(ctx_, *n, "name")) p.name = *v;
  }
  if (const YAML::Node* n = map->find("targetPort")) {
    if (auto v = readPort(ctx_, *n, "targetPort")) p.target_port = *v;
  }
  if (!ok) return std::nullopt;
  return p;
}

std::optional<WorkloadEndpoint> Parser::workloadEndpoint(const YAML::Node& node) {
  auto map = YamlMap::open(ctx_, node, "an endpoint",
                           {"address", "ports", "labels", "weight", "serviceAccount"},
                           {"locality", "network"});
  if (!map) return std::nullopt;
  WorkloadEndpoint e;
  e.pos = ctx_.pos(node.Mark());
  bool ok = false;
  if (const YAML::Node* n = map->require("address")) {
    if (auto v = readNonEmptyString(ctx_, *n, "address")) {
      if (isIpAddress(*v)) {
        e.address = *v;
        ok = true;
      } else if (v->rfind("unix://", 0) == 0) {
        ctx_.error(n->Mark(), "unix socket endpoints are not supported yet");
      } else {
        ctx_.error(n->Mark(),
                   "endpoint 'address' must be a numeric IP address with resolution "
                   "STATIC, not " +
                       q(*v));
      }
    }
  }
  if (const YAML::Node* n = map->find("ports")) {
    if (auto ports = YamlMap::openAny(ctx_, *n, "'ports'")) {
      for (const auto& entry : ports->entries()) {
        if (auto v = readPort(ctx_, entry.value, entry.key)) e.ports[entry.key] = *v;
      }
    }
  }
  if (const YAML::Node* n = map->find("labels")) {
    if (auto v = readStringMap(ctx_, *n, "labels")) e.labels = *v;
  }
  if (const YAML::Node* n = map->find("weight")) {
    if (auto v = readUint(ctx_, *n, "weight", 0, std::numeric_limits<uint32_t>::max())) {
      e.weight = *v == 0 ? 1 : static_cast<uint32_t>(*v);
    }
  }
  if (const YAML::Node* n = map->find("serviceAccount")) {
    if (auto v = readString(ctx_, *n, "serviceAccount")) e.service_account = *v;
  }
  if (!ok) return std::nullopt;
  return e;
}

// === DestinationRule ===

void Parser::destinationRule(ObjectMeta meta, const YAML::Node& spec) {
  auto map = YamlMap::open(ctx_, spec, "DestinationRule spec", {"host", "trafficPolicy", "subsets"},
                           {"exportTo", "workloadSelector"});
  if (!map) return;
  DestinationRule dr;
  dr.meta = std::move(meta);
  bool ok = false;
  if (const YAML::Node* n = map->require("host")) {
    if (auto h = host(*n, "host", dr.meta.namespace_name, true)) {
      dr.host = *h;
      dr.host_pos = ctx_.pos(n->Mark());
      ok = true;
    }
  }
  if (const YAML::Node* n = map->find("trafficPolicy")) dr.policy = trafficPolicy(*n);
  if (const YAML::Node* n = map->find("subsets")) {
    list(*n, "subsets", [&](const YAML::Node& item) {
      auto s = subset(item);
      if (!s) return;
      for (const auto& other : dr.subsets) {
        if (other.name == s->name) {
          ctx_.error(item.Mark(), "duplicate subset " + q(s->name));
          return;
        }
      }
      dr.subsets.push_back(std::move(*s));
    });
  }
  if (ok) out_.destination_rules.push_back(std::move(dr));
}

std::optional<uint32_t> Parser::duration32(const YAML::Node& node, std::string_view field,
                                           uint64_t min_ms) {
  auto v = readDurationMs(ctx_, node, field, min_ms, std::numeric_limits<uint32_t>::max());
  if (!v) return std::nullopt;
  return static_cast<uint32_t>(*v);
}

std::optional<uint32_t> Parser::uint32Field(const YAML::Node& node, std::string_view field,
                                            uint64_t max) {
  auto v = readUint(ctx_, node, field, 0, max);
  if (!v) return std::nullopt;
  return static_cast<uint32_t>(*v);
}

std::optional<double> Parser::percentValue(const YAML::Node& node, std::string_view field) {
  // A plain decimal number: digits with an optional fraction (YAML 1.1 forms such as 0x10 or
  // .inf are refused).
  auto bad = [&](const std::string& got) {
    ctx_.error(node.Mark(), q(field) + " must be a number between 0 and 100, not " + got);
    return std::nullopt;
  };
  if (!node.IsScalar()) return bad(describeNode(node));
  const std::string& s = node.Scalar();
  if (node.Tag() != "?") return bad("\"" + s + "\"");
  size_t i = 0;
  size_t int_digits = 0;
  size_t frac_digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++frac_digits;
  }
  if (i != s.size() || int_digits + frac_digits == 0 || int_digits > 3) return bad(q(s));
  double v = std::strtod(s.c_str(), nullptr);
  if (v < 0 || v > 100) return bad(s);
  return v;
}

std::optional<uint32_t> Parser::percentPpm(const YAML::Node& node, std::string_view field) {
  auto map = YamlMap::open(ctx_, node, q(field), {"value"});
  if (!map) return std::nullopt;
  const YAML::Node* v = map->find("value");
  if (!v) return 0u;  // Percent.value unset is 0
  auto d = percentValue(*v, "value");
  if (!d) return std::nullopt;
  return static_cast<uint32_t>(std::llround(*d * 10'000.0));
}

std::optional<TrafficPolicy> Parser::trafficPolicy(const YAML::Node& node) {
  auto map = YamlMap::open(ctx_, node, "'trafficPolicy'",
                           {"loadBalancer", "connectionPool", "outlierDetection",
                            "portLevelSettings", "retryBudget", "tls"},
                           {"tunnel", "proxyProtocol"});
  if (!map) return std::nullopt;
  TrafficPolicy p;
  policyComponents(*map, p.components);
  if (const YAML::Node* n = map->find("retryBudget")) p.retry_budget = retryBudget(*n);
  if (const YAML::Node* n = map->find("portLevelSettings")) {
    list(*n, "portLevelSettings", [&](const YAML::Node& item) {
      auto pm =
          YamlMap::open(ctx_, item, "a portLevelSettings entry",
                        {"port", "loadBalancer", "connectionPool", "outlierDetection", "tls"});
      if (!pm) return;
      PortTrafficPolicy pl;
      pl.pos = ctx_.pos(item.Mark());
      const YAML::Node* port = pm->require("port");
      if (!port) return;
      auto portmap = YamlMap::open(ctx_, *port, "'port'", {"number"});
      if (!portmap) return;
      const YAML::Node* num = portmap->require("number");
      if (!num) return;
      auto v = readPort(ctx_, *num, "number");
      if (!v) return;
      pl.port = *v;
      policyComponents(*pm, pl.components);
      if (p.forPort(pl.port)) {
        ctx_.warning(item.Mark(), "port " + std::to_string(pl.port) +
                                      " appears twice in 'portLevelSettings'; the first entry "
                                      "is used");
        return;
      }
      p.port_level.push_back(std::move(pl));
    });
  }
  return p;
}

void Parser::policyComponents(const YamlMap& map, PolicyComponents& out) {
  if (const YAML::Node* n = map.find("loadBalancer")) out.load_balancer = loadBalancer(*n);
  if (const YAML::Node* n = map.find("connectionPool")) out.connection_pool = connectionPool(*n);
  if (const YAML::Node* n = map.find("outlierDetection")) out.outlier = outlierDetection(*n);
  if (const YAML::Node* n = map.find("tls")) out.tls = parseClientTls(ctx_, *n);
}

std::optional<LoadBalancerSettings> Parser::loadBalancer(const YAML::Node& node) {
  auto map = YamlMap::open(ctx_, node, "'loadBalancer'", {"simple", "consistentHash"},
                           {"localityLbSetting", "warmupDurationSecs", "warmup"});
  if (!map) return std::nullopt;
  LoadBalancerSettings lb;
  const YAML::Node* simple = map->find("simple");
  const YAML::Node* hash = map->find("consistentHash");
  if (simple && hash) {
    ctx_.error(map->mark(), "'loadBalancer' must have only one of simple, consistentHash");
    return std::nullopt;
  }
  if (simple) {
    auto v = readString(ctx_, *simple, "simple");
    if (!v) return std::nullopt;
    bool ok = false;
    lb.simple = parseLbName(*v, ok);
    if (!ok) {
      ctx_.error(simple->Mark(),
                 "'simple' must be one of ROUND_ROBIN, LEAST_REQUEST, RANDOM, "
                 "PASSTHROUGH, not " +
                     q(*v));
      return std::nullopt;
    }
  }
  if (hash) {
    auto h = consistentHash(*hash);
    if (!h) return std::nullopt;
    lb.hash = std::move(*h);
  }
  return lb;
}

std::optional<ConsistentHashPolicy> Parser::consistentHash(const YAML::Node& node) {
  auto map = YamlMap::open(ctx_, node, "'consistentHash'",
                           {"httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName",
                            "ringHash", "maglev", "minimumRingSize"});
  if (!map) return std::nullopt;
  ConsistentHashPolicy h;
  bool ok = true;
  int keys = 0;
  for (const char* k : {"httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName"}) {
    if (map->has(k)) ++keys;
  }
  if (keys > 1) {
    ctx_.error(map->mark(),
               "'consistentHash' must have only one of httpHeaderName, httpCookie, "
               "useSourceIp, httpQueryParameterName");
    return std::nullopt;
  }
  if (const YAML::Node* n = map->find("httpHeaderName")) {
    auto v = readNonEmptyString(ctx_, *n, "httpHeaderName");
    if (v && !isHttpToken(*v)) {
      ctx_.error(n->Mark(), "invalid header name " + q(*v));
      v.reset();
    }
    if (v) {
      h.key = ConsistentHashPolicy::Key::kHeader;
      h.name = toLower(*v);
    } else {
      ok = false;
    }
  }
  if (const YAML::Node* n = map->find("httpCookie")) {
    auto cm = YamlMap::open(ctx_, *n, "'httpCookie'", {"name", "path", "ttl"}, {"attributes"});
    if (!cm) return std::nullopt;
    h.key = ConsistentHashPolicy::Key::kCookie;
    if (const YAML::Node* c = cm->require("name")) {
      auto v = readNonEmptyString(ctx_, *c, "name");
      if (v && !isHttpToken(*v)) {
        ctx_.error(c->Mark(), "invalid cookie name " + q(*v));
        v.reset();
      }
      if (v) {
        h.name = *v;
      } else {
        ok = false;
      }
    } else {
      ok = false;
    }
    if (const YAML::Node* c = cm->find("path")) {
      if (auto v = readString(ctx_, *c, "path")) h.cookie_path = *v;
    }
    if (const YAML::Node* c = cm->find("ttl")) {
      if (auto v = readDurationMs(ctx_, *c, "ttl", 0,
                                  uint64_t{std::numeric_limits<uint32_t>::max()} * 1000)) {
        // Whole seconds; a ttl under one second (but not 0) becomes one second.
        h.cookie_ttl_s = static_cast<uint32_t>(*v / 1000);
        if (*v > 0 && h.cookie_ttl_s == 0) h.cookie_ttl_s = 1;
        h.cookie_ttl_set = true;
      } else {
        ok = false;
      }
    }
  }
  if (const YAML::Node* n = map->find("useSourceIp")) {
    auto v = readBool(ctx_, *n, "useSourceIp");
    if (!v) ok = false;
    if (v && *v) h.key = ConsistentHashPolicy::Key::kSourceIp;
  }
  if (const YAML::Node* n = map->find("httpQueryParameterName")) {
    if (auto v = readNonEmptyString(ctx_, *n, "httpQueryParameterName")) {
      h.key = ConsistentHashPolicy::Key::kQueryParameter;
      h.name = *v;
    } else {
      ok = false;
    }
  }
  const YAML::Node* ring = map->find("ringHash");
  const YAML::Node* maglev = map->find("maglev");
  const YAML::Node* legacy = map->find("minimumRingSize");
  if (ring && maglev) {
    ctx_.error(map->mark(), "'consistentHash' must have only one of ringHash, maglev");
    return std::nullopt;
  }
  constexpr uint64_t kMaxRing = 8'388'608;  // Envoy's limit
  auto ringSize = [&](const YAML::Node& n, std::string_view field) {
    if (auto v = readUint(ctx_, n, field, 0, kMaxRing)) {
      if (*v != 0) h.table_size = *v;
    } else {
      ok = false;
    }
  };
  if (ring) {
    if (auto rm = YamlMap::open(ctx_, *ring, "'ringHash'", {"minimumRingSize"})) {
      if (const YAML::Node* n = rm->find("minimumRingSize")) ringSize(*n, "minimumRingSize");
    }
  } else if (maglev) {
    h.maglev = true;
    h.table_size = 65537;
    if (auto mm = YamlMap::open(ctx_, *maglev, "'maglev'", {"tableSize"})) {
      if (const YAML::Node* n = mm->find("tableSize")) {
        constexpr uint64_t kMaxTable = 5'000'011;  // Envoy's limit
        if (auto v = readUint(ctx_, *n, "tableSize", 0, kMaxTable)) {
          bool prime = *v >= 2;
          for (uint64_t d = 2; prime && d * d <= *v; ++d) prime = *v % d != 0;
          if (*v == 0) {
          } else if (!prime) {
            ctx_.error(n->Mark(), "'tableSize' must be a prime number, not " + std::to_string(*v));
            ok = false;
          } else {
            h.table_size = *v;
          }
        } else {
          ok = false;
        }
      }
    }
  }
  if (legacy) {
    if (ring || maglev) {
      ctx_.warning(legacy->Mark(), "'minimumRingSize' is ignored next to 'ringHash' or 'maglev'");
    } else {
      ringSize(*legacy, "minimumRingSize");
    }
  }
  if (keys == 0) {
    ctx_.warning(map->mark(),
                 "'consistentHash' has no hash key (httpHeaderName, httpCookie, useSourceIp or "
                 "httpQueryParameterName): it is ignored");
  }
  if (!ok) return std::nullopt;
  return h;
}

std::optional<ConnectionPoolPolicy> Parser::connectionPool(const YAML::Node& node) {
  auto map = YamlMap::open(ctx_, node, "'connectionPool'", {"tcp", "http"});
  if (!map) return std::nullopt;
  ConnectionPoolPolicy p;
  bool ok = true;
  // Istio's fields are int32: at most 2^31-1; 0 keeps the default (unlimited).
  constexpr uint64_t kInt32Max = std::numeric_limits<int32_t>::max();
  auto limit = [&](const YamlMap& m, const char* key, uint32_t& out) {
    const YAML::Node* n = m.find(key);
    if (!n) return;
    if (auto v = uint32Field(*n, key, kInt32Max)) {
      if (*v > 0) out = *v;
    } else {
      ok = false;
    }
  };
  if (const YAML::Node* n = map->find("tcp")) {
    if (auto tcp =
            YamlMap::open(ctx_, *n, "'tcp'", {"maxConnections", "connectTimeout", "tcpKeepalive"},
                          {"maxConnectionDuration", "idleTimeout"})) {
      limit(*tcp, "maxConnections", p.max_connections);
      if (const YAML::Node* t = tcp->find("connectTimeout")) {
        if (auto v = duration32(*t, "connectTimeout", 1)) {
          p.connect_timeout_ms = *v;
        } else {
          ok = false;
        }
      }
      if (const YAML::Node* k = tcp->find("tcpKeepalive")) {
        if (auto ka = YamlMap::open(ctx_, *k, "'tcpKeepalive'", {"probes", "time", "interval"})) {
          p.tcp_keepalive = true;
          if (const YAML::Node* v = ka->find("probes")) {
            if (auto x = uint32Field(*v, "probes")) {
              p.keepalive_probes = *x;
            } else {
              ok = false;
            }
          }
          // Whole seconds (Envoy's unit; Istio truncates).
          auto seconds = [&](const char* key, uint32_t& out) {
            const YAML::Node* v = ka->find(key);
            if (!v) return;
            if (auto ms = readDurationMs(ctx_, *v, key, 1000,
                                         uint64_t{std::numeric_limits<uint32_t>::max()} * 1000)) {
              out = static_cast<uint32_t>(*ms / 1000);
            } else {
              ok = false;
            }
          };
          seconds("time", p.keepalive_time_s);
          seconds("interval", p.keepalive_interval_s);
        }
      }
    }
  }
  if (const YAML::Node* n = map->find("http")) {
    if (auto http =
            YamlMap::open(ctx_, *n, "'http'",
                          {"http1MaxPendingRequests", "http2MaxRequests",
                           "maxRequestsPerConnection", "maxRetries", "idleTimeout"},
                          {"h2UpgradePolicy", "useClientProtocol", "maxConcurrentStreams"})) {
      limit(*http, "http1MaxPendingRequests", p.max_pending_requests);
      limit(*http, "http2MaxRequests", p.max_requests);
      limit(*http, "maxRequestsPerConnection", p.max_requests_per_connection);
      limit(*http, "maxRetries", p.max_retries);
      if (const YAML::Node* t = http->find("idleTimeout")) {
        if (auto v = duration32(*t, "idleTimeout", 1)) {
          p.idle_timeout_ms = *v;
        } else {
          ok = false;
        }
      }
    }
  }
  if (!ok) return std::nullopt;
  return p;
}

std::optional<OutlierPolicy> Parser::outlierDetection(const YAML::Node& node) {
  auto map = YamlMap::open(
      ctx_, node, "'outlierDetection'",
      {"consecutive5xxErrors", "consecutiveGatewayErrors", "interval", "baseEjectionTime",
       "maxEjectionPercent", "minHealthPercent", "splitExternalLocalOriginErrors",
       "consecutiveLocalOriginFailures", "consecutiveErrors"});
  if (!map) return std::nullopt;
  OutlierPolicy o;
  o.enabled = true;
  bool ok = true;
  auto count = [&](const char* key, uint32_t& out) {
    const YAML::Node* n = map->find(key);
    if (!n) return;
    if (auto v = uint32Field(*n, key)) {
      out = *v;
    } else {
      ok = false;
    }
  };
  auto duration = [&](const char* key, uint32_t& out) {
    const YAML::Node* n = map->find(key);
    if (!n) return;
    if (auto v = duration32(*n, key, 1)) {
      out = *v;
    } else {
      ok = false;
    }
  };
  count("consecutive5xxErrors", o.consecutive_5xx);
  count("consecutiveGatewayErrors", o.consecutive_gateway);
  duration("interval", o.interval_ms);
  duration("baseEjectionTime", o.base_ejection_ms);
  if (const YAML::Node* n = map->find("maxEjectionPercent")) {
    // Istio passes only a value above 0; 0 keeps Envoy's 10%.
    if (auto v = uint32Field(*n, "maxEjectionPercent", 100)) {
      if (*v > 0) o.max_ejection_percent = *v;
    } else {
      ok = false;
    }
  }
  if (const YAML::Node* n = map->find("minHealthPercent")) {
    if (auto v = uint32Field(*n, "minHealthPercent", 100)) {
      o.min_health_percent = *v;
    } else {
      ok = false;
    }
  }
  if (const YAML::Node* n = map->find("splitExternalLocalOriginErrors")) {
    if (auto v = readBool(ctx_, *n, "splitExternalLocalOriginErrors")) {
      o.split_local_origin = *v;
    } else {
      ok = false;
    }
  }
  count("consecutiveLocalOriginFailures", o.consecutive_local_origin);
  for (const auto& e : map->entries()) {
    if (e.key == "consecutiveErrors") {
      ctx_.warning(e.key_node.Mark(),
                   "'consecutiveErrors' is deprecated, ignored (use consecutive5xxErrors)");
    }
  }
  if (!ok) return std::nullopt;
  return o;
}

std::optional<RetryBudgetPolicy> Parser::retryBudget(const YAML::Node& node) {
  auto map = YamlMap::open(ctx_, node, "'retryBudget'", {"percent", "minRetryConcurrency"});
  if (!map) return std::nullopt;
  RetryBudgetPolicy b;
  bool ok = true;
  if (const YAML::Node* n = map->find("percent")) {
    if (auto pm = YamlMap::open(ctx_, *n, "'percent'", {"value"})) {
      if (const YAML::Node* v = pm->find("value")) {
        if (auto d = percentValue(*v, "value")) {
          b.percent = *d;
        } else {
          ok = false;
        }
      }
    } else {
      ok = false;
    }
  }
  if (const YAML::Node* n = map->find("minRetryConcurrency")) {
    if (auto v = uint32Field(*n, "minRetryConcurrency")) {
      b.min_retry_concurrency = *v;
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return b;
}

std::optional<Subset> Parser::subset(const YAML::Node& node) {
  auto map = YamlMap::open(ctx_, node, "a subset", {"name", "labels", "trafficPolicy"});
  if (!map) return std::nullopt;
  Subset s;
  s.pos = ctx_.pos(node.Mark());
  bool ok = false;
  if (const YAML::Node* n = map->require("name")) {
    if (auto v = readString(ctx_, *n, "name")) {
      if (isDnsLabel(*v)) {
        s.name = *v;
        ok = true;
      } else {
        ctx_.error(n->Mark(), "subset 'name' must be a DNS label, not " + q(*v));
      }
    }
  }
  if (const YAML::Node* n = map->find("labels")) {
    if (auto v = readStringMap(ctx_, *n, "labels")) s.labels = *v;
  }
  if (const YAML::Node* n = map->find("trafficPolicy")) s.policy = trafficPolicy(*n);
  if (!ok) return std::nullopt;
  return s;
}

// === VirtualService ===

void Parser::virtualService(ObjectMeta meta, const YAML::Node& spec) {
  auto map = YamlMap::open(ctx_, spec, "VirtualService spec", {"hosts", "gateways", "http"},
                           {"tcp", "tls", "exportTo"});
  if (!map) return;
  VirtualService vs;
  vs.meta = std::move(meta);
  const std::string ns = vs.meta.namespace_name;
  if (const YAML::Node* n = map->require("hosts")) {
    list(*n, "hosts", [&](const YAML::Node& item) {
      auto h = host(item, "hosts", ns, true);
      if (!h) return;
      if (std::find(vs.hosts.begin(), vs.hosts.end(), *h) != vs.hosts.end()) {
        ctx_.error(item.Mark(), "duplicate host " + q(*h));
        return;
      }
      vs.hosts.push_back(*h);
      vs.host_pos.push_back(ctx_.pos(item.Mark()));
    });
    if (n->IsSequence() && n->size() == 0) ctx_.error(n->Mark(), "'hosts' must not be empty");
  }
  bool for_sidecars = true;
  if (const YAML::Node* n = map->find("gateways")) {
    if (auto gws = readStringList(ctx_, *n, "gateways")) {
      for_sidecars = false;
      for (const auto& g : *gws) {
        if (g == "mesh") {
          for_sidecars = true;
        } else {
          ctx_.warning(n->Mark(), "gateway " + q(g) +
                                      ": gateways other than 'mesh' are not supported yet and "
                                      "are ignored");
        }
      }
      if (!for_sidecars) {
        ctx_.warning(n->Mark(), "VirtualService " + ns + "/" + vs.meta.name +
                                    " does not apply to sidecars ('mesh' is not in its gateways) "
                                    "and is ignored");
      }
    }
  }
  if (const YAML::Node* n = map->find("http")) {
    list(*n, "http", [&](const YAML::Node& item) {
      if (auto r = httpRoute(item, ns)) vs.http.push_back(std::move(*r));
    });
  }
  if (for_sidecars) out_.virtual_services.push_back(std::move(vs));
}

std::optional<HttpRoute> Parser::httpRoute(const YAML::Node& node, const std::string& ns) {
  auto map = YamlMap::open(
      ctx_, node, "an http route",
      {"name", "match", "route", "rewrite", "headers", "timeout", "retries", "fault", "mirror",
       "mirrorPercent", "mirrorPercentage", "mirrors", "redirect", "directResponse", "corsPolicy"},
      {"delegate"});
  if (!map) return std::nullopt;
  HttpRoute r;
  r.pos = ctx_.pos(node.Mark());
  if (const YAML::Node* n = map->find("name")) {
    if (auto v = readString(ctx_, *n, "name")) r.name = *v;
  }
  if (const YAML::Node* n = map->find("match")) {
    list(*n, "match", [&](const YAML::Node& item) {
      if (auto m = httpMatch(item)) r.matches.push_back(std::move(*m));
    });
  }
  const YAML::Node* route = map->find("route");
  const YAML::Node* redirect_node = map->find("redirect");
  const YAML::Node* direct_node = map->find("directResponse");
  bool ok = true;
  // Istio's validateHTTPRouteConflict: route, redirect and directResponse exclude one another;
  // rewrite and fault make no sense without a route.
  if (redirect_node || direct_node) {
    const char* action = redirect_node ? "redirect" : "directResponse";
    if (redirect_node && direct_node) {
      ctx_.error(direct_node->Mark(),
                 "an http route cannot have both 'redirect' and 'directResponse'");
      ok = false;
    }
    for (const char* other : {"route", "rewrite", "fault"}) {
      if (const YAML::Node* o = map->find(other)) {
        ctx_.error(o->Mark(), std::string("an http route cannot have both '") + action + "' and '" +
                                  other + "'");
        ok = false;
      }
    }
    if (redirect_node) {
      if (auto v = redirect(*redirect_node)) {
        r.redirect = std::move(*v);
      } else {
        ok = false;
      }
    }
    if (direct_node) {
      if (auto v = directResponse(*direct_node)) {
        r.direct_response = std::move(*v);
      } else {
        ok = false;
      }
    }
  } else if (!route) {
    if (node["delegate"]) {
      ctx_.warning(node.Mark(), "this http route has no 'route' Weft can use and is skipped");
    } else {
      ctx_.error(node.Mark(), "an http route needs 'route', 'redirect' or 'directResponse'");
    }
    return std::nullopt;
  }
  if (route && !r.redirect && !r.direct_response && ok)
    list(*route, "route", [&](const YAML::Node& item) {
      if (auto d = routeDestination(item, ns)) {
        r.route.push_back(std::move(*d));
      } else {
        ok = false;
      }
    });
  if (route && !route->IsSequence()) ok = false;
  if (route && route->IsSequence() && route->size() == 0) {
    ctx_.error(route->Mark(), "'route' must not be empty");
    ok = false;
  }
  if (ok && r.route.size() > 1) {
    uint64_t total = 0;
    for (const auto& d : r.route) total += d.weight.value_or(0);
    if (total == 0) {
      ctx_.error(route->Mark(), "the destinations' weights add up to 0");
      ok = false;
    } else if (total > std::numeric_limits<uint32_t>::max()) {
      ctx_.error(route->Mark(), "the destinations' weights add up to more than 2^32-1");
      ok = false;
    }
  }
  if (const YAML::Node* n = map->find("rewrite")) {
    if (auto rw = YamlMap::open(ctx_, *n, "'rewrite'", {"uri", "authority", "uriRegexRewrite"})) {
      if (const YAML::Node* u = rw->find("uri")) {
        // An empty uri is unset in Istio (no prefix_rewrite is generated): the path is kept.
        if (auto v = readString(ctx_, *u, "uri"); v && !v->empty()) r.rewrite_uri = *v;
      }
      if (const YAML::Node* x = rw->find("uriRegexRewrite")) {
        // Istio's validateHTTPRewrite: only one of uri and uriRegexRewrite (an empty uri is
        // unset there, so it is dropped).
        if (r.rewrite_uri) {
          ctx_.error(x->Mark(), "'rewrite' may have only one of 'uri' and 'uriRegexRewrite'");
          ok = false;
        } else if (auto v = uriRegexRewrite(*x)) {
          r.rewrite_uri_regex = std::move(*v);
        } else {
          ok = false;
        }
      }
      if (const YAML::Node* a = rw->find("authority")) {
        if (auto v = readNonEmptyString(ctx_, *a, "authority")) r.rewrite_authority = *v;
      }
    }
  }
  if (const YAML::Node* n = map->find("headers")) {
    headers(*n, r.request_headers, r.response_headers);
  }
  if (const YAML::Node* n = map->find("timeout")) {
    // 0s is accepted and means no timeout.
    if (auto v = readDurationMs(ctx_, *n, "timeout", 0, std::numeric_limits<uint32_t>::max())) {
      r.timeout_ms = static_cast<uint32_t>(*v);
    }
  }
  if (const YAML::Node* n = map->find("retries")) {
    if (auto v = retries(*n)) r.retry = std::move(*v);
  }
  if (const YAML::Node* n = map->find("fault")) {
    if (auto v = fault(*n)) r.fault = *v;
  }
  mirrors(*map, ns, r.mirrors);
  if (const YAML::Node* n = map->find("corsPolicy")) {
    if (auto v = corsPolicy(*n)) {
      r.cors = std::move(*v);
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return r;
}

std::optional<RetryPolicy> Parser::retries(const YAML::Node& node) {
  auto map = YamlMap::open(ctx_, node, "'retries'",
                           {"attempts", "perTryTimeout", "retryOn", "retryRemoteLocalities",
                            "retryIgnorePreviousHosts", "backoff"});
  if (!map) return std::nullopt;
  RetryPolicy p;  // Istio starts from its default policy and overrides what is set
  bool ok = true;
  // Istio: attempts unset or 0 disables retries altogether.
  p.attempts = 0;
  if (const YAML::Node* n = map->find("attempts")) {
    if (auto v = uint32Field(*n, "attempts", std::numeric_limits<int32_t>::max())) {
      p.attempts = *v;
    } else {
      ok = false;
    }
  }
  if (ok && p.attempts == 0 && map->entries().size() > (map->has("attempts") ? 1u : 0u)) {
    ctx_.warning(map->mark(),
                 "'retries' with attempts 0 (or without 'attempts') disables retries; its other "
                 "fields are ignored");
  }
  if (const YAML::Node* n = map->find("retryOn")) {
    if (auto v = readString(ctx_, *n, "retryOn")) {
      if (!v->empty()) {
        uint32_t on = 0;
        std::vector<uint16_t> codes;
        size_t start = 0;
        while (start <= v->size()) {
          size_t comma = v->find(',', start);
          if (comma == std::string::npos) comma = v->size();
          std::string token = v->substr(start, comma - start);
          start = comma + 1;
          size_t b = token.find_first_not_of(" \t");
          size_t e = token.find_last_not_of(" \t");
          token = b == std::string::npos ? std::string() : token.substr(b, e - b + 1);
          if (token.empty()) continue;
          bool digits =
              std::all_of(token.begin(), token.end(), [](char c) { return c >= '0' && c <= '9'; });
          if (digits) {
            int code = token.size() <= 3 ? std::stoi(token) : 0;
            if (code < 100 || code > 599) {
              ctx_.error(n->Mark(), "retryOn status code " + q(token) +
                                        " is not an HTTP status code (100-599)");
              ok = false;
            } else if (std::find(codes.begin(), codes.end(), code) == codes.end()) {
              codes.push_back(static_cast<uint16_t>(code));
            }
          } else if (uint32_t bit = retryOnFromName(token)) {
            on |= bit;
          } else if (token == "retriable-headers" || token == "envoy-ratelimited" ||
                     token == "http3-post-connect-failure") {
            ctx_.warning(n->Mark(),
                         "retryOn condition " + q(token) + " is not supported yet and is ignored");
          } else {
            ctx_.error(n->Mark(), "unknown retryOn condition " + q(token) +
                                      " (expected 5xx, gateway-error, reset, connect-failure, "
                                      "refused-stream, retriable-4xx, retriable-status-codes, "
                                      "reset-before-request, cancelled, deadline-exceeded, "
                                      "internal, resource-exhausted, unavailable or an HTTP "
                                      "status code)");
            ok = false;
          }
        }
        if (!codes.empty()) on |= RetryPolicy::kRetriableStatusCodes;
        p.retry_on = on;
        p.retriable_status_codes = std::move(codes);
      }
    } else {
      ok = false;
    }
  }
  if (const YAML::Node* n = map->find("perTryTimeout")) {
    if (auto v = duration32(*n, "perTryTimeout", 1)) {
      p.per_try_timeout_ms = *v;
    } else {
      ok = false;
    }
  }
  if (const YAML::Node* n = map->find("backoff")) {
    if (auto v = duration32(*n, "backoff", 1)) {
      p.backoff_base_ms = *v;
    } else {
      ok = false;
    }
  }
  if (const YAML::Node* n = map->find("retryRemoteLocalities")) {
    if (auto v = readBool(ctx_, *n, "retryRemoteLocalities")) {
      p.retry_remote_localities = *v;
    } else {
      ok = false;
    }
  }
  if (const YAML::Node* n = map->find("retryIgnorePreviousHosts")) {
    if (auto v = readBool(ctx_, *n, "retryIgnorePreviousHosts")) {
      p.retry_ignore_previous_hosts = *v;
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return p;
}

std::optional<FaultPolicy> Parser::fault(const YAML::Node& node) {
  auto map = YamlMap::open(ctx_, node, "'fault'", {"delay", "abort"});
  if (!map) return std::nullopt;
  FaultPolicy f;
  bool ok = true;
  if (const YAML::Node* n = map->find("delay")) {
    if (auto d = YamlMap::open(ctx_, *n, "'delay'", {"fixedDelay", "percentage", "percent"},
                               {"exponentialDelay"})) {
      uint32_t ppm = 0;  // a percentage that is absent means 0%
      if (const YAML::Node* pc = d->find("percentage")) {
        if (auto v = percentPpm(*pc, "percentage")) {
          ppm = *v;
        } else {
          ok = false;
        }
      } else if (const YAML::Node* pc = d->find("percent")) {
        if (auto v = uint32Field(*pc, "percent", 100)) {
          ppm = *v * 10'000;
        } else {
          ok = false;
        }
      }
      if (const YAML::Node* fd = d->find("fixedDelay")) {
        if (auto v = duration32(*fd, "fixedDelay", 1)) {
          f.delay_ms = *v;
          f.delay_ppm = ppm;
        } else {
          ok = false;
        }
      } else if (!hasKey(*n, "exponentialDelay")) {
        ctx_.error(d->mark(), "'delay' needs 'fixedDelay'");
        ok = false;
      }
    } else {
      ok = false;
    }
  }
  if (const YAML::Node* n = map->find("abort")) {
    if (auto a = YamlMap::open(ctx_, *n, "'abort'", {"httpStatus", "percentage"},
                               {"grpcStatus", "http2Error"})) {
      uint32_t ppm = 0;
      if (const YAML::Node* pc = a->find("percentage")) {
        if (auto v = percentPpm(*pc, "percentage")) {
          ppm = *v;
        } else {
          ok = false;
        }
      }
      if (const YAML::Node* st = a->find("httpStatus")) {
        if (auto v = readUint(ctx_, *st, "httpStatus", 200, 599)) {
          f.abort_status = static_cast<uint16_t>(*v);
          f.abort_ppm = ppm;
        } else {
          ok = false;
        }
      } else if (!hasKey(*n, "grpcStatus") && !hasKey(*n, "http2Error")) {
        ctx_.error(a->mark(), "'abort' needs 'httpStatus'");
        ok = false;
      }
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return f;
}

void Parser::mirrors(const YamlMap& map, const std::string& ns, std::vector<HttpMirror>& out) {
  const YAML::Node* mirror = map.find("mirror");
  const YAML::Node* list_node = map.find("mirrors");
  if (mirror && list_node) {
    ctx_.error(map.mark(), "an http route must have only one of 'mirror', 'mirrors'");
  }
  if (mirror) {
    auto d = destination(*mirror, ns);
    uint32_t ppm = 1'000'000;  // absent: 100%
    if (const YAML::Node* pc = map.find("mirrorPercentage")) {
      auto v = percentPpm(*pc, "mirrorPercentage");
      ppm = v.value_or(0);
    } else if (const YAML::Node* pc = map.find("mirrorPercent")) {
      auto v = uint32Field(*pc, "mirrorPercent", 100);
      ppm = v.value_or(0) * 10'000;
    }
    // An explicit 0 means no mirroring.
    if (d && ppm > 0) out.push_back(HttpMirror{std::move(*d), ppm});
  } else {
    for (const char* key : {"mirrorPercentage", "mirrorPercent"}) {
      for (const auto& e : map.entries()) {
        if (e.key == key) {
          ctx_.warning(e.key_node.Mark(), q(key) + " without 'mirror' is ignored");
        }
      }
    }
  }
  if (list_node) {
    list(*list_node, "mirrors", [&](const YAML::Node& item) {
      auto m = YamlMap::open(ctx_, item, "a mirrors entry", {"destination", "percentage"});
      if (!m) return;
      std::optional<HttpRouteDestination> d;
      if (const YAML::Node* dn = m->require("destination")) d = destination(*dn, ns);
      uint32_t ppm = 1'000'000;
      if (const YAML::Node* pc = m->find("percentage")) {
        ppm = percentPpm(*pc, "percentage").value_or(0);
      }
      if (d && ppm > 0) out.push_back(HttpMirror{std::move(*d), ppm});
    });
  }
}

std::optional<HttpRouteDestination> Parser::destination(const YAML::Node& node,
                                                        const std::string& ns) {
  auto dm = YamlMap::open(ctx_, node, "'destination'", {"host", "subset", "port"});
  if (!dm) return std::nullopt;
  HttpRouteDestination d;
  d.pos = ctx_.pos(node.Mark());
  bool ok = false;
  if (const YAML::Node* h = dm->require("host")) {
    if (auto v = host(*h, "host", ns, false)) {
      d.host = *v;
      ok = true;
    }
  }
  if (const YAML::Node* s = dm->find("subset")) {
    if (auto v = readString(ctx_, *s, "subset")) d.subset = *v;
  }
  if (const YAML::Node* p = dm->find("port")) {
    if (auto pm = YamlMap::open(ctx_, *p, "'port'", {"number"})) {
      if (const YAML::Node* num = pm->require("number")) {
        if (auto v = readPort(ctx_, *num, "number")) {
          d.port = *v;
        } else {
          ok = false;
        }
      }
    }
  }
  if (!ok) return std::nullopt;
  return d;
}

std::optional<HttpMatch> Parser::httpMatch(const YAML::Node& node) {
  auto map = YamlMap::open(ctx_, node, "a match",
                           {"name", "uri", "method", "headers", "withoutHeaders", "ignoreUriCase",
                            "port", "sourceLabels", "sourceNamespace", "gateways", "queryParams"},
                           {"scheme", "authority", "statPrefix"});
  if (!map) return std::nullopt;
  HttpMatch m;
  if (const YAML::Node* n = map->find("name")) {
    if (auto v = readString(ctx_, *n, "name")) m.match.name = *v;
  }
  if (const YAML::Node* n = map->find("uri")) m.match.uri = stringMatch(*n, "uri");
  if (const YAML::Node* n = map->find("method")) m.match.method = stringMatch(*n, "method");
  if (const YAML::Node* n = map->find("headers"))
    headerMatches(*n, "headers", false, m.match.headers);
  if (const YAML::Node* n = map->find("withoutHeaders")) {
    headerMatches(*n, "withoutHeaders", true, m.match.headers);
  }
  if (const YAML::Node* n = map->find("queryParams")) queryParamMatches(*n, m.match.query_params);
  if (const YAML::Node* n = map->find("ignoreUriCase")) {
    auto v = readBool(ctx_, *n, "ignoreUriCase");
    if (v && *v && m.match.uri) {
      if (m.match.uri->kind == StringMatch::Kind::kRegex) {
        ctx_.warning(n->Mark(), "'ignoreUriCase' does not apply to regex; use (?i) in the regex");
      } else {
        m.match.uri->ignore_case = true;
      }
    }
  }
  if (const YAML::Node* n = map->find("port")) m.port = readPort(ctx_, *n, "port");
  if (const YAML::Node* n = map->find("sourceLabels")) {
    if (auto v = readStringMap(ctx_, *n, "sourceLabels")) m.source_labels = *v;
  }
  if (const YAML::Node* n = map->find("sourceNamespace")) {
    m.source_namespace = readString(ctx_, *n, "sourceNamespace");
  }
  if (const YAML::Node* n = map->find("gateways")) {
    if (auto v = readStringList(ctx_, *n, "gateways")) {
      m.gateways = *v;
      for (const auto& g : *v) {
        if (g != "mesh") {
          ctx_.warning(n->Mark(), "gateway " + q(g) +
                                      ": gateways other than 'mesh' are not supported yet and "
                                      "are ignored");
        }
      }
      if (v->empty()) m.gateways.clear();
    }
  }
  return m;
}

std::optional<StringMatch> Parser::stringMatch(const YAML::Node& node, std::string_view field) {
  auto map = YamlMap::open(ctx_, node, q(field), {"exact", "prefix", "regex"});
  if (!map) return std::nullopt;
  if (map->entries().size() > 1) {
    ctx_.error(map->mark(), q(field) + " must have only one of exact, prefix, regex");
    return std::nullopt;
  }
  StringMatch m;
  if (map->entries().empty()) {
    m.kind = StringMatch::Kind::kPresent;
    return m;
  }
  const auto& e = map->entries().front();
  auto v = readString(ctx_, e.value, e.key);
  if (!v) return std::nullopt;
  m.value = *v;
  if (e.key == "exact") {
    m.kind = StringMatch::Kind::kExact;
  } else if (e.key == "prefix") {
    m.kind = StringMatch::Kind::kPrefix;
  } else {
    m.kind = StringMatch::Kind::kRegex;
    auto re = compileRegex(e.value, *v);
    if (!re) return std::nullopt;
    m.setRegex(std::move(re));
  }
  return m;
}

std::shared_ptr<const RE2> Parser::compileRegex(const YAML::Node& node, const std::string& source) {
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_shared<const RE2>(source, options);
  if (!re->ok()) {
    ctx_.error(node.Mark(), "invalid regex " + q(source) + ": " + re->error());
    return nullptr;
  }
  return re;
}

std::optional<RegexRewrite> Parser::uriRegexRewrite(const YAML::Node& node) {
  auto map = YamlMap::open(ctx_, node, "'uriRegexRewrite'", {"match", "rewrite"});
  if (!map) return std::nullopt;
  // Istio's validateURIRegexRewrite: both fields are required and must not be empty.
  const YAML::Node* match_node = map->require("match");
  const YAML::Node* rewrite_node = map->require("rewrite");
  std::optional<std::string> match;
  std::optional<std::string> rewrite;
  if (match_node) match = readNonEmptyString(ctx_, *match_node, "match");
  if (rewrite_node) rewrite = readNonEmptyString(ctx_, *rewrite_node, "rewrite");
  if (!match || !rewrite) return std::nullopt;
  RegexRewrite rx;
  rx.regex = compileRegex(*match_node, *match);
  if (!rx.regex) return std::nullopt;
  // RE2::GlobalReplace would fail on every request for a \N the regex has no group for (or a
  // stray backslash); reject it here instead.
  std::string why;
  if (!rx.regex->CheckRewriteString(*rewrite, &why)) {
    ctx_.error(rewrite_node->Mark(), "invalid rewrite " + q(*rewrite) + ": " + why);
    return std::nullopt;
  }
  rx.match = std::move(*match);
  rx.rewrite = std::move(*rewrite);
  return rx;
}

void Parser::queryParamMatches(const YAML::Node& node, std::vector<QueryParamMatch>& out) {
  auto map = YamlMap::openAny(ctx_, node, "'queryParams'");
  if (!map) return;
  for (const auto& e : map->entries()) {
    if (e.key.empty()) {
      ctx_.error(e.key_node.Mark(), "a query parameter name must not be empty");
      continue;
    }
    // `key: {}` (and a null value) is Envoy's matcher without a pattern: the parameter must be
    // present with an empty value, exactly like `exact: ""`.
    StringMatch sm;
    sm.kind = StringMatch::Kind::kExact;
    if (!e.value.IsNull()) {
      auto m = stringMatch(e.value, e.key);
      if (!m) continue;
      if (m->kind != StringMatch::Kind::kPresent) sm = std::move(*m);
    }
    out.push_back(QueryParamMatch{e.key, std::move(sm)});
  }
}

std::optional<RedirectAction> Parser::redirect(const YAML::Node& node) {
  auto map = YamlMap::open(ctx_, node, "'redirect'",
                           {"uri", "authority", "port", "derivePort", "scheme", "redirectCode"});
  if (!map) return std::nullopt;
  RedirectAction a;
  bool ok = true;
  if (const YAML::Node* n = map->find("uri")) {
    if (auto v = readString(ctx_, *n, "uri")) {
      a.uri = *v;
    } else {
      ok = false;
    }
  }
  if (const YAML::Node* n = map->find("authority")) {
    if (auto v = readString(ctx_, *n, "authority")) {
      a.authority = *v;
    } else {
      ok = false;
    }
  }
  const YAML::Node* port = map->find("port");
  const YAML::Node* derive = map->find("derivePort");
  if (port && derive) {
    ctx_.error(derive->Mark(), "'redirect' may have only one of 'port' and 'derivePort'");
    ok = false;
  }
  if (port) {
    if (auto v = readPort(ctx_, *port, "port")) {
      a.port = *v;
    } else {
      ok = false;
    }
  }
  if (derive) {
    if (auto v = readString(ctx_, *derive, "derivePort")) {
      if (*v == "FROM_PROTOCOL_DEFAULT") {
        a.derive_port = RedirectAction::DerivePort::kFromProtocolDefault;
      } else if (*v == "FROM_REQUEST_PORT") {
        a.derive_port = RedirectAction::DerivePort::kFromRequestPort;
      } else {
        ctx_.error(derive->Mark(),
                   "derivePort must be FROM_PROTOCOL_DEFAULT or FROM_REQUEST_PORT, "
                   "not " +
                       q(*v));
        ok = false;
      }
    } else {
      ok = false;
    }
  }
  if (const YAML::Node* n = map->find("scheme")) {
    if (auto v = readString(ctx_, *n, "scheme")) {
      if (!v->empty() && *v != "http" && *v != "https") {
        ctx_.error(n->Mark(), "redirect scheme must be \"http\" or \"https\", not " + q(*v));
        ok = false;
      } else {
        a.scheme = *v;
      }
    } else {
      ok = false;
    }
  }
  if (const YAML::Node* n = map->find("redirectCode")) {
    if (auto v = readUint(ctx_, *n, "redirectCode", 0, std::numeric_limits<uint32_t>::max())) {
      if (*v == 0) {
        a.code = 301;  // proto default: unset
      } else if (*v < 300 || *v > 399) {
        ctx_.error(n->Mark(), std::to_string(*v) + " is not a valid redirect code, must be 3xx");
        ok = false;
      } else if (*v != 301 && *v != 302 && *v != 303 && *v != 307 && *v != 308) {
        // Istio accepts any 3xx but only turns these five into an Envoy redirect.
        ctx_.error(n->Mark(), "redirect code " + std::to_string(*v) +
                                  " is not supported (Istio/Envoy: 301, 302, 303, 307 or 308)");
        ok = false;
      } else {
        a.code = static_cast<uint16_t>(*v);
      }
    } else {
      ok = false;
    }
  }
  if (ok && a.uri.empty() && a.authority.empty() && !port && !derive && a.scheme.empty()) {
    ctx_.error(map->mark(), "redirect must specify uri, authority, scheme, or port");
    ok = false;
  }
  if (!ok) return std::nullopt;
  return a;
}

namespace {

// Protobuf's JSON form of `bytes`: standard or URL-safe base64, padding optional.
std::optional<std::string> decodeBase64(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace

std::optional<DirectResponseAction> Parser::directResponse(const YAML::Node& node) {
  auto map = YamlMap::open(ctx_, node, "'directResponse'", {"status", "body"});
  if (!map) return std::nullopt;
  DirectResponseAction a;
  bool ok = false;
  if (const YAML::Node* n = map->require("status")) {
    // Istio's ValidateHTTPStatus.
    if (auto v = readUint(ctx_, *n, "status", 0, std::numeric_limits<uint32_t>::max())) {
      if (*v < 200 || *v > 599) {
        ctx_.error(n->Mark(), "HTTP status " + std::to_string(*v) + " is not in range 200-599");
      } else {
        a.status = static_cast<uint16_t>(*v);
        ok = true;
      }
    }
  }
  if (const YAML::Node* n = map->find("body")) {
    if (auto body = YamlMap::open(ctx_, *n, "'body'", {"string", "bytes"})) {
      const YAML::Node* str = body->find("string");
      const YAML::Node* bytes = body->find("bytes");
      if (str && bytes) {
        ctx_.error(bytes->Mark(), "'body' must have only one of string, bytes");
        ok = false;
      } else if (str) {
        if (auto v = readString(ctx_, *str, "string")) {
          a.body = *v;
        } else {
          ok = false;
        }
      } else if (bytes) {
        if (auto v = readString(ctx_, *bytes, "bytes")) {
          if (auto decoded = decodeBase64(*v)) {
            a.body = std::move(*decoded);
          } else {
            ctx_.error(bytes->Mark(), "'bytes' must be base64, not " + q(*v));
            ok = false;
          }
        } else {
          ok = false;
        }
      }
      if (a.body.size() > 1024 * 1024) {
        ctx_.warning(n->Mark(), "a direct response body larger than 1MB may hurt performance");
      }
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return a;
}

std::optional<CorsPolicy> Parser::corsPolicy(const YAML::Node& node) {
  auto map = YamlMap::open(ctx_, node, "'corsPolicy'",
                           {"allowOrigins", "allowOrigin", "allowMethods", "allowHeaders",
                            "exposeHeaders", "maxAge", "allowCredentials", "unmatchedPreflights"});
  if (!map) return std::nullopt;
  CorsPolicy p;
  bool ok = true;
  if (const YAML::Node* n = map->find("allowOrigins")) {
    list(*n, "allowOrigins", [&](const YAML::Node& item) {
      auto m = stringMatch(item, "allowOrigins");
      if (!m) {
        ok = false;
        return;
      }
      if (m->kind == StringMatch::Kind::kPresent || m->value.empty()) {
        ctx_.error(item.Mark(), "an allowOrigins entry needs a non-empty exact, prefix or regex");
        ok = false;
        return;
      }
      p.allow_origins.push_back(std::move(*m));
    });
  }
  if (const YAML::Node* n = map->find("allowOrigin")) {
    // Deprecated exact-match list; Istio ignores it when allowOrigins is set.
    if (auto v = readStringList(ctx_, *n, "allowOrigin")) {
      if (map->has("allowOrigins")) {
        ctx_.warning(n->Mark(), "'allowOrigin' is ignored because 'allowOrigins' is set");
      } else {
        for (const auto& o : *v) {
          StringMatch m;
          m.kind = StringMatch::Kind::kExact;
          m.value = o;
          p.allow_origins.push_back(std::move(m));
        }
      }
    } else {
      ok = false;
    }
  }
  if (const YAML::Node* n = map->find("allowMethods")) {
    static constexpr std::string_view kMethods[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                                    "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    if (auto v = readStringList(ctx_, *n, "allowMethods")) {
      for (const auto& m : *v) {
        if (std::find(std::begin(kMethods), std::end(kMethods), m) == std::end(kMethods)) {
          ctx_.error(n->Mark(), q(m) + " is not a supported HTTP method");
          ok = false;
        }
      }
      p.allow_methods = *v;
    } else {
      ok = false;
    }
  }
  auto headerList = [&](const char* key, std::vector<std::string>& out) {
    const YAML::Node* n = map->find(key);
    if (!n) return;
    auto v = readStringList(ctx_, *n, key);
    if (!v) {
      ok = false;
      return;
    }
    for (const auto& h : *v) {
      if (!isHttpToken(h)) {
        ctx_.error(n->Mark(), "invalid header name " + q(h) + " in " + q(key));
        ok = false;
      }
    }
    out = *v;
  };
  headerList("allowHeaders", p.allow_headers);
  headerList("exposeHeaders", p.expose_headers);
  if (const YAML::Node* n = map->find("maxAge")) {
    if (auto v = readDurationMs(ctx_, *n, "maxAge", 1, std::numeric_limits<uint64_t>::max() / 2)) {
      if (*v % 1000 != 0) {
        ctx_.error(n->Mark(), "'maxAge' is accurate only to seconds precision");
        ok = false;
      } else {
        p.max_age_s = *v / 1000;
      }
    } else {
      ok = false;
    }
  }
  if (const YAML::Node* n = map->find("allowCredentials")) {
    if (auto v = readBool(ctx_, *n, "allowCredentials")) {
      p.allow_credentials = *v;
    } else {
      ok = false;
    }
  }
  if (const YAML::Node* n = map->find("unmatchedPreflights")) {
    if (auto v = readString(ctx_, *n, "unmatchedPreflights")) {
      if (*v == "IGNORE") {
        p.forward_unmatched_preflights = false;
      } else if (*v == "FORWARD" || *v == "UNSPECIFIED") {
        p.forward_unmatched_preflights = true;
      } else {
        ctx_.error(n->Mark(), "unmatchedPreflights must be FORWARD or IGNORE, not " + q(*v));
        ok = false;
      }
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return p;
}

void Parser::headerMatches(const YAML::Node& node, std::string_view field, bool invert,
                           std::vector<HeaderMatch>& out) {
  auto map = YamlMap::openAny(ctx_, node, q(field));
  if (!map) return;
  for (const auto& e : map->entries()) {
    std::string name = toLower(e.key);
    if (!isHttpToken(name)) {
      ctx_.error(e.key_node.Mark(), "invalid header name " + q(e.key));
      continue;
    }
    if (name == "uri" || name == "scheme" || name == "method" || name == "authority") {
      ctx_.warning(e.key_node.Mark(), "header match " + q(name) +
                                          " is ignored (as in Istio); use the match field '" +
                                          name + "' instead");
      continue;
    }
    // `name: {}` and `name:` (null) both mean "present".
    StringMatch sm;
    sm.kind = StringMatch::Kind::kPresent;
    if (!e.value.IsNull()) {
      auto m = stringMatch(e.value, e.key);
      if (!m) continue;
      sm = std::move(*m);
    }
    out.push_back(HeaderMatch{name, std::move(sm), invert});
  }
}

std::optional<HttpRouteDestination> Parser::routeDestination(const YAML::Node& node,
                                                             const std::string& ns) {
  auto map = YamlMap::open(ctx_, node, "a route destination", {"destination", "weight", "headers"});
  if (!map) return std::nullopt;
  HttpRouteDestination d;
  d.pos = ctx_.pos(node.Mark());
  bool ok = false;
  if (const YAML::Node* n = map->require("destination")) {
    if (auto dest = destination(*n, ns)) {
      d = std::move(*dest);
      ok = true;
    }
  }
  if (const YAML::Node* n = map->find("weight")) {
    if (auto v = readUint(ctx_, *n, "weight", 0, std::numeric_limits<int32_t>::max())) {
      d.weight = static_cast<uint32_t>(*v);
    } else {
      ok = false;
    }
  }
  if (const YAML::Node* n = map->find("headers")) {
    headers(*n, d.request_headers, d.response_headers);
  }
  if (!ok) return std::nullopt;
  return d;
}

void Parser::headers(const YAML::Node& node, HeaderOperations& request,
                     HeaderOperations& response) {
  auto map = YamlMap::open(ctx_, node, "'headers'", {"request", "response"});
  if (!map) return;
  if (const YAML::Node* n = map->find("request")) headerOperations(*n, "'request'", request);
  if (const YAML::Node* n = map->find("response")) headerOperations(*n, "'response'", response);
}

void Parser::headerOperations(const YAML::Node& node, std::string_view what,
                              HeaderOperations& ops) {
  auto map = YamlMap::open(ctx_, node, what, {"set", "add", "remove"});
  if (!map) return;
  auto pairs = [&](const char* key, std::vector<std::pair<std::string, std::string>>& out) {
    const YAML::Node* n = map->find(key);
    if (!n) return;
    auto m = YamlMap::openAny(ctx_, *n, q(key));
    if (!m) return;
    for (const auto& e : m->entries()) {
      if (!isHttpToken(e.key)) {
        ctx_.error(e.key_node.Mark(), "invalid header name " + q(e.key));
        continue;
      }
      if (auto v = readString(ctx_, e.value, e.key)) out.emplace_back(toLower(e.key), *v);
    }
  };
  pairs("set", ops.set);
  pairs("add", ops.add);
  if (const YAML::Node* n = map->find("remove")) {
    if (!n->IsSequence()) {
      ctx_.error(n->Mark(), "'remove' must be a list, not " + describeNode(*n));
      return;
    }
    for (const auto& item : *n) {
      auto v = readString(ctx_, item, "remove");
      if (!v) continue;
      if (!isHttpToken(*v)) {
        ctx_.error(item.Mark(), "invalid header name " + q(*v));
        continue;
      }
      ops.remove.push_back(toLower(*v));
    }
  }
}

}  // namespace

ParseResult parseResources(const std::vector<ResourceFile>& files) {
  ParseResult result;
  Parser::Seen seen;
  for (const auto& file : files) {
    // Document by document: the YAML library's node tree of a large file weighs some fifty
    // times its text, so it is held for one document at a time, never for the whole file.
    // A file with directives (%YAML) is parsed whole: they belong to the document after them.
    const bool directives =
        file.text.starts_with('%') || file.text.find("\n%") != std::string::npos;
    std::vector<YamlDocumentText> parts;
    if (directives) {
      parts.push_back({file.text, 0});
    } else {
      parts = splitYamlDocuments(file.text);
    }
    for (const auto& part : parts) {
      YamlContext ctx(file.name, result.errors, file.first_line + part.first_line);
      auto docs = loadYamlDocuments(ctx, part.text);
      if (!docs) continue;
      Parser parser(ctx, result.resources, seen);
      for (const auto& doc : *docs) {
        if (doc.IsNull()) continue;
        parser.document(doc);
      }
    }
  }
  return result;
}

}  // namespace weft::mesh
