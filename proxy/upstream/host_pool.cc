// HostPool: keep-alive connections to one endpoint (see host_pool.h).
#include "upstream/host_pool.h"

#include "upstream/upstream_connection.h"

namespace weft::upstream {

namespace {
constexpr uint64_t kPeekAfterIdleNs = 5'000'000;  // 5 ms
}  // namespace

HostPool::HostPool(uv_loop_t* loop, const sockaddr_storage& address, std::string address_text,
                   const PoolSettings& settings, observe::WorkerCounters& counters)
    : loop_(loop),
      address_(address),
      address_text_(std::move(address_text)),
      settings_(settings),
      counters_(counters) {}

HostPool::~HostPool() {
  closeIdle();
}

UpstreamConnection* HostPool::acquire(ResponseHandler* handler, const char* method,
                                      bool allow_reuse, const ConnectionOptions& options) {
  while (allow_reuse && idle_head_ != nullptr) {
    UpstreamConnection* c = idle_head_;
    removeIdle(c);
    // Idle connections keep reading, so a close that arrived before this loop turn is already
    // handled. The peek (one syscall) covers a close that arrived since; it is skipped for a
    // connection used within the last few milliseconds, which a server practically never
    // closes, and a request that still meets a closed connection is resent (see
    // DownstreamConnection::retryOnFreshConnection).
    if (uv_hrtime() - c->idleSinceNs() >= kPeekAfterIdleNs && !c->stillOpen()) {
      c->close();
      continue;
    }
    c->attach(handler, method);
    c->setIdleTimeout(options.idle_timeout_ms);
    observe::WorkerCounters::inc(counters_.upstream_cx_pool_reuse);
    return c;
  }
  auto* c = new UpstreamConnection(loop_, *this);
  ++active_count_;
  observe::WorkerCounters::add(counters_.upstream_cx_active, 1);
  observe::WorkerCounters::inc(counters_.upstream_cx_total);
  c->attach(handler, method);
  c->setIdleTimeout(options.idle_timeout_ms);
  uint32_t timeout =
      options.connect_timeout_ms > 0 ? options.connect_timeout_ms : settings_.connect_timeout_ms;
  if (c->connect(reinterpret_cast<const sockaddr*>(&address_), timeout, options) != 0) {
    c->release(false);  // closes; the caller answers with a connect failure
    observe::WorkerCounters::inc(counters_.upstream_cx_connect_fail);
    return nullptr;
  }
  return c;
}

void HostPool::addIdle(UpstreamConnection* c) {
  if (c->in_pool_list_) return;
  c->in_pool_list_ = true;
  c->idle_prev_ = nullptr;
  c->idle_next_ = idle_head_;
  if (idle_head_) idle_head_->idle_prev_ = c;
  idle_head_ = c;
  ++idle_count_;
  observe::WorkerCounters::add(counters_.upstream_cx_idle, 1);
  if (capacity_cb_) capacity_cb_(capacity_owner_);
}

void HostPool::removeIdle(UpstreamConnection* c) {
  if (!c->in_pool_list_) return;
  c->in_pool_list_ = false;
  if (c->idle_prev_) c->idle_prev_->idle_next_ = c->idle_next_;
  if (c->idle_next_) c->idle_next_->idle_prev_ = c->idle_prev_;
  if (idle_head_ == c) idle_head_ = c->idle_next_;
  c->idle_prev_ = c->idle_next_ = nullptr;
  --idle_count_;
  observe::WorkerCounters::add(counters_.upstream_cx_idle, -1);
}

void HostPool::connectionClosed(UpstreamConnection* c) {
  removeIdle(c);
  --active_count_;
  observe::WorkerCounters::add(counters_.upstream_cx_active, -1);
  if (capacity_cb_) capacity_cb_(capacity_owner_);
}

void HostPool::closeIdle() {
  while (idle_head_ != nullptr) {
    UpstreamConnection* c = idle_head_;
    removeIdle(c);
    c->close();
  }
}

}  // namespace weft::upstream
