// CertificateAuthority: root creation and reuse, the key file's mode, CSR checks, the leaves it
// signs (verified with X509_verify_cert against the root), plug-in CA validation.
#include "ca/ca.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <ctime>

#include "control-plane/ca/test_pki.h"

namespace weft::control {
namespace {

using namespace testing;  // NOLINT: the PKI helpers

const char* kReviews = "URI:spiffe://cluster.local/ns/default/sa/reviews";

std::unique_ptr<CertificateAuthority> memoryCa(const std::string& td = "cluster.local") {
  std::string error;
  auto ca = CertificateAuthority::createInMemory(td, error);
  EXPECT_TRUE(ca) << error;
  return ca;
}

// The error of parseRequest for a CSR (empty if it is accepted).
std::string rejection(const CertificateAuthority& ca, const std::string& csr) {
  std::string error;
  auto r = ca.parseRequest(csr, error);
  if (r) return {};
  EXPECT_FALSE(error.empty());
  return error.empty() ? "?" : error;
}

// === Root ===

TEST(CaRoot, CreatedOnFirstStartAndReusedAfter) {
  TempDir tmp;
  const auto dir = tmp.path / "data" / "ca";
  std::string error;
  auto first = CertificateAuthority::openOrCreate(dir.string(), "cluster.local", error);
  ASSERT_TRUE(first) << error;
  EXPECT_TRUE(fs::exists(dir / "root-key.pem"));
  EXPECT_TRUE(fs::exists(dir / "root-cert.pem"));
  EXPECT_FALSE(fs::exists(dir / "root-key.pem.tmp"));
  auto second = CertificateAuthority::openOrCreate(dir.string(), "cluster.local", error);
  ASSERT_TRUE(second) << error;
  EXPECT_EQ(first->rootCertificatesPem(), second->rootCertificatesPem());
  EXPECT_EQ(first->rootExpiry(), second->rootExpiry());

  // A leaf from the first instance verifies with the second's trust bundle and the reverse.
  auto key = ecKey();
  auto req = second->parseRequest(makeCsr(key.get(), kReviews), error);
  ASSERT_TRUE(req) << error;
  auto issued = second->sign(*req, 3600, error);
  ASSERT_TRUE(issued) << error;
  EXPECT_EQ(
      verifyChain(issued->certificate_chain, first->rootCertificatesPem(), X509_PURPOSE_SSL_CLIENT),
      X509_V_OK);
}

TEST(CaRoot, KeyFileIsCreatedWithMode0600) {
  TempDir tmp;
  const mode_t old = ::umask(0);  // even with a permissive umask
  std::string error;
  auto ca = CertificateAuthority::openOrCreate((tmp.path / "ca").string(), "cluster.local", error);
  ::umask(old);
  ASSERT_TRUE(ca) << error;
  struct stat st {};
  ASSERT_EQ(::stat((tmp.path / "ca" / "root-key.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((tmp.path / "ca").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u) << "the CA directory is private too";
}

TEST(CaRoot, RootCertificateIsASelfSignedCaOfTheTrustDomain) {
  auto ca = memoryCa("example.org");
  auto roots = parseCerts(ca->rootCertificatesPem());
  ASSERT_EQ(roots.size(), 1u);
  X509* root = roots[0].get();
  EXPECT_EQ(X509_check_ca(root), 1);
  EXPECT_EQ(X509_check_issued(root, root), X509_V_OK);
  const int bc = X509_get_ext_by_NID(root, NID_basic_constraints, -1);
  ASSERT_GE(bc, 0);
  EXPECT_EQ(X509_EXTENSION_get_critical(X509_get_ext(root, bc)), 1);
  EXPECT_EQ(X509_get_key_usage(root), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(root), buf, sizeof(buf));
  EXPECT_STREQ(buf, "/O=example.org/CN=weft root CA");
  const int64_t now = std::time(nullptr);
  EXPECT_NEAR(static_cast<double>(ca->rootExpiry() - now), 3650.0 * 86'400, 120);
  const ASN1_INTEGER* serial = X509_get0_serialNumber(root);
  EXPECT_GE(ASN1_STRING_length(serial), 16);
  EXPECT_EQ(ca->chainPem(), ca->rootCertificatesPem());
}

TEST(CaRoot, OneFileWithoutTheOtherIsAnError) {
  TempDir tmp;
  std::string error;
  ASSERT_TRUE(CertificateAuthority::openOrCreate(tmp.path.string(), "cluster.local", error));
  fs::remove(tmp.path / "root-cert.pem");
  EXPECT_FALSE(CertificateAuthority::openOrCreate(tmp.path.string(), "cluster.local", error));
  EXPECT_NE(error.find("root-cert.pem"), std::string::npos) << error;
  EXPECT_TRUE(fs::exists(tmp.path / "root-key.pem")) << "an existing key is never overwritten";
}

TEST(CaRoot, KeyOfAnotherRootIsRefused) {
  TempDir tmp;
  std::string error;
  ASSERT_TRUE(CertificateAuthority::openOrCreate(tmp.path.string(), "cluster.local", error));
  auto other = ecKey();
  writeFile(tmp.path / "root-key.pem", keyPem(other.get()));
  EXPECT_FALSE(CertificateAuthority::openOrCreate(tmp.path.string(), "cluster.local", error));
  EXPECT_NE(error.find("not the private key"), std::string::npos) << error;
}

TEST(CaRoot, TrustDomainSyntax) {
  EXPECT_TRUE(CertificateAuthority::validTrustDomain("cluster.local"));
  EXPECT_TRUE(CertificateAuthority::validTrustDomain("prod_1.example-corp.com"));
  EXPECT_FALSE(CertificateAuthority::validTrustDomain(""));
  EXPECT_FALSE(CertificateAuthority::validTrustDomain("Cluster.local"));
  EXPECT_FALSE(CertificateAuthority::validTrustDomain("a/b"));
  EXPECT_FALSE(CertificateAuthority::validTrustDomain("td:8080"));
}

TEST(CaTtl, DurationsAndDays) {
  EXPECT_EQ(parseTtlSeconds("24h"), 86'400u);
  EXPECT_EQ(parseTtlSeconds("1h30m"), 5'400u);
  EXPECT_EQ(parseTtlSeconds("90s"), 90u);
  EXPECT_EQ(parseTtlSeconds("30d"), 30u * 86'400);
  EXPECT_FALSE(parseTtlSeconds("d"));
  EXPECT_FALSE(parseTtlSeconds("1.5d"));
  EXPECT_FALSE(parseTtlSeconds("-1h"));
  EXPECT_FALSE(parseTtlSeconds(""));
}

// === Signing ===

TEST(CaSign, LeafVerifiesAgainstTheRootAndCarriesTheIdentity) {
  auto ca = memoryCa();
  auto key = ecKey();
  std::string error;
  auto req = ca->parseRequest(makeCsr(key.get(), kReviews), error);
  ASSERT_TRUE(req) << error;
  EXPECT_EQ(req->identity(), "spiffe://cluster.local/ns/default/sa/reviews");
  EXPECT_EQ(req->namespaceName(), "default");
  EXPECT_EQ(req->serviceAccount(), "reviews");
  auto issued = ca->sign(*req, 3600, error);
  ASSERT_TRUE(issued) << error;
  EXPECT_EQ(issued->identity, "spiffe://cluster.local/ns/default/sa/reviews");
  EXPECT_EQ(issued->root_certificates, ca->rootCertificatesPem());

  // Chain: the leaf, then the CA chain; valid for both ends of a TLS connection.
  auto chain = parseCerts(issued->certificate_chain);
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(
      verifyChain(issued->certificate_chain, issued->root_certificates, X509_PURPOSE_SSL_SERVER),
      X509_V_OK);
  EXPECT_EQ(
      verifyChain(issued->certificate_chain, issued->root_certificates, X509_PURPOSE_SSL_CLIENT),
      X509_V_OK);
  // Not against another CA's root.
  auto other = memoryCa();
  EXPECT_NE(
      verifyChain(issued->certificate_chain, other->rootCertificatesPem(), X509_PURPOSE_SSL_CLIENT),
      X509_V_OK);

  X509* leaf = chain[0].get();
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(leaf), key.get()), 1);
  EXPECT_EQ(X509_NAME_entry_count(X509_get_subject_name(leaf)), 0) << "empty subject, as Istio";
  // The SAN: one URI, the identity, critical.
  int critical = -1;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, &critical, nullptr));
  ASSERT_NE(names, nullptr);
  EXPECT_EQ(critical, 1);
  ASSERT_EQ(sk_GENERAL_NAME_num(names), 1);
  const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, 0);
  ASSERT_EQ(gn->type, GEN_URI);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(
                ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier))),
            "spiffe://cluster.local/ns/default/sa/reviews");
  GENERAL_NAMES_free(names);
  // Usages.
  const uint32_t flags = X509_get_extension_flags(leaf);
  EXPECT_FALSE(flags & EXFLAG_CA);
  EXPECT_TRUE(flags & EXFLAG_BCONS);
  EXPECT_EQ(X509_get_extended_key_usage(leaf),
            static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  EXPECT_EQ(X509_get_key_usage(leaf),
            static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
  EXPECT_NE(X509_get0_subject_key_id(leaf), nullptr);
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(leaf);
  ASSERT_NE(aki, nullptr);
  auto roots = parseCerts(ca->rootCertificatesPem());
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(aki, X509_get0_subject_key_id(roots[0].get())), 0);
}

TEST(CaSign, TtlIsHonouredWithOneMinuteOfSkew) {
  auto ca = memoryCa();
  auto key = ecKey();
  std::string error;
  auto req = ca->parseRequest(makeCsr(key.get(), kReviews), error);
  ASSERT_TRUE(req) << error;
  const int64_t now = std::time(nullptr);
  auto issued = ca->sign(*req, 7200, error);
  ASSERT_TRUE(issued) << error;
  auto chain = parseCerts(issued->certificate_chain);
  const int64_t not_before = unixTime(X509_get0_notBefore(chain[0].get()));
  const int64_t not_after = unixTime(X509_get0_notAfter(chain[0].get()));
  EXPECT_NEAR(static_cast<double>(not_after - now), 7200, 2);
  EXPECT_NEAR(static_cast<double>(now - not_before), 60, 2);
  EXPECT_EQ(issued->expires_at, not_after);
}

TEST(CaSign, EachLeafHasItsOwnSerial) {
  auto ca = memoryCa();
  auto key = ecKey();
  std::string error;
  auto req = ca->parseRequest(makeCsr(key.get(), kReviews), error);
  ASSERT_TRUE(req);
  auto a = parseCerts(ca->sign(*req, 600, error)->certificate_chain);
  auto b = parseCerts(ca->sign(*req, 600, error)->certificate_chain);
  EXPECT_NE(
      ASN1_INTEGER_cmp(X509_get0_serialNumber(a[0].get()), X509_get0_serialNumber(b[0].get())), 0);
}

TEST(CaSign, ExtensionsOfTheCsrAreNotCopied) {
  auto ca = memoryCa();
  auto key = ecKey();
  // A CSR that also asks to be a CA: only its SAN is read (and checked), never copied.
  X509_REQ* req = X509_REQ_new();
  X509_REQ_set_pubkey(req, key.get());
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name,
                                                   "URI:spiffe://cluster.local/ns/a/sa/b"));
  sk_X509_EXTENSION_push(exts,
                         X509V3_EXT_conf_nid(nullptr, nullptr, NID_basic_constraints, "CA:TRUE"));
  X509_REQ_add_extensions(req, exts);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  X509_REQ_sign(req, key.get(), EVP_sha256());
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(bio, req);
  const std::string pem = bioString(bio);
  BIO_free(bio);
  X509_REQ_free(req);
  std::string error;
  auto r = ca->parseRequest(pem, error);
  ASSERT_TRUE(r) << error;
  auto leaf = parseCerts(ca->sign(*r, 600, error)->certificate_chain);
  EXPECT_EQ(X509_check_ca(leaf[0].get()), 0);
}

TEST(CaSign, LeafNeverOutlivesTheSigningCertificate) {
  TempDir tmp;
  auto root_key = ecKey();
  auto root = makeCert(root_key.get(), "short root", nullptr, nullptr, true);
  X509_gmtime_adj(X509_getm_notAfter(root.get()), 3600);  // one hour left
  X509_sign(root.get(), root_key.get(), EVP_sha256());
  writeFile(tmp.path / "ca-cert.pem", certPem(root.get()));
  writeFile(tmp.path / "ca-key.pem", keyPem(root_key.get()));
  writeFile(tmp.path / "cert-chain.pem", certPem(root.get()));
  writeFile(tmp.path / "root-cert.pem", certPem(root.get()));
  std::string error;
  auto ca = CertificateAuthority::loadPlugin(tmp.path.string(), "cluster.local", error);
  ASSERT_TRUE(ca) << error;
  auto key = ecKey();
  auto req = ca->parseRequest(makeCsr(key.get(), kReviews), error);
  ASSERT_TRUE(req);
  auto issued = ca->sign(*req, 86'400, error);
  ASSERT_TRUE(issued) << error;
  EXPECT_LE(issued->expires_at, static_cast<int64_t>(std::time(nullptr)) + 3601);
}

// === Requests refused ===

TEST(CaRequest, AcceptedKeyTypes) {
  auto ca = memoryCa();
  auto p384 = ecKey("P-384");
  auto rsa2048 = rsaKey(2048);
  EXPECT_EQ(rejection(*ca, makeCsr(p384.get(), kReviews)), "");
  EXPECT_EQ(rejection(*ca, makeCsr(rsa2048.get(), kReviews)), "");
  auto rsa1024 = rsaKey(1024);
  EXPECT_NE(rejection(*ca, makeCsr(rsa1024.get(), kReviews)).find("2048"), std::string::npos);
  OpensslPtr<EVP_PKEY> p521(EVP_EC_gen("P-521"));
  EXPECT_NE(rejection(*ca, makeCsr(p521.get(), kReviews)).find("P-256"), std::string::npos);
  OpensslPtr<EVP_PKEY> ed(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  X509_REQ* req = X509_REQ_new();  // Ed25519 signs without a digest
  X509_REQ_set_pubkey(req, ed.get());
  X509_REQ_sign(req, ed.get(), nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(bio, req);
  EXPECT_NE(rejection(*ca, bioString(bio)).find("not accepted"), std::string::npos);
  BIO_free(bio);
  X509_REQ_free(req);
}

TEST(CaRequest, TwoUriSansAreRefused) {
  auto ca = memoryCa();
  auto key = ecKey();
  const std::string err =
      rejection(*ca, makeCsr(key.get(), std::string(kReviews) +
                                            ",URI:spiffe://cluster.local/ns/default/sa/ratings"));
  EXPECT_NE(err.find("exactly one URI SAN"), std::string::npos) << err;
}

TEST(CaRequest, MalformedOrForeignIdentitiesAreRefused) {
  auto ca = memoryCa();
  auto key = ecKey();
  auto err = [&](const std::string& sans) { return rejection(*ca, makeCsr(key.get(), sans)); };
  EXPECT_NE(err("").find("no subject alternative name"), std::string::npos);
  EXPECT_NE(err("URI:spiffe://other.domain/ns/default/sa/reviews").find("trust domain"),
            std::string::npos);
  EXPECT_NE(err("URI:https://cluster.local/ns/default/sa/reviews").find("not a SPIFFE ID"),
            std::string::npos);
  EXPECT_NE(err("URI:spiffe://cluster.local/ns/default").find("not of the form"),
            std::string::npos);
  EXPECT_NE(err("URI:spiffe://cluster.local/ns/default/sa/reviews/x").find("not of the form"),
            std::string::npos);
  EXPECT_NE(err("URI:spiffe://cluster.local/ns/../sa/reviews").find("not of the form"),
            std::string::npos);
  EXPECT_NE(err("URI:spiffe://cluster.local/ns//sa/reviews").find("not of the form"),
            std::string::npos);
  EXPECT_NE(err(std::string(kReviews) + ",DNS:reviews.default.svc").find("only carry"),
            std::string::npos);
  EXPECT_EQ(err("URI:spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway_1.x"), "");
}

TEST(CaRequest, BadSignatureAndGarbageAreRefused) {
  auto ca = memoryCa();
  auto key = ecKey();
  auto other = ecKey();
  EXPECT_NE(rejection(*ca, makeCsr(key.get(), kReviews, other.get())).find("signature"),
            std::string::npos);
  EXPECT_NE(rejection(*ca, "hello").find("not a PEM"), std::string::npos);
  EXPECT_NE(rejection(*ca, "").find("empty"), std::string::npos);
  const std::string csr = makeCsr(key.get(), kReviews);
  EXPECT_NE(rejection(*ca, csr + csr).find("several PEM blocks"), std::string::npos);
  EXPECT_EQ(rejection(*ca, "\n" + csr + "\n"), "");
  // A certificate is not a request.
  EXPECT_NE(rejection(*ca, ca->rootCertificatesPem()).find("not a PEM"), std::string::npos);
}

// === Plug-in CA ===

class PluginCa : public ::testing::Test {
 protected:
  PluginCa() {
    root_key_ = ecKey();
    root_ = makeCert(root_key_.get(), "plug-in root", nullptr, nullptr, true);
    ca_key_ = ecKey();
    ca_ = makeCert(ca_key_.get(), "plug-in intermediate", root_.get(), root_key_.get(), true);
    writeFile(tmp_.path / "ca-cert.pem", certPem(ca_.get()));
    writeFile(tmp_.path / "ca-key.pem", keyPem(ca_key_.get()));
    writeFile(tmp_.path / "cert-chain.pem", certPem(ca_.get()) + certPem(root_.get()));
    writeFile(tmp_.path / "root-cert.pem", certPem(root_.get()));
  }
  std::unique_ptr<CertificateAuthority> load(std::string& error) {
    return CertificateAuthority::loadPlugin(tmp_.path.string(), "cluster.local", error);
  }

  TempDir tmp_;
  OpensslPtr<EVP_PKEY> root_key_, ca_key_;
  OpensslPtr<X509> root_, ca_;
};

TEST_F(PluginCa, AcceptedAndItsLeavesVerifyUpToTheRoot) {
  std::string error;
  auto ca = load(error);
  ASSERT_TRUE(ca) << error;
  EXPECT_EQ(ca->rootCertificatesPem(), certPem(root_.get()));
  EXPECT_EQ(ca->chainPem(), certPem(ca_.get()) + certPem(root_.get()));
  auto key = ecKey();
  auto req = ca->parseRequest(makeCsr(key.get(), kReviews), error);
  ASSERT_TRUE(req) << error;
  auto issued = ca->sign(*req, 3600, error);
  ASSERT_TRUE(issued) << error;
  auto chain = parseCerts(issued->certificate_chain);
  ASSERT_EQ(chain.size(), 3u);  // leaf, intermediate, root
  EXPECT_EQ(X509_check_issued(ca_.get(), chain[0].get()), X509_V_OK);
  EXPECT_EQ(
      verifyChain(issued->certificate_chain, issued->root_certificates, X509_PURPOSE_SSL_CLIENT),
      X509_V_OK);
}

TEST_F(PluginCa, ChainWithoutTheCaCertStillSendsIt) {
  writeFile(tmp_.path / "cert-chain.pem", certPem(root_.get()));
  std::string error;
  auto ca = load(error);
  ASSERT_TRUE(ca) << error;
  EXPECT_EQ(ca->chainPem(), certPem(ca_.get()) + certPem(root_.get()));
}

TEST_F(PluginCa, MismatchedKeyIsRefused) {
  auto other = ecKey();
  writeFile(tmp_.path / "ca-key.pem", keyPem(other.get()));
  std::string error;
  EXPECT_FALSE(load(error));
  EXPECT_NE(error.find("ca-key.pem is not the private key of"), std::string::npos) << error;
}

TEST_F(PluginCa, CertificateThatIsNotACaIsRefused) {
  auto leaf = makeCert(ca_key_.get(), "not a CA", root_.get(), root_key_.get(), false);
  writeFile(tmp_.path / "ca-cert.pem", certPem(leaf.get()));
  std::string error;
  EXPECT_FALSE(load(error));
  EXPECT_NE(error.find("not a CA certificate"), std::string::npos) << error;
}

TEST_F(PluginCa, ChainThatDoesNotReachTheRootIsRefused) {
  auto other_key = ecKey();
  auto other_root = makeCert(other_key.get(), "another root", nullptr, nullptr, true);
  writeFile(tmp_.path / "root-cert.pem", certPem(other_root.get()));
  std::string error;
  EXPECT_FALSE(load(error));
  EXPECT_NE(error.find("does not verify up to"), std::string::npos) << error;
}

TEST_F(PluginCa, MissingOrEmptyFilesAreRefused) {
  std::string error;
  fs::remove(tmp_.path / "cert-chain.pem");
  EXPECT_FALSE(load(error));
  EXPECT_NE(error.find("cert-chain.pem"), std::string::npos) << error;
  writeFile(tmp_.path / "cert-chain.pem", "");
  EXPECT_FALSE(load(error));
  EXPECT_NE(error.find("holds no PEM certificate"), std::string::npos) << error;
}

}  // namespace
}  // namespace weft::control

namespace weft::control {
namespace {

TEST(CaServerCertificate, CarriesTheControlPlaneIdentityAndTheNamesAsked) {
  auto ca = memoryCa();
  std::string error;
  auto cert =
      ca->issueServerCertificate({"DNS:localhost", "IP:127.0.0.1", "IP:10.1.2.3"}, 3600, error);
  ASSERT_TRUE(cert) << error;
  EXPECT_NE(cert->key_pem.find("PRIVATE KEY"), std::string::npos);
  BIO* bio = BIO_new_mem_buf(cert->chain_pem.data(), static_cast<int>(cert->chain_pem.size()));
  X509* leaf = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(leaf, nullptr);
  BIO* out = BIO_new(BIO_s_mem());
  X509V3_EXT_print(out, X509_get_ext(leaf, X509_get_ext_by_NID(leaf, NID_subject_alt_name, -1)), 0,
                   0);
  char* data = nullptr;
  const long len = BIO_get_mem_data(out, &data);
  const std::string sans(data, static_cast<size_t>(len));
  BIO_free(out);
  EXPECT_NE(sans.find("URI:spiffe://cluster.local/ns/istio-system/sa/weft-control"),
            std::string::npos)
      << sans;
  EXPECT_NE(sans.find("DNS:localhost"), std::string::npos) << sans;
  EXPECT_NE(sans.find("IP Address:10.1.2.3"), std::string::npos) << sans;
  EXPECT_EQ(X509_check_purpose(leaf, X509_PURPOSE_SSL_SERVER, 0), 1);
  // The chain after the leaf is the CA's.
  EXPECT_NE(cert->chain_pem.find(ca->chainPem()), std::string::npos);
  EXPECT_LE(cert->expires_at - std::time(nullptr), 3600);
  X509_free(leaf);
  EXPECT_EQ(controlPlaneIdentity("td"), "spiffe://td/ns/istio-system/sa/weft-control");
  EXPECT_EQ(ca->signingRootFingerprint().size(), 64u);
}

}  // namespace
}  // namespace weft::control
