// gzip/gunzip: round trips, several members, and the errors a damaged answer must give.
#include "compress/gzip.h"

#include <gtest/gtest.h>

#include <string>

namespace weft::compress {
namespace {

std::string yamlLike(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    s += "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: svc-" +
         std::to_string(i) + "}\n---\n";
  }
  return s;
}

TEST(Gzip, RoundTripAndRatio) {
  const std::string text = yamlLike(2000);
  const std::string packed = gzip(text, 1);
  EXPECT_LT(packed.size() * 10, text.size()) << "Istio YAML compresses well";
  std::string error;
  auto back = gunzip(packed, text.size(), error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(*back, text);
}

TEST(Gzip, EmptyText) {
  std::string error;
  auto back = gunzip(gzip(""), 10, error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(*back, "");
}

TEST(Gzip, SeveralMembersAreOneText) {
  // What the control plane sends: a small member made per answer, then a shared one.
  std::string error;
  auto back = gunzip(gzip("{\"version\":7,") + gzip("\"resources\":\"x\"}"), 1000, error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(*back, "{\"version\":7,\"resources\":\"x\"}");
}

TEST(Gzip, DamageIsAnError) {
  const std::string packed = gzip(yamlLike(100));
  std::string error;
  EXPECT_FALSE(gunzip(packed.substr(0, packed.size() / 2), 1 << 20, error));
  EXPECT_NE(error, "");
  error.clear();
  EXPECT_FALSE(gunzip("not gzip at all", 1 << 20, error));
  EXPECT_NE(error, "");
  error.clear();
  EXPECT_FALSE(gunzip("", 1 << 20, error));
  EXPECT_NE(error, "");
}

TEST(Gzip, InflatingBeyondTheLimitStops) {
  const std::string bomb = gzip(std::string(1 << 20, 'a'));
  std::string error;
  EXPECT_FALSE(gunzip(bomb, 1000, error));
  EXPECT_NE(error.find("beyond"), std::string::npos);
}

}  // namespace
}  // namespace weft::compress
