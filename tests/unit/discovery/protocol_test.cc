// Control-plane protocol JSON: registration body, config answers, ack bodies, node paths.
#include "discovery/protocol.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace weft::discovery {
namespace {

using Json = nlohmann::json;

mesh::Bootstrap bootstrap(const std::string& inbound_address) {
  std::string text =
      "node: {id: reviews-v1-1, workload: reviews-v1, service: reviews, namespace: shop,\n"
      "       service_account: bookinfo-reviews, labels: {app: reviews, version: v1}}\n"
      "admin: {address: " +
      inbound_address +
      ", port: 15000}\n"
      "inbound: {address: " +
      inbound_address + ", port: 15006, app: 127.0.0.1:9080}\n";
  mesh::BootstrapResult r = mesh::parseBootstrap(text, "b.yaml");
  EXPECT_TRUE(r.bootstrap);
  return *r.bootstrap;
}

TEST(NodeJsonTest, CarriesIdentityPortsAndAdmin) {
  Json j = Json::parse(nodeJson(bootstrap("10.1.2.3"), "192.0.2.9"));
  EXPECT_EQ(j["id"], "reviews-v1-1");
  EXPECT_EQ(j["workload"], "reviews-v1");
  EXPECT_EQ(j["namespace"], "shop");
  EXPECT_EQ(j["service_account"], "bookinfo-reviews");
  EXPECT_EQ(j["service"], "reviews");
  EXPECT_EQ(j["labels"], (Json{{"app", "reviews"}, {"version", "v1"}}));
  EXPECT_EQ(j["address"], "10.1.2.3");  // a specific address is advertised as it is
  ASSERT_EQ(j["ports"].size(), 1u);
  EXPECT_EQ(j["ports"][0], (Json{{"name", "http"}, {"port", 15006}, {"app_port", 9080}}));
  EXPECT_EQ(j["admin"], "10.1.2.3:15000");
  EXPECT_EQ(j["scope"], "full");
}

TEST(NodeJsonTest, WildcardListenersAdvertiseTheGivenAddress) {
  Json j = Json::parse(nodeJson(bootstrap("0.0.0.0"), "192.0.2.9"));
  EXPECT_EQ(j["address"], "192.0.2.9");
  EXPECT_EQ(j["admin"], "192.0.2.9:15000");
}

TEST(NodeJsonTest, InvalidUtf8InLabelsDoesNotThrow) {
  mesh::Bootstrap b = bootstrap("10.1.2.3");
  b.node.labels["x"] = std::string("\xff\xfe", 2);
  EXPECT_NO_THROW(Json::parse(nodeJson(b, "127.0.0.1")));
}

TEST(ConfigResponseTest, ParsesVersionBuiltFromAndResources) {
  std::string error;
  auto c = parseConfigResponse(
      R"({"version": 42, "built_from": ["ServiceEntry default/reviews@7"], "resources": "a: 1\n"})",
      error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->version, 42u);
  EXPECT_EQ(c->built_from, std::vector<std::string>{"ServiceEntry default/reviews@7"});
  EXPECT_EQ(c->resources(), "a: 1\n");
  EXPECT_EQ(c->sourceName(), "control-plane@v42");
}

TEST(ConfigResponseTest, BuiltFromIsOptionalAndResourcesMayBeEmpty) {
  std::string error;
  auto c = parseConfigResponse(R"({"version": 3, "resources": ""})", error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->version, 3u);
  EXPECT_TRUE(c->built_from.empty());
  EXPECT_EQ(c->resources(), "");
}

TEST(ConfigResponseTest, RejectsMalformedAnswers) {
  const char* bad[] = {
      "",
      "not json",
      "[1, 2]",
      R"({"resources": "x"})",
      R"({"version": -1, "resources": "x"})",
      R"({"version": "42", "resources": "x"})",
      R"({"version": 1.5, "resources": "x"})",
      R"({"version": 42})",
      R"({"version": 42, "resources": 7})",
      R"({"version": 42, "resources": "x", "built_from": "a"})",
      R"({"version": 42, "resources": "x", "built_from": [1]})",
  };
  for (const char* body : bad) {
    std::string error;
    EXPECT_FALSE(parseConfigResponse(body, error)) << body;
    EXPECT_FALSE(error.empty()) << body;
  }
}

TEST(AckJsonTest, AckAndNack) {
  EXPECT_EQ(Json::parse(ackJson(7, "")), (Json{{"version", 7}}));
  Json nack = Json::parse(ackJson(8, "control-plane@v8:3:5: bad"));
  EXPECT_EQ(nack["version"], 8);
  EXPECT_EQ(nack["error"], "control-plane@v8:3:5: bad");
  EXPECT_NO_THROW(Json::parse(ackJson(9, std::string("bad \xc3", 5))));
}

TEST(InterestTest, ShortNamesAlsoAskForTheirServiceFqdn) {
  EXPECT_EQ(interestHosts("Reviews", "shop"),
            (std::vector<std::string>{"reviews", "reviews.shop.svc.cluster.local"}));
  EXPECT_EQ(interestHosts("reviews.other", "shop"),
            (std::vector<std::string>{"reviews.other", "reviews.other.svc.cluster.local"}));
  EXPECT_EQ(interestHosts("reviews.shop.svc.cluster.local", "shop"),
            (std::vector<std::string>{"reviews.shop.svc.cluster.local"}));
  EXPECT_EQ(interestHosts("api.example.com", "shop"),
            (std::vector<std::string>{"api.example.com"}));
  auto j = nlohmann::json::parse(interestJson({"a", "b.c"}));
  EXPECT_EQ(j["hosts"], nlohmann::json::array({"a", "b.c"}));
}

TEST(NodePathTest, EncodesTheId) {
  EXPECT_EQ(nodePath("reviews-v1-1"), "/v1/nodes/reviews-v1-1");
  EXPECT_EQ(nodePath("a b/c?d"), "/v1/nodes/a%20b%2Fc%3Fd");
}

}  // namespace
}  // namespace weft::discovery

namespace weft::discovery {
namespace {

TEST(ConfigResponseTest, TrustBundleIsReadAndOptional) {
  std::string error;
  TrustBundle bundle;
  auto c = parseConfigResponse(
      R"({"version": 4, "trust_bundle": {"roots": "-----BEGIN CERTIFICATE-----\nA\n)"
      R"(-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n",)"
      R"( "signing_root": "ab12", "future": 1}, "built_from": [], "resources": ""})",
      error, &bundle);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->version, 4u);
  EXPECT_EQ(bundle.rootCount(), 2u);
  EXPECT_EQ(bundle.signing_root, "ab12");
  // An older control plane sends none; a bundle of another shape is ignored, not an error.
  for (const char* body : {R"({"version": 5, "resources": ""})",
                           R"({"version": 5, "trust_bundle": "x", "resources": ""})",
                           R"({"version": 5, "trust_bundle": {"roots": 7}, "resources": ""})"}) {
    TrustBundle none;
    ASSERT_TRUE(parseConfigResponse(body, error, &none)) << body << error;
    EXPECT_TRUE(none.roots_pem.empty()) << body;
  }
}

}  // namespace
}  // namespace weft::discovery
