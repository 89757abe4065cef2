// Label values of Istio's standard metrics, derived the way Istio's stats filter does where
// Weft has the same information (its own identity, the cluster, the peer's exchanged
// metadata), and "unknown" (Istio's own placeholder) where it does not (no mTLS identity yet).
#include "observe/istio_labels.h"

#include <stdexcept>

namespace weft::observe {

const std::array<std::string_view, kLabelCount> kLabelNames = {
    "reporter",
    "source_workload",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "source_canonical_service",
    "source_canonical_revision",
    "source_cluster",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_service",
    "destination_service_name",
    "destination_service_namespace",
    "destination_canonical_service",
    "destination_canonical_revision",
    "destination_cluster",
    "request_protocol",
    "connection_security_policy",
    "grpc_response_status",
};

namespace {

constexpr std::string_view kUnknown = "unknown";
// Istio reports an unknown canonical revision as "latest", the revision it assumes for a
// workload without revision labels.
constexpr std::string_view kLatest = "latest";

std::string orUnknown(std::string v) {
  return v.empty() ? std::string(kUnknown) : v;
}

std::string labelOf(const mesh::Endpoint& ep, std::string_view name) {
  const auto it = ep.labels.find(std::string(name));
  return it == ep.labels.end() ? std::string() : it->second;
}

// The value every endpoint of the cluster agrees on (first non-empty label of `names`, in
// order, the same precedence NodeIdentity uses for the local workload), or `fallback` when
// endpoints disagree, lack it, or there are none: a series must not claim a version that only some
// of the requests went to.
std::string agreedLabel(const mesh::Cluster& cluster, std::initializer_list<std::string_view> names,
                        std::string_view fallback) {
  std::string agreed;
  for (const auto& ep : cluster.endpoints) {
    std::string v;
    for (auto name : names) {
      v = labelOf(ep, name);
      if (!v.empty()) break;
    }
    if (v.empty()) return std::string(fallback);
    if (agreed.empty()) {
      agreed = std::move(v);
    } else if (v != agreed) {
      return std::string(fallback);
    }
  }
  return agreed.empty() ? std::string(fallback) : agreed;
}

// source_* (outbound) or destination_* (inbound) from the sidecar's own identity.
void setLocal(DestinationLabels& l, const mesh::NodeIdentity& node, bool as_source) {
  const auto at = [&](LabelIndex source, LabelIndex destination) -> std::string& {
    return l[as_source ? source : destination];
  };
  at(kSourceWorkload, kDestinationWorkload) = orUnknown(node.workload);
  at(kSourceWorkloadNamespace, kDestinationWorkloadNamespace) = orUnknown(node.namespace_name);
  // The spiffe identity only becomes the principal once mTLS proves it to the peer.
  at(kSourcePrincipal, kDestinationPrincipal) = kUnknown;
  at(kSourceApp, kDestinationApp) = orUnknown(node.app());
  at(kSourceVersion, kDestinationVersion) = orUnknown(node.version());
  at(kSourceCanonicalService, kDestinationCanonicalService) = orUnknown(node.canonicalService());
  std::string revision = node.canonicalRevision();
  at(kSourceCanonicalRevision, kDestinationCanonicalRevision) =
      revision.empty() ? std::string(kLatest) : revision;
  at(kSourceCluster, kDestinationCluster) = orUnknown(node.cluster_id);
}

void setUnknownPeer(DestinationLabels& l, bool peer_is_source) {
  const LabelIndex first = peer_is_source ? kSourceWorkload : kDestinationWorkload;
  const LabelIndex last = peer_is_source ? kSourceCluster : kDestinationCluster;
  for (int i = first; i <= last; ++i) l.values[i] = kUnknown;
  l[peer_is_source ? kSourceCanonicalRevision : kDestinationCanonicalRevision] = kLatest;
}

DestinationLabels outboundBase(const mesh::NodeIdentity& node) {
  DestinationLabels l;
  l[kReporter] = "source";
  setLocal(l, node, /*as_source=*/true);
  setUnknownPeer(l, /*peer_is_source=*/false);
  l[kRequestProtocol] = "http";
  // A client cannot know the server's policy; Istio reports "unknown" from the source side.
  l[kConnectionSecurityPolicy] = kUnknown;
  // Istio's value for a request that is not gRPC.
  l[kGrpcResponseStatus] = "";
  return l;
}

}  // namespace

const std::string& DestinationLabels::get(std::string_view name) const {
  for (size_t i = 0; i < kLabelNames.size(); ++i) {
    if (kLabelNames[i] == name) return values[i];
  }
  throw std::out_of_range("no such label: " + std::string(name));
}

std::string DestinationLabels::key() const {
  std::string k;
  for (const auto& v : values) {
    k.append(v);
    k.push_back('\0');  // cannot occur in label values taken from config
  }
  return k;
}

DestinationLabels outboundLabels(const mesh::NodeIdentity& node, const mesh::Cluster& cluster) {
  DestinationLabels l = outboundBase(node);
  l[kDestinationService] = orUnknown(cluster.service_host);
  l[kDestinationServiceName] = orUnknown(cluster.service_name);
  l[kDestinationServiceNamespace] = orUnknown(cluster.service_namespace);
  l[kDestinationApp] = agreedLabel(cluster, {"app", "app.kubernetes.io/name"}, kUnknown);
  l[kDestinationVersion] = agreedLabel(cluster, {"version", "app.kubernetes.io/version"}, kUnknown);
  l[kDestinationCanonicalService] = agreedLabel(
      cluster, {"service.istio.io/canonical-name", "app.kubernetes.io/name", "app"}, kUnknown);
  l[kDestinationCanonicalRevision] = agreedLabel(
      cluster, {"service.istio.io/canonical-revision", "app.kubernetes.io/version", "version"},
      kLatest);
  return l;
}

DestinationLabels noRouteLabels(const mesh::NodeIdentity& node) {
  return outboundBase(node);
}

DestinationLabels inboundLabels(const mesh::NodeIdentity& node, const mesh::Cluster& app) {
  DestinationLabels l;
  l[kReporter] = "destination";
  setUnknownPeer(l, /*peer_is_source=*/true);
  setLocal(l, node, /*as_source=*/false);
  std::string service = app.service_host;
  if (service.empty() && !node.service.empty()) service = node.serviceFqdn();
  l[kDestinationService] = service.empty() ? l[kDestinationCanonicalService] : service;
  std::string name = !app.service_name.empty() ? app.service_name : node.service;
  l[kDestinationServiceName] = name.empty() ? l[kDestinationCanonicalService] : name;
  l[kDestinationServiceNamespace] = orUnknown(node.namespace_name);
  l[kRequestProtocol] = "http";
  // No mTLS on the inbound listener yet: the server knows the connection was plain text.
  l[kConnectionSecurityPolicy] = "none";
  l[kGrpcResponseStatus] = "";
  return l;
}

void applyPeer(DestinationLabels& l, const PeerMetadata& peer, bool peer_is_source) {
  // A field the peer leaves out keeps what was known without it (unknown, or the outbound
  // cluster's endpoint labels).
  const auto set = [&](LabelIndex source, LabelIndex destination, const std::string& v) {
    if (!v.empty()) l[peer_is_source ? source : destination] = v;
  };
  set(kSourceWorkload, kDestinationWorkload, peer.workload);
  set(kSourceWorkloadNamespace, kDestinationWorkloadNamespace, peer.namespace_name);
  set(kSourceApp, kDestinationApp, peer.app);
  set(kSourceVersion, kDestinationVersion, peer.version);
  set(kSourceCanonicalService, kDestinationCanonicalService, peer.canonical_service);
  set(kSourceCanonicalRevision, kDestinationCanonicalRevision, peer.canonical_revision);
  set(kSourceCluster, kDestinationCluster, peer.cluster);
}

void applyMutualTls(DestinationLabels& l, std::string_view peer_principal,
                    const std::string& own_principal, bool peer_is_source) {
  l[peer_is_source ? kSourcePrincipal : kDestinationPrincipal] = std::string(peer_principal);
  l[peer_is_source ? kDestinationPrincipal : kSourcePrincipal] = own_principal;
  // Istio reports the policy from the server side only; the client's stays "unknown".
  if (peer_is_source) l[kConnectionSecurityPolicy] = "mutual_tls";
}

}  // namespace weft::observe
