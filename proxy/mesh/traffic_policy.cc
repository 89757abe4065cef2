// Traffic policy helpers: retryOn names and the merge of DestinationRule policy levels.
#include <iterator>

#include "mesh/resources.h"
#include "mesh/snapshot.h"

namespace weft::mesh {

namespace {

struct RetryOnName {
  uint32_t bit;
  const char* name;
};

constexpr RetryOnName kRetryOnNames[] = {
    {RetryPolicy::k5xx, "5xx"},
    {RetryPolicy::kGatewayError, "gateway-error"},
    {RetryPolicy::kReset, "reset"},
    {RetryPolicy::kConnectFailure, "connect-failure"},
    {RetryPolicy::kRefusedStream, "refused-stream"},
    {RetryPolicy::kRetriable4xx, "retriable-4xx"},
    {RetryPolicy::kRetriableStatusCodes, "retriable-status-codes"},
    {RetryPolicy::kResetBeforeRequest, "reset-before-request"},
    {RetryPolicy::kCancelled, "cancelled"},
    {RetryPolicy::kDeadlineExceeded, "deadline-exceeded"},
    {RetryPolicy::kInternal, "internal"},
    {RetryPolicy::kResourceExhausted, "resource-exhausted"},
    {RetryPolicy::kUnavailable, "unavailable"},
};

}  // namespace

const char* retryOnName(uint32_t bit) {
  for (const auto& n : kRetryOnNames) {
    if (n.bit == bit) return n.name;
  }
  return nullptr;
}

uint32_t retryOnFromName(std::string_view name) {
  for (const auto& n : kRetryOnNames) {
    if (name == n.name) return n.bit;
  }
  return 0;
}

const PortTrafficPolicy* TrafficPolicy::forPort(uint16_t port) const {
  for (const auto& p : port_level) {
    if (p.port == port) return &p;
  }
  return nullptr;
}

EffectivePolicy effectivePolicy(const DestinationRule* rule, const Subset* subset, uint16_t port) {
  PolicyComponents merged;
  std::optional<RetryBudgetPolicy> budget;
  if (rule && rule->policy) {
    merged = rule->policy->components;
    budget = rule->policy->retry_budget;
    if (const PortTrafficPolicy* p = rule->policy->forPort(port)) merged = p->components;
  }
  if (subset && subset->policy) {
    const TrafficPolicy& sp = *subset->policy;
    if (sp.components.load_balancer) merged.load_balancer = sp.components.load_balancer;
    if (sp.components.connection_pool) merged.connection_pool = sp.components.connection_pool;
    if (sp.components.outlier) merged.outlier = sp.components.outlier;
    if (sp.components.tls) merged.tls = sp.components.tls;
    if (sp.retry_budget) budget = sp.retry_budget;
    if (const PortTrafficPolicy* p = sp.forPort(port)) merged = p->components;
  }
  EffectivePolicy out;
  if (merged.load_balancer) out.load_balancer = *merged.load_balancer;
  if (merged.connection_pool) out.connection_pool = *merged.connection_pool;
  if (merged.outlier) out.outlier = *merged.outlier;
  if (budget) out.retry_budget = *budget;
  out.tls = merged.tls;
  return out;
}

}  // namespace weft::mesh
