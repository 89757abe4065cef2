// Registry: node JSON, WorkloadEntries of nodes, TTL and sync state (see registry.h).
#include "registry/registry.h"

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include "mesh/bootstrap.h"
#include "mesh/yaml_reader.h"

namespace weft::control {

namespace {

using nlohmann::json;

bool optionalString(const json& j, const char* key, std::string& out, std::string& error) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_string()) {
    error = std::string("'") + key + "' must be a string";
    return false;
  }
  out = it->get<std::string>();
  return true;
}

bool portNumber(const json& j, const char* key, uint16_t& out, std::string& error) {
  if (!j.is_number_integer() || j.get<int64_t>() < 1 || j.get<int64_t>() > 65535) {
    error = std::string("'") + key + "' must be a port number (1-65535)";
    return false;
  }
  out = static_cast<uint16_t>(j.get<int64_t>());
  return true;
}

}  // namespace

std::string NodeInfo::scopeKey() const {
  std::string key = namespace_name + "|" + service_account + "|" + scope + "|";
  for (const auto& [k, v] : labels) key += k + "=" + v + ",";
  if (scope == "on_demand") key += "|node=" + id;
  return key;
}

std::optional<NodeInfo> parseNodeJson(std::string_view text, std::string& error) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    error = "the body is not valid JSON";
    return std::nullopt;
  }
  if (!j.is_object()) {
    error = "the node must be a JSON object";
    return std::nullopt;
  }
  static const char* kKnown[] = {"id",     "workload", "namespace", "service_account", "service",
                                 "labels", "address",  "ports",     "admin",           "scope"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    for (const char* k : kKnown) known = known || it.key() == k;
    if (!known) {
      error = "unknown field '" + it.key() + "'";
      return std::nullopt;
    }
  }
  NodeInfo n;
  if (!optionalString(j, "id", n.id, error) || !optionalString(j, "workload", n.workload, error) ||
      !optionalString(j, "namespace", n.namespace_name, error) ||
      !optionalString(j, "service_account", n.service_account, error) ||
      !optionalString(j, "service", n.service, error) ||
      !optionalString(j, "address", n.address, error) ||
      !optionalString(j, "admin", n.admin, error) || !optionalString(j, "scope", n.scope, error)) {
    return std::nullopt;
  }
  if (n.id.empty() || !mesh::isDnsName(n.id)) {
    error = "'id' is required and must be a lower-case DNS name (it names a WorkloadEntry)";
    return std::nullopt;
  }
  if (n.workload.empty()) n.workload = n.id;
  if (!mesh::isDnsLabel(n.namespace_name)) {
    error = "'namespace' must be a DNS label";
    return std::nullopt;
  }
  if (n.service_account.empty() || !mesh::isDnsName(n.service_account)) {
    error = "'service_account' must be a lower-case DNS name";
    return std::nullopt;
  }
  if (!n.service.empty() && !mesh::isDnsLabel(n.service)) {
    error = "'service' must be a DNS label (the short name of a service)";
    return std::nullopt;
  }
  if (n.address.empty() || !mesh::isIpAddress(n.address)) {
    error = "'address' is required and must be a numeric IP address";
    return std::nullopt;
  }
  if (!n.admin.empty() && !mesh::parseSocketAddress(n.admin)) {
    error = "'admin' must be ip:port";
    return std::nullopt;
  }
  if (n.scope != "full" && n.scope != "on_demand") {
    error = "'scope' must be full or on_demand";
    return std::nullopt;
  }
  if (auto it = j.find("labels"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) {
      error = "'labels' must be an object of strings";
      return std::nullopt;
    }
    for (auto l = it->begin(); l != it->end(); ++l) {
      if (!l.value().is_string() || l.key().empty()) {
        error = "'labels' must be an object of strings";
        return std::nullopt;
      }
      n.labels[l.key()] = l.value().get<std::string>();
    }
  }
  if (auto it = j.find("ports"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) {
      error = "'ports' must be a list";
      return std::nullopt;
    }
    for (const auto& p : *it) {
      if (!p.is_object() || !p.contains("name") || !p["name"].is_string() ||
          p["name"].get<std::string>().empty() || !p.contains("port")) {
        error = "each port needs a 'name' (string) and a 'port'";
        return std::nullopt;
      }
      NodePort np;
      np.name = p["name"].get<std::string>();
      if (!mesh::isDnsLabel(np.name)) {
        error = "port name '" + np.name + "' must be a DNS label";
        return std::nullopt;
      }
      if (!portNumber(p["port"], "port", np.port, error)) return std::nullopt;
      np.app_port = np.port;
      if (p.contains("app_port") && !portNumber(p["app_port"], "app_port", np.app_port, error)) {
        return std::nullopt;
      }
      for (const auto& other : n.ports) {
        if (other.name == np.name) {
          error = "duplicate port name '" + np.name + "'";
          return std::nullopt;
        }
      }
      n.ports.push_back(std::move(np));
    }
  }
  return n;
}

Document workloadEntryFor(const NodeInfo& node) {
  Document d;
  d.kind = "WorkloadEntry";
  d.namespace_name = node.namespace_name;
  d.name = node.id;
  d.source = "registry";
  WorkloadInfo w;
  w.address = node.address;
  for (const auto& p : node.ports) w.ports[p.name] = p.port;
  w.labels = node.labels;
  w.service_account = node.service_account;
  w.weight = 1;

  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << "networking.istio.io/v1";
  out << YAML::Key << "kind" << YAML::Value << "WorkloadEntry";
  out << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << node.id;
  out << YAML::Key << "namespace" << YAML::Value << node.namespace_name;
  out << YAML::Key << "annotations" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "weft.io/registered-workload" << YAML::Value << YAML::DoubleQuoted
      << node.workload;
  // Fields that matter to the synthesized ServiceEntry: a change to them is a store change.
  std::string app_ports;
  for (const auto& p : node.ports) {
    app_ports += (app_ports.empty() ? "" : ",") + p.name + "=" + std::to_string(p.app_port);
  }
  out << YAML::Key << "weft.io/service" << YAML::Value << YAML::DoubleQuoted << node.service;
  out << YAML::Key << "weft.io/app-ports" << YAML::Value << YAML::DoubleQuoted << app_ports;
  out << YAML::Key << "weft.io/admin" << YAML::Value << YAML::DoubleQuoted << node.admin;
  out << YAML::EndMap << YAML::EndMap;
  out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "address" << YAML::Value << w.address;
  if (!w.ports.empty()) {
    out << YAML::Key << "ports" << YAML::Value << YAML::BeginMap;
    for (const auto& [name, port] : w.ports) out << YAML::Key << name << YAML::Value << port;
    out << YAML::EndMap;
  }
  if (!w.labels.empty()) {
    out << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
    for (const auto& [k, v] : w.labels) {
      out << YAML::Key << k << YAML::Value << YAML::DoubleQuoted << v;
    }
    out << YAML::EndMap;
  }
  out << YAML::Key << "serviceAccount" << YAML::Value << w.service_account;
  out << YAML::Key << "weight" << YAML::Value << 1;
  out << YAML::EndMap << YAML::EndMap;
  d.text = std::string(out.c_str()) + "\n";
  d.workload = std::move(w);
  return d;
}

const char* toString(SyncState s) {
  switch (s) {
    case SyncState::kSynced:
      return "SYNCED";
    case SyncState::kStale:
      return "STALE";
    case SyncState::kNack:
      return "NACK";
  }
  return "?";
}

SyncState NodeState::state() const {
  if (nack_version != 0 && nack_version >= version_acked) return SyncState::kNack;
  if (version_sent != 0 && version_acked == version_sent) return SyncState::kSynced;
  return SyncState::kStale;
}

bool Registry::upsert(const NodeInfo& info, uint64_t now_ms, std::string& error) {
  Document we = workloadEntryFor(info);
  const std::string key = we.key();
  if (store_.find(key) && store_.layerOf(key) != Store::Layer::kRegistry) {
    error = "WorkloadEntry " + info.namespace_name + "/" + info.id +
            " is already defined by the configuration; use another node id";
    return false;
  }
  auto it = nodes_.find(info.id);
  if (it != nodes_.end() && !(it->second.info.namespace_name == info.namespace_name)) {
    // Same id in another namespace: the old WorkloadEntry goes.
    store_.removeRegistryDocument(workloadEntryFor(it->second.info).key());
  }
  NodeState& n = nodes_[info.id];
  if (it == nodes_.end()) n.registered_ms = now_ms;
  n.info = info;
  n.last_seen_ms = now_ms;
  store_.putRegistryDocument(std::move(we));
  if (on_change_) on_change_();
  return true;
}

bool Registry::remove(const std::string& id) {
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return false;
  const std::string key = workloadEntryFor(it->second.info).key();
  nodes_.erase(it);
  store_.removeRegistryDocument(key);
  if (on_change_) on_change_();
  return true;
}

std::string nodeJson(const NodeInfo& n) {
  json ports = json::array();
  for (const NodePort& p : n.ports) {
    ports.push_back({{"name", p.name}, {"port", p.port}, {"app_port", p.app_port}});
  }
  json j = {{"id", n.id},
            {"workload", n.workload},
            {"namespace", n.namespace_name},
            {"service_account", n.service_account},
            {"service", n.service},
            {"labels", n.labels},
            {"address", n.address},
            {"ports", ports},
            {"admin", n.admin},
            {"scope", n.scope}};
  return j.dump();
}

std::string Registry::dump() const {
  std::string out;
  for (const auto& [id, n] : nodes_) out += nodeJson(n.info) + "\n";
  return out;
}

std::vector<std::string> Registry::restore(const std::string& text, uint64_t now_ms,
                                           std::vector<std::string>& errors) {
  std::vector<std::string> ids;
  size_t pos = 0;
  int line = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view ln(text.data() + pos, end - pos);
    pos = end + 1;
    ++line;
    if (ln.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    std::string error;
    std::optional<NodeInfo> info = parseNodeJson(ln, error);
    if (info && upsert(*info, now_ms, error)) {
      ids.push_back(info->id);
    } else {
      errors.push_back("line " + std::to_string(line) + ": " + error);
    }
  }
  return ids;
}

NodeState* Registry::find(const std::string& id) {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : &it->second;
}

std::vector<std::string> Registry::expired(uint64_t now_ms, uint64_t ttl_ms) const {
  std::vector<std::string> out;
  for (const auto& [id, n] : nodes_) {
    if (n.active_polls == 0 && now_ms > n.last_seen_ms && now_ms - n.last_seen_ms > ttl_ms) {
      out.push_back(id);
    }
  }
  return out;
}

void Registry::ack(NodeState& node, uint64_t version, const std::string& error) {
  if (error.empty()) {
    if (version >= node.version_acked) node.version_acked = version;
    if (node.nack_version <= version) {
      node.nack_version = 0;
      node.nack_error.clear();
    }
  } else {
    node.nack_version = version;
    node.nack_error = error;
  }
}

}  // namespace weft::control
