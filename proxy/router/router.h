// Router: picks the route for a request from the compiled route table, then a destination.
#pragma once

#include <cstdint>
#include <string_view>

#include "http/message.h"
#include "mesh/snapshot.h"

namespace weft::router {

// Splits an authority "host[:port]" (IPv6 literals in brackets) into host and port (0 when
// absent or not a number).
void splitAuthority(std::string_view authority, std::string_view& host, uint16_t& port);

// True if every field of `match` matches the request.
bool matches(const mesh::RouteMatch& match, const http::RequestHead& head);

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
// (the query string is kept).
void rewritePath(const mesh::Route& route, const mesh::RouteMatch* matched, std::string& path);

}  // namespace weft::router
