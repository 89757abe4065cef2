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
                         .Add({})) {}

std::string ControlMetrics::serialize() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace weft::control
