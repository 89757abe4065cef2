// Static mode: the identity files, their reload, and the bootstrap's `identity` section.
#include "identity/file_provider.h"

#include <gtest/gtest.h>

#include <thread>

#include "identity/certificate.h"
#include "identity_test_pki.h"
#include "mesh/bootstrap.h"

namespace weft::identity {
namespace {

using testing::certPem;
using testing::ecKey;
using testing::keyPem;
using testing::makeLeaf;
using testing::TempDir;
using testing::TestCa;
using testing::writeFile;

const std::string kReviews = "spiffe://cluster.local/ns/default/sa/reviews";
const std::string kRatings = "spiffe://cluster.local/ns/default/sa/ratings";

struct Files {
  TempDir dir;
  TestCa ca;
  IdentityFiles paths{(dir.path / "cert.pem").string(), (dir.path / "key.pem").string(),
                      (dir.path / "ca.pem").string()};

  // Writes a new leaf for `id` and its key (a new key each time), and the CA file.
  void write(const std::string& id, long serial) {
    auto key = ecKey();
    auto leaf = makeLeaf(key.get(), ca.cert.get(), ca.key.get(), "URI:" + id, serial);
    writeFile(paths.certificate, certPem(leaf.get()));
    writeFile(paths.private_key, keyPem(key.get()));
    writeFile(paths.ca_certificates, ca.pem());
  }
};

// The file system's timestamps may be coarse: make sure a rewrite changes them.
void tick() {
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

TEST(FileProviderTest, LoadsTheFiles) {
  Files f;
  f.write(kReviews, 1);
  std::string error;
  FileIdentityProvider provider(f.paths, error);
  ASSERT_TRUE(error.empty()) << error;
  IdentityPtr id = provider.current();
  ASSERT_TRUE(id);
  EXPECT_EQ(id->spiffe_id, kReviews);
  EXPECT_EQ(id->trust_domain, "cluster.local");
  EXPECT_GT(id->generation, 0u);
  EXPECT_FALSE(provider.pollOnce());  // nothing changed
}

TEST(FileProviderTest, ReloadsAChangedSetOnceItIsStable) {
  Files f;
  f.write(kReviews, 1);
  std::string error;
  FileIdentityProvider provider(f.paths, error);
  IdentityPtr first = provider.current();
  ASSERT_TRUE(first) << error;
  int changes = 0;
  provider.onChange([&](const IdentityPtr&) { ++changes; });

  tick();
  f.write(kRatings, 2);
  EXPECT_FALSE(provider.pollOnce());  // changed: waits for one quiet interval
  EXPECT_TRUE(provider.pollOnce());
  IdentityPtr second = provider.current();
  EXPECT_EQ(second->spiffe_id, kRatings);
  EXPECT_GT(second->generation, first->generation);
  EXPECT_EQ(changes, 1);
  EXPECT_EQ(first->spiffe_id, kReviews);  // the old one is untouched (immutable)
}

TEST(FileProviderTest, AMismatchedKeyIsRejectedAndTheOldIdentityKept) {
  Files f;
  f.write(kReviews, 1);
  std::string error;
  FileIdentityProvider provider(f.paths, error);
  IdentityPtr first = provider.current();
  ASSERT_TRUE(first) << error;
  std::vector<std::string> failures;
  provider.onResult([&](bool ok, const std::string& why) {
    if (!ok) failures.push_back(why);
  });

  tick();
  auto other = ecKey();
  writeFile(f.paths.private_key, keyPem(other.get()));  // half a rotation: new key, old cert
  provider.pollOnce();
  EXPECT_FALSE(provider.pollOnce());
  EXPECT_EQ(provider.current(), first);
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_NE(failures[0].find("not the key of the certificate"), std::string::npos);
  EXPECT_FALSE(provider.pollOnce());  // not tried again until the files change
  EXPECT_EQ(failures.size(), 1u);

  // The rest of the rotation arrives: accepted.
  tick();
  f.write(kReviews, 3);
  provider.pollOnce();
  EXPECT_TRUE(provider.pollOnce());
  EXPECT_NE(provider.current(), first);
  EXPECT_EQ(serialHex(parseCertificates(provider.current()->cert_chain_pem)[0].get()), "03");
}

TEST(FileProviderTest, ThreadPicksUpAChange) {
  Files f;
  f.write(kReviews, 1);
  std::string error;
  FileIdentityProvider provider(f.paths, error, 20);
  std::atomic<int> changes{0};
  provider.onChange([&](const IdentityPtr&) { ++changes; });
  provider.start();
  tick();
  f.write(kRatings, 2);
  for (int i = 0; i < 200 && changes.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  provider.stop();
  EXPECT_EQ(changes.load(), 1);
  EXPECT_EQ(provider.current()->spiffe_id, kRatings);
}

TEST(FileProviderTest, AnUnloadableSetAtStart) {
  Files f;
  f.write(kReviews, 1);
  TestCa foreign;
  writeFile(f.paths.ca_certificates, foreign.pem());
  std::string error;
  FileIdentityProvider provider(f.paths, error);
  EXPECT_NE(error.find("does not verify"), std::string::npos) << error;
  EXPECT_EQ(provider.current(), nullptr);
}

// === The bootstrap's `identity` section ===

TEST(IdentityBootstrapTest, PathsFromTheBootstrapDirAndPositionedErrors) {
  Files f;
  f.write(kReviews, 1);
  const std::string text =
      "node: {id: a, service: reviews}\n"
      "identity:\n"
      "  certificate: cert.pem\n"
      "  private_key: key.pem\n"
      "  ca_certificates: ca.pem\n";
  const std::string path = (f.dir.path / "bootstrap.yaml").string();
  writeFile(path, text);
  mesh::BootstrapResult r = mesh::loadBootstrap(path);
  ASSERT_TRUE(r.bootstrap) << (r.errors.empty() ? "" : r.errors[0].format());
  ASSERT_TRUE(r.bootstrap->identity);
  const mesh::IdentityFilesConfig& c = *r.bootstrap->identity;
  EXPECT_EQ(c.certificate, f.paths.certificate);
  EXPECT_EQ(c.private_key, f.paths.private_key);
  EXPECT_EQ(c.ca_certificates, f.paths.ca_certificates);
  EXPECT_FALSE(checkIdentityFiles(c));

  auto other = ecKey();
  writeFile(f.paths.private_key, keyPem(other.get()));
  auto e = checkIdentityFiles(c);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->format(),
            path + ":2:1: identity: the private key is not the key of the certificate");
}

TEST(IdentityBootstrapTest, MissingFilesAndKeys) {
  const std::string text =
      "node: {id: a, service: reviews}\n"
      "identity:\n"
      "  certificate: /nonexistent/cert.pem\n"
      "  private_key: /nonexistent/key.pem\n";
  mesh::BootstrapResult r = mesh::parseBootstrap(text, "b.yaml");
  EXPECT_FALSE(r.bootstrap);
  std::string all;
  for (const auto& e : r.errors) all += e.format() + "\n";
  EXPECT_NE(all.find("b.yaml:3:16: 'certificate' file '/nonexistent/cert.pem' cannot be read"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("ca_certificates"), std::string::npos) << all;
}

TEST(IdentityBootstrapTest, CertificateTtl) {
  TempDir dir;
  const std::string token = (dir.path / "token").string();
  writeFile(token, "secret\n");
  auto parse = [&](const std::string& ttl) {
    return mesh::parseBootstrap(
        "node: {id: a, service: reviews}\n"
        "control_plane: {url: \"http://127.0.0.1:15010\", token_file: " +
            token + ttl + "}\n",
        "b.yaml");
  };
  auto none = parse("");
  ASSERT_TRUE(none.bootstrap);
  EXPECT_EQ(none.bootstrap->control_plane->certificate_ttl_s, 0u);
  auto day = parse(", certificate_ttl: 24h");
  ASSERT_TRUE(day.bootstrap);
  EXPECT_EQ(day.bootstrap->control_plane->certificate_ttl_s, 86'400u);
  auto minute = parse(", certificate_ttl: 1m");
  ASSERT_TRUE(minute.bootstrap);
  EXPECT_EQ(minute.bootstrap->control_plane->certificate_ttl_s, 60u);
  EXPECT_FALSE(parse(", certificate_ttl: 30s").bootstrap);  // below the CA's minimum
  EXPECT_FALSE(parse(", certificate_ttl: 1500ms").bootstrap);
}

}  // namespace
}  // namespace weft::identity
