// Router: route matching and destination choice (see router.h).
#include "router/router.h"

#include <charconv>

namespace weft::router {

namespace {

std::string_view pathWithoutQuery(std::string_view path) {
  size_t q = path.find_first_of("?#");
  return q == std::string_view::npos ? path : path.substr(0, q);
}

const mesh::RouteMatch* firstMatch(const mesh::Route& route, const http::RequestHead& head) {
  for (const auto& m : route.matches) {
    if (matches(m, head)) return &m;
  }
  return nullptr;
}

}  // namespace

void splitAuthority(std::string_view authority, std::string_view& host, uint16_t& port) {
  port = 0;
  host = authority;
  size_t colon;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return;
    host = authority.substr(0, close + 1);
    colon = authority.size() > close + 1 && authority[close + 1] == ':' ? close + 1
                                                                        : std::string_view::npos;
  } else {
    colon = authority.rfind(':');
    if (colon != std::string_view::npos) host = authority.substr(0, colon);
  }
  if (colon == std::string_view::npos) return;
  std::string_view digits = authority.substr(colon + 1);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec == std::errc() && ptr == digits.data() + digits.size() && value <= 65535) {
    port = static_cast<uint16_t>(value);
  }
}

bool matches(const mesh::RouteMatch& match, const http::RequestHead& head) {
  if (match.uri) {
    std::string_view path = pathWithoutQuery(head.path);
    if (!match.uri->matches(path)) return false;
  }
  if (match.method && !match.method->matches(head.method)) return false;
  for (const auto& hm : match.headers) {
    auto value = head.headers.get(hm.name);
    bool ok = value.has_value() && hm.match.matches(*value);
    if (ok == hm.invert) return false;
  }
  return true;
}

RouteResult findRoute(const mesh::RouteTable& table, const http::RequestHead& head) {
  RouteResult result;
  std::string_view host;
  uint16_t port;
  splitAuthority(head.authority, host, port);
  result.virtual_host = table.find(host, port);
  if (result.virtual_host == nullptr) return result;
  for (const auto& route : result.virtual_host->routes) {
    if (route.matches.empty()) {
      result.route = &route;
      break;
    }
    if (const mesh::RouteMatch* m = firstMatch(route, head)) {
      result.route = &route;
      result.matched = m;
      break;
    }
  }
  return result;
}

const mesh::RouteDestination* pickDestination(const mesh::Route& route, uint64_t random) {
  if (route.destinations.empty() || route.total_weight == 0) return nullptr;
  if (route.destinations.size() == 1) return &route.destinations[0];
  uint64_t ticket = random % route.total_weight;
  for (const auto& d : route.destinations) {
    if (ticket < d.weight) return &d;
    ticket -= d.weight;
  }
  return &route.destinations.back();
}

void applyHeaderOperations(const mesh::HeaderOperations& ops, http::HeaderMap& headers) {
  for (const auto& name : ops.remove) headers.remove(name);
  for (const auto& [name, value] : ops.set) headers.set(name, value);
  for (const auto& [name, value] : ops.add) headers.add(name, value);
}

void rewritePath(const mesh::Route& route, const mesh::RouteMatch* matched, std::string& path) {
  if (!route.rewrite_uri) return;
  const std::string& replacement = *route.rewrite_uri;
  size_t q = path.find('?');
  std::string query = q == std::string::npos ? std::string() : path.substr(q);
  std::string base = q == std::string::npos ? path : path.substr(0, q);
  if (matched && matched->uri && matched->uri->kind == mesh::StringMatch::Kind::kPrefix &&
      base.size() >= matched->uri->value.size()) {
    base = replacement + base.substr(matched->uri->value.size());
  } else {
    base = replacement;
  }
  if (base.empty()) base = "/";
  path = base + query;
}

}  // namespace weft::router
