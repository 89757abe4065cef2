// DestinationRule tls and PeerAuthentication parsing (see security_resources.h).
#include "mesh/security_resources.h"

namespace weft::mesh {

namespace {

std::string q(std::string_view s) {
  return "'" + std::string(s) + "'";
}

// mtls.mode / portLevelMtls[].mode: nullopt for UNSET (inherit). `ok` false on a bad value.
std::optional<PeerMtlsMode> peerMode(YamlContext& ctx, const YAML::Node& node, bool& ok) {
  ok = false;
  auto map = YamlMap::open(ctx, node, "'mtls'", {"mode"});
  if (!map) return std::nullopt;
  ok = true;
  const YAML::Node* m = map->find("mode");
  if (!m) return std::nullopt;
  auto v = readNonEmptyString(ctx, *m, "mode");
  if (!v) {
    ok = false;
    return std::nullopt;
  }
  if (*v == "STRICT") return PeerMtlsMode::kStrict;
  if (*v == "PERMISSIVE") return PeerMtlsMode::kPermissive;
  if (*v == "DISABLE") return PeerMtlsMode::kDisable;
  if (*v == "UNSET") return std::nullopt;
  ctx.error(m->Mark(), "'mode' must be one of UNSET, DISABLE, PERMISSIVE, STRICT, not " + q(*v));
  ok = false;
  return std::nullopt;
}

}  // namespace

const char* toString(PeerMtlsMode mode) {
  switch (mode) {
    case PeerMtlsMode::kPermissive:
      return "PERMISSIVE";
    case PeerMtlsMode::kStrict:
      return "STRICT";
    case PeerMtlsMode::kDisable:
      return "DISABLE";
  }
  return "?";
}

std::optional<ClientTlsPolicy> parseClientTls(YamlContext& ctx, const YAML::Node& node) {
  auto map = YamlMap::open(ctx, node, "'tls'",
                           {"mode", "clientCertificate", "privateKey", "caCertificates", "sni",
                            "subjectAltNames", "insecureSkipVerify"},
                           {"credentialName", "caCrl"});
  if (!map) return std::nullopt;
  ClientTlsPolicy t;
  const YAML::Node* mode = map->require("mode");
  if (!mode) return std::nullopt;
  auto m = readNonEmptyString(ctx, *mode, "mode");
  if (!m) return std::nullopt;
  using Mode = ClientTlsPolicy::Mode;
  if (*m == "DISABLE") {
    t.mode = Mode::kDisable;
  } else if (*m == "SIMPLE") {
    t.mode = Mode::kSimple;
  } else if (*m == "MUTUAL") {
    t.mode = Mode::kMutual;
  } else if (*m == "ISTIO_MUTUAL") {
    t.mode = Mode::kIstioMutual;
  } else {
    ctx.error(mode->Mark(),
              "'mode' must be one of DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL, not " + q(*m));
    return std::nullopt;
  }
  bool ok = true;
  auto str = [&](std::string_view field, std::string& out) {
    if (const YAML::Node* n = map->find(field)) {
      if (auto v = readNonEmptyString(ctx, *n, field)) {
        out = *v;
      } else {
        ok = false;
      }
    }
  };
  str("clientCertificate", t.client_certificate);
  str("privateKey", t.private_key);
  str("caCertificates", t.ca_certificates);
  str("sni", t.sni);
  if (const YAML::Node* n = map->find("subjectAltNames")) {
    if (auto v = readStringList(ctx, *n, "subjectAltNames")) {
      t.subject_alt_names = std::move(*v);
    } else {
      ok = false;
    }
  }
  if (const YAML::Node* n = map->find("insecureSkipVerify")) {
    if (auto v = readBool(ctx, *n, "insecureSkipVerify")) {
      t.insecure_skip_verify = *v;
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  const bool files = !t.client_certificate.empty() || !t.private_key.empty();
  if (t.mode == Mode::kMutual && (t.client_certificate.empty() || t.private_key.empty())) {
    ctx.error(map->mark(), "'tls' mode MUTUAL needs clientCertificate and privateKey");
    return std::nullopt;
  }
  if ((t.mode == Mode::kSimple || t.mode == Mode::kDisable || t.mode == Mode::kIstioMutual) &&
      files) {
    ctx.error(map->mark(),
              "'tls' clientCertificate and privateKey go with mode MUTUAL only (ISTIO_MUTUAL "
              "uses the sidecar's mesh certificate)");
    return std::nullopt;
  }
  if (t.mode == Mode::kIstioMutual && (!t.ca_certificates.empty() || t.insecure_skip_verify)) {
    ctx.error(map->mark(),
              "'tls' mode ISTIO_MUTUAL verifies with the mesh's roots: caCertificates and "
              "insecureSkipVerify do not apply");
    return std::nullopt;
  }
  return t;
}

std::optional<PeerAuthentication> parsePeerAuthentication(YamlContext& ctx, ObjectMeta meta,
                                                          const YAML::Node& spec) {
  auto map =
      YamlMap::open(ctx, spec, "PeerAuthentication spec", {"selector", "mtls", "portLevelMtls"});
  if (!map) return std::nullopt;
  PeerAuthentication pa;
  pa.meta = std::move(meta);
  bool ok = true;
  if (const YAML::Node* n = map->find("selector")) {
    if (auto sel = YamlMap::open(ctx, *n, "'selector'", {"matchLabels"})) {
      if (const YAML::Node* ml = sel->find("matchLabels")) {
        if (auto labels = readStringMap(ctx, *ml, "matchLabels")) {
          pa.selector = std::move(*labels);
        } else {
          ok = false;
        }
      }
    } else {
      ok = false;
    }
  }
  if (const YAML::Node* n = map->find("mtls")) {
    bool mode_ok = false;
    pa.mode = peerMode(ctx, *n, mode_ok);
    ok = ok && mode_ok;
  }
  if (const YAML::Node* n = map->find("portLevelMtls")) {
    pa.port_level_pos = ctx.pos(n->Mark());
    if (auto ports = YamlMap::openAny(ctx, *n, "'portLevelMtls'")) {
      for (const auto& e : ports->entries()) {
        auto port = readPort(ctx, e.key_node, "portLevelMtls key");
        bool mode_ok = false;
        auto mode = peerMode(ctx, e.value, mode_ok);
        if (!port || !mode_ok) {
          ok = false;
          continue;
        }
        pa.port_level[*port] = mode;
      }
    } else {
      ok = false;
    }
    if (pa.selector.empty()) {
      // Istio ignores port-level settings of a policy that selects no workload.
      ctx.warning(n->Mark(),
                  "'portLevelMtls' applies only to a policy with a selector; it is ignored");
      pa.port_level.clear();
    }
  }
  if (!ok) return std::nullopt;
  return pa;
}

}  // namespace weft::mesh
