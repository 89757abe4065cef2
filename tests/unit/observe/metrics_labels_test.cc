// Label values of Istio's standard metrics for outbound, inbound and no-route requests, checked
// both on the label derivation and on what a scrape shows.
#include <gtest/gtest.h>

#include "observe/istio_labels.h"
#include "observe/metrics.h"
#include "prom_text.h"
#include "test_snapshot.h"

namespace weft::observe {
namespace {

using testing::bookinfoSnapshot;
using testing::parseSamples;
using testing::value;

const std::map<std::string, std::string> kOutboundRatings = {
    {"reporter", "source"},
    {"source_workload", "reviews-v1"},
    {"source_workload_namespace", "bookinfo"},
    {"source_principal", "unknown"},
    {"source_app", "reviews"},
    {"source_version", "v1"},
    {"source_canonical_service", "reviews"},
    {"source_canonical_revision", "v1"},
    {"source_cluster", "Kubernetes"},
    {"destination_workload", "unknown"},
    {"destination_workload_namespace", "unknown"},
    {"destination_principal", "unknown"},
    {"destination_app", "ratings"},
    {"destination_version", "v1"},
    {"destination_service", "ratings.bookinfo.svc.cluster.local"},
    {"destination_service_name", "ratings"},
    {"destination_service_namespace", "bookinfo"},
    {"destination_canonical_service", "ratings"},
    {"destination_canonical_revision", "v1"},
    {"destination_cluster", "unknown"},
    {"request_protocol", "http"},
    {"response_flags", "-"},
    {"connection_security_policy", "unknown"},
    {"response_code", "200"},
    {"grpc_response_status", ""},
};

RequestInfo request(uint16_t code, uint32_t flags = 0) {
  RequestInfo info;
  info.response_code = code;
  info.response_flags = flags;
  info.duration_us = 1500;
  return info;
}

TEST(IstioLabels, OutboundFromNodeClusterAndAgreeingEndpoints) {
  const mesh::Snapshot s = bookinfoSnapshot();
  const DestinationLabels l = outboundLabels(s.bootstrap.node, s.clusters[0]);
  for (const auto& [name, want] : kOutboundRatings) {
    if (name == "response_flags" || name == "response_code") continue;
    EXPECT_EQ(l.get(name), want) << name;
  }
}

TEST(IstioLabels, OutboundEndpointsThatDisagreeGiveUnknownVersion) {
  const mesh::Snapshot s = bookinfoSnapshot();
  const DestinationLabels l = outboundLabels(s.bootstrap.node, s.clusters[1]);
  EXPECT_EQ(l.get("destination_app"), "details");
  EXPECT_EQ(l.get("destination_version"), "unknown");
  EXPECT_EQ(l.get("destination_canonical_service"), "details");
  EXPECT_EQ(l.get("destination_canonical_revision"), "latest");
}

TEST(IstioLabels, OutboundWithoutEndpointsOrLabels) {
  const mesh::Snapshot s = bookinfoSnapshot();
  const DestinationLabels l = outboundLabels(s.bootstrap.node, s.clusters[2]);
  EXPECT_EQ(l.get("destination_service"), "api.example.com");
  EXPECT_EQ(l.get("destination_service_name"), "api");
  EXPECT_EQ(l.get("destination_service_namespace"), "unknown");
  EXPECT_EQ(l.get("destination_app"), "unknown");
  EXPECT_EQ(l.get("destination_version"), "unknown");
  EXPECT_EQ(l.get("destination_canonical_service"), "unknown");
  EXPECT_EQ(l.get("destination_canonical_revision"), "latest");
}

TEST(IstioLabels, OutboundCanonicalLabelsWinOverAppVersion) {
  mesh::Snapshot s = bookinfoSnapshot();
  for (auto& ep : s.clusters[0].endpoints) {
    ep.labels["service.istio.io/canonical-name"] = "ratings-svc";
    ep.labels["service.istio.io/canonical-revision"] = "r7";
  }
  const DestinationLabels l = outboundLabels(s.bootstrap.node, s.clusters[0]);
  EXPECT_EQ(l.get("destination_canonical_service"), "ratings-svc");
  EXPECT_EQ(l.get("destination_canonical_revision"), "r7");
  EXPECT_EQ(l.get("destination_app"), "ratings");
}

TEST(IstioLabels, NoRouteHasUnknownDestination) {
  const mesh::Snapshot s = bookinfoSnapshot();
  const DestinationLabels l = noRouteLabels(s.bootstrap.node);
  EXPECT_EQ(l.get("reporter"), "source");
  EXPECT_EQ(l.get("source_workload"), "reviews-v1");
  for (const char* name :
       {"destination_workload", "destination_workload_namespace", "destination_principal",
        "destination_app", "destination_version", "destination_service", "destination_service_name",
        "destination_service_namespace", "destination_canonical_service", "destination_cluster"}) {
    EXPECT_EQ(l.get(name), "unknown") << name;
  }
  EXPECT_EQ(l.get("destination_canonical_revision"), "latest");
  EXPECT_EQ(l.get("connection_security_policy"), "unknown");
}

TEST(IstioLabels, InboundFromNodeWithUnknownSource) {
  const mesh::Snapshot s = bookinfoSnapshot();
  const DestinationLabels l = inboundLabels(s.bootstrap.node, s.inbound_app);
  EXPECT_EQ(l.get("reporter"), "destination");
  for (const char* name :
       {"source_workload", "source_workload_namespace", "source_principal", "source_app",
        "source_version", "source_canonical_service", "source_cluster"}) {
    EXPECT_EQ(l.get(name), "unknown") << name;
  }
  EXPECT_EQ(l.get("source_canonical_revision"), "latest");
  EXPECT_EQ(l.get("destination_workload"), "reviews-v1");
  EXPECT_EQ(l.get("destination_workload_namespace"), "bookinfo");
  EXPECT_EQ(l.get("destination_principal"), "unknown");
  EXPECT_EQ(l.get("destination_app"), "reviews");
  EXPECT_EQ(l.get("destination_version"), "v1");
  EXPECT_EQ(l.get("destination_service"), "reviews.bookinfo.svc.cluster.local");
  EXPECT_EQ(l.get("destination_service_name"), "reviews");
  EXPECT_EQ(l.get("destination_service_namespace"), "bookinfo");
  EXPECT_EQ(l.get("destination_canonical_service"), "reviews");
  EXPECT_EQ(l.get("destination_canonical_revision"), "v1");
  EXPECT_EQ(l.get("destination_cluster"), "Kubernetes");
  EXPECT_EQ(l.get("connection_security_policy"), "none");
  EXPECT_EQ(l.get("grpc_response_status"), "");
}

TEST(IstioLabels, UnknownLabelNameThrows) {
  EXPECT_THROW(DestinationLabels().get("nope"), std::out_of_range);
}

TEST(MetricsScrape, OutboundSeriesCarriesEveryIstioLabel) {
  MetricsRegistry registry(2);
  auto stats = registry.bind(bookinfoSnapshot());
  stats->outbound(0).record(0, request(200));
  const auto samples = parseSamples(registry.serialize());
  auto found = testing::find(samples, "istio_requests_total");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].labels, kOutboundRatings);
  EXPECT_EQ(found[0].value, 1);
}

TEST(MetricsScrape, NoRouteAndInboundSeries) {
  MetricsRegistry registry(1);
  auto stats = registry.bind(bookinfoSnapshot());
  stats->outboundNoRoute().record(0, request(404, kNoRoute));
  stats->inbound().record(0,
                          request(503, kUpstreamConnectionFailure | kUpstreamRetryLimitExceeded));
  const auto samples = parseSamples(registry.serialize());
  EXPECT_EQ(value(samples, "istio_requests_total",
                  {{"reporter", "source"},
                   {"destination_service", "unknown"},
                   {"response_code", "404"},
                   {"response_flags", "NR"}}),
            1);
  EXPECT_EQ(value(samples, "istio_requests_total",
                  {{"reporter", "destination"},
                   {"destination_service", "reviews.bookinfo.svc.cluster.local"},
                   {"connection_security_policy", "none"},
                   {"response_code", "503"},
                   {"response_flags", "UF,URX"}}),
            1);
}

TEST(MetricsScrape, TcpSeriesUseTcpProtocolAndNoResponseCode) {
  MetricsRegistry registry(1);
  auto stats = registry.bind(bookinfoSnapshot());
  stats->outbound(1).tcpOpened(0);
  stats->outbound(1).tcpClosed(0, 100, 40);
  const auto samples = parseSamples(registry.serialize());
  auto sent = testing::find(samples, "istio_tcp_sent_bytes_total");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].value, 100);
  EXPECT_EQ(sent[0].labels.at("request_protocol"), "tcp");
  EXPECT_EQ(sent[0].labels.at("destination_service_name"), "details");
  EXPECT_EQ(sent[0].labels.count("response_code"), 0u);
  EXPECT_EQ(value(samples, "istio_tcp_received_bytes_total"), 40);
  EXPECT_EQ(value(samples, "istio_tcp_connections_opened_total"), 1);
  EXPECT_EQ(value(samples, "istio_tcp_connections_closed_total"), 1);
  // No request was recorded: no request series.
  EXPECT_TRUE(testing::find(samples, "istio_requests_total").empty());
}

}  // namespace
}  // namespace weft::observe
