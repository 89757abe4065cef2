// CertificateAuthority (see ca.h): root creation and loading, plug-in CA validation, CSR checks
// and leaf signing, all with OpenSSL 3's X509 API (no hand-written ASN.1 or PEM).
#include "ca/ca.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mesh/compiler.h"
#include "mesh/yaml_reader.h"
#include "server/log.h"

namespace weft::control {

namespace {

namespace fs = std::filesystem;
using server::LogLevel;
using server::logLine;

template <typename T>
using Ptr = crypto::OpensslPtr<T>;

constexpr const char* kRootKey = "root-key.pem";
constexpr const char* kRootCert = "root-cert.pem";
constexpr int kRootValidityDays = 3650;
// Leaves start one minute in the past, so a peer whose clock is a little behind accepts them.
constexpr int kClockSkewSeconds = 60;

// Every error on the thread's OpenSSL queue, oldest first; empties the queue.
std::string opensslError() {
  return crypto::drainOpensslErrors("");
}

bool readFile(const fs::path& path, std::string& out) {
  return mesh::readWholeFile(path.string(), out);
}

using crypto::memBio;

// Appends every certificate of a PEM text, in order. Fails on a malformed block (a text without
// any certificate is not a failure: `out` stays as it was).
bool readCertificates(std::string_view text, std::vector<OpensslPtr<X509>>& out) {
  Ptr<BIO> bio = memBio(text);
  if (!bio) return false;
  ERR_clear_error();
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    out.emplace_back(x);
  }
  // The loop ends at the end of the text (PEM_R_NO_START_LINE) or on a broken block.
  const unsigned long e = ERR_peek_last_error();
  if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
    ERR_clear_error();
    return true;
  }
  return e == 0;
}

// Never prompts for a passphrase (an encrypted key is an error, not a question on the tty).
int noPassphrase(char*, int, int, void*) {
  return 0;
}

OpensslPtr<EVP_PKEY> readPrivateKey(std::string_view text) {
  Ptr<BIO> bio = memBio(text);
  if (!bio) return nullptr;
  return OpensslPtr<EVP_PKEY>(PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassphrase, nullptr));
}

// The private key in the PEM file `path` (the text is wiped once read); null with `error`.
OpensslPtr<EVP_PKEY> loadPrivateKey(const fs::path& path, std::string& error) {
  std::string text;
  if (!readFile(path, text)) {
    error = "cannot read " + path.string();
    return nullptr;
  }
  OpensslPtr<EVP_PKEY> key = readPrivateKey(text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!key) {
    error = path.string() + ": not a PEM private key (or an encrypted one): " + opensslError();
  }
  return key;
}

std::string bioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

std::string certificatePem(X509* x) {
  Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), x) != 1) return {};
  return bioText(bio.get());
}

int64_t unixTime(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

// A random positive 128-bit serial: unique without bookkeeping, and not guessable (RFC 5280
// allows up to 20 octets; CA/B rules ask for at least 64 random bits).
bool setRandomSerial(X509* x) {
  Ptr<BIGNUM> bn(BN_new());
  return bn && BN_rand(bn.get(), 128, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) == 1 &&
         BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x)) != nullptr;
}

// Upper-case hex of a certificate's serial number (as the sidecar's /certs shows it).
std::string serialText(X509* x) {
  Ptr<BIGNUM> bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr));
  if (!bn) return {};
  char* hex = BN_bn2hex(bn.get());
  std::string out = hex ? hex : "";
  OPENSSL_free(hex);
  return out;
}

// Adds one extension written in OpenSSL's config syntax ("critical,CA:FALSE").
bool addExtension(X509* x, X509V3_CTX* ctx, int nid, const char* value) {
  Ptr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  return ext && X509_add_ext(x, ext.get(), -1) == 1;
}

// Ed25519/Ed448 sign without a separate digest; every other key type with SHA-256.
const EVP_MD* digestFor(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448")) return nullptr;
  return EVP_sha256();
}

// Writes `data` to `path` through a temporary file created with `mode` (never a wider mode,
// even for a moment), then renames it into place.
bool writeFileAtomically(const fs::path& path, const std::string& data, mode_t mode,
                         std::string& error) {
  fs::path tmp = path;
  tmp += ".tmp";
  ::unlink(tmp.c_str());  // a leftover of an interrupted start
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    error = "cannot create " + tmp.string() + ": " + std::strerror(errno);
    return false;
  }
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = "cannot write " + tmp.string() + ": " + std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    error = "cannot write " + tmp.string() + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot rename " + tmp.string() + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

// A fresh self-signed root: EC P-256, O=<trust domain>, CN=weft root CA, 10 years.
bool makeRoot(const std::string& trust_domain, OpensslPtr<EVP_PKEY>& key, OpensslPtr<X509>& cert,
              std::string& error, const std::string& common_name = "weft root CA") {
  key.reset(EVP_EC_gen("P-256"));
  cert.reset(X509_new());
  if (!key || !cert) {
    error = "cannot generate the root key: " + opensslError();
    return false;
  }
  X509* x = cert.get();
  X509_NAME* name = X509_get_subject_name(x);
  const auto* td = reinterpret_cast<const unsigned char*>(trust_domain.c_str());
  const auto* cn = reinterpret_cast<const unsigned char*>(common_name.c_str());
  const time_t now = std::time(nullptr);
  X509V3_CTX ctx{};
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  const bool ok = X509_set_version(x, X509_VERSION_3) == 1 && setRandomSerial(x) &&
                  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, td, -1, -1, 0) == 1 &&
                  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, cn, -1, -1, 0) == 1 &&
                  X509_set_issuer_name(x, name) == 1 &&
                  ASN1_TIME_adj(X509_getm_notBefore(x), now, 0, -kClockSkewSeconds) != nullptr &&
                  ASN1_TIME_adj(X509_getm_notAfter(x), now, kRootValidityDays, 0) != nullptr &&
                  X509_set_pubkey(x, key.get()) == 1 &&
                  addExtension(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") &&
                  addExtension(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") &&
                  addExtension(x, &ctx, NID_subject_key_identifier, "hash") &&
                  addExtension(x, &ctx, NID_authority_key_identifier, "keyid:always") &&
                  X509_sign(x, key.get(), EVP_sha256()) > 0;
  if (!ok) error = "cannot make the root certificate: " + opensslError();
  return ok;
}

// The checks every signing certificate passes: its key is the one given, it is a CA
// (basicConstraints CA:TRUE, keyCertSign if keyUsage is present) and it has not expired.
bool checkSigningPair(X509* cert, EVP_PKEY* key, const std::string& cert_name,
                      const std::string& key_name, std::string& error) {
  if (X509_check_private_key(cert, key) != 1) {
    ERR_clear_error();
    error = key_name + " is not the private key of " + cert_name;
    return false;
  }
  if (X509_check_ca(cert) != 1) {
    error = cert_name +
            " is not a CA certificate (it needs basicConstraints CA:TRUE and, with "
            "keyUsage, keyCertSign)";
    return false;
  }
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
    error = cert_name + " has expired";
    return false;
  }
  return true;
}

// The value of the subject's O=, or "".
std::string organization(X509* cert) {
  X509_NAME* name = X509_get_subject_name(cert);
  const int i = X509_NAME_get_index_by_NID(name, NID_organizationName, -1);
  if (i < 0) return {};
  const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

// One segment of a SPIFFE path as Istio's identities use them (Kubernetes names): letters,
// digits, '.', '-', '_', and not "." or "..".
bool validSegment(std::string_view s) {
  if (s.empty() || s == "." || s == "..") return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// Accepted key types, so no workload gets a certificate for a key its peers reject or that is
// too weak: EC P-256 / P-384, RSA of 2048 bits and more.
bool acceptedKey(EVP_PKEY* key, std::string& error) {
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof(group), &len) == 1) {
      const std::string_view g(group, len);
      if (g == "prime256v1" || g == "P-256" || g == "secp384r1" || g == "P-384") return true;
    }
    error = "the CSR's EC key uses curve '" + std::string(group) +
            "': only P-256 and P-384 are accepted";
    return false;
  }
  if (EVP_PKEY_is_a(key, "RSA")) {
    const int bits = EVP_PKEY_get_bits(key);
    if (bits >= 2048) return true;
    error = "the CSR's RSA key has " + std::to_string(bits) + " bits: at least 2048 are needed";
    return false;
  }
  const char* type = EVP_PKEY_get0_type_name(key);
  error = std::string("the CSR's key type (") + (type ? type : "unknown") +
          ") is not accepted: use EC P-256, EC P-384 or RSA of at least 2048 bits";
  return false;
}

}  // namespace

std::optional<uint64_t> parseTtlSeconds(std::string_view text) {
  if (text.size() >= 2 && text.back() == 'd') {
    uint64_t days = 0;
    for (char c : text.substr(0, text.size() - 1)) {
      if (c < '0' || c > '9' || days > 100'000) return std::nullopt;
      days = days * 10 + static_cast<uint64_t>(c - '0');
    }
    return days * 86'400;
  }
  auto ms = mesh::parseDurationMs(text);
  if (!ms) return std::nullopt;
  return *ms / 1000;
}

EVP_PKEY* CertificateRequest::publicKey() const {
  return X509_REQ_get0_pubkey(req_.get());
}

bool CertificateAuthority::validTrustDomain(std::string_view td) {
  if (td.empty() || td.size() > 255) return false;
  for (char c : td) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool CertificateAuthority::finishAsRoot(std::string& error) {
  // A root signs the leaves itself: it is both the chain sent after each leaf and the bundle.
  X509_up_ref(cert_.get());
  chain_.emplace_back(cert_.get());
  X509_up_ref(cert_.get());
  roots_.emplace_back(cert_.get());
  return finish(error);
}

bool CertificateAuthority::finish(std::string& error) {
  chain_pem_.clear();
  roots_pem_.clear();
  for (const auto& c : chain_) chain_pem_ += certificatePem(c.get());
  for (const auto& c : roots_) roots_pem_ += certificatePem(c.get());
  if (chain_pem_.empty() || roots_pem_.empty()) {
    error = "cannot encode the CA certificates: " + opensslError();
    return false;
  }
  root_expiry_ = unixTime(X509_get0_notAfter(roots_.front().get()));
  own_roots_pem_ = roots_pem_;
  root_count_ = roots_.size();
  return true;
}

bool CertificateAuthority::setExtraRoots(const std::string& pem, std::string* error) {
  std::vector<OpensslPtr<X509>> extra;
  if (!pem.empty() && (!readCertificates(pem, extra) || extra.empty())) {
    if (error) *error = "the other CA's roots: no PEM certificate";
    return false;
  }
  roots_pem_ = own_roots_pem_;
  root_count_ = roots_.size();
  for (const auto& x : extra) {
    const std::string text = certificatePem(x.get());
    if (roots_pem_.find(text) != std::string::npos) continue;  // the same root twice
    roots_pem_ += text;
    ++root_count_;
  }
  return true;
}

std::unique_ptr<CertificateAuthority> CertificateAuthority::createInMemory(
    const std::string& trust_domain, std::string& error) {
  std::unique_ptr<CertificateAuthority> ca(new CertificateAuthority());
  ca->trust_domain_ = trust_domain;
  ca->source_ = "memory";
  if (!makeRoot(trust_domain, ca->key_, ca->cert_, error)) return nullptr;
  if (!ca->finishAsRoot(error)) return nullptr;
  return ca;
}

std::unique_ptr<CertificateAuthority> CertificateAuthority::openOrCreate(
    const std::string& dir_name, const std::string& trust_domain, std::string& error,
    const std::string& common_name) {
  const fs::path dir(dir_name);
  const fs::path key_path = dir / kRootKey;
  const fs::path cert_path = dir / kRootCert;
  std::error_code ec;
  const bool has_key = fs::exists(key_path, ec);
  const bool has_cert = fs::exists(cert_path, ec);
  std::unique_ptr<CertificateAuthority> ca(new CertificateAuthority());
  ca->trust_domain_ = trust_domain;
  ca->source_ = dir.string();

  if (!has_key && !has_cert) {
    // First start: make the root, then write it. The directory is private to the server, and
    // the key file is created 0600 (not chmod'ed afterwards: no moment where others may read).
    fs::create_directories(dir.parent_path().empty() ? fs::path(".") : dir.parent_path(), ec);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      error = "cannot create " + dir.string() + ": " + std::strerror(errno);
      return nullptr;
    }
    if (!makeRoot(trust_domain, ca->key_, ca->cert_, error, common_name)) return nullptr;
    Ptr<BIO> bio(BIO_new(BIO_s_secmem()));  // cleared when freed
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), ca->key_.get(), nullptr, nullptr, 0, nullptr,
                                         nullptr) != 1) {
      error = "cannot encode the root key: " + opensslError();
      return nullptr;
    }
    std::string key_pem = bioText(bio.get());
    const bool written = writeFileAtomically(key_path, key_pem, 0600, error);
    OPENSSL_cleanse(key_pem.data(), key_pem.size());
    if (!written) return nullptr;
    if (!writeFileAtomically(cert_path, certificatePem(ca->cert_.get()), 0644, error)) {
      return nullptr;
    }
    logLine(LogLevel::kInfo,
            "created the root CA in " + dir.string() + " (trust domain " + trust_domain + ")");
  } else if (has_key != has_cert) {
    error = dir.string() + " holds " + (has_key ? kRootKey : kRootCert) + " but not " +
            (has_key ? kRootCert : kRootKey) +
            ": restore the missing file, or remove both to create a new root (certificates "
            "issued by the old one will stop verifying)";
    return nullptr;
  } else {
    if (!(ca->key_ = loadPrivateKey(key_path, error))) return nullptr;
    std::vector<OpensslPtr<X509>> certs;
    std::string text;
    if (!readFile(cert_path, text) || !readCertificates(text, certs) || certs.empty()) {
      error = cert_path.string() + ": not a PEM certificate: " + opensslError();
      return nullptr;
    }
    ca->cert_ = std::move(certs.front());
    if (!checkSigningPair(ca->cert_.get(), ca->key_.get(), cert_path.string(), key_path.string(),
                          error)) {
      return nullptr;
    }
    struct stat st {};
    if (::stat(key_path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      logLine(LogLevel::kWarning, key_path.string() +
                                      " may be read by other users: it should "
                                      "have mode 0600");
    }
    const std::string o = organization(ca->cert_.get());
    if (o != trust_domain) {
      logLine(LogLevel::kWarning, "the root CA in " + dir.string() +
                                      " was made for trust domain '" + o +
                                      "'; identities are now issued in '" + trust_domain + "'");
    }
    logLine(LogLevel::kInfo, "using the root CA in " + dir.string());
  }
  if (!ca->finishAsRoot(error)) return nullptr;
  return ca;
}

std::unique_ptr<CertificateAuthority> CertificateAuthority::loadPlugin(
    const std::string& dir_name, const std::string& trust_domain, std::string& error) {
  const fs::path dir(dir_name);
  std::unique_ptr<CertificateAuthority> ca(new CertificateAuthority());
  ca->trust_domain_ = trust_domain;
  ca->source_ = "plug-in " + dir.string();
  auto certsOf = [&](const char* file, std::vector<OpensslPtr<X509>>& out) {
    std::string text;
    const fs::path path = dir / file;
    if (!readFile(path, text)) {
      error = "cannot read " + path.string();
      return false;
    }
    if (!readCertificates(text, out)) {
      error = path.string() + ": malformed PEM certificate: " + opensslError();
      return false;
    }
    if (out.empty()) {
      error = path.string() + " holds no PEM certificate";
      return false;
    }
    return true;
  };
  std::vector<OpensslPtr<X509>> ca_certs, chain;
  if (!certsOf("ca-cert.pem", ca_certs) || !certsOf("cert-chain.pem", chain) ||
      !certsOf("root-cert.pem", ca->roots_)) {
    return nullptr;
  }
  ca->cert_ = std::move(ca_certs.front());
  const fs::path key_path = dir / "ca-key.pem";
  if (!(ca->key_ = loadPrivateKey(key_path, error))) return nullptr;
  const std::string cert_name = (dir / "ca-cert.pem").string();
  if (!checkSigningPair(ca->cert_.get(), ca->key_.get(), cert_name, key_path.string(), error)) {
    return nullptr;
  }

  // ca-cert must verify up to one of the roots, through the certificates of cert-chain.pem.
  Ptr<X509_STORE> store(X509_STORE_new());
  crypto::BorrowedCertStack untrusted(sk_X509_new_null());  // lends the chain's certificates
  Ptr<X509_STORE_CTX> vctx(X509_STORE_CTX_new());
  if (!store || !untrusted || !vctx) {
    error = "out of memory: " + opensslError();
    return nullptr;
  }
  for (const auto& r : ca->roots_) X509_STORE_add_cert(store.get(), r.get());
  for (const auto& c : chain) sk_X509_push(untrusted.get(), c.get());
  if (X509_STORE_CTX_init(vctx.get(), store.get(), ca->cert_.get(), untrusted.get()) != 1) {
    error = "cannot verify " + cert_name + ": " + opensslError();
    return nullptr;
  }
  if (X509_verify_cert(vctx.get()) != 1) {
    const int e = X509_STORE_CTX_get_error(vctx.get());
    error = cert_name + " does not verify up to " + (dir / "root-cert.pem").string() + " through " +
            (dir / "cert-chain.pem").string() + ": " + X509_verify_cert_error_string(e);
    ERR_clear_error();
    return nullptr;
  }

  // What follows a leaf: ca-cert, then the rest of cert-chain.pem (Istio's layout starts the
  // chain with ca-cert; it is not sent twice).
  X509_up_ref(ca->cert_.get());
  ca->chain_.emplace_back(ca->cert_.get());
  for (auto& c : chain) {
    if (X509_cmp(c.get(), ca->cert_.get()) != 0) ca->chain_.push_back(std::move(c));
  }
  if (!ca->finish(error)) return nullptr;
  logLine(LogLevel::kInfo, "using the plug-in CA in " + dir.string() + " (signing as " +
                               organization(ca->cert_.get()) + ")");
  return ca;
}

std::optional<CertificateRequest> CertificateAuthority::parseRequest(std::string_view pem,
                                                                     std::string& error) const {
  const std::string expected = "spiffe://" + trust_domain_ + "/ns/<namespace>/sa/<service account>";
  if (pem.empty()) {
    error = "'csr' is empty";
    return std::nullopt;
  }
  ERR_clear_error();
  CertificateRequest out;
  bool more = false;
  {
    Ptr<BIO> bio = memBio(pem);
    if (bio) out.req_.reset(PEM_read_bio_X509_REQ(bio.get(), nullptr, noPassphrase, nullptr));
    // One request per call: a second PEM block is an error, not something silently ignored.
    more = out.req_ && bioText(bio.get()).find("-----BEGIN") != std::string::npos;
  }
  if (!out.req_) {
    ERR_clear_error();
    error = "'csr' is not a PEM certificate signing request (-----BEGIN CERTIFICATE REQUEST-----)";
    return std::nullopt;
  }
  if (more) {
    error = "'csr' must hold one PEM certificate signing request, not several PEM blocks";
    return std::nullopt;
  }
  X509_REQ* req = out.req_.get();
  EVP_PKEY* key = X509_REQ_get0_pubkey(req);
  if (!key) {
    ERR_clear_error();
    error = "the CSR's public key cannot be read";
    return std::nullopt;
  }
  if (!acceptedKey(key, error)) return std::nullopt;
  if (X509_REQ_verify(req, key) != 1) {
    ERR_clear_error();
    error = "the CSR's signature does not verify with its public key";
    return std::nullopt;
  }

  // The identity: exactly one URI SAN, and no other name (the leaf carries only the identity).
  Ptr<STACK_OF(X509_EXTENSION)> exts(X509_REQ_get_extensions(req));
  int critical = -1;
  Ptr<GENERAL_NAMES> names;
  if (exts) {
    names.reset(static_cast<GENERAL_NAMES*>(
        X509V3_get_d2i(exts.get(), NID_subject_alt_name, &critical, nullptr)));
  }
  ERR_clear_error();
  if (critical == -2) {
    error = "the CSR has more than one subjectAltName extension";
    return std::nullopt;
  }
  if (!names) {
    error = "the CSR has no subject alternative name: it must carry one URI SAN " + expected;
    return std::nullopt;
  }
  std::vector<std::string> uris;
  int others = 0;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != GEN_URI) {
      ++others;
      continue;
    }
    const ASN1_IA5STRING* s = gn->d.uniformResourceIdentifier;
    uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                      static_cast<size_t>(ASN1_STRING_length(s)));
  }
  if (uris.size() != 1) {
    error = "the CSR must carry exactly one URI SAN (" + expected + "), not " +
            std::to_string(uris.size());
    return std::nullopt;
  }
  if (others > 0) {
    error =
        "the CSR may only carry the SPIFFE URI SAN: DNS, IP and other names are not "
        "certified";
    return std::nullopt;
  }
  const std::string& uri = uris.front();
  constexpr std::string_view kScheme = "spiffe://";
  if (uri.find('\0') != std::string::npos || uri.compare(0, kScheme.size(), kScheme) != 0) {
    error = "the CSR's URI SAN '" + uri + "' is not a SPIFFE ID (" + expected + ")";
    return std::nullopt;
  }
  const std::string_view rest = std::string_view(uri).substr(kScheme.size());
  const size_t slash = rest.find('/');
  const std::string_view td = rest.substr(0, slash);
  if (td != trust_domain_) {
    error = "the identity " + uri + " is not in the trust domain '" + trust_domain_ + "'";
    return std::nullopt;
  }
  // /ns/<ns>/sa/<sa>
  std::vector<std::string_view> seg;
  if (slash != std::string_view::npos) {
    std::string_view path = rest.substr(slash + 1);
    while (true) {
      const size_t p = path.find('/');
      seg.push_back(path.substr(0, p));
      if (p == std::string_view::npos) break;
      path.remove_prefix(p + 1);
    }
  }
  if (seg.size() != 4 || seg[0] != "ns" || seg[2] != "sa" || !validSegment(seg[1]) ||
      !validSegment(seg[3])) {
    error = "the identity " + uri + " is not of the form " + expected;
    return std::nullopt;
  }
  out.identity_ = uri;
  out.namespace_ = std::string(seg[1]);
  out.service_account_ = std::string(seg[3]);
  return out;
}

std::optional<IssuedCertificate> CertificateAuthority::sign(const CertificateRequest& request,
                                                            uint64_t ttl_seconds,
                                                            std::string& error) const {
  ERR_clear_error();
  OpensslPtr<X509> leaf(X509_new());
  Ptr<GENERAL_NAMES> names(GENERAL_NAMES_new());
  Ptr<GENERAL_NAME> name(GENERAL_NAME_new());
  Ptr<ASN1_IA5STRING> uri(ASN1_IA5STRING_new());
  if (!leaf || !names || !name || !uri) {
    error = "out of memory: " + opensslError();
    return std::nullopt;
  }
  X509* x = leaf.get();
  const time_t now = std::time(nullptr);
  // A leaf never outlives the certificate that signs it.
  int64_t not_after = static_cast<int64_t>(now) + static_cast<int64_t>(ttl_seconds);
  not_after = std::min(not_after, unixTime(X509_get0_notAfter(cert_.get())));

  // The only name: the identity checked by parseRequest (nothing is copied from the CSR but its
  // public key). With an empty subject, RFC 5280 wants the SAN critical.
  const std::string& id = request.identity();
  if (ASN1_STRING_set(uri.get(), id.data(), static_cast<int>(id.size())) != 1) {
    error = "out of memory: " + opensslError();
    return std::nullopt;
  }
  GENERAL_NAME_set0_value(name.get(), GEN_URI, uri.release());
  if (sk_GENERAL_NAME_push(names.get(), name.get()) <= 0) {
    error = "out of memory: " + opensslError();
    return std::nullopt;
  }
  name.release();  // owned by `names` now

  X509V3_CTX ctx{};
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert_.get(), x, nullptr, nullptr, 0);
  const bool ok =
      X509_set_version(x, X509_VERSION_3) == 1 && setRandomSerial(x) &&
      X509_set_issuer_name(x, X509_get_subject_name(cert_.get())) == 1 &&
      ASN1_TIME_adj(X509_getm_notBefore(x), now, 0, -kClockSkewSeconds) != nullptr &&
      ASN1_TIME_set(X509_getm_notAfter(x), static_cast<time_t>(not_after)) != nullptr &&
      X509_set_pubkey(x, request.publicKey()) == 1 &&
      X509_add1_ext_i2d(x, NID_subject_alt_name, names.get(), 1, X509V3_ADD_DEFAULT) == 1 &&
      addExtension(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
      addExtension(x, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
      addExtension(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth") &&
      addExtension(x, &ctx, NID_subject_key_identifier, "hash") &&
      addExtension(x, &ctx, NID_authority_key_identifier, "keyid,issuer") &&
      X509_sign(x, key_.get(), digestFor(key_.get())) > 0;
  if (!ok) {
    error = "cannot sign the certificate: " + opensslError();
    return std::nullopt;
  }
  IssuedCertificate out;
  out.certificate_chain = certificatePem(x);
  if (out.certificate_chain.empty()) {
    error = "cannot encode the certificate: " + opensslError();
    return std::nullopt;
  }
  out.certificate_chain += chain_pem_;
  out.root_certificates = roots_pem_;
  out.identity = id;
  out.expires_at = not_after;
  out.serial = serialText(x);
  return out;
}

}  // namespace weft::control

namespace weft::control {

std::string certificateFingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!cert || X509_digest(cert, EVP_sha256(), md, &len) != 1) return {};
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

std::string CertificateAuthority::signingRootFingerprint() const {
  return chain_.empty() ? std::string() : certificateFingerprint(chain_.back().get());
}

std::string controlPlaneIdentity(std::string_view trust_domain) {
  return "spiffe://" + std::string(trust_domain) + "/ns/istio-system/sa/weft-control";
}

std::optional<ServerCertificate> CertificateAuthority::issueServerCertificate(
    const std::vector<std::string>& names, uint64_t ttl_seconds, std::string& error) const {
  ERR_clear_error();
  OpensslPtr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  OpensslPtr<X509> leaf(X509_new());
  if (!key || !leaf) {
    error = "cannot make the server key: " + opensslError();
    return std::nullopt;
  }
  std::string san;
  for (const auto& n : names) san += n + ",";
  san += "URI:" + controlPlaneIdentity(trust_domain_);
  X509* x = leaf.get();
  const time_t now = std::time(nullptr);
  int64_t not_after = static_cast<int64_t>(now) + static_cast<int64_t>(ttl_seconds);
  not_after = std::min(not_after, unixTime(X509_get0_notAfter(cert_.get())));
  X509_NAME* subject = X509_get_subject_name(x);
  const auto* cn = reinterpret_cast<const unsigned char*>("weft-control");
  X509V3_CTX ctx{};
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert_.get(), x, nullptr, nullptr, 0);
  const bool ok =
      X509_set_version(x, X509_VERSION_3) == 1 && setRandomSerial(x) &&
      X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, cn, -1, -1, 0) == 1 &&
      X509_set_issuer_name(x, X509_get_subject_name(cert_.get())) == 1 &&
      ASN1_TIME_adj(X509_getm_notBefore(x), now, 0, -kClockSkewSeconds) != nullptr &&
      ASN1_TIME_set(X509_getm_notAfter(x), static_cast<time_t>(not_after)) != nullptr &&
      X509_set_pubkey(x, key.get()) == 1 &&
      addExtension(x, &ctx, NID_subject_alt_name, san.c_str()) &&
      addExtension(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
      addExtension(x, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
      addExtension(x, &ctx, NID_ext_key_usage, "serverAuth") &&
      addExtension(x, &ctx, NID_subject_key_identifier, "hash") &&
      addExtension(x, &ctx, NID_authority_key_identifier, "keyid,issuer") &&
      X509_sign(x, key_.get(), digestFor(key_.get())) > 0;
  if (!ok) {
    error = "cannot make the server certificate: " + opensslError();
    return std::nullopt;
  }
  ServerCertificate out;
  out.chain_pem = certificatePem(x) + chain_pem_;
  Ptr<BIO> bio(BIO_new(BIO_s_secmem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    error = "cannot encode the server key: " + opensslError();
    return std::nullopt;
  }
  out.key_pem = bioText(bio.get());
  out.expires_at = not_after;
  return out;
}

}  // namespace weft::control
