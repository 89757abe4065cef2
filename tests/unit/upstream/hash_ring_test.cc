// Consistent hashing: weights are honoured, and removing one of N hosts moves only about 1/N
// of the keys (ring hash and Maglev alike).
#include "upstream/hash_ring.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace weft::upstream {
namespace {

std::vector<std::string> ids(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("10.0.0." + std::to_string(i + 1) + ":9080");
  return out;
}

std::vector<HashRing::Host> hosts(const std::vector<std::string>& names,
                                  std::vector<uint32_t> weights = {}) {
  std::vector<HashRing::Host> out;
  for (size_t i = 0; i < names.size(); ++i) {
    out.push_back({names[i], weights.empty() ? 1u : weights[i]});
  }
  return out;
}

HashRing build(bool maglev, const std::vector<HashRing::Host>& h) {
  return maglev ? HashRing::maglev(h, 65537) : HashRing::ring(h, 1024);
}

class HashRingTest : public ::testing::TestWithParam<bool> {};

TEST_P(HashRingTest, SameKeySameHost) {
  auto names = ids(5);
  HashRing r = build(GetParam(), hosts(names));
  for (int k = 0; k < 100; ++k) {
    uint64_t h = hashKey("user-" + std::to_string(k));
    EXPECT_EQ(r.pick(h), r.pick(h));
  }
}

TEST_P(HashRingTest, WeightsSplitTheKeys) {
  auto names = ids(2);
  HashRing r = build(GetParam(), hosts(names, {3, 1}));
  int first = 0;
  const int keys = 40'000;
  for (int k = 0; k < keys; ++k) first += r.pick(hashKey("k" + std::to_string(k))) == 0;
  EXPECT_NEAR(first / double(keys), 0.75, 0.05);
}

TEST_P(HashRingTest, RemovingOneOfTenMovesAboutATenth) {
  auto names = ids(10);
  HashRing before = build(GetParam(), hosts(names));
  auto fewer = names;
  fewer.pop_back();  // host 9 leaves; hosts 0..8 keep their indices
  HashRing after = build(GetParam(), hosts(fewer));
  int moved = 0, keys = 20'000;
  for (int k = 0; k < keys; ++k) {
    uint64_t h = hashKey("key-" + std::to_string(k));
    int a = before.pick(h), b = after.pick(h);
    if (a != 9 && a != b) ++moved;  // keys of a host that stayed must not move
  }
  EXPECT_LT(moved / double(keys), 0.05) << "only the leaving host's keys may move";
}

TEST_P(HashRingTest, RejectedHostsKeysGoElsewhere) {
  auto names = ids(3);
  HashRing r = build(GetParam(), hosts(names));
  for (int k = 0; k < 200; ++k) {
    int host = r.pick(hashKey("x" + std::to_string(k)), [](int i) { return i != 1; });
    EXPECT_NE(host, 1);
    EXPECT_GE(host, 0);
  }
}

TEST_P(HashRingTest, NoHostsIsMinusOne) {
  HashRing r = build(GetParam(), {});
  EXPECT_EQ(r.pick(42), -1);
}

INSTANTIATE_TEST_SUITE_P(RingAndMaglev, HashRingTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Maglev" : "Ring"; });

}  // namespace
}  // namespace weft::upstream
