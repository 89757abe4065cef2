// Backoff (see backoff.h).
#include "discovery/backoff.h"

#include <algorithm>

namespace weft::discovery {

Backoff::Backoff(BackoffPolicy policy, uint64_t seed) : policy_(policy), rng_(seed) {
  if (policy_.min_ms == 0) policy_.min_ms = 1;
  policy_.max_ms = std::max(policy_.max_ms, policy_.min_ms);
}

uint32_t Backoff::next() {
  uint64_t base = policy_.min_ms;
  for (uint32_t i = 0; i < failures_ && base < policy_.max_ms; ++i) base *= 2;
  base = std::min<uint64_t>(base, policy_.max_ms);
  if (failures_ < 64) ++failures_;
  std::uniform_int_distribution<uint64_t> pick(base / 2, base);
  return static_cast<uint32_t>(std::max<uint64_t>(pick(rng_), policy_.min_ms));
}

}  // namespace weft::discovery
