// Worker: one thread with its own libuv loop, its own SO_REUSEPORT listeners, its downstream
// connections, its upstream pools and its load-balancer state. Nothing here is shared with
// other workers; the main thread talks to a worker only through post*() (uv_async_t).
//
// With a single worker, the worker runs on the main thread's loop instead of a thread of its
// own: the process then has one thread, and the kernel and libc take their single-threaded
// fast paths on every socket call (no file reference counting per syscall, no cancellation
// bookkeeping), worth about a tenth of the CPU per request.
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "net/listener.h"
#include "observe/access_log.h"
#include "observe/metrics.h"
#include "server/pending_queue.h"
#include "server/runtime.h"
#include "upstream/host_pool.h"
#include "upstream/load_balancer.h"

namespace weft::server {

class DownstreamConnection;

class Worker {
 public:
  // `main_loop`: run on this loop (the caller's thread) instead of a thread of its own.
  Worker(int index, observe::WorkerCounters& counters,
         std::shared_ptr<observe::AccessLogFile> access_log, uv_loop_t* main_loop = nullptr);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Main thread, before start(): binds this worker's listeners. Returns "" or an error text.
  std::string listen(const mesh::Bootstrap& bootstrap);
  // Dynamic mode with on-demand scope: how to ask the control plane for a host this sidecar
  // has no configuration for. Called on the worker's thread; must be thread-safe. Set before
  // start().
  using RouteRequester = std::function<void(std::string_view host)>;
  void setRouteRequester(RouteRequester requester) { route_requester_ = std::move(requester); }
  // Main thread: installs the first runtime and starts the thread.
  void start(RuntimePtr runtime);
  // Main thread, any time: hands over a new runtime (taken between requests).
  void postRuntime(RuntimePtr runtime);
  // Main thread: stop accepting inbound connections and ask inbound clients to close.
  void postDrain();
  // Main thread: close everything and end the thread (joins).
  void stop();

  // === For the connections of this worker (worker thread only) ===
  int index() const { return index_; }
  uv_loop_t* loop() { return loop_; }
  const RuntimePtr& runtime() const { return runtime_; }
  // Bumped on every runtime change: per-request references into load-balancer state are only
  // valid while it is unchanged.
  uint64_t runtimeGeneration() const { return runtime_generation_; }
  observe::WorkerCounters& counters() { return counters_; }
  observe::AccessLogWriter* accessLog() { return access_log_.get(); }
  bool draining() const { return draining_; }
  // Load-balancer state of an outbound cluster (index into the snapshot's clusters), or of the
  // inbound app cluster when `cluster` == clusters.size().
  // Built on first use after each configuration: a workload calls a few of the mesh's
  // thousands of clusters, and the others then cost no connection pools or endpoint lists.
  upstream::ClusterState& cluster(uint32_t cluster) {
    upstream::ClusterState& cs = clusters_[cluster];
    if (cs.cluster == nullptr) buildCluster(cluster);
    return cs;
  }
  bool routesOnDemand() const { return static_cast<bool>(route_requester_); }
  void requestRoute(std::string_view host) { route_requester_(host); }
  // Requests waiting for an upstream connection (connectionPool.tcp.maxConnections), or for
  // the configuration of a host (on-demand scope).
  PendingQueue& pendingQueue() { return *pending_; }
  void connectionOpened(DownstreamConnection* c);
  void connectionClosed(DownstreamConnection* c);

 private:
  static void asyncCb(uv_async_t* a);
  static void flushCb(uv_check_t* c);
  void run();
  void applyRuntime(RuntimePtr runtime);
  void beginDrain();
  void shutdown();
  void accept(uv_stream_t* server, bool inbound);
  // The pool for `e` spoken to with `tls` (null: plain text): pools are keyed by endpoint and
  // kind of TLS, so that a plain connection is never lent to a request that needs mTLS.
  upstream::HostPool* poolFor(const mesh::Endpoint& e, upstream::UpstreamTlsPtr tls);
  // How this sidecar speaks to endpoint `e` of cluster `index` (DestinationRule tls, else
  // automatic mTLS): null for plain text.
  upstream::UpstreamTlsPtr tlsFor(const mesh::Cluster& c, uint32_t index, const mesh::Endpoint& e);
  void buildCluster(uint32_t index);

  int index_;
  uv_loop_t own_loop_;
  uv_loop_t* loop_;  // own_loop_, or the main thread's loop
  bool on_main_loop_;
  uv_async_t async_;
  uv_check_t flush_check_;  // flushes the access log once per loop turn
  std::thread thread_;
  observe::WorkerCounters& counters_;
  std::unique_ptr<observe::AccessLogWriter> access_log_;
  net::Listener outbound_listener_;
  net::Listener inbound_listener_;
  RuntimePtr runtime_;
  uint64_t runtime_generation_ = 0;
  upstream::PoolSettings pool_settings_;
  // The shortest idle time of pooled connections to sidecars (mutual TLS).
  static constexpr uint32_t kMeshPoolIdleMs = 60'000;
  std::vector<upstream::ClusterState> clusters_;  // cluster == nullptr: not built yet
  // By "ip:port" (plain text), "ip:port|mtls|<peer identity>" or "ip:port|tls|<cluster>".
  std::map<std::string, std::unique_ptr<upstream::HostPool>> pools_;
  DownstreamConnection* connections_ = nullptr;  // intrusive list
  std::unique_ptr<PendingQueue> pending_;        // reset in shutdown(), while the loop still runs
  RouteRequester route_requester_;
  bool draining_ = false;

  // Mailbox from the main thread (uv_async_send coalesces, so state is read on wake-up).
  std::mutex mailbox_mutex_;
  RuntimePtr pending_runtime_;
  bool pending_drain_ = false;
  bool pending_stop_ = false;
};

}  // namespace weft::server
