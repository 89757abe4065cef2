// Certificate helpers (see certificate.h).
#include "identity/certificate.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <nlohmann/json.hpp>

namespace weft::identity {

namespace {

// The first error of OpenSSL's queue, as text (the queue is cleared).
std::string opensslError() {
  unsigned long code = ERR_peek_last_error();
  std::string text;
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    text = buf;
  }
  ERR_clear_error();
  return text;
}

using crypto::memBio;

std::string bioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

}  // namespace

std::vector<std::string> uriSans(X509* cert) {
  std::vector<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type != GEN_URI) continue;
    const ASN1_STRING* s = gn->d.uniformResourceIdentifier;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
  }
  GENERAL_NAMES_free(names);
  return out;
}

std::optional<std::string> trustDomainOf(std::string_view spiffe_id) {
  constexpr std::string_view kScheme = "spiffe://";
  if (spiffe_id.substr(0, kScheme.size()) != kScheme) return std::nullopt;
  std::string_view rest = spiffe_id.substr(kScheme.size());
  size_t slash = rest.find('/');
  if (slash == 0 || slash == rest.npos || slash + 1 >= rest.size()) return std::nullopt;
  return std::string(rest.substr(0, slash));
}

int64_t unixTime(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

std::string serialHex(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  if (!bn) return {};
  char* hex = BN_bn2hex(bn);
  std::string out = hex ? hex : "";
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

std::string subjectText(X509* cert) {
  OpensslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio) return {};
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0,
                     XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
  std::string out = bioText(bio.get());
  // XN_FLAG_ONELINE writes "O = x, CN = y"; the compact form reads better in JSON.
  std::string compact;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out.compare(i, 3, " = ") == 0) {
      compact += '=';
      i += 2;
    } else {
      compact += out[i];
    }
  }
  return compact;
}

std::string isoTime(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<WorkloadIdentity> buildIdentity(const std::string& chain_pem,
                                              const std::string& key_pem,
                                              const std::string& roots_pem, std::string& error,
                                              int64_t now) {
  auto chain = parseCertificates(chain_pem);
  if (chain.empty()) {
    error = "the certificate file holds no PEM certificate";
    return std::nullopt;
  }
  auto key = parsePrivateKey(key_pem);
  if (!key) {
    error = "the private key file holds no (unencrypted) PEM private key";
    return std::nullopt;
  }
  auto roots = parseCertificates(roots_pem);
  if (roots.empty()) {
    error = "the CA certificates file holds no PEM certificate";
    return std::nullopt;
  }
  X509* leaf = chain.front().get();
  if (EVP_PKEY_eq(X509_get0_pubkey(leaf), key.get()) != 1) {
    ERR_clear_error();
    error = "the private key is not the key of the certificate";
    return std::nullopt;
  }

  OpensslPtr<X509_STORE> store(X509_STORE_new());
  // Lends the chain's certificates, which `chain` keeps owning.
  crypto::BorrowedCertStack untrusted(sk_X509_new_null());
  OpensslPtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  if (!store || !untrusted || !ctx) {
    error = "out of memory (" + opensslError() + ")";
    return std::nullopt;
  }
  for (auto& r : roots) X509_STORE_add_cert(store.get(), r.get());  // takes its own reference
  for (size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted.get(), chain[i].get());
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()) != 1) {
    error = "cannot verify the chain (" + opensslError() + ")";
    return std::nullopt;
  }
  if (now != 0) X509_STORE_CTX_set_time(ctx.get(), 0, static_cast<time_t>(now));
  if (X509_verify_cert(ctx.get()) != 1) {
    int code = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    error = std::string("the certificate does not verify against the CA certificates: ") +
            X509_verify_cert_error_string(code);
    return std::nullopt;
  }

  std::vector<std::string> uris = uriSans(leaf);
  if (uris.size() != 1) {
    error = "the certificate must have exactly one URI subject alternative name (it has " +
            std::to_string(uris.size()) + ")";
    return std::nullopt;
  }
  auto td = trustDomainOf(uris.front());
  if (!td) {
    error = "the certificate's URI SAN '" + uris.front() + "' is not a spiffe:// ID";
    return std::nullopt;
  }

  WorkloadIdentity id;
  id.spiffe_id = uris.front();
  id.trust_domain = *td;
  id.cert_chain_pem = chain_pem;
  id.private_key_pem = key_pem;
  id.roots_pem = roots_pem;
  id.not_before = unixTime(X509_get0_notBefore(leaf));
  id.not_after = unixTime(X509_get0_notAfter(leaf));
  return id;
}

OpensslPtr<EVP_PKEY> generateKey() {
  OpensslPtr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  ERR_clear_error();
  return key;
}

std::string privateKeyPem(EVP_PKEY* key) {
  OpensslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    ERR_clear_error();
    return {};
  }
  return bioText(bio.get());
}

std::string makeCsr(EVP_PKEY* key, const std::string& spiffe_id) {
  OpensslPtr<X509_REQ> req(X509_REQ_new());
  if (!req) return {};
  std::string san = "URI:" + spiffe_id;
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  bool ok = ext && exts && sk_X509_EXTENSION_push(exts, ext) > 0;
  if (!ok && ext) X509_EXTENSION_free(ext);
  ok = ok && X509_REQ_set_version(req.get(), 0) == 1 && X509_REQ_set_pubkey(req.get(), key) == 1 &&
       X509_REQ_add_extensions(req.get(), exts) == 1 &&
       X509_REQ_sign(req.get(), key, EVP_sha256()) > 0;
  if (exts) sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  OpensslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  ok = ok && bio && PEM_write_bio_X509_REQ(bio.get(), req.get()) == 1;
  ERR_clear_error();
  return ok ? bioText(bio.get()) : std::string();
}

std::string certsJson(const WorkloadIdentity* identity, const std::string& source, int64_t now) {
  nlohmann::ordered_json out;
  out["certificates"] = nlohmann::ordered_json::array();
  if (!identity) return out.dump(2) + "\n";
  auto describe = [now](X509* x) {
    nlohmann::ordered_json c;
    c["subject"] = subjectText(x);
    c["serial_number"] = serialHex(x);
    nlohmann::ordered_json sans = nlohmann::ordered_json::array();
    for (const auto& uri : uriSans(x)) sans.push_back({{"uri", uri}});
    c["subject_alt_names"] = sans;
    int64_t nb = unixTime(X509_get0_notBefore(x));
    int64_t na = unixTime(X509_get0_notAfter(x));
    c["valid_from"] = isoTime(nb);
    c["expiration_time"] = isoTime(na);
    c["not_before"] = nb;
    c["not_after"] = na;
    c["days_until_expiration"] = na > now ? (na - now) / 86'400 : 0;
    return c;
  };
  nlohmann::ordered_json entry;
  entry["identity"] = identity->spiffe_id;
  entry["trust_domain"] = identity->trust_domain;
  entry["source"] = source;
  entry["generation"] = identity->generation;
  auto chain = parseCertificates(identity->cert_chain_pem);
  if (!chain.empty()) {
    entry["serial_number"] = serialHex(chain.front().get());
    entry["valid_from"] = isoTime(identity->not_before);
    entry["expiration_time"] = isoTime(identity->not_after);
    entry["not_before"] = identity->not_before;
    entry["not_after"] = identity->not_after;
    entry["days_until_expiration"] =
        identity->not_after > now ? (identity->not_after - now) / 86'400 : 0;
    entry["seconds_until_expiration"] = identity->not_after > now ? identity->not_after - now : 0;
  }
  entry["cert_chain"] = nlohmann::ordered_json::array();
  for (auto& x : chain) entry["cert_chain"].push_back(describe(x.get()));
  entry["ca_cert"] = nlohmann::ordered_json::array();
  for (auto& x : parseCertificates(identity->roots_pem)) {
    entry["ca_cert"].push_back(describe(x.get()));
  }
  out["certificates"].push_back(std::move(entry));
  return out.dump(2) + "\n";
}

}  // namespace weft::identity
