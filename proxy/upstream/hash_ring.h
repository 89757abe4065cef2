// HashRing: consistent-hash endpoint selection (DestinationRule consistentHash), as a ring hash
// (ringHash.minimumRingSize) or a Maglev table (maglev.tableSize), honouring endpoint weights.
//
// Built once per worker per snapshot; a lookup is a binary search (ring) or an index (Maglev),
// with no allocation. When one of N endpoints leaves, only about 1/N of the keys move.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace weft::upstream {

// 64-bit hash of a key (FNV-1a, then a finalizer that spreads the bits).
uint64_t hashKey(std::string_view key);

class HashRing {
 public:
  struct Host {
    std::string_view identity;  // "ip:port": where an endpoint's points come from
    uint32_t weight = 1;
  };

  // Ring hash with at least `min_ring_size` points, or Maglev with a `table_size`-slot table
  // (a prime).
  static HashRing ring(const std::vector<Host>& hosts, uint64_t min_ring_size);
  static HashRing maglev(const std::vector<Host>& hosts, uint64_t table_size);

  // Index of the host for `hash`; -1 when there are no hosts. `usable(i)` may reject hosts (an
  // ejected endpoint): the next host along the ring (or a re-hash for Maglev) is taken.
  template <class Usable>
  int pick(uint64_t hash, Usable usable) const;
  int pick(uint64_t hash) const {
    return pick(hash, [](int) { return true; });
  }
  bool empty() const { return points_.empty() && table_.empty(); }

 private:
  int lookup(uint64_t hash) const;
  std::vector<std::pair<uint64_t, int>> points_;  // ring: (point hash, host), sorted
  std::vector<int> table_;                        // maglev: slot -> host
  int hosts_ = 0;
};

template <class Usable>
int HashRing::pick(uint64_t hash, Usable usable) const {
  if (hosts_ == 0) return -1;
  // A few alternatives before giving up on the key: a rejected host's keys spread over the
  // others instead of all moving to one neighbour.
  for (int attempt = 0; attempt < 8; ++attempt) {
    int host = lookup(hash);
    if (host >= 0 && usable(host)) return host;
    hash = hashKey(std::string_view(reinterpret_cast<const char*>(&hash), sizeof(hash)));
  }
  return -1;
}

}  // namespace weft::upstream
