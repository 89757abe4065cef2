// Server: main thread of weft-proxy (see server.h).
#include "server/server.h"

#include <malloc.h>

#include <ctime>
#include <thread>

#include "discovery/config_cache.h"
#include "discovery/protocol.h"
#include "identity/certificate.h"
#include "identity/csr_provider.h"
#include "identity/file_provider.h"
#include "observe/peer_metadata.h"
#include "router/router.h"
#include "server/log.h"
#include "tls/context.h"
#include "tls/identity_files.h"

namespace weft::server {

Server::~Server() = default;

RuntimePtr Server::buildRuntime(mesh::SnapshotPtr snapshot) {
  auto rt = std::make_shared<Runtime>();
  rt->stats = metrics_->bind(snapshot);
  rt->peer_header = observe::encodePeerMetadata(snapshot->bootstrap.node);
  rt->endpoint_counters = std::make_shared<upstream::EndpointCountersTable>(
      *snapshot, static_cast<int>(workers_.size()));
  rt->mesh_server_tls = mesh_tls_.server;
  rt->mesh_client_tls = mesh_tls_.client;
  if (identity_) rt->trust_domain = identity_->trust_domain;
  rt->inbound_mode = snapshot->inbound_mtls.mode;
  if (inbound_tls_) {
    rt->mesh_server_tls = inbound_tls_;
    rt->inbound_mode = mesh::PeerMtlsMode::kStrict;
  }
  rt->origination = makeOrigination(*snapshot, tlsSettings(snapshot->bootstrap.tls));
  rt->snapshot = std::move(snapshot);
  return rt;
}

bool Server::loadInboundTls() {
  const std::string& dir = options_.inbound_mtls_certs;
  identity::WorkloadIdentity id;
  std::string error;
  tls::TlsContextPtr ctx;
  if (tls::loadIdentityFiles(dir, id, &error)) {
    ctx = tls::TlsContext::makeServer(id, tls::TlsSettings{}, &error);
  }
  if (!ctx) {
    logLine(LogLevel::kError, "inbound mTLS certificates " + dir + ": " + error);
    return false;
  }
  // Tickets issued before a renewal keep resuming (same identity, same roots expected).
  if (inbound_tls_ && !ctx->copyTicketKeysFrom(*inbound_tls_, &error)) {
    logLine(LogLevel::kWarning, "inbound mTLS: " + error);
  }
  inbound_tls_ = std::move(ctx);
  logLine(LogLevel::kInfo, "inbound listener: mutual TLS as " + id.spiffe_id);
  return true;
}

int Server::run(const ServerOptions& options) {
  options_ = options;
  mesh::LoadResult loaded = mesh::loadStatic(options.config_path, next_version_);
  ++next_version_;
  for (const auto& e : loaded.errors) {
    logLine(e.warning ? LogLevel::kWarning : LogLevel::kError, e.format());
  }
  if (!loaded.snapshot) {
    logLine(LogLevel::kError, "configuration rejected: " + options.config_path);
    return 1;
  }
  // Dynamic mode: configurations change while serving, and a process with a control-plane
  // client is multi-threaded anyway: loads run on the builder threads (config_builder.h). A
  // static sidecar with one worker stays a single-threaded process (reloads are rare).
  if (loaded.snapshot->bootstrap.control_plane) builder_ = std::make_unique<ConfigBuilder>();
  loadCachedConfig(loaded);
  const mesh::Bootstrap& b = loaded.snapshot->bootstrap;
  if (!options.inbound_mtls_certs.empty() && !loadInboundTls()) return 1;

  int workers = options.concurrency > 0 ? options.concurrency
                                        : static_cast<int>(std::thread::hardware_concurrency());
  if (workers <= 0) workers = 1;

  if (b.access_log.enabled) {
    std::string error;
    access_log_ = observe::AccessLogFile::open(b.access_log.path, error);
    if (!access_log_) {
      logLine(LogLevel::kError, "access log " + b.access_log.path + ": " + error);
      return 1;
    }
  }
  if (!createIdentityProvider(b)) return 1;
  upstream::setTlsFailureLogger([](std::string_view endpoint, std::string_view reason) {
    logLine(LogLevel::kWarning,
            "upstream TLS to " + std::string(endpoint) + " failed (UF): " + std::string(reason));
  });
  uv_loop_init(&loop_);
  metrics_ = std::make_unique<observe::MetricsRegistry>(workers);
  for (int i = 0; i < workers; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, metrics_->worker(i), access_log_,
                                                workers == 1 ? &loop_ : nullptr));
  }
  current_ = buildRuntime(loaded.snapshot);
  metrics_->setConfig(current_->snapshot->version, true);

  int exit_code = 0;
  for (auto& w : workers_) {
    std::string error = w->listen(b);
    if (!error.empty()) {
      logLine(LogLevel::kError, error);
      exit_code = 1;
      break;
    }
  }
  admin_ = std::make_unique<admin::AdminServer>(
      &loop_,
      [this](const http::RequestHead& rq, admin::AdminResponse& rs) { handleAdmin(rq, rs); });
  if (exit_code == 0) {
    if (int rc = admin_->listen(b.admin.host, b.admin.port)) {
      logLine(LogLevel::kError, "admin listener " + b.admin.host + ":" +
                                    std::to_string(b.admin.port) + ": " + uv_strerror(rc));
      exit_code = 1;
    }
  }
  if (exit_code != 0) {
    identity_provider_.reset();
    admin_->close();
    for (auto& w : workers_) w->stop();
    uv_run(&loop_, UV_RUN_DEFAULT);
    workers_.clear();
    uv_loop_close(&loop_);
    return exit_code;
  }

  if (b.control_plane && b.control_plane->scope == "on_demand") {
    // An unknown host asks the control plane for its configuration (see awaitRoute()).
    std::string ns = b.node.namespace_name;
    for (auto& w : workers_) {
      w->setRouteRequester([this, ns](std::string_view host) {
        if (auto* client = interest_target_.load(std::memory_order_acquire)) {
          client->requestInterest(discovery::interestHosts(host, ns));
        }
      });
    }
  }
  for (auto& w : workers_) w->start(current_);
  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  uv_signal_init(&loop_, &sighup_);
  sigterm_.data = sigint_.data = sighup_.data = this;
  uv_signal_start(&sigterm_, signalCb, SIGTERM);
  uv_signal_start(&sigint_, signalCb, SIGINT);
  uv_signal_start(&sighup_, signalCb, SIGHUP);
  uv_timer_init(&loop_, &drain_timer_);
  drain_timer_.data = this;
  uv_timer_init(&loop_, &trim_timer_);
  uv_timer_start(
      &trim_timer_, [](uv_timer_t*) { malloc_trim(0); }, kTrimDelayMs, 0);  // after start-up
  // Dynamic mode without local resources: not ready until the control plane's first
  // configuration is applied (until then every outbound request would be 404 NR).
  // A cached configuration counts as the first one.
  const auto& cached = current_->snapshot->pushed;
  ready_ = !(b.control_plane && b.resources.empty()) || cached != nullptr;
  if (b.control_plane) startControlPlane(b, cached ? cached->version : 0);
  startIdentity();
  logLine(LogLevel::kInfo, "weft-proxy " + b.node.id + (ready_ ? " ready" : " started") +
                               ": outbound " + b.outbound.host + ":" +
                               std::to_string(b.outbound.port) + ", inbound " + b.inbound.host +
                               ":" + std::to_string(b.inbound.port) + ", admin " + b.admin.host +
                               ":" + std::to_string(b.admin.port) + ", " + std::to_string(workers) +
                               " worker(s), config " + current_->snapshot->version_info +
                               (ready_ ? "" : "; waiting for the control plane's configuration"));

  // From here the runtime owns the first snapshot: a reload must be able to free it (`b` and
  // `cached` refer into it and are not used past this point).
  loaded = mesh::LoadResult{};
  uv_run(&loop_, UV_RUN_DEFAULT);
  // Workers go only now: one that ran on this loop had handles closing until the loop ended.
  workers_.clear();
  uv_loop_close(&loop_);
  logLine(LogLevel::kInfo, "weft-proxy stopped");
  return 0;
}

void Server::signalCb(uv_signal_t* s, int signum) {
  auto* self = static_cast<Server*>(s->data);
  if (signum == SIGHUP) {
    self->reload();
  } else {
    self->beginShutdown(signum == SIGTERM ? "SIGTERM" : "SIGINT");
  }
}

void Server::reload() {
  if (draining_) return;
  // Dynamic mode: the last pushed configuration is compiled in again after the files.
  mesh::LoadResult loaded = load([&] {
    return mesh::loadStatic(options_.config_path, next_version_, current_->snapshot->pushed);
  });
  for (const auto& e : loaded.errors) {
    logLine(e.warning ? LogLevel::kWarning : LogLevel::kError, e.format());
  }
  if (!loaded.snapshot) {
    logLine(LogLevel::kError,
            "reload rejected; still serving config " + current_->snapshot->version_info);
    metrics_->setConfig(current_->snapshot->version, false);
    return;
  }
  ++next_version_;
  if (!options_.inbound_mtls_certs.empty()) loadInboundTls();  // renewed files; else the old
  const mesh::Bootstrap& old_b = current_->snapshot->bootstrap;
  const mesh::Bootstrap& new_b = loaded.snapshot->bootstrap;
  if (old_b.outbound.port != new_b.outbound.port || old_b.inbound.port != new_b.inbound.port ||
      old_b.admin.port != new_b.admin.port || old_b.outbound.host != new_b.outbound.host ||
      old_b.inbound.host != new_b.inbound.host || old_b.admin.host != new_b.admin.host) {
    logLine(LogLevel::kWarning, "listener addresses changed: they take effect after a restart");
  }
  const auto& old_cp = old_b.control_plane;
  const auto& new_cp = new_b.control_plane;
  if (old_cp.has_value() != new_cp.has_value() ||
      (old_cp && (old_cp->url != new_cp->url || old_cp->token != new_cp->token ||
                  old_cp->scope != new_cp->scope || old_cp->cache_file != new_cp->cache_file))) {
    logLine(LogLevel::kWarning, "control_plane changed: it takes effect after a restart");
  }
  const auto& old_id = old_b.identity;
  const auto& new_id = new_b.identity;
  if (old_id.has_value() != new_id.has_value() ||
      (old_id &&
       (old_id->certificate != new_id->certificate || old_id->private_key != new_id->private_key ||
        old_id->ca_certificates != new_id->ca_certificates)) ||
      (old_cp && new_cp && old_cp->certificate_ttl_s != new_cp->certificate_ttl_s)) {
    logLine(LogLevel::kWarning,
            "identity settings changed: they take effect after a restart (the files named "
            "are reloaded whenever their contents change)");
  }
  publish(loaded.snapshot);
  logLine(LogLevel::kInfo, "config reloaded: " + current_->snapshot->version_info);
}

mesh::LoadResult Server::load(const std::function<mesh::LoadResult()>& fn) {
  return builder_ ? builder_->run(fn) : fn();
}

void Server::publish(mesh::SnapshotPtr snapshot) {
  // New bootstrap tls options (a reload): contexts for them, for connections from now on.
  if (identity_ && snapshot->bootstrap.tls != mesh_tls_options_) {
    rebuildMeshTls(snapshot->bootstrap.tls, identity_->roots_pem);
  }
  current_ = buildRuntime(std::move(snapshot));
  for (auto& w : workers_) w->postRuntime(current_);
  metrics_->setConfig(current_->snapshot->version, true);
  // Reading a large configuration peaks far above what its snapshot keeps (the YAML library's
  // node trees), and glibc keeps freed memory for reuse: give it back once the old snapshot
  // is gone too (a request in flight may keep it a little longer; the next trim gets it).
  uv_timer_start(
      &trim_timer_, [](uv_timer_t*) { malloc_trim(0); }, kTrimDelayMs, 0);
}

// === Dynamic mode ===

void Server::loadCachedConfig(mesh::LoadResult& loaded) {
  const mesh::Bootstrap& b = loaded.snapshot->bootstrap;
  if (!b.control_plane || b.control_plane->cache_file.empty()) return;
  // A copy: `loaded` (and the bootstrap `b` points into) is replaced below.
  const std::string path = b.control_plane->cache_file;
  std::string why;
  std::optional<mesh::PushedConfig> cached = discovery::readConfigCache(path, why);
  if (!cached) {
    if (why.empty()) {
      logLine(LogLevel::kInfo, "no cached configuration yet (" + path + ")");
    } else {
      logLine(LogLevel::kWarning, "cached configuration " + path + " ignored: " + why);
    }
    return;
  }
  const uint64_t cp_version = cached->version;
  auto pushed = std::make_shared<const mesh::PushedConfig>(std::move(*cached));
  mesh::LoadResult with_cache =
      load([&] { return mesh::loadWithBootstrap(b, next_version_, pushed); });
  if (!with_cache.snapshot) {
    std::string first;
    for (const auto& e : with_cache.errors) {
      if (!e.warning) {
        first = e.format();
        break;
      }
    }
    logLine(LogLevel::kWarning, "cached configuration " + path + " (version " +
                                    std::to_string(cp_version) + ") ignored: it does not compile" +
                                    (first.empty() ? "" : ": " + first));
    return;
  }
  for (const auto& e : with_cache.errors) logLine(LogLevel::kWarning, e.format());
  ++next_version_;
  loaded = std::move(with_cache);
  logLine(LogLevel::kInfo, "serving the cached configuration of version " +
                               std::to_string(cp_version) + " from " + path +
                               " until the control plane answers");
}

void Server::writeCache(const mesh::PushedConfig& push) {
  const auto& cp = current_->snapshot->bootstrap.control_plane;
  if (!cp || cp->cache_file.empty()) return;
  std::string error;
  if (discovery::writeConfigCache(cp->cache_file, push, error)) {
    logLine(LogLevel::kDebug, "configuration version " + std::to_string(push.version) +
                                  " cached in " + cp->cache_file);
  } else {
    logLine(LogLevel::kWarning, "configuration cache not written: " + error);
  }
}

void Server::startControlPlane(const mesh::Bootstrap& b, uint64_t initial_version) {
  const mesh::ControlPlaneConfig& cp = *b.control_plane;
  // What a sidecar listening on a wildcard address advertises: its address towards the
  // control plane.
  std::string address = discovery::localAddressTowards(cp.host, cp.port);
  if (address.empty()) address = "127.0.0.1";
  discovery::ClientOptions options;
  options.base_url = cp.baseUrl();
  options.host = cp.host == "localhost" ? "127.0.0.1" : cp.host;
  options.port = cp.port;
  options.token = cp.token;
  options.auth = control_plane_auth_;
  options.node_id = b.node.id;
  options.node_json = discovery::nodeJson(b, address);
  options.initial_version = initial_version;
  uv_async_init(&loop_, &push_async_, pushCb);
  push_async_.data = this;
  metrics_->enableControlPlane();
  discovery::ClientCallbacks callbacks;
  callbacks.on_config = [this](mesh::PushedConfig config) {
    {
      std::lock_guard lock(push_mutex_);
      pending_push_ = std::move(config);
    }
    uv_async_send(&push_async_);
  };
  observe::MetricsRegistry* metrics = metrics_.get();
  callbacks.on_connected = [metrics](bool connected) {
    metrics->setControlPlaneConnected(connected);
  };
  // The pushed trust bundle goes to the certificate provider, which publishes it as part of a
  // new identity (and renews early when the signing root changed).
  if (auto* csr = dynamic_cast<identity::CsrIdentityProvider*>(identity_provider_.get())) {
    callbacks.on_trust_bundle = [csr](const discovery::TrustBundle& bundle) {
      csr->updateTrustBundle(bundle.roots_pem, bundle.signing_root);
    };
  }
  control_plane_ =
      std::make_unique<discovery::ControlPlaneClient>(std::move(options), std::move(callbacks));
  interest_target_.store(control_plane_.get(), std::memory_order_release);
  control_plane_->start();
  logLine(LogLevel::kInfo, "dynamic mode: control plane " + cp.url + " (node " + b.node.id + ")");
}

void Server::pushCb(uv_async_t* a) {
  auto* self = static_cast<Server*>(a->data);
  std::optional<mesh::PushedConfig> push;
  {
    std::lock_guard lock(self->push_mutex_);
    push.swap(self->pending_push_);
  }
  if (push) self->applyPush(std::move(*push));
}

void Server::applyPush(mesh::PushedConfig push) {
  // While draining the client is stopping and waits for no answer.
  if (draining_) return;
  const uint64_t cp_version = push.version;
  auto pushed = std::make_shared<const mesh::PushedConfig>(std::move(push));
  mesh::LoadResult loaded = load([&] {
    return mesh::loadWithBootstrap(current_->snapshot->bootstrap, next_version_, pushed);
  });
  std::string error;
  for (const auto& e : loaded.errors) {
    logLine(e.warning ? LogLevel::kWarning : LogLevel::kError, e.format());
    if (e.warning) continue;
    if (!error.empty()) error += "\n";
    error += e.format();
  }
  if (!loaded.snapshot) {
    constexpr size_t kMaxNackBytes = 16 * 1024;
    if (error.size() > kMaxNackBytes) error = error.substr(0, kMaxNackBytes) + "\n...";
    logLine(LogLevel::kError, pushed->sourceName() + " rejected; still serving config " +
                                  current_->snapshot->version_info);
    metrics_->setConfig(current_->snapshot->version, false);
    metrics_->countControlPlaneUpdate(false);
    control_plane_->reportResult(cp_version, error);
    return;
  }
  ++next_version_;
  publish(loaded.snapshot);
  metrics_->countControlPlaneUpdate(true);
  logLine(LogLevel::kInfo, "config applied: " + current_->snapshot->version_info);
  writeCache(*pushed);
  if (!ready_) {
    ready_ = true;
    logLine(LogLevel::kInfo, "ready: first configuration from the control plane applied");
  }
  control_plane_->reportResult(cp_version, "");
}

// === Identity ===

bool Server::createIdentityProvider(const mesh::Bootstrap& b) {
  // Dynamic mode: the credentials towards the control plane, whatever gives the identity (a
  // certificate from files is presented too; if the control plane does not trust it, the
  // token is used).
  if (b.control_plane) {
    const mesh::ControlPlaneConfig& cp = *b.control_plane;
    control_plane_auth_ = std::make_shared<discovery::ControlPlaneAuth>(
        cp.token, cp.tls ? cp.ca_pem : std::string(), b.node.trust_domain);
  }
  if (b.identity) {
    if (auto e = identity::checkIdentityFiles(*b.identity)) {
      logLine(LogLevel::kError, e->format());
      logLine(LogLevel::kError, "configuration rejected: " + options_.config_path);
      return false;
    }
    std::string error;
    auto provider = std::make_unique<identity::FileIdentityProvider>(
        identity::identityFiles(*b.identity), error);
    if (!error.empty()) {  // the files changed in between
      logLine(LogLevel::kError, b.identity->file + ": identity: " + error);
      return false;
    }
    provider->runOnLoop(&loop_);  // no thread: one worker stays one thread
    identity_provider_ = std::move(provider);
    return true;
  }
  if (b.control_plane) {
    const mesh::ControlPlaneConfig& cp = *b.control_plane;
    identity::CsrProviderOptions options;
    options.base_url = cp.baseUrl();
    options.host = cp.host == "localhost" ? "127.0.0.1" : cp.host;
    options.port = cp.port;
    options.token = cp.token;
    options.auth = control_plane_auth_;
    options.spiffe_id = b.node.spiffeId();
    options.ttl_seconds = cp.certificate_ttl_s;
    identity_provider_ = std::make_unique<identity::CsrIdentityProvider>(std::move(options));
  }
  return true;
}

void Server::startIdentity() {
  if (!identity_provider_) return;
  uv_async_init(&loop_, &identity_async_, identityCb);
  identity_async_.data = this;
  metrics_->enableIdentity();
  observe::MetricsRegistry* metrics = metrics_.get();
  discovery::ControlPlaneAuth* auth = control_plane_auth_.get();
  identity_provider_->onChange([this, auth](const identity::IdentityPtr& id) {
    // The control-plane calls present the new certificate from their next call on.
    if (auth && id) auth->setIdentity(id->cert_chain_pem, id->private_key_pem, id->roots_pem);
    uv_async_send(&identity_async_);  // the callback takes the newest from the provider
  });
  identity_provider_->onResult(
      [metrics](bool ok, const std::string&) { metrics->countIdentityRenewal(ok); });
  if (auto id = identity_provider_->current()) {  // files: loaded already
    if (auth) auth->setIdentity(id->cert_chain_pem, id->private_key_pem, id->roots_pem);
    metrics_->countIdentityRenewal(true);
    onIdentity(id);
  } else {
    logLine(LogLevel::kInfo, "identity: requesting a certificate for " +
                                 current_->snapshot->bootstrap.node.spiffeId() + " from " +
                                 current_->snapshot->bootstrap.control_plane->url);
  }
  identity_provider_->start();
}

void Server::identityCb(uv_async_t* a) {
  auto* self = static_cast<Server*>(a->data);
  if (self->identity_provider_) self->onIdentity(self->identity_provider_->current());
}

void Server::onIdentity(identity::IdentityPtr id) {
  if (!id || (identity_ && id->generation <= identity_->generation)) return;
  identity::IdentityPtr previous = std::move(identity_);
  identity_ = std::move(id);
  metrics_->setIdentityExpiry(identity_->not_after);
  std::string serial;
  auto chain = identity::parseCertificates(identity_->cert_chain_pem);
  if (!chain.empty()) serial = identity::serialHex(chain.front().get());
  logLine(LogLevel::kInfo, "identity " + identity_->spiffe_id + " valid until " +
                               identity::isoTime(identity_->not_after) + " (serial " + serial +
                               ", from " + identity_provider_->source() + ")");
  const std::string node_id = current_->snapshot->bootstrap.node.spiffeId();
  if (identity_->spiffe_id != node_id) {
    // The certificate is what peers will see; the node's names are what the control plane
    // and the metrics use. Both are kept, but they ought to agree.
    logLine(LogLevel::kWarning, "identity " + identity_->spiffe_id +
                                    " is not the node's identity " + node_id +
                                    " (bootstrap node.trust_domain/namespace/service_account)");
  }
  // New contexts for new connections; connections already open keep theirs.
  if (!rebuildMeshTls(current_->snapshot->bootstrap.tls,
                      previous ? previous->roots_pem : std::string())) {
    return;
  }
  publish(current_->snapshot);
}

bool Server::rebuildMeshTls(const mesh::TlsOptions& options, const std::string& previous_roots) {
  std::string error;
  if (!makeMeshTls(*identity_, tlsSettings(options), mesh_tls_, previous_roots, mesh_tls_,
                   &error)) {
    logLine(LogLevel::kError,
            "identity " + identity_->spiffe_id + ": no mutual TLS with it: " + error);
    return false;
  }
  mesh_tls_options_ = options;
  return true;
}

void Server::beginShutdown(const char* why) {
  if (draining_) return;
  draining_ = true;
  ready_ = false;
  uint32_t drain_ms = current_->snapshot->bootstrap.timeouts.drain_ms;
  logLine(LogLevel::kInfo, std::string(why) + ": draining for " + std::to_string(drain_ms) +
                               " ms (inbound stops accepting, outbound keeps serving)");
  for (auto& w : workers_) w->postDrain();
  // Deregisters at once (bounded by a short timeout) while the drain goes on.
  if (control_plane_) control_plane_->beginStop();
  uv_timer_start(
      &drain_timer_, [](uv_timer_t* t) { static_cast<Server*>(t->data)->finishShutdown(); },
      drain_ms, 0);
}

void Server::finishShutdown() {
  if (control_plane_) {
    control_plane_->join();  // after it, nothing sends to push_async_
    uv_close(reinterpret_cast<uv_handle_t*>(&push_async_), nullptr);
  }
  if (identity_provider_) {
    identity_provider_->stop();  // after it, nothing sends to identity_async_
    uv_close(reinterpret_cast<uv_handle_t*>(&identity_async_), nullptr);
  }
  for (auto& w : workers_) w->stop();
  admin_->close();
  uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sighup_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&trim_timer_), nullptr);
}

std::string Server::clustersText() const {
  // Envoy's /clusters text form: <cluster>::<host:port>::<stat>::<value>.
  std::string out;
  const mesh::Snapshot& snap = *current_->snapshot;
  auto dump = [&](uint32_t index, const mesh::Cluster& c) {
    out += c.name + "::default_priority::max_requests::4294967295\n";
    out += c.name + "::lb_policy::" + mesh::toString(c.lb) + "\n";
    for (uint32_t i = 0; i < c.endpoints.size(); ++i) {
      const mesh::Endpoint& e = c.endpoints[i];
      std::string prefix = c.name + "::" + e.address + ":" + std::to_string(e.port) + "::";
      auto t = current_->endpoint_counters->total(index, i);
      out += prefix + "rq_total::" + std::to_string(t.rq_total) + "\n";
      out += prefix + "rq_active::" + std::to_string(t.rq_active) + "\n";
      out += prefix + "rq_error::" + std::to_string(t.rq_error) + "\n";
      out += prefix + "cx_connect_fail::" + std::to_string(t.cx_connect_fail) + "\n";
      out += prefix + "weight::" + std::to_string(e.weight) + "\n";
      out += prefix + "outlier_ejections::" + std::to_string(t.ejections) + "\n";
      // Envoy's flag for an endpoint ejected by outlier detection (by any worker).
      out +=
          prefix + "health_flags::" + (t.ejected > 0 ? "/failed_outlier_check" : "healthy") + "\n";
    }
  };
  for (uint32_t i = 0; i < snap.clusters.size(); ++i) dump(i, snap.clusters[i]);
  dump(static_cast<uint32_t>(snap.clusters.size()), snap.inbound_app);
  return out;
}

void Server::handleAdmin(const http::RequestHead& rq, admin::AdminResponse& rs) {
  std::string_view path(rq.path);
  std::string_view route = path.substr(0, path.find('?'));
  bool get = rq.method == "GET" || rq.method == "HEAD";
  bool post = rq.method == "POST";
  if (get && (route == "/metrics" || route == "/stats/prometheus")) {
    rs.content_type = "text/plain; version=0.0.4; charset=utf-8";
    rs.body = metrics_->serialize();
  } else if (get && route == "/ready") {
    rs.status = ready_ ? 200 : 503;
    rs.body = ready_ ? "LIVE\n" : (draining_ ? "DRAINING\n" : "PRE_INITIALIZING\n");
  } else if (get && route == "/healthz") {
    rs.body = "OK\n";
  } else if (get && route == "/config_dump") {
    rs.content_type = "application/json";
    rs.body = mesh::toJson(*current_->snapshot);
  } else if (get && route == "/clusters") {
    rs.body = clustersText();
  } else if (get && route == "/certs") {
    rs.content_type = "application/json";
    rs.body =
        identity::certsJson(identity_.get(), identity_provider_ ? identity_provider_->source() : "",
                            static_cast<int64_t>(std::time(nullptr)));
  } else if (post && route == "/drain") {
    beginShutdown("POST /drain");
    rs.body = "draining\n";
  } else if (post && route == "/quitquitquit") {
    beginShutdown("POST /quitquitquit");
    rs.body = "OK\n";
  } else if (route == "/logging" && (post || get)) {
    std::string level(router::queryParam(path, "level").value_or(std::string_view()));
    if (!level.empty()) {
      LogLevel l;
      if (!post || !parseLogLevel(level, l)) {
        rs.status = 400;
        rs.body = "usage: POST /logging?level=trace|debug|info|warning|error|off\n";
        return;
      }
      setLogLevel(l);
      logLine(LogLevel::kInfo, std::string("log level set to ") + toString(l));
    }
    rs.body = std::string("active loggers:\n  weft: ") + toString(logLevel()) + "\n";
  } else if (get && route == "/") {
    rs.body =
        "weft-proxy admin\n"
        "  GET  /metrics /stats/prometheus  Prometheus metrics\n"
        "  GET  /ready                      200 when serving, 503 before and while draining\n"
        "  GET  /healthz                    liveness\n"
        "  GET  /config_dump                the compiled configuration (JSON)\n"
        "  GET  /clusters                   endpoints and their counters\n"
        "  GET  /certs                      the workload certificate and trust bundle (JSON)\n"
        "  POST /drain                      drain, then exit\n"
        "  POST /quitquitquit               drain, then exit\n"
        "  POST /logging?level=debug        change the log level\n";
  } else {
    rs.status = 404;
    rs.body = "not found; GET / lists the admin endpoints\n";
  }
}

}  // namespace weft::server
