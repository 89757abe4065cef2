// Test helpers for the CA: keys, CSRs and small CA certificates made with OpenSSL's API, PEM
// conversions, a temporary directory and chain verification with X509_verify_cert.
#pragma once

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ca/ca.h"

namespace weft::control::testing {

namespace fs = std::filesystem;

struct TempDir {
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "weft-ca-test-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

inline OpensslPtr<EVP_PKEY> ecKey(const char* curve = "P-256") {
  return OpensslPtr<EVP_PKEY>(EVP_EC_gen(curve));
}
inline OpensslPtr<EVP_PKEY> rsaKey(unsigned bits) {
  return OpensslPtr<EVP_PKEY>(EVP_RSA_gen(bits));
}

inline std::string bioString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

inline std::string keyPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::string s = bioString(bio);
  BIO_free(bio);
  return s;
}

inline std::string certPem(X509* x) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, x);
  std::string s = bioString(bio);
  BIO_free(bio);
  return s;
}

inline std::vector<OpensslPtr<X509>> parseCerts(const std::string& pem) {
  std::vector<OpensslPtr<X509>> out;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) out.emplace_back(x);
  BIO_free(bio);
  ERR_clear_error();
  return out;
}

// A PEM CSR signed by `key`, with one subjectAltName extension holding `sans` (OpenSSL config
// syntax: "URI:spiffe://...", "DNS:a.b"); none if `sans` is empty. `pubkey`, if given, replaces
// the public key after signing (a CSR whose signature does not verify).
inline std::string makeCsr(EVP_PKEY* key, const std::string& sans, EVP_PKEY* pubkey = nullptr) {
  X509_REQ* req = X509_REQ_new();
  X509_REQ_set_version(req, 0);
  X509_REQ_set_pubkey(req, key);
  if (!sans.empty()) {
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    sk_X509_EXTENSION_push(
        exts, X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, sans.c_str()));
    X509_REQ_add_extensions(req, exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  }
  X509_REQ_sign(req, key, EVP_sha256());
  if (pubkey) X509_REQ_set_pubkey(req, pubkey);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(bio, req);
  std::string s = bioString(bio);
  BIO_free(bio);
  X509_REQ_free(req);
  return s;
}

inline bool addExt(X509* x, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx{};
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) return false;
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  return true;
}

// A certificate named CN=`cn` for `key`, signed by `issuer_key` (self-signed when `issuer` is
// null), a CA if `ca`.
inline OpensslPtr<X509> makeCert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key,
                                 bool ca) {
  OpensslPtr<X509> cert(X509_new());
  X509* x = cert.get();
  X509_set_version(x, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(x), static_cast<long>(std::time(nullptr) & 0xffffff));
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 86'400L * 365);
  X509_set_pubkey(x, key);
  X509* iss = issuer ? issuer : x;
  addExt(x, iss, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  if (ca) addExt(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
  addExt(x, iss, NID_subject_key_identifier, "hash");
  addExt(x, iss, NID_authority_key_identifier, "keyid:always");
  X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
  return cert;
}

inline void writeFile(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// X509_verify_cert of the first certificate of `chain_pem` against the roots of `roots_pem`, the
// rest of the chain as untrusted intermediates, for TLS `purpose` (X509_PURPOSE_SSL_SERVER ...).
// Returns X509_V_OK or the verification error.
inline int verifyChain(const std::string& chain_pem, const std::string& roots_pem, int purpose) {
  auto chain = parseCerts(chain_pem);
  auto roots = parseCerts(roots_pem);
  if (chain.empty() || roots.empty()) return -1;
  X509_STORE* store = X509_STORE_new();
  for (auto& r : roots) X509_STORE_add_cert(store, r.get());
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  for (size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted, chain[i].get());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, chain[0].get(), untrusted);
  X509_STORE_CTX_set_purpose(ctx, purpose);
  int rc = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  sk_X509_free(untrusted);
  X509_STORE_free(store);
  ERR_clear_error();
  return rc;
}

inline int64_t unixTime(const ASN1_TIME* t) {
  std::tm tm{};
  ASN1_TIME_to_tm(t, &tm);
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace weft::control::testing
