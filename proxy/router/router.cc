// Router: route matching and destination choice (see router.h).
#include "router/router.h"

#include <bit>
#include <charconv>

#include <re2/re2.h>

namespace weft::router {

namespace {

std::string_view pathWithoutQuery(std::string_view path) {
  size_t q = path.find_first_of("?#");
  return q == std::string_view::npos ? path : path.substr(0, q);
}

// What a route walk needs of the request, worked out once per request rather than per route:
// the path without its query, packed prefixes of the path and method, and each header the
// routes ask for, looked up at most once (by the virtual host's header slots).
class RequestView {
 public:
  RequestView(const http::RequestHead& head, const mesh::VirtualHost* vhost)
      : head_(head),
        vhost_(vhost),
        path_(pathWithoutQuery(head.path)),
        path8_(mesh::packPrefix8(path_)),
        method8_(mesh::packPrefix8(head.method)),
        has_query_(head.path.find('?') != std::string_view::npos) {
    if (vhost_ != nullptr && !vhost_->header_names.empty()) findPresentSlots();
  }
  const http::RequestHead& head() const { return head_; }
  bool hasQuery() const { return has_query_; }
  uint32_t presentSlots() const { return present_; }
  std::string_view path() const { return path_; }

  std::optional<std::string_view> header(const mesh::HeaderMatch& h) {
    if (vhost_ == nullptr || h.slot >= vhost_->header_names.size()) {
      return head_.headers.get(h.name);
    }
    return slot(h.slot);
  }

  // The filter's cheap tests (see mesh::VirtualHost::MatchFilter).
  bool mayMatch(const mesh::VirtualHost::MatchFilter& f) {
    if (f.method != 0 && f.method != method8_) return false;
    if (f.needs_query && !has_query_) return false;
    if (path8_ < f.path_low || path8_ > f.path_high) return false;
    return (f.required_headers & ~present_) == 0;
  }

 private:
  // One pass over the request's headers marks which of the routes' header names are present;
  // values are looked up later, only for entries that get that far.
  void findPresentSlots() {
    for (size_t i = 0; i < head_.headers.size(); ++i) {
      std::string_view name = head_.headers.name(i);
      for (uint32_t m = vhost_->slots_by_length[std::min<size_t>(name.size(), 63)]; m != 0;
           m &= m - 1) {
        const int s = std::countr_zero(m);
        if (http::equalsIgnoreCase(name, vhost_->header_names[s])) present_ |= uint32_t{1} << s;
      }
    }
  }

  std::optional<std::string_view> slot(uint8_t s) {
    const uint32_t bit = uint32_t{1} << s;
    if ((looked_up_ & bit) == 0) {
      looked_up_ |= bit;
      if ((present_ & bit) != 0) values_[s] = head_.headers.get(vhost_->header_names[s]);
    }
    return values_[s];
  }

  static_assert(mesh::VirtualHost::kMaxHeaderSlots <= 32, "one bit per slot");
  const http::RequestHead& head_;
  const mesh::VirtualHost* vhost_;
  std::string_view path_;
  uint64_t path8_;
  uint64_t method8_;
  bool has_query_;
  uint32_t looked_up_ = 0;
  uint32_t present_ = 0;
  std::optional<std::string_view> values_[mesh::VirtualHost::kMaxHeaderSlots];
};

// The cheapest tests first: method, then the path, then headers and query parameters.
bool matchesView(const mesh::RouteMatch& match, RequestView& req) {
  if (match.method && !match.method->matches(req.head().method)) return false;
  if (match.uri && !match.uri->matches(req.path())) return false;
  for (const auto& hm : match.headers) {
    auto value = req.header(hm);
    bool ok = value.has_value() && hm.match.matches(*value);
    if (ok == hm.invert) return false;
  }
  for (const auto& qp : match.query_params) {
    auto value = queryParam(req.head().path, qp.name);
    if (!value || !qp.match.matches(*value)) return false;
  }
  return true;
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
  RequestView req(head, nullptr);
  return matchesView(match, req);
}

std::optional<std::string_view> queryParam(std::string_view path, std::string_view name) {
  size_t q = path.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view query = path.substr(q + 1);
  size_t hash = query.find('#');
  if (hash != std::string_view::npos) query = query.substr(0, hash);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    if (key.empty() || key != name) continue;
    return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
  }
  return std::nullopt;
}

RouteResult findRoute(const mesh::RouteTable& table, const http::RequestHead& head) {
  RouteResult result;
  std::string_view host;
  uint16_t port;
  splitAuthority(head.authority, host, port);
  result.virtual_host = table.find(host, port);
  if (result.virtual_host == nullptr) return result;
  const mesh::VirtualHost& vh = *result.virtual_host;
  RequestView req(head, &vh);
  // The filters list every match entry in route order (mesh::VirtualHost::index()).
  auto matchesEntry = [&](size_t i) {
    const mesh::VirtualHost::MatchFilter& f = vh.filters[i];
    if (!req.mayMatch(f)) return false;
    const mesh::Route& route = vh.routes[f.route];
    if (f.match == mesh::VirtualHost::MatchFilter::kAnyRequest) {
      result.route = &route;
      return true;
    }
    const mesh::RouteMatch& m = route.matches[f.match];
    if (!matchesView(m, req)) return false;
    result.route = &route;
    result.matched = &m;
    return true;
  };
  // Candidates: entries whose required headers and query string the request has.
  const size_t words = vh.indexed_words;
  uint64_t candidates[mesh::VirtualHost::kIndexedWords];
  for (size_t w = 0; w < words; ++w) candidates[w] = ~uint64_t{0};
  if (!req.hasQuery()) {
    for (size_t w = 0; w < words; ++w) candidates[w] &= ~vh.needs_query_bits[w];
  }
  const uint32_t all_slots = static_cast<uint32_t>((uint64_t{1} << vh.header_names.size()) - 1);
  for (uint32_t absent = all_slots & ~req.presentSlots(); absent != 0; absent &= absent - 1) {
    const uint64_t* needs = &vh.needs_header_bits[std::countr_zero(absent) * words];
    for (size_t w = 0; w < words; ++w) candidates[w] &= ~needs[w];
  }
  for (size_t w = 0; w < words; ++w) {
    for (uint64_t bits = candidates[w]; bits != 0; bits &= bits - 1) {
      const size_t i = w * 64 + static_cast<size_t>(std::countr_zero(bits));
      if (i < vh.filters.size() && matchesEntry(i)) return result;
    }
  }
  for (size_t i = words * 64; i < vh.filters.size(); ++i) {
    if (matchesEntry(i)) return result;
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
  if (route.rewrite_uri_regex) {
    // Envoy's regex_rewrite: the path without query and fragment, every match replaced.
    size_t path_end = pathWithoutQuery(path).size();
    std::string base = path.substr(0, path_end);
    re2::RE2::GlobalReplace(&base, *route.rewrite_uri_regex->regex,
                            route.rewrite_uri_regex->rewrite);
    if (base.empty()) base = "/";
    path.replace(0, path_end, base);
    return;
  }
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

std::string redirectLocation(const mesh::RedirectAction& redirect, const http::RequestHead& head,
                             const mesh::RouteMatch* /*matched*/) {
  std::string_view request_scheme = "http";
  if (auto xfp = head.headers.get("x-forwarded-proto")) {
    if (http::equalsIgnoreCase(*xfp, "https")) {
      request_scheme = "https";
    }
  }
  std::string_view scheme = redirect.scheme.empty() ? request_scheme : redirect.scheme;
  std::string port = redirect.port != 0 ? ":" + std::to_string(redirect.port) : std::string();

  std::string_view host;
  if (!redirect.authority.empty()) {
    host = redirect.authority;
  } else {
    // Envoy's processRequestHost.
    host = head.authority;
    size_t host_end = std::string_view::npos;
    if (!host.empty() && host.front() == '[') {
      host_end = host.rfind("]:");
      if (host_end != std::string_view::npos) host_end += 1;
    } else {
      host_end = host.rfind(':');
    }
    if (host_end != std::string_view::npos) {
      std::string_view request_port = host.substr(host_end);
      bool remove_port = !port.empty();
      if (scheme != request_scheme) {
        remove_port |= request_scheme == "https" && request_port == ":443";
        remove_port |= request_scheme == "http" && request_port == ":80";
      }
      if (remove_port) host = host.substr(0, host_end);
    }
  }

  std::string path;
  std::string_view request_path = head.path.empty() ? std::string_view("/") : head.path;
  if (!redirect.uri.empty()) {
    path = redirect.uri;
    size_t q = request_path.find('?');
    if (redirect.uri.find('?') == std::string::npos && q != std::string_view::npos) {
      path.append(request_path.substr(q));
    }
  } else {
    path = request_path;
  }
  if (path.empty() || path.front() != '/') path.insert(path.begin(), '/');

  std::string out;
  out.reserve(scheme.size() + 3 + host.size() + port.size() + path.size());
  out.append(scheme).append("://").append(host).append(port).append(path);
  return out;
}

}  // namespace weft::router
