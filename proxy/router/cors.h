// CORS: Envoy's CORS filter as Istio configures it from a VirtualService corsPolicy. Pure
// functions; the connection manager decides what to do with the result.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "http/message.h"
#include "mesh/snapshot.h"

namespace weft::router::cors {

// OPTIONS with a non-empty Origin and a non-empty Access-Control-Request-Method.
bool isPreflight(const http::RequestHead& head);

// True if one of the policy's allowOrigins matches `origin`, or matches the literal "*" (Envoy:
// `exact: "*"` or `regex: ".*"` allow every origin).
bool originAllowed(const mesh::CorsPolicy& policy, std::string_view origin);

struct CorsDecision {
  // The request has a non-empty Origin header: the filter takes part. When false, nothing else
  // is set and the request goes on as if there were no corsPolicy.
  bool cors_request = false;
  bool origin_allowed = false;
  bool preflight = false;  // isPreflight(head)
  // Answer locally instead of routing: status 200, no body, `headers` as the only CORS headers
  // (response code details "cors_response"). Set for every preflight except one whose origin
  // is not allowed under unmatchedPreflights FORWARD (that one is routed as usual).
  bool respond_locally = false;
  // respond_locally: the headers of the local 200 answer. Otherwise: headers to set (replacing
  // any upstream value) on the response to this request; empty when the origin is not allowed.
  std::vector<std::pair<std::string, std::string>> headers;
};

// What Envoy's CORS filter does for `head` under `policy`:
// - preflight, origin allowed: local 200 with Access-Control-Allow-Origin (the request's
//   Origin), -Allow-Credentials: true (if allowCredentials), -Allow-Methods (allowMethods
//   joined with ","), -Allow-Headers (allowHeaders joined with ","), -Max-Age (seconds);
// - preflight, origin not allowed: FORWARD routes it unchanged; IGNORE answers 200 with the
//   same headers except Access-Control-Allow-Origin;
// - other requests with an allowed Origin: routed; the response gets -Allow-Origin,
//   -Allow-Credentials (if set) and -Expose-Headers (if any).
CorsDecision evaluate(const mesh::CorsPolicy& policy, const http::RequestHead& head);

}  // namespace weft::router::cors
