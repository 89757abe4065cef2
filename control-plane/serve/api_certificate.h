// The API's TLS certificate (docs/security.md, "The API over TLS"): made by the control plane's
// own CA at start, and again at half its lifetime and whenever the CA's signing root or trust
// bundle changes (root rotation). Each refresh makes a new server context; connections already
// open keep the one they started with.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "api/tls_server.h"
#include "ca/ca.h"

namespace weft::control {

// The SANs of the API certificate besides its SPIFFE ID: DNS:localhost, IP:127.0.0.1 and the
// listen address when it is a specific one (not 0.0.0.0 or ::).
std::vector<std::string> apiCertificateNames(const std::string& listen_host);

class ApiCertificate {
 public:
  explicit ApiCertificate(std::string listen_host) : listen_host_(std::move(listen_host)) {}

  // Issues a new certificate from `ca` and builds the context (client certificates verified
  // against the CA's trust bundle). False and the reason on failure (the old context stays).
  bool refresh(const CertificateAuthority& ca, std::string& error);
  std::shared_ptr<const ApiTlsContext> context() const { return context_; }
  int64_t expiresAt() const { return expires_at_; }
  // Unix seconds at which to refresh: half way through the certificate's life.
  int64_t refreshAt() const { return refresh_at_; }

 private:
  std::string listen_host_;
  std::shared_ptr<const ApiTlsContext> context_;
  int64_t expires_at_ = 0;
  int64_t refresh_at_ = 0;
};

}  // namespace weft::control
