// Consistent-hash tables (see hash_ring.h).
#include "upstream/hash_ring.h"

#include <algorithm>
#include <bit>
#include <numeric>
#include <string>

namespace weft::upstream {

uint64_t hashKey(std::string_view key) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  // splitmix64's finalizer: FNV alone clusters short, similar keys.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

HashRing HashRing::ring(const std::vector<Host>& hosts, uint64_t min_ring_size) {
  HashRing r;
  r.hosts_ = static_cast<int>(hosts.size());
  uint64_t total = 0;
  for (const Host& h : hosts) total += h.weight;
  if (total == 0) return r;
  // Each host gets points in proportion to its weight. The points per unit of weight are
  // rounded up to a power of two, so that a host joining or leaving does not change every
  // other host's points (which would move their keys too); the ring still has at least
  // min_ring_size points.
  uint64_t per_weight = std::max<uint64_t>(1, (min_ring_size + total - 1) / total);
  per_weight = std::bit_ceil(per_weight);
  std::string key;
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (hosts[i].weight == 0) continue;
    uint64_t points = per_weight * hosts[i].weight;
    for (uint64_t p = 0; p < points; ++p) {
      key.assign(hosts[i].identity);
      key += '_';
      key += std::to_string(p);
      r.points_.emplace_back(hashKey(key), static_cast<int>(i));
    }
  }
  std::sort(r.points_.begin(), r.points_.end());
  return r;
}

HashRing HashRing::maglev(const std::vector<Host>& hosts, uint64_t table_size) {
  HashRing r;
  r.hosts_ = static_cast<int>(hosts.size());
  if (hosts.empty() || table_size == 0) return r;
  const uint64_t m = table_size;
  std::vector<uint64_t> offset(hosts.size()), skip(hosts.size()), next(hosts.size(), 0);
  uint32_t max_weight = 0;
  for (size_t i = 0; i < hosts.size(); ++i) {
    std::string id(hosts[i].identity);
    offset[i] = hashKey(id + "#offset") % m;
    skip[i] = hashKey(id + "#skip") % (m - 1) + 1;
    max_weight = std::max(max_weight, hosts[i].weight);
  }
  if (max_weight == 0) return r;
  r.table_.assign(m, -1);
  uint64_t filled = 0;
  std::vector<uint64_t> taken(hosts.size(), 0);
  // Weighted Maglev (as Envoy's): in round n a host may take a slot while its share stays
  // within n * weight / max_weight, so slots split in proportion to the weights.
  for (uint64_t round = 1; filled < m; ++round) {
    for (size_t i = 0; i < hosts.size() && filled < m; ++i) {
      if (hosts[i].weight == 0 || taken[i] * max_weight >= round * hosts[i].weight) continue;
      uint64_t slot;
      do {
        slot = (offset[i] + next[i] * skip[i]) % m;
        ++next[i];
      } while (r.table_[slot] >= 0);
      r.table_[slot] = static_cast<int>(i);
      ++taken[i];
      ++filled;
    }
  }
  return r;
}

int HashRing::lookup(uint64_t hash) const {
  if (!table_.empty()) return table_[hash % table_.size()];
  if (points_.empty()) return -1;
  auto it = std::lower_bound(points_.begin(), points_.end(), std::make_pair(hash, -1));
  if (it == points_.end()) it = points_.begin();
  return it->second;
}

}  // namespace weft::upstream
