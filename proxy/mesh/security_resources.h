// Parsing of the TLS-related Istio fields: DestinationRule trafficPolicy.tls (ClientTLSSettings)
// and the PeerAuthentication resource. Used by the resource parser (resources.cc); kept apart
// because they are the security half of the model and resources.cc is long enough.
#pragma once

#include <optional>

#include "mesh/resources.h"
#include "mesh/yaml_reader.h"

namespace weft::mesh {

// trafficPolicy.tls (or a portLevelSettings entry's tls). Errors are reported in `ctx`.
std::optional<ClientTlsPolicy> parseClientTls(YamlContext& ctx, const YAML::Node& node);

// A PeerAuthentication spec; nullopt (errors reported) when it cannot be used.
std::optional<PeerAuthentication> parsePeerAuthentication(YamlContext& ctx, ObjectMeta meta,
                                                          const YAML::Node& spec);

}  // namespace weft::mesh
