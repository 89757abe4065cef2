// The API's TLS server context and transport (see tls_server.h).
#include "api/tls_server.h"

#include "identity/certificate.h"
#include "tls/tls_stream.h"

namespace weft::control {

namespace {

// What a plain-HTTP client gets instead of a reset: the port speaks TLS.
std::string plainAnswer() {
  const std::string body = "this port speaks TLS: use https:// (the weft-control API)\n";
  return "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n"
         "connection: close\r\ncontent-length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// tls::TlsStream, plus the first-byte check and the caller's certificate details.
class TlsServerTransport final : public ServerTransport {
 public:
  explicit TlsServerTransport(std::shared_ptr<const ApiTlsContext> context)
      : keep_(std::move(context)), stream_(keep_->context()) {}

  void start(std::string& wire) override { stream_.start(wire); }

  Status receive(const char* data, size_t len, std::string& plain, std::string& wire) override {
    if (!sniffed_ && len > 0) {
      sniffed_ = true;
      constexpr char kTlsHandshakeRecord = 0x16;
      if (data[0] != kTlsHandshakeRecord) {
        wire += plainAnswer();
        not_tls_ = "not TLS (plain HTTP to the TLS port?)";
      }
    }
    if (!not_tls_.empty()) return Status::kFailed;
    return stream_.receive(data, len, plain, wire);
  }
  bool established() const override { return not_tls_.empty() && stream_.established(); }
  bool send(const char* data, size_t len, std::string& wire) override {
    return not_tls_.empty() && stream_.send(data, len, wire);
  }
  void shutdown(std::string& wire) override { stream_.shutdown(wire); }
  const std::string& failure() const override {
    return not_tls_.empty() ? stream_.failure() : not_tls_;
  }
  std::string peerIdentity() const override { return stream_.peerIdentity(); }
  std::string peerSerial() const override {
    if (stream_.peerIdentity().empty()) return {};
    X509* cert = SSL_get0_peer_certificate(stream_.ssl());  // borrowed
    return cert ? identity::serialHex(cert) : std::string();
  }

 private:
  std::shared_ptr<const ApiTlsContext> keep_;
  tls::TlsStream stream_;
  std::string not_tls_;  // set: the first byte was not TLS
  bool sniffed_ = false;
};

}  // namespace

std::shared_ptr<ApiTlsContext> ApiTlsContext::make(const std::string& chain_pem,
                                                   const std::string& key_pem,
                                                   const std::string& roots_pem,
                                                   std::string& error) {
  identity::WorkloadIdentity id;
  id.cert_chain_pem = chain_pem;
  id.private_key_pem = key_pem;
  id.roots_pem = roots_pem;
  tls::TlsSettings settings;  // TLS 1.3 only
  settings.require_client_certificate = false;
  // Clients make one request per connection: no resumption, no tickets to keep.
  settings.session_resumption = false;
  std::shared_ptr<ApiTlsContext> c(new ApiTlsContext());
  c->context_ = tls::TlsContext::makeServer(id, settings, &error);
  if (!c->context_) return nullptr;
  return c;
}

std::unique_ptr<ServerTransport> makeTlsTransport(std::shared_ptr<const ApiTlsContext> context) {
  return std::make_unique<TlsServerTransport>(std::move(context));
}

}  // namespace weft::control
