// The JSON of the control-plane protocol, sidecar side (docs/configuration.md, "Dynamic mode"):
// the registration body built from the bootstrap, the config push read from a poll answer, and
// the ack/nack body. Pure functions, so that they are tested without a network.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/bootstrap.h"
#include "mesh/snapshot.h"

namespace weft::discovery {

// POST /v1/nodes body: id, workload, namespace, service_account, service, labels, the inbound
// address and port (with the app port behind it), the admin address and the resource scope.
// `address` replaces a wildcard listener address (0.0.0.0, ::) in what is advertised.
std::string nodeJson(const mesh::Bootstrap& bootstrap, const std::string& address);

// The trust bundle a push carries (docs/security.md, "Trust bundle and root rotation"):
// "trust_bundle": {"roots": "<PEM>", "signing_root": "<sha256 of the signing root's DER, hex>"}.
struct TrustBundle {
  std::string roots_pem;     // every root the control plane trusts
  std::string signing_root;  // the root new certificates chain to; "" if not said
  size_t rootCount() const;
  bool operator==(const TrustBundle&) const = default;
};

// A 200 answer of GET /v1/nodes/{id}/config: {"version": N, "built_from": [...], "resources":
// "<yaml>", "trust_bundle"?: {...}}. Returns nullopt and the reason in `error` for anything
// else. The trust bundle, when present and `bundle` is given, goes there (a control plane
// without it leaves `bundle` empty; unknown fields are ignored).
std::optional<mesh::PushedConfig> parseConfigResponse(std::string_view body, std::string& error,
                                                      TrustBundle* bundle = nullptr);

// POST /v1/nodes/{id}/ack body: {"version": N} or {"version": N, "error": "..."}.
std::string ackJson(uint64_t version, const std::string& error);

// POST /v1/nodes/{id}/interest body (on-demand scope): {"hosts": [...]}.
std::string interestJson(const std::vector<std::string>& hosts);
// The names to ask for when a request's Host (without port) is unknown: the name itself and,
// for a short name, the service FQDN it stands for from `namespace_name`.
std::vector<std::string> interestHosts(std::string_view authority_host,
                                       const std::string& namespace_name);

// The path of the node's resources, with the id percent-encoded: /v1/nodes/<id>.
std::string nodePath(std::string_view node_id);

}  // namespace weft::discovery
