// weft-proxy: the Weft sidecar. Parses the command line and runs the server.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "discovery/wait_ready.h"
#include "identity/file_provider.h"
#include "mesh/bootstrap.h"
#include "mesh/snapshot.h"
#include "server/log.h"
#include "server/server.h"

#ifndef WEFT_VERSION
#define WEFT_VERSION "dev"
#endif

namespace {

// --validate: checks the bootstrap and every resource file it names.
int validate(const std::string& path) {
  weft::mesh::LoadResult loaded = weft::mesh::loadStatic(path, 0);
  for (const auto& e : loaded.errors) std::cerr << e.format() << "\n";
  if (!loaded.snapshot) return 1;
  if (const auto& id = loaded.snapshot->bootstrap.identity) {
    if (auto e = weft::identity::checkIdentityFiles(*id)) {
      std::cerr << e->format() << "\n";
      return 1;
    }
  }
  std::cout << path << ": OK (" << loaded.snapshot->clusters.size() << " clusters, "
            << loaded.snapshot->outbound_routes.virtual_hosts.size() << " virtual hosts)\n";
  return 0;
}

// wait-ready: polls the sidecar's admin /ready until 200 (exit 0) or the timeout (exit 1).
int waitReady(const std::string& admin, const std::string& config, const std::string& timeout) {
  weft::discovery::WaitReadyOptions options;
  auto timeout_ms = weft::discovery::parseWaitTimeout(timeout);
  if (!timeout_ms) {
    std::cerr << "--timeout: '" << timeout << "' is not a duration such as 500ms, 30s or 1m\n";
    return 2;
  }
  options.timeout_ms = *timeout_ms;
  if (!admin.empty()) {
    std::string why;
    auto target = weft::discovery::parseAdminTarget(admin, why);
    if (!target) {
      std::cerr << "--admin: " << why << "\n";
      return 2;
    }
    options.admin = *target;
  } else if (!config.empty()) {
    weft::mesh::BootstrapResult loaded = weft::mesh::loadBootstrap(config);
    if (!loaded.bootstrap) {
      for (const auto& e : loaded.errors) std::cerr << e.format() << "\n";
      std::cerr << "--config: cannot read the admin address from " << config << "\n";
      return 2;
    }
    options.admin = weft::discovery::adminTarget(loaded.bootstrap->admin);
  } else {
    options.admin = weft::discovery::adminTarget(weft::mesh::Bootstrap{}.admin);
  }
  return weft::discovery::waitReady(options, std::cerr);
}

}  // namespace

int main(int argc, char** argv) {
  // Fixed thresholds turn off glibc's adaptive ones: once a large block (a configuration's
  // text) has been freed, glibc would otherwise raise both to tens of MiB, keep freed heap
  // instead of returning it, and a sidecar would hold megabytes more after each change.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  mallopt(M_TRIM_THRESHOLD, 256 * 1024);
  CLI::App app{"weft-proxy: the Weft service-mesh sidecar (HTTP/1.1, Istio-format config)"};
  app.set_version_flag("--version", std::string("weft-proxy ") + WEFT_VERSION);
  weft::server::ServerOptions options;
  bool validate_only = false;
  std::string log_level = "info";
  // Not ->required(): CLI11 would then report a missing --config before an unknown flag.
  app.add_option("-c,--config", options.config_path, "bootstrap YAML file");
  app.add_option("--concurrency", options.concurrency, "worker threads (default: one per core)")
      ->check(CLI::Range(0, 256));
  app.add_option("--log-level", log_level, "trace, debug, info, warning, error or off");
  app.add_option("--inbound-mtls-certs", options.inbound_mtls_certs,
                 "directory with cert-chain.pem, key.pem and root-cert.pem: the inbound "
                 "listener accepts mutual TLS only (re-read on SIGHUP)");
  app.add_flag("--validate", validate_only,
               "check the configuration, print every error as file:line:col, and exit");

  // `weft-proxy wait-ready`: a subcommand; without one weft-proxy runs the sidecar as always.
  CLI::App* wait = app.add_subcommand(
      "wait-ready",
      "wait until the sidecar is ready (admin GET /ready answers 200): exit 0, or 1 after "
      "--timeout; for start-up scripts that start the application after its sidecar");
  std::string wait_admin;
  std::string wait_config;
  std::string wait_timeout = "30s";
  auto* admin_opt = wait->add_option(
      "--admin", wait_admin, "the sidecar's admin address HOST:PORT (default 127.0.0.1:15000)");
  wait->add_option("-c,--config", wait_config, "read the admin address from this bootstrap")
      ->excludes(admin_opt);
  wait->add_option("--timeout", wait_timeout, "how long to wait: 500ms, 30s, 1m (default 30s)");

  CLI11_PARSE(app, argc, argv);
  if (wait->parsed()) {
    if (!options.config_path.empty() && wait_config.empty() && wait_admin.empty()) {
      wait_config = options.config_path;  // weft-proxy --config B wait-ready
    }
    return waitReady(wait_admin, wait_config, wait_timeout);
  }
  if (options.config_path.empty()) {
    std::cerr << "--config is required\nRun with --help for more information.\n";
    return 2;
  }

  weft::server::LogLevel level;
  if (!weft::server::parseLogLevel(log_level, level)) {
    std::cerr << "--log-level: unknown level '" << log_level << "'\n";
    return 2;
  }
  weft::server::setLogLevel(level);
  if (validate_only) return validate(options.config_path);

  signal(SIGPIPE, SIG_IGN);
  weft::server::Server server;
  return server.run(options);
}
