// Runtime: one published configuration as the workers see it: the compiled snapshot plus the
// per-snapshot observer handles built for it on the main thread.
#pragma once

#include <memory>
#include <string>

#include "mesh/snapshot.h"
#include "observe/metrics.h"
#include "tls/context.h"
#include "upstream/load_balancer.h"
#include "upstream/upstream_tls.h"

namespace weft::server {

struct Runtime {
  mesh::SnapshotPtr snapshot;
  std::shared_ptr<const observe::SnapshotStats> stats;
  std::shared_ptr<upstream::EndpointCountersTable> endpoint_counters;
  std::string peer_header;  // this sidecar's x-weft-peer value (observe/peer_metadata.h)
  // Mutual TLS with the sidecar's workload identity (identity/): the inbound listener's server
  // context and the client context of ISTIO_MUTUAL / automatic mTLS. Null until the sidecar
  // has a certificate: until then it sends plain text and accepts plain text only.
  tls::TlsContextPtr mesh_server_tls;
  tls::TlsContextPtr mesh_client_tls;
  std::string trust_domain;  // of the identity: the peers' SPIFFE IDs are made with it
  // The inbound port's PeerAuthentication mode (snapshot->inbound_mtls, unless forced).
  mesh::PeerMtlsMode inbound_mode = mesh::PeerMtlsMode::kPermissive;
  // DestinationRule tls SIMPLE / MUTUAL, by outbound cluster index (null for other clusters).
  // An entry whose context could not be built has a null context: its connections fail (UF).
  std::vector<upstream::UpstreamTlsPtr> origination;
};

using RuntimePtr = std::shared_ptr<const Runtime>;

}  // namespace weft::server
