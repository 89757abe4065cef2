// The API's TLS server context and transport (see tls_server.h).
#include "api/tls_server.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <climits>
#include <vector>

#include "tls/context.h"

namespace weft::control {

namespace {

using tls::drainOpensslErrors;

constexpr unsigned char kSessionIdContext[] = "weft-control-api";
constexpr size_t kReadStep = 16 * 1024;

tls::OpensslPtr<BIO> memBio(const std::string& text) {
  return tls::OpensslPtr<BIO>(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::vector<tls::OpensslPtr<X509>> readCerts(const std::string& pem) {
  std::vector<tls::OpensslPtr<X509>> out;
  auto bio = memBio(pem);
  while (bio) {
    X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (!x) break;
    out.emplace_back(x);
  }
  ERR_clear_error();  // "no start line" at the end
  return out;
}

// What a plain-HTTP client gets instead of a reset: the port speaks TLS.
std::string plainAnswer() {
  const std::string body = "this port speaks TLS: use https:// (the weft-control API)\n";
  return "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n"
         "connection: close\r\ncontent-length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Upper-case hex of a certificate's serial number.
std::string serialOf(X509* cert) {
  if (!cert) return {};
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  if (!bn) return {};
  char* hex = BN_bn2hex(bn);
  std::string out = hex ? hex : "";
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

class TlsServerTransport final : public ServerTransport {
 public:
  explicit TlsServerTransport(std::shared_ptr<const ApiTlsContext> context)
      : context_(std::move(context)) {
    ERR_clear_error();
    ssl_ = SSL_new(context_->get());
    BIO* rbio = BIO_new(BIO_s_mem());
    BIO* wbio = BIO_new(BIO_s_mem());
    if (!ssl_ || !rbio || !wbio) {
      BIO_free(rbio);
      BIO_free(wbio);
      failure_ = drainOpensslErrors("TLS setup");
      failed_ = true;
      return;
    }
    BIO_set_mem_eof_return(rbio, -1);
    SSL_set_bio(ssl_, rbio, wbio);
    rbio_ = rbio;
    wbio_ = wbio;
    SSL_set_accept_state(ssl_);
  }
  ~TlsServerTransport() override {
    if (ssl_) SSL_free(ssl_);
  }

  void start(std::string&) override {}

  Status receive(const char* data, size_t len, std::string& plain, std::string& wire) override {
    if (failed_) return Status::kFailed;
    if (peer_closed_) return Status::kPeerClosed;
    if (!sniffed_ && len > 0) {
      sniffed_ = true;
      // 22: a TLS handshake record. Anything else is not TLS (usually plain HTTP).
      if (static_cast<unsigned char>(data[0]) != 22) {
        wire += plainAnswer();
        return fail("not TLS (plain HTTP to the TLS port?)");
      }
    }
    while (len > 0) {
      int step = static_cast<int>(std::min<size_t>(len, INT_MAX / 2));
      if (BIO_write(rbio_, data, step) != step) {
        return fail(drainOpensslErrors("TLS input buffer"), &wire);
      }
      data += step;
      len -= static_cast<size_t>(step);
    }
    if (!established_) {
      ERR_clear_error();
      int rc = SSL_do_handshake(ssl_);
      drain(wire);
      if (rc != 1) {
        int err = SSL_get_error(ssl_, rc);
        if (err == SSL_ERROR_WANT_READ) return Status::kOk;
        return fail(failureText("handshake"), &wire);
      }
      established_ = true;
      peer_identity_ = tls::peerSpiffeId(ssl_);
      if (!peer_identity_.empty()) peer_serial_ = serialOf(SSL_get0_peer_certificate(ssl_));
    }
    for (;;) {
      size_t old = plain.size();
      plain.resize(old + kReadStep);
      size_t n = 0;
      ERR_clear_error();
      int rc = SSL_read_ex(ssl_, plain.data() + old, kReadStep, &n);
      plain.resize(old + n);
      if (rc == 1) continue;
      int err = SSL_get_error(ssl_, rc);
      drain(wire);
      if (err == SSL_ERROR_WANT_READ) return Status::kOk;
      if (err == SSL_ERROR_ZERO_RETURN) {
        ERR_clear_error();
        peer_closed_ = true;
        return Status::kPeerClosed;
      }
      return fail(failureText("read"), &wire);
    }
  }

  bool established() const override { return established_ && !failed_; }

  bool send(const char* data, size_t len, std::string& wire) override {
    if (!established() || sent_shutdown_) return false;
    while (len > 0) {
      size_t written = 0;
      ERR_clear_error();
      if (SSL_write_ex(ssl_, data, std::min<size_t>(len, 64 * 1024), &written) != 1) {
        fail(failureText("write"), &wire);
        return false;
      }
      drain(wire);
      data += written;
      len -= written;
    }
    return true;
  }

  void shutdown(std::string& wire) override {
    if (!established() || sent_shutdown_) return;
    sent_shutdown_ = true;
    ERR_clear_error();
    SSL_shutdown(ssl_);
    drain(wire);
    ERR_clear_error();
  }

  const std::string& failure() const override { return failure_; }
  std::string peerIdentity() const override { return peer_identity_; }
  std::string peerSerial() const override { return peer_serial_; }

 private:
  Status fail(std::string reason, std::string* wire = nullptr) {
    if (wire) drain(*wire);  // the alert
    ERR_clear_error();
    failed_ = true;
    failure_ = std::move(reason);
    return Status::kFailed;
  }

  std::string failureText(const char* op) {
    std::string what = std::string("TLS ") + op + " failed";
    long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) {
      what += ": client certificate: ";
      what += X509_verify_cert_error_string(verify);
    }
    return drainOpensslErrors(what);
  }

  void drain(std::string& wire) {
    for (size_t pending = BIO_ctrl_pending(wbio_); pending > 0; pending = BIO_ctrl_pending(wbio_)) {
      size_t old = wire.size();
      int want = static_cast<int>(std::min<size_t>(pending, INT_MAX / 2));
      wire.resize(old + static_cast<size_t>(want));
      int n = BIO_read(wbio_, wire.data() + old, want);
      if (n <= 0) {
        wire.resize(old);
        return;
      }
      wire.resize(old + static_cast<size_t>(n));
    }
  }

  std::shared_ptr<const ApiTlsContext> context_;
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // owned by ssl_
  BIO* wbio_ = nullptr;  // owned by ssl_
  std::string failure_;
  std::string peer_identity_;
  std::string peer_serial_;
  bool sniffed_ = false;
  bool established_ = false;
  bool failed_ = false;
  bool peer_closed_ = false;
  bool sent_shutdown_ = false;
};

}  // namespace

ApiTlsContext::~ApiTlsContext() {
  if (ctx_) SSL_CTX_free(ctx_);
}

std::shared_ptr<ApiTlsContext> ApiTlsContext::make(const std::string& chain_pem,
                                                   const std::string& key_pem,
                                                   const std::string& roots_pem,
                                                   std::string& error) {
  ERR_clear_error();
  std::shared_ptr<ApiTlsContext> c(new ApiTlsContext());
  c->ctx_ = SSL_CTX_new(TLS_server_method());
  SSL_CTX* ctx = c->ctx_;
  if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
    error = drainOpensslErrors("TLS context");
    return nullptr;
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  auto chain = readCerts(chain_pem);
  auto key_bio = memBio(key_pem);
  tls::OpensslPtr<EVP_PKEY> key(
      key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (chain.empty() || !key) {
    error = drainOpensslErrors("server certificate or key");
    return nullptr;
  }
  tls::OpensslPtr<STACK_OF(X509)> extra(sk_X509_new_null());
  for (size_t i = 1; i < chain.size(); ++i) {
    if (!extra || sk_X509_push(extra.get(), chain[i].get()) <= 0) {
      error = drainOpensslErrors("certificate chain");
      return nullptr;
    }
    chain[i].release();
  }
  if (SSL_CTX_use_cert_and_key(ctx, chain[0].get(), key.get(), extra.get(), 1) != 1) {
    error = drainOpensslErrors("server certificate and key");
    return nullptr;
  }
  auto roots = readCerts(roots_pem);
  if (roots.empty()) {
    error = "trust bundle: no PEM certificate";
    return nullptr;
  }
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (auto& r : roots) {
    if (X509_STORE_add_cert(store, r.get()) != 1) {
      error = drainOpensslErrors("trust bundle");
      return nullptr;
    }
  }
  // Ask for a client certificate, verify it if one comes, accept none.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  // Clients make one request per connection: no resumption, no tickets to keep.
  SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof(kSessionIdContext) - 1);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(ctx, 0);
  ERR_clear_error();
  return c;
}

std::unique_ptr<ServerTransport> makeTlsTransport(std::shared_ptr<const ApiTlsContext> context) {
  return std::make_unique<TlsServerTransport>(std::move(context));
}

}  // namespace weft::control
