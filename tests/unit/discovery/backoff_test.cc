// Backoff: exponential growth, bounds, jitter and reset.
#include "discovery/backoff.h"

#include <gtest/gtest.h>

#include <set>

namespace weft::discovery {
namespace {

TEST(BackoffTest, FirstDelayIsTheMinimum) {
  for (uint64_t seed = 0; seed < 50; ++seed) {
    Backoff b({500, 15'000}, seed);
    EXPECT_EQ(b.next(), 500u) << "seed " << seed;
  }
}

TEST(BackoffTest, GrowsExponentiallyWithinHalfToFullBase) {
  Backoff b({500, 15'000}, 42);
  const uint32_t bases[] = {500, 1000, 2000, 4000, 8000, 15'000, 15'000, 15'000};
  for (uint32_t base : bases) {
    uint32_t d = b.next();
    EXPECT_GE(d, std::max(500u, base / 2)) << "base " << base;
    EXPECT_LE(d, base) << "base " << base;
  }
}

TEST(BackoffTest, NeverLeavesTheBoundsAfterManyFailures) {
  Backoff b({500, 15'000}, 7);
  for (int i = 0; i < 1000; ++i) {
    uint32_t d = b.next();
    EXPECT_GE(d, 500u);
    EXPECT_LE(d, 15'000u);
  }
  EXPECT_GE(b.next(), 7'500u);  // capped base: [max/2, max]
}

TEST(BackoffTest, IsJittered) {
  std::set<uint32_t> seen;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    Backoff b({500, 15'000}, seed);
    for (int i = 0; i < 5; ++i) b.next();
    seen.insert(b.next());  // the 6th delay: base 15 s capped
  }
  EXPECT_GT(seen.size(), 10u) << "delays of different sidecars must spread out";
}

TEST(BackoffTest, ResetStartsAgainAtTheMinimum) {
  Backoff b({500, 15'000}, 1);
  for (int i = 0; i < 6; ++i) b.next();
  EXPECT_EQ(b.failures(), 6u);
  b.reset();
  EXPECT_EQ(b.failures(), 0u);
  EXPECT_EQ(b.next(), 500u);
  uint32_t second = b.next();
  EXPECT_GE(second, 500u);
  EXPECT_LE(second, 1000u);
}

}  // namespace
}  // namespace weft::discovery
