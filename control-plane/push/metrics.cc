// ControlMetrics (see metrics.h).
#include "push/metrics.h"

#include <prometheus/text_serializer.h>

namespace weft::control {

ControlMetrics::ControlMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      rejected_(prometheus::BuildCounter()
                    .Name("weft_control_certificate_requests_rejected_total")
                    .Help("Certificate requests refused, by reason")
                    .Register(*registry_)),
      authenticated_(prometheus::BuildCounter()
                         .Name("weft_control_api_requests_authenticated_total")
                         .Help("API requests authenticated, by credential")
                         .Register(*registry_)),
      pushes(prometheus::BuildCounter()
                 .Name("weft_control_pushes_total")
                 .Help("Configurations sent to nodes")
                 .Register(*registry_)
                 .Add({})),
      nacks(prometheus::BuildCounter()
                .Name("weft_control_nacks_total")
                .Help("Configurations rejected by a node")
                .Register(*registry_)
                .Add({})),
      nodes(prometheus::BuildGauge()
                .Name("weft_control_nodes")
                .Help("Registered nodes")
                .Register(*registry_)
                .Add({})),
      convergence(prometheus::BuildHistogram()
                      .Name("weft_control_convergence_seconds")
                      .Help("Time from a configuration change to its acknowledgement by a node")
                      .Register(*registry_)
                      .Add({}, prometheus::Histogram::BucketBoundaries{0.05, 0.1, 0.25, 0.5, 1, 2.5,
                                                                       5, 10, 30, 60})),
      revision(prometheus::BuildGauge()
                   .Name("weft_control_store_revision")
                   .Help("Current store revision")
                   .Register(*registry_)
                   .Add({})),
      certificates_issued(prometheus::BuildCounter()
                              .Name("weft_control_certificates_issued_total")
                              .Help("Workload certificates signed by the CA")
                              .Register(*registry_)
                              .Add({})),
      certificates_rejected_identity(rejected_.Add({{"reason", "identity"}})),
      certificates_rejected_bad_request(rejected_.Add({{"reason", "bad_request"}})),
      ca_root_expiry(prometheus::BuildGauge()
                         .Name("weft_control_ca_root_expiry_timestamp_seconds")
                         .Help("Expiry of the CA's root certificate, unix seconds")
                         .Register(*registry_)
                         .Add({})),
      authenticated_certificate(authenticated_.Add({{"credential", "certificate"}})),
      authenticated_token(authenticated_.Add({{"credential", "token"}})),
      ca_rotation_phase(prometheus::BuildGauge()
                            .Name("weft_control_ca_rotation_phase")
                            .Help("Root rotation phase: 0 none, 1 distributing, 2 signing")
                            .Register(*registry_)
                            .Add({})),
      ca_trusted_roots(prometheus::BuildGauge()
                           .Name("weft_control_ca_trusted_roots")
                           .Help("Roots in the trust bundle")
                           .Register(*registry_)
                           .Add({})),
      ca_rotation_outstanding(prometheus::BuildGauge()
                                  .Name("weft_control_ca_rotation_outstanding_certificates")
                                  .Help("Certificates of the old root not expired nor replaced")
                                  .Register(*registry_)
                                  .Add({})),
      ca_rotations_started(prometheus::BuildCounter()
                               .Name("weft_control_ca_rotations_started_total")
                               .Help("Root rotations started")
                               .Register(*registry_)
                               .Add({})),
      ca_rotations_completed(prometheus::BuildCounter()
                                 .Name("weft_control_ca_rotations_completed_total")
                                 .Help("Root rotations completed (old root dropped)")
                                 .Register(*registry_)
                                 .Add({})) {}

std::string ControlMetrics::serialize() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace weft::control
