// TlsContext (see context.h): SSL_CTX set-up from a WorkloadIdentity, the client session cache
// and the SPIFFE helpers.
#include "tls/context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <vector>

namespace weft::tls {

namespace {

// Same value on every context of the process, so that tickets stay valid across a context
// rebuilt for a renewed certificate (with copied ticket keys).
constexpr unsigned char kSessionIdContext[] = "weft-mtls";

using crypto::memBio;

bool fail(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return false;
}

bool configure(SSL_CTX* ctx, TlsContext::Role role, const identity::WorkloadIdentity& id,
               const TlsSettings& s, std::string* error) {
  // --- Versions, suites, groups
  int min = s.min_version == TlsVersion::kTls12 ? TLS1_2_VERSION : TLS1_3_VERSION;
  if (SSL_CTX_set_min_proto_version(ctx, min) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
    return fail(error, drainOpensslErrors("protocol versions"));
  }
  if (SSL_CTX_set_cipher_list(ctx, s.tls12_ciphers.c_str()) != 1) {
    return fail(error, drainOpensslErrors("tls12_ciphers \"" + s.tls12_ciphers + "\""));
  }
  if (!s.tls13_ciphersuites.empty() &&
      SSL_CTX_set_ciphersuites(ctx, s.tls13_ciphersuites.c_str()) != 1) {
    return fail(error, drainOpensslErrors("tls13_ciphersuites \"" + s.tls13_ciphersuites + "\""));
  }
  if (SSL_CTX_set1_groups_list(ctx, s.groups.c_str()) != 1) {
    return fail(error, drainOpensslErrors("groups \"" + s.groups + "\""));
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);

  // --- Our certificate chain and key
  auto chain = crypto::parseCertificates(id.cert_chain_pem);
  if (chain.empty()) return fail(error, "certificate chain: no PEM certificate");
  auto key_bio = memBio(id.private_key_pem);
  OpensslPtr<EVP_PKEY> key(
      key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) return fail(error, drainOpensslErrors("private key"));
  OpensslPtr<STACK_OF(X509)> extra(sk_X509_new_null());
  for (size_t i = 1; i < chain.size(); ++i) {
    if (!extra || sk_X509_push(extra.get(), chain[i].get()) <= 0) {
      return fail(error, drainOpensslErrors("certificate chain"));
    }
    chain[i].release();  // now owned by `extra`
  }
  // Checks that the key matches the leaf.
  if (SSL_CTX_use_cert_and_key(ctx, chain[0].get(), key.get(), extra.get(), 1) != 1) {
    return fail(error, drainOpensslErrors("certificate and key"));
  }

  // --- Trust: the mesh roots only
  auto roots = crypto::parseCertificates(id.roots_pem);
  if (roots.empty()) return fail(error, "roots: no PEM certificate");
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (auto& r : roots) {
    if (X509_STORE_add_cert(store, r.get()) != 1) {
      return fail(error, drainOpensslErrors("roots"));
    }
  }
  if (role == TlsContext::Role::kServer) {
    SSL_CTX_set_verify(ctx,
                       s.require_client_certificate
                           ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                           : SSL_VERIFY_PEER,
                       nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }

  // --- Resumption
  if (SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof(kSessionIdContext) - 1) != 1) {
    return fail(error, drainOpensslErrors("session id context"));
  }
  if (role == TlsContext::Role::kServer) {
    // Stateless tickets need no server cache; none is kept (memory, and a lock across workers).
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (s.session_resumption) {
      SSL_CTX_set_num_tickets(ctx, 1);
      SSL_CTX_set_timeout(ctx, s.session_lifetime_s);
    } else {
      SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
      SSL_CTX_set_num_tickets(ctx, 0);
    }
  } else if (s.session_resumption) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }
  return true;
}

}  // namespace

TlsContext::TlsContext(Role role, const TlsSettings& settings) : role_(role), settings_(settings) {}

TlsContextPtr TlsContext::makeServer(const identity::WorkloadIdentity& id,
                                     const TlsSettings& settings, std::string* error) {
  return make(Role::kServer, id, settings, error);
}

TlsContextPtr TlsContext::makeClient(const identity::WorkloadIdentity& id,
                                     const TlsSettings& settings, std::string* error) {
  return make(Role::kClient, id, settings, error);
}

TlsContextPtr TlsContext::make(Role role, const identity::WorkloadIdentity& id,
                               const TlsSettings& settings, std::string* error) {
  ERR_clear_error();
  TlsContextPtr c(new TlsContext(role, settings));
  c->ctx_.reset(SSL_CTX_new(TLS_method()));
  if (!c->ctx_) {
    fail(error, drainOpensslErrors("SSL_CTX_new"));
    return nullptr;
  }
  if (!configure(c->ctx_.get(), role, id, settings, error)) {
    ERR_clear_error();
    return nullptr;
  }
  if (role == Role::kClient) c->enableClientSessionCache();
  return c;
}

void TlsContext::enableClientSessionCache() {
  if (!settings_.session_resumption) return;
  // The callback finds the context through the SSL_CTX's app data. Every SSL made from this
  // context belongs to a TlsStream that holds a reference on the TlsContext, so the pointer
  // outlives every callback.
  SSL_CTX_set_app_data(ctx_.get(), this);
  SSL_CTX_sess_set_new_cb(ctx_.get(), newSessionCb);
}

TlsContextPtr TlsContext::makeOrigination(const OriginationSettings& o, const TlsSettings& base,
                                          std::string* error) {
  ERR_clear_error();
  TlsSettings settings = base;
  settings.min_version = TlsVersion::kTls12;
  TlsContextPtr c(new TlsContext(Role::kClient, settings));
  c->ctx_.reset(SSL_CTX_new(TLS_client_method()));
  SSL_CTX* ctx = c->ctx_.get();
  if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, settings.tls12_ciphers.c_str()) != 1 ||
      SSL_CTX_set1_groups_list(ctx, settings.groups.c_str()) != 1) {
    fail(error, drainOpensslErrors("TLS origination context"));
    return nullptr;
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  if (!o.client_certificate_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, o.client_certificate_file.c_str()) != 1) {
      fail(error, drainOpensslErrors("clientCertificate " + o.client_certificate_file));
      return nullptr;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, o.private_key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      fail(error, drainOpensslErrors("privateKey " + o.private_key_file));
      return nullptr;
    }
  }
  if (o.verify) {
    int rc = o.ca_certificates_file.empty()
                 ? SSL_CTX_set_default_verify_paths(ctx)
                 : SSL_CTX_load_verify_locations(ctx, o.ca_certificates_file.c_str(), nullptr);
    if (rc != 1) {
      fail(error, drainOpensslErrors("caCertificates " + (o.ca_certificates_file.empty()
                                                              ? std::string("(system default)")
                                                              : o.ca_certificates_file)));
      return nullptr;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  SSL_CTX_set_session_cache_mode(ctx, settings.session_resumption
                                          ? SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE
                                          : SSL_SESS_CACHE_OFF);
  c->enableClientSessionCache();
  return c;
}

int TlsContext::sessionKeyIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int TlsContext::newSessionCb(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<TlsContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  auto* key = static_cast<const std::string*>(SSL_get_ex_data(ssl, sessionKeyIndex()));
  if (self == nullptr || key == nullptr || key->empty()) return 0;
  if (!SSL_SESSION_is_resumable(session)) return 0;
  self->storeSession(*key, OpensslPtr<SSL_SESSION>(session));
  return 1;  // the reference is ours now
}

OpensslPtr<SSL_SESSION> TlsContext::findSession(std::string_view key) const {
  std::lock_guard<std::mutex> lock(sessions_mu_);
  auto it = sessions_.find(std::string(key));
  if (it == sessions_.end()) return nullptr;
  SSL_SESSION_up_ref(it->second.get());
  return OpensslPtr<SSL_SESSION>(it->second.get());
}

void TlsContext::storeSession(std::string_view key, OpensslPtr<SSL_SESSION> session) const {
  std::lock_guard<std::mutex> lock(sessions_mu_);
  auto it = sessions_.find(std::string(key));
  if (it != sessions_.end()) {
    it->second = std::move(session);
    return;
  }
  if (settings_.client_session_cache_size == 0) return;
  if (sessions_.size() >= settings_.client_session_cache_size) {
    sessions_.erase(sessions_.begin());  // any one: the cache only saves round trips
  }
  sessions_.emplace(std::string(key), std::move(session));
}

void TlsContext::forgetSession(std::string_view key) const {
  std::lock_guard<std::mutex> lock(sessions_mu_);
  sessions_.erase(std::string(key));
}

size_t TlsContext::cachedSessions() const {
  std::lock_guard<std::mutex> lock(sessions_mu_);
  return sessions_.size();
}

bool TlsContext::copyTicketKeysFrom(const TlsContext& other, std::string* error) {
  unsigned char keys[80];
  ERR_clear_error();
  if (SSL_CTX_get_tlsext_ticket_keys(other.get(), keys, sizeof(keys)) != 1 ||
      SSL_CTX_set_tlsext_ticket_keys(get(), keys, sizeof(keys)) != 1) {
    OPENSSL_cleanse(keys, sizeof(keys));
    return fail(error, drainOpensslErrors("ticket keys"));
  }
  OPENSSL_cleanse(keys, sizeof(keys));
  return true;
}

std::string spiffeIdOf(X509* cert) {
  if (cert == nullptr) return {};
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) {
    ERR_clear_error();
    return {};
  }
  std::string id;
  int found = 0;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type != GEN_URI) continue;
    const auto* data = ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
    int len = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
    std::string_view uri(reinterpret_cast<const char*>(data), static_cast<size_t>(len));
    if (uri.size() > 9 && uri.substr(0, 9) == "spiffe://") {
      ++found;
      id.assign(uri);
    }
  }
  GENERAL_NAMES_free(names);
  return found == 1 ? id : std::string();
}

std::string peerSpiffeId(const SSL* ssl) {
  if (ssl == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return {};
  return spiffeIdOf(SSL_get0_peer_certificate(ssl));  // borrowed
}

std::string certificateSha256Hex(X509* cert) {
  if (cert == nullptr) return {};
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(cert, EVP_sha256(), md, &n) != 1) {
    ERR_clear_error();
    return {};
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (unsigned int i = 0; i < n; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

std::string spiffeIdentity(std::string_view ns, std::string_view sa,
                           std::string_view trust_domain) {
  std::string out;
  out.reserve(9 + trust_domain.size() + 4 + ns.size() + 4 + sa.size());
  out.append("spiffe://").append(trust_domain).append("/ns/").append(ns).append("/sa/").append(sa);
  return out;
}

}  // namespace weft::tls
