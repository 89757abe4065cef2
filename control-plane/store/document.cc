// Splitting multi-document YAML and reading each document's identity (see document.h).
#include "store/document.h"

#include <limits>

#include "mesh/resources.h"
#include "mesh/yaml_reader.h"

namespace weft::control {

namespace {

std::string q(std::string_view s) {
  return "'" + std::string(s) + "'";
}

void readWorkloadEntry(mesh::YamlContext& ctx, const YAML::Node& spec, Document& doc) {
  auto map = mesh::YamlMap::open(ctx, spec, "WorkloadEntry spec",
                                 {"address", "ports", "labels", "serviceAccount", "weight"},
                                 {"locality", "network"});
  if (!map) return;
  WorkloadInfo w;
  if (const YAML::Node* n = map->require("address")) {
    if (auto v = mesh::readNonEmptyString(ctx, *n, "address")) {
      if (mesh::isIpAddress(*v)) {
        w.address = *v;
      } else {
        ctx.error(n->Mark(), "'address' must be a numeric IP address, not " + q(*v));
      }
    }
  }
  if (const YAML::Node* n = map->find("ports")) {
    if (auto ports = mesh::YamlMap::openAny(ctx, *n, "'ports'")) {
      for (const auto& e : ports->entries()) {
        if (auto v = mesh::readPort(ctx, e.value, e.key)) w.ports[e.key] = *v;
      }
    }
  }
  if (const YAML::Node* n = map->find("labels")) {
    if (auto v = mesh::readStringMap(ctx, *n, "labels")) w.labels = *v;
  }
  if (const YAML::Node* n = map->find("serviceAccount")) {
    if (auto v = mesh::readString(ctx, *n, "serviceAccount")) w.service_account = *v;
  }
  if (const YAML::Node* n = map->find("weight")) {
    if (auto v = mesh::readUint(ctx, *n, "weight", 1, std::numeric_limits<uint32_t>::max())) {
      w.weight = static_cast<uint32_t>(*v);
    }
  }
  doc.workload = std::move(w);
}

std::optional<std::map<std::string, std::string>> readSelector(mesh::YamlContext& ctx,
                                                               const YAML::Node& node) {
  auto map = mesh::YamlMap::open(ctx, node, "'workloadSelector'", {"labels"});
  if (!map) return std::nullopt;
  std::map<std::string, std::string> labels;
  if (const YAML::Node* n = map->find("labels")) {
    if (auto v = mesh::readStringMap(ctx, *n, "labels")) labels = *v;
  }
  return labels;
}

// A Sidecar egress host: "<namespace>/<host>" where namespace is "*", ".", "~" or a name.
bool validEgressHost(const std::string& h) {
  size_t slash = h.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= h.size()) return false;
  std::string ns = h.substr(0, slash);
  std::string host = h.substr(slash + 1);
  if (ns != "*" && ns != "." && ns != "~" && !mesh::isDnsLabel(ns)) return false;
  if (host == "*") return true;
  if (host.size() > 2 && host[0] == '*' && host[1] == '.') return mesh::isDnsName(host.substr(2));
  return mesh::isDnsName(mesh::toLower(host));
}

void readSidecar(mesh::YamlContext& ctx, const YAML::Node& spec, Document& doc) {
  auto map = mesh::YamlMap::open(ctx, spec, "Sidecar spec", {"workloadSelector", "egress"},
                                 {"ingress", "outboundTrafficPolicy", "inboundConnectionPool"});
  if (!map) return;
  if (const YAML::Node* n = map->find("workloadSelector")) doc.selector = readSelector(ctx, *n);
  if (const YAML::Node* n = map->find("egress")) {
    if (!n->IsSequence()) {
      ctx.error(n->Mark(), "'egress' must be a list, not " + mesh::describeNode(*n));
      return;
    }
    for (const auto& item : *n) {
      auto e = mesh::YamlMap::open(ctx, item, "a Sidecar egress entry", {"hosts"},
                                   {"port", "bind", "captureMode"});
      if (!e) continue;
      const YAML::Node* hosts = e->require("hosts");
      if (!hosts) continue;
      auto list = mesh::readStringList(ctx, *hosts, "hosts");
      if (!list) continue;
      if (list->empty()) ctx.error(hosts->Mark(), "'hosts' must not be empty");
      for (size_t i = 0; i < list->size(); ++i) {
        if (!validEgressHost((*list)[i])) {
          ctx.error((*hosts)[i].Mark(), "egress host " + q((*list)[i]) +
                                            " must be <namespace>/<host> (namespace '*', '.', "
                                            "'~' or a name; host '*', '*.suffix' or a DNS name)");
        } else {
          doc.egress_hosts.push_back(mesh::toLower((*list)[i]));
        }
      }
    }
  }
}

// The hosts of a ServiceEntry, VirtualService or DestinationRule, read loosely.
void readHosts(const Document& d, const YAML::Node& spec, std::vector<std::string>& out) {
  auto add = [&](const YAML::Node& n) {
    if (!n.IsScalar()) return;
    out.push_back(d.kind == "ServiceEntry" ? mesh::toLower(n.Scalar())
                                           : mesh::expandHost(n.Scalar(), d.namespace_name));
  };
  if (d.kind == "DestinationRule") {
    if (spec["host"]) add(spec["host"]);
    return;
  }
  const YAML::Node hosts = spec["hosts"];
  if (hosts && hosts.IsSequence()) {
    for (const auto& h : hosts) add(h);
  }
}

}  // namespace

const mesh::ParseResult& parsedResources(const Document& doc) {
  if (!doc.parsed) {
    doc.parsed = std::make_shared<const mesh::ParseResult>(
        mesh::parseResources({{doc.source, doc.text, doc.first_line}}));
  }
  return *doc.parsed;
}

mesh::ParseResult mergeParsed(const std::vector<DocumentPtr>& docs) {
  mesh::ParseResult out;
  for (const DocumentPtr& d : docs) {
    if (d->kind == "WorkloadEntry" || d->kind == "Sidecar") continue;
    const mesh::ParseResult& p = parsedResources(*d);
    const mesh::Resources& r = p.resources;
    out.resources.service_entries.insert(out.resources.service_entries.end(),
                                         r.service_entries.begin(), r.service_entries.end());
    out.resources.destination_rules.insert(out.resources.destination_rules.end(),
                                           r.destination_rules.begin(), r.destination_rules.end());
    out.resources.virtual_services.insert(out.resources.virtual_services.end(),
                                          r.virtual_services.begin(), r.virtual_services.end());
    out.errors.insert(out.errors.end(), p.errors.begin(), p.errors.end());
  }
  return out;
}

bool Document::visibleFrom(const std::string& node_namespace) const {
  if (!export_to) return true;
  for (const auto& e : *export_to) {
    if (e == "*" || e == node_namespace || (e == "." && namespace_name == node_namespace)) {
      return true;
    }
  }
  return false;
}

bool labelsMatch(const std::map<std::string, std::string>& selector,
                 const std::map<std::string, std::string>& labels) {
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

ReadResult readDocuments(const std::string& text, const std::string& source, bool identity_only) {
  ReadResult result;
  for (mesh::YamlDocumentText& td : mesh::splitYamlDocuments(text)) {
    mesh::YamlContext ctx(source, result.errors, td.first_line);
    Document doc;
    doc.text = std::move(td.text);
    doc.first_line = td.first_line;
    doc.source = source;
    auto nodes = mesh::loadYamlDocuments(ctx, doc.text);
    if (!nodes) continue;
    if (nodes->size() != 1 || (*nodes)[0].IsNull()) continue;
    const YAML::Node& root = (*nodes)[0];
    if (!root.IsMap()) {
      ctx.error(root.Mark(), "a resource must be a map, not " + mesh::describeNode(root));
      continue;
    }
    const YAML::Node kind = root["kind"];
    if (!kind || !kind.IsScalar() || kind.Scalar().empty()) {
      ctx.error(root.Mark(), "missing required field 'kind'");
      continue;
    }
    doc.kind = kind.Scalar();
    const YAML::Node meta = root["metadata"];
    if (!meta || !meta.IsMap()) {
      ctx.error(root.Mark(), "missing required field 'metadata'");
      continue;
    }
    const YAML::Node name = meta["name"];
    if (!name || !name.IsScalar() || !mesh::isDnsName(name.Scalar())) {
      ctx.error(name ? name.Mark() : meta.Mark(), "'metadata.name' must be a lower-case DNS name");
      continue;
    }
    doc.name = name.Scalar();
    if (const YAML::Node ns = meta["namespace"]) {
      if (!ns.IsScalar() || !mesh::isDnsLabel(ns.Scalar())) {
        ctx.error(ns.Mark(), "'metadata.namespace' must be a DNS label");
        continue;
      }
      doc.namespace_name = ns.Scalar();
    }
    if (!identity_only) {
      const YAML::Node spec = root["spec"];
      if (doc.kind == "WorkloadEntry" || doc.kind == "Sidecar") {
        auto top = mesh::YamlMap::open(ctx, root, "a resource",
                                       {"apiVersion", "kind", "metadata", "spec"}, {"status"});
        const YAML::Node* s = top ? top->require("spec") : nullptr;
        if (const YAML::Node* a = top ? top->require("apiVersion") : nullptr) {
          if (!a->IsScalar() || a->Scalar().rfind("networking.istio.io/", 0) != 0) {
            ctx.error(a->Mark(), "apiVersion must be networking.istio.io/v1, v1beta1 or v1alpha3");
          }
        }
        if (s && doc.kind == "WorkloadEntry") readWorkloadEntry(ctx, *s, doc);
        if (s && doc.kind == "Sidecar") readSidecar(ctx, *s, doc);
      } else if (spec && spec.IsMap() &&
                 (doc.kind == "ServiceEntry" || doc.kind == "VirtualService" ||
                  doc.kind == "DestinationRule")) {
        readHosts(doc, spec, doc.hosts);
        if (const YAML::Node e = spec["exportTo"]) {
          std::vector<std::string> to;
          if (e.IsSequence()) {
            for (const auto& item : e) {
              if (item.IsScalar()) to.push_back(item.Scalar());
            }
          }
          doc.export_to = std::move(to);
        }
        if (doc.kind == "ServiceEntry") {
          const YAML::Node sel = spec["workloadSelector"];
          if (sel) {
            mesh::ConfigErrors ignored;  // the validator reports them
            mesh::YamlContext quiet(source, ignored);
            doc.selector = readSelector(quiet, sel);
            if (doc.selector && spec["endpoints"]) {
              ctx.error(sel.Mark(), "'workloadSelector' and 'endpoints' are exclusive");
            }
            if (!doc.selector) ctx.error(sel.Mark(), "'workloadSelector' must be {labels: {...}}");
          }
        }
      }
    }
    result.documents.push_back(std::move(doc));
  }
  return result;
}

}  // namespace weft::control
