// CertificateAuthority: the mesh's certificate authority (docs/security.md). It signs the
// certificate signing requests of workloads with short-lived leaf certificates whose only name is
// the workload's SPIFFE identity, spiffe://<trust domain>/ns/<namespace>/sa/<service account>,
// so that sidecars can authenticate each other with mTLS (Istio's istiod CA, in a smaller form).
//
// The signing key is either a root the control plane made itself (kept under
// <data-dir>/ca/, or in memory without a data dir) or an operator's intermediate in Istio's
// "plug-in CA certs" layout (--ca-dir). Who may get which identity is the API's decision
// (api/api.cc): the CA only checks that a request is well formed and signs it.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/openssl.h"

namespace weft::control {

// The shared OpenSSL owners (crypto/openssl.h).
using crypto::OpensslPtr;

// Leaf lifetimes the CA accepts: Istio's workload certificates live 24 h by default; a very short
// one would make every sidecar hammer the CA, a very long one defeats short-lived credentials.
constexpr uint64_t kMinCertTtlSeconds = 60;
constexpr uint64_t kMaxCertTtlSeconds = 30 * 86'400;
constexpr uint64_t kDefaultCertTtlSeconds = 86'400;

// A certificate lifetime in whole seconds: a duration as the rest of the configuration writes
// them ("24h", "90m", "1h30m") or a number of days ("30d"). Not range-checked.
std::optional<uint64_t> parseTtlSeconds(std::string_view text);

// A certificate signing request that parsed, whose signature verified, whose key is of an
// accepted type and that asks for exactly one SPIFFE identity of the CA's trust domain.
class CertificateRequest {
 public:
  const std::string& identity() const { return identity_; }  // spiffe://td/ns/N/sa/S
  const std::string& namespaceName() const { return namespace_; }
  const std::string& serviceAccount() const { return service_account_; }
  EVP_PKEY* publicKey() const;  // borrowed from the request

 private:
  friend class CertificateAuthority;
  OpensslPtr<X509_REQ> req_;
  std::string identity_;
  std::string namespace_;
  std::string service_account_;
};

// What POST /v1/certificates answers.
struct IssuedCertificate {
  std::string certificate_chain;  // PEM: the leaf, then the CA's chain
  std::string root_certificates;  // PEM: the trust bundle
  std::string identity;
  int64_t expires_at = 0;  // unix seconds (the leaf's notAfter)
  std::string serial;      // the leaf's serial number, upper-case hex
};

// The control plane's own TLS certificate for its API (api/tls_server.h).
struct ServerCertificate {
  std::string chain_pem;  // the leaf, then the CA's chain
  std::string key_pem;    // its private key (EC P-256, made in memory, never written)
  int64_t expires_at = 0;
};

// The API's server certificates live this long; the server renews them at half their life.
constexpr uint64_t kServerCertTtlSeconds = 7 * 86'400;

// The identity the control plane's API certificate carries (and that no workload may get):
// spiffe://<trust domain>/ns/istio-system/sa/weft-control.
std::string controlPlaneIdentity(std::string_view trust_domain);

// SHA-256 of a certificate's DER, lower-case hex.
std::string certificateFingerprint(X509* cert);

class CertificateAuthority {
 public:
  // A root kept in memory only: every start makes a new one, so certificates issued before a
  // restart stop verifying against the new trust bundle.
  static std::unique_ptr<CertificateAuthority> createInMemory(const std::string& trust_domain,
                                                              std::string& error);
  // The root under `dir` (root-key.pem, root-cert.pem), created on first use. The key file is
  // created with mode 0600 and never made readable to others. Fails if only one of the files
  // exists, if they do not match or if the root is not a valid, unexpired CA certificate.
  // `common_name`: the CN of a root made here (a rotated root says so).
  static std::unique_ptr<CertificateAuthority> openOrCreate(
      const std::string& dir, const std::string& trust_domain, std::string& error,
      const std::string& common_name = "weft root CA");
  // An operator's CA in Istio's plug-in layout: ca-cert.pem + ca-key.pem sign the leaves,
  // cert-chain.pem (ca-cert up to the root) goes out with every leaf, root-cert.pem is the
  // trust bundle. Checked: the key matches ca-cert, ca-cert is a CA, and ca-cert verifies up to
  // root-cert through cert-chain.
  static std::unique_ptr<CertificateAuthority> loadPlugin(const std::string& dir,
                                                          const std::string& trust_domain,
                                                          std::string& error);

  // A SPIFFE trust domain: lower-case letters, digits, '.', '-' and '_'.
  static bool validTrustDomain(std::string_view trust_domain);

  // Parses and checks a PEM CSR (see CertificateRequest). On failure `error` says why; the
  // request is a client error (400).
  std::optional<CertificateRequest> parseRequest(std::string_view pem, std::string& error) const;

  // Signs a checked request for `ttl_seconds` (already within the accepted range). The leaf's
  // notAfter never passes the signing certificate's. Fails only on an OpenSSL error.
  std::optional<IssuedCertificate> sign(const CertificateRequest& request, uint64_t ttl_seconds,
                                        std::string& error) const;

  // A server certificate for the control plane's API, with a fresh key: subject
  // CN=weft-control, SANs `names` (OpenSSL's syntax: "DNS:localhost", "IP:127.0.0.1") and the
  // URI of controlPlaneIdentity(); extendedKeyUsage serverAuth. Fails only on an OpenSSL error.
  std::optional<ServerCertificate> issueServerCertificate(const std::vector<std::string>& names,
                                                          uint64_t ttl_seconds,
                                                          std::string& error) const;

  const std::string& trustDomain() const { return trust_domain_; }
  // The trust bundle answered with every certificate: this CA's roots, then the extra roots
  // (another CA's during a root rotation).
  const std::string& rootCertificatesPem() const { return roots_pem_; }
  size_t rootCount() const { return root_count_; }
  // This CA's own roots (root-cert.pem), without the extra ones.
  const std::string& ownRootsPem() const { return own_roots_pem_; }
  // Roots trusted besides this CA's own (PEM; "" for none). False if `pem` holds no
  // certificate while not empty.
  bool setExtraRoots(const std::string& pem, std::string* error = nullptr);
  // The PEM chain that follows every leaf (from the signing certificate up).
  const std::string& chainPem() const { return chain_pem_; }
  // SHA-256 of the DER of the root the signing certificate chains to (the last certificate of
  // the chain), lower-case hex: how pushes name the signing root.
  std::string signingRootFingerprint() const;
  // notAfter of the trust bundle's first root, unix seconds.
  int64_t rootExpiry() const { return root_expiry_; }
  // Where the CA comes from: "memory", the root's directory, or "plug-in <dir>".
  const std::string& source() const { return source_; }

 private:
  CertificateAuthority() = default;
  // Fills the PEM texts and the expiry from the keys and certificates set.
  bool finish(std::string& error);
  // finish() for a self-made root: it is the chain and the trust bundle.
  bool finishAsRoot(std::string& error);

  std::string trust_domain_;
  std::string source_;
  OpensslPtr<EVP_PKEY> key_;             // signs the leaves
  OpensslPtr<X509> cert_;                // its certificate (the issuer of the leaves)
  std::vector<OpensslPtr<X509>> chain_;  // sent after the leaf: cert_ first, up to the root
  std::vector<OpensslPtr<X509>> roots_;  // the trust bundle
  std::string chain_pem_;
  std::string roots_pem_;
  std::string own_roots_pem_;
  size_t root_count_ = 0;
  int64_t root_expiry_ = 0;
};

}  // namespace weft::control
