// The control plane's own metrics (prometheus-cpp core, serialized as Prometheus text).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

namespace weft::control {

class ControlMetrics {
  // Declared first: initialized before the metric references below.
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& rejected_;       // one counter per reason
  prometheus::Family<prometheus::Counter>& authenticated_;  // one counter per credential

 public:
  ControlMetrics();
  // weft_control_pushes_total: configurations sent to nodes (200 answers to a poll).
  prometheus::Counter& pushes;
  // weft_control_nacks_total: configurations rejected by a node.
  prometheus::Counter& nacks;
  // weft_control_nodes: registered nodes.
  prometheus::Gauge& nodes;
  // weft_control_convergence_seconds: from a change to the store to a node's ack of it.
  prometheus::Histogram& convergence;
  // weft_control_store_revision.
  prometheus::Gauge& revision;
  // weft_control_certificates_issued_total: leaf certificates signed by the CA.
  prometheus::Counter& certificates_issued;
  // weft_control_certificate_requests_rejected_total{reason="identity"}: the token may not get
  // the identity asked for (403).
  prometheus::Counter& certificates_rejected_identity;
  // ...{reason="bad_request"}: malformed JSON or CSR, wrong trust domain, bad TTL (400).
  prometheus::Counter& certificates_rejected_bad_request;
  // weft_control_ca_root_expiry_timestamp_seconds: when the CA's root certificate expires.
  prometheus::Gauge& ca_root_expiry;
  // weft_control_api_requests_authenticated_total{credential="certificate"}: API requests whose
  // caller was the SPIFFE ID of a verified client certificate; {credential="token"}: a bearer
  // token.
  prometheus::Counter& authenticated_certificate;
  prometheus::Counter& authenticated_token;
  // Root rotation (docs/security.md, "Root rotation"):
  // weft_control_ca_rotation_phase: 0 none, 1 distributing the new root, 2 signing with it
  // while the old root's certificates are replaced.
  prometheus::Gauge& ca_rotation_phase;
  // weft_control_ca_trusted_roots: roots in the trust bundle.
  prometheus::Gauge& ca_trusted_roots;
  // weft_control_ca_rotation_outstanding_certificates: certificates of the old root neither
  // expired nor replaced (phase 2).
  prometheus::Gauge& ca_rotation_outstanding;
  // weft_control_ca_rotations_total: rotations started, and completed (old root dropped).
  prometheus::Counter& ca_rotations_started;
  prometheus::Counter& ca_rotations_completed;

  std::string serialize() const;
};

}  // namespace weft::control
