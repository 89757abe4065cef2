// Dynamic mode pieces: the request body, parsing a signed answer, renewal scheduling.
#include "identity/csr_provider.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "identity/certificate.h"
#include "identity_test_pki.h"

namespace weft::identity {
namespace {

const std::string kReviews = "spiffe://cluster.local/ns/default/sa/reviews";

// What POST /v1/certificates answers for a CSR of `key` (the control plane's own CA).
std::string signedAnswer(const control::CertificateAuthority& ca, EVP_PKEY* key,
                         const std::string& id, uint64_t ttl) {
  std::string error;
  auto req = ca.parseRequest(makeCsr(key, id), error);
  EXPECT_TRUE(req) << error;
  auto issued = ca.sign(*req, ttl, error);
  EXPECT_TRUE(issued) << error;
  nlohmann::json body = {{"certificate_chain", issued->certificate_chain},
                         {"root_certificates", issued->root_certificates},
                         {"identity", issued->identity},
                         {"expires_at", issued->expires_at}};
  return body.dump();
}

TEST(CertificateRequestJsonTest, TtlOnlyWhenAsked) {
  auto with = nlohmann::json::parse(certificateRequestJson("PEM", 3600));
  EXPECT_EQ(with["csr"], "PEM");
  EXPECT_EQ(with["ttl"], "3600s");
  auto without = nlohmann::json::parse(certificateRequestJson("PEM", 0));
  EXPECT_FALSE(without.contains("ttl"));
}

TEST(ParseCertificateResponseTest, ASignedAnswerBecomesTheIdentity) {
  std::string error;
  auto ca = control::CertificateAuthority::createInMemory("cluster.local", error);
  ASSERT_TRUE(ca) << error;
  auto key = generateKey();
  std::string key_pem = privateKeyPem(key.get());
  std::string body = signedAnswer(*ca, key.get(), kReviews, 60);

  auto id = parseCertificateResponse(body, key_pem, kReviews, error);
  ASSERT_TRUE(id) << error;
  EXPECT_EQ(id->spiffe_id, kReviews);
  EXPECT_EQ(id->trust_domain, "cluster.local");
  EXPECT_EQ(id->private_key_pem, key_pem);
  EXPECT_EQ(id->roots_pem, ca->rootCertificatesPem());
  EXPECT_EQ(id->not_after - id->not_before, 120);  // notBefore is back-dated by a minute

  // Another key than the CSR's, another identity than asked, and answers that are not one.
  auto other = generateKey();
  EXPECT_FALSE(parseCertificateResponse(body, privateKeyPem(other.get()), kReviews, error));
  EXPECT_NE(error.find("not the key"), std::string::npos) << error;
  EXPECT_FALSE(parseCertificateResponse(body, key_pem,
                                        "spiffe://cluster.local/ns/default/sa/ratings", error));
  EXPECT_NE(error.find("not spiffe://cluster.local/ns/default/sa/ratings"), std::string::npos)
      << error;
  EXPECT_FALSE(parseCertificateResponse("not json", key_pem, kReviews, error));
  EXPECT_FALSE(parseCertificateResponse(R"({"certificate_chain": "x"})", key_pem, kReviews, error));
  EXPECT_NE(error.find("lacks"), std::string::npos) << error;

  // A chain from one CA with the trust bundle of another.
  auto ca2 = control::CertificateAuthority::createInMemory("cluster.local", error);
  auto mixed = nlohmann::json::parse(body);
  mixed["root_certificates"] = ca2->rootCertificatesPem();
  EXPECT_FALSE(parseCertificateResponse(mixed.dump(), key_pem, kReviews, error));
  EXPECT_NE(error.find("does not verify"), std::string::npos) << error;
}

TEST(RenewalDelayTest, HalfTheLifetimeLeftWithTenPercentJitter) {
  const int64_t t = 1'800'000'000;
  EXPECT_EQ(renewalDelayMs(t, t + 60, t, 0.0), 30'000u);
  EXPECT_EQ(renewalDelayMs(t, t + 60, t, 0.1), 33'000u);
  EXPECT_EQ(renewalDelayMs(t, t + 60, t, -0.1), 27'000u);
  EXPECT_EQ(renewalDelayMs(t, t + 86'400, t, 0.0), 43'200'000u);
  // Jitter beyond ±10 % is clamped.
  EXPECT_EQ(renewalDelayMs(t, t + 60, t, 5.0), 33'000u);
  EXPECT_EQ(renewalDelayMs(t, t + 60, t, -5.0), 27'000u);
  // Counted from when the certificate arrived, not from now.
  EXPECT_EQ(renewalDelayMs(t, t + 60, t + 10, 0.0), 20'000u);
  // Past the renewal point, or expired: soon, never at once.
  EXPECT_EQ(renewalDelayMs(t, t + 60, t + 50, 0.0), 1'000u);
  EXPECT_EQ(renewalDelayMs(t, t + 60, t + 70, 0.0), 1'000u);

  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> jitter(-0.1, 0.1);
  for (int i = 0; i < 1000; ++i) {
    uint64_t d = renewalDelayMs(t, t + 3600, t, jitter(rng));
    EXPECT_GE(d, 1'620'000u);
    EXPECT_LE(d, 1'980'000u);
  }
}

TEST(CsrProviderTest, FailsWithoutAControlPlaneAndKeepsNoIdentity) {
  CsrProviderOptions options;
  options.host = "127.0.0.1";
  options.port = 1;  // nothing listens there
  options.token = "t";
  options.spiffe_id = kReviews;
  options.connect_timeout_ms = 500;
  CsrIdentityProvider provider(options);
  std::string error;
  EXPECT_FALSE(provider.renewOnce(error));
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(provider.current(), nullptr);
  provider.start();
  provider.stop();  // ends at once, whatever it was doing
}

// A one-shot POST /v1/certificates on 127.0.0.1: reads one request, answers it with the CA.
class FakeCa {
 public:
  FakeCa() {
    std::string error;
    ca_ = control::CertificateAuthority::createInMemory("cluster.local", error);
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::listen(fd_, 4);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serveOne(); });
  }
  ~FakeCa() {
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  const control::CertificateAuthority& ca() const { return *ca_; }
  std::string request;  // what the sidecar sent (after join)
  void join() { thread_.join(); }

 private:
  void serveOne() {
    int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    char buf[16384];
    size_t want = std::string::npos;
    while (request.size() < want) {
      ssize_t n = ::read(c, buf, sizeof(buf));
      if (n <= 0) break;
      request.append(buf, static_cast<size_t>(n));
      size_t head = request.find("\r\n\r\n");
      size_t cl = request.find("content-length: ");
      if (cl == std::string::npos) cl = request.find("Content-Length: ");
      if (head != std::string::npos && cl != std::string::npos) {
        want = head + 4 + std::stoul(request.substr(cl + 16));
      }
    }
    auto body = nlohmann::json::parse(request.substr(request.find("\r\n\r\n") + 4));
    std::string error;
    auto req = ca_->parseRequest(body["csr"].get<std::string>(), error);
    std::string answer;
    if (req) {
      auto issued = ca_->sign(*req, 3600, error);
      answer = nlohmann::json{{"certificate_chain", issued->certificate_chain},
                              {"root_certificates", issued->root_certificates},
                              {"identity", issued->identity},
                              {"expires_at", issued->expires_at}}
                   .dump();
    }
    std::string head =
        std::string(req ? "HTTP/1.1 200 OK" : "HTTP/1.1 400 Bad Request") +
        "\r\ncontent-type: application/json\r\ncontent-length: " + std::to_string(answer.size()) +
        "\r\nconnection: close\r\n\r\n";
    std::string out = head + answer;
    [[maybe_unused]] ssize_t n = ::write(c, out.data(), out.size());
    ::close(c);
  }

  std::unique_ptr<control::CertificateAuthority> ca_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

TEST(CsrProviderTest, GetsACertificateFromTheCa) {
  FakeCa ca;
  CsrProviderOptions options;
  options.host = "127.0.0.1";
  options.port = ca.port();
  options.token = "t-reviews";
  options.spiffe_id = kReviews;
  options.ttl_seconds = 3600;
  CsrIdentityProvider provider(options);
  IdentityPtr seen;
  int ok = 0;
  provider.onChange([&](const IdentityPtr& id) { seen = id; });
  provider.onResult([&](bool result, const std::string&) { ok += result ? 1 : 0; });
  std::string error;
  ASSERT_TRUE(provider.renewOnce(error)) << error;
  ca.join();
  EXPECT_NE(ca.request.find("POST /v1/certificates HTTP/1.1\r\n"), std::string::npos);
  EXPECT_NE(ca.request.find("authorization: Bearer t-reviews\r\n"), std::string::npos)
      << ca.request;
  EXPECT_NE(ca.request.find("\"ttl\":\"3600s\""), std::string::npos) << ca.request;
  EXPECT_EQ(ca.request.find("PRIVATE KEY"), std::string::npos);  // the key stays here
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen, provider.current());
  EXPECT_EQ(seen->spiffe_id, kReviews);
  EXPECT_EQ(seen->roots_pem, ca.ca().rootCertificatesPem());
  EXPECT_NE(seen->private_key_pem.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(seen->not_after - seen->not_before, 3660);
  EXPECT_EQ(ok, 1);
}

}  // namespace
}  // namespace weft::identity

namespace weft::identity {
namespace {

TEST(CsrProviderTest, APushedTrustBundleIsPublishedAndANewSigningRootAsksForRenewal) {
  FakeCa ca;
  CsrProviderOptions options;
  options.host = "127.0.0.1";
  options.port = ca.port();
  options.token = "t-reviews";
  options.spiffe_id = kReviews;
  CsrIdentityProvider provider(options);
  std::string error;
  ASSERT_TRUE(provider.renewOnce(error)) << error;
  ca.join();
  IdentityPtr first = provider.current();
  const std::string own_root = chainRootFingerprint(first->cert_chain_pem);
  EXPECT_EQ(own_root, ca.ca().signingRootFingerprint());
  EXPECT_EQ(own_root.size(), 64u);
  // Nothing new: no identity, no renewal.
  EXPECT_FALSE(provider.applyTrustBundle(first->roots_pem, own_root));
  EXPECT_EQ(provider.current(), first);
  // A second root joins the bundle (a rotation begins): same certificate, new roots.
  auto other = control::CertificateAuthority::createInMemory("cluster.local", error);
  ASSERT_TRUE(other) << error;
  const std::string both = first->roots_pem + other->rootCertificatesPem();
  EXPECT_FALSE(provider.applyTrustBundle(both, own_root));
  IdentityPtr second = provider.current();
  ASSERT_NE(second, first);
  EXPECT_EQ(second->roots_pem, both);
  EXPECT_EQ(second->cert_chain_pem, first->cert_chain_pem);
  EXPECT_EQ(second->private_key_pem, first->private_key_pem);
  EXPECT_GT(second->generation, first->generation);
  // The control plane signs with the new root: renew now.
  EXPECT_TRUE(provider.applyTrustBundle(both, other->signingRootFingerprint()));
  // The old root dropped while this certificate still chains to it: renew now, keep it.
  EXPECT_TRUE(provider.applyTrustBundle(other->rootCertificatesPem(), ""));
  EXPECT_EQ(provider.current(), second);
}

}  // namespace
}  // namespace weft::identity
