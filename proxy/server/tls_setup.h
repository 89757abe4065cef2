// The TLS contexts a runtime carries (server/runtime.h), made on the main thread:
// - mutual TLS with the sidecar's workload identity (a server and a client context), rebuilt
//   on every new identity (renewal, new trust bundle);
// - TLS origination contexts for DestinationRule tls SIMPLE / MUTUAL, rebuilt with each
//   configuration.
#pragma once

#include <string>
#include <vector>

#include "identity/identity.h"
#include "mesh/snapshot.h"
#include "tls/context.h"
#include "upstream/upstream_tls.h"

namespace weft::server {

// The bootstrap's tls options as context settings.
tls::TlsSettings tlsSettings(const mesh::TlsOptions& options);

struct MeshTls {
  tls::TlsContextPtr server;
  tls::TlsContextPtr client;
};

// Contexts for `id`. `previous` (may be empty): the contexts in force; when the trust bundle is
// the same, the new server context takes over its ticket keys so that sessions resume across a
// certificate renewal. False with the reason in
// *error (the previous contexts stay in force).
bool makeMeshTls(const identity::WorkloadIdentity& id, const tls::TlsSettings& settings,
                 const MeshTls& previous, const std::string& previous_roots, MeshTls& out,
                 std::string* error);

// One entry per outbound cluster of `snapshot`: the origination settings of clusters whose
// DestinationRule says SIMPLE or MUTUAL, null for the others. A context that cannot be built
// (a missing file) is logged and left null in its entry, so that its connections fail (UF)
// rather than go out in plain text.
std::vector<upstream::UpstreamTlsPtr> makeOrigination(const mesh::Snapshot& snapshot,
                                                      const tls::TlsSettings& settings);

}  // namespace weft::server
