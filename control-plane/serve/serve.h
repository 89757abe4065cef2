// `weft-control serve`: the control plane server. Options come from the command line, which
// overrides the optional YAML config file (--config); docs/control-plane.md lists the keys.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "mesh/config_error.h"

namespace CLI {
class App;
}

namespace weft::control {

struct ServeOptions {
  std::string listen = "127.0.0.1:15010";
  std::string config_dir;  // empty: none
  std::string data_dir;    // empty: API resources are not persisted
  std::string tokens;      // empty: authentication off
  uint64_t node_ttl_ms = 30'000;
  uint64_t debounce_ms = 100;
  uint64_t max_debounce_ms = 1'000;
  uint64_t max_body_bytes = 4 * 1024 * 1024;
  std::string log_level = "info";
  // Certificate authority (docs/security.md).
  std::string trust_domain = "cluster.local";
  uint64_t cert_ttl_s = 86'400;  // lifetime of a certificate whose request names none
  std::string ca_dir;            // empty: the CA's own root (under data_dir/ca, or in memory)
  // The API over plain HTTP instead of TLS: for labs and benchmarks only (bearer tokens then
  // travel in clear text, and sidecars cannot authenticate with their certificates).
  bool plaintext = false;
  // Root rotation (docs/security.md): the new root is only trusted for rotation_grace before it
  // signs; the old root is dropped once its certificates are gone, after rotation_max at most.
  uint64_t rotation_grace_s = 30;
  uint64_t rotation_max_s = 86'400;
};

// Reads the control plane's YAML config file into `options` (keys it sets replace the
// defaults). Errors are positioned file:line:col.
bool loadControlConfig(const std::string& path, ServeOptions& options, mesh::ConfigErrors& errors);
bool parseControlConfig(const std::string& text, const std::string& name, ServeOptions& options,
                        mesh::ConfigErrors& errors);

// Adds the `serve` subcommand; when it is chosen, `run` is set to the function to run.
void registerServeCommand(CLI::App& app, std::function<int()>& run);

// Runs the server until SIGINT/SIGTERM. Returns the process exit code.
int runServe(const ServeOptions& options);

}  // namespace weft::control
