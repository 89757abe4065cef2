// PushEngine (see push.h).
#include "push/push.h"

#include <nlohmann/json.hpp>

#include "compress/gzip.h"
#include "mesh/bootstrap.h"
#include "mesh/compiler.h"
#include "mesh/resources.h"
#include "mesh/yaml_reader.h"
#include "server/log.h"

namespace weft::control {

namespace {

using server::LogLevel;
using server::logLine;

// Accept-Encoding lists gzip (without q=0: clients that refuse it do not name it).
bool acceptsGzip(const HttpRequest& r) {
  auto v = r.headers.get("accept-encoding");
  if (!v) return false;
  std::string lower = mesh::toLower(*v);
  size_t at = lower.find("gzip");
  return at != std::string::npos && lower.find("gzip;q=0", at) != at;
}

mesh::Bootstrap bootstrapFor(const NodeInfo& n) {
  mesh::Bootstrap b;
  b.node.id = n.id;
  b.node.workload = n.workload;
  b.node.service = n.service;
  b.node.namespace_name = n.namespace_name;
  b.node.service_account = n.service_account;
  b.node.labels = n.labels;
  return b;
}

}  // namespace

std::optional<uint64_t> parseWait(std::string_view text) {
  if (text.empty()) return std::nullopt;
  bool digits_only = text.find_first_not_of("0123456789") == std::string_view::npos;
  if (digits_only) {
    if (text.size() > 6) return std::nullopt;
    return std::stoull(std::string(text)) * 1000;
  }
  return mesh::parseDurationMs(text);
}

PushEngine::PushEngine(uv_loop_t* loop, Store& store, Registry& registry, ControlMetrics& metrics,
                       PushOptions options)
    : loop_(loop),
      store_(store),
      registry_(registry),
      metrics_(metrics),
      options_(options),
      debounce_(loop, debounceFired, this) {}

PushEngine::~PushEngine() {
  // Held requests become plain gone requests; their connections close with the server.
  for (auto& [id, w] : waiters_) w->request->onGone(nullptr);
  waiters_.clear();
}

void PushEngine::storeChanged() {
  metrics_.revision.Set(static_cast<double>(store_.revision()));
  const uint64_t t = now();
  if (!pending_) {
    pending_ = true;
    burst_start_ms_ = t;
    debounce_.arm(options_.debounce_ms);
    return;
  }
  // Quiet period restarts, but never past max_delay after the burst began.
  uint64_t deadline = std::min(t + options_.debounce_ms, burst_start_ms_ + options_.max_delay_ms);
  debounce_.cancel();
  debounce_.arm(deadline > t ? deadline - t : 0);
}

void PushEngine::debounceFired(void* self) {
  static_cast<PushEngine*>(self)->rebuild();
}

const MaterializedSet& PushEngine::materialized() {
  if (materialized_revision_ != store_.revision()) {
    materialized_ = materialize(store_.all(), registry_.nodes());
    materialized_revision_ = store_.revision();
  }
  return materialized_;
}

std::shared_ptr<PushEngine::Build> PushEngine::buildFor(const NodeState& state) {
  const NodeInfo& member = state.info;
  const MaterializedSet& set = materialized();
  if (builds_revision_ != store_.revision()) {
    builds_.clear();
    builds_revision_ = store_.revision();
  }
  const bool on_demand = member.scope == "on_demand";
  const Document* sidecar = selectSidecar(set, member.namespace_name, member.labels);
  std::string set_key = member.namespace_name + "|" +
                        (sidecar ? sidecar->namespace_name + "/" + sidecar->name : "") + "|";
  if (on_demand) {
    set_key += "on_demand";
    for (const auto& h : state.interest) set_key += "|" + h;
  }
  std::shared_ptr<Build>& b = builds_[set_key];
  if (b) return b;
  ScopedSet scoped =
      scopeFor(set, member.namespace_name, sidecar, on_demand ? &state.interest : nullptr);
  // A change that leaves this set as it was (a registration no service selects, a resource
  // out of scope) finds the build already made for the same content: nothing to compile.
  for (auto it = by_hash_.begin(); it != by_hash_.end();) {
    it = it->second.expired() ? by_hash_.erase(it) : std::next(it);
  }
  if (auto same = by_hash_.find(scoped.hash); same != by_hash_.end()) {
    b = same->second.lock();
    return b;
  }
  b = std::make_shared<Build>();
  b->set = std::move(scoped);
  ++compiles_;
  mesh::ParseResult parsed = mergeParsed(b->set.documents);
  mesh::ConfigErrors errors = std::move(parsed.errors);
  if (!mesh::hasErrors(errors)) {
    // Compiled to check it, then dropped: a snapshot of a large mesh weighs tens of MiB, and
    // only explain needs one (compiled again then, for the node asked about).
    mesh::compileSnapshot(bootstrapFor(member), parsed.resources, errors);
  }
  for (const auto& e : errors) {
    if (!e.warning) {
      b->error = e.format();
      break;
    }
  }
  by_hash_[b->set.hash] = b;
  if (b->error.empty()) {
    nlohmann::json body = {{"built_from", b->set.built_from}, {"resources", b->set.yaml}};
    std::string text = body.dump();  // "{...}": the tail is what follows the '{'
    b->body_tail = std::make_shared<const std::string>(text.substr(1));
    b->body_tail_gzip = std::make_shared<const std::string>(compress::gzip(*b->body_tail, 1));
  }
  b->set.yaml = std::string();  // the encoded answer holds it; documents stay for recompiles
  return b;
}

bool PushEngine::build(Group& g, const NodeState& state, uint64_t changed_at_ms) {
  std::shared_ptr<Build> b = buildFor(state);
  if (g.build && b->set.hash == g.build->set.hash && g.bundle_generation == bundle_generation_) {
    // Same content: share the current build, so that older builds are freed.
    if (b->error.empty()) g.build = b;
    return false;
  }
  if (!b->error.empty()) {
    if (g.error != b->error) {
      logLine(LogLevel::kError, "scope " + g.key + ": the resource set does not compile, " +
                                    "keeping the previous one: " + b->error);
    }
    g.error = b->error;
    return false;
  }
  g.error.clear();
  g.build = b;
  g.version = store_.revision();
  g.head = "{\"version\":" + std::to_string(g.version) + "," + bundle_json_;
  g.bundle_generation = bundle_generation_;
  g.head_gzip = compress::gzip(g.head, 1);
  g.changed_at_ms = changed_at_ms;
  g.sidecar = b->set.sidecar;
  ++version_changes_;
  return true;
}

void PushEngine::setTrustBundle(const std::string& roots_pem, const std::string& signing_root) {
  // In the small per-version head, not the shared tail: the tail is shared by builds of the
  // same content across bundle changes, and the bundle is a few KiB at most.
  std::string j = nlohmann::json{{"roots", roots_pem}, {"signing_root", signing_root}}.dump();
  std::string fragment = "\"trust_bundle\":" + j + ",";
  if (fragment == bundle_json_) return;
  bundle_json_ = std::move(fragment);
  ++bundle_generation_;
}

std::shared_ptr<const mesh::Snapshot> PushEngine::snapshotFor(const std::string& id) const {
  const Group* g = groupOf(id);
  const NodeState* n = registry_.find(id);
  if (!g || !g->build || !n) return nullptr;
  // Compiled with this node's identity: labels and service account change routes
  // (sourceLabels).
  mesh::ParseResult parsed = mergeParsed(g->build->set.documents);
  if (mesh::hasErrors(parsed.errors)) return nullptr;
  mesh::ConfigErrors errors;
  auto snapshot = mesh::compileSnapshot(bootstrapFor(n->info), parsed.resources, errors);
  return mesh::hasErrors(errors) ? nullptr : snapshot;
}

void PushEngine::rebuild() {
  const uint64_t changed_at = pending_ ? burst_start_ms_ : now();
  pending_ = false;
  debounce_.cancel();
  std::vector<std::string> keys;
  for (const auto& [key, g] : groups_) keys.push_back(key);
  // Waking a group answers requests, which may run other requests of those connections:
  // look each group up again rather than holding iterators.
  for (const auto& key : keys) {
    auto it = groups_.find(key);
    if (it == groups_.end()) continue;
    if (it->second.members.empty()) {
      groups_.erase(it);
      continue;
    }
    const NodeState* member = nullptr;
    for (const auto& id : it->second.members) {
      if ((member = registry_.find(id)) != nullptr) break;
    }
    if (member && build(it->second, *member, changed_at)) wake(it->second);
  }
}

void PushEngine::join(const std::string& id, const std::string& key) {
  auto it = node_group_.find(id);
  if (it != node_group_.end()) {
    if (it->second == key) return;
    leave(id);
  }
  node_group_[id] = key;
  Group& g = groups_[key];
  g.key = key;
  g.members.insert(id);
}

void PushEngine::leave(const std::string& id) {
  auto it = node_group_.find(id);
  if (it == node_group_.end()) return;
  auto g = groups_.find(it->second);
  if (g != groups_.end()) {
    g->second.members.erase(id);
    if (g->second.members.empty()) groups_.erase(g);
  }
  node_group_.erase(it);
}

void PushEngine::nodeRegistered(const std::string& id) {
  NodeState* n = registry_.find(id);
  if (!n) return;
  const std::string key = n->info.scopeKey();
  join(id, key);
  Group& g = groups_[key];
  if (g.version == 0) build(g, *n, now());
  metrics_.nodes.Set(static_cast<double>(registry_.nodes().size()));
}

void PushEngine::nodeRemoved(const std::string& id) {
  leave(id);
  std::vector<uint64_t> ids;
  if (auto nw = node_waiters_.find(id); nw != node_waiters_.end()) {
    ids.assign(nw->second.begin(), nw->second.end());
  }
  for (uint64_t wid : ids) {
    if (auto w = take(wid)) w->request->respondJson(404, R"({"error":"the node was removed"})");
  }
  metrics_.nodes.Set(static_cast<double>(registry_.nodes().size()));
}

const PushEngine::Group* PushEngine::groupOf(const std::string& id) const {
  auto it = node_group_.find(id);
  if (it == node_group_.end()) return nullptr;
  auto g = groups_.find(it->second);
  return g == groups_.end() ? nullptr : &g->second;
}

uint64_t PushEngine::versionOf(const std::string& id) const {
  const Group* g = groupOf(id);
  return g ? g->version : 0;
}

void PushEngine::answer(const HttpRequestPtr& request, NodeState& node, const Group& g) {
  // The version in a header too: a client can act on it without parsing the body.
  std::vector<std::pair<std::string, std::string>> headers = {
      {"x-weft-version", std::to_string(g.version)}, {"vary", "accept-encoding"}};
  if (acceptsGzip(*request)) {
    headers.emplace_back("content-encoding", "gzip");
    request->respondShared(200, "application/json", g.head_gzip, g.build->body_tail_gzip, headers);
  } else {
    request->respondShared(200, "application/json", g.head, g.build->body_tail, headers);
  }
  node.version_sent = g.version;
  metrics_.pushes.Increment();
}

void PushEngine::poll(const HttpRequestPtr& request, const std::string& id, uint64_t version,
                      uint64_t wait_ms) {
  NodeState* node = registry_.find(id);
  if (!node) {
    request->respondJson(404, R"({"error":"unknown node"})");
    return;
  }
  node->last_seen_ms = now();
  if (!groupOf(id)) nodeRegistered(id);
  const Group* g = groupOf(id);
  if (g && g->version != 0 && g->version != version) {
    answer(request, *node, *g);
    return;
  }
  ++node->active_polls;
  auto w = std::make_unique<Waiter>();
  Waiter* raw = w.get();
  raw->engine = this;
  raw->id = next_waiter_++;
  raw->node = id;
  raw->request = request;
  raw->timer = std::make_unique<net::Timer>(loop_, waiterExpired, raw);
  raw->timer->arm(wait_ms);
  const uint64_t wid = raw->id;
  request->onGone([this, wid] { take(wid); });
  waiters_[wid] = std::move(w);
  node_waiters_[id].insert(wid);
}

void PushEngine::waiterExpired(void* p) {
  auto* w = static_cast<Waiter*>(p);
  // Owned here until the end of this function (the timer is destroyed last, safely).
  if (auto owned = w->engine->take(w->id)) owned->request->respond(304, "application/json", "");
}

std::unique_ptr<PushEngine::Waiter> PushEngine::take(uint64_t waiter_id) {
  auto it = waiters_.find(waiter_id);
  if (it == waiters_.end()) return nullptr;
  std::unique_ptr<Waiter> w = std::move(it->second);
  waiters_.erase(it);
  if (auto nw = node_waiters_.find(w->node); nw != node_waiters_.end()) {
    nw->second.erase(waiter_id);
    if (nw->second.empty()) node_waiters_.erase(nw);
  }
  w->request->onGone(nullptr);
  if (NodeState* n = registry_.find(w->node)) {
    if (n->active_polls > 0) --n->active_polls;
    n->last_seen_ms = now();
  }
  return w;
}

void PushEngine::wake(const Group& g) {
  std::vector<uint64_t> ids;
  for (const auto& member : g.members) {
    auto nw = node_waiters_.find(member);
    if (nw != node_waiters_.end()) ids.insert(ids.end(), nw->second.begin(), nw->second.end());
  }
  // Answering may run more of the connection's requests: take each waiter out first.
  for (uint64_t wid : ids) {
    std::unique_ptr<Waiter> w = take(wid);
    if (!w) continue;
    NodeState* n = registry_.find(w->node);
    const Group* current = groupOf(w->node);
    if (!n || !current) continue;
    answer(w->request, *n, *current);
  }
}

uint64_t PushEngine::addInterest(const std::string& id, const std::vector<std::string>& hosts) {
  NodeState* n = registry_.find(id);
  if (!n) return 0;
  bool added = false;
  for (const auto& h : hosts) added = n->interest.insert(mesh::toLower(h)).second || added;
  if (added && n->info.scope == "on_demand") {
    store_.touch();  // the new version is a new store revision
    if (!groupOf(id)) nodeRegistered(id);
    auto it = node_group_.find(id);
    if (it != node_group_.end()) {
      Group& g = groups_[it->second];
      if (build(g, *n, now())) wake(g);
    }
  }
  return versionOf(id);
}

void PushEngine::ack(const std::string& id, uint64_t version, const std::string& error) {
  NodeState* n = registry_.find(id);
  if (!n) return;
  const uint64_t before = n->version_acked;
  registry_.ack(*n, version, error);
  if (!error.empty()) {
    metrics_.nacks.Increment();
    logLine(LogLevel::kWarning,
            "node " + id + " rejected version " + std::to_string(version) + ": " + error);
    return;
  }
  const Group* g = groupOf(id);
  if (g && version == g->version && before < version) {
    const uint64_t t = now();
    metrics_.convergence.Observe(
        static_cast<double>(t > g->changed_at_ms ? t - g->changed_at_ms : 0) / 1000.0);
  }
}

}  // namespace weft::control
