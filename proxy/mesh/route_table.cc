// RouteTable lookup: Host/authority (without port) -> the virtual host of one service port;
// and the numbering of header names a virtual host's routes match on.
#include <algorithm>
#include <bit>
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

namespace {

// The bounds a path's packed prefix must lie in for `m` to match it.
void pathBounds(const StringMatch& m, uint64_t& low, uint64_t& high) {
  if (m.ignore_case) return;
  switch (m.kind) {
    case StringMatch::Kind::kExact:
      low = high = packPrefix8(m.value);
      return;
    case StringMatch::Kind::kPrefix: {
      // The path starts with the prefix: its first min(8, size) bytes are fixed.
      low = packPrefix8(m.value);
      const size_t fixed = std::min<size_t>(m.value.size(), 8);
      high = low | (fixed == 8 ? 0 : (~uint64_t{0} >> (8 * fixed)));
      return;
    }
    case StringMatch::Kind::kRegex:
      if (m.regex_bounded) {
        low = packPrefix8(m.regex_min);
        high = packPrefix8(m.regex_max);
      }
      return;
    case StringMatch::Kind::kPresent:
      return;
  }
}

uint64_t methodKey(const StringMatch& m) {
  if (m.kind != StringMatch::Kind::kExact || m.ignore_case || m.value.empty() ||
      m.value.size() > 8) {
    return 0;
  }
  return packPrefix8(m.value);
}

}  // namespace

void VirtualHost::index() {
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
  header_names.assign(names.begin(), names.end());
  filters.clear();
  for (uint32_t r = 0; r < routes.size(); ++r) {
    if (routes[r].matches.empty()) {
      filters.push_back(MatchFilter{.route = r});
      continue;
    }
    for (uint32_t i = 0; i < routes[r].matches.size(); ++i) {
      const RouteMatch& m = routes[r].matches[i];
      MatchFilter f{.route = r, .match = i};
      for (const HeaderMatch& h : m.headers) {
        if (!h.invert && h.slot != HeaderMatch::kNoSlot) f.required_headers |= 1u << h.slot;
      }
      // Every queryParams entry needs its parameter present (an empty value counts).
      f.needs_query = !m.query_params.empty();
      if (m.method) f.method = methodKey(*m.method);
      if (m.uri) pathBounds(*m.uri, f.path_low, f.path_high);
      filters.push_back(f);
    }
  }
  slots_by_length.fill(0);
  for (size_t s = 0; s < header_names.size(); ++s) {
    slots_by_length[std::min<size_t>(header_names[s].size(), 63)] |= uint32_t{1} << s;
  }
  indexed_words = std::min((filters.size() + 63) / 64, kIndexedWords);
  needs_query_bits.assign(indexed_words, 0);
  needs_header_bits.assign(header_names.size() * indexed_words, 0);
  for (size_t i = 0; i < std::min(filters.size(), indexed_words * 64); ++i) {
    const uint64_t bit = uint64_t{1} << (i % 64);
    const size_t word = i / 64;
    if (filters[i].needs_query) needs_query_bits[word] |= bit;
    for (uint32_t req = filters[i].required_headers; req != 0; req &= req - 1) {
      needs_header_bits[std::countr_zero(req) * indexed_words + word] |= bit;
    }
  }
}

}  // namespace weft::mesh
