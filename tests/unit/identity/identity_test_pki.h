// Test PKI for the identity tests: a CA and SPIFFE leaves made with OpenSSL's API (on top of the
// control plane's test helpers, control-plane/ca/test_pki.h).
#pragma once

#include <openssl/x509v3.h>

#include <string>

#include "control-plane/ca/test_pki.h"

namespace weft::identity::testing {

using control::OpensslPtr;
using control::testing::addExt;
using control::testing::certPem;
using control::testing::ecKey;
using control::testing::keyPem;
using control::testing::makeCert;
using control::testing::TempDir;
using control::testing::writeFile;

// A leaf for `key` signed by `issuer`, valid from one minute ago for `days`, with the
// subjectAltName `sans` (OpenSSL syntax, e.g. "URI:spiffe://cluster.local/ns/a/sa/b").
inline OpensslPtr<X509> makeLeaf(EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                                 const std::string& sans, long serial, long days = 1) {
  OpensslPtr<X509> cert(X509_new());
  X509* x = cert.get();
  X509_set_version(x, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_set_issuer_name(x, X509_get_subject_name(issuer));
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 86'400L * days);
  X509_set_pubkey(x, key);
  addExt(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
  if (!sans.empty()) addExt(x, issuer, NID_subject_alt_name, ("critical," + sans).c_str());
  X509_sign(x, issuer_key, EVP_sha256());
  return cert;
}

// A CA (self-signed root) with its key.
struct TestCa {
  OpensslPtr<EVP_PKEY> key = ecKey();
  OpensslPtr<X509> cert = makeCert(key.get(), "test root", nullptr, nullptr, true);
  std::string pem() const { return certPem(cert.get()); }
};

}  // namespace weft::identity::testing
