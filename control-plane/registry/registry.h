// Registry: the sidecars (nodes) that registered with POST /v1/nodes. Each registered node is
// also a WorkloadEntry in the store (the registry layer), so ServiceEntries select it with
// workloadSelector like any other workload. A node is removed when it deregisters, or when its
// last poll ended more than the TTL ago.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "store/document.h"
#include "store/store.h"

namespace weft::control {

struct NodePort {
  std::string name;
  uint16_t port = 0;      // the sidecar's inbound port (the WorkloadEntry's endpoint port)
  uint16_t app_port = 0;  // the application's port (the service port number)
  bool operator==(const NodePort&) const = default;
};

// Node JSON (registration), validated.
struct NodeInfo {
  std::string id;  // a DNS name: it names the node's WorkloadEntry
  std::string workload;
  std::string namespace_name = "default";
  std::string service_account = "default";
  std::string service;  // empty: the node defines no service
  std::map<std::string, std::string> labels;
  std::string address;
  std::vector<NodePort> ports;
  std::string admin;  // "host:port" of the sidecar's admin listener (empty: none)
  std::string scope = "full";

  // Nodes with equal keys get the same configuration (namespace, labels, service account;
  // an on_demand node has its own key, since its scope depends on its own interest).
  std::string scopeKey() const;
  bool operator==(const NodeInfo&) const = default;
};

// Parses and validates registration JSON; on failure returns nullopt with `error` set.
std::optional<NodeInfo> parseNodeJson(std::string_view json, std::string& error);
// The registration JSON of a node (what parseNodeJson reads back).
std::string nodeJson(const NodeInfo& node);

// The WorkloadEntry document (YAML text + fields) standing for a node.
Document workloadEntryFor(const NodeInfo& node);

enum class SyncState { kSynced, kStale, kNack };
const char* toString(SyncState s);

struct NodeState {
  NodeInfo info;
  uint64_t registered_ms = 0;
  uint64_t last_seen_ms = 0;  // start or end of the latest poll (or registration)
  int active_polls = 0;
  uint64_t version_sent = 0;   // latest version answered to a poll
  uint64_t version_acked = 0;  // latest version acknowledged as applied
  uint64_t nack_version = 0;   // latest version rejected (0: none since the last ack)
  std::string nack_error;
  // scope: on_demand: the hosts the node asked for (POST /v1/nodes/{id}/interest).
  std::set<std::string> interest;

  SyncState state() const;
};

class Registry {
 public:
  explicit Registry(Store& store) : store_(store) {}

  // Registers (or re-registers) a node and puts its WorkloadEntry in the store. Returns
  // false with `error` if another layer already defines WorkloadEntry <ns>/<id>.
  bool upsert(const NodeInfo& info, uint64_t now_ms, std::string& error);
  // Deregisters; returns false if unknown.
  bool remove(const std::string& id);
  NodeState* find(const std::string& id);
  const std::map<std::string, NodeState>& nodes() const { return nodes_; }
  // Nodes with no poll in progress whose latest poll ended more than `ttl_ms` ago.
  std::vector<std::string> expired(uint64_t now_ms, uint64_t ttl_ms) const;

  // Records an ack (error empty) or a nack for `version`.
  void ack(NodeState& node, uint64_t version, const std::string& error);

  // Called after every registration and removal (the registry is persisted from there).
  void setOnChange(std::function<void()> f) { on_change_ = std::move(f); }
  // The registrations as JSON lines (one node JSON per line), and back: restore() registers
  // every line it can (now_ms as their last poll, so the TTL removes those that never come
  // back) and returns the ids; bad lines are reported in `errors` and skipped.
  std::string dump() const;
  std::vector<std::string> restore(const std::string& text, uint64_t now_ms,
                                   std::vector<std::string>& errors);

 private:
  Store& store_;
  std::map<std::string, NodeState> nodes_;
  std::function<void()> on_change_;
};

}  // namespace weft::control
