// The API's TLS (docs/security.md, "The API over TLS"): a server context made from the control
// plane's own certificate, and the per-connection transport HttpServer runs on each accepted
// connection. Both are the sidecar's TLS layer (tls::TlsContext, tls::TlsStream), with one
// difference from mesh mTLS: the client certificate is optional. The API serves callers without
// one (an operator's CLI, a sidecar's first CSR, which carries only its bootstrap token) as well
// as sidecars presenting their mesh certificate, which is verified against the CA's trust
// bundle: a certificate from another CA fails the handshake.
//
// A connection whose first byte is not a TLS handshake record gets a plain-text HTTP 400 saying
// the port speaks TLS, and is closed: a plain-HTTP client sees why instead of a reset.
#pragma once

#include <memory>
#include <string>

#include "api/http_server.h"
#include "tls/context.h"

namespace weft::control {

class ApiTlsContext {
 public:
  // TLS 1.3 only. `chain_pem`: the server certificate then its CA chain; `key_pem` its key;
  // `roots_pem`: the trust bundle client certificates are verified against. nullptr and the
  // reason in `error` on failure.
  static std::shared_ptr<ApiTlsContext> make(const std::string& chain_pem,
                                             const std::string& key_pem,
                                             const std::string& roots_pem, std::string& error);

  const tls::TlsContextPtr& context() const { return context_; }

 private:
  ApiTlsContext() = default;
  tls::TlsContextPtr context_;
};

// A server-side TLS transport for one accepted connection; it keeps `context` alive.
std::unique_ptr<ServerTransport> makeTlsTransport(std::shared_ptr<const ApiTlsContext> context);

}  // namespace weft::control
