// weft-proxy: the Weft sidecar. Parses the command line and runs the server.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

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
  std::cout << path << ": OK (" << loaded.snapshot->clusters.size() << " clusters, "
            << loaded.snapshot->outbound_routes.virtual_hosts.size() << " virtual hosts)\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
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
  app.add_flag("--validate", validate_only,
               "check the configuration, print every error as file:line:col, and exit");
  CLI11_PARSE(app, argc, argv);
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
