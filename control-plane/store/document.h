// Document: one Istio-format resource as the store keeps it: its identity, its original YAML
// text (what is pushed to sidecars), where it came from, and the few fields the control plane
// reads itself (hosts, workload selectors, WorkloadEntry and Sidecar contents).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mesh/config_error.h"
#include "mesh/resources.h"

namespace weft::control {

// A WorkloadEntry's spec (or a registered node's), as read by the control plane.
struct WorkloadInfo {
  std::string address;
  std::map<std::string, uint16_t> ports;  // service port name -> endpoint port
  std::map<std::string, std::string> labels;
  std::string service_account;
  uint32_t weight = 1;
};

struct Document {
  std::string kind;  // e.g. "ServiceEntry"
  std::string namespace_name = "default";
  std::string name;
  std::string text;       // the document's YAML text, without the "---" separators
  std::string source;     // config-dir file name, "api", or "registry"
  int first_line = 0;     // 0-based line of the text's first line within its source
  uint64_t revision = 0;  // store revision that last created or changed it

  // Read by the control plane (loosely: the full checks are the validator's).
  std::vector<std::string> hosts;  // ServiceEntry hosts; VirtualService/DestinationRule hosts,
                                   // expanded
  std::optional<std::map<std::string, std::string>> selector;  // workloadSelector.labels
  std::optional<WorkloadInfo> workload;                        // WorkloadEntry
  std::vector<std::string> egress_hosts;                       // Sidecar egress[].hosts
  // ServiceEntry/VirtualService/DestinationRule spec.exportTo ("*", ".", "~" or namespaces).
  std::optional<std::vector<std::string>> export_to;

  // True if a node of `node_namespace` may see this document (exportTo; absent: everywhere).
  bool visibleFrom(const std::string& node_namespace) const;

  // The mesh library's reading of `text` (positions in `source`), made on first use and kept:
  // a change then parses only the documents it brings, never the whole set again.
  mutable std::shared_ptr<const mesh::ParseResult> parsed;

  std::string key() const { return kind + "/" + namespace_name + "/" + name; }
  // "ServiceEntry default/reviews"
  std::string displayName() const { return kind + " " + namespace_name + "/" + name; }
};

using DocumentPtr = std::shared_ptr<const Document>;

struct ReadResult {
  std::vector<Document> documents;
  mesh::ConfigErrors errors;  // file:line:col positions in `source`
};

// Reads the identity (kind, metadata.name, metadata.namespace) and the control plane's fields
// of each document of `text`. `identity_only` skips everything but kind and metadata (deletes).
ReadResult readDocuments(const std::string& text, const std::string& source,
                         bool identity_only = false);

// The document read by the mesh library (cached in doc.parsed).
const mesh::ParseResult& parsedResources(const Document& doc);

// The resources of `docs` read by the mesh library, as one set, with their errors and
// warnings. Documents the control plane reads itself (WorkloadEntry, Sidecar) are skipped.
mesh::ParseResult mergeParsed(const std::vector<DocumentPtr>& docs);

// True if every label of `selector` is in `labels` with the same value.
bool labelsMatch(const std::map<std::string, std::string>& selector,
                 const std::map<std::string, std::string>& labels);

}  // namespace weft::control
