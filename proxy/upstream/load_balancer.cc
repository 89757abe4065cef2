// Load balancing policies (see load_balancer.h).
#include "upstream/load_balancer.h"

#include <algorithm>

#include "upstream/host_pool.h"

namespace weft::upstream {

EndpointCountersTable::EndpointCountersTable(const mesh::Snapshot& snapshot, int workers)
    : workers_(workers) {
  for (const auto& c : snapshot.clusters)
    sizes_.push_back(static_cast<uint32_t>(c.endpoints.size()));
  sizes_.push_back(static_cast<uint32_t>(snapshot.inbound_app.endpoints.size()));
  const size_t n = sizes_.size() * static_cast<size_t>(workers_);
  blocks_ = std::make_unique<std::atomic<EndpointCounters*>[]>(n);
  for (size_t i = 0; i < n; ++i) blocks_[i].store(nullptr, std::memory_order_relaxed);
}

EndpointCountersTable::~EndpointCountersTable() {
  const size_t n = sizes_.size() * static_cast<size_t>(workers_);
  for (size_t i = 0; i < n; ++i) delete[] blocks_[i].load(std::memory_order_acquire);
}

EndpointCounters& EndpointCountersTable::at(int worker, uint32_t cluster, uint32_t endpoint) {
  std::atomic<EndpointCounters*>& slot =
      blocks_[static_cast<size_t>(worker) * sizes_.size() + cluster];
  EndpointCounters* block = slot.load(std::memory_order_relaxed);  // this worker is its only writer
  if (block == nullptr) {
    block = new EndpointCounters[std::max<uint32_t>(sizes_[cluster], 1)];
    slot.store(block, std::memory_order_release);
  }
  return block[endpoint];
}

EndpointCountersTable::Totals EndpointCountersTable::total(uint32_t cluster,
                                                           uint32_t endpoint) const {
  Totals t;
  for (int w = 0; w < workers_; ++w) {
    const EndpointCounters* block =
        blocks_[static_cast<size_t>(w) * sizes_.size() + cluster].load(std::memory_order_acquire);
    if (block == nullptr) continue;
    const EndpointCounters& c = block[endpoint];
    t.rq_total += c.rq_total.load(std::memory_order_relaxed);
    t.rq_error += c.rq_error.load(std::memory_order_relaxed);
    t.cx_connect_fail += c.cx_connect_fail.load(std::memory_order_relaxed);
    t.rq_active += c.rq_active.load(std::memory_order_relaxed);
    t.ejections += c.ejections.load(std::memory_order_relaxed);
    t.ejected += c.ejected.load(std::memory_order_relaxed);
  }
  return t;
}

namespace {

// The policies below pick among the endpoints `usable` accepts (all of them, or only the
// healthy ones), so one implementation serves both cases without copying the endpoint list.
template <class Usable>
int weightedRandom(const ClusterState& s, uint64_t usable_weight, Usable usable,
                   uint64_t (*random)()) {
  uint64_t ticket = random() % usable_weight;
  for (size_t i = 0; i < s.endpoints.size(); ++i) {
    if (!usable(i)) continue;
    if (ticket < s.endpoints[i].weight) return static_cast<int>(i);
    ticket -= s.endpoints[i].weight;
  }
  return -1;
}

template <class Usable>
int smoothRoundRobin(ClusterState& s, uint64_t usable_weight, Usable usable) {
  int best = -1;
  for (size_t i = 0; i < s.endpoints.size(); ++i) {
    if (!usable(i)) continue;
    EndpointState& e = s.endpoints[i];
    e.current_weight += e.weight;
    if (best < 0 || e.current_weight > s.endpoints[best].current_weight) {
      best = static_cast<int>(i);
    }
  }
  if (best >= 0) s.endpoints[best].current_weight -= static_cast<int64_t>(usable_weight);
  return best;
}

template <class Usable>
int leastRequest(const ClusterState& s, uint64_t usable_weight, Usable usable,
                 uint64_t (*random)()) {
  int a = weightedRandom(s, usable_weight, usable, random);
  int b = weightedRandom(s, usable_weight, usable, random);
  if (a < 0 || b < 0) return a < 0 ? b : a;
  const EndpointState& ea = s.endpoints[a];
  const EndpointState& eb = s.endpoints[b];
  // Compare active/weight without division: a_active * b_weight vs b_active * a_weight.
  uint64_t la = static_cast<uint64_t>(ea.active_requests) * eb.weight;
  uint64_t lb = static_cast<uint64_t>(eb.active_requests) * ea.weight;
  return lb < la ? b : a;
}

template <class Usable>
int pickAmong(ClusterState& state, uint64_t usable_weight, Usable usable, uint64_t (*random)()) {
  switch (state.cluster->lb) {
    case mesh::LbPolicy::kRoundRobin:
      return smoothRoundRobin(state, usable_weight, usable);
    case mesh::LbPolicy::kLeastRequest:
      return leastRequest(state, usable_weight, usable, random);
    case mesh::LbPolicy::kRandom:
    case mesh::LbPolicy::kPassthrough:
      return weightedRandom(state, usable_weight, usable, random);
  }
  return -1;
}

}  // namespace

size_t openConnections(const ClusterState& state) {
  size_t n = 0;
  for (const EndpointState& e : state.endpoints) {
    if (e.pool) n += e.pool->activeCount();
  }
  return n;
}

int pickEndpoint(ClusterState& state, uint64_t (*random)(), uint64_t now_ms) {
  if (state.endpoints.empty() || state.total_weight == 0) return -1;
  const auto all = [](size_t) { return true; };
  if (!state.cluster->outlier.enabled) {
    if (state.endpoints.size() == 1) return 0;
    return pickAmong(state, state.total_weight, all, random);
  }
  uint64_t healthy_weight = 0;
  size_t healthy = 0;
  for (EndpointState& e : state.endpoints) {
    if (e.ejected_until_ms != 0 && !e.ejectedAt(now_ms)) {
      // The ejection time is over: the endpoint is back (its ejection count stays, so the
      // next ejection lasts longer).
      e.ejected_until_ms = 0;
      if (e.counters) e.counters->ejected.store(0, std::memory_order_relaxed);
    }
    if (e.ejectedAt(now_ms)) continue;
    ++healthy;
    healthy_weight += e.weight;
  }
  if (healthy == state.endpoints.size() ||
      healthy * 100 < state.endpoints.size() * state.cluster->outlier.min_health_percent) {
    // Nothing ejected, or panic: too few healthy endpoints, so every endpoint is used.
    if (state.endpoints.size() == 1) return 0;
    return pickAmong(state, state.total_weight, all, random);
  }
  if (healthy == 0 || healthy_weight == 0) return -1;
  return pickAmong(
      state, healthy_weight, [&](size_t i) { return !state.endpoints[i].ejectedAt(now_ms); },
      random);
}

bool recordOutcome(ClusterState& state, int endpoint, Outcome outcome, uint64_t now_ms) {
  const mesh::OutlierPolicy& p = state.cluster->outlier;
  if (!p.enabled || endpoint < 0 || static_cast<size_t>(endpoint) >= state.endpoints.size()) {
    return false;
  }
  EndpointState& e = state.endpoints[endpoint];
  // Envoy's counting: any answer under 500 resets every count; a 5xx that is not a gateway
  // error resets the gateway count; a failure to get an answer counts as a gateway error (and
  // so as a 5xx) unless local-origin errors are split out.
  bool trip = false;
  if (outcome == Outcome::kSuccess) {
    e.consecutive_5xx = e.consecutive_gateway = e.consecutive_local = 0;
    return false;
  }
  if (outcome == Outcome::kLocalFailure && p.split_local_origin) {
    ++e.consecutive_local;
    trip = p.consecutive_local_origin > 0 && e.consecutive_local >= p.consecutive_local_origin;
  } else {
    if (outcome == Outcome::k5xx) {
      e.consecutive_gateway = 0;
    } else {
      ++e.consecutive_gateway;
      trip = p.consecutive_gateway > 0 && e.consecutive_gateway >= p.consecutive_gateway;
    }
    ++e.consecutive_5xx;
    trip = trip || (p.consecutive_5xx > 0 && e.consecutive_5xx >= p.consecutive_5xx);
  }
  if (!trip || e.ejectedAt(now_ms)) return false;
  // maxEjectionPercent: eject only if (ejected + 1) / hosts stays within it (with fewer than 10
  // hosts, Istio's default 10% therefore ejects nothing).
  size_t ejected = 0;
  for (const EndpointState& o : state.endpoints) ejected += o.ejectedAt(now_ms) ? 1 : 0;
  if ((ejected + 1) * 100 > state.endpoints.size() * p.max_ejection_percent) return false;
  ++e.ejection_count;
  // The ejection lasts baseEjectionTime times the number of ejections, at most 300 s (Envoy).
  uint64_t duration = std::min<uint64_t>(uint64_t{p.base_ejection_ms} * e.ejection_count,
                                         std::max<uint64_t>(300'000, p.base_ejection_ms));
  e.ejected_until_ms = now_ms + duration;
  e.consecutive_5xx = e.consecutive_gateway = e.consecutive_local = 0;
  if (e.counters) {
    e.counters->ejections.store(e.counters->ejections.load(std::memory_order_relaxed) + 1,
                                std::memory_order_relaxed);
    e.counters->ejected.store(1, std::memory_order_relaxed);
  }
  return true;
}

}  // namespace weft::upstream
