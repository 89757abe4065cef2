// Materializing and scoping the resources pushed to sidecars (see scoped_set.h).
#include "push/scoped_set.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "mesh/resources.h"

namespace weft::control {

namespace {

void emitEndpoint(YAML::Emitter& out, const WorkloadInfo& w) {
  out << YAML::BeginMap;
  out << YAML::Key << "address" << YAML::Value << w.address;
  if (!w.ports.empty()) {
    out << YAML::Key << "ports" << YAML::Value << YAML::BeginMap;
    for (const auto& [n, p] : w.ports) out << YAML::Key << n << YAML::Value << p;
    out << YAML::EndMap;
  }
  if (!w.labels.empty()) {
    out << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
    for (const auto& [k, v] : w.labels)
      out << YAML::Key << k << YAML::Value << YAML::DoubleQuoted << v;
    out << YAML::EndMap;
  }
  if (!w.service_account.empty()) {
    out << YAML::Key << "serviceAccount" << YAML::Value << w.service_account;
  }
  out << YAML::Key << "weight" << YAML::Value << w.weight;
  out << YAML::EndMap;
}

// Emits `node` as YAML, replacing spec.workloadSelector with spec.endpoints.
void emitWithEndpoints(YAML::Emitter& out, const YAML::Node& node,
                       const std::vector<const WorkloadInfo*>& endpoints, int depth, bool in_spec) {
  if (node.IsMap()) {
    out << YAML::BeginMap;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string key = it->first.Scalar();
      if (in_spec && key == "workloadSelector") {
        if (endpoints.empty()) continue;
        out << YAML::Key << "endpoints" << YAML::Value << YAML::BeginSeq;
        for (const WorkloadInfo* w : endpoints) emitEndpoint(out, *w);
        out << YAML::EndSeq;
        continue;
      }
      out << YAML::Key << it->first;
      out << YAML::Value;
      emitWithEndpoints(out, it->second, endpoints, depth + 1, depth == 0 && key == "spec");
    }
    out << YAML::EndMap;
  } else {
    out << node;
  }
}

std::string protocolForPortName(const std::string& name) {
  auto starts = [&](std::string_view p) { return name.rfind(p, 0) == 0; };
  if (starts("grpc")) return "GRPC";
  if (starts("tcp")) return "TCP";
  if (starts("http2")) return "HTTP2";
  return "HTTP";
}

}  // namespace

uint64_t contentHash(std::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

MaterializedSet materialize(const std::vector<DocumentPtr>& docs,
                            const std::map<std::string, NodeState>& nodes) {
  MaterializedSet set;
  std::vector<DocumentPtr> workloads;
  std::map<std::pair<std::string, std::string>, uint64_t> workload_revision;  // (ns, name)
  std::set<std::string> se_hosts;
  for (const DocumentPtr& d : docs) {
    if (d->kind == "WorkloadEntry" && d->workload) {
      workloads.push_back(d);
      workload_revision[{d->namespace_name, d->name}] = d->revision;
    }
    if (d->kind == "ServiceEntry") se_hosts.insert(d->hosts.begin(), d->hosts.end());
  }
  std::set<std::string> keys;
  for (const DocumentPtr& d : docs) {
    keys.insert(d->key());
    if (d->kind == "WorkloadEntry") continue;
    if (d->kind == "Sidecar") {
      set.sidecars.push_back(d);
      continue;
    }
    if (d->kind != "ServiceEntry" || !d->selector) {
      set.resources.push_back(d);
      continue;
    }
    // Resolve the selector into the matching WorkloadEntries of the same namespace.
    std::vector<const WorkloadInfo*> endpoints;
    uint64_t revision = d->revision;
    for (const DocumentPtr& w : workloads) {
      if (w->namespace_name != d->namespace_name) continue;
      if (!labelsMatch(*d->selector, w->workload->labels)) continue;
      endpoints.push_back(&*w->workload);
      revision = std::max(revision, w->revision);
    }
    YAML::Node node;
    try {
      node = YAML::Load(d->text);
    } catch (const YAML::Exception&) {
      set.resources.push_back(d);  // validated when stored: should not happen
      continue;
    }
    YAML::Emitter out;
    emitWithEndpoints(out, node, endpoints, 0, false);
    auto copy = std::make_shared<Document>(*d);
    copy->text = std::string(out.c_str()) + "\n";
    copy->parsed.reset();  // the original's reading has no endpoints
    copy->first_line = 0;
    copy->revision = revision;
    set.resources.push_back(std::move(copy));
  }
  // One synthesized ServiceEntry per registered service that no ServiceEntry defines or selects.
  std::map<std::pair<std::string, std::string>, std::vector<const NodeState*>> services;
  for (const auto& [id, n] : nodes) {
    if (!n.info.service.empty()) services[{n.info.namespace_name, n.info.service}].push_back(&n);
  }
  for (const auto& [svc, members] : services) {
    const auto& [ns, service] = svc;
    const std::string host = service + "." + ns + ".svc.cluster.local";
    if (se_hosts.count(host)) continue;
    bool selected = false;
    for (const DocumentPtr& d : docs) {
      if (d->kind != "ServiceEntry" || !d->selector || d->namespace_name != ns) continue;
      for (const NodeState* n : members)
        selected = selected || labelsMatch(*d->selector, n->info.labels);
    }
    if (selected) continue;
    std::string name = service;
    if (keys.count("ServiceEntry/" + ns + "/" + name)) name += "-registered";
    if (keys.count("ServiceEntry/" + ns + "/" + name)) continue;
    std::map<std::string, uint16_t> ports;  // name -> service port (the app port)
    for (const NodeState* n : members) {
      for (const auto& p : n->info.ports) ports.emplace(p.name, p.app_port);
    }
    if (ports.empty()) continue;
    std::set<uint16_t> numbers;
    YAML::Emitter out;
    out << YAML::BeginMap;
    out << YAML::Key << "apiVersion" << YAML::Value << "networking.istio.io/v1";
    out << YAML::Key << "kind" << YAML::Value << "ServiceEntry";
    out << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap << YAML::Key << "name"
        << YAML::Value << name << YAML::Key << "namespace" << YAML::Value << ns << YAML::EndMap;
    out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "hosts" << YAML::Value << YAML::BeginSeq << host << YAML::EndSeq;
    out << YAML::Key << "location" << YAML::Value << "MESH_INTERNAL";
    out << YAML::Key << "resolution" << YAML::Value << "STATIC";
    out << YAML::Key << "ports" << YAML::Value << YAML::BeginSeq;
    for (const auto& [pname, number] : ports) {
      if (!numbers.insert(number).second) continue;  // two names for one number: first wins
      out << YAML::BeginMap << YAML::Key << "number" << YAML::Value << number << YAML::Key << "name"
          << YAML::Value << pname << YAML::Key << "protocol" << YAML::Value
          << protocolForPortName(pname) << YAML::EndMap;
    }
    out << YAML::EndSeq;
    out << YAML::Key << "endpoints" << YAML::Value << YAML::BeginSeq;
    uint64_t revision = 0;
    for (const NodeState* n : members) {
      WorkloadInfo w;
      w.address = n->info.address;
      for (const auto& p : n->info.ports) w.ports[p.name] = p.port;
      w.labels = n->info.labels;
      w.service_account = n->info.service_account;
      emitEndpoint(out, w);
      auto r = workload_revision.find({ns, n->info.id});
      if (r != workload_revision.end()) revision = std::max(revision, r->second);
    }
    out << YAML::EndSeq << YAML::EndMap << YAML::EndMap;
    auto doc = std::make_shared<Document>();
    doc->kind = "ServiceEntry";
    doc->namespace_name = ns;
    doc->name = name;
    doc->source = "registry";
    doc->text = std::string(out.c_str()) + "\n";
    doc->hosts = {host};
    doc->revision = revision;
    set.resources.push_back(std::move(doc));
  }
  std::sort(set.resources.begin(), set.resources.end(),
            [](const DocumentPtr& a, const DocumentPtr& b) { return a->key() < b->key(); });
  return set;
}

bool egressHostMatches(std::string_view egress, std::string_view node_ns, std::string_view ns,
                       std::string_view host) {
  size_t slash = egress.find('/');
  if (slash == std::string_view::npos) return false;
  std::string_view e_ns = egress.substr(0, slash);
  std::string_view e_host = egress.substr(slash + 1);
  if (e_ns == "~") return false;
  if (e_ns == ".") {
    if (ns != node_ns) return false;
  } else if (e_ns != "*" && e_ns != ns) {
    return false;
  }
  return mesh::hostCovers(e_host, host);
}

const Document* selectSidecar(const MaterializedSet& set, const std::string& namespace_name,
                              const std::map<std::string, std::string>& labels) {
  // One of the node's namespace whose selector matches it (sorted by key, so the first wins).
  for (const DocumentPtr& s : set.sidecars) {
    if (s->namespace_name != namespace_name || !s->selector) continue;
    if (labelsMatch(*s->selector, labels)) return s.get();
  }
  // Else the namespace's default, else the mesh-wide default of the root namespace.
  for (const std::string& ns : {namespace_name, std::string(kRootNamespace)}) {
    for (const DocumentPtr& s : set.sidecars) {
      if (s->namespace_name == ns && !s->selector) return s.get();
    }
  }
  return nullptr;
}

ScopedSet scopeFor(const MaterializedSet& set, const std::string& namespace_name,
                   const std::map<std::string, std::string>& labels,
                   const std::set<std::string>* interest) {
  return scopeFor(set, namespace_name, selectSidecar(set, namespace_name, labels), interest);
}

ScopedSet scopeFor(const MaterializedSet& set, const std::string& namespace_name,
                   const Document* sidecar, const std::set<std::string>* interest) {
  ScopedSet out;
  if (sidecar) out.sidecar = sidecar->namespace_name + "/" + sidecar->name;
  for (const DocumentPtr& d : set.resources) {
    if (!d->visibleFrom(namespace_name)) continue;
    if (sidecar && !sidecar->egress_hosts.empty() && !d->hosts.empty()) {
      bool visible = false;
      for (const auto& e : sidecar->egress_hosts) {
        for (const auto& h : d->hosts) {
          visible = visible || egressHostMatches(e, namespace_name, d->namespace_name, h);
        }
      }
      if (!visible) continue;
    }
    if (interest && !d->hosts.empty()) {
      bool wanted = false;
      for (const auto& h : d->hosts) {
        for (const auto& i : *interest) wanted = wanted || mesh::hostCovers(h, i);
      }
      if (!wanted) continue;
    }
    if (!out.yaml.empty()) out.yaml += "---\n";
    out.yaml += d->text;
    if (!d->text.empty() && d->text.back() != '\n') out.yaml += '\n';
    out.built_from.push_back(d->displayName() + "@" + std::to_string(d->revision));
    out.documents.push_back(d);
  }
  out.hash = contentHash(out.yaml);
  return out;
}

}  // namespace weft::control
