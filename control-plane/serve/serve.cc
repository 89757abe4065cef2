// `weft-control serve` (see serve.h).
#include "serve/serve.h"

#include <uv.h>
#include <CLI/CLI.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <tuple>

#include "api/api.h"
#include "api/http_server.h"
#include "api/tokens.h"
#include "ca/ca.h"
#include "ca/rotation.h"
#include "mesh/bootstrap.h"
#include "mesh/yaml_reader.h"
#include "push/metrics.h"
#include "push/push.h"
#include "registry/registry.h"
#include "serve/api_certificate.h"
#include "server/log.h"
#include "store/config_dir.h"
#include "store/store.h"

namespace weft::control {

namespace {

using server::LogLevel;
using server::logLine;

void writeTrustBundle(const std::string& data_dir, const std::string& pem);

// Everything the running server owns, on the main loop.
struct Runtime {
  uv_loop_t* loop;
  const ServeOptions& options;
  std::unique_ptr<TokenSet> tokens;
  std::unique_ptr<CaManager> cas;
  Store store;
  Registry registry{store};
  ControlMetrics metrics;
  PushEngine push;
  std::unique_ptr<ConfigDir> config_dir;
  Api api;
  HttpServer server;
  std::unique_ptr<ApiCertificate> api_cert;  // null with --plaintext
  uv_timer_t ttl_timer;
  uv_timer_t cert_timer;
  uv_signal_t sigint;
  uv_signal_t sigterm;

  Runtime(uv_loop_t* l, const ServeOptions& o, std::unique_ptr<TokenSet> t,
          std::unique_ptr<CaManager> c, size_t max_connections)
      : loop(l),
        options(o),
        tokens(std::move(t)),
        cas(std::move(c)),
        store(o.data_dir),
        push(l, store, registry, metrics, PushOptions{o.debounce_ms, o.max_debounce_ms}),
        api(l, store, registry, push, metrics, tokens.get()),
        server(
            l, [this](const HttpRequestPtr& r) { api.handle(r); },
            HttpServerLimits{static_cast<size_t>(o.max_body_bytes), 64 * 1024, 120'000, 30'000,
                             max_connections}) {
    api.setCertificateAuthority(&cas->signer(), o.cert_ttl_s);
    api.setCaManager(cas.get(), [this] {
      metrics.ca_rotations_started.Increment();
      caChanged();
    });
    metrics.ca_root_expiry.Set(static_cast<double>(cas->signer().rootExpiry()));
  }

  void expireNodes() {
    for (const std::string& id : registry.expired(uv_now(loop), options.node_ttl_ms)) {
      logLine(LogLevel::kInfo, "node " + id + " expired (no poll for longer than the TTL)");
      registry.remove(id);
      push.nodeRemoved(id);
    }
  }

  // The trust bundle goes out with every push, and to <data-dir>/trust-bundle.pem (what an
  // operator's CLI and a sidecar's ca_certificate can point at). `after_start`: a change while
  // serving, which gives every sidecar a new version.
  void publishTrustBundle(bool after_start) {
    const CertificateAuthority& ca = cas->signer();
    push.setTrustBundle(ca.rootCertificatesPem(), ca.signingRootFingerprint());
    metrics.ca_trusted_roots.Set(static_cast<double>(ca.rootCount()));
    metrics.ca_root_expiry.Set(static_cast<double>(ca.rootExpiry()));
    metrics.ca_rotation_phase.Set(static_cast<double>(cas->phase()));
    metrics.ca_rotation_outstanding.Set(static_cast<double>(cas->outstanding()));
    if (!options.data_dir.empty()) writeTrustBundle(options.data_dir, ca.rootCertificatesPem());
    if (after_start) store.touch();
  }

  // A new API certificate (start, half its life, a change of the CA's roots).
  bool refreshApiCertificate() {
    if (!api_cert) return true;
    std::string error;
    if (!api_cert->refresh(cas->signer(), error)) {
      logLine(LogLevel::kError, "API certificate not renewed: " + error);
      return false;
    }
    logLine(LogLevel::kInfo, "API certificate for " +
                                 controlPlaneIdentity(cas->signer().trustDomain()) +
                                 " valid until " + std::to_string(api_cert->expiresAt()));
    return true;
  }

  // The CA's roots or signer changed (a rotation started, switched or finished): certificates
  // come from the new signer, the API gets a certificate from it and a context trusting every
  // root, and the bundle goes out.
  void caChanged() {
    api.setCertificateAuthority(&cas->signer(), options.cert_ttl_s);
    refreshApiCertificate();
    publishTrustBundle(true);
  }

  // Once a second: the rotation's clock, and the gauges that move with it.
  void tickRotation() {
    const RotationPhase before = cas->phase();
    if (cas->tick(static_cast<int64_t>(std::time(nullptr)))) {
      if (before == RotationPhase::kSigning && cas->phase() == RotationPhase::kNone) {
        metrics.ca_rotations_completed.Increment();
      }
      caChanged();
    }
    metrics.ca_rotation_outstanding.Set(static_cast<double>(cas->outstanding()));
  }

  void checkApiCertificate() {
    if (api_cert && static_cast<int64_t>(std::time(nullptr)) >= api_cert->refreshAt()) {
      refreshApiCertificate();
    }
  }

  void stop() {
    logLine(LogLevel::kInfo, "shutting down");
    server.close();
    if (config_dir) config_dir->stop();
    uv_timer_stop(&ttl_timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&ttl_timer), nullptr);
    uv_timer_stop(&cert_timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&cert_timer), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigint), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigterm), nullptr);
  }
};

constexpr const char* kNodesFile = "nodes.jsonl";
constexpr const char* kTrustBundleFile = "trust-bundle.pem";

// <data-dir>/trust-bundle.pem, replaced atomically (a reader never sees half a file).
void writeTrustBundle(const std::string& data_dir, const std::string& pem) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  const std::filesystem::path path = std::filesystem::path(data_dir) / kTrustBundleFile;
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << pem;
    out.flush();
    if (!out) {
      logLine(LogLevel::kWarning, "cannot write " + tmp.string());
      return;
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) logLine(LogLevel::kWarning, "cannot write " + path.string() + ": " + ec.message());
}

// The registrations under --data-dir, rewritten (through a temporary file and a rename) after
// every registration and removal, so that a restarted control plane keeps every workload's
// endpoints while the sidecars reconnect.
void persistNodes(const Registry& registry, const std::string& data_dir) {
  if (data_dir.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  const std::filesystem::path path = std::filesystem::path(data_dir) / kNodesFile;
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << registry.dump();
    out.flush();
    if (!out) {
      logLine(LogLevel::kWarning, "cannot write " + tmp.string());
      return;
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) logLine(LogLevel::kWarning, "cannot write " + path.string() + ": " + ec.message());
}

// "ip:port" as the mesh library reads it, plus port 0 (a free port, logged at start).
std::optional<mesh::SocketAddress> parseListen(const std::string& text) {
  if (text.size() > 2 && text.compare(text.size() - 2, 2, ":0") == 0) {
    auto a = mesh::parseSocketAddress(text.substr(0, text.size() - 1) + "1");
    if (a) a->port = 0;
    return a;
  }
  return mesh::parseSocketAddress(text);
}

void reportFile(const std::string& file, const mesh::ConfigErrors& errors, bool accepted) {
  for (const auto& e : errors) {
    logLine(e.warning ? LogLevel::kWarning : LogLevel::kError, "config-dir " + e.format());
  }
  logLine(accepted ? LogLevel::kInfo : LogLevel::kError,
          "config-dir " + file +
              (accepted ? ": loaded"
                        : ": rejected, the last good version "
                          "keeps serving"));
}

bool readDuration(mesh::YamlContext& ctx, const mesh::YamlMap& map, const char* key, uint64_t& out,
                  uint64_t min_ms, uint64_t max_ms) {
  const YAML::Node* n = map.find(key);
  if (!n) return true;
  auto v = mesh::readDurationMs(ctx, *n, key, min_ms, max_ms);
  if (v) out = *v;
  return v.has_value();
}

}  // namespace

bool parseControlConfig(const std::string& text, const std::string& name, ServeOptions& options,
                        mesh::ConfigErrors& errors) {
  mesh::YamlContext ctx(name, errors);
  auto docs = mesh::loadYamlDocuments(ctx, text);
  if (!docs) return false;
  if (docs->size() != 1 || (*docs)[0].IsNull()) {
    if (docs->size() > 1) ctx.error(YAML::Mark(), "the config file must hold one document");
    return ctx.errorCount() == 0;
  }
  auto map =
      mesh::YamlMap::open(ctx, (*docs)[0], "the control plane config",
                          {"listen", "config_dir", "data_dir", "tokens", "node_ttl", "debounce",
                           "max_debounce", "max_body_bytes", "log_level", "trust_domain",
                           "cert_ttl", "ca_dir", "plaintext", "rotation_grace", "rotation_max"});
  if (!map) return false;
  auto str = [&](const char* key, std::string& out) {
    if (const YAML::Node* n = map->find(key)) {
      if (auto v = mesh::readNonEmptyString(ctx, *n, key)) out = *v;
    }
  };
  str("listen", options.listen);
  if (const YAML::Node* n = map->find("listen")) {
    if (!parseListen(options.listen)) {
      ctx.error(n->Mark(), "'listen' must be ip:port");
    }
  }
  str("config_dir", options.config_dir);
  str("data_dir", options.data_dir);
  str("tokens", options.tokens);
  str("log_level", options.log_level);
  str("ca_dir", options.ca_dir);
  str("trust_domain", options.trust_domain);
  if (const YAML::Node* n = map->find("trust_domain")) {
    if (!CertificateAuthority::validTrustDomain(options.trust_domain)) {
      ctx.error(n->Mark(), "'trust_domain' must hold lower-case letters, digits, '.', '-' and '_'");
    }
  }
  if (const YAML::Node* n = map->find("cert_ttl")) {
    auto v = n->IsScalar() ? parseTtlSeconds(n->Scalar()) : std::nullopt;
    if (!v || *v < kMinCertTtlSeconds || *v > kMaxCertTtlSeconds) {
      ctx.error(n->Mark(), "'cert_ttl' must be a duration from 1m to 30d, such as 24h");
    } else {
      options.cert_ttl_s = *v;
    }
  }
  if (const YAML::Node* n = map->find("plaintext")) {
    bool v = false;
    if (n->IsScalar() && YAML::convert<bool>::decode(*n, v)) {
      options.plaintext = v;
    } else {
      ctx.error(n->Mark(), "'plaintext' must be true or false");
    }
  }
  readDuration(ctx, *map, "node_ttl", options.node_ttl_ms, 1'000, 86'400'000);
  using Key = std::pair<const char*, uint64_t*>;
  for (auto [key, out] : {Key{"rotation_grace", &options.rotation_grace_s},
                          Key{"rotation_max", &options.rotation_max_s}}) {
    if (const YAML::Node* n = map->find(key)) {
      auto v = n->IsScalar() ? parseTtlSeconds(n->Scalar()) : std::nullopt;
      if (!v || *v < 1 || *v > kMaxCertTtlSeconds) {
        ctx.error(n->Mark(), "'" + std::string(key) + "' must be a duration from 1s to 30d");
      } else {
        *out = *v;
      }
    }
  }
  readDuration(ctx, *map, "debounce", options.debounce_ms, 0, 10'000);
  readDuration(ctx, *map, "max_debounce", options.max_debounce_ms, 0, 60'000);
  if (const YAML::Node* n = map->find("max_body_bytes")) {
    if (auto v = mesh::readUint(ctx, *n, "max_body_bytes", 1024, 1ull << 30)) {
      options.max_body_bytes = *v;
    }
  }
  return ctx.errorCount() == 0;
}

bool loadControlConfig(const std::string& path, ServeOptions& options, mesh::ConfigErrors& errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errors.push_back({path, 0, 0, "cannot read the config file", false});
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return parseControlConfig(ss.str(), path, options, errors);
}

void registerServeCommand(CLI::App& app, std::function<int()>& run) {
  struct Flags {
    std::string config, listen, config_dir, data_dir, tokens, node_ttl, log_level, trust_domain,
        cert_ttl, ca_dir, rotation_grace, rotation_max;
    bool plaintext = false;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* serve = app.add_subcommand("serve", "run the control plane server");
  serve->add_option("--config", flags->config, "control plane YAML config file");
  CLI::Option* listen =
      serve->add_option("--listen", flags->listen, "API address ip:port (default 127.0.0.1:15010)");
  CLI::Option* config_dir = serve->add_option("--config-dir", flags->config_dir,
                                              "directory of Istio-format YAML files, watched");
  CLI::Option* data_dir = serve->add_option("--data-dir", flags->data_dir,
                                            "where resources applied through the API are kept");
  CLI::Option* tokens =
      serve->add_option("--tokens", flags->tokens, "bearer tokens file (YAML list)");
  CLI::Option* ttl = serve->add_option("--node-ttl", flags->node_ttl,
                                       "remove a node this long after its last poll (30s)");
  CLI::Option* level =
      serve->add_option("--log-level", flags->log_level, "trace, debug, info, warning, error");
  CLI::Option* trust_domain = serve->add_option("--trust-domain", flags->trust_domain,
                                                "SPIFFE trust domain of the CA (cluster.local)");
  CLI::Option* cert_ttl = serve->add_option(
      "--cert-ttl", flags->cert_ttl, "default lifetime of workload certificates, 1m to 30d (24h)");
  CLI::Option* ca_dir = serve->add_option(
      "--ca-dir", flags->ca_dir,
      "plug-in CA: ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem (Istio's layout)");
  CLI::Option* rotation_grace = serve->add_option(
      "--rotation-grace", flags->rotation_grace,
      "root rotation: how long the new root is only trusted before it signs (30s)");
  CLI::Option* rotation_max =
      serve->add_option("--rotation-max", flags->rotation_max,
                        "root rotation: longest the old root stays trusted after the switch (24h)");
  serve->add_flag("--plaintext", flags->plaintext,
                  "serve the API over plain HTTP instead of TLS (labs and benchmarks only)");
  serve->callback([&run, flags, listen, config_dir, data_dir, tokens, ttl, level, trust_domain,
                   cert_ttl, ca_dir, rotation_grace, rotation_max] {
    run = [flags, listen, config_dir, data_dir, tokens, ttl, level, trust_domain, cert_ttl, ca_dir,
           rotation_grace, rotation_max]() -> int {
      ServeOptions o;
      if (!flags->config.empty()) {
        mesh::ConfigErrors errors;
        bool ok = loadControlConfig(flags->config, o, errors);
        for (const auto& e : errors) std::cerr << e.format() << "\n";
        if (!ok) return 2;
      }
      if (listen->count()) o.listen = flags->listen;
      if (config_dir->count()) o.config_dir = flags->config_dir;
      if (data_dir->count()) o.data_dir = flags->data_dir;
      if (tokens->count()) o.tokens = flags->tokens;
      if (level->count()) o.log_level = flags->log_level;
      if (ttl->count()) {
        auto v = mesh::parseDurationMs(flags->node_ttl);
        if (!v || *v < 100) {
          std::cerr << "--node-ttl: expected a duration such as 30s\n";
          return 2;
        }
        o.node_ttl_ms = *v;
      }
      if (trust_domain->count()) {
        if (!CertificateAuthority::validTrustDomain(flags->trust_domain)) {
          std::cerr << "--trust-domain: lower-case letters, digits, '.', '-' and '_' only\n";
          return 2;
        }
        o.trust_domain = flags->trust_domain;
      }
      if (cert_ttl->count()) {
        auto v = parseTtlSeconds(flags->cert_ttl);
        if (!v || *v < kMinCertTtlSeconds || *v > kMaxCertTtlSeconds) {
          std::cerr << "--cert-ttl: expected a duration from 1m to 30d, such as 24h\n";
          return 2;
        }
        o.cert_ttl_s = *v;
      }
      if (ca_dir->count()) o.ca_dir = flags->ca_dir;
      if (flags->plaintext) o.plaintext = true;
      for (auto [opt, text, out, name] :
           {std::tuple{rotation_grace, &flags->rotation_grace, &o.rotation_grace_s,
                       "--rotation-grace"},
            std::tuple{rotation_max, &flags->rotation_max, &o.rotation_max_s, "--rotation-max"}}) {
        if (!opt->count()) continue;
        auto v = parseTtlSeconds(*text);
        if (!v || *v < 1 || *v > kMaxCertTtlSeconds) {
          std::cerr << name << ": expected a duration from 1s to 30d, such as 30s\n";
          return 2;
        }
        *out = *v;
      }
      return runServe(o);
    };
  });
}

int runServe(const ServeOptions& options) {
  LogLevel level;
  if (!server::parseLogLevel(options.log_level, level)) {
    std::cerr << "unknown log level '" << options.log_level << "'\n";
    return 2;
  }
  server::setLogLevel(level);
  auto address = parseListen(options.listen);
  if (!address) {
    std::cerr << "--listen: expected ip:port, got '" << options.listen << "'\n";
    return 2;
  }
  std::unique_ptr<TokenSet> tokens;
  if (!options.tokens.empty()) {
    mesh::ConfigErrors errors;
    auto set = TokenSet::load(options.tokens, errors);
    for (const auto& e : errors) std::cerr << e.format() << "\n";
    if (!set) return 2;
    tokens = std::make_unique<TokenSet>(std::move(*set));
  } else {
    logLine(LogLevel::kWarning, "no --tokens file: authentication is off");
  }
  // The CA: an operator's (--ca-dir), else our own root, kept under the data dir; and a root
  // rotation in progress, if any.
  std::unique_ptr<CaManager> ca;
  {
    std::string error;
    CaOptions ca_options;
    ca_options.trust_domain = options.trust_domain;
    ca_options.data_dir = options.data_dir;
    ca_options.ca_dir = options.ca_dir;
    ca_options.grace_s = options.rotation_grace_s;
    ca_options.max_s = options.rotation_max_s;
    ca = CaManager::open(ca_options, error);
    if (ca && options.data_dir.empty() && options.ca_dir.empty()) {
      logLine(LogLevel::kWarning,
              "no --data-dir: the CA's root is kept in memory only, so the trust bundle and "
              "every certificate change at each start");
    }
    if (!ca) {
      std::cerr << "certificate authority: " << error << "\n";
      return 1;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  // Every sidecar holds a connection (its long-poll): use all the descriptors allowed.
  size_t max_connections = 10'000;
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
    getrlimit(RLIMIT_NOFILE, &files);
    if (files.rlim_cur != RLIM_INFINITY && files.rlim_cur > 128) {
      max_connections = std::min<size_t>(max_connections, files.rlim_cur - 64);
    }
  }
  uv_loop_t* loop = uv_default_loop();
  auto rt =
      std::make_unique<Runtime>(loop, options, std::move(tokens), std::move(ca), max_connections);
  {
    mesh::ConfigErrors errors;
    bool ok = rt->store.loadPersisted(errors);
    for (const auto& e : errors) std::cerr << e.format() << "\n";
    if (!ok) return 1;
  }
  rt->publishTrustBundle(false);
  rt->store.setOnChange([r = rt.get()] { r->push.storeChanged(); });
  if (!options.config_dir.empty()) {
    rt->config_dir = std::make_unique<ConfigDir>(loop, rt->store, options.config_dir, reportFile);
    if (!rt->config_dir->scan()) {
      std::cerr << options.config_dir << ": cannot read the config directory\n";
      return 1;
    }
    if (int rc = rt->config_dir->watch(); rc != 0) {
      logLine(LogLevel::kWarning, std::string("cannot watch the config directory (") +
                                      uv_strerror(rc) + "); rescanning it every 2 s");
    }
  }
  if (!options.data_dir.empty()) {
    // Nodes registered before a restart come back with their WorkloadEntries (endpoints stay
    // as they were); each gets the TTL to poll again, else it expires.
    std::ifstream in(std::filesystem::path(options.data_dir) / kNodesFile, std::ios::binary);
    if (in) {
      std::stringstream text;
      text << in.rdbuf();
      std::vector<std::string> errors;
      std::vector<std::string> ids = rt->registry.restore(text.str(), uv_now(loop), errors);
      for (const auto& e : errors) {
        logLine(LogLevel::kWarning, std::string(kNodesFile) + " " + e + " (skipped)");
      }
      for (const auto& id : ids) rt->push.nodeRegistered(id);
      if (!ids.empty()) {
        logLine(LogLevel::kInfo, "restored " + std::to_string(ids.size()) +
                                     " registered node(s) from " + kNodesFile);
      }
    }
    rt->registry.setOnChange([r = rt.get()] { persistNodes(r->registry, r->options.data_dir); });
  }
  if (!options.plaintext) {
    rt->api_cert = std::make_unique<ApiCertificate>(address->host);
    if (!rt->refreshApiCertificate()) return 1;
    rt->server.setTransportFactory(
        [r = rt.get()] { return makeTlsTransport(r->api_cert->context()); });
  } else {
    logLine(LogLevel::kWarning,
            "--plaintext: the API is served over plain HTTP (bearer tokens in clear text); for "
            "labs and benchmarks only");
  }
  if (int rc = rt->server.listen(address->host, address->port); rc != 0) {
    std::cerr << "cannot listen on " << options.listen << ": " << uv_strerror(rc) << "\n";
    return 1;
  }
  rt->api.setReady(true);
  uv_timer_init(loop, &rt->ttl_timer);
  rt->ttl_timer.data = rt.get();
  const uint64_t tick = std::min<uint64_t>(1'000, std::max<uint64_t>(100, options.node_ttl_ms / 4));
  uv_timer_start(
      &rt->ttl_timer, [](uv_timer_t* t) { static_cast<Runtime*>(t->data)->expireNodes(); }, tick,
      tick);
  uv_timer_init(loop, &rt->cert_timer);
  rt->cert_timer.data = rt.get();
  uv_timer_start(
      &rt->cert_timer,
      [](uv_timer_t* t) {
        auto* r = static_cast<Runtime*>(t->data);
        r->tickRotation();
        r->checkApiCertificate();
      },
      1'000, 1'000);
  auto onSignal = [](uv_signal_t* s, int) { static_cast<Runtime*>(s->data)->stop(); };
  uv_signal_init(loop, &rt->sigint);
  uv_signal_init(loop, &rt->sigterm);
  rt->sigint.data = rt.get();
  rt->sigterm.data = rt.get();
  uv_signal_start(&rt->sigint, onSignal, SIGINT);
  uv_signal_start(&rt->sigterm, onSignal, SIGTERM);
  logLine(LogLevel::kInfo,
          "weft-control listening on " +
              mesh::toString(mesh::SocketAddress{address->host, rt->server.port()}) +
              (options.plaintext ? " (plain HTTP" : " (TLS") + ", store revision " +
              std::to_string(rt->store.revision()) + ")");
  // stop() closes the runtime's handles; the loop ends once they (and a pending debounce)
  // are done. Then the runtime goes, and libuv frees the handles its destructors closed.
  uv_run(loop, UV_RUN_DEFAULT);
  rt.reset();
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}

}  // namespace weft::control
