// The OpenSSL basics every part that handles keys and certificates shares (the TLS layer, the
// workload identity, the control plane's CA): RAII owners, PEM readers and error draining.
//
// Ownership of certificate stacks: OpensslPtr<STACK_OF(X509)> owns its certificates and frees
// them with the stack; a stack that only lends certificates held elsewhere (an "untrusted"
// chain passed to a verification) is a BorrowedCertStack, freed without them.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace weft::crypto {

// One deleter for every OpenSSL object: std::unique_ptr frees each with its own *_free.
struct OpensslFree {
  void operator()(X509* p) const { X509_free(p); }
  void operator()(X509_REQ* p) const { X509_REQ_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(ASN1_STRING* p) const { ASN1_STRING_free(p); }  // ASN1_INTEGER, ASN1_IA5STRING
  void operator()(GENERAL_NAME* p) const { GENERAL_NAME_free(p); }
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
  void operator()(STACK_OF(X509_EXTENSION) * p) const {
    sk_X509_EXTENSION_pop_free(p, X509_EXTENSION_free);
  }
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
  void operator()(SSL* p) const { SSL_free(p); }
  void operator()(SSL_SESSION* p) const { SSL_SESSION_free(p); }
  void operator()(STACK_OF(X509) * p) const { sk_X509_pop_free(p, X509_free); }  // and its certs
};
template <typename T>
using OpensslPtr = std::unique_ptr<T, OpensslFree>;

struct BorrowedStackFree {
  void operator()(STACK_OF(X509) * p) const { sk_X509_free(p); }  // the stack only
};
using BorrowedCertStack = std::unique_ptr<STACK_OF(X509), BorrowedStackFree>;

// Every error on the thread's OpenSSL queue as one string, oldest first ("; "-separated), with
// `what` in front; empties the queue. Just `what` ("unknown error" if empty too) when the queue
// was empty.
std::string drainOpensslErrors(std::string_view what = {});

// A read-only memory BIO over `text` (which must outlive it).
OpensslPtr<BIO> memBio(std::string_view text);
// Every certificate of a PEM text, in order (other PEM blocks are skipped).
std::vector<OpensslPtr<X509>> parseCertificates(std::string_view pem);
// The first private key of a PEM text (PKCS#8 or traditional, unencrypted: an encrypted key
// fails instead of prompting for a passphrase).
OpensslPtr<EVP_PKEY> parsePrivateKey(std::string_view pem);

}  // namespace weft::crypto
