// Load balancing over a cluster's endpoints, per worker (no shared state, no locks).
//
// Policies (DestinationRule trafficPolicy.loadBalancer.simple), all honouring endpoint weights:
// - ROUND_ROBIN: smooth weighted round robin (nginx's), even interleaving for any weights.
// - LEAST_REQUEST (Istio's default): power of two choices among weighted random picks, keeping
//   the one with fewer active requests per unit of weight.
// - RANDOM: weighted random.
// - PASSTHROUGH: the address the app asked for; with static endpoints it behaves as RANDOM.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "mesh/snapshot.h"

namespace weft::upstream {

class HostPool;

// Per-endpoint counters shown by /clusters: written by one worker, read by the admin thread.
struct EndpointCounters {
  std::atomic<uint64_t> rq_total{0};
  std::atomic<uint64_t> rq_error{0};  // 5xx answers and upstream failures
  std::atomic<uint64_t> cx_connect_fail{0};
  std::atomic<int64_t> rq_active{0};
};

// Counters for every endpoint of every cluster of one snapshot, one slice per worker.
class EndpointCountersTable {
 public:
  EndpointCountersTable(const mesh::Snapshot& snapshot, int workers);
  EndpointCounters& at(int worker, uint32_t cluster, uint32_t endpoint);
  // Sum over workers of one endpoint's counters.
  struct Totals {
    uint64_t rq_total = 0, rq_error = 0, cx_connect_fail = 0;
    int64_t rq_active = 0;
  };
  Totals total(uint32_t cluster, uint32_t endpoint) const;

 private:
  int workers_;
  std::vector<uint32_t> cluster_offset_;  // first slot of each cluster in a worker's slice
  uint32_t per_worker_ = 0;
  std::unique_ptr<EndpointCounters[]> slots_;
};

struct EndpointState {
  uint32_t index = 0;  // the endpoint's index in mesh::Cluster::endpoints
  HostPool* pool = nullptr;
  uint32_t weight = 1;
  uint32_t active_requests = 0;
  int64_t current_weight = 0;  // smooth weighted round robin
  EndpointCounters* counters = nullptr;
};

struct ClusterState {
  const mesh::Cluster* cluster = nullptr;
  std::vector<EndpointState> endpoints;
  uint64_t total_weight = 0;
  // For the retry budget and connectionPool.http.maxRetries: this worker's requests to the
  // cluster in flight, and how many of them are retries.
  uint32_t active_requests = 0;
  uint32_t active_retries = 0;
};

// Index of the endpoint for the next request, or -1 when the cluster has none.
// `random` is a uniform 64-bit source.
int pickEndpoint(ClusterState& state, uint64_t (*random)());

}  // namespace weft::upstream
