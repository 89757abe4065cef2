// The configuration cache: what is written reads back the same; a torn, foreign or missing
// file is reported (or not) without throwing.
#include "discovery/config_cache.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace weft::discovery {
namespace {

std::filesystem::path scratch(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("weft-cache-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

mesh::PushedConfig sample() {
  mesh::PushedConfig c;
  c.version = 42;
  c.built_from = {"ServiceEntry default/reviews@7", "VirtualService default/reviews@9"};
  c.setResources(
      "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: \"r\\u00e9\"}\n"
      "---\n# comment with \"quotes\" and a tab\t\n");
  return c;
}

TEST(ConfigCacheTest, RoundTrip) {
  auto dir = scratch("rt");
  std::string path = (dir / "config.json").string();
  std::string error;
  ASSERT_TRUE(writeConfigCache(path, sample(), error)) << error;
  auto back = readConfigCache(path, error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->version, 42u);
  EXPECT_EQ(back->built_from, sample().built_from);
  EXPECT_EQ(back->resources(), sample().resources());
  EXPECT_TRUE(back->from_cache);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Overwritten in place by a newer version; no temporary file is left behind.
  mesh::PushedConfig newer = sample();
  newer.version = 43;
  newer.setResources("");
  ASSERT_TRUE(writeConfigCache(path, newer, error)) << error;
  back = readConfigCache(path, error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->version, 43u);
  EXPECT_EQ(back->resources(), "");
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1u);
  std::filesystem::remove_all(dir);
}

TEST(ConfigCacheTest, MissingFileIsNoError) {
  auto dir = scratch("missing");
  std::string error = "stale";
  EXPECT_FALSE(readConfigCache((dir / "none.json").string(), error));
  EXPECT_EQ(error, "");
  std::filesystem::remove_all(dir);
}

TEST(ConfigCacheTest, CorruptFileIsRejectedWithReason) {
  auto dir = scratch("corrupt");
  std::string path = (dir / "config.json").string();
  std::string full = configCacheJson(sample());
  const std::pair<std::string, std::string> cases[] = {
      {full.substr(0, full.size() / 2), "not JSON"},  // torn
      {"garbage\x01\x02", "not JSON"},
      {"[1, 2]", "not a JSON object"},
      {R"({"version": 1, "resources": ""})", "weft_config_cache"},  // a config answer
      {R"({"weft_config_cache": 2, "version": 1, "resources": ""})", "weft_config_cache"},
      {R"({"weft_config_cache": 1, "version": -1, "resources": ""})", "version"},
      {R"({"weft_config_cache": 1, "version": 1})", "resources"},
      {R"({"weft_config_cache": 1, "version": 1, "resources": "", "built_from": 3})", "built_from"},
  };
  for (const auto& [text, reason] : cases) {
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << text;
    }
    std::string error;
    EXPECT_FALSE(readConfigCache(path, error)) << text;
    EXPECT_NE(error.find(reason), std::string::npos) << text << " -> " << error;
  }
  std::string error;
  EXPECT_FALSE(readConfigCache(dir.string(), error));  // a directory
  EXPECT_NE(error, "");
  std::filesystem::remove_all(dir);
}

TEST(ConfigCacheTest, WriteFailureLeavesNoFile) {
  auto dir = scratch("fail");
  std::string error;
  EXPECT_FALSE(writeConfigCache((dir / "no-such-dir" / "c.json").string(), sample(), error));
  EXPECT_NE(error, "");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace weft::discovery
