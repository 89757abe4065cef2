// Peer metadata exchange header (see peer_metadata.h).
#include "observe/peer_metadata.h"

#include <array>
#include <utility>

namespace weft::observe {

namespace {

constexpr size_t kMaxValue = 63;

bool validValue(std::string_view v) {
  if (v.empty() || v.size() > kMaxValue) return false;
  for (char c : v) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// The fields in header order, with their keys.
std::array<std::pair<std::string_view, std::string PeerMetadata::*>, 7> fields() {
  return {{{"workload", &PeerMetadata::workload},
           {"namespace", &PeerMetadata::namespace_name},
           {"app", &PeerMetadata::app},
           {"version", &PeerMetadata::version},
           {"canonical_service", &PeerMetadata::canonical_service},
           {"canonical_revision", &PeerMetadata::canonical_revision},
           {"cluster", &PeerMetadata::cluster}}};
}

}  // namespace

std::string encodePeerMetadata(const mesh::NodeIdentity& node) {
  PeerMetadata m{node.workload,           node.namespace_name,      node.app(),     node.version(),
                 node.canonicalService(), node.canonicalRevision(), node.cluster_id};
  std::string out;
  for (const auto& [key, member] : fields()) {
    const std::string& v = m.*member;
    if (!validValue(v)) continue;
    if (!out.empty()) out += ';';
    out.append(key);
    out += '=';
    out += v;
  }
  return out;
}

bool parsePeerMetadata(std::string_view header, PeerMetadata& out) {
  out = PeerMetadata{};
  unsigned seen = 0;
  const auto table = fields();
  while (!header.empty()) {
    size_t end = header.find(';');
    std::string_view item = header.substr(0, end);
    if (end != std::string_view::npos && end + 1 == header.size()) return false;  // "x=y;"
    header = end == std::string_view::npos ? std::string_view() : header.substr(end + 1);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) return false;
    std::string_view key = item.substr(0, eq);
    std::string_view value = item.substr(eq + 1);
    if (!validValue(value)) return false;
    bool known = false;
    for (size_t i = 0; i < table.size(); ++i) {
      if (table[i].first != key) continue;
      if (seen & (1u << i)) return false;  // a key given twice
      seen |= 1u << i;
      out.*(table[i].second) = std::string(value);
      known = true;
      break;
    }
    if (!known) return false;
  }
  return !out.workload.empty();
}

}  // namespace weft::observe
