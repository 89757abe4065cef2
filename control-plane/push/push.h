// PushEngine: per-group configuration builds, versions, long-polls and acks.
//
// Nodes are grouped by scope key (namespace, labels, service account, scope mode). After a
// store change (debounced: 100 ms after the first change of a burst, at most 1 s after it)
// each group's scoped resource set is looked up; its content hash decides whether the group's
// version changes. Groups whose sets are the same (same namespace and Sidecar, no on-demand
// interest) share one Build per revision: the set is assembled, compiled (with one member's
// identity) and encoded once, and the encoded answer is sent to all of them without copies.
// A set that does not compile is not sent (the group keeps its previous one). Only the held
// polls of nodes whose group changed are answered.
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "api/http_server.h"
#include "mesh/snapshot.h"
#include "net/timer.h"
#include "push/metrics.h"
#include "push/scoped_set.h"
#include "registry/registry.h"
#include "store/store.h"

namespace weft::control {

struct PushOptions {
  uint64_t debounce_ms = 100;
  uint64_t max_delay_ms = 1000;
};

class PushEngine {
 public:
  // One scoped set at one store revision, shared by every group that gets the same set.
  struct Build {
    ScopedSet set;      // its `yaml` is dropped once encoded in body_tail
    std::string error;  // the compiler's first error (empty: none)
    // The config JSON answered to polls, without its version (which differs between groups
    // sharing the same content): `{"version":N,` is written before it.
    std::shared_ptr<const std::string> body_tail;
    // The tail as one gzip member, for clients that accept gzip: the answer is then a small
    // member made per poll (the head) followed by this one (RFC 1952 allows a series).
    std::shared_ptr<const std::string> body_tail_gzip;
  };

  struct Group {
    std::string key;
    std::set<std::string> members;       // node ids
    uint64_t version = 0;                // 0: nothing built yet
    uint64_t changed_at_ms = 0;          // when the change that produced `version` happened
    std::shared_ptr<const Build> build;  // the set sent (null until one compiled)
    // What comes before the build's shared tail in every answer of this version, plain and
    // as a gzip member: made once per version, not per poll.
    std::string head;
    std::string head_gzip;
    uint64_t bundle_generation = 0;  // the trust bundle in `head`
    std::string sidecar;             // the Sidecar applied, if any
    std::string error;               // latest build rejected by the compiler (empty: none)
  };

  PushEngine(uv_loop_t* loop, Store& store, Registry& registry, ControlMetrics& metrics,
             PushOptions options = {});
  ~PushEngine();
  PushEngine(const PushEngine&) = delete;
  PushEngine& operator=(const PushEngine&) = delete;

  // The trust bundle every answer carries (docs/security.md): the PEM roots and the SHA-256
  // (hex) of the root new certificates chain to. A change gives every group a new version at
  // the next rebuild (the caller bumps the store revision), so every sidecar gets it.
  void setTrustBundle(const std::string& roots_pem, const std::string& signing_root);

  // The store changed: schedule a rebuild (debounced).
  void storeChanged();
  // Rebuilds every group now.
  void rebuild();
  // A node registered or re-registered: it joins its group, which is built at once if new.
  void nodeRegistered(const std::string& id);
  // A node was removed: its held polls are answered 404.
  void nodeRemoved(const std::string& id);

  // GET /v1/nodes/{id}/config: answers at once if the node's version differs from `version`,
  // else holds the request until it changes (200) or `wait_ms` passes (304).
  void poll(const HttpRequestPtr& request, const std::string& id, uint64_t version,
            uint64_t wait_ms);
  // POST /v1/nodes/{id}/ack.
  void ack(const std::string& id, uint64_t version, const std::string& error);
  // POST /v1/nodes/{id}/interest (scope: on_demand): adds `hosts` to the node's scope and, if
  // that changes its set, builds and pushes it at once. Returns the node's version after it.
  uint64_t addInterest(const std::string& id, const std::vector<std::string>& hosts);

  const Group* groupOf(const std::string& id) const;
  // The node's configuration compiled with its own identity (for explain); null if none.
  std::shared_ptr<const mesh::Snapshot> snapshotFor(const std::string& id) const;
  uint64_t versionOf(const std::string& id) const;
  size_t groupCount() const { return groups_.size(); }
  size_t heldPolls() const { return waiters_.size(); }
  // Number of group builds that changed a version, and compiles run (for tests).
  uint64_t versionChanges() const { return version_changes_; }
  uint64_t compiles() const { return compiles_; }

 private:
  struct Waiter {
    PushEngine* engine;
    uint64_t id;
    std::string node;
    HttpRequestPtr request;
    std::unique_ptr<net::Timer> timer;
  };

  uint64_t now() const { return uv_now(loop_); }
  const MaterializedSet& materialized();
  // The Build of `member`'s set at the current revision (made, compiled and encoded once).
  std::shared_ptr<Build> buildFor(const NodeState& member);
  // Builds `g` for the identity of `member`; returns true if its version changed.
  bool build(Group& g, const NodeState& member, uint64_t changed_at_ms);
  void join(const std::string& id, const std::string& key);
  void leave(const std::string& id);
  void answer(const HttpRequestPtr& request, NodeState& node, const Group& g);
  void wake(const Group& g);
  // Ends a held poll (heartbeat at its end) and hands the waiter over (null if unknown).
  std::unique_ptr<Waiter> take(uint64_t waiter_id);
  static void debounceFired(void* self);
  static void waiterExpired(void* waiter);

  uv_loop_t* loop_;
  Store& store_;
  Registry& registry_;
  ControlMetrics& metrics_;
  PushOptions options_;
  net::Timer debounce_;
  bool pending_ = false;
  uint64_t burst_start_ms_ = 0;
  std::map<std::string, Group> groups_;
  std::map<std::string, std::string> node_group_;  // node id -> group key
  std::map<uint64_t, std::unique_ptr<Waiter>> waiters_;
  std::map<std::string, std::set<uint64_t>> node_waiters_;  // node id -> its held polls
  uint64_t next_waiter_ = 1;
  MaterializedSet materialized_;
  uint64_t materialized_revision_ = UINT64_MAX;
  std::map<std::string, std::shared_ptr<Build>> builds_;  // by set key, at builds_revision_
  uint64_t builds_revision_ = UINT64_MAX;
  std::map<uint64_t, std::weak_ptr<Build>> by_hash_;  // live builds by content hash
  std::string bundle_json_;                           // `"trust_bundle":{...},` or ""
  uint64_t bundle_generation_ = 0;
  uint64_t version_changes_ = 0;
  uint64_t compiles_ = 0;
};

// "30s", "500ms", "1m" or a number of seconds -> milliseconds; nullopt if malformed.
std::optional<uint64_t> parseWait(std::string_view text);

}  // namespace weft::control
