// Metrics: Istio's standard request and TCP metrics plus Weft's own internals, served in
// Prometheus text format (serialized by prometheus-cpp).
//
// Hot path: a worker records into a RequestStats it already holds (resolved once per snapshot
// per cluster), with relaxed atomics owned by that worker: no locks, no map lookups keyed by
// label strings. The scrape (main thread) adds the workers' values up.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "mesh/snapshot.h"
#include "observe/request_info.h"

namespace weft::observe {

class MetricsRegistry;

// The request/TCP series of one destination (an outbound cluster, the inbound app, or "no
// route") with fixed label values; response_code and response_flags vary per request.
class RequestStats {
 public:
  virtual ~RequestStats() = default;
  // Worker `worker` records one finished request (istio_requests_total,
  // istio_request_duration_milliseconds, istio_request_bytes, istio_response_bytes).
  virtual void record(int worker, const RequestInfo& info) = 0;
  // istio_tcp_* for connections to/from this destination.
  virtual void tcpOpened(int worker) = 0;
  virtual void tcpClosed(int worker, uint64_t sent_bytes, uint64_t received_bytes) = 0;
};

// Traffic-policy counters of one cluster (Envoy's cluster.upstream_rq_retry and kin): one
// slice per worker, written only by that worker; served as weft_cluster_* with the label
// cluster_name.
struct ClusterCounters {
  std::atomic<uint64_t> rq_retry{0};                 // retries made
  std::atomic<uint64_t> rq_retry_success{0};         // retried requests that got an answer < 500
  std::atomic<uint64_t> rq_retry_overflow{0};        // retries refused by budget or maxRetries
  std::atomic<uint64_t> rq_retry_limit_exceeded{0};  // attempts used up (flag URX)
  std::atomic<uint64_t> rq_pending_total{0};         // requests that waited for a connection
  std::atomic<int64_t> rq_pending_active{0};         // requests waiting now
  std::atomic<uint64_t> rq_pending_overflow{0};      // 503 UO: circuit breaker overflow
  std::atomic<uint64_t> outlier_ejections{0};        // endpoints ejected

  static void inc(std::atomic<uint64_t>& c) {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  static void add(std::atomic<int64_t>& g, int64_t n) {
    g.store(g.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};

// AuthorizationPolicy decisions of one policy (label `policy` = "<namespace>/<name>", or
// "none" when no policy decided): one slice per worker, written only by that worker.
struct AuthzCounters {
  std::atomic<uint64_t> allowed{0};
  std::atomic<uint64_t> denied{0};
};

// The stats handles for one snapshot: built once on the main thread when the snapshot is
// published, shared read-only by the workers.
class SnapshotStats {
 public:
  virtual ~SnapshotStats() = default;
  virtual RequestStats& outbound(uint32_t cluster_index) const = 0;
  virtual RequestStats& outboundNoRoute() const = 0;  // destination unknown (404 NR)
  virtual RequestStats& inbound() const = 0;
  // Worker `worker`'s counters of a cluster; `cluster_index` == clusters.size() is the
  // inbound app.
  virtual ClusterCounters& cluster(uint32_t cluster_index, int worker) const = 0;
  // Worker `worker`'s counters of the snapshot's authorization policy `policy` (an index into
  // snapshot.authz->policies; authz::Decision::kNone for "none"). Only when snapshot.authz is set.
  virtual AuthzCounters& authz(int32_t policy, int worker) const = 0;
  // The series of one peer, named by its x-weft-peer header (see peer_metadata.h): for mesh
  // traffic from that peer, or for calls answered by it. An absent or invalid header, or a
  // registry that already holds kMaxPeerSeries peer series, gives the plain series above.
  // A new series is created under the registry's lock: callers cache the result per
  // connection and peer, so the request path stays lock-free.
  // `principal`: the peer's SPIFFE ID when mutual TLS proved it (source_principal and
  // connection_security_policy="mutual_tls" inbound, destination_principal outbound).
  virtual RequestStats& inboundFrom(std::string_view peer_header,
                                    std::string_view principal = {}) const = 0;
  virtual RequestStats& outboundTo(uint32_t cluster_index, std::string_view peer_header,
                                   std::string_view principal = {}) const = 0;

  // Bound on peer series, so that clients inventing peers cannot grow memory without limit.
  static constexpr size_t kMaxPeerSeries = 1024;
};

// One remembered peer series: the registry is consulted only when the peer, the cluster or the
// snapshot's stats change, which in practice is once per connection.
class PeerSeriesCache {
 public:
  RequestStats& inbound(const SnapshotStats& stats, std::string_view peer_header,
                        std::string_view principal = {});
  RequestStats& outbound(const SnapshotStats& stats, uint32_t cluster_index,
                         std::string_view peer_header, std::string_view principal = {});

 private:
  bool hit(const SnapshotStats& stats, uint32_t cluster, std::string_view header,
           std::string_view principal) const;
  void remember(const SnapshotStats& stats, uint32_t cluster, std::string_view header,
                std::string_view principal, RequestStats& series);

  const SnapshotStats* stats_ = nullptr;
  uint32_t cluster_ = 0;
  std::string header_;
  std::string principal_;
  RequestStats* series_ = nullptr;
};

// Weft's internals, one set per worker (weft_* metrics). Written only by their worker.
struct WorkerCounters {
  std::atomic<int64_t> downstream_cx_active{0};
  std::atomic<uint64_t> downstream_cx_total{0};
  std::atomic<uint64_t> downstream_rq_total{0};
  std::atomic<int64_t> downstream_rq_active{0};
  std::atomic<uint64_t> downstream_protocol_errors{0};  // 400/431 from the codec
  std::atomic<int64_t> upstream_cx_active{0};
  std::atomic<int64_t> upstream_cx_idle{0};  // pooled, ready for reuse
  std::atomic<uint64_t> upstream_cx_total{0};
  std::atomic<uint64_t> upstream_cx_connect_fail{0};
  std::atomic<uint64_t> upstream_rq_reset{0};        // reset/closed before a full response
  std::atomic<uint64_t> upstream_rq_stale_retry{0};  // resent after a stale pooled conn
  std::atomic<uint64_t> upstream_cx_pool_reuse{0};
  std::atomic<uint64_t> upstream_rq_retry{0};           // retries made
  std::atomic<uint64_t> upstream_rq_retry_overflow{0};  // retries refused by budget/maxRetries
  std::atomic<uint64_t> outlier_ejections{0};           // endpoints ejected by outlier detection
  // TLS handshakes (mutual TLS between sidecars, DestinationRule origination): full ones are
  // the expensive kind; resumed ones reuse a session ticket.
  std::atomic<uint64_t> upstream_tls_handshakes{0};
  std::atomic<uint64_t> upstream_tls_resumed{0};
  std::atomic<uint64_t> upstream_tls_failures{0};
  std::atomic<uint64_t> downstream_tls_handshakes{0};
  std::atomic<uint64_t> downstream_tls_resumed{0};
  std::atomic<uint64_t> downstream_tls_failures{0};
  std::atomic<uint64_t> downstream_plaintext_refused{0};  // PeerAuthentication STRICT

  static void inc(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  static void add(std::atomic<int64_t>& g, int64_t n) {
    g.store(g.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};

class MetricsRegistry {
 public:
  explicit MetricsRegistry(int workers);
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Main thread: the stats handles of a snapshot (the inbound and no-route series at once,
  // an outbound cluster's when a worker first sends to it). Series are kept after a snapshot
  // is replaced (counters never go backwards).
  // The stats keep the snapshot (an outbound cluster's series is made on first use).
  std::shared_ptr<const SnapshotStats> bind(mesh::SnapshotPtr snapshot);
  // The same for a snapshot the caller does not share (a copy is kept).
  std::shared_ptr<const SnapshotStats> bind(const mesh::Snapshot& snapshot) {
    return bind(std::make_shared<const mesh::Snapshot>(snapshot));
  }
  WorkerCounters& worker(int index);
  // Main thread: config state for weft_config_* gauges.
  void setConfig(uint64_t version, bool last_reload_ok);
  // Dynamic mode (main thread, at start): adds the weft_control_plane_* series.
  void enableControlPlane();
  // Any thread: whether the control plane answers (weft_control_plane_connected).
  void setControlPlaneConnected(bool connected);
  // Main thread: a pushed configuration was applied (ack) or rejected (nack).
  void countControlPlaneUpdate(bool acked);
  // At start, when the sidecar has an identity source: adds the weft_identity_* series.
  void enableIdentity();
  // Main thread: notAfter of the current workload certificate (unix seconds).
  void setIdentityExpiry(int64_t not_after);
  // Any thread: one attempt to get a new identity (CSR to the CA, or a reload of the files).
  void countIdentityRenewal(bool ok);
  // Prometheus text exposition (version 0.0.4) of everything.
  std::string serialize();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace weft::observe
