// loadIdentityFiles: the Istio file layout read into a WorkloadIdentity.
#include "tls/identity_files.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "test_ca.h"

namespace weft::tls {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "weft-tls-test-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  void write(const char* name, const std::string& text) const {
    std::ofstream(path / name, std::ios::binary) << text;
  }
  fs::path path;
};

TEST(IdentityFiles, LoadsTheIstioLayout) {
  testing::TestCa ca;
  auto id = ca.identity("spiffe://example.org/ns/shop/sa/cart");
  TempDir dir;
  dir.write(kCertChainFile, id.cert_chain_pem);
  dir.write(kKeyFile, id.private_key_pem);
  dir.write(kRootCertFile, id.roots_pem);
  identity::WorkloadIdentity loaded;
  std::string error;
  ASSERT_TRUE(loadIdentityFiles(dir.path.string(), loaded, &error)) << error;
  EXPECT_EQ(loaded.spiffe_id, "spiffe://example.org/ns/shop/sa/cart");
  EXPECT_EQ(loaded.trust_domain, "example.org");
  EXPECT_EQ(loaded.cert_chain_pem, id.cert_chain_pem);
  EXPECT_LT(loaded.not_before, loaded.not_after);
  EXPECT_TRUE(TlsContext::makeServer(loaded, {}, &error)) << error;
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(IdentityFiles, Errors) {
  testing::TestCa ca;
  TempDir dir;
  identity::WorkloadIdentity loaded;
  std::string error;
  EXPECT_FALSE(loadIdentityFiles(dir.path.string(), loaded, &error));
  EXPECT_NE(error.find("cert-chain.pem: cannot be read"), std::string::npos) << error;

  auto no_spiffe = ca.identity("");
  dir.write(kCertChainFile, no_spiffe.cert_chain_pem);
  dir.write(kKeyFile, no_spiffe.private_key_pem);
  dir.write(kRootCertFile, no_spiffe.roots_pem);
  EXPECT_FALSE(loadIdentityFiles(dir.path.string(), loaded, &error));
  EXPECT_NE(error.find("SPIFFE"), std::string::npos) << error;

  dir.write(kCertChainFile, "not a certificate");
  EXPECT_FALSE(loadIdentityFiles(dir.path.string(), loaded, &error));
  EXPECT_EQ(ERR_peek_error(), 0u);
}

}  // namespace
}  // namespace weft::tls
