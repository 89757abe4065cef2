// libFuzzer target: arbitrary bytes as a bootstrap file and as an Istio resource file, through
// the parser, the compiler (also on partially invalid resources), the route table and the JSON
// dump. Nothing may crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string>

#include "mesh/bootstrap.h"
#include "mesh/compiler.h"
#include "mesh/resources.h"
#include "mesh/snapshot.h"

namespace {

const weft::mesh::Bootstrap& fixedBootstrap() {
  static const weft::mesh::Bootstrap bootstrap = [] {
    auto r = weft::mesh::parseBootstrap(
        "node: {id: fuzz-0, service: fuzz, namespace: default, labels: {app: fuzz}}\n"
        "inbound: {address: 127.0.0.1, port: 15006, app: 127.0.0.1:9080}\n",
        "fuzz-bootstrap.yaml");
    return r.bootstrap.value_or(weft::mesh::Bootstrap{});
  }();
  return bootstrap;
}

void exercise(const weft::mesh::Snapshot& snapshot) {
  (void)weft::mesh::toJson(snapshot);
  const auto& table = snapshot.outbound_routes;
  for (const auto& vh : table.virtual_hosts) {
    const weft::mesh::VirtualHost* found = table.find(vh.service_host, vh.port);
    (void)found;
    for (const auto& route : vh.routes) {
      for (const auto& m : route.matches) {
        if (m.uri) (void)m.uri->matches("/api/v1/reviews?x=1");
        if (m.method) (void)m.method->matches("GET");
        for (const auto& h : m.headers) (void)h.match.matches("jason");
      }
    }
  }
  (void)table.find("reviews", 9080);
  (void)table.find("A.Example.COM.", 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);

  weft::mesh::BootstrapResult boot = weft::mesh::parseBootstrap(text, "bootstrap.yaml");
  for (const auto& e : boot.errors) (void)e.format();
  if (boot.bootstrap) {
    (void)boot.bootstrap->node.spiffeId();
    (void)boot.bootstrap->node.canonicalService();
  }

  weft::mesh::ParseResult parsed = weft::mesh::parseResources({{"mesh.yaml", text}});
  weft::mesh::ConfigErrors errors = parsed.errors;
  auto snapshot = weft::mesh::compileSnapshot(fixedBootstrap(), parsed.resources, errors);
  for (const auto& e : errors) (void)e.format();
  exercise(*snapshot);
  return 0;
}
