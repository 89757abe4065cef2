// MetricsRegistry: owns every destination's series storage (kept for the life of the process
// so counters never go backwards across snapshot swaps), the per-worker WorkerCounters, and the
// scrape: sum the workers into prometheus::MetricFamily objects and serialize them as text.
#include "observe/metrics.h"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <limits>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "observe/peer_metadata.h"
#include "observe/request_stats.h"

namespace weft::observe {

using detail::DestinationStats;
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

namespace {

struct alignas(64) PaddedCounters {
  WorkerCounters counters;
};

template <typename Counters>
struct alignas(64) Padded {
  Counters counters;
};

// One named set of per-worker counters (a cluster's, an authorization policy's), kept for the
// life of the process like the request series.
template <typename Counters>
class NamedStats {
 public:
  NamedStats(std::string name, int workers)
      : name_(std::move(name)),
        workers_(workers),
        slots_(std::make_unique<Padded<Counters>[]>(workers)) {}
  const std::string& name() const { return name_; }
  Counters& worker(int w) { return slots_[w < 0 || w >= workers_ ? 0 : w].counters; }
  // Sum over workers of one field (signed cells summed as doubles keep their sign).
  template <typename Field>
  double sum(Field field) const {
    double total = 0;
    for (int w = 0; w < workers_; ++w) {
      total += static_cast<double>((slots_[w].counters.*field).load(std::memory_order_relaxed));
    }
    return total;
  }

 private:
  std::string name_;
  int workers_;
  std::unique_ptr<Padded<Counters>[]> slots_;
};
using ClusterStats = NamedStats<ClusterCounters>;
using AuthzStats = NamedStats<AuthzCounters>;

// Creates (or finds) the series of a label set; implemented by the registry.
class PeerSeries {
 public:
  virtual ~PeerSeries() = default;
  // The series for `labels`, or `fallback` when the peer series bound is reached.
  virtual DestinationStats& internPeer(DestinationLabels labels, DestinationStats& fallback) = 0;
  // The plain series of an outbound cluster.
  virtual DestinationStats& internOutbound(const mesh::NodeIdentity& node,
                                           const mesh::Cluster& cluster) = 0;
};

class SnapshotStatsImpl final : public SnapshotStats {
 public:
  // An outbound cluster's series is found (under the registry's lock) when a worker first
  // sends to it, not when the snapshot is bound: of a mesh of thousands of clusters a
  // workload calls a few.
  mesh::SnapshotPtr snapshot_;
  size_t outbound_count_ = 0;
  std::unique_ptr<std::atomic<DestinationStats*>[]> outbound_;
  std::shared_ptr<DestinationStats> no_route_;
  std::shared_ptr<DestinationStats> inbound_;
  std::vector<std::shared_ptr<ClusterStats>> clusters_;  // outbound clusters, then inbound
  PeerSeries* peers_ = nullptr;  // the registry, which outlives every snapshot's stats
  std::vector<std::shared_ptr<AuthzStats>> authz_;  // per applying policy, then "none"

  AuthzCounters& authz(int32_t policy, int worker) const override {
    size_t i = policy < 0 || static_cast<size_t>(policy) + 1 >= authz_.size()
                   ? authz_.size() - 1
                   : static_cast<size_t>(policy);
    return authz_[i]->worker(worker);
  }

  RequestStats& inboundFrom(std::string_view header, std::string_view principal) const override {
    PeerMetadata peer;
    const bool known_peer = !header.empty() && parsePeerMetadata(header, peer);
    if (!known_peer && principal.empty()) return *inbound_;
    DestinationLabels l = inbound_->labels();
    if (known_peer) applyPeer(l, peer, /*peer_is_source=*/true);
    if (!principal.empty()) {
      applyMutualTls(l, principal, snapshot_->bootstrap.node.spiffeId(), /*peer_is_source=*/true);
    }
    return peers_->internPeer(std::move(l), *inbound_);
  }
  DestinationStats& outboundStats(uint32_t i) const {
    DestinationStats* s = outbound_[i].load(std::memory_order_acquire);
    if (s == nullptr) {
      s = &peers_->internOutbound(snapshot_->bootstrap.node, snapshot_->clusters[i]);
      outbound_[i].store(s, std::memory_order_release);  // racing workers store the same one
    }
    return *s;
  }

  RequestStats& outboundTo(uint32_t cluster_index, std::string_view header,
                           std::string_view principal) const override {
    if (cluster_index >= outbound_count_) return *no_route_;
    DestinationStats& plain = outboundStats(cluster_index);
    PeerMetadata peer;
    const bool known_peer = !header.empty() && parsePeerMetadata(header, peer);
    if (!known_peer && principal.empty()) return plain;
    DestinationLabels l = plain.labels();
    if (known_peer) applyPeer(l, peer, /*peer_is_source=*/false);
    if (!principal.empty()) {
      applyMutualTls(l, principal, snapshot_->bootstrap.node.spiffeId(), /*peer_is_source=*/false);
    }
    return peers_->internPeer(std::move(l), plain);
  }

  RequestStats& outbound(uint32_t cluster_index) const override {
    // An index from another snapshot is a caller bug; counting it as "no route" beats a crash.
    return cluster_index < outbound_count_ ? outboundStats(cluster_index) : *no_route_;
  }
  RequestStats& outboundNoRoute() const override { return *no_route_; }
  RequestStats& inbound() const override { return *inbound_; }
  ClusterCounters& cluster(uint32_t cluster_index, int worker) const override {
    if (cluster_index >= clusters_.size()) cluster_index = clusters_.size() - 1;
    return clusters_[cluster_index]->worker(worker);
  }
};

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void addLabel(ClientMetric& m, std::string_view name, std::string value) {
  m.label.push_back({std::string(name), std::move(value)});
}

// Istio's label order: the fixed labels up to request_protocol, then the per-request ones
// interleaved as Istio's stats filter emits them.
ClientMetric requestMetric(const DestinationLabels& l, const std::string& code,
                           const std::string& flags) {
  ClientMetric m;
  m.label.reserve(kLabelCount + 2);
  for (int i = 0; i <= kRequestProtocol; ++i) addLabel(m, kLabelNames[i], l.values[i]);
  addLabel(m, "response_flags", flags);
  addLabel(m, kLabelNames[kConnectionSecurityPolicy], l[kConnectionSecurityPolicy]);
  addLabel(m, "response_code", code);
  addLabel(m, kLabelNames[kGrpcResponseStatus], l[kGrpcResponseStatus]);
  return m;
}

// istio_tcp_* carry no response_code/grpc_response_status, and request_protocol "tcp".
ClientMetric tcpMetric(const DestinationLabels& l) {
  ClientMetric m;
  for (int i = 0; i < kRequestProtocol; ++i) addLabel(m, kLabelNames[i], l.values[i]);
  addLabel(m, kLabelNames[kRequestProtocol], "tcp");
  addLabel(m, "response_flags", "-");
  addLabel(m, kLabelNames[kConnectionSecurityPolicy], l[kConnectionSecurityPolicy]);
  return m;
}

template <size_t N>
ClientMetric::Histogram histogram(const std::array<uint64_t, N>& bounds, double scale,
                                  const uint64_t* cells, double sum) {
  ClientMetric::Histogram h;
  uint64_t cumulative = 0;
  h.bucket.reserve(N + 1);
  for (size_t i = 0; i < N; ++i) {
    cumulative += cells[i];
    h.bucket.push_back({cumulative, static_cast<double>(bounds[i]) / scale});
  }
  cumulative += cells[N];
  h.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
  h.sample_count = cumulative;
  h.sample_sum = sum;
  return h;
}

struct RequestFamilies {
  MetricFamily requests =
      family("istio_requests_total", "Requests handled by this proxy (Istio standard metric).",
             MetricType::Counter);
  MetricFamily duration = family("istio_request_duration_milliseconds",
                                 "Request duration in milliseconds, first request byte to last "
                                 "response byte (Istio standard metric).",
                                 MetricType::Histogram);
  MetricFamily request_bytes =
      family("istio_request_bytes", "Request body sizes in bytes (Istio standard metric).",
             MetricType::Histogram);
  MetricFamily response_bytes =
      family("istio_response_bytes", "Response body sizes in bytes (Istio standard metric).",
             MetricType::Histogram);
  MetricFamily tcp_sent = family("istio_tcp_sent_bytes_total",
                                 "Bytes sent to the downstream on TCP connections (Istio "
                                 "standard metric).",
                                 MetricType::Counter);
  MetricFamily tcp_received = family("istio_tcp_received_bytes_total",
                                     "Bytes received from the downstream on TCP connections "
                                     "(Istio standard metric).",
                                     MetricType::Counter);
  MetricFamily tcp_opened =
      family("istio_tcp_connections_opened_total",
             "TCP connections opened (Istio standard metric).", MetricType::Counter);
  MetricFamily tcp_closed =
      family("istio_tcp_connections_closed_total",
             "TCP connections closed (Istio standard metric).", MetricType::Counter);

  void addEntry(const DestinationLabels& l, const std::string& code, const std::string& flags,
                const detail::EntryTotals& t) {
    ClientMetric base = requestMetric(l, code, flags);
    ClientMetric m = base;
    m.counter.value = static_cast<double>(t.count());
    requests.metric.push_back(std::move(m));
    m = base;
    m.histogram = histogram(detail::kDurationBoundsUs, 1000.0, t.duration,
                            static_cast<double>(t.duration_sum_us) / 1000.0);
    duration.metric.push_back(std::move(m));
    m = base;
    m.histogram = histogram(detail::kBytesBounds, 1.0, t.request_bytes,
                            static_cast<double>(t.request_bytes_sum));
    request_bytes.metric.push_back(std::move(m));
    base.histogram = histogram(detail::kBytesBounds, 1.0, t.response_bytes,
                               static_cast<double>(t.response_bytes_sum));
    response_bytes.metric.push_back(std::move(base));
  }

  void addTcp(const DestinationLabels& l, const detail::TcpTotals& t) {
    ClientMetric base = tcpMetric(l);
    const auto add = [&](MetricFamily& f, uint64_t v) {
      ClientMetric m = base;
      m.counter.value = static_cast<double>(v);
      f.metric.push_back(std::move(m));
    };
    add(tcp_sent, t.sent);
    add(tcp_received, t.received);
    add(tcp_opened, t.opened);
    add(tcp_closed, t.closed);
  }

  void moveInto(std::vector<MetricFamily>& out) {
    for (MetricFamily* f : {&requests, &duration, &request_bytes, &response_bytes, &tcp_sent,
                            &tcp_received, &tcp_opened, &tcp_closed}) {
      if (!f->metric.empty()) out.push_back(std::move(*f));
    }
  }
};

ClientMetric valueMetric(double v, MetricType type) {
  ClientMetric m;
  if (type == MetricType::Counter) {
    m.counter.value = v;
  } else {
    m.gauge.value = v;
  }
  return m;
}

}  // namespace

struct MetricsRegistry::Impl final : PeerSeries {
  explicit Impl(int n) : workers(n), counters(std::make_unique<PaddedCounters[]>(n)) {}

  const int workers;
  std::unique_ptr<PaddedCounters[]> counters;
  std::atomic<uint64_t> config_version{0};
  std::atomic<bool> last_reload_ok{false};
  std::atomic<bool> control_plane{false};
  std::atomic<bool> control_plane_connected{false};
  std::atomic<uint64_t> control_plane_acks{0};
  std::atomic<uint64_t> control_plane_nacks{0};
  std::atomic<bool> identity{false};
  std::atomic<int64_t> identity_expiry{0};
  std::atomic<uint64_t> identity_renewals_ok{0};
  std::atomic<uint64_t> identity_renewals_error{0};

  // Guards the series index: bind() and serialize() on the main thread, and workers when they
  // meet a new peer (once per connection and peer, never per request).
  std::mutex mutex;
  std::unordered_map<std::string, std::shared_ptr<DestinationStats>> by_key;
  std::vector<std::shared_ptr<DestinationStats>> in_order;  // stable output order
  std::unordered_map<std::string, std::shared_ptr<ClusterStats>> clusters_by_name;
  std::vector<std::shared_ptr<ClusterStats>> clusters_in_order;
  std::unordered_map<std::string, std::shared_ptr<AuthzStats>> authz_by_name;
  std::vector<std::shared_ptr<AuthzStats>> authz_in_order;

  std::shared_ptr<AuthzStats> internAuthz(const std::string& name) {
    auto it = authz_by_name.find(name);
    if (it != authz_by_name.end()) return it->second;
    auto stats = std::make_shared<AuthzStats>(name, workers);
    authz_by_name.emplace(name, stats);
    authz_in_order.push_back(stats);
    return stats;
  }

  std::shared_ptr<ClusterStats> internCluster(const std::string& name) {
    auto it = clusters_by_name.find(name);
    if (it != clusters_by_name.end()) return it->second;
    auto stats = std::make_shared<ClusterStats>(name, workers);
    clusters_by_name.emplace(name, stats);
    clusters_in_order.push_back(stats);
    return stats;
  }

  std::shared_ptr<DestinationStats> intern(DestinationLabels labels) {
    std::string key = labels.key();
    auto it = by_key.find(key);
    if (it != by_key.end()) return it->second;
    auto stats = std::make_shared<DestinationStats>(std::move(labels), workers);
    by_key.emplace(std::move(key), stats);
    in_order.push_back(stats);
    return stats;
  }

  size_t peer_series = 0;

  DestinationStats& internOutbound(const mesh::NodeIdentity& node,
                                   const mesh::Cluster& cluster) override {
    std::lock_guard lock(mutex);
    return *intern(outboundLabels(node, cluster));
  }

  // Called by workers, once per connection and peer (the result is cached there).
  DestinationStats& internPeer(DestinationLabels labels, DestinationStats& fallback) override {
    std::lock_guard lock(mutex);
    std::string key = labels.key();
    auto it = by_key.find(key);
    if (it != by_key.end()) return *it->second;
    if (peer_series >= SnapshotStats::kMaxPeerSeries) return fallback;
    ++peer_series;
    auto stats = std::make_shared<DestinationStats>(std::move(labels), workers);
    by_key.emplace(std::move(key), stats);
    in_order.push_back(stats);
    return *stats;
  }

  void addWorkerFamilies(std::vector<MetricFamily>& out) const;
  void addClusterFamilies(std::vector<MetricFamily>& out) const;
};

void MetricsRegistry::Impl::addClusterFamilies(std::vector<MetricFamily>& out) const {
  struct Def {
    const char* name;
    const char* help;
    MetricType type;
    std::atomic<uint64_t> ClusterCounters::*counter;
    std::atomic<int64_t> ClusterCounters::*gauge;
  };
  static const Def defs[] = {
      {"weft_cluster_upstream_rq_retry_total", "Retries made to the cluster.", MetricType::Counter,
       &ClusterCounters::rq_retry, nullptr},
      {"weft_cluster_upstream_rq_retry_success_total",
       "Retried requests that ended with an answer below 500.", MetricType::Counter,
       &ClusterCounters::rq_retry_success, nullptr},
      {"weft_cluster_upstream_rq_retry_overflow_total",
       "Retries not made because the retry budget or maxRetries was exhausted.",
       MetricType::Counter, &ClusterCounters::rq_retry_overflow, nullptr},
      {"weft_cluster_upstream_rq_retry_limit_exceeded_total",
       "Requests whose retry attempts were used up (flag URX).", MetricType::Counter,
       &ClusterCounters::rq_retry_limit_exceeded, nullptr},
      {"weft_cluster_upstream_rq_pending_total",
       "Requests that waited for a connection (tcp.maxConnections reached).", MetricType::Counter,
       &ClusterCounters::rq_pending_total, nullptr},
      {"weft_cluster_upstream_rq_pending_active", "Requests waiting for a connection now.",
       MetricType::Gauge, nullptr, &ClusterCounters::rq_pending_active},
      {"weft_cluster_upstream_rq_pending_overflow_total",
       "Requests answered 503 UO by a circuit breaker (http2MaxRequests, "
       "http1MaxPendingRequests, or a wait for a connection that timed out).",
       MetricType::Counter, &ClusterCounters::rq_pending_overflow, nullptr},
      {"weft_cluster_outlier_ejections_total", "Endpoint ejections by outlier detection.",
       MetricType::Counter, &ClusterCounters::outlier_ejections, nullptr},
  };
  for (const Def& d : defs) {
    MetricFamily f = family(d.name, d.help, d.type);
    for (const auto& c : clusters_in_order) {
      ClientMetric m = valueMetric(d.counter ? c->sum(d.counter) : c->sum(d.gauge), d.type);
      addLabel(m, "cluster_name", c->name());
      f.metric.push_back(std::move(m));
    }
    if (!f.metric.empty()) out.push_back(std::move(f));
  }
  struct AuthzDef {
    const char* name;
    const char* help;
    std::atomic<uint64_t> AuthzCounters::*counter;
  };
  static const AuthzDef authz_defs[] = {
      {"weft_authz_allowed_total",
       "Inbound requests allowed by AuthorizationPolicy, by deciding policy (none: no ALLOW "
       "policy applies).",
       &AuthzCounters::allowed},
      {"weft_authz_denied_total",
       "Inbound requests denied (403) by AuthorizationPolicy, by deciding policy (none: no ALLOW "
       "rule matched).",
       &AuthzCounters::denied},
  };
  for (const AuthzDef& d : authz_defs) {
    MetricFamily f = family(d.name, d.help, MetricType::Counter);
    for (const auto& a : authz_in_order) {
      ClientMetric m = valueMetric(a->sum(d.counter), MetricType::Counter);
      addLabel(m, "policy", a->name());
      f.metric.push_back(std::move(m));
    }
    if (!f.metric.empty()) out.push_back(std::move(f));
  }
}

void MetricsRegistry::Impl::addWorkerFamilies(std::vector<MetricFamily>& out) const {
  struct Def {
    const char* name;
    const char* help;
    MetricType type;
    double (*read)(const WorkerCounters&);
  };
  // Gauge cells are signed: converting each cell to double before summing keeps the sign
  // instead of wrapping through uint64_t.
#define WEFT_READ(field)                                                 \
  [](const WorkerCounters& c) {                                          \
    return static_cast<double>(c.field.load(std::memory_order_relaxed)); \
  }
  static const Def defs[] = {
      {"weft_downstream_cx_active", "Downstream connections open now.", MetricType::Gauge,
       WEFT_READ(downstream_cx_active)},
      {"weft_downstream_cx_total", "Downstream connections accepted.", MetricType::Counter,
       WEFT_READ(downstream_cx_total)},
      {"weft_downstream_rq_total", "Downstream requests received.", MetricType::Counter,
       WEFT_READ(downstream_rq_total)},
      {"weft_downstream_rq_active", "Downstream requests in flight now.", MetricType::Gauge,
       WEFT_READ(downstream_rq_active)},
      {"weft_downstream_protocol_errors_total",
       "Downstream requests rejected by the HTTP codec (400/431).", MetricType::Counter,
       WEFT_READ(downstream_protocol_errors)},
      {"weft_upstream_cx_active", "Upstream connections open now.", MetricType::Gauge,
       WEFT_READ(upstream_cx_active)},
      {"weft_upstream_cx_idle", "Upstream connections pooled and idle now.", MetricType::Gauge,
       WEFT_READ(upstream_cx_idle)},
      {"weft_upstream_cx_total", "Upstream connections opened.", MetricType::Counter,
       WEFT_READ(upstream_cx_total)},
      {"weft_upstream_cx_connect_fail_total", "Upstream connection attempts that failed.",
       MetricType::Counter, WEFT_READ(upstream_cx_connect_fail)},
      {"weft_upstream_rq_reset_total", "Upstream requests reset or closed before a full response.",
       MetricType::Counter, WEFT_READ(upstream_rq_reset)},
      {"weft_upstream_rq_stale_retry_total",
       "Upstream requests resent after a pooled connection turned out closed.", MetricType::Counter,
       WEFT_READ(upstream_rq_stale_retry)},
      {"weft_upstream_cx_pool_reuse_total", "Upstream requests sent on a pooled connection.",
       MetricType::Counter, WEFT_READ(upstream_cx_pool_reuse)},
      {"weft_upstream_rq_retry_total", "Upstream requests retried (VirtualService retries).",
       MetricType::Counter, WEFT_READ(upstream_rq_retry)},
      {"weft_upstream_rq_retry_overflow_total",
       "Retries not made because the retry budget or maxRetries was exhausted.",
       MetricType::Counter, WEFT_READ(upstream_rq_retry_overflow)},
      {"weft_outlier_ejections_total", "Endpoint ejections by outlier detection.",
       MetricType::Counter, WEFT_READ(outlier_ejections)},
      {"weft_upstream_tls_handshakes_total",
       "TLS handshakes completed on upstream connections (resumed ones included).",
       MetricType::Counter, WEFT_READ(upstream_tls_handshakes)},
      {"weft_upstream_tls_resumed_total",
       "Upstream TLS handshakes that resumed a session (no certificate exchange).",
       MetricType::Counter, WEFT_READ(upstream_tls_resumed)},
      {"weft_upstream_tls_failures_total",
       "Upstream TLS handshakes that failed (verification, secure naming, protocol).",
       MetricType::Counter, WEFT_READ(upstream_tls_failures)},
      {"weft_downstream_tls_handshakes_total",
       "TLS handshakes completed on inbound connections (resumed ones included).",
       MetricType::Counter, WEFT_READ(downstream_tls_handshakes)},
      {"weft_downstream_tls_resumed_total", "Inbound TLS handshakes that resumed a session.",
       MetricType::Counter, WEFT_READ(downstream_tls_resumed)},
      {"weft_downstream_tls_failures_total",
       "Inbound TLS handshakes that failed (no or untrusted client certificate, protocol).",
       MetricType::Counter, WEFT_READ(downstream_tls_failures)},
      {"weft_downstream_plaintext_refused_total",
       "Inbound plain-text connections refused by PeerAuthentication STRICT.", MetricType::Counter,
       WEFT_READ(downstream_plaintext_refused)},
  };
#undef WEFT_READ
  for (const Def& d : defs) {
    MetricFamily f = family(d.name, d.help, d.type);
    double total = 0;
    for (int w = 0; w < workers; ++w) total += d.read(counters[w].counters);
    f.metric.push_back(valueMetric(total, d.type));
    out.push_back(std::move(f));
  }
}

bool PeerSeriesCache::hit(const SnapshotStats& stats, uint32_t cluster, std::string_view header,
                          std::string_view principal) const {
  return series_ != nullptr && stats_ == &stats && cluster_ == cluster && header_ == header &&
         principal_ == principal;
}

void PeerSeriesCache::remember(const SnapshotStats& stats, uint32_t cluster,
                               std::string_view header, std::string_view principal,
                               RequestStats& series) {
  stats_ = &stats;
  cluster_ = cluster;
  header_.assign(header);
  principal_.assign(principal);
  series_ = &series;
}

RequestStats& PeerSeriesCache::inbound(const SnapshotStats& stats, std::string_view header,
                                       std::string_view principal) {
  constexpr uint32_t kInbound = std::numeric_limits<uint32_t>::max();
  if (hit(stats, kInbound, header, principal)) return *series_;
  RequestStats& series = stats.inboundFrom(header, principal);
  remember(stats, kInbound, header, principal, series);
  return series;
}

RequestStats& PeerSeriesCache::outbound(const SnapshotStats& stats, uint32_t cluster,
                                        std::string_view header, std::string_view principal) {
  if (hit(stats, cluster, header, principal)) return *series_;
  RequestStats& series = stats.outboundTo(cluster, header, principal);
  remember(stats, cluster, header, principal, series);
  return series;
}

MetricsRegistry::MetricsRegistry(int workers)
    : impl_(std::make_unique<Impl>(workers < 1 ? 1 : workers)) {}

MetricsRegistry::~MetricsRegistry() = default;

std::shared_ptr<const SnapshotStats> MetricsRegistry::bind(mesh::SnapshotPtr snapshot_ptr) {
  const mesh::Snapshot& snapshot = *snapshot_ptr;
  auto stats = std::make_shared<SnapshotStatsImpl>();
  stats->peers_ = impl_.get();
  const mesh::NodeIdentity& node = snapshot.bootstrap.node;
  stats->snapshot_ = snapshot_ptr;
  stats->outbound_count_ = snapshot.clusters.size();
  stats->outbound_ = std::make_unique<std::atomic<DestinationStats*>[]>(stats->outbound_count_);
  for (size_t i = 0; i < stats->outbound_count_; ++i) {
    stats->outbound_[i].store(nullptr, std::memory_order_relaxed);
  }
  std::lock_guard lock(impl_->mutex);
  stats->no_route_ = impl_->intern(noRouteLabels(node));
  stats->inbound_ = impl_->intern(inboundLabels(node, snapshot.inbound_app));
  stats->clusters_.reserve(snapshot.clusters.size() + 1);
  for (const auto& cluster : snapshot.clusters) {
    stats->clusters_.push_back(impl_->internCluster(cluster.name));
  }
  stats->clusters_.push_back(impl_->internCluster(snapshot.inbound_app.name));
  // Authorization series exist only once a policy applies (bounded by the policies configured).
  if (snapshot.authz) {
    for (const auto& p : snapshot.authz->policies)
      stats->authz_.push_back(impl_->internAuthz(p.name));
  }
  stats->authz_.push_back(snapshot.authz ? impl_->internAuthz("none") : nullptr);
  return stats;
}

WorkerCounters& MetricsRegistry::worker(int index) {
  // Out of range is a caller bug; clamping keeps it from writing outside the array.
  if (index < 0 || index >= impl_->workers) index = 0;
  return impl_->counters[index].counters;
}

void MetricsRegistry::setConfig(uint64_t version, bool last_reload_ok) {
  impl_->config_version.store(version, std::memory_order_relaxed);
  impl_->last_reload_ok.store(last_reload_ok, std::memory_order_relaxed);
}

void MetricsRegistry::enableControlPlane() {
  impl_->control_plane.store(true, std::memory_order_relaxed);
}

void MetricsRegistry::setControlPlaneConnected(bool connected) {
  impl_->control_plane_connected.store(connected, std::memory_order_relaxed);
}

void MetricsRegistry::countControlPlaneUpdate(bool acked) {
  auto& c = acked ? impl_->control_plane_acks : impl_->control_plane_nacks;
  c.fetch_add(1, std::memory_order_relaxed);
}

void MetricsRegistry::enableIdentity() {
  impl_->identity.store(true, std::memory_order_relaxed);
}

void MetricsRegistry::setIdentityExpiry(int64_t not_after) {
  impl_->identity_expiry.store(not_after, std::memory_order_relaxed);
}

void MetricsRegistry::countIdentityRenewal(bool ok) {
  auto& c = ok ? impl_->identity_renewals_ok : impl_->identity_renewals_error;
  c.fetch_add(1, std::memory_order_relaxed);
}

std::string MetricsRegistry::serialize() {
  std::vector<MetricFamily> families;
  RequestFamilies rf;
  {
    std::lock_guard lock(impl_->mutex);
    for (const auto& dest : impl_->in_order) {
      const detail::DestinationTotals totals = dest->collect();
      const DestinationLabels& l = dest->labels();
      for (const auto& [key, t] : totals.by_key) {
        rf.addEntry(l, std::to_string(key >> 32),
                    formatResponseFlags(static_cast<uint32_t>(key & 0xffffffffu)), t);
      }
      // The overflow entry mixes codes; "other" keeps it visible without inventing a code.
      if (totals.overflow.count() > 0) rf.addEntry(l, "other", "other", totals.overflow);
      const auto& tcp = totals.tcp;
      if (tcp.opened + tcp.closed + tcp.sent + tcp.received > 0) rf.addTcp(l, tcp);
    }
  }
  rf.moveInto(families);
  impl_->addWorkerFamilies(families);
  {
    std::lock_guard lock(impl_->mutex);
    impl_->addClusterFamilies(families);
  }

  MetricFamily version = family("weft_config_version",
                                "Version of the configuration snapshot in use.", MetricType::Gauge);
  version.metric.push_back(
      valueMetric(static_cast<double>(impl_->config_version.load(std::memory_order_relaxed)),
                  MetricType::Gauge));
  families.push_back(std::move(version));
  MetricFamily ok = family("weft_config_last_reload_success",
                           "1 if the last configuration load was applied, 0 if it was rejected.",
                           MetricType::Gauge);
  ok.metric.push_back(valueMetric(impl_->last_reload_ok.load(std::memory_order_relaxed) ? 1.0 : 0.0,
                                  MetricType::Gauge));
  families.push_back(std::move(ok));
  if (impl_->control_plane.load(std::memory_order_relaxed)) {
    MetricFamily connected = family(
        "weft_control_plane_connected",
        "1 while the control plane answers this sidecar's calls, else 0.", MetricType::Gauge);
    connected.metric.push_back(
        valueMetric(impl_->control_plane_connected.load(std::memory_order_relaxed) ? 1.0 : 0.0,
                    MetricType::Gauge));
    families.push_back(std::move(connected));
    MetricFamily updates =
        family("weft_control_plane_updates_total",
               "Configurations pushed by the control plane, by outcome: applied (ack) or "
               "rejected (nack).",
               MetricType::Counter);
    for (bool acked : {true, false}) {
      ClientMetric m =
          valueMetric(static_cast<double>(
                          (acked ? impl_->control_plane_acks : impl_->control_plane_nacks).load()),
                      MetricType::Counter);
      addLabel(m, "result", acked ? "ack" : "nack");
      updates.metric.push_back(std::move(m));
    }
    families.push_back(std::move(updates));
  }
  if (impl_->identity.load(std::memory_order_relaxed)) {
    MetricFamily expiry = family(
        "weft_identity_expiry_timestamp_seconds",
        "notAfter of the sidecar's current workload certificate, unix seconds (0: none yet).",
        MetricType::Gauge);
    expiry.metric.push_back(
        valueMetric(static_cast<double>(impl_->identity_expiry.load(std::memory_order_relaxed)),
                    MetricType::Gauge));
    families.push_back(std::move(expiry));
    MetricFamily renewals =
        family("weft_identity_renewals_total",
               "Attempts to get a new workload certificate (from the control plane's CA, or "
               "by reloading the identity files), by outcome.",
               MetricType::Counter);
    for (bool ok : {true, false}) {
      ClientMetric m = valueMetric(
          static_cast<double>(
              (ok ? impl_->identity_renewals_ok : impl_->identity_renewals_error).load()),
          MetricType::Counter);
      addLabel(m, "result", ok ? "ok" : "error");
      renewals.metric.push_back(std::move(m));
    }
    families.push_back(std::move(renewals));
  }
  MetricFamily workers = family("weft_workers", "Worker threads.", MetricType::Gauge);
  workers.metric.push_back(valueMetric(impl_->workers, MetricType::Gauge));
  families.push_back(std::move(workers));

  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace weft::observe
