// The fixed label values of Istio's standard metrics for one destination of this sidecar:
// what is known when a snapshot is bound (node identity, cluster, endpoints). The per-request
// labels (response_code, response_flags) are added at scrape time.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "mesh/snapshot.h"
#include "observe/peer_metadata.h"

namespace weft::observe {

enum LabelIndex : uint8_t {
  kReporter,
  kSourceWorkload,
  kSourceWorkloadNamespace,
  kSourcePrincipal,
  kSourceApp,
  kSourceVersion,
  kSourceCanonicalService,
  kSourceCanonicalRevision,
  kSourceCluster,
  kDestinationWorkload,
  kDestinationWorkloadNamespace,
  kDestinationPrincipal,
  kDestinationApp,
  kDestinationVersion,
  kDestinationService,
  kDestinationServiceName,
  kDestinationServiceNamespace,
  kDestinationCanonicalService,
  kDestinationCanonicalRevision,
  kDestinationCluster,
  kRequestProtocol,
  kConnectionSecurityPolicy,
  kGrpcResponseStatus,
  kLabelCount,
};

// Prometheus label names, indexed by LabelIndex.
extern const std::array<std::string_view, kLabelCount> kLabelNames;

struct DestinationLabels {
  std::array<std::string, kLabelCount> values;

  const std::string& operator[](LabelIndex i) const { return values[i]; }
  std::string& operator[](LabelIndex i) { return values[i]; }
  // The value of the label called `name`; throws std::out_of_range for an unknown name.
  const std::string& get(std::string_view name) const;
  // One string identifying the whole label set (series with equal keys share storage).
  std::string key() const;
};

// reporter="source": the local app calling `cluster`.
DestinationLabels outboundLabels(const mesh::NodeIdentity& node, const mesh::Cluster& cluster);
// reporter="source" for a request that matched no route (404 NR): destination unknown.
DestinationLabels noRouteLabels(const mesh::NodeIdentity& node);
// reporter="destination": mesh traffic to the local app (`app` is Snapshot::inbound_app).
DestinationLabels inboundLabels(const mesh::NodeIdentity& node, const mesh::Cluster& app);
// The peer's workload labels from its exchanged metadata: source_* when `peer_is_source`
// (inbound), destination_* otherwise (outbound). The principal stays unknown without mTLS.
void applyPeer(DestinationLabels& labels, const PeerMetadata& peer, bool peer_is_source);
// Mutual TLS proved the peer's identity: source_principal and destination_principal (the
// peer's and ours), and inbound connection_security_policy="mutual_tls".
void applyMutualTls(DestinationLabels& labels, std::string_view peer_principal,
                    const std::string& own_principal, bool peer_is_source);

}  // namespace weft::observe
