// Control-plane protocol JSON (see protocol.h).
#include "discovery/protocol.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

namespace weft::discovery {

namespace {

using Json = nlohmann::ordered_json;

bool isWildcard(const std::string& host) {
  return host == "0.0.0.0" || host == "::";
}

std::string advertised(const mesh::SocketAddress& a, const std::string& address) {
  mesh::SocketAddress out = a;
  if (isWildcard(out.host)) out.host = address;
  return mesh::toString(out);
}

}  // namespace

std::string nodeJson(const mesh::Bootstrap& b, const std::string& address) {
  Json j;
  j["id"] = b.node.id;
  j["workload"] = b.node.workload;
  j["namespace"] = b.node.namespace_name;
  j["service_account"] = b.node.service_account;
  j["service"] = b.node.service;
  j["labels"] = b.node.labels;
  j["address"] = isWildcard(b.inbound.host) ? address : b.inbound.host;
  j["ports"] =
      Json::array({{{"name", "http"}, {"port", b.inbound.port}, {"app_port", b.inbound_app.port}}});
  j["admin"] = advertised(b.admin, address);
  j["scope"] = b.control_plane ? b.control_plane->scope : std::string("full");
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

size_t TrustBundle::rootCount() const {
  size_t n = 0;
  for (size_t p = roots_pem.find("-----BEGIN CERTIFICATE-----"); p != std::string::npos;
       p = roots_pem.find("-----BEGIN CERTIFICATE-----", p + 1)) {
    ++n;
  }
  return n;
}

std::optional<mesh::PushedConfig> parseConfigResponse(std::string_view body, std::string& error,
                                                      TrustBundle* bundle) {
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    error = "the config answer is not JSON";
    return std::nullopt;
  }
  if (!j.is_object()) {
    error = "the config answer is not a JSON object";
    return std::nullopt;
  }
  mesh::PushedConfig c;
  auto v = j.find("version");
  if (v == j.end() || !v->is_number_unsigned()) {
    error = "the config answer has no unsigned integer 'version'";
    return std::nullopt;
  }
  c.version = v->get<uint64_t>();
  auto r = j.find("resources");
  if (r == j.end() || !r->is_string()) {
    error = "the config answer has no string 'resources'";
    return std::nullopt;
  }
  c.setResources(r->get_ref<const std::string&>());
  if (auto tb = j.find("trust_bundle"); bundle && tb != j.end() && tb->is_object()) {
    // Tolerant: a bundle of an unexpected shape is ignored, not a reason to reject the push.
    auto roots = tb->find("roots");
    auto signing = tb->find("signing_root");
    if (roots != tb->end() && roots->is_string()) {
      bundle->roots_pem = roots->get<std::string>();
      if (signing != tb->end() && signing->is_string()) {
        bundle->signing_root = signing->get<std::string>();
      }
    }
  }
  if (auto bf = j.find("built_from"); bf != j.end() && !bf->is_null()) {
    if (!bf->is_array()) {
      error = "'built_from' in the config answer is not a list";
      return std::nullopt;
    }
    for (const auto& item : *bf) {
      if (!item.is_string()) {
        error = "'built_from' in the config answer holds a non-string";
        return std::nullopt;
      }
      c.built_from.push_back(item.get<std::string>());
    }
  }
  return c;
}

std::string ackJson(uint64_t version, const std::string& error) {
  Json j;
  j["version"] = version;
  if (!error.empty()) j["error"] = error;
  // Replace invalid UTF-8 (error texts quote configuration bytes) instead of throwing.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string interestJson(const std::vector<std::string>& hosts) {
  Json j;
  j["hosts"] = hosts;
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::vector<std::string> interestHosts(std::string_view authority_host,
                                       const std::string& namespace_name) {
  std::string host(authority_host);
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::vector<std::string> out{host};
  // A short name (Host: reviews) means the service in the caller's namespace, as Istio
  // resolves it; "name.ns" its namespace's.
  const size_t dots = static_cast<size_t>(std::count(host.begin(), host.end(), '.'));
  if (dots == 0) out.push_back(host + "." + namespace_name + ".svc.cluster.local");
  if (dots == 1) out.push_back(host + ".svc.cluster.local");
  return out;
}

std::string nodePath(std::string_view node_id) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out = "/v1/nodes/";
  for (unsigned char c : node_id) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '.' || c == '_' || c == '~';
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace weft::discovery
