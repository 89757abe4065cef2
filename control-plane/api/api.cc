// Api: routes, authentication and JSON answers (see api.h).
#include "api/api.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>

#include <ctime>

#include "api/explain.h"
#include "mesh/yaml_reader.h"
#include "server/log.h"

namespace weft::control {

namespace {

using nlohmann::json;

const Token kOperator{};  // authentication off

std::string errorJson(const std::string& message) {
  return json{{"error", message}}.dump();
}

std::optional<std::vector<std::string>> splitPath(const std::string& path) {
  std::vector<std::string> parts;
  if (path.empty() || path[0] != '/') return std::nullopt;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    auto part = percentDecode(std::string_view(path).substr(pos, end - pos));
    if (!part) return std::nullopt;
    parts.push_back(std::move(*part));
    pos = end + 1;
  }
  if (!parts.empty() && parts.back().empty()) parts.pop_back();  // trailing slash
  return parts;
}

std::optional<uint64_t> parseUint(std::string_view s) {
  uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

json yamlToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json o = json::object();
      for (auto it = n.begin(); it != n.end(); ++it) o[it->first.Scalar()] = yamlToJson(it->second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& item : n) a.push_back(yamlToJson(item));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted: a string
      if (s == "true") return true;
      if (s == "false") return false;
      if (s == "null" || s == "~") return nullptr;
      if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos && s.size() < 19 &&
          (s.size() == 1 || s[0] != '0')) {
        return std::stoll(s);
      }
      return s;
    }
    default:
      return nullptr;
  }
}

json documentJson(const Document& d) {
  json j = {{"kind", d.kind},     {"namespace", d.namespace_name}, {"name", d.name},
            {"source", d.source}, {"revision", d.revision},        {"yaml", d.text}};
  try {
    j["object"] = yamlToJson(YAML::Load(d.text));
  } catch (const YAML::Exception&) {
    j["object"] = nullptr;
  }
  return j;
}

bool kindMatches(const std::string& asked, const std::string& kind) {
  const std::string a = mesh::toLower(asked);
  const std::string k = mesh::toLower(kind);
  if (a == k || a == k + "s") return true;
  return !k.empty() && k.back() == 'y' && a == k.substr(0, k.size() - 1) + "ies";
}

std::string sourceOf(const HttpRequest& r) {
  if (auto s = r.queryParam("source"); s && !s->empty()) return *s;
  if (auto h = r.headers.get("x-weft-source"); h && !h->empty()) return std::string(*h);
  return "request";
}

json errorList(const mesh::ConfigErrors& errors, bool warnings) {
  json a = json::array();
  for (const auto& e : errors) {
    if (e.warning == warnings) {
      mesh::ConfigError copy = e;
      copy.warning = false;  // the list says which it is
      a.push_back(copy.format());
    }
  }
  return a;
}

json itemsJson(const std::vector<AppliedItem>& items) {
  json a = json::array();
  for (const auto& i : items) {
    a.push_back({{"kind", i.kind},
                 {"namespace", i.namespace_name},
                 {"name", i.name},
                 {"action", i.action}});
  }
  return a;
}

}  // namespace

std::optional<Token> callerOf(std::string_view spiffe_id, std::string_view trust_domain) {
  const std::string prefix = "spiffe://" + std::string(trust_domain) + "/ns/";
  if (trust_domain.empty() || spiffe_id.substr(0, prefix.size()) != prefix) return std::nullopt;
  std::string_view rest = spiffe_id.substr(prefix.size());
  const size_t sa = rest.find("/sa/");
  if (sa == std::string_view::npos || sa == 0) return std::nullopt;
  Token t;
  t.namespace_name = std::string(rest.substr(0, sa));
  t.service_account = std::string(rest.substr(sa + 4));
  if (t.service_account.empty() || t.service_account.find('/') != std::string::npos ||
      t.namespace_name.find('/') != std::string::npos) {
    return std::nullopt;
  }
  // The control plane's own identity is not a workload's.
  if (std::string(spiffe_id) == controlPlaneIdentity(trust_domain)) return std::nullopt;
  return t;
}

void Api::handle(const HttpRequestPtr& r) {
  server::logLine(server::LogLevel::kDebug, r->method + " " + r->path + " from " + r->peer);
  const Token* token = &kOperator;
  // A verified client certificate names the caller: its SPIFFE ID has the rights of a token
  // bound to its namespace and service account (docs/security.md). It wins over a bearer token
  // sent along, so a sidecar that has its certificate no longer depends on its token.
  Token from_certificate;
  if (!r->peer_identity.empty()) {
    const CertificateAuthority* ca = certificateAuthority();
    auto caller = callerOf(r->peer_identity, ca ? ca->trustDomain() : std::string());
    if (!caller) {
      r->respond(403, "application/json",
                 errorJson("the client certificate's identity " + r->peer_identity +
                           " is not a workload identity of this trust domain"));
      return;
    }
    from_certificate = std::move(*caller);
    token = &from_certificate;
    metrics_.authenticated_certificate.Increment();
  } else if (tokens_) {
    auto auth = r->headers.get("authorization");
    token = auth ? tokens_->authenticate(*auth) : nullptr;
    if (!token) {
      r->respond(401, "application/json", errorJson("missing or unknown bearer token"),
                 {{"www-authenticate", "Bearer"}});
      return;
    }
    metrics_.authenticated_token.Increment();
  }
  auto parts = splitPath(r->path);
  if (!parts) {
    r->respondJson(400, errorJson("malformed path"));
    return;
  }
  const auto& p = *parts;
  const std::string& m = r->method;
  if (p.size() >= 2 && p[0] == "v1" && p[1] == "nodes") {
    nodes(r, *token, p);
    return;
  }
  // Any token may ask for a certificate; which identities it may get is checked there.
  if (p.size() == 2 && p[0] == "v1" && p[1] == "certificates") {
    if (m != "POST") return r->respondJson(405, errorJson("use POST"));
    return certificates(r, *token);
  }
  // Everything else is for operators.
  if (!token->isOperator()) {
    r->respondJson(403, errorJson("this token may only register and serve its own nodes"));
    return;
  }
  if (p.size() == 1 && p[0] == "ready") {
    if (m != "GET" && m != "HEAD") return r->respondJson(405, errorJson("use GET"));
    if (ready_) return r->respond(200, "text/plain; charset=utf-8", "ready\n");
    return r->respond(503, "text/plain; charset=utf-8", "loading\n");
  }
  if (p.size() == 1 && p[0] == "metrics") {
    if (m != "GET" && m != "HEAD") return r->respondJson(405, errorJson("use GET"));
    metrics_.nodes.Set(static_cast<double>(registry_.nodes().size()));
    metrics_.revision.Set(static_cast<double>(store_.revision()));
    return r->respond(200, "text/plain; version=0.0.4; charset=utf-8", metrics_.serialize());
  }
  if (p.size() >= 2 && p[0] == "v1" && p[1] == "resources") return resources(r, p);
  if (p.size() >= 2 && p[0] == "v1" && p[1] == "ca") return caRoutes(r, p);
  if (p.size() == 2 && p[0] == "v1" && p[1] == "validate") {
    if (m != "POST") return r->respondJson(405, errorJson("use POST"));
    ChangeResult v = store_.validate(r->body, sourceOf(*r));
    return r->respondJson(
        200, json{{"errors", errorList(v.errors, false)}, {"warnings", errorList(v.errors, true)}}
                 .dump());
  }
  if (p.size() == 3 && p[0] == "v1" && p[1] == "prometheus" && p[2] == "targets") {
    if (m != "GET") return r->respondJson(405, errorJson("use GET"));
    return targets(r);
  }
  if (p.size() == 2 && p[0] == "v1" && p[1] == "explain") {
    if (m != "GET") return r->respondJson(405, errorJson("use GET"));
    return explain(r);
  }
  r->respondJson(404, errorJson("no such endpoint"));
}

void Api::nodes(const HttpRequestPtr& r, const Token& token, const std::vector<std::string>& p) {
  const std::string& m = r->method;
  if (p.size() == 2) {
    if (m == "POST") return registerNode(r, token);
    if (m == "GET") {
      if (!token.isOperator()) {
        return r->respondJson(403, errorJson("listing nodes needs an operator token"));
      }
      return nodeStatus(r);
    }
    return r->respondJson(405, errorJson("use GET or POST"));
  }
  const std::string& id = p[2];
  NodeState* node = registry_.find(id);
  if (!node) return r->respondJson(404, errorJson("unknown node " + id));
  if (!token.allows(node->info.namespace_name, node->info.service_account)) {
    return r->respondJson(403, errorJson("this token may not act for node " + id));
  }
  if (p.size() == 3) {
    if (m != "DELETE") return r->respondJson(405, errorJson("use DELETE"));
    registry_.remove(id);
    push_.nodeRemoved(id);
    return r->respond(204, "", "");
  }
  if (p.size() != 4) return r->respondJson(404, errorJson("no such endpoint"));
  if (p[3] == "config") {
    if (m != "GET") return r->respondJson(405, errorJson("use GET"));
    uint64_t version = 0;
    if (auto v = r->queryParam("version")) {
      auto n = parseUint(*v);
      if (!n) return r->respondJson(400, errorJson("'version' must be a number"));
      version = *n;
    }
    uint64_t wait = options_.default_wait_ms;
    if (auto w = r->queryParam("wait")) {
      auto n = parseWait(*w);
      if (!n) return r->respondJson(400, errorJson("'wait' must be a duration such as 30s"));
      wait = std::min(*n, options_.max_wait_ms);
    }
    return push_.poll(r, id, version, wait);
  }
  if (p[3] == "ack") {
    if (m != "POST") return r->respondJson(405, errorJson("use POST"));
    json j = json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("version") ||
        !j["version"].is_number_unsigned()) {
      return r->respondJson(400,
                            errorJson("the body must be {\"version\": N, \"error\"?: \"...\"}"));
    }
    std::string error;
    if (j.contains("error") && !j["error"].is_null()) {
      if (!j["error"].is_string())
        return r->respondJson(400, errorJson("'error' must be a string"));
      error = j["error"].get<std::string>();
      if (error.empty()) error = "rejected (no reason given)";
    }
    push_.ack(id, j["version"].get<uint64_t>(), error);
    return r->respond(204, "", "");
  }
  if (p[3] == "interest") {
    if (m != "POST") return r->respondJson(405, errorJson("use POST"));
    json j = json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("hosts") || !j["hosts"].is_array()) {
      return r->respondJson(400, errorJson("the body must be {\"hosts\": [\"host\", ...]}"));
    }
    std::vector<std::string> hosts;
    for (const auto& h : j["hosts"]) {
      if (!h.is_string() || !mesh::isDnsName(mesh::toLower(h.get<std::string>()))) {
        return r->respondJson(400, errorJson("each host must be a DNS name"));
      }
      hosts.push_back(h.get<std::string>());
    }
    if (node->info.scope != "on_demand") {
      return r->respondJson(409, errorJson("node " + id + " has scope full: it has every service"));
    }
    const uint64_t version = push_.addInterest(id, hosts);
    return r->respondJson(200, json{{"version", version}}.dump());
  }
  r->respondJson(404, errorJson("no such endpoint"));
}

void Api::registerNode(const HttpRequestPtr& r, const Token& token) {
  std::string error;
  auto info = parseNodeJson(r->body, error);
  if (!info) return r->respondJson(400, errorJson(error));
  if (!token.allows(info->namespace_name, info->service_account)) {
    return r->respondJson(
        403, errorJson("this token may not register a node of namespace " + info->namespace_name +
                       " and service account " + info->service_account));
  }
  if (NodeState* existing = registry_.find(info->id)) {
    if (!token.allows(existing->info.namespace_name, existing->info.service_account)) {
      return r->respondJson(403, errorJson("node " + info->id + " belongs to another identity"));
    }
  }
  if (!registry_.upsert(*info, uv_now(loop_), error)) {
    return r->respondJson(409, errorJson(error));
  }
  push_.nodeRegistered(info->id);
  r->respondJson(200, json{{"id", info->id}, {"version", push_.versionOf(info->id)}}.dump());
}

void Api::nodeStatus(const HttpRequestPtr& r) {
  json a = json::array();
  const uint64_t now = uv_now(loop_);
  for (const auto& [id, n] : registry_.nodes()) {
    const PushEngine::Group* g = push_.groupOf(id);
    json j = {
        {"id", id},
        {"workload", n.info.workload},
        {"namespace", n.info.namespace_name},
        {"service_account", n.info.service_account},
        {"service", n.info.service},
        {"labels", n.info.labels},
        {"address", n.info.address},
        {"admin", n.info.admin},
        {"version", g ? g->version : 0},
        {"version_sent", n.version_sent},
        {"version_acked", n.version_acked},
        {"status", toString(n.state())},
        {"error", n.nack_error},
        {"last_seen_seconds", static_cast<double>(now - std::min(now, n.last_seen_ms)) / 1000.0},
        {"polling", n.active_polls > 0}};
    if (g && !g->error.empty()) j["build_error"] = g->error;
    if (g && !g->sidecar.empty()) j["sidecar"] = g->sidecar;
    a.push_back(std::move(j));
  }
  r->respondJson(200, a.dump());
}

void Api::targets(const HttpRequestPtr& r) {
  json a = json::array();
  for (const auto& [id, n] : registry_.nodes()) {
    if (n.info.admin.empty()) continue;
    json labels = {{"__meta_weft_node", id},
                   {"__meta_weft_workload", n.info.workload},
                   {"__meta_weft_namespace", n.info.namespace_name},
                   {"__meta_weft_service_account", n.info.service_account}};
    if (!n.info.service.empty()) labels["__meta_weft_service"] = n.info.service;
    for (const auto& [k, v] : n.info.labels) {
      // Prometheus label names: [a-zA-Z_][a-zA-Z0-9_]*
      std::string name = "__meta_weft_label_";
      for (char c : k) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      labels[name] = v;
    }
    a.push_back({{"targets", {n.info.admin}}, {"labels", labels}});
  }
  r->respondJson(200, a.dump());
}

void Api::explain(const HttpRequestPtr& r) {
  const std::string from = r->queryParam("from").value_or("");
  const NodeState* node = registry_.find(from);
  if (!node) {
    for (const auto& [id, n] : registry_.nodes()) {
      if (n.info.workload == from) {
        node = &n;
        break;
      }
    }
  }
  if (!node) return r->respondJson(404, errorJson("no registered node or workload '" + from + "'"));
  std::string error;
  auto head =
      explainRequestHead(r->queryParam("url").value_or(""), r->queryParam("method").value_or("GET"),
                         r->queryParams("header"), error);
  if (!head) return r->respondJson(400, errorJson(error));
  const PushEngine::Group* g = push_.groupOf(node->info.id);
  std::shared_ptr<const mesh::Snapshot> snapshot = push_.snapshotFor(node->info.id);
  if (!g || !snapshot) {
    return r->respondJson(409, errorJson("no configuration is built for " + node->info.id +
                                         (g && !g->error.empty() ? ": " + g->error : "")));
  }
  json out = explainRoute(*snapshot, *head, store_);
  out["node"] = node->info.id;
  out["version"] = g->version;
  r->respondJson(200, out.dump());
}

const CertificateAuthority* Api::certificateAuthority() const {
  return ca_manager_ ? &ca_manager_->signer() : ca_;
}

void Api::caRoutes(const HttpRequestPtr& r, const std::vector<std::string>& p) {
  if (!ca_manager_)
    return r->respondJson(503, errorJson("the certificate authority is not running"));
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  if (p.size() == 2) {
    if (r->method != "GET" && r->method != "HEAD") return r->respondJson(405, errorJson("use GET"));
    return r->respondJson(200, ca_manager_->status(now).dump());
  }
  if (p.size() == 3 && p[2] == "rotate") {
    if (r->method != "POST") return r->respondJson(405, errorJson("use POST"));
    std::string ca_dir;
    if (!r->body.empty()) {
      json j = json::parse(r->body, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        return r->respondJson(400, errorJson("the body must be {} or {\"ca_dir\": \"DIR\"}"));
      }
      for (const auto& [key, value] : j.items()) {
        if (key != "ca_dir") return r->respondJson(400, errorJson("unknown field '" + key + "'"));
        if (!value.is_string()) return r->respondJson(400, errorJson("'ca_dir' must be a string"));
        ca_dir = value.get<std::string>();
      }
    }
    std::string error;
    if (ca_manager_->phase() != RotationPhase::kNone) {
      ca_manager_->rotate(ca_dir, now, error);
      return r->respondJson(409, errorJson(error));
    }
    if (!ca_manager_->rotate(ca_dir, now, error)) return r->respondJson(400, errorJson(error));
    if (on_ca_change_) on_ca_change_();
    return r->respondJson(200, ca_manager_->status(now).dump());
  }
  r->respondJson(404, errorJson("no such path"));
}

void Api::certificates(const HttpRequestPtr& r, const Token& token) {
  const CertificateAuthority* ca = certificateAuthority();
  if (!ca) return r->respondJson(503, errorJson("the certificate authority is not running"));
  auto bad = [&](const std::string& message) {
    metrics_.certificates_rejected_bad_request.Increment();
    r->respondJson(400, errorJson(message));
  };
  json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return bad("the body must be {\"csr\": \"<PEM certificate request>\", \"ttl\"?: \"24h\"}");
  }
  for (const auto& [key, value] : j.items()) {
    if (key != "csr" && key != "ttl") return bad("unknown field '" + key + "'");
  }
  if (!j.contains("csr") || !j["csr"].is_string()) {
    return bad("'csr' must be a string holding a PEM certificate signing request");
  }
  // ttl: a duration ("1h", "90m", "7d") or a number of seconds; clamped to what the CA accepts.
  uint64_t ttl = default_cert_ttl_s_;
  if (j.contains("ttl") && !j["ttl"].is_null()) {
    const json& t = j["ttl"];
    if (t.is_number_unsigned()) {
      ttl = t.get<uint64_t>();
    } else if (auto secs = t.is_string() ? parseTtlSeconds(t.get<std::string>()) : std::nullopt) {
      ttl = *secs;
    } else {
      return bad("'ttl' must be a duration such as \"1h\" or \"7d\", or a number of seconds");
    }
    ttl = std::clamp(ttl, kMinCertTtlSeconds, kMaxCertTtlSeconds);
  }
  std::string error;
  auto request = ca->parseRequest(j["csr"].get<std::string>(), error);
  if (!request) return bad(error);
  if (request->identity() == controlPlaneIdentity(ca->trustDomain())) {
    // The API's own certificate carries it; a workload holding it could pose as the control
    // plane to sidecars.
    metrics_.certificates_rejected_identity.Increment();
    return r->respondJson(
        403, json{{"error", request->identity() + " is the control plane's identity: it is "
                                                  "not issued to workloads"},
                  {"identity", request->identity()}}
                 .dump());
  }
  if (!token.allows(request->namespaceName(), request->serviceAccount())) {
    metrics_.certificates_rejected_identity.Increment();
    const std::string allowed = "spiffe://" + ca->trustDomain() + "/ns/" +
                                (token.namespace_name.empty() ? "*" : token.namespace_name) +
                                "/sa/" +
                                (token.service_account.empty() ? "*" : token.service_account);
    return r->respondJson(403, json{{"error", "this token may not get the identity " +
                                                  request->identity() + ": it allows " + allowed},
                                    {"identity", request->identity()},
                                    {"allowed", allowed}}
                                   .dump());
  }
  auto issued = ca->sign(*request, ttl, error);
  if (!issued) {
    server::logLine(server::LogLevel::kError,
                    "certificate for " + request->identity() + ": " + error);
    return r->respondJson(500, errorJson(error));
  }
  metrics_.certificates_issued.Increment();
  // Root rotation: what the signing root has issued, and which old certificate this renewal
  // replaces (the client certificate the caller authenticated with).
  if (ca_manager_) ca_manager_->issued(issued->serial, issued->expires_at, r->peer_serial);
  server::logLine(server::LogLevel::kInfo, "issued a certificate for " + issued->identity + " (" +
                                               std::to_string(ttl) + " s) to " + r->peer);
  r->respondJson(200, json{{"certificate_chain", issued->certificate_chain},
                           {"root_certificates", issued->root_certificates},
                           {"identity", issued->identity},
                           {"expires_at", issued->expires_at}}
                          .dump());
}

void Api::resources(const HttpRequestPtr& r, const std::vector<std::string>& p) {
  const std::string& m = r->method;
  if (p.size() == 2) {
    if (m == "POST") {
      ChangeResult res = store_.apply(r->body, sourceOf(*r));
      if (!res.ok) {
        return r->respondJson(400, json{{"errors", errorList(res.errors, false)}}.dump());
      }
      return r->respondJson(200, json{{"applied", itemsJson(res.items)},
                                      {"warnings", errorList(res.errors, true)},
                                      {"revision", store_.revision()}}
                                     .dump());
    }
    if (m == "DELETE") {
      ChangeResult res = store_.remove(r->body, sourceOf(*r));
      if (!res.ok) {
        return r->respondJson(res.not_found  ? 404
                              : res.conflict ? 409
                                             : 400,
                              json{{"errors", errorList(res.errors, false)}}.dump());
      }
      return r->respondJson(
          200, json{{"deleted", itemsJson(res.items)}, {"revision", store_.revision()}}.dump());
    }
    if (m == "GET") {
      json a = json::array();
      for (const DocumentPtr& d : store_.all()) a.push_back(documentJson(*d));
      return r->respondJson(200, a.dump());
    }
    return r->respondJson(405, errorJson("use GET, POST or DELETE"));
  }
  if (m != "GET" && m != "HEAD") return r->respondJson(405, errorJson("use GET"));
  if (p.size() == 3) {
    json a = json::array();
    for (const DocumentPtr& d : store_.all()) {
      if (kindMatches(p[2], d->kind)) a.push_back(documentJson(*d));
    }
    return r->respondJson(200, a.dump());
  }
  if (p.size() == 5) {
    for (const DocumentPtr& d : store_.all()) {
      if (kindMatches(p[2], d->kind) && d->namespace_name == p[3] && d->name == p[4]) {
        return r->respondJson(200, documentJson(*d).dump());
      }
    }
    return r->respondJson(404, errorJson("no " + p[2] + " " + p[3] + "/" + p[4]));
  }
  r->respondJson(404, errorJson("no such endpoint"));
}

}  // namespace weft::control
