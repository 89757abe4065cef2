// The compiler: the typed resource model + one node's bootstrap -> that node's Snapshot.
//
// Choices where Istio is silent or where Weft differs (docs/configuration.md has the list):
// - A route to an unknown host, an unknown port of a known host, or a subset no visible
//   DestinationRule defines compiles to a cluster without endpoints (a warning; requests get
//   503 UH where Istio answers 503 NC).
// - Two VirtualServices for one host is an error (Istio's analyzer IST0109).
// - Two DestinationRules for one host in one namespace is an error (Istio would merge them).
// - Two ServiceEntries declaring one host is an error.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/resources.h"
#include "mesh/snapshot.h"

namespace weft::mesh {

// Compiles `resources` for the node of `bootstrap`; errors and warnings go to `errors`. Always
// returns a snapshot (possibly partial when errors were added).
std::shared_ptr<Snapshot> compileSnapshot(const Bootstrap& bootstrap, const Resources& resources,
                                          ConfigErrors& errors);

// Parse + compile from file contents (tests, fuzzing, the control plane). version_info is
// "static-<hash of bootstrap_text and files>".
LoadResult buildSnapshot(const Bootstrap& bootstrap, const std::vector<ResourceFile>& files,
                         uint64_t version, std::string_view bootstrap_text = {});

// "outbound|<port>|<subset>|<host>".
std::string outboundClusterName(uint16_t port, std::string_view subset, std::string_view host);

// The domains a service host answers to for a client in `client_namespace` (Istio's
// generateVirtualHostDomains without VIPs): n.ns.svc.cluster.local -> itself, n.ns.svc, n.ns
// and, when client_namespace == ns, n. Other hosts: only themselves.
std::vector<std::string> serviceDomains(std::string_view host, std::string_view client_namespace);

// Reads the file at `path` whole into `out`; false if it cannot be opened.
bool readWholeFile(const std::string& path, std::string& out);

}  // namespace weft::mesh
