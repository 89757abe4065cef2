// A small test CA made with OpenSSL's API: a root, and leaves carrying a SPIFFE URI SAN,
// turned into WorkloadIdentity values (PEM) for the TLS contexts under test.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <string>

#include "identity/identity.h"
#include "tls/context.h"

namespace weft::tls::testing {

inline std::string pemOf(X509* x) {
  OpensslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), x);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

inline std::string pemOf(EVP_PKEY* key) {
  OpensslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

inline void addExt(X509* x, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx{};
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext) {
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
}

struct Leaf {
  OpensslPtr<EVP_PKEY> key;
  OpensslPtr<X509> cert;
};

class TestCa {
 public:
  explicit TestCa(const char* name = "weft test root")
      : key_(EVP_EC_gen("P-256")), cert_(X509_new()) {
    X509* x = cert_.get();
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial_);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(name), -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86'400L * 365);
    X509_set_pubkey(x, key_.get());
    addExt(x, x, NID_basic_constraints, "critical,CA:TRUE");
    addExt(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
    addExt(x, x, NID_subject_key_identifier, "hash");
    X509_sign(x, key_.get(), EVP_sha256());
  }

  // A leaf for `spiffe_id` (no SAN if empty), valid from now+`from_s` to now+`to_s`.
  Leaf issue(const std::string& spiffe_id, long from_s = -60, long to_s = 3600) {
    Leaf leaf{OpensslPtr<EVP_PKEY>(EVP_EC_gen("P-256")), OpensslPtr<X509>(X509_new())};
    X509* x = leaf.cert.get();
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial_);
    X509_set_issuer_name(x, X509_get_subject_name(cert_.get()));
    X509_gmtime_adj(X509_getm_notBefore(x), from_s);
    X509_gmtime_adj(X509_getm_notAfter(x), to_s);
    X509_set_pubkey(x, leaf.key.get());
    addExt(x, cert_.get(), NID_basic_constraints, "critical,CA:FALSE");
    addExt(x, cert_.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment");
    addExt(x, cert_.get(), NID_ext_key_usage, "serverAuth,clientAuth");
    addExt(x, cert_.get(), NID_authority_key_identifier, "keyid:always");
    if (!spiffe_id.empty()) {
      addExt(x, cert_.get(), NID_subject_alt_name, ("critical,URI:" + spiffe_id).c_str());
    }
    X509_sign(x, key_.get(), EVP_sha256());
    return leaf;
  }

  // A WorkloadIdentity for `spiffe_id`, signed by this CA, trusting `trust` (default: this CA).
  identity::WorkloadIdentity identity(const std::string& spiffe_id, long from_s = -60,
                                      long to_s = 3600, const TestCa* trust = nullptr) {
    Leaf leaf = issue(spiffe_id, from_s, to_s);
    identity::WorkloadIdentity id;
    id.spiffe_id = spiffe_id;
    id.trust_domain = "cluster.local";
    id.cert_chain_pem = pemOf(leaf.cert.get());
    id.private_key_pem = pemOf(leaf.key.get());
    id.roots_pem = (trust ? trust : this)->rootPem();
    return id;
  }

  std::string rootPem() const { return pemOf(cert_.get()); }

 private:
  static inline long serial_ = 0;
  OpensslPtr<EVP_PKEY> key_;
  OpensslPtr<X509> cert_;
};

}  // namespace weft::tls::testing
