// Api: authentication and authorization per route, status codes of the resource and node
// endpoints (requests without a connection: the answer is recorded on the request).
#include "api/api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "net/uv_test_loop.h"

namespace weft::control {
namespace {

using weft::testing::TestLoop;

const char* kNode = R"({"id": "reviews-v1-1", "namespace": "default",
  "service_account": "reviews", "service": "reviews", "labels": {"app": "reviews"},
  "address": "127.0.0.1", "ports": [{"name": "http", "port": 15006, "app_port": 9080}],
  "admin": "127.0.0.1:15000"})";

class ApiTest : public ::testing::Test {
 protected:
  ApiTest() {
    mesh::ConfigErrors errors;
    tokens_ = *TokenSet::parse(
        "- {token: ops}\n- {token: rev, namespace: default, service_account: reviews}\n", "t",
        errors);
    store_.setOnChange([this] { push_->storeChanged(); });
    push_ = std::make_unique<PushEngine>(loop_.get(), store_, registry_, metrics_);
    api_ = std::make_unique<Api>(loop_.get(), store_, registry_, *push_, metrics_, &tokens_);
    api_->setReady(true);
  }
  ~ApiTest() override {
    api_.reset();
    push_.reset();
    EXPECT_EQ(loop_.shutdown(), 0);
  }

  HttpRequestPtr call(const std::string& method, const std::string& target,
                      const std::string& token, const std::string& body = {}) {
    auto r = std::make_shared<HttpRequest>();
    r->method = method;
    size_t q = target.find('?');
    r->path = target.substr(0, q);
    if (q != std::string::npos) r->query = target.substr(q + 1);
    if (!token.empty()) r->headers.add("authorization", "Bearer " + token);
    r->body = body;
    api_->handle(r);
    return r;
  }
  uint16_t status(const std::string& method, const std::string& target, const std::string& token,
                  const std::string& body = {}) {
    return call(method, target, token, body)->status();
  }

  TestLoop loop_;
  TokenSet tokens_;
  Store store_;
  Registry registry_{store_};
  ControlMetrics metrics_;
  std::unique_ptr<PushEngine> push_;
  std::unique_ptr<Api> api_;
};

TEST_F(ApiTest, MissingOrUnknownTokenIs401) {
  EXPECT_EQ(status("GET", "/ready", ""), 401);
  EXPECT_EQ(status("GET", "/ready", "nope"), 401);
  EXPECT_EQ(status("GET", "/nothing", ""), 401) << "authentication comes first";
  EXPECT_EQ(status("GET", "/ready", "ops"), 200);
}

TEST_F(ApiTest, BoundTokensOnlyServeTheirOwnNodes) {
  EXPECT_EQ(status("GET", "/v1/resources", "rev"), 403);
  EXPECT_EQ(status("POST", "/v1/validate", "rev", "a: 1"), 403);
  EXPECT_EQ(status("GET", "/v1/nodes", "rev"), 403);
  EXPECT_EQ(status("GET", "/v1/prometheus/targets", "rev"), 403);
  auto j = nlohmann::json::parse(kNode);
  j["service_account"] = "ratings";
  EXPECT_EQ(status("POST", "/v1/nodes", "rev", j.dump()), 403);
  EXPECT_EQ(status("POST", "/v1/nodes", "rev", kNode), 200);
  j["id"] = "ratings-1";
  EXPECT_EQ(status("POST", "/v1/nodes", "ops", j.dump()), 200);
  EXPECT_EQ(status("GET", "/v1/nodes/ratings-1/config", "rev"), 403);
  EXPECT_EQ(status("POST", "/v1/nodes/ratings-1/ack", "rev", R"({"version": 1})"), 403);
  EXPECT_EQ(status("DELETE", "/v1/nodes/ratings-1", "rev"), 403);
  EXPECT_EQ(status("GET", "/v1/nodes/reviews-v1-1/config", "rev"), 200);
  EXPECT_EQ(status("POST", "/v1/nodes/reviews-v1-1/ack", "rev", R"({"version": 1})"), 204);
  EXPECT_EQ(status("DELETE", "/v1/nodes/reviews-v1-1", "rev"), 204);
  EXPECT_EQ(status("GET", "/v1/nodes/reviews-v1-1/config", "rev"), 404);
  // A bound token may not re-register another identity's node id either.
  j["service_account"] = "reviews";
  EXPECT_EQ(status("POST", "/v1/nodes", "rev", j.dump()), 403);
}

TEST_F(ApiTest, NodeEndpointsValidateTheirInput) {
  EXPECT_EQ(status("POST", "/v1/nodes", "ops", "{"), 400);
  EXPECT_EQ(status("POST", "/v1/nodes", "ops", kNode), 200);
  EXPECT_EQ(status("GET", "/v1/nodes/reviews-v1-1/config?version=x", "ops"), 400);
  EXPECT_EQ(status("GET", "/v1/nodes/reviews-v1-1/config?wait=later", "ops"), 400);
  EXPECT_EQ(status("POST", "/v1/nodes/reviews-v1-1/ack", "ops", R"({"version": -1})"), 400);
  EXPECT_EQ(status("POST", "/v1/nodes/reviews-v1-1/ack", "ops", R"({"version": 1, "error": 3})"),
            400);
  EXPECT_EQ(status("PUT", "/v1/nodes/reviews-v1-1/ack", "ops"), 405);
  EXPECT_EQ(status("POST", "/v1/nodes/reviews-v1-1/interest", "ops", "{}"), 400);
  EXPECT_EQ(status("POST", "/v1/nodes/reviews-v1-1/interest", "ops", R"({"hosts": ["a b"]})"), 400);
  EXPECT_EQ(status("POST", "/v1/nodes/reviews-v1-1/interest", "ops", R"({"hosts": ["a.b"]})"), 409)
      << "a node of scope full has every service already";
  EXPECT_EQ(status("GET", "/v1/nodes/reviews-v1-1/other", "ops"), 404);
  EXPECT_EQ(status("GET", "/v1/nodes/%zz/config", "ops"), 400);
  auto r = call("POST", "/v1/nodes", "ops", kNode);
  auto body = nlohmann::json::parse(r->responseBody());
  EXPECT_EQ(body["id"], "reviews-v1-1");
  EXPECT_GT(body["version"].get<uint64_t>(), 0u);
}

TEST_F(ApiTest, ResourceEndpoints) {
  const std::string se =
      "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: a}\n"
      "spec: {hosts: [a.example.com], resolution: STATIC, ports: [{number: 80, name: http}], "
      "endpoints: [{address: 10.0.0.1}]}\n";
  auto r = call("POST", "/v1/resources?source=a.yaml", "ops", se);
  ASSERT_EQ(r->status(), 200) << r->responseBody();
  EXPECT_EQ(nlohmann::json::parse(r->responseBody())["applied"][0]["action"], "created");
  r = call("GET", "/v1/resources/ServiceEntry/default/a", "ops");
  ASSERT_EQ(r->status(), 200);
  auto doc = nlohmann::json::parse(r->responseBody());
  EXPECT_EQ(doc["object"]["spec"]["ports"][0]["number"], 80);
  EXPECT_EQ(doc["object"]["spec"]["hosts"][0], "a.example.com");
  EXPECT_EQ(status("GET", "/v1/resources/serviceentries/default/a", "ops"), 200);
  EXPECT_EQ(status("GET", "/v1/resources/ServiceEntry/default/b", "ops"), 404);
  r = call("POST", "/v1/resources?source=b.yaml", "ops", "kind: [\n");
  EXPECT_EQ(r->status(), 400);
  EXPECT_NE(r->responseBody().find("b.yaml:"), std::string::npos);
  EXPECT_EQ(status("DELETE", "/v1/resources", "ops", "kind: ServiceEntry\nmetadata: {name: b}\n"),
            404);
  EXPECT_EQ(status("DELETE", "/v1/resources", "ops", "kind: ServiceEntry\nmetadata: {name: a}\n"),
            200);
  EXPECT_EQ(status("PUT", "/v1/resources", "ops"), 405);
  EXPECT_EQ(status("GET", "/v1/explain", "ops"), 404) << "no node named";
  EXPECT_EQ(status("GET", "/v1/unknown", "ops"), 404);
}

TEST_F(ApiTest, ExplainShowsRouteSourceDestinationAndEndpoints) {
  const std::string mesh =
      "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
      "metadata: {name: reviews}\nspec:\n  hosts: [reviews.default.svc.cluster.local]\n"
      "  location: MESH_INTERNAL\n  resolution: STATIC\n"
      "  ports: [{number: 9080, name: http}]\n  endpoints:\n"
      "  - {address: 10.0.0.1, labels: {version: v1}}\n"
      "  - {address: 10.0.0.2, labels: {version: v2}, weight: 3}\n"
      "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
      "metadata: {name: reviews}\nspec:\n  host: reviews\n  subsets:\n"
      "  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}\n"
      "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"  // line 22
      "metadata: {name: reviews}\nspec:\n  hosts: [reviews]\n  http:\n"
      "  - name: jason\n"  // line 28
      "    match: [{headers: {end-user: {exact: jason}}}]\n"
      "    route: [{destination: {host: reviews, subset: v2}}]\n"
      "  - route: [{destination: {host: reviews, subset: v1}}]\n";
  auto applied = call("POST", "/v1/resources?source=mesh.yaml", "ops", mesh);
  ASSERT_EQ(applied->status(), 200) << applied->responseBody();
  ASSERT_EQ(status("POST", "/v1/nodes", "ops", kNode), 200);
  auto r =
      call("GET", "/v1/explain?from=reviews-v1-1&url=http://reviews:9080/x&header=end-user:jason",
           "ops");
  ASSERT_EQ(r->status(), 200) << r->responseBody();
  auto e = nlohmann::json::parse(r->responseBody());
  EXPECT_EQ(e["result"], "routed");
  EXPECT_EQ(e["virtual_host"], "reviews.default.svc.cluster.local:9080");
  EXPECT_EQ(e["route"]["name"], "reviews.default.jason");
  EXPECT_EQ(e["route"]["source"], "mesh.yaml:28:5");
  ASSERT_EQ(e["destinations"].size(), 1u);
  EXPECT_EQ(e["destinations"][0]["subset"], "v2");
  ASSERT_EQ(e["destinations"][0]["endpoints"].size(), 1u);
  EXPECT_EQ(e["destinations"][0]["endpoints"][0]["address"], "10.0.0.2");
  EXPECT_EQ(e["destinations"][0]["endpoints"][0]["weight"], 3);
  // Without the header: the second rule, by workload name.
  r = call("GET", "/v1/explain?from=reviews-v1-1&url=reviews.default:9080/", "ops");
  e = nlohmann::json::parse(r->responseBody());
  EXPECT_EQ(e["destinations"][0]["subset"], "v1");
  EXPECT_EQ(e["route"]["source"], "mesh.yaml:22") << "an unnamed rule: the VirtualService";
  r = call("GET", "/v1/explain?from=reviews-v1-1&url=http://nowhere/", "ops");
  e = nlohmann::json::parse(r->responseBody());
  EXPECT_EQ(e["status"], 404);
  EXPECT_EQ(status("GET", "/v1/explain?from=reviews-v1-1&url=/x", "ops"), 400);
  EXPECT_EQ(status("GET", "/v1/explain?from=nobody&url=http://a/", "ops"), 404);
  EXPECT_EQ(status("GET", "/v1/explain?from=reviews-v1-1&url=http://a/&header=bad", "ops"), 400);
}

TEST_F(ApiTest, TargetsAndMetrics) {
  ASSERT_EQ(status("POST", "/v1/nodes", "ops", kNode), 200);
  auto r = call("GET", "/v1/prometheus/targets", "ops");
  auto t = nlohmann::json::parse(r->responseBody());
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0]["targets"][0], "127.0.0.1:15000");
  EXPECT_EQ(t[0]["labels"]["__meta_weft_label_app"], "reviews");
  EXPECT_EQ(t[0]["labels"]["__meta_weft_workload"], "reviews-v1-1");
  r = call("GET", "/metrics", "ops");
  EXPECT_NE(r->responseBody().find("weft_control_nodes 1"), std::string::npos);
}

}  // namespace
}  // namespace weft::control
