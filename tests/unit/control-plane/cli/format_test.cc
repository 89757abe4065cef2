// The command-line client's text output.
#include "cli/format.h"

#include <gtest/gtest.h>

namespace weft::control::cli {
namespace {

using nlohmann::json;

TEST(Format, TableColumnsAligned) {
  EXPECT_EQ(formatTable({{"A", "BB", "C"}, {"long", "x", ""}}), "A      BB   C\nlong   x\n");
}

TEST(Format, Changes) {
  json applied = json::parse(
      R"([{"kind":"ServiceEntry","namespace":"default","name":"reviews","action":"created"},
          {"kind":"VirtualService","namespace":"prod","name":"r","action":"unchanged"}])");
  EXPECT_EQ(formatChanges(applied),
            "created ServiceEntry default/reviews\nunchanged VirtualService prod/r\n");
  EXPECT_EQ(formatChanges(applied, "deleted"),
            "deleted ServiceEntry default/reviews\ndeleted VirtualService prod/r\n");
}

TEST(Format, Resources) {
  json list = json::parse(R"([
    {"kind":"ServiceEntry","namespace":"default","name":"reviews","source":"mesh.yaml",
     "revision":3,"object":{"spec":{"hosts":["reviews.default.svc.cluster.local"]}}},
    {"kind":"DestinationRule","namespace":"default","name":"reviews","source":"registry",
     "revision":12,"object":{"spec":{"host":"reviews"}}}])");
  std::string out = formatResources(list, false);
  EXPECT_EQ(out.substr(0, out.find('\n')),
            "NAMESPACE   NAME      HOSTS                               SOURCE      REVISION");
  EXPECT_NE(out.find("default     reviews   reviews.default.svc.cluster.local   mesh.yaml   3"),
            std::string::npos)
      << out;
  std::string with_kind = formatResources(list[1], true);
  EXPECT_EQ(with_kind.rfind("KIND", 0), 0u);
  EXPECT_NE(with_kind.find("DestinationRule   default     reviews   reviews   registry   12"),
            std::string::npos)
      << with_kind;
}

TEST(Format, StatusLikeProxyStatus) {
  json nodes = json::parse(R"([
    {"id":"b-1","workload":"b","namespace":"default","version":7,"version_acked":6,
     "status":"NACK","error":"resources:3:5: bad","last_seen_seconds":2.25,"polling":true},
    {"id":"a-1","workload":"a","namespace":"prod","version":7,"version_acked":7,
     "status":"SYNCED","error":"","last_seen_seconds":0.25,"polling":false}])");
  std::string out = formatStatus(nodes);
  EXPECT_EQ(
      out,
      "NODE   WORKLOAD   NAMESPACE   VERSION   ACKED   STATUS                      LAST SEEN\n"
      "a-1    a          prod        7         7       SYNCED                      250ms ago\n"
      "b-1    b          default     7         6       NACK (resources:3:5: bad)   "
      "2.2s ago (polling)\n");
}

TEST(Format, AgesAndDurations) {
  EXPECT_EQ(formatAge(0.0), "0ms");
  EXPECT_EQ(formatAge(12.5), "12.5s");
  EXPECT_EQ(formatAge(125), "2m5s");
  EXPECT_EQ(formatAge(7300), "2h1m");
  EXPECT_EQ(formatMs(0), "off");
  EXPECT_EQ(formatMs(250), "250ms");
  EXPECT_EQ(formatMs(15000), "15s");
  EXPECT_EQ(formatMs(120000), "2m");
}

TEST(Format, ExplainNamesRouteDestinationsEndpointsAndPolicies) {
  json e = json::parse(R"({
    "node":"reviews-v1-1","version":4,
    "request":{"method":"GET","authority":"reviews:9080","path":"/a"},
    "virtual_host":"reviews.default.svc.cluster.local:9080",
    "route":{"name":"reviews.default.canary","source":"reviews.yaml:14:5","match_index":0,
             "match_name":"beta"},
    "result":"routed","status":200,"rewritten_path":"/v2/a",
    "destinations":[{"cluster":"outbound|9080|v2|reviews.default.svc.cluster.local",
      "host":"reviews.default.svc.cluster.local","port":9080,"subset":"v2","weight":90,
      "share":0.9,"load_balancer":"ROUND_ROBIN",
      "endpoints":[{"address":"10.0.0.2","port":9080,"weight":1,"share":0.25,
                    "labels":{"version":"v2"}},
                   {"address":"10.0.0.3","port":9080,"weight":3,"share":0.75,"labels":{}}],
      "connection_pool":{"max_connections":100,"max_pending_requests":4294967295,
                         "max_requests":4294967295,"max_retries":4294967295,
                         "connect_timeout_ms":250},
      "outlier_detection":{"enabled":true,"consecutive_5xx":5,"base_ejection_ms":30000,
                           "max_ejection_percent":10}},
      {"cluster":"outbound|9080|v1|r","host":"r","port":9080,"subset":"v1","weight":10,
       "share":0.1,"load_balancer":"LEAST_REQUEST","endpoints":[]}],
    "policies":{"timeout_ms":15000,"retries":{"attempts":2,"per_try_timeout_ms":1000},
                "fault":{"delay_ms":0,"delay_percent":0,"abort_status":503,"abort_percent":12.5},
                "mirrors":1,"cors":false}})");
  std::string out = formatExplain(e);
  for (const char* want : {
           "Node:         reviews-v1-1 (configuration version 4)\n",
           "Request:      GET reviews:9080/a\n",
           "Route:        reviews.default.canary (reviews.yaml:14:5), match 0 'beta'\n"
           "              from VirtualService default/reviews, http rule 'canary'\n",
           "Result:       routed\n",
           "Path becomes: /v2/a\n",
           "  reviews.default.svc.cluster.local:9080 subset v2, weight 90 (90%)\n",
           "cluster outbound|9080|v2|reviews.default.svc.cluster.local, load balancer "
           "ROUND_ROBIN\n",
           "10.0.0.2:9080   weight 1 (25%)   version=v2\n",
           "10.0.0.3:9080   weight 3 (75%)\n",
           "connection pool: connect timeout 250ms, max connections 100\n",
           "outlier detection: 5 consecutive 5xx, base ejection 30s, at most 10% ejected\n",
           "no endpoints: requests get 503",
           "  timeout 15s\n",
           "  retries 2 attempts (per try 1s)\n",
           "  fault abort 503 for 12.5%\n",
           "  mirrors 1\n",
       }) {
    EXPECT_NE(out.find(want), std::string::npos) << "missing: " << want << "\nin:\n" << out;
  }
  json local = e;
  local["route"]["local_source"] = "conf/reviews.yaml:3:5";
  EXPECT_NE(formatExplain(local).find("(conf/reviews.yaml:3:5)"), std::string::npos);
}

TEST(Format, ExplainNoRoute) {
  json e = json::parse(R"({"node":"a","version":1,
    "request":{"method":"GET","authority":"zzz","path":"/"},
    "result":"no service answers to this host: 404, response flag NR","status":404})");
  std::string out = formatExplain(e);
  EXPECT_NE(out.find("Result:       no service answers to this host: 404, response flag NR "
                     "(status 404)\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("Destinations"), std::string::npos);
}

}  // namespace
}  // namespace weft::control::cli
