// Router: picks the route for a request from the compiled route table, then a destination.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/message.h"
#include "mesh/snapshot.h"

namespace weft::router {

// Splits an authority "host[:port]" (IPv6 literals in brackets) into host and port (0 when
// absent or not a number).
void splitAuthority(std::string_view authority, std::string_view& host, uint16_t& port);

// True if every field of `match` matches the request. Query parameters are read from the
// query string of head.path as sent (no percent-decoding); the first occurrence of a name
// counts, and `?a` or `?a=` gives a the value "".
bool matches(const mesh::RouteMatch& match, const http::RequestHead& head);

// The value of the first query parameter `name` in `path` ("/p?a=1&b"), if present.
std::optional<std::string_view> queryParam(std::string_view path, std::string_view name);

struct RouteResult {
  const mesh::VirtualHost* virtual_host = nullptr;  // null: no virtual host for the authority
  const mesh::Route* route = nullptr;               // null: no route matched (404 NR)
  const mesh::RouteMatch* matched = nullptr;        // the match entry that selected it
};

RouteResult findRoute(const mesh::RouteTable& table, const http::RequestHead& head);

// A destination of `route` chosen by weight with `random` (uniform 64-bit). nullptr if the
// route has no destination with a weight.
const mesh::RouteDestination* pickDestination(const mesh::Route& route, uint64_t random);

// Applies set/add/remove operations to `headers`.
void applyHeaderOperations(const mesh::HeaderOperations& ops, http::HeaderMap& headers);

// Applies rewrite.uri: for a prefix match the matched prefix is replaced, else the whole path
// (the query string is kept). Or rewrite.uriRegexRewrite: every non-overlapping match of the
// regex in the path before '?' (or '#') is replaced, as RE2::GlobalReplace; the query string is
// kept. A path left empty becomes "/".
void rewritePath(const mesh::Route& route, const mesh::RouteMatch* matched, std::string& path);

// The Location header of a redirect route, built as Envoy's RedirectAction (Http::Utility::newUri)
// with the fields Istio sets: scheme = redirect.scheme, else the request's scheme
// (X-Forwarded-Proto when it is http/https, else "http": sidecars receive plain HTTP);
// host = redirect.authority verbatim, else the request authority (head.authority) with its port
// removed when a redirect port is set, or when the scheme changes and the port is the old
// scheme's default (:80 for http, :443 for https); then ":<port>" when a port is set
// (explicit, or FROM_REQUEST_PORT already resolved by the compiler); path = redirect.uri
// replacing the whole path, the request's query string appended unless uri has its own `?`
// (Envoy's path_redirect; Istio never sets strip_query), else the request path with its query;
// a path not starting with '/' gets one. `matched` is accepted for symmetry with rewritePath;
// Istio's sidecar redirects do not depend on it.
std::string redirectLocation(const mesh::RedirectAction& redirect, const http::RequestHead& head,
                             const mesh::RouteMatch* matched);

}  // namespace weft::router
