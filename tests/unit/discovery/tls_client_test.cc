// ClientTls: the control plane's identity rule (its SPIFFE ID, in the node's trust domain or in
// any for the CLI) and the errors of a context without roots or with a broken client key.
#include "discovery/tls_client.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <string>

namespace weft::discovery {
namespace {

// A throwaway self-signed certificate (the context only needs a parseable root).
std::string selfSignedPem() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("test root"), -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(x));
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 86'400);
  X509_set_pubkey(x, key);
  X509_sign(x, key, EVP_sha256());
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, x);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  X509_free(x);
  EVP_PKEY_free(key);
  return pem;
}

TEST(ClientTlsTest, NeedsRoots) {
  std::string error;
  EXPECT_FALSE(ClientTls::make("not pem", "", "", "cluster.local", error));
  EXPECT_NE(error.find("no PEM certificate"), std::string::npos) << error;
}

TEST(ClientTlsTest, ServerIdentityRule) {
  std::string error;
  const std::string root = selfSignedPem();
  auto any = ClientTls::make(root, "", "", "", error);
  auto td = ClientTls::make(root, "", "", "cluster.local", error);
  ASSERT_TRUE(any && td) << error;
  EXPECT_FALSE(any->hasClientCertificate());
  EXPECT_FALSE(ClientTls::make(root, root, "not a key", "", error));
  const std::string cp = "spiffe://cluster.local/ns/istio-system/sa/weft-control";
  EXPECT_EQ(td->checkServer(cp), "");
  EXPECT_EQ(any->checkServer(cp), "");
  EXPECT_EQ(any->checkServer("spiffe://other.td/ns/istio-system/sa/weft-control"), "");
  EXPECT_NE(td->checkServer("spiffe://other.td/ns/istio-system/sa/weft-control"), "");
  EXPECT_NE(td->checkServer("spiffe://cluster.local/ns/default/sa/reviews"), "");
  EXPECT_NE(any->checkServer("spiffe://a/b/ns/istio-system/sa/weft-control"), "");
  EXPECT_NE(any->checkServer("spiffe:///ns/istio-system/sa/weft-control"), "");
  EXPECT_NE(td->checkServer("").find("no SPIFFE ID"), std::string::npos);
}

}  // namespace
}  // namespace weft::discovery
