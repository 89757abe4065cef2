// TlsContext: building contexts from identities and settings, errors, SPIFFE helpers.
#include "tls/context.h"

#include <gtest/gtest.h>
#include <openssl/err.h>

#include "test_ca.h"

namespace weft::tls {
namespace {

using testing::TestCa;

TEST(SpiffeIdentity, Formats) {
  EXPECT_EQ(spiffeIdentity("default", "bookinfo-ratings", "cluster.local"),
            "spiffe://cluster.local/ns/default/sa/bookinfo-ratings");
}

TEST(TlsContext, BuildsServerAndClient) {
  TestCa ca;
  auto id = ca.identity("spiffe://cluster.local/ns/a/sa/b");
  std::string error;
  auto server = TlsContext::makeServer(id, {}, &error);
  ASSERT_TRUE(server) << error;
  EXPECT_EQ(server->role(), TlsContext::Role::kServer);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(server->get()), TLS1_3_VERSION);
  EXPECT_EQ(SSL_CTX_get_verify_mode(server->get()),
            SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
  auto client = TlsContext::makeClient(id, {}, &error);
  ASSERT_TRUE(client) << error;
  EXPECT_EQ(SSL_CTX_get_verify_mode(client->get()), SSL_VERIFY_PEER);
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(TlsContext, Tls12Option) {
  TestCa ca;
  TlsSettings s;
  s.min_version = TlsVersion::kTls12;
  std::string error;
  auto ctx = TlsContext::makeServer(ca.identity("spiffe://cluster.local/ns/a/sa/b"), s, &error);
  ASSERT_TRUE(ctx) << error;
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx->get()), TLS1_2_VERSION);
}

TEST(TlsContext, ErrorsAreStringsAndTheQueueIsDrained) {
  TestCa ca;
  auto id = ca.identity("spiffe://cluster.local/ns/a/sa/b");
  std::string error;

  TlsSettings bad_groups;
  bad_groups.groups = "X25519:no-such-group";
  EXPECT_FALSE(TlsContext::makeServer(id, bad_groups, &error));
  EXPECT_NE(error.find("groups"), std::string::npos) << error;
  EXPECT_EQ(ERR_peek_error(), 0u);

  TlsSettings bad_suites;
  bad_suites.tls13_ciphersuites = "TLS_NOPE";
  EXPECT_FALSE(TlsContext::makeClient(id, bad_suites, &error));
  EXPECT_NE(error.find("tls13_ciphersuites"), std::string::npos) << error;
  EXPECT_EQ(ERR_peek_error(), 0u);

  auto no_key = id;
  no_key.private_key_pem = "garbage";
  EXPECT_FALSE(TlsContext::makeServer(no_key, {}, &error));
  EXPECT_NE(error.find("private key"), std::string::npos) << error;
  EXPECT_EQ(ERR_peek_error(), 0u);

  auto other_key = id;
  other_key.private_key_pem = ca.identity("spiffe://cluster.local/ns/x/sa/y").private_key_pem;
  EXPECT_FALSE(TlsContext::makeServer(other_key, {}, &error));
  EXPECT_NE(error.find("certificate and key"), std::string::npos) << error;
  EXPECT_EQ(ERR_peek_error(), 0u);

  auto no_roots = id;
  no_roots.roots_pem.clear();
  EXPECT_FALSE(TlsContext::makeServer(no_roots, {}, &error));
  EXPECT_EQ(error, "roots: no PEM certificate");

  auto no_chain = id;
  no_chain.cert_chain_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  EXPECT_FALSE(TlsContext::makeServer(no_chain, {}, &error));
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(TlsContext, SessionCacheIsBounded) {
  TestCa ca;
  TlsSettings s;
  s.client_session_cache_size = 2;
  std::string error;
  auto ctx = TlsContext::makeClient(ca.identity("spiffe://cluster.local/ns/a/sa/b"), s, &error);
  ASSERT_TRUE(ctx) << error;
  for (const char* key : {"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"}) {
    ctx->storeSession(key, OpensslPtr<SSL_SESSION>(SSL_SESSION_new()));
  }
  EXPECT_EQ(ctx->cachedSessions(), 2u);
  EXPECT_TRUE(ctx->findSession("10.0.0.3:80"));
  ctx->forgetSession("10.0.0.3:80");
  EXPECT_FALSE(ctx->findSession("10.0.0.3:80"));
}

}  // namespace
}  // namespace weft::tls
