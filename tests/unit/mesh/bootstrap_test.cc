// Bootstrap parsing: every key, defaults, and positioned errors.
#include "mesh/bootstrap.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>

#include "mesh/yaml_reader.h"
#include "mesh_test_util.h"

namespace weft::mesh {
namespace {

using testing::formatAll;

TEST(BootstrapTest, ParsesEveryKey) {
  const std::string text = R"(node:
  id: reviews-v1-0
  workload: reviews-v1
  service: reviews
  namespace: shop
  service_account: reviews
  cluster_id: east
  trust_domain: example.org
  labels: {app: reviews, version: v1}
admin:    {address: 127.0.0.1, port: 15000}
outbound: {address: "::1", port: 15001}
inbound:  {address: 0.0.0.0, port: 15006, app: 127.0.0.1:9080}
resources: []
access_log: {path: stdout, format: json}
timeouts: {header_read: 1.5s, downstream_idle: 1m, upstream_connect: 250ms, upstream_pool_idle: 3s, drain: 0s}
limits: {max_request_header_bytes: 8192, max_request_headers: 50, retry_buffer_bytes: 0}
)";
  BootstrapResult r = parseBootstrap(text, "b.yaml");
  ASSERT_TRUE(r.bootstrap) << formatAll(r.errors);
  EXPECT_TRUE(r.errors.empty()) << formatAll(r.errors);
  const Bootstrap& b = *r.bootstrap;
  EXPECT_EQ(b.path, "b.yaml");
  EXPECT_EQ(b.node.id, "reviews-v1-0");
  EXPECT_EQ(b.node.workload, "reviews-v1");
  EXPECT_EQ(b.node.service, "reviews");
  EXPECT_EQ(b.node.namespace_name, "shop");
  EXPECT_EQ(b.node.service_account, "reviews");
  EXPECT_EQ(b.node.cluster_id, "east");
  EXPECT_EQ(b.node.trust_domain, "example.org");
  EXPECT_EQ(b.node.labels.at("version"), "v1");
  EXPECT_EQ(b.admin.host, "127.0.0.1");
  EXPECT_EQ(b.admin.port, 15000);
  EXPECT_EQ(b.outbound.host, "::1");
  EXPECT_EQ(b.inbound.host, "0.0.0.0");
  EXPECT_EQ(b.inbound.port, 15006);
  EXPECT_EQ(b.inbound_app.host, "127.0.0.1");
  EXPECT_EQ(b.inbound_app.port, 9080);
  EXPECT_TRUE(b.resources.empty());
  EXPECT_TRUE(b.access_log.enabled);
  EXPECT_EQ(b.access_log.path, "stdout");
  EXPECT_EQ(b.timeouts.header_read_ms, 1500u);
  EXPECT_EQ(b.timeouts.downstream_idle_ms, 60'000u);
  EXPECT_EQ(b.timeouts.upstream_connect_ms, 250u);
  EXPECT_EQ(b.timeouts.upstream_pool_idle_ms, 3000u);
  EXPECT_EQ(b.timeouts.drain_ms, 0u);
  EXPECT_EQ(b.max_request_header_bytes, 8192u);
  EXPECT_EQ(b.max_request_headers, 50u);
  EXPECT_EQ(b.retry_buffer_bytes, 0u);
}

TEST(BootstrapTest, Defaults) {
  BootstrapResult r = parseBootstrap("node: {id: a, service: ratings}\n", "b.yaml");
  ASSERT_TRUE(r.bootstrap) << formatAll(r.errors);
  const Bootstrap& b = *r.bootstrap;
  EXPECT_EQ(b.node.workload, "ratings");
  EXPECT_EQ(b.node.namespace_name, "default");
  EXPECT_EQ(b.node.service_account, "default");
  EXPECT_EQ(b.node.cluster_id, "Kubernetes");
  EXPECT_EQ(b.node.trust_domain, "cluster.local");
  EXPECT_EQ(toString(b.admin), "127.0.0.1:15000");
  EXPECT_EQ(toString(b.outbound), "127.0.0.1:15001");
  EXPECT_EQ(toString(b.inbound), "0.0.0.0:15006");
  EXPECT_EQ(toString(b.inbound_app), "127.0.0.1:8080");
  EXPECT_FALSE(b.access_log.enabled);
  EXPECT_EQ(b.timeouts.header_read_ms, 10'000u);
  EXPECT_EQ(b.timeouts.downstream_idle_ms, 300'000u);
  EXPECT_EQ(b.timeouts.upstream_connect_ms, 10'000u);
  EXPECT_EQ(b.timeouts.upstream_pool_idle_ms, 3'000u);
  EXPECT_EQ(b.timeouts.drain_ms, 5'000u);
  EXPECT_EQ(b.max_request_header_bytes, 61440u);
  EXPECT_EQ(b.max_request_headers, 100u);
  EXPECT_EQ(b.retry_buffer_bytes, 65536u);
}

TEST(BootstrapTest, CollectsAllErrorsWithPositions) {
  const std::string text = R"(node:
  id: reviews-v1-0
  service: reviews
  servise: typo
admin: {address: 127.0.0.1, port: 010}
outbound: {address: localhost, port: 15001}
inbound: {address: 0.0.0.0, port: 70000, app: 127.0.0.1:9080}
admin: {port: 1}
timeouts: {drain: 5 s, header_read: 0s}
limits: {max_request_headers: "100"}
access_log: {path: stdout, format: text}
)";
  BootstrapResult r = parseBootstrap(text, "b.yaml");
  EXPECT_FALSE(r.bootstrap);
  EXPECT_ENTRY(r.errors, "b.yaml:4:3: unknown field 'servise' in 'node'");
  EXPECT_ENTRY(r.errors,
               "b.yaml:5:35: 'port' '010' has a leading zero (YAML 1.1 would read it as octal); "
               "write it in decimal");
  EXPECT_ENTRY(r.errors, "b.yaml:6:21: 'address' must be a numeric IP address, not 'localhost'");
  EXPECT_ENTRY(r.errors, "b.yaml:7:35: 'port' must be between 1 and 65535, not 70000");
  EXPECT_ENTRY(r.errors, "b.yaml:8:1: duplicate key 'admin' in the bootstrap");
  EXPECT_ENTRY(r.errors,
               "b.yaml:9:19: 'drain' must be a duration such as \"10s\", \"250ms\", \"1.5s\" or "
               "\"1m\" (whole milliseconds), not '5 s'");
  EXPECT_ENTRY(r.errors, "b.yaml:9:37: 'header_read' must be between 1ms and 86400000ms, not 0s");
  EXPECT_ENTRY(r.errors,
               "b.yaml:10:31: 'max_request_headers' must be an unquoted decimal integer, not "
               "\"100\"");
  EXPECT_ENTRY(r.errors, "b.yaml:11:36: 'format' must be json, not 'text'");
  EXPECT_EQ(r.errors.size(), 9u) << formatAll(r.errors);
}

TEST(BootstrapTest, MissingKeysReportTheParentPosition) {
  BootstrapResult r = parseBootstrap("admin: {port: 15000}\n", "b.yaml");
  EXPECT_ENTRY(r.errors, "b.yaml:1:1: missing required field 'node' in the bootstrap");

  r = parseBootstrap("resources: []\nnode:\n  service: reviews\n", "b.yaml");
  EXPECT_ENTRY(r.errors, "b.yaml:3:3: missing required field 'id' in 'node'");
  EXPECT_EQ(r.errors.size(), 1u) << formatAll(r.errors);

  r = parseBootstrap("node: {id: x, service: s}\naccess_log: {format: json}\n", "b.yaml");
  EXPECT_ENTRY(r.errors, "b.yaml:2:13: missing required field 'path' in 'access_log'");
}

TEST(BootstrapTest, PortsMustBePlainDecimal) {
  struct Case {
    const char* port;
    const char* message;
  } cases[] = {
      {"010",
       "'port' '010' has a leading zero (YAML 1.1 would read it as octal); write it in "
       "decimal"},
      {"0x1f", "'port' must be a decimal integer, not '0x1f'"},
      {"+80", "'port' must be a decimal integer, not '+80'"},
      {"-1", "'port' must be a decimal integer, not '-1'"},
      {"0", "'port' must be between 1 and 65535, not 0"},
      {"65536", "'port' must be between 1 and 65535, not 65536"},
      {"99999999999999999999999",
       "'port' must be between 1 and 65535, not 99999999999999999999999"},
      {"'80'", "'port' must be an unquoted decimal integer, not \"80\""},
      {"yes", "'port' must be a decimal integer, not 'yes'"},
      {"8_0", "'port' must be a decimal integer, not '8_0'"},
      {"[80]", "'port' must be an integer, not a list"},
  };
  for (const auto& c : cases) {
    std::string text = std::string("node: {id: a, service: s}\nadmin: {port: ") + c.port + "}\n";
    BootstrapResult r = parseBootstrap(text, "b.yaml");
    EXPECT_FALSE(r.bootstrap) << c.port;
    EXPECT_ENTRY(r.errors, std::string("b.yaml:2:15: ") + c.message);
  }
  BootstrapResult ok = parseBootstrap("node: {id: a, service: s}\nadmin: {port: 65535}\n", "b");
  ASSERT_TRUE(ok.bootstrap) << formatAll(ok.errors);
  EXPECT_EQ(ok.bootstrap->admin.port, 65535);
}

TEST(BootstrapTest, SyntaxErrorHasPosition) {
  BootstrapResult r = parseBootstrap("node: {id: a, service: s\nadmin: {port: 1}\n", "b.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, "b.yaml");
  EXPECT_GT(r.errors[0].line, 0);
  EXPECT_GT(r.errors[0].column, 0);
  EXPECT_FALSE(r.errors[0].warning);

  r = parseBootstrap("node:\n  id: a\n   service: s\n", "b.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 3) << formatAll(r.errors);
}

TEST(BootstrapTest, WrongTypesAndEmptyInput) {
  BootstrapResult r = parseBootstrap("", "b.yaml");
  EXPECT_ENTRY(r.errors, "b.yaml: the bootstrap is empty");
  r = parseBootstrap("- a\n- b\n", "b.yaml");
  EXPECT_ENTRY(r.errors, "b.yaml:1:1: the bootstrap must be a map, not a list");
  r = parseBootstrap("node: [a]\n", "b.yaml");
  EXPECT_ENTRY(r.errors, "b.yaml:1:7: 'node' must be a map, not a list");
  r = parseBootstrap("node: {id: {a: b}, service: Reviews, labels: [x]}\n", "b.yaml");
  EXPECT_ENTRY(r.errors, "b.yaml:1:12: 'id' must be a string, not a map");
  EXPECT_ENTRY(r.errors,
               "b.yaml:1:29: 'service' must be a DNS label (lower-case letters, digits, '-'), not "
               "'Reviews'");
  EXPECT_ENTRY(r.errors, "b.yaml:1:46: 'labels' must be a map, not a list");
  r = parseBootstrap("node: {id: a, service: s}\nresources: mesh.yaml\n", "b.yaml");
  EXPECT_ENTRY(r.errors, "b.yaml:2:12: 'resources' must be a list of file paths, not a scalar");
  r = parseBootstrap("node: {id: a, service: s}\n---\nnode: {id: b, service: s}\n", "b.yaml");
  EXPECT_ENTRY(r.errors, "b.yaml: the bootstrap must be a single YAML document");
}

TEST(BootstrapTest, DuplicateKeysInNestedMaps) {
  const std::string text = "node:\n  id: a\n  service: s\n  id: b\n  labels: {app: x, app: y}\n";
  BootstrapResult r = parseBootstrap(text, "b.yaml");
  EXPECT_ENTRY(r.errors, "b.yaml:4:3: duplicate key 'id' in 'node'");
  EXPECT_ENTRY(r.errors, "b.yaml:5:20: duplicate key 'app' in 'labels'");
}

TEST(BootstrapTest, InboundApp) {
  auto parse = [](const std::string& app) {
    return parseBootstrap(
        "node: {id: a, service: s}\ninbound: {port: 15006, app: \"" + app + "\"}\n", "b.yaml");
  };
  auto r = parse("[::1]:9080");
  ASSERT_TRUE(r.bootstrap) << formatAll(r.errors);
  EXPECT_EQ(r.bootstrap->inbound_app.host, "::1");
  EXPECT_EQ(r.bootstrap->inbound_app.port, 9080);
  r = parse("localhost:9080");
  EXPECT_ENTRY(r.errors,
               "b.yaml:2:29: 'app' must be <numeric ip>:<port> (\"127.0.0.1:9080\", "
               "\"[::1]:9080\"), not 'localhost:9080'");
}

TEST(BootstrapTest, ListenerClashes) {
  auto r = parseBootstrap(
      "node: {id: a, service: s}\noutbound: {port: 15001}\ninbound: {port: 15006, app: "
      "127.0.0.1:15001}\n",
      "b.yaml");
  EXPECT_ENTRY(r.errors,
               "b.yaml:3:29: inbound app 127.0.0.1:15001 clashes with outbound listener "
               "127.0.0.1:15001");
  r = parseBootstrap("node: {id: a, service: s}\nadmin: {address: 0.0.0.0, port: 15006}\n",
                     "b.yaml");
  EXPECT_ENTRY(r.errors,
               "b.yaml:2:33: admin listener 0.0.0.0:15006 clashes with inbound listener "
               "0.0.0.0:15006");
}

TEST(BootstrapTest, ParseSocketAddress) {
  EXPECT_TRUE(parseSocketAddress("127.0.0.1:1"));
  EXPECT_TRUE(parseSocketAddress("[::]:65535"));
  EXPECT_FALSE(parseSocketAddress("127.0.0.1"));
  EXPECT_FALSE(parseSocketAddress("127.0.0.1:0"));
  EXPECT_FALSE(parseSocketAddress("127.0.0.1:080"));
  EXPECT_FALSE(parseSocketAddress("127.0.0.1:65536"));
  EXPECT_FALSE(parseSocketAddress("::1:80"));
  EXPECT_FALSE(parseSocketAddress("[127.0.0.1]:80"));
  EXPECT_FALSE(parseSocketAddress("host:80"));
  EXPECT_FALSE(parseSocketAddress("[::1]80"));
  EXPECT_EQ(toString(SocketAddress{"::1", 80}), "[::1]:80");
}

TEST(BootstrapTest, ResolvesResourcesAgainstTheBootstrapDirectory) {
  std::string dir = testing::sourceDir() + "/configs/example";
  BootstrapResult r = loadBootstrap(dir + "/bootstrap-reviews-v1.yaml");
  ASSERT_TRUE(r.bootstrap) << formatAll(r.errors);
  ASSERT_EQ(r.bootstrap->resources.size(), 1u);
  EXPECT_EQ(r.bootstrap->resources[0], dir + "/mesh.yaml");
}

TEST(BootstrapTest, MissingResourceFile) {
  auto tmp = std::filesystem::temp_directory_path() / "weft-mesh-bootstrap-test";
  std::filesystem::create_directories(tmp);
  std::string path = (tmp / "b.yaml").string();
  {
    std::ofstream out(path);
    out << "node: {id: a, service: s}\nresources:\n- nowhere-to-be-found.yaml\n";
  }
  BootstrapResult r = loadBootstrap(path);
  EXPECT_FALSE(r.bootstrap);
  EXPECT_ENTRY(r.errors, path +
                             ":3:3: resource file 'nowhere-to-be-found.yaml' not found (looked "
                             "for '" +
                             (tmp / "nowhere-to-be-found.yaml").string() + "')");
  std::filesystem::remove_all(tmp);

  r = loadBootstrap("/nonexistent/b.yaml");
  EXPECT_ENTRY(r.errors, "/nonexistent/b.yaml: cannot read the bootstrap file");
}

// === control_plane (dynamic mode) ===

// A scratch directory of its own per test (tests may run in parallel).
std::filesystem::path scratchDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("weft-cp-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

void writeFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

TEST(BootstrapControlPlaneTest, ParsesUrlTokenAndKeepsStaticResources) {
  auto dir = scratchDir("ok");
  writeFile(dir / "token", "  s3cr3t-reviews \r\nsecond line is ignored\n");
  writeFile(dir / "mesh.yaml", "");
  writeFile(dir / "b.yaml",
            "node: {id: a, service: s}\n"
            "resources: [mesh.yaml]\n"
            "control_plane: {url: \"http://127.0.0.1:15010/\", token_file: token}\n");
  BootstrapResult r = loadBootstrap((dir / "b.yaml").string());
  ASSERT_TRUE(r.bootstrap) << formatAll(r.errors);
  ASSERT_TRUE(r.bootstrap->control_plane);
  const ControlPlaneConfig& cp = *r.bootstrap->control_plane;
  EXPECT_EQ(cp.url, "http://127.0.0.1:15010/");
  EXPECT_EQ(cp.host, "127.0.0.1");
  EXPECT_EQ(cp.port, 15010);
  EXPECT_EQ(cp.baseUrl(), "http://127.0.0.1:15010");
  EXPECT_EQ(cp.token_file, (dir / "token").string());  // resolved like resource paths
  EXPECT_EQ(cp.token, "s3cr3t-reviews");
  EXPECT_EQ(cp.scope, "full");
  EXPECT_EQ(r.bootstrap->resources.size(), 1u);
  writeFile(dir / "b.yaml",
            "node: {id: a, service: s}\n"
            "control_plane: {url: \"http://127.0.0.1:15010\", token_file: token,\n"
            "                resource_scope: on_demand}\n");
  r = loadBootstrap((dir / "b.yaml").string());
  ASSERT_TRUE(r.bootstrap) << formatAll(r.errors);
  EXPECT_EQ(r.bootstrap->control_plane->scope, "on_demand");
  EXPECT_EQ(r.bootstrap->control_plane->cache_file, "");  // absent: no cache
  writeFile(dir / "b.yaml",
            "node: {id: a, service: s}\n"
            "control_plane: {url: \"http://127.0.0.1:15010\", token_file: token,\n"
            "                cache_file: cache/config.json}\n");
  r = loadBootstrap((dir / "b.yaml").string());
  ASSERT_TRUE(r.bootstrap) << formatAll(r.errors);
  // Resolved like the other bootstrap paths: against the bootstrap's directory.
  EXPECT_EQ(r.bootstrap->control_plane->cache_file, (dir / "cache/config.json").string());
  writeFile(dir / "b.yaml",
            "node: {id: a, service: s}\n"
            "control_plane: {url: \"http://127.0.0.1:15010\", token_file: token,\n"
            "                cache_file: \"\"}\n");
  r = loadBootstrap((dir / "b.yaml").string());
  EXPECT_FALSE(r.bootstrap);
  EXPECT_NE(formatAll(r.errors).find("cache_file"), std::string::npos) << formatAll(r.errors);
  std::filesystem::remove_all(dir);
}

TEST(BootstrapControlPlaneTest, AbsentMeansStaticMode) {
  BootstrapResult r = parseBootstrap("node: {id: a, service: s}\n", "b.yaml");
  ASSERT_TRUE(r.bootstrap) << formatAll(r.errors);
  EXPECT_FALSE(r.bootstrap->control_plane);
}

TEST(BootstrapControlPlaneTest, Urls) {
  std::string why;
  auto local = parseControlPlaneUrl("http://localhost:15010", why);
  ASSERT_TRUE(local) << why;
  EXPECT_EQ(local->host, "localhost");
  EXPECT_EQ(local->baseUrl(), "http://127.0.0.1:15010");
  auto v6 = parseControlPlaneUrl("http://[::1]:8080/", why);
  ASSERT_TRUE(v6) << why;
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->baseUrl(), "http://[::1]:8080");
  auto tls = parseControlPlaneUrl("https://localhost:15010/", why);
  ASSERT_TRUE(tls) << why;
  EXPECT_TRUE(tls->tls);
  EXPECT_EQ(tls->baseUrl(), "https://127.0.0.1:15010");
  EXPECT_FALSE(local->tls);
  for (const char* bad :
       {"ftp://127.0.0.1:15010", "127.0.0.1:15010", "https://cp.example.com:15010",
        "http://cp.example.com:15010", "http://127.0.0.1", "http://127.0.0.1:0",
        "http://127.0.0.1:015010", "http://127.0.0.1:15010/v1", "http://u@127.0.0.1:15010",
        "http://::1:15010", "http://localhost", "http://"}) {
    why.clear();
    EXPECT_FALSE(parseControlPlaneUrl(bad, why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(BootstrapControlPlaneTest, PositionedErrors) {
  auto dir = scratchDir("errors");
  writeFile(dir / "empty-token", "\n");
  std::string path = (dir / "b.yaml").string();
  writeFile(dir / "b.yaml",
            "node: {id: a, service: s}\n"
            "control_plane:\n"
            "  url: ftp://127.0.0.1:15010\n"
            "  token_file: no-such-token\n"
            "  resource_scope: some\n"
            "  tls: true\n");
  BootstrapResult r = loadBootstrap(path);
  EXPECT_FALSE(r.bootstrap);
  EXPECT_ENTRY(r.errors, path +
                             ":3:8: 'url' 'ftp://127.0.0.1:15010': only http:// and https:// "
                             "are supported");
  EXPECT_ENTRY(r.errors, path + ":4:15: token file 'no-such-token' cannot be read (looked for '" +
                             (dir / "no-such-token").string() + "')");
  EXPECT_ENTRY(r.errors, path + ":5:19: 'resource_scope' must be full or on_demand, not 'some'");
  EXPECT_ENTRY(r.errors, path + ":6:3: unknown field 'tls' in 'control_plane'");

  writeFile(dir / "b.yaml",
            "node: {id: a, service: s}\n"
            "control_plane: {url: \"http://10.0.0.1:15010\", token_file: empty-token}\n");
  r = loadBootstrap(path);
  EXPECT_FALSE(r.bootstrap);
  EXPECT_EQ(testing::matching(r.errors, "token file 'empty-token' is empty").size(), 1u)
      << formatAll(r.errors);

  // https: the roots that verify the control plane, relative to the bootstrap's directory.
  writeFile(dir / "token", "t\n");
  writeFile(dir / "b.yaml",
            "node: {id: a, service: s}\n"
            "control_plane: {url: \"https://127.0.0.1:1\", token_file: token}\n");
  r = loadBootstrap(path);
  EXPECT_FALSE(r.bootstrap);
  EXPECT_ENTRY(r.errors, path +
                             ":2:16: 'control_plane' with an https:// url needs "
                             "'ca_certificate' (the PEM roots that verify the control plane, "
                             "e.g. its trust-bundle.pem)");
  writeFile(dir / "b.yaml",
            "node: {id: a, service: s}\n"
            "control_plane: {url: \"https://127.0.0.1:1\", token_file: token,\n"
            "                ca_certificate: roots.pem}\n");
  r = loadBootstrap(path);
  EXPECT_EQ(testing::matching(r.errors, path + ":3:33: 'ca_certificate' file 'roots.pem' cannot "
                                               "be read")
                .size(),
            1u)
      << formatAll(r.errors);
  writeFile(dir / "roots.pem", "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n");
  r = loadBootstrap(path);
  ASSERT_TRUE(r.bootstrap) << formatAll(r.errors);
  EXPECT_TRUE(r.bootstrap->control_plane->tls);
  EXPECT_EQ(r.bootstrap->control_plane->ca_certificate, (dir / "roots.pem").string());
  EXPECT_NE(r.bootstrap->control_plane->ca_pem.find("BEGIN CERTIFICATE"), std::string::npos);

  r = parseBootstrap("node: {id: a, service: s}\ncontrol_plane: {}\n", "b.yaml");
  EXPECT_FALSE(r.bootstrap);
  EXPECT_ENTRY(r.errors, "b.yaml:2:16: missing required field 'url' in 'control_plane'");
  EXPECT_ENTRY(r.errors, "b.yaml:2:16: missing required field 'token_file' in 'control_plane'");

  r = parseBootstrap("node: {id: a, service: s}\ncontrol_plane: [x]\n", "b.yaml");
  EXPECT_FALSE(r.bootstrap);
  EXPECT_EQ(testing::matching(r.errors, "b.yaml:2:16:").size(), 1u) << formatAll(r.errors);
  std::filesystem::remove_all(dir);
}

TEST(NodeIdentityTest, DerivedValues) {
  NodeIdentity id;
  id.workload = "reviews-v1";
  id.service = "reviews";
  id.namespace_name = "shop";
  id.service_account = "bookinfo-reviews";
  EXPECT_EQ(id.app(), "unknown");
  EXPECT_EQ(id.version(), "unknown");
  EXPECT_EQ(id.canonicalService(), "reviews-v1");
  EXPECT_EQ(id.canonicalRevision(), "latest");
  EXPECT_EQ(id.spiffeId(), "spiffe://cluster.local/ns/shop/sa/bookinfo-reviews");
  EXPECT_EQ(id.serviceFqdn(), "reviews.shop.svc.cluster.local");

  id.labels = {{"app", "reviews"}, {"version", "v1"}};
  EXPECT_EQ(id.app(), "reviews");
  EXPECT_EQ(id.version(), "v1");
  EXPECT_EQ(id.canonicalService(), "reviews");
  EXPECT_EQ(id.canonicalRevision(), "v1");

  id.labels["service.istio.io/canonical-name"] = "reviews-canon";
  id.labels["service.istio.io/canonical-revision"] = "r7";
  EXPECT_EQ(id.canonicalService(), "reviews-canon");
  EXPECT_EQ(id.canonicalRevision(), "r7");
}

TEST(ConfigErrorTest, Format) {
  ConfigError e{"f.yaml", 3, 7, "bad", false};
  EXPECT_EQ(e.format(), "f.yaml:3:7: bad");
  e.warning = true;
  EXPECT_EQ(e.format(), "f.yaml:3:7: warning: bad");
  e.line = 0;
  EXPECT_EQ(e.format(), "f.yaml: warning: bad");
  EXPECT_FALSE(hasErrors({e}));
  e.warning = false;
  EXPECT_TRUE(hasErrors({e}));
  EXPECT_FALSE(hasErrors({}));
}

TEST(YamlReaderTest, Durations) {
  EXPECT_EQ(parseDurationMs("10s"), 10'000u);
  EXPECT_EQ(parseDurationMs("250ms"), 250u);
  EXPECT_EQ(parseDurationMs("1m"), 60'000u);
  EXPECT_EQ(parseDurationMs("1.5s"), 1'500u);
  EXPECT_EQ(parseDurationMs("1h30m"), 5'400'000u);
  EXPECT_EQ(parseDurationMs("0.001s"), 1u);
  EXPECT_EQ(parseDurationMs("0s"), 0u);
  EXPECT_EQ(parseDurationMs("1000us"), 1u);
  EXPECT_FALSE(parseDurationMs(""));
  EXPECT_FALSE(parseDurationMs("10"));
  EXPECT_FALSE(parseDurationMs("s"));
  EXPECT_FALSE(parseDurationMs("1.s"));
  EXPECT_FALSE(parseDurationMs(".5s"));
  EXPECT_FALSE(parseDurationMs("-1s"));
  EXPECT_FALSE(parseDurationMs("1.5ms"));  // not whole milliseconds
  EXPECT_FALSE(parseDurationMs("10 s"));
  EXPECT_FALSE(parseDurationMs("10d"));
  EXPECT_FALSE(parseDurationMs("999999999999h"));
}

TEST(YamlReaderTest, Names) {
  EXPECT_TRUE(isIpAddress("10.0.0.1"));
  EXPECT_TRUE(isIpAddress("fe80::1"));
  EXPECT_FALSE(isIpAddress("10.0.0"));
  EXPECT_FALSE(isIpAddress("010.0.0.1"));
  EXPECT_FALSE(isIpAddress("example.com"));
  EXPECT_TRUE(isDnsLabel("reviews-v1"));
  EXPECT_FALSE(isDnsLabel("-reviews"));
  EXPECT_FALSE(isDnsLabel("Reviews"));
  EXPECT_FALSE(isDnsLabel(std::string(64, 'a')));
  EXPECT_TRUE(isDnsName("reviews.default.svc.cluster.local"));
  EXPECT_FALSE(isDnsName("reviews..default"));
  EXPECT_FALSE(isDnsName("reviews."));
  EXPECT_TRUE(isHttpToken("x-request-id"));
  EXPECT_FALSE(isHttpToken("bad header"));
  EXPECT_FALSE(isHttpToken(":authority"));
}

TEST(BootstrapTest, TlsOptions) {
  BootstrapResult r = parseBootstrap(R"(node: {id: a, service: ratings}
tls:
  min_version: TLSv1_2
  cipher_suites: [ECDHE-ECDSA-AES128-GCM-SHA256, ECDHE-RSA-CHACHA20-POLY1305]
  tls13_cipher_suites: [TLS_AES_256_GCM_SHA384]
  ecdh_curves: [P-256]
)",
                                     "b.yaml");
  ASSERT_TRUE(r.bootstrap) << formatAll(r.errors);
  const TlsOptions& t = r.bootstrap->tls;
  EXPECT_TRUE(t.allow_tls12);
  EXPECT_EQ(t.cipher_suites.size(), 2u);
  EXPECT_EQ(t.tls13_cipher_suites, std::vector<std::string>{"TLS_AES_256_GCM_SHA384"});
  EXPECT_EQ(t.ecdh_curves, std::vector<std::string>{"P-256"});

  BootstrapResult d = parseBootstrap("node: {id: a, service: ratings}\n", "b.yaml");
  ASSERT_TRUE(d.bootstrap);
  EXPECT_FALSE(d.bootstrap->tls.allow_tls12);
  EXPECT_TRUE(d.bootstrap->tls.cipher_suites.empty());
}

TEST(BootstrapTest, TlsOptionsRefuseWeakChoices) {
  BootstrapResult r = parseBootstrap(R"(node: {id: a, service: ratings}
tls:
  min_version: TLSv1_0
  cipher_suites: [AES128-SHA, ECDHE-RSA-AES128-SHA]
  tls13_cipher_suites: [TLS_AES_128_CCM_8_SHA256]
  ecdh_curves: [secp192r1]
)",
                                     "b.yaml");
  EXPECT_FALSE(r.bootstrap);
  EXPECT_ENTRY(r.errors, "b.yaml:3:16: 'min_version' must be TLSv1_2 or TLSv1_3, not 'TLSv1_0'");
  EXPECT_EQ(testing::matching(r.errors, "'cipher_suites' entries must be").size(), 2u)
      << formatAll(r.errors);
  EXPECT_EQ(testing::matching(r.errors, "'tls13_cipher_suites' entries must be").size(), 1u);
  EXPECT_EQ(testing::matching(r.errors, "'ecdh_curves' entries must be").size(), 1u);
  EXPECT_EQ(testing::matching(r.errors, "set min_version: TLSv1_2").size(), 1u);
}

}  // namespace
}  // namespace weft::mesh
