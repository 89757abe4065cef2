// Runtime: one published configuration as the workers see it: the compiled snapshot plus the
// per-snapshot observer handles built for it on the main thread.
#pragma once

#include <memory>
#include <string>

#include "mesh/snapshot.h"
#include "observe/metrics.h"
#include "upstream/load_balancer.h"

namespace weft::tls {
class TlsContext;
}

namespace weft::server {

struct Runtime {
  mesh::SnapshotPtr snapshot;
  std::shared_ptr<const observe::SnapshotStats> stats;
  std::shared_ptr<upstream::EndpointCountersTable> endpoint_counters;
  std::string peer_header;  // this sidecar's x-weft-peer value (observe/peer_metadata.h)
  // Set: every connection accepted on the inbound listener speaks mutual TLS with this server
  // context (a client without a certificate from the mesh roots is refused). This is where
  // PeerAuthentication's mode will be decided per port; today it is one process-wide switch.
  std::shared_ptr<tls::TlsContext> inbound_tls;
};

using RuntimePtr = std::shared_ptr<const Runtime>;

}  // namespace weft::server
