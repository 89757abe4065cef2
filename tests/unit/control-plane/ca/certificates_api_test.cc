// POST /v1/certificates: which token gets which identity (401/403), malformed requests (400),
// the TTL, the answer's fields and the CA metrics.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/api.h"
#include "control-plane/ca/test_pki.h"
#include "net/uv_test_loop.h"

namespace weft::control {
namespace {

using nlohmann::json;
using namespace testing;  // NOLINT: the PKI helpers
using weft::testing::TestLoop;

class CertificatesApi : public ::testing::Test {
 protected:
  CertificatesApi() {
    mesh::ConfigErrors errors;
    tokens_ = *TokenSet::parse(
        "- {token: ops}\n"
        "- {token: rev, namespace: default, service_account: reviews}\n"
        "- {token: ns, namespace: shop}\n",
        "t", errors);
    std::string error;
    ca_ = CertificateAuthority::createInMemory("cluster.local", error);
    push_ = std::make_unique<PushEngine>(loop_.get(), store_, registry_, metrics_);
    api_ = std::make_unique<Api>(loop_.get(), store_, registry_, *push_, metrics_, &tokens_);
    api_->setCertificateAuthority(ca_.get(), 6 * 3600);
    api_->setReady(true);
    key_ = ecKey();
  }
  ~CertificatesApi() override {
    api_.reset();
    push_.reset();
    EXPECT_EQ(loop_.shutdown(), 0);
  }

  HttpRequestPtr post(const std::string& token, const std::string& body) {
    auto r = std::make_shared<HttpRequest>();
    r->method = "POST";
    r->path = "/v1/certificates";
    if (!token.empty()) r->headers.add("authorization", "Bearer " + token);
    r->body = body;
    api_->handle(r);
    return r;
  }
  std::string csrFor(const std::string& ns, const std::string& sa) {
    return makeCsr(key_.get(), "URI:spiffe://cluster.local/ns/" + ns + "/sa/" + sa);
  }
  HttpRequestPtr ask(const std::string& token, const std::string& ns, const std::string& sa,
                     json extra = json::object()) {
    extra["csr"] = csrFor(ns, sa);
    return post(token, extra.dump());
  }
  std::string metricsText() { return metrics_.serialize(); }

  TestLoop loop_;
  TokenSet tokens_;
  Store store_;
  Registry registry_{store_};
  ControlMetrics metrics_;
  std::unique_ptr<CertificateAuthority> ca_;
  std::unique_ptr<PushEngine> push_;
  std::unique_ptr<Api> api_;
  OpensslPtr<EVP_PKEY> key_;
};

TEST_F(CertificatesApi, BoundTokenGetsItsOwnIdentity) {
  auto r = ask("rev", "default", "reviews");
  ASSERT_EQ(r->status(), 200) << r->responseBody();
  json j = json::parse(r->responseBody());
  EXPECT_EQ(j["identity"], "spiffe://cluster.local/ns/default/sa/reviews");
  EXPECT_EQ(j["root_certificates"], ca_->rootCertificatesPem());
  EXPECT_EQ(verifyChain(j["certificate_chain"], j["root_certificates"], X509_PURPOSE_SSL_CLIENT),
            X509_V_OK);
  // Default TTL: the one the API was given (6 h).
  EXPECT_NEAR(static_cast<double>(j["expires_at"].get<int64_t>() - std::time(nullptr)), 6 * 3600,
              2);
  EXPECT_NE(metricsText().find("weft_control_certificates_issued_total 1"), std::string::npos);
}

TEST_F(CertificatesApi, AnotherIdentityIs403NamingBoth) {
  auto r = ask("rev", "default", "ratings");
  ASSERT_EQ(r->status(), 403);
  json j = json::parse(r->responseBody());
  EXPECT_EQ(j["identity"], "spiffe://cluster.local/ns/default/sa/ratings");
  EXPECT_EQ(j["allowed"], "spiffe://cluster.local/ns/default/sa/reviews");
  EXPECT_NE(j["error"].get<std::string>().find("sa/ratings"), std::string::npos);
  EXPECT_EQ(ask("rev", "prod", "reviews")->status(), 403);
  EXPECT_NE(
      metricsText().find("weft_control_certificate_requests_rejected_total{reason=\"identity\"} 2"),
      std::string::npos)
      << metricsText();
}

TEST_F(CertificatesApi, NamespaceTokenGetsAnyAccountOfItsNamespace) {
  EXPECT_EQ(ask("ns", "shop", "cart")->status(), 200);
  EXPECT_EQ(ask("ns", "shop", "payments")->status(), 200);
  auto r = ask("ns", "default", "cart");
  EXPECT_EQ(r->status(), 403);
  EXPECT_EQ(json::parse(r->responseBody())["allowed"], "spiffe://cluster.local/ns/shop/sa/*");
}

TEST_F(CertificatesApi, OperatorTokenGetsAnyIdentityOfTheTrustDomain) {
  EXPECT_EQ(ask("ops", "default", "ratings")->status(), 200);
  EXPECT_EQ(ask("ops", "istio-system", "istio-ingressgateway")->status(), 200);
  json body = {{"csr", makeCsr(key_.get(), "URI:spiffe://other.org/ns/default/sa/reviews")}};
  auto r = post("ops", body.dump());
  EXPECT_EQ(r->status(), 400);
  EXPECT_NE(r->responseBody().find("trust domain"), std::string::npos);
}

TEST_F(CertificatesApi, MissingOrUnknownTokenIs401) {
  EXPECT_EQ(ask("", "default", "reviews")->status(), 401);
  EXPECT_EQ(ask("nope", "default", "reviews")->status(), 401);
}

TEST_F(CertificatesApi, MalformedRequestsAre400) {
  EXPECT_EQ(post("rev", "{")->status(), 400);
  EXPECT_EQ(post("rev", "[]")->status(), 400);
  EXPECT_EQ(post("rev", "{}")->status(), 400);
  EXPECT_EQ(post("rev", R"({"csr": 3})")->status(), 400);
  EXPECT_EQ(post("rev", R"({"csr": "garbage"})")->status(), 400);
  EXPECT_EQ(ask("rev", "default", "reviews", {{"ttl", "soon"}})->status(), 400);
  EXPECT_EQ(ask("rev", "default", "reviews", {{"ttl", -5}})->status(), 400);
  EXPECT_EQ(ask("rev", "default", "reviews", {{"extra", 1}})->status(), 400);
  auto r = post("rev", json{{"csr", makeCsr(key_.get(),
                                            "URI:spiffe://cluster.local/ns/default/"
                                            "sa/reviews,URI:spiffe://cluster.local/"
                                            "ns/default/sa/x")}}
                           .dump());
  EXPECT_EQ(r->status(), 400);
  EXPECT_NE(r->responseBody().find("exactly one URI SAN"), std::string::npos);
  EXPECT_NE(metricsText().find(
                "weft_control_certificate_requests_rejected_total{reason=\"bad_request\"} 9"),
            std::string::npos)
      << metricsText();
}

TEST_F(CertificatesApi, TtlIsHonouredAndClamped) {
  auto expiresIn = [&](json ttl) {
    auto r = ask("rev", "default", "reviews", {{"ttl", ttl}});
    EXPECT_EQ(r->status(), 200) << r->responseBody();
    return static_cast<double>(json::parse(r->responseBody())["expires_at"].get<int64_t>() -
                               std::time(nullptr));
  };
  EXPECT_NEAR(expiresIn("1h"), 3600, 2);
  EXPECT_NEAR(expiresIn(900), 900, 2);
  EXPECT_NEAR(expiresIn("10s"), 60, 2) << "at least 1 minute";
  EXPECT_NEAR(expiresIn("2000h"), 30 * 86'400, 2) << "at most 30 days";
}

TEST_F(CertificatesApi, OnlyPost) {
  auto r = std::make_shared<HttpRequest>();
  r->method = "GET";
  r->path = "/v1/certificates";
  r->headers.add("authorization", "Bearer rev");
  api_->handle(r);
  EXPECT_EQ(r->status(), 405);
}

TEST_F(CertificatesApi, RootExpiryGauge) {
  metrics_.ca_root_expiry.Set(static_cast<double>(ca_->rootExpiry()));
  EXPECT_NE(metricsText().find("weft_control_ca_root_expiry_timestamp_seconds "),
            std::string::npos);
  EXPECT_GT(ca_->rootExpiry(), std::time(nullptr) + 3649L * 86'400);
}

}  // namespace
}  // namespace weft::control
