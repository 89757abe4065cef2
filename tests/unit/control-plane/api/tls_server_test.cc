// The API's TLS: a server-side transport driven against an OpenSSL client in memory (no
// client certificate, a workload certificate, one from another CA), plain HTTP answered with a
// 400, and the caller a client certificate's SPIFFE ID stands for.
#include "api/tls_server.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "api/api.h"
#include "ca/ca.h"
#include "identity/certificate.h"

namespace weft::control {
namespace {

std::unique_ptr<CertificateAuthority> memoryCa() {
  std::string error;
  auto ca = CertificateAuthority::createInMemory("cluster.local", error);
  EXPECT_TRUE(ca) << error;
  return ca;
}

std::shared_ptr<const ApiTlsContext> serverContext(const CertificateAuthority& ca) {
  std::string error;
  auto cert = ca.issueServerCertificate({"DNS:localhost", "IP:127.0.0.1"}, 3600, error);
  EXPECT_TRUE(cert) << error;
  auto ctx = ApiTlsContext::make(cert->chain_pem, cert->key_pem, ca.rootCertificatesPem(), error);
  EXPECT_TRUE(ctx) << error;
  return ctx;
}

// A workload certificate (chain, key) from `ca`.
std::pair<std::string, std::string> workload(const CertificateAuthority& ca,
                                             const std::string& id) {
  auto key = identity::generateKey();
  std::string error;
  auto req = ca.parseRequest(identity::makeCsr(key.get(), id), error);
  EXPECT_TRUE(req) << error;
  auto issued = ca.sign(*req, 3600, error);
  EXPECT_TRUE(issued) << error;
  return {issued->certificate_chain, identity::privateKeyPem(key.get())};
}

// An OpenSSL client over memory BIOs, pumped against the transport.
class MemoryClient {
 public:
  MemoryClient(const std::string& roots, const std::string& chain = "",
               const std::string& key = "") {
    ctx_ = SSL_CTX_new(TLS_client_method());
    BIO* rb = BIO_new_mem_buf(roots.data(), static_cast<int>(roots.size()));
    X509* root = PEM_read_bio_X509(rb, nullptr, nullptr, nullptr);
    BIO_free(rb);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), root);
    X509_free(root);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (!chain.empty()) {
      BIO* cb = BIO_new_mem_buf(chain.data(), static_cast<int>(chain.size()));
      X509* leaf = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
      BIO_free(cb);
      BIO* kb = BIO_new_mem_buf(key.data(), static_cast<int>(key.size()));
      EVP_PKEY* k = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
      BIO_free(kb);
      SSL_CTX_use_certificate(ctx_, leaf);
      SSL_CTX_use_PrivateKey(ctx_, k);
      X509_free(leaf);
      EVP_PKEY_free(k);
    }
    ssl_ = SSL_new(ctx_);
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in_, -1);
    SSL_set_bio(ssl_, in_, out_);
    SSL_set_connect_state(ssl_);
  }
  ~MemoryClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }

  // Runs the handshake (and then sends `request`) against `t`; returns the transport's last
  // status. `plain` gets what the server side decrypted.
  net::Transport::Status run(ServerTransport& t, const std::string& request, std::string& plain) {
    net::Transport::Status status = net::Transport::Status::kOk;
    bool sent = false;
    for (int i = 0; i < 20; ++i) {
      SSL_do_handshake(ssl_);
      if (SSL_is_init_finished(ssl_) && !sent && !request.empty()) {
        SSL_write(ssl_, request.data(), static_cast<int>(request.size()));
        sent = true;
      }
      std::string bytes = drain();
      std::string wire;
      if (!bytes.empty()) status = t.receive(bytes.data(), bytes.size(), plain, wire);
      if (!wire.empty()) BIO_write(in_, wire.data(), static_cast<int>(wire.size()));
      if (status != net::Transport::Status::kOk) break;
      char buf[256];
      SSL_read(ssl_, buf, sizeof(buf));  // tickets, alerts
    }
    return status;
  }

 private:
  std::string drain() {
    std::string s;
    char buf[4096];
    int n;
    while ((n = BIO_read(out_, buf, sizeof(buf))) > 0) s.append(buf, static_cast<size_t>(n));
    return s;
  }
  SSL_CTX* ctx_;
  SSL* ssl_;
  BIO* in_;
  BIO* out_;
};

TEST(ApiTlsTest, WithoutAClientCertificate) {
  auto ca = memoryCa();
  auto t = makeTlsTransport(serverContext(*ca));
  MemoryClient client(ca->rootCertificatesPem());
  std::string plain;
  EXPECT_EQ(client.run(*t, "GET /ready HTTP/1.1\r\n\r\n", plain), net::Transport::Status::kOk);
  EXPECT_TRUE(t->established());
  EXPECT_EQ(t->peerIdentity(), "");
  EXPECT_EQ(plain, "GET /ready HTTP/1.1\r\n\r\n");
}

TEST(ApiTlsTest, AWorkloadCertificateNamesTheCaller) {
  auto ca = memoryCa();
  auto t = makeTlsTransport(serverContext(*ca));
  auto [chain, key] = workload(*ca, "spiffe://cluster.local/ns/default/sa/reviews");
  MemoryClient client(ca->rootCertificatesPem(), chain, key);
  std::string plain;
  EXPECT_EQ(client.run(*t, "x", plain), net::Transport::Status::kOk);
  EXPECT_EQ(t->peerIdentity(), "spiffe://cluster.local/ns/default/sa/reviews");
}

TEST(ApiTlsTest, ACertificateFromAnotherCaFailsTheHandshake) {
  auto ca = memoryCa();
  auto other = memoryCa();
  auto t = makeTlsTransport(serverContext(*ca));
  auto [chain, key] = workload(*other, "spiffe://cluster.local/ns/default/sa/reviews");
  MemoryClient client(ca->rootCertificatesPem(), chain, key);
  std::string plain;
  EXPECT_EQ(client.run(*t, "x", plain), net::Transport::Status::kFailed);
  EXPECT_NE(t->failure().find("client certificate"), std::string::npos) << t->failure();
  EXPECT_TRUE(plain.empty());
}

TEST(ApiTlsTest, PlainHttpGetsA400) {
  auto ca = memoryCa();
  auto t = makeTlsTransport(serverContext(*ca));
  std::string plain, wire;
  const std::string req = "GET /ready HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(t->receive(req.data(), req.size(), plain, wire), net::Transport::Status::kFailed);
  EXPECT_EQ(wire.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << wire;
  EXPECT_NE(wire.find("speaks TLS"), std::string::npos);
}

TEST(CallerOfTest, WorkloadIdentitiesOfTheTrustDomainOnly) {
  auto t = callerOf("spiffe://cluster.local/ns/default/sa/reviews", "cluster.local");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->namespace_name, "default");
  EXPECT_EQ(t->service_account, "reviews");
  EXPECT_FALSE(t->isOperator());
  EXPECT_TRUE(t->allows("default", "reviews"));
  EXPECT_FALSE(t->allows("default", "ratings"));
  for (const char* bad :
       {"spiffe://other/ns/default/sa/reviews", "spiffe://cluster.local/ns//sa/reviews",
        "spiffe://cluster.local/ns/default/sa/", "spiffe://cluster.local/ns/a/b/sa/c",
        "spiffe://cluster.local/ns/istio-system/sa/weft-control", "spiffe://cluster.local/x"}) {
    EXPECT_FALSE(callerOf(bad, "cluster.local")) << bad;
  }
  EXPECT_FALSE(callerOf("spiffe://cluster.local/ns/a/sa/b", ""));
}

}  // namespace
}  // namespace weft::control
