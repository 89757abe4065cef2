// The serve command's YAML config file.
#include "serve/serve.h"

#include <gtest/gtest.h>

namespace weft::control {
namespace {

TEST(ControlConfig, ReadsEveryKey) {
  ServeOptions o;
  mesh::ConfigErrors errors;
  ASSERT_TRUE(parseControlConfig(
      "listen: 127.0.0.1:25010\nconfig_dir: conf\ndata_dir: data\ntokens: t.yaml\n"
      "node_ttl: 10s\ndebounce: 50ms\nmax_debounce: 2s\nmax_body_bytes: 2048\nlog_level: debug\n",
      "control.yaml", o, errors))
      << errors[0].format();
  EXPECT_EQ(o.listen, "127.0.0.1:25010");
  EXPECT_EQ(o.config_dir, "conf");
  EXPECT_EQ(o.data_dir, "data");
  EXPECT_EQ(o.tokens, "t.yaml");
  EXPECT_EQ(o.node_ttl_ms, 10'000u);
  EXPECT_EQ(o.debounce_ms, 50u);
  EXPECT_EQ(o.max_debounce_ms, 2'000u);
  EXPECT_EQ(o.max_body_bytes, 2048u);
  EXPECT_EQ(o.log_level, "debug");
}

TEST(ControlConfig, CertificateAuthorityKeys) {
  ServeOptions o;
  mesh::ConfigErrors errors;
  EXPECT_EQ(o.trust_domain, "cluster.local");
  EXPECT_EQ(o.cert_ttl_s, 86'400u);
  ASSERT_TRUE(parseControlConfig("trust_domain: example.org\ncert_ttl: 7d\nca_dir: /etc/cacerts\n",
                                 "control.yaml", o, errors))
      << errors[0].format();
  EXPECT_EQ(o.trust_domain, "example.org");
  EXPECT_EQ(o.cert_ttl_s, 7u * 86'400);
  EXPECT_EQ(o.ca_dir, "/etc/cacerts");
  errors.clear();
  EXPECT_FALSE(
      parseControlConfig("trust_domain: Example/org\ncert_ttl: 31d\n", "c.yaml", o, errors));
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].line, 1);
  EXPECT_EQ(errors[1].line, 2);
  errors.clear();
  EXPECT_FALSE(parseControlConfig("cert_ttl: 30s\n", "c.yaml", o, errors));
}

TEST(ControlConfig, ErrorsArePositioned) {
  ServeOptions o;
  mesh::ConfigErrors errors;
  EXPECT_FALSE(parseControlConfig("listen: nowhere\nnode_tll: 3s\n", "c.yaml", o, errors));
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].format().rfind("c.yaml:", 0), 0u);
  bool unknown = false;
  for (const auto& e : errors) unknown = unknown || (e.line == 2);
  EXPECT_TRUE(unknown);
}

}  // namespace
}  // namespace weft::control
