// UpstreamTls: how the connections of one pool speak to their endpoint: plain text (no
// UpstreamTls), mutual TLS with the sidecar's mesh certificate (ISTIO_MUTUAL, automatic mTLS),
// or TLS origination to a server outside the mesh (DestinationRule SIMPLE / MUTUAL).
//
// Made by the worker when it builds a cluster's state for a runtime, and shared by the pool
// and every connection it opens from then on (a connection keeps the settings it started with,
// so a renewed certificate or a new trust bundle applies to new connections only).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tls/context.h"

namespace weft::upstream {

struct UpstreamTls {
  tls::TlsContextPtr context;  // client context (never null)
  bool mesh = false;           // ISTIO_MUTUAL: the peer is a sidecar proven by its SPIFFE ID
  // Secure naming: the SPIFFE IDs the server may present (mesh only; empty: any the roots
  // verify).
  std::vector<std::string> peer_identities;
  std::string sni;                        // SIMPLE / MUTUAL (empty: none)
  std::vector<std::string> verify_names;  // SIMPLE / MUTUAL: DNS names accepted
  // Tells pools apart: "mtls|<expected peer identity>" or "tls|<cluster name>".
  std::string pool_tag;
};

using UpstreamTlsPtr = std::shared_ptr<const UpstreamTls>;

// Where a failed upstream handshake is reported (one clear log line per failure). Set once at
// start by the server; null: not reported.
using TlsFailureLogger = void (*)(std::string_view endpoint, std::string_view reason);
void setTlsFailureLogger(TlsFailureLogger logger);
void logTlsFailure(std::string_view endpoint, std::string_view reason);

}  // namespace weft::upstream
