// ControlPlaneAuth (see control_plane_auth.h).
#include "discovery/control_plane_auth.h"

#include "server/log.h"

namespace weft::discovery {

using server::LogLevel;
using server::logLine;

ControlPlaneAuth::ControlPlaneAuth(std::string token, std::string ca_pem, std::string trust_domain)
    : token_(std::move(token)), ca_pem_(std::move(ca_pem)), trust_domain_(std::move(trust_domain)) {
  if (!https()) return;
  auto c = std::make_shared<Contexts>();
  std::string error;
  c->token_only = ClientTls::make(ca_pem_, "", "", trust_domain_, error);
  if (!c->token_only) logLine(LogLevel::kError, "control plane ca_certificate: " + error);
  contexts_ = std::move(c);
}

void ControlPlaneAuth::setIdentity(const std::string& chain_pem, const std::string& key_pem,
                                   const std::string& roots_pem) {
  if (!https()) return;
  const std::string roots = ca_pem_ + "\n" + roots_pem;
  auto c = std::make_shared<Contexts>();
  std::string error;
  c->token_only = ClientTls::make(roots, "", "", trust_domain_, error);
  c->with_certificate = ClientTls::make(roots, chain_pem, key_pem, trust_domain_, error);
  if (!c->with_certificate || !c->token_only) {
    logLine(LogLevel::kWarning,
            "control plane TLS: the workload certificate cannot be used as "
            "client certificate: " +
                error);
    return;
  }
  std::lock_guard lock(mutex_);
  contexts_ = std::move(c);
}

std::shared_ptr<const ControlPlaneAuth::Contexts> ControlPlaneAuth::contexts() const {
  std::lock_guard lock(mutex_);
  return contexts_;
}

std::string ControlPlaneAuth::lastCredential() const {
  switch (last_credential_.load()) {
    case 1:
      return "certificate";
    case 2:
      return "token";
    default:
      return "";
  }
}

HttpAnswer ControlPlaneAuth::perform(HttpCall call, int wake_fd) const {
  auto withToken = [&](HttpCall& c) {
    c.headers.emplace_back("authorization", "Bearer " + token_);
  };
  if (!https()) {
    withToken(call);
    HttpAnswer a = performHttp(call, wake_fd);
    if (a.status != 0) last_credential_.store(2);
    return a;
  }
  auto ctx = contexts();
  if (ctx && ctx->with_certificate) {
    HttpCall c = call;
    c.tls = ctx->with_certificate;
    HttpAnswer a = performHttp(c, wake_fd);
    if (a.aborted || (a.status != 0 && a.status != 401) || (a.status == 0 && !a.tls_failure)) {
      if (a.status != 0) {
        if (last_credential_.exchange(1) != 1) {
          logLine(LogLevel::kInfo,
                  "control plane: authenticating with the workload certificate from now on");
        }
      }
      return a;
    }
    logLine(LogLevel::kWarning, "control plane refused the workload certificate (" +
                                    (a.status ? "HTTP " + std::to_string(a.status) : a.error) +
                                    "); trying the bootstrap token");
  }
  call.tls = ctx ? ctx->token_only : nullptr;
  if (!call.tls) {
    HttpAnswer a;
    a.error = "no usable TLS context for the control plane (see ca_certificate)";
    return a;
  }
  withToken(call);
  HttpAnswer a = performHttp(call, wake_fd);
  if (a.status != 0) last_credential_.store(2);
  return a;
}

}  // namespace weft::discovery
