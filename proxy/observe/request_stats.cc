// The hot path of Istio's request metrics (record) and its scrape-time reader (collect).
#include "observe/request_stats.h"

namespace weft::observe::detail {
namespace {

void addEntry(EntryTotals& t, const CodeEntry& e) {
  const auto get = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  for (size_t i = 0; i < kDurationCells; ++i) t.duration[i] += get(e.duration[i]);
  t.duration_sum_us += get(e.duration_sum_us);
  for (size_t i = 0; i < kBytesCells; ++i) {
    t.request_bytes[i] += get(e.request_bytes[i]);
    t.response_bytes[i] += get(e.response_bytes[i]);
  }
  t.request_bytes_sum += get(e.request_bytes_sum);
  t.response_bytes_sum += get(e.response_bytes_sum);
}

}  // namespace

uint64_t EntryTotals::count() const {
  uint64_t n = 0;
  for (auto c : duration) n += c;
  return n;
}

DestinationStats::DestinationStats(DestinationLabels labels, int workers)
    : labels_(std::move(labels)),
      workers_(workers),
      tables_(std::make_unique<std::atomic<WorkerTable*>[]>(static_cast<size_t>(workers))) {
  for (int w = 0; w < workers_; ++w) tables_[w].store(nullptr, std::memory_order_relaxed);
}

DestinationStats::~DestinationStats() {
  for (int w = 0; w < workers_; ++w) delete tables_[w].load(std::memory_order_acquire);
}

WorkerTable* DestinationStats::table(int worker) const {
  if (static_cast<unsigned>(worker) >= static_cast<unsigned>(workers_)) return nullptr;
  WorkerTable* t = tables_[worker].load(std::memory_order_relaxed);  // we are its only writer
  if (t == nullptr) {
    t = new WorkerTable();
    tables_[worker].store(t, std::memory_order_release);
  }
  return t;
}

void DestinationStats::record(int worker, const RequestInfo& info) {
  WorkerTable* t = table(worker);
  if (t == nullptr) return;
  const uint64_t key = entryKey(info.response_code, info.response_flags);
  const uint32_t used = t->used.load(std::memory_order_relaxed);  // we are its only writer
  CodeEntry* e = nullptr;
  for (uint32_t i = 0; i < used; ++i) {
    if (t->entries[i].key.load(std::memory_order_relaxed) == key) {
      e = &t->entries[i];
      break;
    }
  }
  if (e == nullptr) {
    if (used < kCodeEntries) {
      e = &t->entries[used];
      e->key.store(key, std::memory_order_relaxed);
      t->used.store(used + 1, std::memory_order_release);
    } else {
      e = &t->overflow;
    }
  }
  // The request count is the duration histogram's count: one cell fewer to write, and
  // istio_requests_total can never disagree with the histogram's _count.
  bump(e->duration[bucketIndex(kDurationBoundsUs, info.duration_us)]);
  bump(e->duration_sum_us, info.duration_us);
  bump(e->request_bytes[bucketIndex(kBytesBounds, info.request_bytes)]);
  bump(e->request_bytes_sum, info.request_bytes);
  bump(e->response_bytes[bucketIndex(kBytesBounds, info.response_bytes)]);
  bump(e->response_bytes_sum, info.response_bytes);
}

void DestinationStats::tcpOpened(int worker) {
  if (WorkerTable* t = table(worker)) bump(t->tcp_opened);
}

void DestinationStats::tcpClosed(int worker, uint64_t sent_bytes, uint64_t received_bytes) {
  WorkerTable* t = table(worker);
  if (t == nullptr) return;
  bump(t->tcp_closed);
  bump(t->tcp_sent, sent_bytes);
  bump(t->tcp_received, received_bytes);
}

DestinationTotals DestinationStats::collect() const {
  DestinationTotals out;
  for (int w = 0; w < workers_; ++w) {
    const WorkerTable* table = tables_[w].load(std::memory_order_acquire);
    if (table == nullptr) continue;
    const WorkerTable& t = *table;
    const uint32_t used = t.used.load(std::memory_order_acquire);
    for (uint32_t i = 0; i < used; ++i) {
      addEntry(out.by_key[t.entries[i].key.load(std::memory_order_relaxed)], t.entries[i]);
    }
    addEntry(out.overflow, t.overflow);
    out.tcp.opened += t.tcp_opened.load(std::memory_order_relaxed);
    out.tcp.closed += t.tcp_closed.load(std::memory_order_relaxed);
    out.tcp.sent += t.tcp_sent.load(std::memory_order_relaxed);
    out.tcp.received += t.tcp_received.load(std::memory_order_relaxed);
  }
  return out;
}

}  // namespace weft::observe::detail
