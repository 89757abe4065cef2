// OpenSSL basics (see openssl.h).
#include "crypto/openssl.h"

#include <openssl/err.h>
#include <openssl/pem.h>

namespace weft::crypto {

std::string drainOpensslErrors(std::string_view what) {
  std::string out(what);
  bool first = true;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    out += first ? (out.empty() ? "" : ": ") : "; ";
    out += buf;
    first = false;
  }
  if (out.empty()) out = "unknown error";
  return out;
}

OpensslPtr<BIO> memBio(std::string_view text) {
  return OpensslPtr<BIO>(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::vector<OpensslPtr<X509>> parseCertificates(std::string_view pem) {
  std::vector<OpensslPtr<X509>> out;
  auto bio = memBio(pem);
  if (!bio) return out;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
  ERR_clear_error();  // the end of the text reads as "no start line": expected
  return out;
}

OpensslPtr<EVP_PKEY> parsePrivateKey(std::string_view pem) {
  auto bio = memBio(pem);
  if (!bio) return nullptr;
  OpensslPtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(
      bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  ERR_clear_error();
  return key;
}

}  // namespace weft::crypto
