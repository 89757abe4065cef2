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

  std::string serialize() const;
};

}  // namespace weft::control
