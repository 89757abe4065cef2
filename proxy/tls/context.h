// TlsContext: an OpenSSL 3 SSL_CTX built from the sidecar's WorkloadIdentity, for one side of
// mutual TLS between sidecars, plus the helpers that read a peer's mesh identity.
//
// - Server context: presents the identity's chain and key, *requires* a client certificate and
//   verifies it against the identity's roots (mutual TLS; no plain-text or optional-cert mode).
// - Client context: presents the same chain and key and verifies the server against the roots.
//   No host-name check: the peer is authorised by its SPIFFE ID (peerSpiffeId) after the
//   handshake, as Istio's secure naming does.
//
// Defaults (TlsSettings): TLS 1.3 only; optionally TLS 1.2 with ECDHE + AEAD suites only; key
// exchange groups X25519 and P-256.
//
// Session resumption:
// - Server: stateless TLS 1.3 tickets (one per handshake), encrypted with the context's random
//   ticket keys; no server-side session cache. A session id context is always set (OpenSSL
//   refuses to resume a session with a client certificate without one). copyTicketKeysFrom()
//   keeps old tickets valid across a certificate renewal.
// - Client: a small cache in the context, one session per endpoint key, filled from the
//   NewSessionTicket messages (SSL_CTX_sess_set_new_cb) and shared by the workers (a mutex,
//   taken once per new connection and once per ticket; never per request).
//
// A context is immutable once built (apart from the client session cache) and shared by every
// worker through a shared_ptr; a new identity makes new contexts, and connections already open
// keep theirs (SSL_new holds a reference on the SSL_CTX).
//
// Errors are returned as strings with the thread's OpenSSL error queue drained.
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "crypto/openssl.h"
#include "identity/identity.h"

namespace weft::tls {

// The shared OpenSSL owners and helpers (crypto/openssl.h).
using crypto::drainOpensslErrors;
using crypto::OpensslPtr;

enum class TlsVersion : uint8_t { kTls12, kTls13 };

// ECDHE key exchange with AEAD ciphers only (TLS 1.2; TLS 1.3 suites are all AEAD).
inline constexpr const char* kDefaultTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

struct TlsSettings {
  TlsVersion min_version = TlsVersion::kTls13;       // the maximum is always TLS 1.3
  std::string tls13_ciphersuites;                    // empty: OpenSSL's default TLS 1.3 suites
  std::string tls12_ciphers = kDefaultTls12Ciphers;  // used only with kTls12
  std::string groups = "X25519:P-256";               // key exchange groups, in preference order
  bool session_resumption = true;
  // Server: refuse a client without a certificate (mesh mTLS). False: ask for one and verify it
  // when one comes, but accept clients without (the control plane's API: an operator's CLI, a
  // sidecar's first CSR).
  bool require_client_certificate = true;
  uint32_t session_lifetime_s = 3600;       // ticket lifetime the server grants
  size_t client_session_cache_size = 1024;  // endpoints whose session a client context keeps
};

// DestinationRule tls SIMPLE / MUTUAL: TLS from the sidecar to a server outside the mesh.
struct OriginationSettings {
  std::string client_certificate_file;  // MUTUAL: PEM chain (leaf first) and key; else empty
  std::string private_key_file;
  std::string ca_certificates_file;  // empty: the system's default trust store
  bool verify = true;                // false: insecureSkipVerify (no server verification)
};

class TlsContext;
using TlsContextPtr = std::shared_ptr<TlsContext>;

class TlsContext {
 public:
  enum class Role : uint8_t { kServer, kClient };

  // nullptr on error, with the reason in *error.
  static TlsContextPtr makeServer(const identity::WorkloadIdentity& id, const TlsSettings& settings,
                                  std::string* error);
  static TlsContextPtr makeClient(const identity::WorkloadIdentity& id, const TlsSettings& settings,
                                  std::string* error);
  // A client context for SIMPLE / MUTUAL origination (TLS 1.2 allowed: servers outside the
  // mesh are often not on TLS 1.3). Host names are checked per connection (TlsStream).
  static TlsContextPtr makeOrigination(const OriginationSettings& origination,
                                       const TlsSettings& settings, std::string* error);

  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* get() const { return ctx_.get(); }
  Role role() const { return role_; }
  const TlsSettings& settings() const { return settings_; }

  // === Client session cache (thread-safe) ===
  // The session last stored for `key` (a new reference), or null.
  OpensslPtr<SSL_SESSION> findSession(std::string_view key) const;
  // Remembers `session` for `key`, taking the reference (replaces an older one).
  void storeSession(std::string_view key, OpensslPtr<SSL_SESSION> session) const;
  void forgetSession(std::string_view key) const;
  size_t cachedSessions() const;

  // Server: uses `other`'s ticket keys, so tickets it issued keep resuming here (renewal of the
  // same identity; do not copy across a change of roots). False on error.
  bool copyTicketKeysFrom(const TlsContext& other, std::string* error);

  // The SSL ex-data slot where a TlsStream keeps a pointer to its session key (std::string).
  static int sessionKeyIndex();

 private:
  TlsContext(Role role, const TlsSettings& settings);
  static TlsContextPtr make(Role role, const identity::WorkloadIdentity& id,
                            const TlsSettings& settings, std::string* error);
  // The context's client session cache callback, when resumption is on.
  void enableClientSessionCache();
  static int newSessionCb(SSL* ssl, SSL_SESSION* session);

  const Role role_;
  const TlsSettings settings_;
  OpensslPtr<SSL_CTX> ctx_;
  mutable std::mutex sessions_mu_;
  mutable std::unordered_map<std::string, OpensslPtr<SSL_SESSION>> sessions_;
};

// The SPIFFE ID of the verified peer: the one URI SAN of its leaf certificate that starts with
// "spiffe://". Empty when there is no peer certificate, it did not verify, or it has no or
// several SPIFFE URIs.
std::string peerSpiffeId(const SSL* ssl);
// The same rule for any certificate (no verification).
std::string spiffeIdOf(X509* cert);

// The SHA-256 of `cert`'s DER encoding in lower-case hex (Envoy's XFCC Hash); "" for null.
std::string certificateSha256Hex(X509* cert);

// "spiffe://<trust_domain>/ns/<ns>/sa/<sa>".
std::string spiffeIdentity(std::string_view ns, std::string_view sa, std::string_view trust_domain);

}  // namespace weft::tls
