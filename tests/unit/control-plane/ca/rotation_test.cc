// CaManager: the phases of a root rotation on a clock the test drives, the trust bundle and the
// signer in each, the old root's certificates replaced or expired, and a rotation kept across a
// restart (the data dir) down to the new root's files taking the old one's place.
#include "ca/rotation.h"

#include <gtest/gtest.h>

#include "control-plane/ca/test_pki.h"

namespace weft::control {
namespace {

using testing::TempDir;

size_t certCount(const std::string& pem) {
  size_t n = 0;
  for (size_t p = pem.find("BEGIN CERTIFICATE"); p != std::string::npos;
       p = pem.find("BEGIN CERTIFICATE", p + 1)) {
    ++n;
  }
  return n;
}

std::unique_ptr<CaManager> open(const std::string& data_dir, std::string& error) {
  CaOptions o;
  o.data_dir = data_dir;
  o.grace_s = 30;
  o.max_s = 3600;
  return CaManager::open(o, error);
}

TEST(CaRotation, PhasesBundleAndSigner) {
  TempDir tmp;
  std::string error;
  auto m = open(tmp.path.string(), error);
  ASSERT_TRUE(m) << error;
  const std::string old_root = m->signer().signingRootFingerprint();
  EXPECT_EQ(m->phase(), RotationPhase::kNone);
  EXPECT_EQ(m->signer().rootCount(), 1u);
  m->issued("AA", 2000, "");  // under the old root, valid until t=2000
  m->issued("BB", 5000, "");

  ASSERT_TRUE(m->rotate("", 1000, error)) << error;
  EXPECT_EQ(m->phase(), RotationPhase::kDistributing);
  EXPECT_FALSE(m->rotate("", 1001, error));
  EXPECT_NE(error.find("in progress"), std::string::npos);
  // Distributing: the old root signs, both are trusted.
  EXPECT_EQ(m->signer().signingRootFingerprint(), old_root);
  EXPECT_EQ(m->signer().rootCount(), 2u);
  EXPECT_EQ(certCount(m->signer().rootCertificatesPem()), 2u);
  EXPECT_FALSE(m->tick(1029));
  EXPECT_TRUE(m->tick(1030));  // the grace is over
  EXPECT_EQ(m->phase(), RotationPhase::kSigning);
  const std::string new_root = m->signer().signingRootFingerprint();
  EXPECT_NE(new_root, old_root);
  EXPECT_EQ(m->signer().rootCount(), 2u);
  EXPECT_EQ(m->outstanding(), 2u);
  EXPECT_EQ(m->status(1030)["phase"], "signing");
  EXPECT_EQ(m->status(1030)["roots"].size(), 2u);
  // BB is replaced by a renewal authenticated with it; AA expires.
  m->issued("CC", 9000, "BB");
  EXPECT_EQ(m->outstanding(), 1u);
  EXPECT_FALSE(m->tick(1999));
  EXPECT_TRUE(m->tick(2000));
  EXPECT_EQ(m->phase(), RotationPhase::kNone);
  EXPECT_EQ(m->signer().signingRootFingerprint(), new_root);
  EXPECT_EQ(m->signer().rootCount(), 1u);
  EXPECT_EQ(certCount(m->signer().rootCertificatesPem()), 1u);

  // The new root's files are the root's now: a restart signs with it.
  auto again = open(tmp.path.string(), error);
  ASSERT_TRUE(again) << error;
  EXPECT_EQ(again->phase(), RotationPhase::kNone);
  EXPECT_EQ(again->signer().signingRootFingerprint(), new_root);
  EXPECT_FALSE(std::filesystem::exists(tmp.path / "ca" / "next"));
}

TEST(CaRotation, ARestartContinuesAndTheMaximumTimeEndsIt) {
  TempDir tmp;
  std::string error;
  auto m = open(tmp.path.string(), error);
  ASSERT_TRUE(m) << error;
  m->issued("AA", 99'999, "");
  ASSERT_TRUE(m->rotate("", 1000, error)) << error;
  const auto roots = m->status(1000)["roots"];
  m.reset();
  m = open(tmp.path.string(), error);
  ASSERT_TRUE(m) << error;
  EXPECT_EQ(m->phase(), RotationPhase::kDistributing);
  EXPECT_EQ(m->status(1000)["roots"], roots);
  EXPECT_TRUE(m->tick(1030));
  m.reset();
  m = open(tmp.path.string(), error);
  ASSERT_TRUE(m) << error;
  EXPECT_EQ(m->phase(), RotationPhase::kSigning);
  EXPECT_EQ(m->outstanding(), 1u);
  EXPECT_FALSE(m->tick(1030 + 3599));
  EXPECT_TRUE(m->tick(1030 + 3600));  // AA never renewed: dropped at the maximum time
  EXPECT_EQ(m->phase(), RotationPhase::kNone);
}

TEST(CaRotation, InMemoryAndBadPluginDirectory) {
  std::string error;
  auto m = open("", error);
  ASSERT_TRUE(m) << error;
  EXPECT_FALSE(m->rotate("/nonexistent/cacerts", 1, error));
  EXPECT_EQ(m->phase(), RotationPhase::kNone);
  ASSERT_TRUE(m->rotate("", 1, error)) << error;
  EXPECT_TRUE(m->tick(31));
  EXPECT_TRUE(m->tick(32));  // nothing outstanding: the old root goes at once
  EXPECT_EQ(m->signer().rootCount(), 1u);
}

}  // namespace
}  // namespace weft::control
