// The scoped resource set: what one sidecar is sent. Built in two steps:
// 1. materialize(): once per store revision, the documents sidecars can use: ServiceEntries
//    with workloadSelector get the matching WorkloadEntries (applied or registered) as inline
//    endpoints, each registered service that no ServiceEntry covers gets a synthesized
//    ServiceEntry, and WorkloadEntry/Sidecar documents (read by the control plane only) drop
//    out.
// 2. scopeFor(): per scope key, the Sidecar egress scoping of the node's namespace/labels.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "registry/registry.h"
#include "store/document.h"

namespace weft::control {

struct MaterializedSet {
  std::vector<DocumentPtr> resources;  // sorted by key
  std::vector<DocumentPtr> sidecars;   // Sidecar documents
};

MaterializedSet materialize(const std::vector<DocumentPtr>& docs,
                            const std::map<std::string, NodeState>& nodes);

struct ScopedSet {
  std::string yaml;                     // multi-document YAML
  std::vector<std::string> built_from;  // "ServiceEntry default/reviews@7"
  std::vector<DocumentPtr> documents;   // the documents of `yaml`, in order
  uint64_t hash = 0;                    // of yaml
  std::string sidecar;                  // "ns/name" of the Sidecar applied, if any
};

// The Sidecar that applies to a node of (namespace, labels): one of its namespace whose selector
// matches, else its namespace's default, else the root namespace's; null if none.
const Document* selectSidecar(const MaterializedSet& set, const std::string& namespace_name,
                              const std::map<std::string, std::string>& labels);

// The resources a node of (namespace, labels) gets. With `interest` (scope: on_demand), only
// resources with a host covering one of those hosts (and those without hosts).
ScopedSet scopeFor(const MaterializedSet& set, const std::string& namespace_name,
                   const std::map<std::string, std::string>& labels,
                   const std::set<std::string>* interest = nullptr);
// The same with the Sidecar already selected (null: none). Nodes with the same namespace,
// Sidecar and interest get the same set.
ScopedSet scopeFor(const MaterializedSet& set, const std::string& namespace_name,
                   const Document* sidecar, const std::set<std::string>* interest);

// Istio's root namespace: a Sidecar without workloadSelector there is the mesh-wide default.
inline constexpr const char* kRootNamespace = "istio-system";

// FNV-1a 64.
uint64_t contentHash(std::string_view text);

// Sidecar egress host "<ns>/<host>" against a resource of namespace `ns` with host `host`, for
// a node in `node_ns`.
bool egressHostMatches(std::string_view egress, std::string_view node_ns, std::string_view ns,
                       std::string_view host);

}  // namespace weft::control
