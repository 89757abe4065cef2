// The storage behind one destination's Istio request/TCP series: per-worker tables of relaxed
// atomics that only their own worker writes, read and summed at scrape time.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>

#include "observe/istio_labels.h"
#include "observe/metrics.h"

namespace weft::observe::detail {

// Istio's default buckets for istio_request_duration_milliseconds, in microseconds so that
// recording compares integers (RequestInfo carries microseconds).
inline constexpr std::array<uint64_t, 19> kDurationBoundsUs = {
    500,        1'000,       5'000,       10'000,        25'000,       50'000,     100'000,
    250'000,    500'000,     1'000'000,   2'500'000,     5'000'000,    10'000'000, 30'000'000,
    60'000'000, 300'000'000, 600'000'000, 1'800'000'000, 3'600'000'000};
// Istio's buckets for istio_request_bytes and istio_response_bytes.
inline constexpr std::array<uint64_t, 8> kBytesBounds = {1,      10,      100,       1'000,
                                                         10'000, 100'000, 1'000'000, 10'000'000};

inline constexpr size_t kDurationCells = kDurationBoundsUs.size() + 1;  // + the +Inf bucket
inline constexpr size_t kBytesCells = kBytesBounds.size() + 1;

// (response_code, response_flags) pairs a worker tracks per destination before the rest go to
// the overflow entry. Real traffic shows a handful (200, 404, 503 UF, 503 URX, 504 UT, 0 DC).
inline constexpr uint32_t kCodeEntries = 16;

// The bucket a value falls in: the first bound >= v, as Prometheus buckets are "le" (less or
// equal); values above every bound land in the last (+Inf) cell.
template <size_t N>
inline size_t bucketIndex(const std::array<uint64_t, N>& bounds, uint64_t v) {
  size_t i = 0;
  while (i < N && v > bounds[i]) ++i;
  return i;
}

inline uint64_t entryKey(uint16_t code, uint32_t flags) {
  return (static_cast<uint64_t>(code) << 32) | flags;
}

// Only the owning worker writes, so a relaxed load + store is an exact increment and avoids
// the cost of a locked read-modify-write; readers see each cell move forward only.
inline void bump(std::atomic<uint64_t>& cell, uint64_t n = 1) {
  cell.store(cell.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

struct CodeEntry {
  std::atomic<uint64_t> key{0};
  std::atomic<uint64_t> duration[kDurationCells];  // not cumulative
  std::atomic<uint64_t> duration_sum_us{0};
  std::atomic<uint64_t> request_bytes[kBytesCells];
  std::atomic<uint64_t> request_bytes_sum{0};
  std::atomic<uint64_t> response_bytes[kBytesCells];
  std::atomic<uint64_t> response_bytes_sum{0};
};

// Aligned so two workers never write the same cache line.
struct alignas(64) WorkerTable {
  // Entries [0, used) are live; an entry's key is written before `used` is raised (release),
  // so a scrape that reads `used` (acquire) sees the keys of every entry it reads.
  std::atomic<uint32_t> used{0};
  std::atomic<uint64_t> tcp_opened{0};
  std::atomic<uint64_t> tcp_closed{0};
  std::atomic<uint64_t> tcp_sent{0};
  std::atomic<uint64_t> tcp_received{0};
  CodeEntry entries[kCodeEntries];
  CodeEntry overflow;  // every further (code, flags) pair
};

// Plain sums over workers, built at scrape time.
struct EntryTotals {
  uint64_t duration[kDurationCells] = {};
  uint64_t duration_sum_us = 0;
  uint64_t request_bytes[kBytesCells] = {};
  uint64_t request_bytes_sum = 0;
  uint64_t response_bytes[kBytesCells] = {};
  uint64_t response_bytes_sum = 0;

  uint64_t count() const;
};

struct TcpTotals {
  uint64_t opened = 0;
  uint64_t closed = 0;
  uint64_t sent = 0;
  uint64_t received = 0;
};

struct DestinationTotals {
  std::map<uint64_t, EntryTotals> by_key;  // entryKey(code, flags) -> totals
  EntryTotals overflow;
  TcpTotals tcp;
};

// A worker's table is made by that worker on its first record: a mesh of thousands of
// destinations, most of them never called by this workload, costs a pointer per worker each.
class DestinationStats final : public RequestStats {
 public:
  DestinationStats(DestinationLabels labels, int workers);
  ~DestinationStats() override;
  DestinationStats(const DestinationStats&) = delete;
  DestinationStats& operator=(const DestinationStats&) = delete;

  void record(int worker, const RequestInfo& info) override;
  void tcpOpened(int worker) override;
  void tcpClosed(int worker, uint64_t sent_bytes, uint64_t received_bytes) override;

  const DestinationLabels& labels() const { return labels_; }
  // Scrape side: the sum over all workers; safe while workers record.
  DestinationTotals collect() const;

 private:
  // Worker `worker`'s table, made on first use (only that worker calls this); null for a
  // worker index out of range.
  WorkerTable* table(int worker) const;

  const DestinationLabels labels_;
  const int workers_;
  // Written once each, by its own worker (release); read by the scrape (acquire).
  std::unique_ptr<std::atomic<WorkerTable*>[]> tables_;
};

}  // namespace weft::observe::detail
