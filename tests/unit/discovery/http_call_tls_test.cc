// performHttp over TLS against a one-shot OpenSSL server on 127.0.0.1: the server verified
// against the given roots and named by the control plane's SPIFFE ID, a client certificate
// presented when the context has one, failures reported (and marked as TLS failures), and the
// stop pipe ending a handshake that never completes.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <string>
#include <thread>

#include "discovery/http_call.h"
#include "discovery/tls_client.h"
#include "tls/context.h"

namespace weft::discovery {
namespace {

const char* kControlPlane = "URI:spiffe://cluster.local/ns/istio-system/sa/weft-control";

struct Pki {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  ~Pki() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
  std::string certPem() const {
    return pem([&](BIO* b) { PEM_write_bio_X509(b, cert); });
  }
  std::string keyPem() const {
    return pem([&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, 0, 0); });
  }
  template <typename F>
  static std::string pem(F write) {
    BIO* b = BIO_new(BIO_s_mem());
    write(b);
    char* d = nullptr;
    long n = BIO_get_mem_data(b, &d);
    std::string out(d, static_cast<size_t>(n));
    BIO_free(b);
    return out;
  }
};

// A certificate for a new key, signed by `issuer` (self-signed when null), with `san`.
void makeCert(Pki& out, const Pki* issuer, const char* cn, const char* san, bool ca) {
  out.key = EVP_EC_gen("P-256");
  out.cert = X509_new();
  X509* x = out.cert;
  X509_set_version(x, X509_VERSION_3);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509* signer = issuer ? issuer->cert : x;
  X509_set_issuer_name(x, X509_get_subject_name(signer));
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, out.key);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, signer, x, nullptr, nullptr, 0);
  auto add = [&](int nid, const char* value) {
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
  };
  add(NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  if (ca) add(NID_key_usage, "critical,keyCertSign");
  if (san) add(NID_subject_alt_name, san);
  X509_sign(x, issuer ? issuer->key : out.key, EVP_sha256());
}

// Accepts one TLS connection with `cert`/`key`, asks for a client certificate (verified
// against `client_root` when set), reads a request head and answers it. `hold`: accept and
// never answer anything (not even the handshake).
class TlsOneShot {
 public:
  TlsOneShot(const Pki& server, const Pki* client_root, bool hold = false) {
    // This test server writes with OpenSSL to clients that may have hung up.
    signal(SIGPIPE, SIG_IGN);
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(ctx_, server.cert);
    SSL_CTX_use_PrivateKey(ctx_, server.key);
    if (client_root) {
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), client_root->cert);
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 4);
    thread_ = std::thread([this, hold] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      if (hold) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        ::close(c);
        return;
      }
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, c);
      if (SSL_accept(ssl) == 1) {
        X509* peer = SSL_get0_peer_certificate(ssl);
        if (peer) client_cn_ = "client certificate presented";
        char buf[4096];
        std::string req;
        while (req.find("\r\n\r\n") == std::string::npos) {
          int n = SSL_read(ssl, buf, sizeof(buf));
          if (n <= 0) break;
          req.append(buf, static_cast<size_t>(n));
        }
        const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        SSL_write(ssl, answer.data(), static_cast<int>(answer.size()));
        SSL_shutdown(ssl);
      }
      SSL_free(ssl);
      ERR_clear_error();
      ::close(c);
    });
  }
  ~TlsOneShot() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  uint16_t port() const { return port_; }
  const std::string& clientCn() const { return client_cn_; }

 private:
  SSL_CTX* ctx_;
  int fd_;
  uint16_t port_ = 0;
  std::string client_cn_;
  std::thread thread_;
};

HttpCall call(uint16_t port, std::shared_ptr<const ClientTls> tls) {
  HttpCall c;
  c.host = "127.0.0.1";
  c.port = port;
  c.path = "/ready";
  c.timeout_ms = 3000;
  c.tls = std::move(tls);
  return c;
}

class HttpCallTls : public ::testing::Test {
 protected:
  HttpCallTls() {
    makeCert(root_, nullptr, "root", nullptr, true);
    makeCert(server_, &root_, "weft-control", kControlPlane, false);
    makeCert(workload_, &root_, "", "URI:spiffe://cluster.local/ns/default/sa/reviews", false);
  }
  std::shared_ptr<const ClientTls> tls(bool with_cert, const std::string& td = "cluster.local") {
    std::string error;
    auto t = ClientTls::make(root_.certPem(), with_cert ? workload_.certPem() : "",
                             with_cert ? workload_.keyPem() : "", td, error);
    EXPECT_TRUE(t) << error;
    return t;
  }
  Pki root_, server_, workload_;
};

TEST_F(HttpCallTls, VerifiesTheControlPlaneAndPresentsTheClientCertificate) {
  {
    TlsOneShot server(server_, &root_);
    HttpAnswer a = performHttp(call(server.port(), tls(false)), -1);
    EXPECT_EQ(a.status, 200) << a.error;
    EXPECT_EQ(a.body, "ok");
    EXPECT_TRUE(server.clientCn().empty());
  }
  {
    TlsOneShot server(server_, &root_);
    auto t = tls(true);
    EXPECT_TRUE(t->hasClientCertificate());
    HttpAnswer a = performHttp(call(server.port(), t), -1);
    EXPECT_EQ(a.status, 200) << a.error;
    EXPECT_FALSE(server.clientCn().empty());
  }
}

TEST_F(HttpCallTls, RefusesAServerOfOtherRootsOrAnotherIdentity) {
  {
    Pki other;
    makeCert(other, nullptr, "other root", nullptr, true);
    std::string error;
    auto t = ClientTls::make(other.certPem(), "", "", "cluster.local", error);
    TlsOneShot server(server_, nullptr);
    HttpAnswer a = performHttp(call(server.port(), t), -1);
    EXPECT_EQ(a.status, 0);
    EXPECT_TRUE(a.tls_failure);
    EXPECT_NE(a.error.find("TLS handshake"), std::string::npos) << a.error;
  }
  {
    // A workload certificate of the same CA is not the control plane.
    TlsOneShot server(workload_, nullptr);
    HttpAnswer a = performHttp(call(server.port(), tls(false)), -1);
    EXPECT_EQ(a.status, 0);
    EXPECT_NE(a.error.find("is not the control plane's"), std::string::npos) << a.error;
  }
  {
    // The control plane of another trust domain.
    TlsOneShot server(server_, nullptr);
    HttpAnswer a = performHttp(call(server.port(), tls(false, "other.td")), -1);
    EXPECT_EQ(a.status, 0);
    EXPECT_NE(a.error.find("spiffe://other.td/ns/istio-system/sa/weft-control"), std::string::npos)
        << a.error;
  }
}

TEST_F(HttpCallTls, AClientCertificateTheServerRefusesIsATlsFailure) {
  Pki stranger_root;
  makeCert(stranger_root, nullptr, "stranger", nullptr, true);
  TlsOneShot server(server_, &stranger_root);  // trusts no certificate of ours
  HttpAnswer a = performHttp(call(server.port(), tls(true)), -1);
  EXPECT_EQ(a.status, 0);
  EXPECT_TRUE(a.tls_failure) << a.error;
}

TEST_F(HttpCallTls, TheStopPipeEndsAHandshake) {
  TlsOneShot server(server_, nullptr, /*hold=*/true);
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    char b = 1;
    ASSERT_EQ(::write(p[1], &b, 1), 1);
  });
  auto t0 = std::chrono::steady_clock::now();
  HttpAnswer a = performHttp(call(server.port(), tls(false)), p[0]);
  stopper.join();
  EXPECT_TRUE(a.aborted);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1000));
  ::close(p[0]);
  ::close(p[1]);
}

}  // namespace
}  // namespace weft::discovery
