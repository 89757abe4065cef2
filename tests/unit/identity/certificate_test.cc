// Certificate helpers: CSR contents, the checks that make a WorkloadIdentity, /certs.
#include "identity/certificate.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "identity_test_pki.h"

namespace weft::identity {
namespace {

using testing::certPem;
using testing::ecKey;
using testing::keyPem;
using testing::makeLeaf;
using testing::TestCa;

const std::string kReviews = "spiffe://cluster.local/ns/default/sa/reviews";

TEST(CsrTest, CarriesOneUriSanAndAP256Key) {
  auto key = generateKey();
  ASSERT_TRUE(key);
  EXPECT_TRUE(EVP_PKEY_is_a(key.get(), "EC"));
  char group[64] = {};
  size_t len = 0;
  ASSERT_EQ(EVP_PKEY_get_utf8_string_param(key.get(), "group", group, sizeof(group), &len), 1);
  EXPECT_STREQ(group, "prime256v1");

  std::string pem = makeCsr(key.get(), kReviews);
  ASSERT_NE(pem.find("-----BEGIN CERTIFICATE REQUEST-----"), std::string::npos);
  OpensslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  OpensslPtr<X509_REQ> req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_TRUE(req);
  EXPECT_EQ(X509_REQ_verify(req.get(), X509_REQ_get0_pubkey(req.get())), 1);
  EXPECT_EQ(EVP_PKEY_eq(X509_REQ_get0_pubkey(req.get()), key.get()), 1);
  EXPECT_EQ(X509_NAME_entry_count(X509_REQ_get_subject_name(req.get())), 0);  // empty subject

  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req.get());
  ASSERT_NE(exts, nullptr);
  ASSERT_EQ(sk_X509_EXTENSION_num(exts), 1);
  X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts, 0);
  EXPECT_EQ(OBJ_obj2nid(X509_EXTENSION_get_object(ext)), NID_subject_alt_name);
  auto* names = static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext));
  ASSERT_NE(names, nullptr);
  ASSERT_EQ(sk_GENERAL_NAME_num(names), 1);
  const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, 0);
  ASSERT_EQ(gn->type, GEN_URI);
  const ASN1_STRING* uri = gn->d.uniformResourceIdentifier;
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                        static_cast<size_t>(ASN1_STRING_length(uri))),
            kReviews);
  GENERAL_NAMES_free(names);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}

TEST(CsrTest, EveryKeyIsNew) {
  auto a = generateKey();
  auto b = generateKey();
  EXPECT_NE(EVP_PKEY_eq(a.get(), b.get()), 1);
  ERR_clear_error();
}

TEST(CsrTest, TheControlPlaneCaAcceptsIt) {
  std::string error;
  auto ca = control::CertificateAuthority::createInMemory("cluster.local", error);
  ASSERT_TRUE(ca) << error;
  auto key = generateKey();
  auto req = ca->parseRequest(makeCsr(key.get(), kReviews), error);
  ASSERT_TRUE(req) << error;
  EXPECT_EQ(req->identity(), kReviews);
  EXPECT_EQ(req->serviceAccount(), "reviews");
}

TEST(BuildIdentityTest, ChecksKeyChainAndSan) {
  TestCa ca;
  auto key = ecKey();
  auto leaf = makeLeaf(key.get(), ca.cert.get(), ca.key.get(), "URI:" + kReviews, 7);
  std::string error;
  auto id = buildIdentity(certPem(leaf.get()), keyPem(key.get()), ca.pem(), error);
  ASSERT_TRUE(id) << error;
  EXPECT_EQ(id->spiffe_id, kReviews);
  EXPECT_EQ(id->trust_domain, "cluster.local");
  EXPECT_GT(id->not_after, id->not_before);
  EXPECT_NEAR(static_cast<double>(id->not_after - std::time(nullptr)), 86'400.0, 5.0);

  auto other = ecKey();
  EXPECT_FALSE(buildIdentity(certPem(leaf.get()), keyPem(other.get()), ca.pem(), error));
  EXPECT_NE(error.find("not the key of the certificate"), std::string::npos) << error;

  TestCa foreign;
  EXPECT_FALSE(buildIdentity(certPem(leaf.get()), keyPem(key.get()), foreign.pem(), error));
  EXPECT_NE(error.find("does not verify"), std::string::npos) << error;

  auto two = makeLeaf(key.get(), ca.cert.get(), ca.key.get(),
                      "URI:" + kReviews + ",URI:spiffe://cluster.local/ns/a/sa/b", 8);
  EXPECT_FALSE(buildIdentity(certPem(two.get()), keyPem(key.get()), ca.pem(), error));
  EXPECT_NE(error.find("exactly one URI"), std::string::npos) << error;

  auto https = makeLeaf(key.get(), ca.cert.get(), ca.key.get(), "URI:https://example.com/x", 9);
  EXPECT_FALSE(buildIdentity(certPem(https.get()), keyPem(key.get()), ca.pem(), error));
  EXPECT_NE(error.find("not a spiffe://"), std::string::npos) << error;

  EXPECT_FALSE(buildIdentity("", keyPem(key.get()), ca.pem(), error));
  EXPECT_FALSE(buildIdentity(certPem(leaf.get()), "junk", ca.pem(), error));
  // After the leaf's notAfter.
  EXPECT_FALSE(buildIdentity(certPem(leaf.get()), keyPem(key.get()), ca.pem(), error,
                             std::time(nullptr) + 3 * 86'400));
  EXPECT_NE(error.find("expired"), std::string::npos) << error;
}

TEST(BuildIdentityTest, TrustDomainOf) {
  EXPECT_EQ(trustDomainOf("spiffe://example.org/ns/a/sa/b"), "example.org");
  EXPECT_FALSE(trustDomainOf("spiffe://example.org"));
  EXPECT_FALSE(trustDomainOf("spiffe:///ns/a"));
  EXPECT_FALSE(trustDomainOf("http://example.org/ns/a"));
}

TEST(CertsJsonTest, DescribesTheIdentityButNeverTheKey) {
  TestCa ca;
  auto key = ecKey();
  auto leaf = makeLeaf(key.get(), ca.cert.get(), ca.key.get(), "URI:" + kReviews, 0x1234, 10);
  std::string error;
  auto id = buildIdentity(certPem(leaf.get()), keyPem(key.get()), ca.pem(), error);
  ASSERT_TRUE(id) << error;
  std::string text = certsJson(&*id, "files", std::time(nullptr) + 1);
  EXPECT_EQ(text.find("PRIVATE KEY"), std::string::npos);
  auto json = nlohmann::json::parse(text);
  ASSERT_EQ(json["certificates"].size(), 1u);
  const auto& c = json["certificates"][0];
  EXPECT_EQ(c["identity"], kReviews);
  EXPECT_EQ(c["source"], "files");
  EXPECT_EQ(c["serial_number"], "1234");
  EXPECT_EQ(c["days_until_expiration"], 9);  // 10 days minus a few seconds
  EXPECT_EQ(c["ca_cert"][0]["subject"], "CN=test root");
  EXPECT_EQ(c["cert_chain"][0]["subject_alt_names"][0]["uri"], kReviews);

  auto empty = nlohmann::json::parse(certsJson(nullptr, "", 0));
  EXPECT_TRUE(empty["certificates"].empty());
}

}  // namespace
}  // namespace weft::identity
