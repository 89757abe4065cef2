// Load balancing policies and the per-worker endpoint counters table.
#include "upstream/load_balancer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace weft::upstream {
namespace {

// The random source handed to pickEndpoint: a scripted sequence, or splitmix64 when empty.
std::vector<uint64_t> g_script;
size_t g_next = 0;
int g_calls = 0;
uint64_t g_state = 0;

uint64_t scriptedRandom() {
  ++g_calls;
  if (g_next < g_script.size()) return g_script[g_next++];
  g_state += 0x9E3779B97F4A7C15ull;
  uint64_t z = g_state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void script(std::vector<uint64_t> values) {
  g_script = std::move(values);
  g_next = 0;
  g_calls = 0;
}

void uniform(uint64_t seed) {
  script({});
  g_state = seed;
}

struct TestCluster {
  mesh::Cluster cluster;
  ClusterState state;

  TestCluster(mesh::LbPolicy lb, const std::vector<uint32_t>& weights) {
    cluster.name = "outbound|9080||svc";
    cluster.lb = lb;
    for (size_t i = 0; i < weights.size(); ++i) {
      mesh::Endpoint ep;
      ep.address = "10.0.0." + std::to_string(i + 1);
      ep.port = 9080;
      ep.weight = weights[i];
      cluster.endpoints.push_back(ep);
    }
    state.cluster = &cluster;
    for (uint32_t w : weights) {
      EndpointState e;
      e.weight = w;
      state.endpoints.push_back(e);
      state.total_weight += w;
    }
  }
  TestCluster(const TestCluster&) = delete;
  TestCluster& operator=(const TestCluster&) = delete;

  int pick() { return pickEndpoint(state, scriptedRandom); }

  std::vector<double> shares(int draws) {
    std::vector<int> counts(state.endpoints.size(), 0);
    for (int i = 0; i < draws; ++i) {
      int e = pick();
      if (e < 0 || static_cast<size_t>(e) >= counts.size()) {
        ADD_FAILURE() << "out of range: " << e;
        return {};
      }
      ++counts[e];
    }
    std::vector<double> out;
    for (int c : counts) out.push_back(c / static_cast<double>(draws));
    return out;
  }
};

constexpr int kDraws = 100'000;

// ---------------------------------------------------------------------------------------------
// Edge cases shared by every policy

TEST(PickEndpointTest, EmptyClusterIsMinusOne) {
  for (auto lb : {mesh::LbPolicy::kRoundRobin, mesh::LbPolicy::kLeastRequest,
                  mesh::LbPolicy::kRandom, mesh::LbPolicy::kPassthrough}) {
    TestCluster c(lb, {});
    script({});
    EXPECT_EQ(c.pick(), -1) << mesh::toString(lb);
    EXPECT_EQ(g_calls, 0);
  }
}

TEST(PickEndpointTest, AllZeroWeightsIsMinusOne) {
  TestCluster c(mesh::LbPolicy::kRandom, {0, 0});
  EXPECT_EQ(c.pick(), -1);
}

TEST(PickEndpointTest, SingleEndpointIsZero) {
  for (auto lb : {mesh::LbPolicy::kRoundRobin, mesh::LbPolicy::kLeastRequest,
                  mesh::LbPolicy::kRandom, mesh::LbPolicy::kPassthrough}) {
    TestCluster c(lb, {3});
    script({});
    for (int i = 0; i < 5; ++i) EXPECT_EQ(c.pick(), 0) << mesh::toString(lb);
    EXPECT_EQ(g_calls, 0) << mesh::toString(lb);
  }
}

// ---------------------------------------------------------------------------------------------
// ROUND_ROBIN

TEST(RoundRobinTest, SmoothWeightedSequenceOfNginx) {
  TestCluster c(mesh::LbPolicy::kRoundRobin, {5, 1, 1});
  script({});
  std::string seq;
  for (int i = 0; i < 21; ++i) seq += static_cast<char>('a' + c.pick());
  EXPECT_EQ(seq,
            "aabacaa"
            "aabacaa"
            "aabacaa");
  EXPECT_EQ(g_calls, 0);  // round robin uses no randomness
  for (const auto& e : c.state.endpoints) EXPECT_EQ(e.current_weight, 0);
}

TEST(RoundRobinTest, EqualWeightsRotate) {
  TestCluster c(mesh::LbPolicy::kRoundRobin, {1, 1, 1});
  std::vector<int> seq;
  for (int i = 0; i < 6; ++i) seq.push_back(c.pick());
  EXPECT_EQ(seq, (std::vector<int>{0, 1, 2, 0, 1, 2}));
}

TEST(RoundRobinTest, InterleavesTwoToOne) {
  TestCluster c(mesh::LbPolicy::kRoundRobin, {1, 2});
  std::vector<int> seq;
  for (int i = 0; i < 6; ++i) seq.push_back(c.pick());
  EXPECT_EQ(seq, (std::vector<int>{1, 0, 1, 1, 0, 1}));
}

TEST(RoundRobinTest, ZeroWeightNeverChosen) {
  TestCluster c(mesh::LbPolicy::kRoundRobin, {0, 2, 1});
  std::vector<int> counts(3, 0);
  for (int i = 0; i < 300; ++i) ++counts[c.pick()];
  EXPECT_EQ(counts[0], 0);
  EXPECT_EQ(counts[1], 200);
  EXPECT_EQ(counts[2], 100);
}

// ---------------------------------------------------------------------------------------------
// RANDOM and PASSTHROUGH

TEST(RandomTest, DeterministicTickets) {
  TestCluster c(mesh::LbPolicy::kRandom, {2, 0, 3});  // [0,2) -> 0, [2,5) -> 2
  script({0, 1, 2, 4, 5, 7, 9, 1'000'000'000'000ull});
  std::vector<int> seq;
  for (int i = 0; i < 8; ++i) seq.push_back(c.pick());
  EXPECT_EQ(seq, (std::vector<int>{0, 0, 2, 2, 0, 2, 2, 0}));
  EXPECT_EQ(g_calls, 8);
}

TEST(RandomTest, WeightedDistribution) {
  TestCluster c(mesh::LbPolicy::kRandom, {1, 2, 0, 7});
  uniform(42);
  std::vector<double> s = c.shares(kDraws);
  ASSERT_EQ(s.size(), 4u);
  EXPECT_NEAR(s[0], 0.1, 0.01);
  EXPECT_NEAR(s[1], 0.2, 0.01);
  EXPECT_EQ(s[2], 0.0);
  EXPECT_NEAR(s[3], 0.7, 0.01);
}

TEST(PassthroughTest, BehavesAsWeightedRandom) {
  TestCluster c(mesh::LbPolicy::kPassthrough, {1, 3});
  script({0, 1, 3, 4, 7});
  std::vector<int> seq;
  for (int i = 0; i < 5; ++i) seq.push_back(c.pick());
  EXPECT_EQ(seq, (std::vector<int>{0, 1, 1, 0, 1}));

  uniform(7);
  std::vector<double> s = c.shares(kDraws);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_NEAR(s[0], 0.25, 0.01);
  EXPECT_NEAR(s[1], 0.75, 0.01);
}

// ---------------------------------------------------------------------------------------------
// LEAST_REQUEST

TEST(LeastRequestTest, PrefersFewerActiveRequests) {
  TestCluster c(mesh::LbPolicy::kLeastRequest, {1, 1, 1});
  c.state.endpoints[0].active_requests = 5;
  c.state.endpoints[1].active_requests = 0;
  c.state.endpoints[2].active_requests = 3;
  // Each pick draws two candidates.
  script({0, 1, 2, 0, 2, 1, 0, 0});
  EXPECT_EQ(c.pick(), 1);  // 0 (5) vs 1 (0)
  EXPECT_EQ(c.pick(), 2);  // 2 (3) vs 0 (5)
  EXPECT_EQ(c.pick(), 1);  // 2 (3) vs 1 (0)
  EXPECT_EQ(c.pick(), 0);  // the same candidate twice
  EXPECT_EQ(g_calls, 8);
}

TEST(LeastRequestTest, ComparesActiveRequestsPerWeight) {
  TestCluster c(mesh::LbPolicy::kLeastRequest, {1, 4});  // ticket 0 -> 0, 1..4 -> 1
  // 2 active at weight 1 (2 per unit) vs 4 active at weight 4 (1 per unit).
  c.state.endpoints[0].active_requests = 2;
  c.state.endpoints[1].active_requests = 4;
  script({0, 1, 1, 0});
  EXPECT_EQ(c.pick(), 1);
  EXPECT_EQ(c.pick(), 1);
  // 1 active at weight 1 (1 per unit) vs 8 at weight 4 (2 per unit).
  c.state.endpoints[0].active_requests = 1;
  c.state.endpoints[1].active_requests = 8;
  script({0, 1, 1, 0});
  EXPECT_EQ(c.pick(), 0);
  EXPECT_EQ(c.pick(), 0);
}

TEST(LeastRequestTest, EqualLoadSpreadsByWeight) {
  TestCluster c(mesh::LbPolicy::kLeastRequest, {1, 1, 1});
  uniform(99);
  std::vector<double> s = c.shares(kDraws);
  ASSERT_EQ(s.size(), 3u);
  for (double share : s) EXPECT_NEAR(share, 1.0 / 3, 0.01);

  // Load proportional to weight is equal load: 2 and 6 active at weights 1 and 3.
  TestCluster w(mesh::LbPolicy::kLeastRequest, {1, 3, 0});
  w.state.endpoints[0].active_requests = 2;
  w.state.endpoints[1].active_requests = 6;
  uniform(5);
  s = w.shares(kDraws);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_NEAR(s[0], 0.25, 0.01);
  EXPECT_NEAR(s[1], 0.75, 0.01);
  EXPECT_EQ(s[2], 0.0);
}

TEST(LeastRequestTest, BusyEndpointOnlyWhenDrawnTwice) {
  TestCluster c(mesh::LbPolicy::kLeastRequest, {1, 1, 1});
  c.state.endpoints[0].active_requests = 10;
  uniform(1234);
  std::vector<double> s = c.shares(kDraws);
  ASSERT_EQ(s.size(), 3u);
  // Chosen only when both candidates are endpoint 0: (1/3)^2.
  EXPECT_NEAR(s[0], 1.0 / 9, 0.01);
  EXPECT_NEAR(s[1], 4.0 / 9, 0.01);
  EXPECT_NEAR(s[2], 4.0 / 9, 0.01);

  // Same count at different weights: the heavier endpoint has less load per unit of weight,
  // so the lighter one wins only when drawn twice: (1/4)^2.
  TestCluster w(mesh::LbPolicy::kLeastRequest, {1, 3});
  for (auto& e : w.state.endpoints) e.active_requests = 2;
  uniform(77);
  s = w.shares(kDraws);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_NEAR(s[0], 1.0 / 16, 0.01);
  EXPECT_NEAR(s[1], 15.0 / 16, 0.01);
}

// ---------------------------------------------------------------------------------------------
// EndpointCountersTable

mesh::Snapshot countersSnapshot() {
  mesh::Snapshot s;
  const std::vector<size_t> sizes = {2, 3, 0, 1};
  for (size_t c = 0; c < sizes.size(); ++c) {
    mesh::Cluster cl;
    cl.name = "cluster" + std::to_string(c);
    for (size_t e = 0; e < sizes[c]; ++e) {
      mesh::Endpoint ep;
      ep.address = "10.0." + std::to_string(c) + "." + std::to_string(e);
      cl.endpoints.push_back(ep);
    }
    s.clusters.push_back(cl);
  }
  s.inbound_app.name = "inbound|9080||";
  mesh::Endpoint app;
  app.address = "127.0.0.1";
  app.port = 9080;
  s.inbound_app.endpoints.push_back(app);
  return s;
}

TEST(EndpointCountersTableTest, SlotsAreDistinct) {
  mesh::Snapshot s = countersSnapshot();
  constexpr int kWorkers = 3;
  EndpointCountersTable table(s, kWorkers);
  std::set<const EndpointCounters*> seen;
  size_t expected = 0;
  for (int w = 0; w < kWorkers; ++w) {
    for (uint32_t c = 0; c <= s.clusters.size(); ++c) {
      const auto& eps = c < s.clusters.size() ? s.clusters[c].endpoints : s.inbound_app.endpoints;
      for (uint32_t e = 0; e < eps.size(); ++e) {
        seen.insert(&table.at(w, c, e));
        ++expected;
      }
    }
  }
  EXPECT_EQ(expected, kWorkers * (2u + 3u + 0u + 1u + 1u));
  EXPECT_EQ(seen.size(), expected);
}

TEST(EndpointCountersTableTest, WritesStayInTheirSlot) {
  mesh::Snapshot s = countersSnapshot();
  constexpr int kWorkers = 2;
  EndpointCountersTable table(s, kWorkers);
  // A distinct value in every slot, then every slot reads back its own.
  auto code = [](int w, uint32_t c, uint32_t e) { return 1000u * (w + 1) + 10u * c + e; };
  auto size = [&](uint32_t c) {
    return c < s.clusters.size() ? s.clusters[c].endpoints.size() : s.inbound_app.endpoints.size();
  };
  for (int w = 0; w < kWorkers; ++w) {
    for (uint32_t c = 0; c <= s.clusters.size(); ++c) {
      for (uint32_t e = 0; e < size(c); ++e) table.at(w, c, e).rq_total = code(w, c, e);
    }
  }
  for (int w = 0; w < kWorkers; ++w) {
    for (uint32_t c = 0; c <= s.clusters.size(); ++c) {
      for (uint32_t e = 0; e < size(c); ++e) {
        EXPECT_EQ(table.at(w, c, e).rq_total.load(), code(w, c, e)) << w << " " << c << " " << e;
      }
    }
  }
}

TEST(EndpointCountersTableTest, TotalsSumWorkers) {
  mesh::Snapshot s = countersSnapshot();
  constexpr int kWorkers = 4;
  EndpointCountersTable table(s, kWorkers);
  for (int w = 0; w < kWorkers; ++w) {
    EndpointCounters& c = table.at(w, 1, 2);
    c.rq_total = 10 * (w + 1);
    c.rq_error = w;
    c.cx_connect_fail = 1;
    c.rq_active = w % 2 == 0 ? 3 : -1;
  }
  table.at(0, 1, 1).rq_total = 1000;  // a neighbour, not counted
  table.at(0, 0, 0).rq_total = 5000;

  EndpointCountersTable::Totals t = table.total(1, 2);
  EXPECT_EQ(t.rq_total, 10u + 20u + 30u + 40u);
  EXPECT_EQ(t.rq_error, 0u + 1u + 2u + 3u);
  EXPECT_EQ(t.cx_connect_fail, 4u);
  EXPECT_EQ(t.rq_active, 3 - 1 + 3 - 1);

  EXPECT_EQ(table.total(1, 1).rq_total, 1000u);
  EXPECT_EQ(table.total(0, 0).rq_total, 5000u);
  EXPECT_EQ(table.total(0, 1).rq_total, 0u);
}

TEST(EndpointCountersTableTest, InboundAppClusterIndexIsClustersSize) {
  mesh::Snapshot s = countersSnapshot();
  EndpointCountersTable table(s, 2);
  const uint32_t inbound = static_cast<uint32_t>(s.clusters.size());
  table.at(0, inbound, 0).rq_total = 7;
  table.at(1, inbound, 0).rq_total = 8;
  table.at(1, inbound, 0).rq_error = 1;
  EXPECT_EQ(table.total(inbound, 0).rq_total, 15u);
  EXPECT_EQ(table.total(inbound, 0).rq_error, 1u);
  // Not aliased with the last outbound cluster's endpoint.
  EXPECT_EQ(table.total(inbound - 1, 0).rq_total, 0u);
  EXPECT_NE(&table.at(0, inbound, 0), &table.at(0, inbound - 1, 0));
  EXPECT_NE(&table.at(0, inbound, 0), &table.at(1, 0, 0));
}

}  // namespace
}  // namespace weft::upstream
