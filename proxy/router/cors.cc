// CORS decisions (see cors.h).
#include "router/cors.h"

namespace weft::router::cors {

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ',';
    out += item;
  }
  return out;
}

}  // namespace

bool isPreflight(const http::RequestHead& head) {
  if (head.method != "OPTIONS") return false;
  auto origin = head.headers.get("origin");
  auto method = head.headers.get("access-control-request-method");
  return origin && !origin->empty() && method && !method->empty();
}

bool originAllowed(const mesh::CorsPolicy& policy, std::string_view origin) {
  for (const auto& m : policy.allow_origins) {
    if (m.matches("*") || m.matches(origin)) return true;
  }
  return false;
}

CorsDecision evaluate(const mesh::CorsPolicy& policy, const http::RequestHead& head) {
  CorsDecision d;
  auto origin = head.headers.get("origin");
  if (!origin || origin->empty()) return d;
  d.cors_request = true;
  d.origin_allowed = originAllowed(policy, *origin);
  d.preflight = isPreflight(head);
  auto& h = d.headers;
  if (!d.preflight) {
    if (!d.origin_allowed) return d;
    h.emplace_back("access-control-allow-origin", std::string(*origin));
    if (policy.allow_credentials) h.emplace_back("access-control-allow-credentials", "true");
    if (!policy.expose_headers.empty()) {
      h.emplace_back("access-control-expose-headers", join(policy.expose_headers));
    }
    return d;
  }
  if (!d.origin_allowed && policy.forward_unmatched_preflights) return d;
  d.respond_locally = true;
  if (d.origin_allowed) h.emplace_back("access-control-allow-origin", std::string(*origin));
  if (policy.allow_credentials) h.emplace_back("access-control-allow-credentials", "true");
  std::string methods = join(policy.allow_methods);
  if (!methods.empty()) {
    if (methods == "*") {
      methods = std::string(head.headers.get("access-control-request-method").value_or(""));
    }
    h.emplace_back("access-control-allow-methods", std::move(methods));
  }
  std::string headers = join(policy.allow_headers);
  if (!headers.empty()) {
    if (headers == "*") {
      headers = std::string(head.headers.get("access-control-request-headers").value_or(""));
    }
    h.emplace_back("access-control-allow-headers", std::move(headers));
  }
  if (policy.max_age_s) {
    h.emplace_back("access-control-max-age", std::to_string(*policy.max_age_s));
  }
  return d;
}

}  // namespace weft::router::cors
