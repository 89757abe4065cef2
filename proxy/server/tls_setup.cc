// TLS contexts for a runtime (see tls_setup.h).
#include "server/tls_setup.h"

#include <map>
#include <tuple>

#include "server/log.h"

namespace weft::server {

namespace {
std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ":") + i;
  return out;
}
}  // namespace

tls::TlsSettings tlsSettings(const mesh::TlsOptions& o) {
  tls::TlsSettings s;
  if (o.allow_tls12) s.min_version = tls::TlsVersion::kTls12;
  if (!o.cipher_suites.empty()) s.tls12_ciphers = joined(o.cipher_suites);
  if (!o.tls13_cipher_suites.empty()) s.tls13_ciphersuites = joined(o.tls13_cipher_suites);
  if (!o.ecdh_curves.empty()) s.groups = joined(o.ecdh_curves);
  return s;
}

bool makeMeshTls(const identity::WorkloadIdentity& id, const tls::TlsSettings& settings,
                 const MeshTls& previous, const std::string& previous_roots, MeshTls& out,
                 std::string* error) {
  MeshTls made;
  made.server = tls::TlsContext::makeServer(id, settings, error);
  if (!made.server) return false;
  made.client = tls::TlsContext::makeClient(id, settings, error);
  if (!made.client) return false;
  // Tickets are only worth keeping when the peers that hold them are still trusted the same
  // way; a new trust bundle starts afresh.
  if (previous.server && previous_roots == id.roots_pem) {
    std::string why;
    if (!made.server->copyTicketKeysFrom(*previous.server, &why)) {
      logLine(LogLevel::kWarning, "mutual TLS: session tickets not carried over: " + why);
    }
  }
  out = std::move(made);
  return true;
}

std::vector<upstream::UpstreamTlsPtr> makeOrigination(const mesh::Snapshot& snapshot,
                                                      const tls::TlsSettings& settings) {
  using Mode = mesh::ClientTlsPolicy::Mode;
  std::vector<upstream::UpstreamTlsPtr> out(snapshot.clusters.size());
  // Clusters of one DestinationRule share their files: one context per distinct set.
  std::map<std::tuple<std::string, std::string, std::string, bool>, tls::TlsContextPtr> contexts;
  for (size_t i = 0; i < snapshot.clusters.size(); ++i) {
    const mesh::Cluster& c = snapshot.clusters[i];
    if (!c.tls || (c.tls->mode != Mode::kSimple && c.tls->mode != Mode::kMutual)) continue;
    const mesh::ClientTlsPolicy& p = *c.tls;
    auto key = std::make_tuple(p.client_certificate, p.private_key, p.ca_certificates,
                               p.insecure_skip_verify);
    auto it = contexts.find(key);
    if (it == contexts.end()) {
      tls::OriginationSettings o;
      o.client_certificate_file = p.client_certificate;
      o.private_key_file = p.private_key;
      o.ca_certificates_file = p.ca_certificates;
      o.verify = !p.insecure_skip_verify;
      std::string error;
      tls::TlsContextPtr ctx = tls::TlsContext::makeOrigination(o, settings, &error);
      if (!ctx) {
        logLine(LogLevel::kError, "cluster " + c.name + ": DestinationRule tls: " + error +
                                      " (its connections fail until this is fixed)");
      }
      it = contexts.emplace(key, std::move(ctx)).first;
    }
    auto t = std::make_shared<upstream::UpstreamTls>();
    t->context = it->second;
    // SNI: as written, else the service's host name (what Envoy's auto_sni would send).
    t->sni = p.sni.empty() ? c.service_host : p.sni;
    if (!p.insecure_skip_verify) {
      t->verify_names = p.subject_alt_names;
      if (t->verify_names.empty()) t->verify_names.push_back(t->sni);
    }
    t->pool_tag = "tls|" + c.name;
    out[i] = std::move(t);
  }
  return out;
}

}  // namespace weft::server
