// ClientTls: how a blocking control-plane call (http_call.h) speaks TLS. An immutable client
// context: TLS 1.3, the roots the control plane's certificate must verify against, optionally
// the sidecar's own certificate and key (presented as client certificate), and the rule for the
// server's identity.
//
// The server is authorised by its SPIFFE ID, as mesh peers are: its certificate must carry
// spiffe://<trust domain>/ns/istio-system/sa/weft-control (the CA never issues that identity to
// a workload). Host names and addresses are not checked, so a control plane listening on a
// wildcard address can be reached through any of its addresses.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

namespace weft::discovery {

inline constexpr const char* kControlPlanePath = "/ns/istio-system/sa/weft-control";

class ClientTls {
 public:
  // `roots_pem`: one or more PEM roots. `chain_pem`/`key_pem`: the client certificate (leaf
  // first) and its key, or both empty. `trust_domain`: the server's SPIFFE ID must be in it;
  // empty: any trust domain (the operator's CLI, which does not know it). nullptr and the
  // reason in `error` on failure.
  static std::shared_ptr<const ClientTls> make(const std::string& roots_pem,
                                               const std::string& chain_pem,
                                               const std::string& key_pem,
                                               const std::string& trust_domain, std::string& error);
  ~ClientTls();
  ClientTls(const ClientTls&) = delete;
  ClientTls& operator=(const ClientTls&) = delete;

  SSL_CTX* get() const { return ctx_; }
  bool hasClientCertificate() const { return client_certificate_; }
  // "" if `spiffe_id` (the verified server's) is the control plane's, else why not.
  std::string checkServer(const std::string& spiffe_id) const;

 private:
  ClientTls() = default;
  SSL_CTX* ctx_ = nullptr;
  bool client_certificate_ = false;
  std::string trust_domain_;
};

}  // namespace weft::discovery
