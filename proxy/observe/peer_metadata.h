// Peer metadata exchange: how the two sidecars of one call learn each other's workload, so that
// both report Istio's full label set (source_* on the server side, destination_workload and
// friends on the client side), as Istio's metadata exchange does.
//
// The client sidecar adds `x-weft-peer` to the request, the server sidecar adds it to the
// response; each side removes the other's header before the app sees it. Without mTLS the
// header is only as trustworthy as the network (as Istio's exchange over plain text is): it
// feeds metric labels, never a security decision, and values are validated and bounded.
#pragma once

#include <string>
#include <string_view>

#include "mesh/bootstrap.h"

namespace weft::observe {

inline constexpr std::string_view kPeerHeader = "x-weft-peer";

struct PeerMetadata {
  std::string workload;
  std::string namespace_name;
  std::string app;
  std::string version;
  std::string canonical_service;
  std::string canonical_revision;
  std::string cluster;
};

// "workload=reviews-v1;namespace=default;app=reviews;version=v1;canonical_service=reviews;
// canonical_revision=v1;cluster=Kubernetes" (empty values left out).
std::string encodePeerMetadata(const mesh::NodeIdentity& node);

// Strict: known keys only, each at most once, values of 1-63 characters from [A-Za-z0-9._-],
// and a workload present. Returns false (and leaves `out` unspecified) otherwise.
bool parsePeerMetadata(std::string_view header, PeerMetadata& out);

}  // namespace weft::observe
