// Bootstrap: the sidecar's own YAML file (who it is, where it listens, what config it loads).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/config_error.h"

namespace weft::mesh {

struct SocketAddress {
  std::string host;  // numeric IPv4/IPv6 address
  uint16_t port = 0;
};

struct NodeIdentity {
  std::string id;        // unique per sidecar
  std::string workload;  // e.g. reviews-v1
  std::string service;   // short name of the service this workload serves
  std::string namespace_name = "default";
  std::string service_account = "default";
  std::string cluster_id = "Kubernetes";  // Istio's default cluster name
  std::string trust_domain = "cluster.local";
  std::map<std::string, std::string> labels;

  // Derived as Istio does: app/version labels, canonical service/revision
  // (service.istio.io/canonical-name|revision labels, else app|version, else workload|latest).
  std::string app() const;
  std::string version() const;
  std::string canonicalService() const;
  std::string canonicalRevision() const;
  // spiffe://<trust domain>/ns/<ns>/sa/<sa>
  std::string spiffeId() const;
  // <fqdn of service>: <service>.<namespace>.svc.cluster.local
  std::string serviceFqdn() const;
};

struct Timeouts {
  uint32_t header_read_ms = 10'000;        // whole request head must arrive within this
  uint32_t downstream_idle_ms = 300'000;   // keep-alive client connection with no request
  uint32_t upstream_connect_ms = 10'000;   // Istio's connectTimeout default
  uint32_t upstream_pool_idle_ms = 3'000;  // below common app servers' keep-alive timeouts
  uint32_t drain_ms = 5'000;               // SIGTERM: how long in-flight requests may finish
};

struct AccessLogConfig {
  bool enabled = false;
  std::string path;             // "stdout", "stderr" or a file path
  std::string format = "json";  // the only format so far
};

// control_plane: dynamic mode (the control plane pushes resources; docs/configuration.md).
struct ControlPlaneConfig {
  std::string url;   // as written: http(s)://<host>:<port>
  bool tls = false;  // https://
  std::string host;  // numeric IPv4/IPv6 address, or "localhost"
  uint16_t port = 0;
  std::string token_file;  // resolved path
  std::string token;       // the file's first line, read when the bootstrap is loaded
  std::string scope = "full";
  // Where the last applied configuration is kept for a restart (resolved path); "" = no cache.
  std::string cache_file;
  // Lifetime asked for the workload certificate (seconds); 0: none asked, the CA's default.
  uint64_t certificate_ttl_s = 0;
  // https: the PEM roots the control plane's certificate must verify against (ca_certificate,
  // resolved path, and its text read when the bootstrap is loaded).
  std::string ca_certificate;
  std::string ca_pem;

  // "http(s)://host:port" (IPv6 in brackets, localhost as 127.0.0.1), without a trailing slash.
  std::string baseUrl() const;
};

// "http://" or "https://", then "<numeric ip or localhost>:<port>", optionally with a trailing
// "/". Returns nullopt (and a reason in `why`) for anything else.
std::optional<ControlPlaneConfig> parseControlPlaneUrl(std::string_view url, std::string& why);

// identity: static mode's workload certificate, key and trust bundle (docs/configuration.md).
// The files are checked to exist here; their contents are checked by identity/ at start
// (identity::checkIdentityFiles), with the position of the `identity` key.
struct IdentityFilesConfig {
  std::string certificate;  // resolved paths (relative: from the bootstrap's directory)
  std::string private_key;
  std::string ca_certificates;
  std::string file;  // where the `identity` key is: file, 1-based line and column
  int line = 0;
  int column = 0;
};

// tls: the versions, suites and curves of mutual TLS between sidecars and of TLS origination.
// Empty lists keep the defaults (tls/context.h TlsSettings): TLS 1.3; with TLS 1.2 enabled,
// ECDHE key exchange with AEAD ciphers only.
struct TlsOptions {
  bool allow_tls12 = false;                      // min_version TLSv1_2
  std::vector<std::string> cipher_suites;        // TLS 1.2 suites (OpenSSL names)
  std::vector<std::string> tls13_cipher_suites;  // TLS 1.3 suites
  std::vector<std::string> ecdh_curves;          // key exchange groups, in preference order
  bool operator==(const TlsOptions&) const = default;
};

struct Bootstrap {
  std::string path;  // the file this came from
  NodeIdentity node;
  SocketAddress admin{"127.0.0.1", 15000};
  SocketAddress outbound{"127.0.0.1", 15001};
  SocketAddress inbound{"0.0.0.0", 15006};
  SocketAddress inbound_app{"127.0.0.1", 8080};     // where inbound traffic goes (the local app)
  std::vector<std::string> resources;               // Istio-format YAML files, resolved paths
  std::optional<ControlPlaneConfig> control_plane;  // set: dynamic mode
  // Set: the identity comes from these files (else, in dynamic mode, from the control plane).
  std::optional<IdentityFilesConfig> identity;
  TlsOptions tls;
  AccessLogConfig access_log;
  Timeouts timeouts;
  size_t max_request_header_bytes = 60 * 1024;
  size_t max_request_headers = 100;
  // Request bodies up to this size are kept so a retry can resend them (Envoy's
  // per_request_buffer_limit_bytes); a longer body is sent once and never retried.
  size_t retry_buffer_bytes = 64 * 1024;
};

struct BootstrapResult {
  std::optional<Bootstrap> bootstrap;  // set when there are no errors
  ConfigErrors errors;                 // errors and warnings, with file:line:col
};

// Reads and validates a bootstrap file. Relative resource paths are resolved against the
// current directory when they exist there, else against the bootstrap file's directory.
BootstrapResult loadBootstrap(const std::string& path);
// The same from text (tests, fuzzing); `name` is used in error positions.
BootstrapResult parseBootstrap(const std::string& text, const std::string& name);

// "ip:port" or "[ipv6]:port" with a numeric address and a decimal port 1-65535.
std::optional<SocketAddress> parseSocketAddress(std::string_view text);
std::string toString(const SocketAddress& address);  // "ip:port" / "[ipv6]:port"

}  // namespace weft::mesh
