// Runtime: one published configuration as the workers see it: the compiled snapshot plus the
// per-snapshot observer handles built for it on the main thread.
#pragma once

#include <memory>
#include <string>

#include "mesh/snapshot.h"
#include "observe/metrics.h"
#include "upstream/load_balancer.h"

namespace weft::server {

struct Runtime {
  mesh::SnapshotPtr snapshot;
  std::shared_ptr<const observe::SnapshotStats> stats;
  std::shared_ptr<upstream::EndpointCountersTable> endpoint_counters;
  std::string peer_header;  // this sidecar's x-weft-peer value (observe/peer_metadata.h)
};

using RuntimePtr = std::shared_ptr<const Runtime>;

}  // namespace weft::server
