// RouteTable lookup: Host/authority (without port) -> the virtual host of one service port;
// and the numbering of header names a virtual host's routes match on.
#include <algorithm>
#include <cctype>

#include "mesh/snapshot.h"

namespace weft::mesh {

namespace {

const VirtualHost* pickPort(const RouteTable& table, const std::vector<uint32_t>& ids,
                            uint16_t port) {
  if (ids.empty()) return nullptr;
  if (port != 0) {
    for (uint32_t id : ids) {
      if (id < table.virtual_hosts.size() && table.virtual_hosts[id].port == port) {
        return &table.virtual_hosts[id];
      }
    }
  }
  uint32_t first = ids.front();
  return first < table.virtual_hosts.size() ? &table.virtual_hosts[first] : nullptr;
}

}  // namespace

const VirtualHost* RouteTable::find(std::string_view host, uint16_t port) const {
  std::string key(host);
  for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!key.empty() && key.back() == '.') key.pop_back();  // absolute form "reviews.default."
  if (key.empty()) return nullptr;
  auto it = domains.find(key);
  if (it != domains.end()) return pickPort(*this, it->second, port);
  for (const auto& [suffix, ids] : wildcard_domains) {
    if (key.size() > suffix.size() &&
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return pickPort(*this, ids, port);
    }
  }
  return nullptr;
}

void VirtualHost::assignHeaderSlots() {
  std::vector<std::string_view> names;
  for (Route& route : routes) {
    for (RouteMatch& m : route.matches) {
      for (HeaderMatch& h : m.headers) {
        auto it = std::find(names.begin(), names.end(), h.name);
        if (it == names.end()) {
          if (names.size() == kMaxHeaderSlots) continue;  // looked up each time instead
          it = names.insert(names.end(), h.name);
        }
        h.slot = static_cast<uint8_t>(it - names.begin());
      }
    }
  }
}

}  // namespace weft::mesh
