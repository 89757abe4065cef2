// CsrIdentityProvider (dynamic mode): the identity from the control plane's certificate
// authority (docs/security.md). On a thread of its own it makes an EC P-256 key in memory (it
// is never written anywhere), sends a CSR for spiffe://<trust domain>/ns/<namespace>/sa/<service
// account> to POST /v1/certificates with the bootstrap's token, checks the answer (key, chain up
// to the trust bundle, the identity asked for) and makes it current. It renews at about half
// the remaining lifetime (±10 %), with a fresh key each time; a failure is retried with the
// control-plane client's jittered back-off (0.5 s .. 15 s) while the current identity, if any,
// stays in place until a new one is in hand.
//
// Why its own thread and not the config client's: that thread spends up to 30 s in a long poll
// and then waits for the main thread to apply a configuration, so a renewal could be held up
// behind a configuration, and a control plane slow to push would delay certificates. A thread
// that sleeps until the next renewal costs little and keeps the two independent.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>

#include "discovery/backoff.h"
#include "discovery/control_plane_auth.h"
#include "identity/provider.h"
#include "identity/stop_signal.h"

namespace weft::identity {

struct CsrProviderOptions {
  std::string base_url;  // http://host:port, for logs
  std::string host;      // numeric address
  uint16_t port = 0;
  std::string token;  // bearer token (used when `auth` is not set)
  // Credentials and TLS (https://); null: plain HTTP with `token`.
  std::shared_ptr<const discovery::ControlPlaneAuth> auth;
  std::string spiffe_id;     // what to ask for
  uint64_t ttl_seconds = 0;  // 0: send no ttl (the CA's default lifetime)
  uint32_t connect_timeout_ms = 2'000;
  uint32_t request_timeout_ms = 10'000;
  discovery::BackoffPolicy backoff;
};

// The body of POST /v1/certificates: {"csr": "...", "ttl": "<n>s"} (no ttl when 0).
std::string certificateRequestJson(const std::string& csr_pem, uint64_t ttl_seconds);

// A 200 answer of POST /v1/certificates, with the key the CSR was made from: the identity, after
// the checks of buildIdentity() and that it is `expected_id`. nullopt and the reason otherwise.
std::optional<WorkloadIdentity> parseCertificateResponse(std::string_view body,
                                                         const std::string& key_pem,
                                                         const std::string& expected_id,
                                                         std::string& error);

// When to renew, in milliseconds from `now` (unix seconds): half of the lifetime left at
// `received` (when the certificate arrived; the CA back-dates notBefore by a minute, so notBefore
// would make a short certificate look half-spent on arrival), times (1 + jitter) with jitter in
// [-0.1, 0.1]. Never below 1 s; 1 s if the certificate has already expired.
uint64_t renewalDelayMs(int64_t received, int64_t not_after, int64_t now, double jitter);

// The fingerprint the control plane names its signing root with: SHA-256 of the DER of the last
// certificate of `chain_pem` (the root the chain ends at), lower-case hex; "" if none.
std::string chainRootFingerprint(const std::string& chain_pem);

class CsrIdentityProvider : public IdentityProvider {
 public:
  explicit CsrIdentityProvider(CsrProviderOptions options);
  ~CsrIdentityProvider() override;

  void start() override;
  void stop() override;
  const char* source() const override { return "control_plane"; }

  // One request, on the caller's thread (tests): a new key, a CSR, the call, the checks.
  // Publishes and returns true on success; otherwise `error` says why.
  bool renewOnce(std::string& error);

  // Any thread: the control plane pushed this trust bundle (discovery::TrustBundle). If its
  // roots differ from the current identity's, a new identity with the same certificate and key
  // and these roots is published; if the certificate no longer verifies against them, or
  // `signing_root` is not the root the certificate chains to (a root rotation), a new
  // certificate is requested at once.
  void updateTrustBundle(std::string roots_pem, std::string signing_root);
  // The bundle handling, on the caller's thread (tests): true if a new certificate is needed.
  bool applyTrustBundle(const std::string& roots_pem, const std::string& signing_root);

 private:
  void run();
  // Waits `ms` unless stopped (false) or woken by a trust bundle (true, *woken set).
  bool waitFor(uint64_t ms, bool* woken);

  CsrProviderOptions options_;
  StopSignal stop_;
  int wake_pipe_[2] = {-1, -1};  // updateTrustBundle() writes a byte
  std::mutex bundle_mutex_;
  std::optional<std::pair<std::string, std::string>> pending_bundle_;  // roots, signing root
  std::thread thread_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace weft::identity
