// Worker: a thread, its loop, listeners, connections and pools (see worker.h).
#include "server/worker.h"

#include <algorithm>

#include "server/downstream_connection.h"
#include "tls/tls_stream.h"
#include "upstream/upstream_connection.h"

namespace weft::server {

Worker::Worker(int index, observe::WorkerCounters& counters,
               std::shared_ptr<observe::AccessLogFile> access_log, uv_loop_t* main_loop)
    : index_(index),
      loop_(main_loop ? main_loop : &own_loop_),
      on_main_loop_(main_loop != nullptr),
      counters_(counters),
      outbound_listener_(loop_),
      inbound_listener_(loop_) {
  if (!on_main_loop_) uv_loop_init(&own_loop_);
  uv_async_init(loop_, &async_, asyncCb);
  async_.data = this;
  uv_check_init(loop_, &flush_check_);
  flush_check_.data = this;
  pending_ = std::make_unique<PendingQueue>(loop_);
  if (access_log) access_log_ = std::make_unique<observe::AccessLogWriter>(std::move(access_log));
}

Worker::~Worker() {
  if (thread_.joinable()) stop();
  outbound_listener_.close();
  inbound_listener_.close();
  // On the main loop, stop() has closed everything and the owner has run that loop to the end
  // before destroying this worker; the loop is not ours to close.
  if (on_main_loop_) return;
  for (auto& [key, pool] : pools_) pool->setCapacityListener(nullptr, nullptr);
  pending_.reset();  // its timers close their own handles
  // Close whatever is left (only when the thread never ran), then free the loop.
  uv_walk(
      &own_loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&own_loop_, UV_RUN_DEFAULT);
  pools_.clear();
  uv_loop_close(&own_loop_);
}

std::string Worker::listen(const mesh::Bootstrap& b) {
  auto describe = [](const char* what, const mesh::SocketAddress& a, int rc) {
    return std::string(what) + " listener " + a.host + ":" + std::to_string(a.port) + ": " +
           uv_strerror(rc);
  };
  int rc = outbound_listener_.listen(b.outbound.host, b.outbound.port, true,
                                     [this](uv_stream_t* s) { accept(s, false); });
  if (rc != 0) return describe("outbound", b.outbound, rc);
  rc = inbound_listener_.listen(b.inbound.host, b.inbound.port, true,
                                [this](uv_stream_t* s) { accept(s, true); });
  if (rc != 0) return describe("inbound", b.inbound, rc);
  return {};
}

void Worker::start(RuntimePtr runtime) {
  applyRuntime(std::move(runtime));
  uv_check_start(&flush_check_, flushCb);
  if (!on_main_loop_) thread_ = std::thread([this] { run(); });
}

void Worker::run() {
  uv_run(&own_loop_, UV_RUN_DEFAULT);
}

void Worker::postRuntime(RuntimePtr runtime) {
  if (on_main_loop_) {
    applyRuntime(std::move(runtime));
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mailbox_mutex_);
    pending_runtime_ = std::move(runtime);
  }
  uv_async_send(&async_);
}

void Worker::postDrain() {
  if (on_main_loop_) {
    beginDrain();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mailbox_mutex_);
    pending_drain_ = true;
  }
  uv_async_send(&async_);
}

void Worker::stop() {
  if (on_main_loop_) {
    shutdown();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mailbox_mutex_);
    pending_stop_ = true;
  }
  uv_async_send(&async_);
  if (thread_.joinable()) thread_.join();
}

void Worker::asyncCb(uv_async_t* a) {
  auto* self = static_cast<Worker*>(a->data);
  RuntimePtr runtime;
  bool drain, stop;
  {
    std::lock_guard<std::mutex> lock(self->mailbox_mutex_);
    runtime = std::move(self->pending_runtime_);
    drain = self->pending_drain_;
    stop = self->pending_stop_;
    self->pending_drain_ = false;
  }
  if (runtime) self->applyRuntime(std::move(runtime));
  if (drain) self->beginDrain();
  if (stop) self->shutdown();
}

void Worker::flushCb(uv_check_t* c) {
  auto* self = static_cast<Worker*>(c->data);
  if (self->access_log_) self->access_log_->flush();
}

upstream::UpstreamTlsPtr Worker::tlsFor(const mesh::Cluster& c, uint32_t index,
                                        const mesh::Endpoint& e) {
  using Mode = mesh::ClientTlsPolicy::Mode;
  bool mesh_tls;
  if (c.tls) {
    if (c.tls->mode == Mode::kDisable) return nullptr;
    if (c.tls->mode != Mode::kIstioMutual) {
      return index < runtime_->origination.size() ? runtime_->origination[index] : nullptr;
    }
    mesh_tls = true;
  } else {
    // Automatic mTLS: to endpoints with a sidecar of a mesh service, once we have a certificate
    // ourselves (before that, plain text: a PERMISSIVE peer accepts it).
    mesh_tls = c.mesh_internal && e.auto_mtls && runtime_->mesh_client_tls;
  }
  if (!mesh_tls) return nullptr;
  auto t = std::make_shared<upstream::UpstreamTls>();
  t->context = runtime_->mesh_client_tls;  // null (ISTIO_MUTUAL without a certificate): UF
  t->mesh = true;
  if (!e.service_account.empty()) {
    t->peer_identities.push_back(
        tls::spiffeIdentity(c.namespace_name, e.service_account, runtime_->trust_domain));
  }
  t->pool_tag = "mtls|" + (t->peer_identities.empty() ? std::string() : t->peer_identities[0]);
  return t;
}

upstream::HostPool* Worker::poolFor(const mesh::Endpoint& e, upstream::UpstreamTlsPtr tls) {
  std::string address = e.address + ":" + std::to_string(e.port);
  std::string key = tls ? address + "|" + tls->pool_tag : address;
  // A pool to a sidecar keeps idle connections longer: the peer keeps them (its downstream
  // idle timeout, 300 s by default), and each new one costs a TLS handshake.
  upstream::PoolSettings settings = pool_settings_;
  if (tls && tls->mesh) {
    settings.idle_timeout_ms = std::max(settings.idle_timeout_ms, kMeshPoolIdleMs);
  }
  auto it = pools_.find(key);
  if (it != pools_.end()) {
    it->second->updateSettings(settings);
    it->second->setTls(std::move(tls));
    return it->second.get();
  }
  sockaddr_storage addr;
  if (net::parseSocketAddress(e.address, e.port, addr) != 0) return nullptr;
  auto pool =
      std::make_unique<upstream::HostPool>(loop_, addr, std::move(address), settings, counters_);
  pool->setTls(std::move(tls));
  pool->setCapacityListener([](void* q) { static_cast<PendingQueue*>(q)->wake(); }, pending_.get());
  upstream::HostPool* raw = pool.get();
  pools_.emplace(std::move(key), std::move(pool));
  return raw;
}

void Worker::applyRuntime(RuntimePtr runtime) {
  runtime_ = std::move(runtime);
  ++runtime_generation_;
  const mesh::Snapshot& snap = *runtime_->snapshot;
  pool_settings_.connect_timeout_ms = snap.bootstrap.timeouts.upstream_connect_ms;
  pool_settings_.idle_timeout_ms = snap.bootstrap.timeouts.upstream_pool_idle_ms;
  clusters_.clear();
  clusters_.resize(snap.clusters.size() + 1);  // each built by cluster() on first use
  // Waiters hold references into the old cluster state: they must look again.
  if (pending_) pending_->wake();
}

void Worker::buildCluster(uint32_t index) {
  const mesh::Snapshot& snap = *runtime_->snapshot;
  const mesh::Cluster& c = index < snap.clusters.size() ? snap.clusters[index] : snap.inbound_app;
  upstream::ClusterState& cs = clusters_[index];
  cs.cluster = &c;
  cs.total_weight = 0;
  for (uint32_t i = 0; i < c.endpoints.size(); ++i) {
    const mesh::Endpoint& e = c.endpoints[i];
    upstream::HostPool* pool = poolFor(e, tlsFor(c, index, e));
    if (pool == nullptr || e.weight == 0) continue;
    upstream::EndpointState es;
    es.index = i;
    es.pool = pool;
    es.weight = e.weight;
    es.counters = &runtime_->endpoint_counters->at(index_, index, i);
    cs.endpoints.push_back(es);
    cs.total_weight += e.weight;
  }
  if (c.hash.key != mesh::ConsistentHashPolicy::Key::kNone) {
    std::vector<std::string> ids;
    std::vector<upstream::HashRing::Host> hosts;
    for (const upstream::EndpointState& es : cs.endpoints) {
      const mesh::Endpoint& e = c.endpoints[es.index];
      ids.push_back(e.address + ":" + std::to_string(e.port));
    }
    for (size_t i = 0; i < ids.size(); ++i) hosts.push_back({ids[i], cs.endpoints[i].weight});
    cs.hash_ring = c.hash.maglev ? upstream::HashRing::maglev(hosts, c.hash.table_size)
                                 : upstream::HashRing::ring(hosts, c.hash.table_size);
  }
}

void Worker::accept(uv_stream_t* server, bool inbound) {
  if (draining_ && inbound) return;
  auto* c = new DownstreamConnection(*this, inbound);
  if (uv_accept(server, c->stream()) != 0) {
    c->close();
    return;
  }
  observe::WorkerCounters::inc(counters_.downstream_cx_total);
  c->start();
}

void Worker::connectionOpened(DownstreamConnection* c) {
  observe::WorkerCounters::add(counters_.downstream_cx_active, 1);
  c->prev_ = nullptr;
  c->next_ = connections_;
  if (connections_) connections_->prev_ = c;
  connections_ = c;
}

void Worker::connectionClosed(DownstreamConnection* c) {
  observe::WorkerCounters::add(counters_.downstream_cx_active, -1);
  if (c->prev_) c->prev_->next_ = c->next_;
  if (c->next_) c->next_->prev_ = c->prev_;
  if (connections_ == c) connections_ = c->next_;
  c->prev_ = c->next_ = nullptr;
}

void Worker::beginDrain() {
  if (draining_) return;
  draining_ = true;
  inbound_listener_.close();
  // Inbound clients are asked to go (close when idle, "Connection: close" on the next
  // response); outbound ones keep being served until the drain ends.
  for (DownstreamConnection* c = connections_; c != nullptr;) {
    DownstreamConnection* next = c->next_;
    if (c->inbound()) c->drain();
    c = next;
  }
}

void Worker::shutdown() {
  outbound_listener_.close();
  inbound_listener_.close();
  while (connections_ != nullptr) connections_->shutdown();
  for (auto& [key, pool] : pools_) {
    pool->closeIdle();
    pool->setCapacityListener(nullptr, nullptr);  // connections still closing must not call
  }
  pending_.reset();
  uv_check_stop(&flush_check_);
  if (access_log_) access_log_->flush();
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&flush_check_), nullptr);
}

}  // namespace weft::server
