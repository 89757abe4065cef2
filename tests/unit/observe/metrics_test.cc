// MetricsRegistry: histogram bucket placement, series kept across snapshot swaps, per-worker
// recording summed at scrape (also while workers record), overflow, Weft's own metrics.
#include "observe/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <limits>
#include <thread>

#include "observe/request_stats.h"
#include "prom_text.h"
#include "test_snapshot.h"

namespace weft::observe {
namespace {

using testing::bookinfoSnapshot;
using testing::parseSamples;
using testing::Sample;
using testing::value;

RequestInfo request(uint16_t code, uint64_t duration_us = 1000, uint64_t req_bytes = 0,
                    uint64_t resp_bytes = 0, uint32_t flags = 0) {
  RequestInfo info;
  info.response_code = code;
  info.duration_us = duration_us;
  info.request_bytes = req_bytes;
  info.response_bytes = resp_bytes;
  info.response_flags = flags;
  return info;
}

constexpr double kInf = std::numeric_limits<double>::infinity();

// Cumulative bucket counts by upper bound ("+Inf" parsed as infinity).
std::map<double, double> buckets(const std::vector<Sample>& samples, const std::string& name) {
  std::map<double, double> out;
  for (const auto& s : testing::find(samples, name + "_bucket")) {
    out[std::strtod(s.labels.at("le").c_str(), nullptr)] += s.value;
  }
  return out;
}

TEST(BucketIndex, LeIsInclusive) {
  using detail::bucketIndex;
  using detail::kBytesBounds;
  using detail::kDurationBoundsUs;
  EXPECT_EQ(bucketIndex(kDurationBoundsUs, 0), 0u);
  EXPECT_EQ(bucketIndex(kDurationBoundsUs, 500), 0u);
  EXPECT_EQ(bucketIndex(kDurationBoundsUs, 501), 1u);
  EXPECT_EQ(bucketIndex(kDurationBoundsUs, 1000), 1u);
  EXPECT_EQ(bucketIndex(kDurationBoundsUs, 3'600'000'000), 18u);
  EXPECT_EQ(bucketIndex(kDurationBoundsUs, 3'600'000'001), 19u);
  EXPECT_EQ(bucketIndex(kBytesBounds, 0), 0u);
  EXPECT_EQ(bucketIndex(kBytesBounds, 1), 0u);
  EXPECT_EQ(bucketIndex(kBytesBounds, 2), 1u);
  EXPECT_EQ(bucketIndex(kBytesBounds, 10'000'000), 7u);
  EXPECT_EQ(bucketIndex(kBytesBounds, 10'000'001), 8u);
}

TEST(MetricsHistograms, IstioBucketsAndBoundaryPlacement) {
  MetricsRegistry registry(1);
  auto stats = registry.bind(bookinfoSnapshot());
  RequestStats& r = stats->outbound(0);
  r.record(0, request(200, 500, 1, 0));   // 0.5 ms, 1 byte: first buckets
  r.record(0, request(200, 501, 2, 10));  // just above 0.5 ms; 2 bytes -> le 10
  r.record(0, request(200, 3'600'000'000, 10'000'000, 10'000'001));  // last bound; +Inf
  const auto samples = parseSamples(registry.serialize());

  const auto d = buckets(samples, "istio_request_duration_milliseconds");
  const std::vector<double> want_bounds = {0.5,   1,      5,      10,      25,     50,    100,
                                           250,   500,    1000,   2500,    5000,   10000, 30000,
                                           60000, 300000, 600000, 1800000, 3600000};
  ASSERT_EQ(d.size(), want_bounds.size() + 1);
  for (double b : want_bounds) EXPECT_EQ(d.count(b), 1u) << b;
  EXPECT_EQ(d.at(0.5), 1);
  EXPECT_EQ(d.at(1), 2);
  EXPECT_EQ(d.at(1800000), 2);
  EXPECT_EQ(d.at(3600000), 3);
  EXPECT_EQ(d.at(kInf), 3);
  EXPECT_EQ(value(samples, "istio_request_duration_milliseconds_count"), 3);
  EXPECT_DOUBLE_EQ(*value(samples, "istio_request_duration_milliseconds_sum"),
                   0.5 + 0.501 + 3'600'000.0);

  const auto rq = buckets(samples, "istio_request_bytes");
  ASSERT_EQ(rq.size(), 9u);
  EXPECT_EQ(rq.at(1), 1);
  EXPECT_EQ(rq.at(10), 2);
  EXPECT_EQ(rq.at(1000000), 2);
  EXPECT_EQ(rq.at(10000000), 3);
  EXPECT_EQ(rq.at(kInf), 3);
  EXPECT_EQ(value(samples, "istio_request_bytes_sum"), 10'000'003);

  const auto rs = buckets(samples, "istio_response_bytes");
  EXPECT_EQ(rs.at(1), 1);  // 0 bytes
  EXPECT_EQ(rs.at(10), 2);
  EXPECT_EQ(rs.at(10000000), 2);
  EXPECT_EQ(rs.at(kInf), 3);
  EXPECT_EQ(value(samples, "istio_response_bytes_count"), 3);
}

TEST(MetricsSeries, SeparatePerCodeAndFlags) {
  MetricsRegistry registry(1);
  auto stats = registry.bind(bookinfoSnapshot());
  RequestStats& r = stats->outbound(0);
  r.record(0, request(200));
  r.record(0, request(200));
  r.record(0, request(503, 1000, 0, 0, kUpstreamConnectionFailure));
  r.record(0, request(503));
  const auto samples = parseSamples(registry.serialize());
  EXPECT_EQ(value(samples, "istio_requests_total", {{"response_code", "200"}}), 2);
  EXPECT_EQ(
      value(samples, "istio_requests_total", {{"response_code", "503"}, {"response_flags", "UF"}}),
      1);
  EXPECT_EQ(
      value(samples, "istio_requests_total", {{"response_code", "503"}, {"response_flags", "-"}}),
      1);
}

TEST(MetricsSeries, KeptAndReusedAcrossSnapshotSwaps) {
  MetricsRegistry registry(2);
  auto first = registry.bind(bookinfoSnapshot());
  first->outbound(0).record(0, request(200));

  // A new snapshot with the clusters reordered and the ratings labels unchanged.
  mesh::Snapshot next = bookinfoSnapshot();
  next.version = 8;
  std::swap(next.clusters[0], next.clusters[2]);
  auto second = registry.bind(next);
  EXPECT_EQ(&second->outbound(2), &first->outbound(0));
  second->outbound(2).record(1, request(200));
  // A request still in flight on the old snapshot finishes there.
  first->outbound(0).record(0, request(200));

  const auto samples = parseSamples(registry.serialize());
  EXPECT_EQ(value(samples, "istio_requests_total",
                  {{"destination_service_name", "ratings"}, {"response_code", "200"}}),
            3);

  // Once the old snapshot is gone, its series remain (counters never go backwards).
  first.reset();
  second.reset();
  const auto later = parseSamples(registry.serialize());
  EXPECT_EQ(value(later, "istio_requests_total", {{"destination_service_name", "ratings"}}), 3);
}

TEST(MetricsSeries, NewLabelsGetNewSeries) {
  MetricsRegistry registry(1);
  auto first = registry.bind(bookinfoSnapshot());
  first->outbound(0).record(0, request(200));
  mesh::Snapshot next = bookinfoSnapshot();
  for (auto& ep : next.clusters[0].endpoints) ep.labels["version"] = "v2";
  auto second = registry.bind(next);
  EXPECT_NE(&second->outbound(0), &first->outbound(0));
  second->outbound(0).record(0, request(200));
  const auto samples = parseSamples(registry.serialize());
  EXPECT_EQ(value(samples, "istio_requests_total", {{"destination_version", "v1"}}), 1);
  EXPECT_EQ(value(samples, "istio_requests_total", {{"destination_version", "v2"}}), 1);
}

TEST(MetricsSeries, OverflowGoesToOtherEntry) {
  MetricsRegistry registry(1);
  auto stats = registry.bind(bookinfoSnapshot());
  const uint32_t distinct = detail::kCodeEntries + 4;
  for (uint32_t i = 0; i < distinct; ++i) {
    stats->inbound().record(0, request(static_cast<uint16_t>(200 + i)));
  }
  stats->inbound().record(0, request(200));  // an existing entry still counts in place
  const auto samples = parseSamples(registry.serialize());
  EXPECT_EQ(testing::find(samples, "istio_requests_total").size(), detail::kCodeEntries + 1);
  EXPECT_EQ(value(samples, "istio_requests_total", {{"response_code", "200"}}), 2);
  EXPECT_EQ(value(samples, "istio_requests_total",
                  {{"response_code", "other"}, {"response_flags", "other"}}),
            4);
}

TEST(MetricsSeries, OutOfRangeIndexesDoNotCrash) {
  MetricsRegistry registry(2);
  auto stats = registry.bind(bookinfoSnapshot());
  stats->outbound(0).record(5, request(200));  // no such worker: dropped
  stats->outbound(0).record(-1, request(200));
  stats->outbound(99).record(0, request(404));  // no such cluster: counted as no route
  const auto samples = parseSamples(registry.serialize());
  EXPECT_FALSE(value(samples, "istio_requests_total", {{"response_code", "200"}}).has_value());
  EXPECT_EQ(value(samples, "istio_requests_total",
                  {{"destination_service", "unknown"}, {"response_code", "404"}}),
            1);
}

// Two workers record into their own slots while the main thread scrapes: every scrape sees
// totals that only grow and a histogram count equal to its +Inf bucket; the end total is exact.
TEST(MetricsConcurrency, TwoWorkersAndAConcurrentScrape) {
  MetricsRegistry registry(2);
  auto stats = registry.bind(bookinfoSnapshot());
  constexpr int kPerWorker = 200'000;
  std::atomic<int> running{2};
  auto work = [&](int worker) {
    for (int i = 0; i < kPerWorker; ++i) {
      const uint16_t code = (i % 10 == 0) ? 503 : 200;
      stats->outbound(0).record(worker, request(code, static_cast<uint64_t>(i % 7000), 5, 50));
      if (i % 1000 == 0) stats->inbound().record(worker, request(200));
    }
    running.fetch_sub(1);
  };
  std::thread t0(work, 0), t1(work, 1);
  double last = 0;
  int scrapes = 0;
  while (running.load() > 0 || scrapes < 3) {
    const auto samples = parseSamples(registry.serialize());
    double total = 0;
    for (const auto& s : testing::find(samples, "istio_requests_total",
                                       {{"destination_service_name", "ratings"}})) {
      total += s.value;
    }
    EXPECT_GE(total, last);
    last = total;
    for (const auto& c : testing::find(samples, "istio_request_duration_milliseconds_count")) {
      auto labels = c.labels;
      labels["le"] = "+Inf";
      EXPECT_EQ(value(samples, "istio_request_duration_milliseconds_bucket", labels), c.value);
    }
    ++scrapes;
  }
  t0.join();
  t1.join();
  const auto samples = parseSamples(registry.serialize());
  EXPECT_EQ(value(samples, "istio_requests_total",
                  {{"destination_service_name", "ratings"}, {"response_code", "200"}}),
            2 * kPerWorker * 9 / 10);
  EXPECT_EQ(value(samples, "istio_requests_total",
                  {{"destination_service_name", "ratings"}, {"response_code", "503"}}),
            2 * kPerWorker / 10);
  EXPECT_EQ(value(samples, "istio_request_bytes_sum", {{"response_code", "503"}}),
            5.0 * 2 * kPerWorker / 10);
  EXPECT_EQ(value(samples, "istio_requests_total", {{"reporter", "destination"}}),
            2 * kPerWorker / 1000);
}

TEST(MetricsWeft, WorkerCountersSummedAndConfigGauges) {
  MetricsRegistry registry(3);
  WorkerCounters::inc(registry.worker(0).downstream_cx_total, 5);
  WorkerCounters::inc(registry.worker(2).downstream_cx_total, 7);
  WorkerCounters::add(registry.worker(0).downstream_cx_active, 3);
  WorkerCounters::add(registry.worker(1).downstream_cx_active, -1);
  WorkerCounters::inc(registry.worker(1).upstream_cx_connect_fail);
  WorkerCounters::add(registry.worker(2).upstream_cx_idle, 4);
  registry.setConfig(42, true);
  auto samples = parseSamples(registry.serialize());
  EXPECT_EQ(value(samples, "weft_downstream_cx_total"), 12);
  EXPECT_EQ(value(samples, "weft_downstream_cx_active"), 2);
  EXPECT_EQ(value(samples, "weft_upstream_cx_connect_fail_total"), 1);
  EXPECT_EQ(value(samples, "weft_upstream_cx_idle"), 4);
  EXPECT_EQ(value(samples, "weft_upstream_rq_reset_total"), 0);
  EXPECT_EQ(value(samples, "weft_config_version"), 42);
  EXPECT_EQ(value(samples, "weft_config_last_reload_success"), 1);
  EXPECT_EQ(value(samples, "weft_workers"), 3);
  registry.setConfig(42, false);
  samples = parseSamples(registry.serialize());
  EXPECT_EQ(value(samples, "weft_config_last_reload_success"), 0);
}

TEST(MetricsCluster, PerClusterCountersByNameSummedOverWorkersAndKeptAcrossSnapshots) {
  MetricsRegistry registry(2);
  const mesh::Snapshot snap = bookinfoSnapshot();
  auto stats = registry.bind(snap);
  const std::string name0 = snap.clusters[0].name;
  ClusterCounters::inc(stats->cluster(0, 0).rq_retry);
  ClusterCounters::inc(stats->cluster(0, 1).rq_retry);
  ClusterCounters::add(stats->cluster(0, 1).rq_pending_active, 2);
  ClusterCounters::add(stats->cluster(0, 0).rq_pending_active, -1);
  // The inbound app has its own entry, past the outbound clusters.
  const auto inbound = static_cast<uint32_t>(snap.clusters.size());
  ClusterCounters::inc(stats->cluster(inbound, 0).rq_pending_overflow);

  mesh::Snapshot next = snap;
  std::swap(next.clusters[0], next.clusters[1]);
  auto second = registry.bind(next);
  EXPECT_EQ(&second->cluster(1, 0), &stats->cluster(0, 0)) << "found by name, not index";
  ClusterCounters::inc(second->cluster(1, 1).rq_retry);

  const auto samples = parseSamples(registry.serialize());
  EXPECT_EQ(value(samples, "weft_cluster_upstream_rq_retry_total", {{"cluster_name", name0}}), 3);
  EXPECT_EQ(value(samples, "weft_cluster_upstream_rq_pending_active", {{"cluster_name", name0}}),
            1);
  EXPECT_EQ(value(samples, "weft_cluster_upstream_rq_pending_overflow_total",
                  {{"cluster_name", snap.inbound_app.name}}),
            1);
  // Every cluster is listed, zeros included.
  EXPECT_EQ(testing::find(samples, "weft_cluster_upstream_rq_retry_total").size(),
            snap.clusters.size() + 1);
}

TEST(MetricsText, HelpAndTypeLines) {
  MetricsRegistry registry(1);
  auto stats = registry.bind(bookinfoSnapshot());
  stats->outbound(0).record(0, request(200));
  const std::string text = registry.serialize();
  EXPECT_NE(text.find("# TYPE istio_requests_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE istio_request_duration_milliseconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE weft_downstream_cx_active gauge\n"), std::string::npos);
  EXPECT_NE(text.find("# HELP istio_requests_total "), std::string::npos);
}

}  // namespace
}  // namespace weft::observe
