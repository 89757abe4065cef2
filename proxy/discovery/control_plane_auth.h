// ControlPlaneAuth: the sidecar's credentials towards the control plane, shared by the config
// client and the certificate provider (docs/security.md, "Sidecars authenticate with their
// certificate").
//
// - http:// control plane: every call carries the bootstrap's bearer token.
// - https:// control plane: the server is verified against the bootstrap's ca_certificate plus
//   the trust bundle of the sidecar's current identity (so a rotated root keeps verifying), and
//   must present the control plane's SPIFFE ID in the node's trust domain. Once the sidecar
//   has its mesh certificate, calls present it as TLS client certificate and send no token; if
//   that fails at the TLS level or with 401 (a control plane that no longer trusts its root,
//   for instance), the call is made again the old way, with the token and no certificate.
//
// Thread-safe: the identity changes on the provider's thread while both clients call.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "discovery/http_call.h"
#include "discovery/tls_client.h"

namespace weft::discovery {

class ControlPlaneAuth {
 public:
  // `ca_pem` empty: plain HTTP. `trust_domain`: the node's (the server's SPIFFE ID must be in
  // it).
  ControlPlaneAuth(std::string token, std::string ca_pem, std::string trust_domain);

  bool https() const { return !ca_pem_.empty(); }
  // The sidecar's identity changed (any thread): its certificate and key become the client
  // certificate, and its roots join ca_certificate for verifying the server.
  void setIdentity(const std::string& chain_pem, const std::string& key_pem,
                   const std::string& roots_pem);

  // One call with the best credential: fills call.tls and the authorization header. The
  // header list of `call` must not hold an authorization header.
  HttpAnswer perform(HttpCall call, int wake_fd) const;
  // Which credential the last successful call used: "certificate" or "token" (for logs and
  // tests; "" before any).
  std::string lastCredential() const;

 private:
  struct Contexts {
    std::shared_ptr<const ClientTls> with_certificate;  // null until there is an identity
    std::shared_ptr<const ClientTls> token_only;
  };
  std::shared_ptr<const Contexts> contexts() const;

  const std::string token_;
  const std::string ca_pem_;
  const std::string trust_domain_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Contexts> contexts_;     // guarded by mutex_
  mutable std::atomic<int> last_credential_{0};  // 0 none, 1 certificate, 2 token
};

}  // namespace weft::discovery
