// `weft-proxy wait-ready`: for start-up scripts that start the application only once its
// sidecar serves. Polls the sidecar's admin GET /ready every ~100 ms until it answers 200 or
// the timeout passes.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

#include "mesh/bootstrap.h"

namespace weft::discovery {

// --admin: "ip:port", "[ipv6]:port" or "localhost:port". A wildcard address (what a bootstrap
// may listen on) becomes the loopback address of its family. nullopt (and `why`) otherwise.
std::optional<mesh::SocketAddress> parseAdminTarget(std::string_view text, std::string& why);
// Where to reach an admin listener bound to `listen` (wildcards -> loopback).
mesh::SocketAddress adminTarget(const mesh::SocketAddress& listen);
// --timeout: a duration as in the bootstrap ("500ms", "30s", "1m", "1m30s"), more than zero.
std::optional<uint64_t> parseWaitTimeout(std::string_view text);

struct WaitReadyOptions {
  mesh::SocketAddress admin;
  uint64_t timeout_ms = 30'000;
  uint32_t interval_ms = 100;
};

// 0 once GET /ready answers 200; 1 after the timeout, with what was last seen on `err`.
int waitReady(const WaitReadyOptions& options, std::ostream& err);

}  // namespace weft::discovery
