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
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>

#include "discovery/backoff.h"
#include "identity/provider.h"
#include "identity/stop_signal.h"

namespace weft::identity {

struct CsrProviderOptions {
  std::string base_url;  // http://host:port, for logs
  std::string host;      // numeric address
  uint16_t port = 0;
  std::string token;         // bearer token
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

 private:
  void run();

  CsrProviderOptions options_;
  StopSignal stop_;
  std::thread thread_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace weft::identity
