// PushEngine: versions per scope group, long-polls woken only for changed groups, debounce,
// timeouts, acks and their metrics.
#include "push/push.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "compress/gzip.h"
#include "net/uv_test_loop.h"

namespace weft::control {
namespace {

using weft::testing::TestLoop;

std::string serviceEntry(const std::string& name, const std::string& ns, int port = 80) {
  return "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: " + name +
         ", namespace: " + ns + "}\nspec: {hosts: [" + name + "." + ns +
         ".svc.cluster.local], resolution: STATIC, ports: [{number: " + std::to_string(port) +
         ", name: http}], endpoints: [{address: 10.0.0.1}]}\n";
}

std::string sidecarOwnNamespace(const std::string& ns) {
  return "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default, "
         "namespace: " +
         ns + "}\nspec:\n  egress:\n  - hosts: [\"./*\"]\n";
}

class PushTest : public ::testing::Test {
 protected:
  PushTest() {
    store_.setOnChange([this] { push_->storeChanged(); });
    push_ = std::make_unique<PushEngine>(loop_.get(), store_, registry_, metrics_,
                                         PushOptions{50, 300});
  }
  ~PushTest() override {
    push_.reset();
    EXPECT_EQ(loop_.shutdown(), 0);
  }

  void registerNode(const std::string& id, const std::string& ns) {
    NodeInfo n;
    n.id = id;
    n.workload = id;
    n.namespace_name = ns;
    n.address = "127.0.0.9";
    std::string error;
    ASSERT_TRUE(registry_.upsert(n, uv_now(loop_.get()), error)) << error;
    push_->nodeRegistered(id);
  }

  HttpRequestPtr poll(const std::string& id, uint64_t version, uint64_t wait_ms = 5000) {
    auto r = std::make_shared<HttpRequest>();
    push_->poll(r, id, version, wait_ms);
    return r;
  }

  static uint64_t versionIn(const HttpRequestPtr& r) {
    return nlohmann::json::parse(r->responseBody())["version"].get<uint64_t>();
  }

  TestLoop loop_;
  Store store_;
  Registry registry_{store_};
  ControlMetrics metrics_;
  std::unique_ptr<PushEngine> push_;
};

TEST_F(PushTest, UnknownNodeIs404) {
  auto r = poll("nobody", 0);
  EXPECT_EQ(r->status(), 404);
}

TEST_F(PushTest, FirstPollIsAnsweredAtOnce) {
  ASSERT_TRUE(store_.apply(serviceEntry("a", "default"), "t").ok);
  registerNode("n1", "default");
  const uint64_t v = push_->versionOf("n1");
  EXPECT_GT(v, 0u);
  auto r = poll("n1", 0);
  ASSERT_EQ(r->status(), 200);
  auto body = nlohmann::json::parse(r->responseBody());
  EXPECT_EQ(body["version"].get<uint64_t>(), v);
  EXPECT_NE(body["resources"].get<std::string>().find("a.default.svc.cluster.local"),
            std::string::npos);
  EXPECT_FALSE(body["built_from"].empty());
  EXPECT_EQ(registry_.find("n1")->version_sent, v);
}

TEST_F(PushTest, HeldPollIsWokenByAChange) {
  registerNode("n1", "default");
  const uint64_t v = push_->versionOf("n1");
  auto r = poll("n1", v);
  EXPECT_FALSE(r->answered());
  EXPECT_EQ(registry_.find("n1")->active_polls, 1);
  ASSERT_TRUE(store_.apply(serviceEntry("a", "default"), "t").ok);
  EXPECT_FALSE(r->answered()) << "debounced, not at once";
  ASSERT_TRUE(loop_.runUntil([&] { return r->answered(); }, 2000));
  EXPECT_EQ(r->status(), 200);
  EXPECT_GT(versionIn(r), v);
  EXPECT_EQ(registry_.find("n1")->active_polls, 0);
}

TEST_F(PushTest, OnlyNodesWhoseSetChangedAreWoken) {
  ASSERT_TRUE(store_.apply(sidecarOwnNamespace("a"), "t").ok);
  registerNode("na", "a");
  registerNode("nb", "b");
  loop_.runFor(400);  // registrations settle
  auto ra = poll("na", push_->versionOf("na"));
  auto rb = poll("nb", push_->versionOf("nb"));
  ASSERT_FALSE(ra->answered());
  ASSERT_FALSE(rb->answered());
  const uint64_t va = push_->versionOf("na");
  ASSERT_TRUE(store_.apply(serviceEntry("s", "b"), "t").ok);  // outside a's Sidecar scope
  ASSERT_TRUE(loop_.runUntil([&] { return rb->answered(); }, 2000));
  loop_.runFor(100);
  EXPECT_FALSE(ra->answered());
  EXPECT_EQ(push_->versionOf("na"), va);
  EXPECT_EQ(push_->groupCount(), 2u);
}

TEST_F(PushTest, ABurstMakesOneBuild) {
  registerNode("n1", "default");
  loop_.runFor(200);
  const uint64_t before = push_->versionChanges();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(store_.apply(serviceEntry("s" + std::to_string(i), "default"), "t").ok);
  }
  loop_.runFor(500);
  EXPECT_EQ(push_->versionChanges(), before + 1);
  EXPECT_EQ(push_->versionOf("n1"), store_.revision());
}

TEST_F(PushTest, MaxDelayBoundsAContinuousBurst) {
  registerNode("n1", "default");
  loop_.runFor(200);
  const uint64_t before = push_->versionChanges();
  // A change every 30 ms (under the 50 ms quiet period) for 600 ms: the 300 ms cap still
  // lets a build through.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(store_.apply(serviceEntry("s" + std::to_string(i), "default"), "t").ok);
    loop_.runFor(30);
  }
  EXPECT_GE(push_->versionChanges(), before + 1);
}

TEST_F(PushTest, TimeoutAnswers304) {
  registerNode("n1", "default");
  auto r = poll("n1", push_->versionOf("n1"), 100);
  ASSERT_TRUE(loop_.runUntil([&] { return r->answered(); }, 1000));
  EXPECT_EQ(r->status(), 304);
  EXPECT_EQ(push_->heldPolls(), 0u);
}

TEST_F(PushTest, RemovedNodeAnswersItsHeldPoll404) {
  registerNode("n1", "default");
  auto r = poll("n1", push_->versionOf("n1"));
  registry_.remove("n1");
  push_->nodeRemoved("n1");
  EXPECT_EQ(r->status(), 404);
  EXPECT_EQ(push_->heldPolls(), 0u);
}

TEST_F(PushTest, AckAndNackAreRecorded) {
  registerNode("n1", "default");
  const uint64_t v = push_->versionOf("n1");
  poll("n1", 0);
  push_->ack("n1", v, "");
  EXPECT_EQ(registry_.find("n1")->state(), SyncState::kSynced);
  EXPECT_NE(metrics_.serialize().find("weft_control_convergence_seconds_count 1"),
            std::string::npos)
      << metrics_.serialize();
  push_->ack("n1", v, "resources:1:1: nope");
  EXPECT_EQ(registry_.find("n1")->state(), SyncState::kNack);
  EXPECT_NE(metrics_.serialize().find("weft_control_nacks_total 1"), std::string::npos);
  EXPECT_NE(metrics_.serialize().find("weft_control_pushes_total 1"), std::string::npos);
}

TEST_F(PushTest, OnDemandNodesGetOnlyTheHostsTheyAskedFor) {
  ASSERT_TRUE(
      store_.apply(serviceEntry("a", "default") + "---\n" + serviceEntry("b", "default"), "t").ok);
  NodeInfo n;
  n.id = "lazy";
  n.workload = "lazy";
  n.address = "127.0.0.9";
  n.scope = "on_demand";
  std::string error;
  ASSERT_TRUE(registry_.upsert(n, uv_now(loop_.get()), error));
  push_->nodeRegistered("lazy");
  auto first = poll("lazy", 0);
  ASSERT_EQ(first->status(), 200);
  const std::string before = nlohmann::json::parse(first->responseBody())["resources"];
  EXPECT_EQ(before.find("a.default.svc.cluster.local"), std::string::npos);
  auto held = poll("lazy", versionIn(first));
  ASSERT_FALSE(held->answered());
  const uint64_t v = push_->addInterest("lazy", {"A.default.svc.cluster.local"});
  EXPECT_GT(v, versionIn(first));
  ASSERT_EQ(held->status(), 200) << "the held poll gets the new set at once";
  const std::string after = nlohmann::json::parse(held->responseBody())["resources"];
  EXPECT_NE(after.find("a.default.svc.cluster.local"), std::string::npos);
  EXPECT_EQ(after.find("b.default.svc.cluster.local"), std::string::npos);
  EXPECT_EQ(push_->addInterest("lazy", {"a.default.svc.cluster.local"}), v) << "nothing new";
  // A full-scope node of the same identity is in another group and sees everything.
  registerNode("eager", "default");
  EXPECT_NE(push_->groupOf("eager"), push_->groupOf("lazy"));
}

TEST_F(PushTest, GroupsWithTheSameSetShareOneBuild) {
  ASSERT_TRUE(store_.apply(serviceEntry("a", "default"), "t").ok);
  push_->rebuild();
  const uint64_t before = push_->compiles();
  // 20 workloads of one namespace: 20 groups (labels differ), one set, one compile.
  for (int i = 0; i < 20; ++i) {
    NodeInfo n;
    n.id = "w" + std::to_string(i);
    n.workload = n.id;
    n.address = "127.0.0.9";
    n.labels = {{"app", n.id}};
    std::string error;
    ASSERT_TRUE(registry_.upsert(n, uv_now(loop_.get()), error)) << error;
    push_->nodeRegistered(n.id);
  }
  ASSERT_TRUE(store_.apply(serviceEntry("b", "default"), "t").ok);
  push_->rebuild();
  EXPECT_EQ(push_->groupCount(), 20u);
  // Registrations are store changes too, but they leave the set as it was: nothing compiled.
  EXPECT_EQ(push_->compiles() - before, 2u) << "the first registration's set, then b";
  const uint64_t at = push_->compiles();
  ASSERT_TRUE(store_.apply(serviceEntry("c", "default"), "t").ok);
  push_->rebuild();
  EXPECT_EQ(push_->compiles(), at + 1);
  auto r0 = poll("w0", 0);
  auto r1 = poll("w1", 0);
  ASSERT_EQ(r0->status(), 200);
  EXPECT_EQ(r0->responseBody(), r1->responseBody());
  EXPECT_NE(r0->responseBody().find("c.default.svc.cluster.local"), std::string::npos);
  // Another namespace that sees the same resources shares the build too. A resource only
  // the first namespace sees compiles that one's set; the other keeps its build.
  registerNode("other", "shop");
  EXPECT_EQ(push_->compiles(), at + 1);
  ASSERT_TRUE(store_
                  .apply("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: "
                         "d, namespace: default}\nspec: {hosts: [d.default.svc.cluster.local], "
                         "exportTo: [\".\"], resolution: STATIC, ports: [{number: 80, name: "
                         "http}], endpoints: [{address: 10.0.0.1}]}\n",
                         "t")
                  .ok);
  push_->rebuild();
  EXPECT_EQ(push_->compiles(), at + 2);
  EXPECT_NE(push_->groupOf("other")->build, push_->groupOf("w0")->build);
}

TEST_F(PushTest, GzipAnswerInflatesToThePlainOne) {
  ASSERT_TRUE(store_.apply(serviceEntry("a", "default"), "t").ok);
  registerNode("n1", "default");
  auto plain = poll("n1", 0);
  auto packed = std::make_shared<HttpRequest>();
  packed->headers.add("accept-encoding", "deflate, gzip");
  push_->poll(packed, "n1", 0, 5000);
  ASSERT_EQ(packed->status(), 200);
  EXPECT_NE(packed->responseBody(), plain->responseBody());
  std::string error;
  auto inflated = compress::gunzip(packed->responseBody(), 1 << 20, error);
  ASSERT_TRUE(inflated) << error << " (a per-answer member, then the shared one)";
  EXPECT_EQ(*inflated, plain->responseBody());
  auto refused = std::make_shared<HttpRequest>();
  refused->headers.add("accept-encoding", "gzip;q=0");
  push_->poll(refused, "n1", 0, 5000);
  EXPECT_EQ(refused->responseBody(), plain->responseBody());
}

TEST(ParseWait, Forms) {
  EXPECT_EQ(parseWait("30s"), 30'000u);
  EXPECT_EQ(parseWait("250ms"), 250u);
  EXPECT_EQ(parseWait("2"), 2'000u);
  EXPECT_FALSE(parseWait(""));
  EXPECT_FALSE(parseWait("soon"));
}

}  // namespace
}  // namespace weft::control

namespace weft::control {
namespace {

TEST_F(PushTest, TheTrustBundleGoesOutAndAChangeWakesEveryNode) {
  push_->setTrustBundle("ROOT-A\n", "aa");
  registerNode("n1", "default");
  registerNode("n2", "other");
  auto first = poll("n1", 0);
  ASSERT_EQ(first->status(), 200);
  auto j = nlohmann::json::parse(first->responseBody());
  EXPECT_EQ(j["trust_bundle"]["roots"], "ROOT-A\n");
  EXPECT_EQ(j["trust_bundle"]["signing_root"], "aa");
  EXPECT_TRUE(j.contains("resources"));
  const uint64_t v1 = push_->versionOf("n1");
  const uint64_t v2 = push_->versionOf("n2");
  auto held1 = poll("n1", v1);
  auto held2 = poll("n2", v2);
  // The same bundle again changes nothing.
  push_->setTrustBundle("ROOT-A\n", "aa");
  store_.touch();
  loop_.runUntil([] { return false; }, 200);
  EXPECT_FALSE(held1->answered());
  // A new bundle (and the store revision its publisher bumps) reaches every group.
  push_->setTrustBundle("ROOT-A\nROOT-B\n", "bb");
  store_.touch();
  ASSERT_TRUE(loop_.runUntil([&] { return held1->answered() && held2->answered(); }, 2000));
  EXPECT_GT(versionIn(held1), v1);
  EXPECT_EQ(nlohmann::json::parse(held2->responseBody())["trust_bundle"]["signing_root"], "bb");
}

}  // namespace
}  // namespace weft::control
