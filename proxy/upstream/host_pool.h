// HostPool: a worker's keep-alive connections to one endpoint (ip:port).
//
// Idle connections sit in a LIFO list (the most recently used is the warmest and the least
// likely to have been closed by the server). Before one is reused it is checked with a
// non-blocking peek, so a connection the server closed while idle is never handed out; the
// pool idle timeout (default below common app servers' keep-alive timeouts) retires the rest.
#pragma once

#include <uv.h>

#include <string>

#include "observe/metrics.h"
#include "upstream/upstream_tls.h"

namespace weft::upstream {

class UpstreamConnection;
class ResponseHandler;

struct PoolSettings {
  uint32_t connect_timeout_ms = 10'000;
  uint32_t idle_timeout_ms = 3'000;
};

// What one cluster asks of the connections it uses (DestinationRule connectionPool); zero
// values mean the pool's defaults.
struct ConnectionOptions {
  uint32_t connect_timeout_ms = 0;
  uint32_t idle_timeout_ms = 0;
  bool keepalive = false;  // tcp.tcpKeepalive: SO_KEEPALIVE with these (0: the OS default)
  uint32_t keepalive_time_s = 0, keepalive_interval_s = 0, keepalive_probes = 0;
};

class HostPool {
 public:
  HostPool(uv_loop_t* loop, const sockaddr_storage& address, std::string address_text,
           const PoolSettings& settings, observe::WorkerCounters& counters);
  ~HostPool();
  HostPool(const HostPool&) = delete;
  HostPool& operator=(const HostPool&) = delete;

  // A connection for one request: a live idle one when `allow_reuse`, else a new one. A new
  // connection calls handler->onUpstreamConnected() once connected (or onUpstreamFailure);
  // a reused one is ready at once (the caller checks state()). nullptr: could not even start.
  UpstreamConnection* acquire(ResponseHandler* handler, const char* method, bool allow_reuse,
                              const ConnectionOptions& options = {});

  const std::string& address() const { return address_text_; }
  size_t idleCount() const { return idle_count_; }
  size_t activeCount() const { return active_count_; }
  const PoolSettings& settings() const { return settings_; }
  void updateSettings(const PoolSettings& s) { settings_ = s; }
  // TLS for the connections opened from now on (null: plain text). The pool's key includes
  // the kind of TLS, so this only changes contexts (a renewed certificate, new roots).
  void setTls(UpstreamTlsPtr tls) { tls_ = std::move(tls); }
  const UpstreamTlsPtr& tls() const { return tls_; }
  // Closes every idle connection (shutdown, endpoint removed).
  void closeIdle();
  observe::WorkerCounters& counters() { return counters_; }
  // Called when a connection becomes idle or closes: room for a request waiting for a
  // connection (connectionPool.tcp.maxConnections). Called from inside the connection's
  // release or close, so the listener must defer its work.
  using CapacityCallback = void (*)(void* owner);
  void setCapacityListener(CapacityCallback cb, void* owner) {
    capacity_cb_ = cb;
    capacity_owner_ = owner;
  }

 private:
  friend class UpstreamConnection;
  void addIdle(UpstreamConnection* c);
  void removeIdle(UpstreamConnection* c);
  void connectionClosed(UpstreamConnection* c);

  uv_loop_t* loop_;
  sockaddr_storage address_;
  std::string address_text_;
  PoolSettings settings_;
  UpstreamTlsPtr tls_;
  observe::WorkerCounters& counters_;
  UpstreamConnection* idle_head_ = nullptr;
  size_t idle_count_ = 0;
  size_t active_count_ = 0;  // every open connection (idle ones included)
  CapacityCallback capacity_cb_ = nullptr;
  void* capacity_owner_ = nullptr;
};

}  // namespace weft::upstream
