// Outlier detection in the load balancer: consecutive-error counting, ejection limits, the
// ejection time, and Istio's no-panic default.
#include <gtest/gtest.h>

#include "upstream/load_balancer.h"

namespace weft::upstream {
namespace {

uint64_t counterRandom() {
  static uint64_t n = 0;
  return n++ * 0x9E3779B97F4A7C15ull;
}

struct Cluster {
  mesh::Cluster cluster;
  ClusterState state;
  EndpointCounters counters[4];

  explicit Cluster(size_t endpoints, mesh::OutlierPolicy policy) {
    policy.enabled = true;
    cluster.outlier = policy;
    cluster.lb = mesh::LbPolicy::kRoundRobin;
    state.cluster = &cluster;
    for (size_t i = 0; i < endpoints; ++i) {
      EndpointState e;
      e.index = static_cast<uint32_t>(i);
      e.counters = &counters[i];
      state.endpoints.push_back(e);
      state.total_weight += 1;
    }
  }
  bool picks(int endpoint, uint64_t now, int draws = 50) {
    for (int i = 0; i < draws; ++i) {
      if (pickEndpoint(state, counterRandom, now) == endpoint) return true;
    }
    return false;
  }
};

mesh::OutlierPolicy everything(uint32_t consecutive_5xx) {
  mesh::OutlierPolicy p;
  p.consecutive_5xx = consecutive_5xx;
  p.max_ejection_percent = 100;
  p.base_ejection_ms = 1000;
  return p;
}

TEST(OutlierDetection, EjectsAfterConsecutive5xxAndReturnsAfterTheEjectionTime) {
  Cluster c(2, everything(3));
  EXPECT_FALSE(recordOutcome(c.state, 0, Outcome::k5xx, 100));
  EXPECT_FALSE(recordOutcome(c.state, 0, Outcome::kGatewayError, 100));
  EXPECT_TRUE(recordOutcome(c.state, 0, Outcome::kLocalFailure, 100));
  EXPECT_EQ(c.counters[0].ejections.load(), 1u);
  EXPECT_EQ(c.counters[0].ejected.load(), 1);
  EXPECT_FALSE(c.picks(0, 500)) << "an ejected endpoint must be skipped";
  EXPECT_TRUE(c.picks(0, 1101)) << "back once baseEjectionTime has passed";
  EXPECT_EQ(c.counters[0].ejected.load(), 0);
}

TEST(OutlierDetection, SuccessResetsTheCount) {
  Cluster c(2, everything(2));
  recordOutcome(c.state, 0, Outcome::k5xx, 0);
  recordOutcome(c.state, 0, Outcome::kSuccess, 0);
  EXPECT_FALSE(recordOutcome(c.state, 0, Outcome::k5xx, 0)) << "not consecutive";
}

TEST(OutlierDetection, EjectionTimeGrowsWithEachEjection) {
  Cluster c(2, everything(1));
  ASSERT_TRUE(recordOutcome(c.state, 0, Outcome::k5xx, 0));
  ASSERT_TRUE(c.picks(0, 1001));
  ASSERT_TRUE(recordOutcome(c.state, 0, Outcome::k5xx, 2000));
  EXPECT_FALSE(c.picks(0, 3500)) << "second ejection lasts 2 x base";
  EXPECT_TRUE(c.picks(0, 4001));
}

TEST(OutlierDetection, DefaultMaxEjectionPercentEjectsNothingUnderTenHosts) {
  mesh::OutlierPolicy p;  // Istio's defaults: 5 consecutive 5xx, 10 % max ejection
  Cluster c(4, p);
  c.cluster.outlier.enabled = true;
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(recordOutcome(c.state, 0, Outcome::k5xx, 0));
  EXPECT_TRUE(c.picks(0, 1));
}

TEST(OutlierDetection, GatewayErrorsCountSeparately) {
  mesh::OutlierPolicy p = everything(0);  // 5xx counting disabled
  p.consecutive_gateway = 2;
  Cluster c(2, p);
  EXPECT_FALSE(recordOutcome(c.state, 1, Outcome::kGatewayError, 0));
  EXPECT_FALSE(recordOutcome(c.state, 1, Outcome::k5xx, 0)) << "a 500 resets the gateway count";
  EXPECT_FALSE(recordOutcome(c.state, 1, Outcome::kGatewayError, 0));
  EXPECT_TRUE(recordOutcome(c.state, 1, Outcome::kGatewayError, 0));
}

TEST(OutlierDetection, LocalOriginErrorsSplitOut) {
  mesh::OutlierPolicy p = everything(1);
  p.split_local_origin = true;
  p.consecutive_local_origin = 2;
  Cluster c(2, p);
  EXPECT_FALSE(recordOutcome(c.state, 0, Outcome::kLocalFailure, 0))
      << "split: a connect failure is not a 5xx";
  EXPECT_TRUE(recordOutcome(c.state, 0, Outcome::kLocalFailure, 0));
}

TEST(OutlierDetection, AllEjectedMeansNoHealthyUpstreamByDefault) {
  Cluster c(2, everything(1));
  ASSERT_TRUE(recordOutcome(c.state, 0, Outcome::k5xx, 0));
  ASSERT_TRUE(recordOutcome(c.state, 1, Outcome::k5xx, 0));
  EXPECT_EQ(pickEndpoint(c.state, counterRandom, 10), -1) << "minHealthPercent 0: no panic";
}

TEST(OutlierDetection, PanicBelowMinHealthPercentUsesEveryEndpoint) {
  mesh::OutlierPolicy p = everything(1);
  p.min_health_percent = 60;
  Cluster c(2, p);
  ASSERT_TRUE(recordOutcome(c.state, 0, Outcome::k5xx, 0));
  EXPECT_TRUE(c.picks(0, 10)) << "50% healthy < 60%: ejections are ignored";
}

TEST(OutlierDetection, DisabledPolicyNeverEjects) {
  Cluster c(2, everything(1));
  c.cluster.outlier.enabled = false;
  EXPECT_FALSE(recordOutcome(c.state, 0, Outcome::k5xx, 0));
  EXPECT_TRUE(c.picks(0, 1));
}

}  // namespace
}  // namespace weft::upstream
