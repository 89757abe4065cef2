// ControlMetrics (see metrics.h).
#include "push/metrics.h"

#include <prometheus/text_serializer.h>

namespace weft::control {

ControlMetrics::ControlMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
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
                   .Add({})) {}

std::string ControlMetrics::serialize() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace weft::control
