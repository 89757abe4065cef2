// Peer metadata exchange: the header format, its validation, and the series it selects.
#include "observe/peer_metadata.h"

#include <gtest/gtest.h>

#include "observe/metrics.h"
#include "prom_text.h"
#include "test_snapshot.h"

namespace weft::observe {
namespace {

using testing::bookinfoSnapshot;
using testing::parseSamples;
using testing::value;

constexpr std::string_view kProductpage =
    "workload=productpage-v1;namespace=bookinfo;app=productpage;version=v1;"
    "canonical_service=productpage;canonical_revision=v1;cluster=Kubernetes";

RequestInfo ok200() {
  RequestInfo info;
  info.response_code = 200;
  info.duration_us = 1000;
  return info;
}

TEST(PeerMetadata, EncodesTheNodeIdentity) {
  mesh::Snapshot s = bookinfoSnapshot();
  EXPECT_EQ(encodePeerMetadata(s.bootstrap.node),
            "workload=reviews-v1;namespace=bookinfo;app=reviews;version=v1;"
            "canonical_service=reviews;canonical_revision=v1;cluster=Kubernetes");
}

TEST(PeerMetadata, RoundTrips) {
  mesh::Snapshot s = bookinfoSnapshot();
  PeerMetadata m;
  ASSERT_TRUE(parsePeerMetadata(encodePeerMetadata(s.bootstrap.node), m));
  EXPECT_EQ(m.workload, "reviews-v1");
  EXPECT_EQ(m.namespace_name, "bookinfo");
  EXPECT_EQ(m.app, "reviews");
  EXPECT_EQ(m.version, "v1");
  EXPECT_EQ(m.canonical_service, "reviews");
  EXPECT_EQ(m.canonical_revision, "v1");
  EXPECT_EQ(m.cluster, "Kubernetes");
}

TEST(PeerMetadata, OnlyWorkloadIsRequired) {
  PeerMetadata m;
  ASSERT_TRUE(parsePeerMetadata("workload=w", m));
  EXPECT_EQ(m.workload, "w");
  EXPECT_TRUE(m.app.empty());
}

TEST(PeerMetadata, RejectsMalformedHeaders) {
  PeerMetadata m;
  for (std::string_view bad : {
           "",                       // nothing
           "app=a",                  // no workload
           "workload=",              // empty value
           "workload=a;workload=b",  // key twice
           "workload=a;color=red",   // unknown key
           "workload=a b",           // space
           "workload=a\"b",          // quote (would break the exposition)
           "workload=a;",            // empty item
           "workload",               // no '='
           "workload=a\nb",          // line break
       }) {
    EXPECT_FALSE(parsePeerMetadata(bad, m)) << bad;
  }
  EXPECT_FALSE(parsePeerMetadata("workload=" + std::string(64, 'x'), m)) << "64 characters";
  EXPECT_TRUE(parsePeerMetadata("workload=" + std::string(63, 'x'), m)) << "63 characters";
}

TEST(PeerSeries, InboundPeerFillsTheSourceLabels) {
  MetricsRegistry reg(1);
  mesh::Snapshot s = bookinfoSnapshot();
  auto stats = reg.bind(s);
  stats->inboundFrom(kProductpage).record(0, ok200());
  stats->inboundFrom("not a peer header").record(0, ok200());
  auto samples = parseSamples(reg.serialize());
  EXPECT_EQ(value(samples, "istio_requests_total",
                  {{"reporter", "destination"},
                   {"source_workload", "productpage-v1"},
                   {"source_workload_namespace", "bookinfo"},
                   {"source_app", "productpage"},
                   {"source_version", "v1"},
                   {"source_canonical_service", "productpage"},
                   {"source_canonical_revision", "v1"},
                   {"source_cluster", "Kubernetes"},
                   {"source_principal", "unknown"},
                   {"destination_workload", "reviews-v1"}}),
            1.0);
  // The invalid header counted on the plain series.
  EXPECT_EQ(value(samples, "istio_requests_total",
                  {{"reporter", "destination"}, {"source_workload", "unknown"}}),
            1.0);
}

TEST(PeerSeries, OutboundPeerFillsTheDestinationWorkload) {
  MetricsRegistry reg(1);
  mesh::Snapshot s = bookinfoSnapshot();
  auto stats = reg.bind(s);
  stats->outboundTo(0, "workload=ratings-v1;namespace=bookinfo;app=ratings;version=v1")
      .record(0, ok200());
  auto samples = parseSamples(reg.serialize());
  EXPECT_EQ(value(samples, "istio_requests_total",
                  {{"reporter", "source"},
                   {"destination_service_name", "ratings"},
                   {"destination_workload", "ratings-v1"},
                   {"destination_workload_namespace", "bookinfo"}}),
            1.0);
}

TEST(PeerSeries, SamePeerSharesOneSeriesAcrossCallsAndSnapshots) {
  MetricsRegistry reg(1);
  mesh::Snapshot s = bookinfoSnapshot();
  auto a = reg.bind(s);
  auto b = reg.bind(s);
  EXPECT_EQ(&a->inboundFrom(kProductpage), &a->inboundFrom(kProductpage));
  EXPECT_EQ(&a->inboundFrom(kProductpage), &b->inboundFrom(kProductpage));
  EXPECT_NE(&a->inboundFrom(kProductpage), &a->inbound());
}

TEST(PeerSeries, InventedPeersAreBounded) {
  MetricsRegistry reg(1);
  mesh::Snapshot s = bookinfoSnapshot();
  auto stats = reg.bind(s);
  for (size_t i = 0; i < SnapshotStats::kMaxPeerSeries; ++i) {
    RequestStats& series = stats->inboundFrom("workload=w" + std::to_string(i));
    EXPECT_NE(&series, &stats->inbound()) << i;
  }
  EXPECT_EQ(&stats->inboundFrom("workload=one-too-many"), &stats->inbound());
  // Known peers still get their series.
  EXPECT_NE(&stats->inboundFrom("workload=w0"), &stats->inbound());
}

TEST(PeerSeriesCache, AsksTheRegistryOnlyWhenThePeerChanges) {
  MetricsRegistry reg(1);
  mesh::Snapshot s = bookinfoSnapshot();
  auto stats = reg.bind(s);
  PeerSeriesCache cache;
  RequestStats& first = cache.inbound(*stats, kProductpage);
  EXPECT_EQ(&cache.inbound(*stats, kProductpage), &first);
  EXPECT_EQ(&cache.inbound(*stats, ""), &stats->inbound());
  EXPECT_EQ(&cache.outbound(*stats, 0, ""), &stats->outbound(0));
  EXPECT_EQ(&cache.outbound(*stats, 1, ""), &stats->outbound(1));
  EXPECT_EQ(&cache.inbound(*stats, kProductpage), &first);
}

}  // namespace
}  // namespace weft::observe
