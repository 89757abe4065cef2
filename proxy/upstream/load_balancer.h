// Load balancing over a cluster's endpoints, per worker (no shared state, no locks).
//
// Policies (DestinationRule trafficPolicy.loadBalancer.simple), all honouring endpoint weights:
// - ROUND_ROBIN: smooth weighted round robin (nginx's), even interleaving for any weights.
// - LEAST_REQUEST (Istio's default): power of two choices among weighted random picks, keeping
//   the one with fewer active requests per unit of weight.
// - RANDOM: weighted random.
// - PASSTHROUGH: the address the app asked for; with static endpoints it behaves as RANDOM.
//
// Endpoints ejected by outlier detection are skipped. When the healthy share falls below the
// cluster's minHealthPercent the load balancer "panics" and uses every endpoint; Istio sets
// that threshold to 0 by default, so by default there is no panic: all ejected means no
// healthy upstream.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "mesh/snapshot.h"
#include "upstream/hash_ring.h"

namespace weft::upstream {

class HostPool;

// Per-endpoint counters shown by /clusters: written by one worker, read by the admin thread.
struct EndpointCounters {
  std::atomic<uint64_t> rq_total{0};
  std::atomic<uint64_t> rq_error{0};  // 5xx answers and upstream failures
  std::atomic<uint64_t> cx_connect_fail{0};
  std::atomic<int64_t> rq_active{0};
  std::atomic<uint64_t> ejections{0};  // outlier ejections of this endpoint
  std::atomic<int64_t> ejected{0};     // 1 while ejected (as this worker sees it)
};

// Counters for every endpoint of every cluster of one snapshot, one slice per worker. A
// worker's block for a cluster is made when that worker first asks for it (only it writes
// the pointer): clusters nobody calls cost a pointer per worker.
class EndpointCountersTable {
 public:
  EndpointCountersTable(const mesh::Snapshot& snapshot, int workers);
  ~EndpointCountersTable();
  EndpointCountersTable(const EndpointCountersTable&) = delete;
  EndpointCountersTable& operator=(const EndpointCountersTable&) = delete;
  // Worker `worker` only, for its own slice.
  EndpointCounters& at(int worker, uint32_t cluster, uint32_t endpoint);
  // Sum over workers of one endpoint's counters.
  struct Totals {
    uint64_t rq_total = 0, rq_error = 0, cx_connect_fail = 0, ejections = 0;
    int64_t rq_active = 0, ejected = 0;  // ejected: by how many workers
  };
  Totals total(uint32_t cluster, uint32_t endpoint) const;

 private:
  int workers_;
  std::vector<uint32_t> sizes_;  // endpoints of each cluster (the inbound app last)
  // [worker * sizes_.size() + cluster]: that worker's counters of that cluster, or null.
  std::unique_ptr<std::atomic<EndpointCounters*>[]> blocks_;
};

struct EndpointState {
  uint32_t index = 0;  // the endpoint's index in mesh::Cluster::endpoints
  HostPool* pool = nullptr;
  uint32_t weight = 1;
  uint32_t active_requests = 0;
  int64_t current_weight = 0;  // smooth weighted round robin
  EndpointCounters* counters = nullptr;
  // Outlier detection (consecutive errors of this worker's requests to the endpoint).
  uint32_t consecutive_5xx = 0;
  uint32_t consecutive_gateway = 0;
  uint32_t consecutive_local = 0;
  uint32_t ejection_count = 0;
  uint64_t ejected_until_ms = 0;  // loop time; 0: not ejected
  bool ejectedAt(uint64_t now_ms) const { return ejected_until_ms > now_ms; }
};

struct ClusterState {
  const mesh::Cluster* cluster = nullptr;
  std::vector<EndpointState> endpoints;
  uint64_t total_weight = 0;
  // For the retry budget and connectionPool.http.maxRetries: this worker's requests to the
  // cluster in flight, and how many of them are retries.
  uint32_t active_requests = 0;
  uint32_t active_retries = 0;
  // connectionPool.tcp.maxConnections: this worker's requests waiting for a connection.
  uint32_t pending_requests = 0;
  // consistentHash: the ring or Maglev table over `endpoints` (empty without a hash policy).
  HashRing hash_ring;
};

// This worker's open connections (connecting, busy or idle) to the cluster's endpoints.
size_t openConnections(const ClusterState& state);

// Index of the endpoint for the next request, or -1 when the cluster has none (or none
// healthy). `random` is a uniform 64-bit source; `now_ms` the loop time, for ejections.
int pickEndpoint(ClusterState& state, uint64_t (*random)(), uint64_t now_ms = 0);

// The outcome of one attempt to an endpoint, for outlier detection.
enum class Outcome : uint8_t {
  kSuccess,       // an answer below 500
  k5xx,           // a 5xx answer other than 502/503/504
  kGatewayError,  // a 502, 503 or 504 answer
  kLocalFailure,  // connect failure, reset or per-try timeout: no answer at all
};
// Updates the endpoint's consecutive-error counts and ejects it when the cluster's
// outlierDetection says so (and maxEjectionPercent allows). Returns true if it was ejected.
bool recordOutcome(ClusterState& state, int endpoint, Outcome outcome, uint64_t now_ms);

}  // namespace weft::upstream
