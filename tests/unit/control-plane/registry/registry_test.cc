// Registry: node JSON validation, WorkloadEntries of nodes, TTL, sync state.
#include "registry/registry.h"

#include <gtest/gtest.h>

namespace weft::control {
namespace {

const char* kNode = R"({"id": "reviews-v1-1", "workload": "reviews-v1", "namespace": "default",
  "service_account": "reviews", "service": "reviews", "labels": {"app": "reviews", "version": "v1"},
  "address": "127.0.0.1", "ports": [{"name": "http", "port": 15006, "app_port": 9080}],
  "admin": "127.0.0.1:15000", "scope": "full"})";

NodeInfo node(const std::string& id, const std::map<std::string, std::string>& labels = {}) {
  NodeInfo n;
  n.id = id;
  n.workload = id;
  n.service = "svc";
  n.labels = labels;
  n.address = "127.0.0.2";
  n.ports = {{"http", 15006, 9080}};
  return n;
}

TEST(NodeJson, ParsesTheSpecExample) {
  std::string error;
  auto n = parseNodeJson(kNode, error);
  ASSERT_TRUE(n) << error;
  EXPECT_EQ(n->id, "reviews-v1-1");
  EXPECT_EQ(n->service_account, "reviews");
  EXPECT_EQ(n->labels.at("version"), "v1");
  ASSERT_EQ(n->ports.size(), 1u);
  EXPECT_EQ(n->ports[0].port, 15006);
  EXPECT_EQ(n->ports[0].app_port, 9080);
  EXPECT_EQ(n->admin, "127.0.0.1:15000");
}

TEST(NodeJson, RejectsBadFields) {
  const std::pair<const char*, const char*> cases[] = {
      {"not json", "not valid JSON"},
      {"[]", "JSON object"},
      {R"({"address": "127.0.0.1"})", "'id'"},
      {R"({"id": "Bad_Id", "address": "127.0.0.1"})", "'id'"},
      {R"({"id": "a", "address": "example.com"})", "'address'"},
      {R"({"id": "a", "address": "127.0.0.1", "ports": [{"name": "http", "port": 0}]})", "port"},
      {R"({"id": "a", "address": "127.0.0.1", "labels": {"a": 1}})", "'labels'"},
      {R"({"id": "a", "address": "127.0.0.1", "colour": "red"})", "unknown field 'colour'"},
      {R"({"id": "a", "address": "127.0.0.1", "namespace": 3})", "'namespace'"},
      {R"({"id": "a", "address": "127.0.0.1", "admin": "nope"})", "'admin'"},
      {R"({"id": "a", "address": "127.0.0.1", "scope": "some"})", "'scope'"},
  };
  for (const auto& [json, want] : cases) {
    std::string error;
    EXPECT_FALSE(parseNodeJson(json, error)) << json;
    EXPECT_NE(error.find(want), std::string::npos) << json << " -> " << error;
  }
}

TEST(NodeJson, ScopeKeyIgnoresIdAndAddress) {
  NodeInfo a = node("a", {{"app", "x"}});
  NodeInfo b = node("b", {{"app", "x"}});
  b.address = "10.0.0.9";
  EXPECT_EQ(a.scopeKey(), b.scopeKey());
  NodeInfo c = node("c", {{"app", "y"}});
  EXPECT_NE(a.scopeKey(), c.scopeKey());
  NodeInfo d = node("d", {{"app", "x"}});
  d.service_account = "other";
  EXPECT_NE(a.scopeKey(), d.scopeKey());
}

TEST(WorkloadEntryFor, ReadsBackAsAWorkloadEntry) {
  std::string error;
  auto n = parseNodeJson(kNode, error);
  ASSERT_TRUE(n);
  Document d = workloadEntryFor(*n);
  ReadResult back = readDocuments(d.text, "we");
  ASSERT_TRUE(back.errors.empty()) << back.errors[0].format() << "\n" << d.text;
  ASSERT_EQ(back.documents.size(), 1u);
  const Document& we = back.documents[0];
  EXPECT_EQ(we.key(), "WorkloadEntry/default/reviews-v1-1");
  ASSERT_TRUE(we.workload);
  EXPECT_EQ(we.workload->address, "127.0.0.1");
  EXPECT_EQ(we.workload->ports.at("http"), 15006);
  EXPECT_EQ(we.workload->labels.at("app"), "reviews");
  EXPECT_EQ(we.workload->service_account, "reviews");
}

TEST(Registry, UpsertPutsAWorkloadEntryAndRemoveTakesItAway) {
  Store store;
  Registry registry(store);
  std::string error;
  ASSERT_TRUE(registry.upsert(node("n1"), 1000, error)) << error;
  EXPECT_NE(store.find("WorkloadEntry/default/n1"), nullptr);
  EXPECT_EQ(store.layerOf("WorkloadEntry/default/n1"), Store::Layer::kRegistry);
  const uint64_t rev = store.revision();
  ASSERT_TRUE(registry.upsert(node("n1"), 2000, error));
  EXPECT_EQ(store.revision(), rev) << "re-registering the same node changes nothing";
  EXPECT_TRUE(registry.remove("n1"));
  EXPECT_EQ(store.find("WorkloadEntry/default/n1"), nullptr);
  EXPECT_FALSE(registry.remove("n1"));
}

TEST(Registry, DumpAndRestoreKeepEveryRegistration) {
  Store store;
  Registry registry(store);
  int changes = 0;
  registry.setOnChange([&] { ++changes; });
  std::string error;
  std::optional<NodeInfo> spec = parseNodeJson(kNode, error);
  ASSERT_TRUE(spec) << error;
  ASSERT_TRUE(registry.upsert(*spec, 1000, error)) << error;
  ASSERT_TRUE(registry.upsert(node("n2", {{"app", "svc"}}), 1000, error)) << error;
  EXPECT_EQ(changes, 2);
  const std::string text = registry.dump();

  Store store2;
  Registry restored(store2);
  std::vector<std::string> errors;
  auto ids = restored.restore(text + "\n{\"id\": \"BAD\"}\n", 5000, errors);
  EXPECT_EQ(ids, (std::vector<std::string>{"n2", "reviews-v1-1"}));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("line 4: ", 0), 0u) << errors[0];
  ASSERT_NE(restored.find("reviews-v1-1"), nullptr);
  EXPECT_EQ(restored.find("reviews-v1-1")->info, *spec);
  EXPECT_EQ(restored.find("n2")->info, node("n2", {{"app", "svc"}}));
  EXPECT_EQ(restored.find("n2")->last_seen_ms, 5000u);
  EXPECT_NE(store2.find("WorkloadEntry/default/reviews-v1-1"), nullptr);
  EXPECT_EQ(restored.dump(), text);
  EXPECT_TRUE(registry.remove("n2"));
  EXPECT_EQ(changes, 3);
}

TEST(Registry, ANodeMayNotTakeOverAConfiguredWorkloadEntry) {
  Store store;
  ASSERT_TRUE(store
                  .apply("apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n"
                         "metadata: {name: n1}\nspec: {address: 10.0.0.1}\n",
                         "api")
                  .ok);
  Registry registry(store);
  std::string error;
  EXPECT_FALSE(registry.upsert(node("n1"), 0, error));
  EXPECT_NE(error.find("already defined"), std::string::npos);
}

TEST(Registry, ExpiryNeedsNoPollAndAnOldLastSeen) {
  Store store;
  Registry registry(store);
  std::string error;
  ASSERT_TRUE(registry.upsert(node("n1"), 1000, error));
  ASSERT_TRUE(registry.upsert(node("n2"), 1000, error));
  registry.find("n2")->active_polls = 1;  // a poll is held: alive
  EXPECT_TRUE(registry.expired(30'000, 30'000).empty());
  EXPECT_EQ(registry.expired(31'001, 30'000), std::vector<std::string>{"n1"});
}

TEST(Registry, SyncStates) {
  NodeState n;
  EXPECT_EQ(n.state(), SyncState::kStale);  // nothing sent yet
  n.version_sent = 5;
  EXPECT_EQ(n.state(), SyncState::kStale);
  Store store;
  Registry registry(store);
  registry.ack(n, 5, "");
  EXPECT_EQ(n.state(), SyncState::kSynced);
  n.version_sent = 7;
  EXPECT_EQ(n.state(), SyncState::kStale);
  registry.ack(n, 7, "resources:3:5: bad");
  EXPECT_EQ(n.state(), SyncState::kNack);
  EXPECT_EQ(n.nack_error, "resources:3:5: bad");
  EXPECT_EQ(n.version_acked, 5u);
  n.version_sent = 8;
  registry.ack(n, 8, "");
  EXPECT_EQ(n.state(), SyncState::kSynced);
  EXPECT_TRUE(n.nack_error.empty());
}

}  // namespace
}  // namespace weft::control
