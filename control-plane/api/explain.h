// Explain: how a node's sidecar would route one request, from the snapshot the control plane
// compiled for the node's group: the virtual host, the route (with the position of its rule in
// the source the VirtualService came from), the action, and each destination's cluster,
// endpoints and policies.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "http/message.h"
#include "mesh/snapshot.h"
#include "store/store.h"

namespace weft::control {

// A request head for `url` ("http://host[:port]/path?q", "host[:port]/path" or "/path" with a
// Host among `headers`), `method` and "name:value" headers. nullopt with `error` when invalid.
std::optional<http::RequestHead> explainRequestHead(const std::string& url,
                                                    const std::string& method,
                                                    const std::vector<std::string>& headers,
                                                    std::string& error);

nlohmann::json explainRoute(const mesh::Snapshot& snapshot, const http::RequestHead& head,
                            const Store& store);

}  // namespace weft::control
