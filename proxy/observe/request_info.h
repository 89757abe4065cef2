// RequestInfo: what one finished request looked like, recorded once by the connection manager
// and read by the observers (metrics, access log). Views point into the request's own state
// and are valid only during the observer call.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace weft::observe {

// Envoy's response flags (%RESPONSE_FLAGS%), as a bit set.
enum ResponseFlag : uint32_t {
  kNoHealthyUpstream = 1u << 0,                 // UH
  kUpstreamConnectionFailure = 1u << 1,         // UF
  kUpstreamOverflow = 1u << 2,                  // UO
  kNoRoute = 1u << 3,                           // NR
  kUpstreamRetryLimitExceeded = 1u << 4,        // URX
  kNoClusterFound = 1u << 5,                    // NC
  kUpstreamRequestTimeout = 1u << 6,            // UT
  kLocalReset = 1u << 7,                        // LR
  kUpstreamRemoteReset = 1u << 8,               // UR
  kUpstreamConnectionTermination = 1u << 9,     // UC
  kDownstreamConnectionTermination = 1u << 10,  // DC
  kDelayInjected = 1u << 11,                    // DI
  kFaultInjected = 1u << 12,                    // FI
  kRateLimited = 1u << 13,                      // RL
  kDownstreamProtocolError = 1u << 14,          // DPE
  kUpstreamProtocolError = 1u << 15,            // UPE
  kStreamIdleTimeout = 1u << 16,                // SI
  kInvalidHeader = 1u << 17,                    // IH
  kRbacAccessDenied = 1u << 18,                 // RBAC: denied by an AuthorizationPolicy
};

// "UF,URX" in Envoy's order, "-" for none.
std::string formatResponseFlags(uint32_t flags);

enum class Direction : uint8_t {
  kOutbound,  // the local app's call out: reporter="source"
  kInbound,   // mesh traffic to the local app: reporter="destination"
};

struct RequestInfo {
  Direction direction = Direction::kOutbound;
  std::chrono::system_clock::time_point start_time;
  uint64_t duration_us = 0;    // first request byte to last response byte
  uint16_t response_code = 0;  // 0: no response was sent (client went away)
  uint32_t response_flags = 0;
  uint64_t request_bytes = 0;   // request body bytes received from downstream
  uint64_t response_bytes = 0;  // response body bytes sent downstream
  uint8_t version_minor = 1;
  std::string_view method;
  std::string_view authority;
  std::string_view path;
  std::string_view user_agent;
  std::string_view request_id;
  std::string_view traceparent;
  std::string_view route_name;
  std::string_view cluster_name;
  std::string_view upstream_host;      // "ip:port" of the endpoint used, empty if none
  std::string_view downstream_remote;  // "ip:port" of the client
  // The SPIFFE IDs mutual TLS proved: the client's (inbound), the server's (outbound).
  std::string_view downstream_peer_uri_san;
  std::string_view upstream_peer_uri_san;
  uint32_t attempts = 0;     // upstream attempts made
  std::string_view details;  // why it ended as it did, when that needs saying (no retry...)
};

}  // namespace weft::observe
