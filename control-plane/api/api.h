// Api: the control plane's HTTP API (docs/control-plane.md): bearer authentication, then one
// handler per route over the store, the registry and the push engine.
#pragma once

#include <string>

#include "api/http_server.h"
#include "api/tokens.h"
#include "ca/ca.h"
#include "ca/rotation.h"
#include "push/metrics.h"
#include "push/push.h"
#include "registry/registry.h"
#include "store/store.h"

namespace weft::control {

// The caller a client certificate's SPIFFE ID stands for: a token bound to its namespace and
// service account. nullopt for another trust domain, a malformed ID, or the control plane's own
// identity.
std::optional<Token> callerOf(std::string_view spiffe_id, std::string_view trust_domain);

struct ApiOptions {
  uint64_t default_wait_ms = 30'000;
  uint64_t max_wait_ms = 60'000;
};

class Api {
 public:
  // `tokens` null: authentication is off (every caller is an operator).
  Api(uv_loop_t* loop, Store& store, Registry& registry, PushEngine& push, ControlMetrics& metrics,
      const TokenSet* tokens, ApiOptions options = {})
      : loop_(loop),
        store_(store),
        registry_(registry),
        push_(push),
        metrics_(metrics),
        tokens_(tokens),
        options_(options) {}

  void handle(const HttpRequestPtr& request);
  void setReady(bool ready) { ready_ = ready; }
  // Enables POST /v1/certificates; `default_ttl_seconds` is the lifetime of a certificate whose
  // request names none. Without a CA that route answers 503.
  void setCertificateAuthority(const CertificateAuthority* ca, uint64_t default_ttl_seconds) {
    ca_ = ca;
    default_cert_ttl_s_ = default_ttl_seconds;
  }
  // Root rotation (docs/security.md): certificates are signed by the manager's current signer,
  // each issue is recorded with it, and GET /v1/ca and POST /v1/ca/rotate (operators) are
  // served. `on_change` runs after a rotation starts (the caller publishes the new bundle).
  void setCaManager(CaManager* manager, std::function<void()> on_change) {
    ca_manager_ = manager;
    on_ca_change_ = std::move(on_change);
  }
  bool ready() const { return ready_; }

 private:
  const CertificateAuthority* certificateAuthority() const;
  void caRoutes(const HttpRequestPtr& r, const std::vector<std::string>& parts);
  void nodes(const HttpRequestPtr& r, const Token& token, const std::vector<std::string>& parts);
  void resources(const HttpRequestPtr& r, const std::vector<std::string>& parts);
  void registerNode(const HttpRequestPtr& r, const Token& token);
  void nodeStatus(const HttpRequestPtr& r);
  void targets(const HttpRequestPtr& r);
  void explain(const HttpRequestPtr& r);
  void certificates(const HttpRequestPtr& r, const Token& token);

  uv_loop_t* loop_;
  Store& store_;
  Registry& registry_;
  PushEngine& push_;
  ControlMetrics& metrics_;
  const TokenSet* tokens_;
  ApiOptions options_;
  bool ready_ = false;
  const CertificateAuthority* ca_ = nullptr;
  uint64_t default_cert_ttl_s_ = kDefaultCertTtlSeconds;
  CaManager* ca_manager_ = nullptr;
  std::function<void()> on_ca_change_;
};

}  // namespace weft::control
