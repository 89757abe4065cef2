// ClientTls (see tls_client.h).
#include "discovery/tls_client.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <vector>

#include "tls/context.h"

namespace weft::discovery {

namespace {

std::vector<tls::OpensslPtr<X509>> readCerts(const std::string& pem) {
  std::vector<tls::OpensslPtr<X509>> out;
  tls::OpensslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  while (bio) {
    X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (!x) break;
    out.emplace_back(x);
  }
  ERR_clear_error();
  return out;
}

}  // namespace

ClientTls::~ClientTls() {
  if (ctx_) SSL_CTX_free(ctx_);
}

std::shared_ptr<const ClientTls> ClientTls::make(const std::string& roots_pem,
                                                 const std::string& chain_pem,
                                                 const std::string& key_pem,
                                                 const std::string& trust_domain,
                                                 std::string& error) {
  ERR_clear_error();
  std::shared_ptr<ClientTls> c(new ClientTls());
  c->trust_domain_ = trust_domain;
  c->ctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX* ctx = c->ctx_;
  if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
    error = tls::drainOpensslErrors("TLS context");
    return nullptr;
  }
  auto roots = readCerts(roots_pem);
  if (roots.empty()) {
    error = "no PEM certificate among the control plane's roots";
    return nullptr;
  }
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (auto& r : roots) {
    if (X509_STORE_add_cert(store, r.get()) != 1) {
      // The same root twice (the bootstrap's file and the pushed bundle) is not an error.
      ERR_clear_error();
    }
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!chain_pem.empty()) {
    auto chain = readCerts(chain_pem);
    tls::OpensslPtr<BIO> kb(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
    tls::OpensslPtr<EVP_PKEY> key(kb ? PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr)
                                     : nullptr);
    tls::OpensslPtr<STACK_OF(X509)> extra(sk_X509_new_null());
    if (chain.empty() || !key || !extra) {
      error = tls::drainOpensslErrors("client certificate or key");
      return nullptr;
    }
    for (size_t i = 1; i < chain.size(); ++i) {
      if (sk_X509_push(extra.get(), chain[i].get()) <= 0) {
        error = tls::drainOpensslErrors("client certificate chain");
        return nullptr;
      }
      chain[i].release();
    }
    if (SSL_CTX_use_cert_and_key(ctx, chain[0].get(), key.get(), extra.get(), 1) != 1) {
      error = tls::drainOpensslErrors("client certificate and key");
      return nullptr;
    }
    c->client_certificate_ = true;
  }
  ERR_clear_error();
  return c;
}

std::string ClientTls::checkServer(const std::string& spiffe_id) const {
  const std::string expected =
      "spiffe://" + (trust_domain_.empty() ? std::string("<trust domain>") : trust_domain_) +
      kControlPlanePath;
  if (spiffe_id.empty()) {
    return "the server's certificate carries no SPIFFE ID (expected " + expected + ")";
  }
  const std::string path = kControlPlanePath;
  bool ok = spiffe_id.size() > 9 + path.size() && spiffe_id.rfind("spiffe://", 0) == 0 &&
            spiffe_id.compare(spiffe_id.size() - path.size(), path.size(), path) == 0;
  if (ok && !trust_domain_.empty()) ok = spiffe_id == "spiffe://" + trust_domain_ + path;
  if (ok && trust_domain_.empty()) {
    // Any trust domain, but nothing between it and the path.
    const std::string td = spiffe_id.substr(9, spiffe_id.size() - 9 - path.size());
    ok = !td.empty() && td.find('/') == std::string::npos;
  }
  return ok ? ""
            : "the server's identity " + spiffe_id + " is not the control plane's (" + expected +
                  ")";
}

}  // namespace weft::discovery
