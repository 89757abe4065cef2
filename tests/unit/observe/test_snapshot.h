// Test helper: a small bookinfo-like Snapshot built in code (no config files, no compiler).
#pragma once

#include <map>
#include <string>

#include "mesh/snapshot.h"

namespace weft::observe::testing {

inline mesh::Endpoint endpoint(const std::string& ip, std::map<std::string, std::string> labels) {
  mesh::Endpoint ep;
  ep.address = ip;
  ep.port = 9080;
  ep.labels = std::move(labels);
  return ep;
}

inline mesh::Cluster cluster(const std::string& service, const std::string& subset = "") {
  mesh::Cluster c;
  c.service_host = service + ".bookinfo.svc.cluster.local";
  c.name = "outbound|9080|" + subset + "|" + c.service_host;
  c.service_name = service;
  c.service_namespace = "bookinfo";
  c.port = 9080;
  c.subset = subset;
  return c;
}

// Node reviews-v1 in namespace bookinfo; clusters: [0] ratings (all endpoints v1),
// [1] details (endpoints v1 and v2), [2] external (no endpoints, not a k8s service).
inline mesh::Snapshot bookinfoSnapshot() {
  mesh::Snapshot s;
  s.version = 7;
  auto& node = s.bootstrap.node;
  node.id = "reviews-v1-abc.bookinfo";
  node.workload = "reviews-v1";
  node.service = "reviews";
  node.namespace_name = "bookinfo";
  node.labels = {{"app", "reviews"}, {"version", "v1"}};

  mesh::Cluster ratings = cluster("ratings");
  ratings.endpoints.push_back(endpoint("10.0.0.1", {{"app", "ratings"}, {"version", "v1"}}));
  ratings.endpoints.push_back(endpoint("10.0.0.2", {{"app", "ratings"}, {"version", "v1"}}));
  s.clusters.push_back(ratings);

  mesh::Cluster details = cluster("details");
  details.endpoints.push_back(endpoint("10.0.1.1", {{"app", "details"}, {"version", "v1"}}));
  details.endpoints.push_back(endpoint("10.0.1.2", {{"app", "details"}, {"version", "v2"}}));
  s.clusters.push_back(details);

  mesh::Cluster external;
  external.name = "outbound|443||api.example.com";
  external.service_host = "api.example.com";
  external.service_name = "api";
  external.service_namespace = "unknown";
  external.port = 443;
  s.clusters.push_back(external);

  s.inbound_app.name = "inbound|9080||";
  s.inbound_app.service_host = "reviews.bookinfo.svc.cluster.local";
  s.inbound_app.service_name = "reviews";
  s.inbound_app.service_namespace = "bookinfo";
  s.inbound_app.port = 9080;
  return s;
}

}  // namespace weft::observe::testing
