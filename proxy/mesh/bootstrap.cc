// Bootstrap parsing and validation, and NodeIdentity's derived values.
#include "mesh/bootstrap.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "mesh/yaml_reader.h"

namespace weft::mesh {

// === NodeIdentity ===

namespace {

std::string label(const std::map<std::string, std::string>& labels,
                  std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    auto it = labels.find(k);
    if (it != labels.end() && !it->second.empty()) return it->second;
  }
  return {};
}

}  // namespace

std::string NodeIdentity::app() const {
  std::string v = label(labels, {"app", "app.kubernetes.io/name"});
  return v.empty() ? "unknown" : v;
}

std::string NodeIdentity::version() const {
  std::string v = label(labels, {"version", "app.kubernetes.io/version"});
  return v.empty() ? "unknown" : v;
}

std::string NodeIdentity::canonicalService() const {
  std::string v =
      label(labels, {"service.istio.io/canonical-name", "app.kubernetes.io/name", "app"});
  return v.empty() ? workload : v;
}

std::string NodeIdentity::canonicalRevision() const {
  std::string v = label(
      labels, {"service.istio.io/canonical-revision", "app.kubernetes.io/version", "version"});
  return v.empty() ? "latest" : v;
}

std::string NodeIdentity::spiffeId() const {
  return "spiffe://" + trust_domain + "/ns/" + namespace_name + "/sa/" + service_account;
}

std::string NodeIdentity::serviceFqdn() const {
  return service + "." + namespace_name + ".svc.cluster.local";
}

// === Socket addresses ===

std::optional<SocketAddress> parseSocketAddress(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == text.npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    if (host.find(':') == host.npos) return std::nullopt;
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == text.npos) return std::nullopt;
    host = text.substr(0, colon);
    if (host.find(':') != host.npos) return std::nullopt;  // IPv6 needs brackets
    port = text.substr(colon + 1);
  }
  if (!isIpAddress(host)) return std::nullopt;
  if (port.empty() || port.size() > 5 || (port.size() > 1 && port[0] == '0')) return std::nullopt;
  uint32_t p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
    p = p * 10 + static_cast<uint32_t>(c - '0');
  }
  if (p == 0 || p > 65535) return std::nullopt;
  return SocketAddress{std::string(host), static_cast<uint16_t>(p)};
}

std::string toString(const SocketAddress& address) {
  if (address.host.find(':') != std::string::npos) {
    return "[" + address.host + "]:" + std::to_string(address.port);
  }
  return address.host + ":" + std::to_string(address.port);
}

// === Control plane URL ===

std::string ControlPlaneConfig::baseUrl() const {
  const std::string scheme = tls ? "https://" : "http://";
  if (host.find(':') != std::string::npos) return scheme + "[" + host + "]:" + std::to_string(port);
  // localhost is 127.0.0.1, so no name is resolved (and no IPv6 address tried first).
  const std::string& h = host == "localhost" ? std::string("127.0.0.1") : host;
  return scheme + h + ":" + std::to_string(port);
}

std::optional<ControlPlaneConfig> parseControlPlaneUrl(std::string_view url, std::string& why) {
  bool tls = false;
  if (url.substr(0, 8) == "https://") {
    tls = true;
    url.remove_prefix(8);
  } else if (url.substr(0, 7) == "http://") {
    url.remove_prefix(7);
  } else {
    why = url.find("://") != url.npos ? "only http:// and https:// are supported"
                                      : "it must start with https:// or http://";
    return std::nullopt;
  }
  std::string_view rest = url;
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#@") != rest.npos) {
    why = "it must be https://<host>:<port>, without a path, query or user";
    return std::nullopt;
  }
  std::string host_port(rest);
  // "localhost" is the only name accepted; it stands for 127.0.0.1.
  bool localhost = false;
  if (host_port.rfind("localhost:", 0) == 0) {
    localhost = true;
    host_port = "127.0.0.1" + host_port.substr(9);
  }
  auto addr = parseSocketAddress(host_port);
  if (!addr) {
    why = "it must be https://<numeric ip or localhost>:<port> (port 1-65535)";
    return std::nullopt;
  }
  ControlPlaneConfig c;
  c.url = (tls ? "https://" : "http://") + std::string(url);
  c.tls = tls;
  c.host = localhost ? "localhost" : addr->host;
  c.port = addr->port;
  return c;
}

// === Bootstrap ===

namespace {

constexpr uint64_t kMaxTimeoutMs = 24ull * 3600 * 1000;

struct PortUse {
  std::string what;
  SocketAddress address;
  YAML::Mark mark;
  bool set = false;
};

void readIdentity(YamlContext& ctx, const YAML::Node& node, NodeIdentity& id) {
  auto map = YamlMap::open(ctx, node, "'node'",
                           {"id", "workload", "service", "namespace", "service_account",
                            "cluster_id", "trust_domain", "labels"});
  if (!map) return;
  if (auto* n = map->require("id")) {
    if (auto v = readNonEmptyString(ctx, *n, "id")) id.id = *v;
  }
  if (auto* n = map->require("service")) {
    if (auto v = readString(ctx, *n, "service")) {
      if (isDnsLabel(*v)) {
        id.service = *v;
      } else {
        ctx.error(n->Mark(),
                  "'service' must be a DNS label (lower-case letters, digits, '-'), "
                  "not '" +
                      *v + "'");
      }
    }
  }
  id.workload = id.service;
  if (auto* n = map->find("workload")) {
    if (auto v = readNonEmptyString(ctx, *n, "workload")) id.workload = *v;
  }
  if (auto* n = map->find("namespace")) {
    if (auto v = readString(ctx, *n, "namespace")) {
      if (isDnsLabel(*v)) {
        id.namespace_name = *v;
      } else {
        ctx.error(n->Mark(), "'namespace' must be a DNS label, not '" + *v + "'");
      }
    }
  }
  if (auto* n = map->find("service_account")) {
    if (auto v = readNonEmptyString(ctx, *n, "service_account")) id.service_account = *v;
  }
  if (auto* n = map->find("cluster_id")) {
    if (auto v = readNonEmptyString(ctx, *n, "cluster_id")) id.cluster_id = *v;
  }
  if (auto* n = map->find("trust_domain")) {
    if (auto v = readString(ctx, *n, "trust_domain")) {
      if (isDnsName(*v)) {
        id.trust_domain = *v;
      } else {
        ctx.error(n->Mark(), "'trust_domain' must be a DNS name, not '" + *v + "'");
      }
    }
  }
  if (auto* n = map->find("labels")) {
    if (auto v = readStringMap(ctx, *n, "labels")) id.labels = *v;
  }
}

void readAddress(YamlContext& ctx, const YamlMap& map, SocketAddress& addr, PortUse& use) {
  if (auto* n = map.find("address")) {
    if (auto v = readString(ctx, *n, "address")) {
      if (isIpAddress(*v)) {
        addr.host = *v;
      } else {
        ctx.error(n->Mark(), "'address' must be a numeric IP address, not '" + *v + "'");
      }
    }
  }
  use.mark = map.mark();
  if (auto* n = map.find("port")) {
    use.mark = n->Mark();
    if (auto v = readPort(ctx, *n, "port")) addr.port = *v;
  }
  use.address = addr;
  use.set = true;
}

void readListener(YamlContext& ctx, const YAML::Node& node, std::string_view name,
                  SocketAddress& addr, PortUse& use) {
  auto map = YamlMap::open(ctx, node, "'" + std::string(name) + "'", {"address", "port"});
  if (map) readAddress(ctx, *map, addr, use);
}

std::string resolveResource(const std::string& path, const std::string& bootstrap_path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  std::error_code ec;
  if (p.is_absolute() || fs::exists(p, ec)) return path;
  fs::path base = fs::path(bootstrap_path).parent_path();
  if (base.empty()) return path;
  return (base / p).lexically_normal().string();
}

void readResources(YamlContext& ctx, const YAML::Node& node, const std::string& bootstrap_path,
                   std::vector<std::string>& out) {
  if (!node.IsSequence()) {
    ctx.error(node.Mark(), "'resources' must be a list of file paths, not " + describeNode(node));
    return;
  }
  for (const auto& item : node) {
    auto v = readNonEmptyString(ctx, item, "resources");
    if (!v) continue;
    std::string resolved = resolveResource(*v, bootstrap_path);
    std::error_code ec;
    if (!std::filesystem::is_regular_file(resolved, ec)) {
      ctx.error(item.Mark(),
                "resource file '" + *v + "' not found (looked for '" + resolved + "')");
      continue;
    }
    out.push_back(resolved);
  }
}

// The token file's first line, trimmed; it becomes an HTTP header value, so only visible ASCII.
std::optional<std::string> readTokenFile(const std::string& path, std::string& why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = "cannot be read";
    return std::nullopt;
  }
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
    line.pop_back();
  }
  size_t start = line.find_first_not_of(" \t");
  line = start == std::string::npos ? std::string() : line.substr(start);
  if (line.empty()) {
    why = "is empty (its first line must be the bearer token)";
    return std::nullopt;
  }
  for (unsigned char c : line) {
    if (c < 0x21 || c > 0x7e) {
      why = "must hold the token on its first line, in visible ASCII without spaces";
      return std::nullopt;
    }
  }
  return line;
}

void readControlPlane(YamlContext& ctx, const YAML::Node& node, const std::string& bootstrap_path,
                      std::optional<ControlPlaneConfig>& out) {
  auto map = YamlMap::open(
      ctx, node, "'control_plane'",
      {"url", "token_file", "resource_scope", "cache_file", "certificate_ttl", "ca_certificate"});
  if (!map) return;
  ControlPlaneConfig c;
  bool ok = true;
  if (auto* n = map->require("url")) {
    if (auto v = readNonEmptyString(ctx, *n, "url")) {
      std::string why;
      if (auto parsed = parseControlPlaneUrl(*v, why)) {
        c = *parsed;
      } else {
        ctx.error(n->Mark(), "'url' '" + *v + "': " + why);
        ok = false;
      }
    } else {
      ok = false;
    }
  } else {
    ok = false;
  }
  if (auto* n = map->require("token_file")) {
    if (auto v = readNonEmptyString(ctx, *n, "token_file")) {
      c.token_file = resolveResource(*v, bootstrap_path);
      std::string why;
      if (auto token = readTokenFile(c.token_file, why)) {
        c.token = *token;
      } else {
        ctx.error(n->Mark(),
                  "token file '" + *v + "' " + why + " (looked for '" + c.token_file + "')");
        ok = false;
      }
    } else {
      ok = false;
    }
  } else {
    ok = false;
  }
  if (auto* n = map->find("resource_scope")) {
    if (auto v = readString(ctx, *n, "resource_scope")) {
      if (*v == "full" || *v == "on_demand") {
        c.scope = *v;
      } else {
        ctx.error(n->Mark(), "'resource_scope' must be full or on_demand, not '" + *v + "'");
        ok = false;
      }
    } else {
      ok = false;
    }
  }
  if (auto* n = map->find("cache_file")) {
    if (auto v = readNonEmptyString(ctx, *n, "cache_file")) {
      // Usually written before it exists, so a relative path is always taken from the
      // bootstrap's directory (not from the current directory when a file is there).
      std::filesystem::path p(*v);
      std::filesystem::path base = std::filesystem::path(bootstrap_path).parent_path();
      c.cache_file = p.is_absolute() || base.empty() ? *v : (base / p).lexically_normal().string();
    } else {
      ok = false;
    }
  }
  if (auto* n = map->find("certificate_ttl")) {
    // The range the control plane's CA accepts (docs/security.md).
    constexpr uint64_t kMinTtlMs = 60'000;
    constexpr uint64_t kMaxTtlMs = 30ull * 86'400'000;
    if (auto v = readDurationMs(ctx, *n, "certificate_ttl", kMinTtlMs, kMaxTtlMs)) {
      if (*v % 1000 != 0) {
        ctx.error(n->Mark(), "'certificate_ttl' must be a whole number of seconds");
        ok = false;
      } else {
        c.certificate_ttl_s = *v / 1000;
      }
    } else {
      ok = false;
    }
  }
  if (auto* n = map->find("ca_certificate")) {
    if (auto v = readNonEmptyString(ctx, *n, "ca_certificate")) {
      // Always from the bootstrap's directory when relative (not from the current directory).
      std::filesystem::path p(*v);
      std::filesystem::path base = std::filesystem::path(bootstrap_path).parent_path();
      c.ca_certificate =
          p.is_absolute() || base.empty() ? *v : (base / p).lexically_normal().string();
      std::ifstream in(c.ca_certificate, std::ios::binary);
      std::stringstream text;
      if (in) text << in.rdbuf();
      c.ca_pem = text.str();
      if (!in) {
        ctx.error(n->Mark(), "'ca_certificate' file '" + *v + "' cannot be read (looked for '" +
                                 c.ca_certificate + "')");
        ok = false;
      } else if (c.ca_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
        ctx.error(n->Mark(), "'ca_certificate' file '" + *v + "' holds no PEM certificate");
        ok = false;
      } else if (!c.tls) {
        ctx.warning(n->Mark(), "'ca_certificate' is used only with an https:// url");
      }
    } else {
      ok = false;
    }
  } else if (ok && c.tls) {
    ctx.error(node.Mark(),
              "'control_plane' with an https:// url needs 'ca_certificate' (the PEM roots that "
              "verify the control plane, e.g. its trust-bundle.pem)");
    ok = false;
  }
  if (ok) out = std::move(c);
}

// tls: only choices that keep forward secrecy and authenticated encryption are accepted.
void readTlsOptions(YamlContext& ctx, const YAML::Node& node, TlsOptions& out) {
  auto map = YamlMap::open(ctx, node, "'tls'",
                           {"min_version", "cipher_suites", "tls13_cipher_suites", "ecdh_curves"});
  if (!map) return;
  if (const YAML::Node* n = map->find("min_version")) {
    if (auto v = readNonEmptyString(ctx, *n, "min_version")) {
      if (*v == "TLSv1_2" || *v == "TLSV1_2") {
        out.allow_tls12 = true;
      } else if (*v != "TLSv1_3" && *v != "TLSV1_3") {
        ctx.error(n->Mark(), "'min_version' must be TLSv1_2 or TLSv1_3, not '" + *v + "'");
      }
    }
  }
  struct ListField {
    const char* name;
    std::vector<std::string>* out;
    bool (*allowed)(const std::string&);
    const char* rule;
  };
  const ListField fields[] = {
      {"cipher_suites", &out.cipher_suites,
       [](const std::string& s) {
         return s.rfind("ECDHE-", 0) == 0 && (s.find("-GCM-") != std::string::npos ||
                                              s.find("CHACHA20-POLY1305") != std::string::npos);
       },
       "TLS 1.2 suites with ECDHE key exchange and AEAD ciphers (ECDHE-...-GCM-... or "
       "ECDHE-...-CHACHA20-POLY1305)"},
      {"tls13_cipher_suites", &out.tls13_cipher_suites,
       [](const std::string& s) {
         return s == "TLS_AES_128_GCM_SHA256" || s == "TLS_AES_256_GCM_SHA384" ||
                s == "TLS_CHACHA20_POLY1305_SHA256";
       },
       "TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 or TLS_CHACHA20_POLY1305_SHA256"},
      {"ecdh_curves", &out.ecdh_curves,
       [](const std::string& s) {
         return s == "X25519" || s == "X448" || s == "P-256" || s == "P-384" || s == "P-521";
       },
       "X25519, X448, P-256, P-384 or P-521"},
  };
  for (const ListField& f : fields) {
    const YAML::Node* n = map->find(f.name);
    if (!n) continue;
    auto list = readStringList(ctx, *n, f.name);
    if (!list) continue;
    for (size_t i = 0; i < list->size(); ++i) {
      if (!f.allowed((*list)[i])) {
        ctx.error((*n)[i].Mark(), std::string("'") + f.name + "' entries must be " + f.rule +
                                      ", not '" + (*list)[i] + "'");
      }
    }
    *f.out = std::move(*list);
  }
  if (!out.cipher_suites.empty() && !out.allow_tls12) {
    ctx.error(map->mark(), "'cipher_suites' lists TLS 1.2 suites: set min_version: TLSv1_2");
  }
}

// A path from the bootstrap's directory when relative (identity files).
std::string fromBootstrapDir(const std::string& path, const std::string& bootstrap_path) {
  std::filesystem::path p(path);
  std::filesystem::path base = std::filesystem::path(bootstrap_path).parent_path();
  return p.is_absolute() || base.empty() ? path : (base / p).lexically_normal().string();
}

void readIdentityFiles(YamlContext& ctx, const YAML::Node& key, const YAML::Node& node,
                       const std::string& bootstrap_path, std::optional<IdentityFilesConfig>& out) {
  auto map =
      YamlMap::open(ctx, node, "'identity'", {"certificate", "private_key", "ca_certificates"});
  if (!map) return;
  IdentityFilesConfig c;
  SourcePos at = ctx.pos(key.Mark());
  c.file = at.file;
  c.line = at.line;
  c.column = at.column;
  bool ok = true;
  auto file = [&](const char* field, std::string& outPath) {
    const YAML::Node* n = map->require(field);
    if (!n) {
      ok = false;
      return;
    }
    auto v = readNonEmptyString(ctx, *n, field);
    if (!v) {
      ok = false;
      return;
    }
    outPath = fromBootstrapDir(*v, bootstrap_path);
    std::ifstream in(outPath, std::ios::binary);
    std::error_code ec;
    if (!in || std::filesystem::is_directory(outPath, ec)) {
      ctx.error(n->Mark(), std::string("'") + field + "' file '" + *v +
                               "' cannot be read (looked for '" + outPath + "')");
      ok = false;
    }
  };
  file("certificate", c.certificate);
  file("private_key", c.private_key);
  file("ca_certificates", c.ca_certificates);
  if (ok) out = std::move(c);
}

void readAccessLog(YamlContext& ctx, const YAML::Node& node, AccessLogConfig& log) {
  auto map = YamlMap::open(ctx, node, "'access_log'", {"path", "format"});
  if (!map) return;
  if (auto* n = map->require("path")) {
    if (auto v = readNonEmptyString(ctx, *n, "path")) {
      log.path = *v;
      log.enabled = true;
    }
  }
  if (auto* n = map->find("format")) {
    if (auto v = readString(ctx, *n, "format")) {
      if (*v == "json") {
        log.format = *v;
      } else {
        ctx.error(n->Mark(), "'format' must be json, not '" + *v + "'");
      }
    }
  }
}

void readTimeouts(YamlContext& ctx, const YAML::Node& node, Timeouts& t) {
  auto map = YamlMap::open(
      ctx, node, "'timeouts'",
      {"header_read", "downstream_idle", "upstream_connect", "upstream_pool_idle", "drain"});
  if (!map) return;
  auto read = [&](const char* key, uint32_t& out, uint64_t min_ms) {
    if (auto* n = map->find(key)) {
      if (auto v = readDurationMs(ctx, *n, key, min_ms, kMaxTimeoutMs)) {
        out = static_cast<uint32_t>(*v);
      }
    }
  };
  read("header_read", t.header_read_ms, 1);
  read("downstream_idle", t.downstream_idle_ms, 1);
  read("upstream_connect", t.upstream_connect_ms, 1);
  read("upstream_pool_idle", t.upstream_pool_idle_ms, 1);
  read("drain", t.drain_ms, 0);
}

void readLimits(YamlContext& ctx, const YAML::Node& node, Bootstrap& b) {
  auto map =
      YamlMap::open(ctx, node, "'limits'",
                    {"max_request_header_bytes", "max_request_headers", "retry_buffer_bytes"});
  if (!map) return;
  if (auto* n = map->find("max_request_header_bytes")) {
    if (auto v = readUint(ctx, *n, "max_request_header_bytes", 1024, 8 * 1024 * 1024)) {
      b.max_request_header_bytes = *v;
    }
  }
  if (auto* n = map->find("max_request_headers")) {
    if (auto v = readUint(ctx, *n, "max_request_headers", 1, 10'000)) b.max_request_headers = *v;
  }
  if (auto* n = map->find("retry_buffer_bytes")) {
    if (auto v = readUint(ctx, *n, "retry_buffer_bytes", 0, 64 * 1024 * 1024)) {
      b.retry_buffer_bytes = *v;
    }
  }
}

bool isWildcardAddress(const std::string& host) {
  return host == "0.0.0.0" || host == "::";
}

bool overlaps(const SocketAddress& a, const SocketAddress& b) {
  if (a.port != b.port) return false;
  return a.host == b.host || isWildcardAddress(a.host) || isWildcardAddress(b.host);
}

void checkPortClashes(YamlContext& ctx, const std::vector<PortUse>& uses) {
  for (size_t i = 0; i < uses.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (!overlaps(uses[i].address, uses[j].address)) continue;
      // Reported where the file sets one of the two.
      const PortUse& at = uses[i].set || !uses[j].set ? uses[i] : uses[j];
      const PortUse& other = &at == &uses[i] ? uses[j] : uses[i];
      ctx.error(at.mark, at.what + " " + toString(at.address) + " clashes with " + other.what +
                             " " + toString(other.address));
    }
  }
}

}  // namespace

BootstrapResult parseBootstrap(const std::string& text, const std::string& name) {
  BootstrapResult result;
  YamlContext ctx(name, result.errors);
  auto loaded = loadYamlDocuments(ctx, text);
  if (!loaded) return result;
  const std::vector<YAML::Node>& docs = *loaded;
  if (docs.empty() || docs[0].IsNull()) {
    ctx.error(SourcePos{name, 0, 0}, "the bootstrap is empty");
    return result;
  }
  if (docs.size() > 1) {
    ctx.error(SourcePos{name, 0, 0}, "the bootstrap must be a single YAML document");
  }
  Bootstrap b;
  b.path = name;
  auto root = YamlMap::open(ctx, docs[0], "the bootstrap",
                            {"node", "admin", "outbound", "inbound", "resources", "control_plane",
                             "access_log", "timeouts", "limits", "identity", "tls"});
  if (!root) return result;

  std::vector<PortUse> ports(4);
  ports[0] = {"admin listener", b.admin, root->mark(), false};
  ports[1] = {"outbound listener", b.outbound, root->mark(), false};
  ports[2] = {"inbound listener", b.inbound, root->mark(), false};
  ports[3] = {"inbound app", b.inbound_app, root->mark(), false};

  if (auto* n = root->require("node")) readIdentity(ctx, *n, b.node);
  if (auto* n = root->find("admin")) readListener(ctx, *n, "admin", b.admin, ports[0]);
  if (auto* n = root->find("outbound")) readListener(ctx, *n, "outbound", b.outbound, ports[1]);
  if (auto* n = root->find("inbound")) {
    if (auto map = YamlMap::open(ctx, *n, "'inbound'", {"address", "port", "app"})) {
      readAddress(ctx, *map, b.inbound, ports[2]);
      if (auto* app = map->find("app")) {
        if (auto v = readString(ctx, *app, "app")) {
          if (auto addr = parseSocketAddress(*v)) {
            b.inbound_app = *addr;
            ports[3].mark = app->Mark();
            ports[3].set = true;
          } else {
            ctx.error(app->Mark(),
                      "'app' must be <numeric ip>:<port> (\"127.0.0.1:9080\", "
                      "\"[::1]:9080\"), not '" +
                          *v + "'");
          }
        }
      }
    }
  }
  ports[0].address = b.admin;
  ports[1].address = b.outbound;
  ports[2].address = b.inbound;
  ports[3].address = b.inbound_app;
  checkPortClashes(ctx, ports);

  if (auto* n = root->find("resources")) readResources(ctx, *n, name, b.resources);
  if (auto* n = root->find("control_plane")) readControlPlane(ctx, *n, name, b.control_plane);
  if (auto* n = root->find("identity")) {
    for (const auto& e : root->entries()) {
      if (e.key == "identity") readIdentityFiles(ctx, e.key_node, *n, name, b.identity);
    }
  }
  if (auto* n = root->find("tls")) readTlsOptions(ctx, *n, b.tls);
  if (auto* n = root->find("access_log")) readAccessLog(ctx, *n, b.access_log);
  if (auto* n = root->find("timeouts")) readTimeouts(ctx, *n, b.timeouts);
  if (auto* n = root->find("limits")) readLimits(ctx, *n, b);

  if (!hasErrors(result.errors)) result.bootstrap = std::move(b);
  return result;
}

BootstrapResult loadBootstrap(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    BootstrapResult result;
    addError(result.errors, SourcePos{path, 0, 0}, "cannot read the bootstrap file", false);
    return result;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return parseBootstrap(buf.str(), path);
}

}  // namespace weft::mesh
