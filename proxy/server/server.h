// Server: the main thread of weft-proxy. It loads configuration, builds runtimes and hands
// them to the workers, serves the admin port, and handles signals:
//   SIGTERM/SIGINT (and POST /quitquitquit): drain, then exit 0
//   SIGHUP: reload the static configuration; a bad one is rejected and the old one keeps serving
// In dynamic mode (bootstrap `control_plane`) it also runs the control-plane client: each pushed
// configuration arrives through a uv_async_t mailbox and is compiled and applied exactly as a
// reload is (static resource files first, then the pushed resources), or rejected (NACK) while
// the old one keeps serving.
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "admin/admin_server.h"
#include "discovery/client.h"
#include "identity/provider.h"
#include "observe/access_log.h"
#include "observe/metrics.h"
#include "server/config_builder.h"
#include "server/runtime.h"
#include "server/tls_setup.h"
#include "server/worker.h"

namespace weft::server {

struct ServerOptions {
  std::string config_path;
  int concurrency = 0;  // 0: one worker per core
  // A directory with cert-chain.pem, key.pem and root-cert.pem: the inbound listener then
  // accepts mutual TLS only. Empty: plain text. Re-read on SIGHUP.
  std::string inbound_mtls_certs;
};

class Server {
 public:
  Server() = default;
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Runs until drained and stopped. Returns the process exit code.
  int run(const ServerOptions& options);

 private:
  RuntimePtr buildRuntime(mesh::SnapshotPtr snapshot);
  // (Re)builds inbound_tls_ from options_.inbound_mtls_certs; false (logged) on error, the old
  // context kept.
  bool loadInboundTls();
  void reload();
  // Swaps in a new runtime for `snapshot` (every worker takes it between requests).
  void publish(mesh::SnapshotPtr snapshot);
  // Runs a configuration load on the builder (dynamic mode) or here.
  mesh::LoadResult load(const std::function<mesh::LoadResult()>& fn);
  // Dynamic mode, at start: the cached configuration compiled into `loaded`, if the bootstrap
  // names a cache file that exists and compiles (else `loaded` unchanged, the reason logged).
  void loadCachedConfig(mesh::LoadResult& loaded);
  void writeCache(const mesh::PushedConfig& push);
  void startControlPlane(const mesh::Bootstrap& bootstrap, uint64_t initial_version);
  void applyPush(mesh::PushedConfig push);
  static void pushCb(uv_async_t* a);
  void beginShutdown(const char* why);
  void finishShutdown();
  // === Identity: where the sidecar's certificate comes from (identity/provider.h) ===
  // Static mode checks the `identity` files before anything listens: false (logged) if they
  // do not load.
  bool createIdentityProvider(const mesh::Bootstrap& bootstrap);
  void startIdentity();
  static void identityCb(uv_async_t* a);
  // Main thread: a new identity from the provider.
  void onIdentity(identity::IdentityPtr id);
  // Main thread: mesh_tls_ made again from identity_ with `options` (the bootstrap's tls);
  // false (logged) on error, the contexts in force kept.
  bool rebuildMeshTls(const mesh::TlsOptions& options, const std::string& previous_roots);
  void handleAdmin(const http::RequestHead& request, admin::AdminResponse& response);
  std::string clustersText() const;

  static void signalCb(uv_signal_t* s, int signum);

  static constexpr uint64_t kTrimDelayMs = 1000;

  ServerOptions options_;
  // Dynamic mode: every configuration load runs on it (null: on the main thread).
  std::unique_ptr<ConfigBuilder> builder_;
  uv_loop_t loop_;
  uv_signal_t sigterm_, sigint_, sighup_;
  uv_timer_t drain_timer_;
  // After a new configuration: returns the memory freed by the old one (and by reading the
  // new one) to the system once the workers have moved over.
  uv_timer_t trim_timer_;
  std::unique_ptr<observe::MetricsRegistry> metrics_;
  std::vector<std::unique_ptr<observe::WorkerCounters>> counters_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<admin::AdminServer> admin_;
  // Dynamic mode. Declared after metrics_, which its callbacks use: destroyed (joined) first.
  std::unique_ptr<discovery::ControlPlaneClient> control_plane_;
  // Dynamic mode: the credentials both control-plane clients use (token, TLS roots, and the
  // workload certificate once there is one).
  std::shared_ptr<discovery::ControlPlaneAuth> control_plane_auth_;
  // What the workers' route requester reaches (on-demand scope): set once the client exists;
  // workers start before it, so they read it through this atomic.
  std::atomic<discovery::ControlPlaneClient*> interest_target_{nullptr};
  uv_async_t push_async_;
  std::mutex push_mutex_;  // guards pending_push_ (written by the client thread)
  std::optional<mesh::PushedConfig> pending_push_;
  // The identity provider (files or the control plane's CA), if the bootstrap gives one.
  // Declared after metrics_, which its callbacks use: stopped first.
  std::unique_ptr<identity::IdentityProvider> identity_provider_;
  uv_async_t identity_async_;  // the provider's thread: "a new identity is current"
  // Main thread: the identity in force, and the mutual TLS contexts made from it (every
  // runtime carries them; a new identity republishes the current configuration with new ones).
  identity::IdentityPtr identity_;
  MeshTls mesh_tls_;
  mesh::TlsOptions mesh_tls_options_;  // what mesh_tls_ was made with
  std::shared_ptr<observe::AccessLogFile> access_log_;
  RuntimePtr current_;
  // --inbound-mtls-certs: the inbound server context from files, STRICT whatever the policy.
  std::shared_ptr<tls::TlsContext> inbound_tls_;
  uint64_t next_version_ = 1;
  bool draining_ = false;
  bool ready_ = false;
};

}  // namespace weft::server
