// loadIdentityFiles (see identity_files.h).
#include "tls/identity_files.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tls/context.h"

namespace weft::tls {

namespace {

bool readFile(const std::filesystem::path& path, std::string& out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (error) *error = path.string() + ": cannot be read";
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

int64_t unixTime(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace

bool loadIdentityFiles(const std::string& dir, identity::WorkloadIdentity& out,
                       std::string* error) {
  std::filesystem::path d(dir);
  identity::WorkloadIdentity id;
  if (!readFile(d / kCertChainFile, id.cert_chain_pem, error) ||
      !readFile(d / kKeyFile, id.private_key_pem, error) ||
      !readFile(d / kRootCertFile, id.roots_pem, error)) {
    return false;
  }
  OpensslPtr<BIO> bio(
      BIO_new_mem_buf(id.cert_chain_pem.data(), static_cast<int>(id.cert_chain_pem.size())));
  OpensslPtr<X509> leaf(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!leaf) {
    if (error) *error = drainOpensslErrors((d / kCertChainFile).string());
    return false;
  }
  id.spiffe_id = spiffeIdOf(leaf.get());
  if (id.spiffe_id.empty()) {
    if (error) *error = (d / kCertChainFile).string() + ": the leaf has no (single) SPIFFE ID";
    return false;
  }
  std::string_view rest = std::string_view(id.spiffe_id).substr(9);  // after spiffe://
  id.trust_domain = std::string(rest.substr(0, rest.find('/')));
  id.not_before = unixTime(X509_get0_notBefore(leaf.get()));
  id.not_after = unixTime(X509_get0_notAfter(leaf.get()));
  out = std::move(id);
  return true;
}

}  // namespace weft::tls
