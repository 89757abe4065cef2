// Load balancing policies (see load_balancer.h).
#include "upstream/load_balancer.h"

namespace weft::upstream {

EndpointCountersTable::EndpointCountersTable(const mesh::Snapshot& snapshot, int workers)
    : workers_(workers) {
  for (const auto& c : snapshot.clusters) {
    cluster_offset_.push_back(per_worker_);
    per_worker_ += static_cast<uint32_t>(c.endpoints.size());
  }
  cluster_offset_.push_back(per_worker_);  // the inbound app cluster
  per_worker_ += static_cast<uint32_t>(snapshot.inbound_app.endpoints.size());
  slots_ = std::make_unique<EndpointCounters[]>(static_cast<size_t>(per_worker_) * workers_ + 1);
}

EndpointCounters& EndpointCountersTable::at(int worker, uint32_t cluster, uint32_t endpoint) {
  return slots_[static_cast<size_t>(worker) * per_worker_ + cluster_offset_[cluster] + endpoint];
}

EndpointCountersTable::Totals EndpointCountersTable::total(uint32_t cluster,
                                                           uint32_t endpoint) const {
  Totals t;
  for (int w = 0; w < workers_; ++w) {
    const EndpointCounters& c =
        slots_[static_cast<size_t>(w) * per_worker_ + cluster_offset_[cluster] + endpoint];
    t.rq_total += c.rq_total.load(std::memory_order_relaxed);
    t.rq_error += c.rq_error.load(std::memory_order_relaxed);
    t.cx_connect_fail += c.cx_connect_fail.load(std::memory_order_relaxed);
    t.rq_active += c.rq_active.load(std::memory_order_relaxed);
  }
  return t;
}

namespace {

int weightedRandom(const ClusterState& s, uint64_t (*random)()) {
  uint64_t ticket = random() % s.total_weight;
  for (size_t i = 0; i < s.endpoints.size(); ++i) {
    if (ticket < s.endpoints[i].weight) return static_cast<int>(i);
    ticket -= s.endpoints[i].weight;
  }
  return static_cast<int>(s.endpoints.size()) - 1;
}

int smoothRoundRobin(ClusterState& s) {
  int best = -1;
  for (size_t i = 0; i < s.endpoints.size(); ++i) {
    EndpointState& e = s.endpoints[i];
    e.current_weight += e.weight;
    if (best < 0 || e.current_weight > s.endpoints[best].current_weight) {
      best = static_cast<int>(i);
    }
  }
  s.endpoints[best].current_weight -= static_cast<int64_t>(s.total_weight);
  return best;
}

int leastRequest(const ClusterState& s, uint64_t (*random)()) {
  int a = weightedRandom(s, random);
  int b = weightedRandom(s, random);
  const EndpointState& ea = s.endpoints[a];
  const EndpointState& eb = s.endpoints[b];
  // Compare active/weight without division: a_active * b_weight vs b_active * a_weight.
  uint64_t la = static_cast<uint64_t>(ea.active_requests) * eb.weight;
  uint64_t lb = static_cast<uint64_t>(eb.active_requests) * ea.weight;
  return lb < la ? b : a;
}

}  // namespace

int pickEndpoint(ClusterState& state, uint64_t (*random)()) {
  if (state.endpoints.empty() || state.total_weight == 0) return -1;
  if (state.endpoints.size() == 1) return 0;
  switch (state.cluster->lb) {
    case mesh::LbPolicy::kRoundRobin:
      return smoothRoundRobin(state);
    case mesh::LbPolicy::kLeastRequest:
      return leastRequest(state, random);
    case mesh::LbPolicy::kRandom:
    case mesh::LbPolicy::kPassthrough:
      return weightedRandom(state, random);
  }
  return 0;
}

}  // namespace weft::upstream
