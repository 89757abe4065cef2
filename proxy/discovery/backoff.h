// Backoff: jittered exponential back-off for retrying the control plane. The n-th delay in a row
// is drawn uniformly from [base/2, base] with base = min * 2^n capped at max, and never below min
// ("equal jitter": retries of many sidecars spread out, yet each keeps a floor).
#pragma once

#include <cstdint>
#include <random>

namespace weft::discovery {

struct BackoffPolicy {
  uint32_t min_ms = 500;
  uint32_t max_ms = 15'000;
};

class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy = {}, uint64_t seed = std::random_device{}());

  // The delay before the next retry, in milliseconds; each call counts one more failure.
  uint32_t next();
  // After a success: the next failure starts again at the minimum.
  void reset() { failures_ = 0; }
  uint32_t failures() const { return failures_; }

 private:
  BackoffPolicy policy_;
  uint32_t failures_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace weft::discovery
