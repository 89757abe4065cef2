// ApiCertificate (see api_certificate.h).
#include "serve/api_certificate.h"

#include <openssl/crypto.h>

#include <ctime>

namespace weft::control {

std::vector<std::string> apiCertificateNames(const std::string& listen_host) {
  std::vector<std::string> names = {"DNS:localhost", "IP:127.0.0.1"};
  if (!listen_host.empty() && listen_host != "0.0.0.0" && listen_host != "::" &&
      listen_host != "127.0.0.1") {
    names.push_back("IP:" + listen_host);
  }
  return names;
}

bool ApiCertificate::refresh(const CertificateAuthority& ca, std::string& error) {
  auto cert =
      ca.issueServerCertificate(apiCertificateNames(listen_host_), kServerCertTtlSeconds, error);
  if (!cert) return false;
  auto ctx = ApiTlsContext::make(cert->chain_pem, cert->key_pem, ca.rootCertificatesPem(), error);
  OPENSSL_cleanse(cert->key_pem.data(), cert->key_pem.size());
  if (!ctx) return false;
  context_ = std::move(ctx);
  expires_at_ = cert->expires_at;
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  refresh_at_ = now + (expires_at_ - now) / 2;
  return true;
}

}  // namespace weft::control
