// The command-line client's pure parts: server URL, token file, file gathering, combined
// bodies and the mapping of their positions back to the files, kinds and names.
#include "cli/client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace weft::control::cli {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "weft-cli-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    std::string p = path_ + "/" + name;
    fs::create_directories(fs::path(p).parent_path());
    std::ofstream(p) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ServerUrl, AcceptsNumericHostsAndLocalhost) {
  std::string error;
  auto a = parseServerUrl("http://127.0.0.1:15010", error);
  ASSERT_TRUE(a) << error;
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 15010);
  auto b = parseServerUrl("http://localhost:8080/", error);
  ASSERT_TRUE(b) << error;
  EXPECT_EQ(b->host, "127.0.0.1");
  EXPECT_EQ(b->port, 8080);
  EXPECT_FALSE(parseServerUrl("http://[::1]:9", error));
  EXPECT_NE(error.find("IPv6"), std::string::npos) << error;
  auto d = parseServerUrl("http://10.0.0.1", error);
  ASSERT_TRUE(d) << error;
  EXPECT_EQ(d->port, 80);
  EXPECT_FALSE(d->tls);
  auto e = parseServerUrl("https://10.0.0.1", error);
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->port, 443);
  EXPECT_TRUE(e->tls);
  auto f = parseServerUrl("https://localhost:15010", error);
  ASSERT_TRUE(f) << error;
  EXPECT_EQ(f->host, "127.0.0.1");
  EXPECT_EQ(f->port, 15010);
}

TEST(ServerUrl, TheServerRootsFile) {
  std::string error;
  EXPECT_FALSE(loadServerRoots("/nonexistent/roots.pem", error));
  EXPECT_NE(error.find("--ca-certificate /nonexistent/roots.pem"), std::string::npos) << error;
  TempDir dir;
  const std::string path = dir.path() + "/notpem";
  std::ofstream(path) << "hello\n";
  EXPECT_FALSE(loadServerRoots(path, error));
  EXPECT_NE(error.find("no PEM certificate"), std::string::npos) << error;
}

TEST(ServerUrl, RejectsWhatTheClientCannotReach) {
  for (const char* bad : {"ftp://127.0.0.1:15010", "127.0.0.1:15010", "https://example.com:15010",
                          "http://127.0.0.1:0", "http://127.0.0.1:70000",
                          "http://127.0.0.1:15010/api", "http://127.0.0.1:", "http://",
                          "http://[::1", "http://[127.0.0.1]:5", "http://u@127.0.0.1:5"}) {
    std::string error;
    EXPECT_FALSE(parseServerUrl(bad, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(ServerUrl, FlagThenEnvironmentThenDefault) {
  EXPECT_EQ(chooseServer("http://1.2.3.4:5", "http://5.6.7.8:9"), "http://1.2.3.4:5");
  EXPECT_EQ(chooseServer("", "http://5.6.7.8:9"), "http://5.6.7.8:9");
  EXPECT_EQ(chooseServer("", ""), kDefaultServer);
  EXPECT_EQ(chooseServer("", nullptr), kDefaultServer);
}

TEST(TokenFile, FirstLineTrimmed) {
  TempDir dir;
  std::string error;
  auto t = readTokenFile(dir.write("t", "  s3cr3t \r\nsecond line\n"), error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(*t, "s3cr3t");
  EXPECT_FALSE(readTokenFile(dir.write("empty", "\n"), error));
  EXPECT_NE(error.find("no token"), std::string::npos);
  EXPECT_FALSE(readTokenFile(dir.path() + "/missing", error));
  EXPECT_FALSE(readTokenFile(dir.path(), error));
}

TEST(GatherFiles, DirectoryYamlFilesSorted) {
  TempDir dir;
  dir.write("conf/b.yml", "b");
  dir.write("conf/a.yaml", "a");
  dir.write("conf/c.txt", "c");
  dir.write("conf/.hidden.yaml", "h");
  dir.write("conf/sub/d.yaml", "d");
  dir.write("one.json", "j");
  std::vector<InputFile> files;
  std::string error;
  ASSERT_TRUE(gatherFiles({dir.path() + "/conf/", dir.path() + "/one.json"}, files, error))
      << error;
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0].path, dir.path() + "/conf/a.yaml");
  EXPECT_EQ(files[0].text, "a");
  EXPECT_EQ(files[1].path, dir.path() + "/conf/b.yml");
  EXPECT_EQ(files[2].path, dir.path() + "/one.json");
}

TEST(GatherFiles, MissingFileAndEmptyDirectoryAreErrors) {
  TempDir dir;
  std::vector<InputFile> files;
  std::string error;
  EXPECT_FALSE(gatherFiles({dir.path() + "/nope.yaml"}, files, error));
  EXPECT_NE(error.find("nope.yaml"), std::string::npos);
  dir.write("empty/readme.txt", "x");
  EXPECT_FALSE(gatherFiles({dir.path() + "/empty"}, files, error));
  EXPECT_NE(error.find("no *.yaml"), std::string::npos);
}

TEST(Bundle, PositionsMapBackToEachFile) {
  // a.yaml: 3 lines (no final newline); b.yaml: starts with its own "---".
  std::vector<InputFile> files = {{"d/a.yaml", "kind: A\nmetadata: {name: a}\nspec: {}"},
                                  {"d/b.yaml", "---\nkind: B\nmetadata: {name: b}\n"}};
  Bundle b = makeBundle(files, "d");
  EXPECT_EQ(b.text,
            "kind: A\nmetadata: {name: a}\nspec: {}\n---\n---\nkind: B\nmetadata: {name: b}\n");
  ASSERT_EQ(b.parts.size(), 2u);
  EXPECT_EQ(b.parts[0].first_line, 0);
  EXPECT_EQ(b.parts[0].lines, 3);
  EXPECT_EQ(b.parts[1].first_line, 4);
  EXPECT_EQ(mapPosition(b, "d:2:11: bad name"), "d/a.yaml:2:11: bad name");
  EXPECT_EQ(mapPosition(b, "d:7:3: bad"), "d/b.yaml:3:3: bad");
  EXPECT_EQ(mapPosition(b, "d:6: no column"), "d/b.yaml:2: no column");
  // Other sources (a config-directory file) and unpositioned messages stay as they are.
  EXPECT_EQ(mapPosition(b, "mesh.yaml:7:3: x"), "mesh.yaml:7:3: x");
  EXPECT_EQ(mapPosition(b, "d: no resources in the request"), "d: no resources in the request");
  EXPECT_EQ(mapPosition(b, "dx:1:1: y"), "dx:1:1: y");
}

TEST(Bundle, OneFileKeepsItsName) {
  std::vector<InputFile> one = {{"x/reviews.yaml", "a: 1\n"}};
  EXPECT_EQ(bundleSource({"x"}, one), "x/reviews.yaml");
  std::vector<InputFile> two = {{"x/a.yaml", ""}, {"x/b.yaml", ""}};
  EXPECT_EQ(bundleSource({"x/"}, two), "x");
  EXPECT_EQ(bundleSource({"x/a.yaml", "x/b.yaml"}, two), "apply");
  Bundle b = makeBundle(one, "x/reviews.yaml");
  EXPECT_EQ(mapPosition(b, "x/reviews.yaml:1:4: e"), "x/reviews.yaml:1:4: e");
}

TEST(Messages, SplitPositionAndWarnings) {
  auto p = splitPosition("a.yaml:12:7: bad thing: here", "a.yaml");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->line, 12);
  EXPECT_EQ(p->column, 7);
  EXPECT_EQ(p->message, "bad thing: here");
  EXPECT_FALSE(splitPosition("b.yaml:1:1: x", "a.yaml"));
  EXPECT_EQ(asWarning("a.yaml:3:5: unused"), "a.yaml:3:5: warning: unused");
  EXPECT_EQ(asWarning("unplaced"), "warning: unplaced");
}

TEST(Messages, UnresolvedReferences) {
  EXPECT_TRUE(isUnresolvedReference(
      "destination host 'nowhere.default.svc.cluster.local' matches no ServiceEntry host: "
      "requests routed there get 503"));
  EXPECT_TRUE(isUnresolvedReference(
      "subset 'v9' of host 'reviews.default.svc.cluster.local' is not defined by a "
      "DestinationRule visible to this proxy: requests routed there get 503"));
  EXPECT_TRUE(isUnresolvedReference(
      "destination host 'r' has no HTTP port 81: requests routed there get 503"));
  EXPECT_TRUE(
      isUnresolvedReference("mirror host 'm' matches no ServiceEntry host; the mirror is dropped"));
  EXPECT_TRUE(
      isUnresolvedReference("VirtualService default/r: host 'r.default.svc.cluster.local' "
                            "matches no ServiceEntry host and is ignored"));
  EXPECT_TRUE(
      isUnresolvedReference("DestinationRule default/r: host 'r.default.svc.cluster.local' "
                            "matches no ServiceEntry host; the rule is ignored"));
  EXPECT_FALSE(isUnresolvedReference(
      "subset 'v1' of host 'r' selects no endpoint: requests routed to it get 503"));
  EXPECT_FALSE(isUnresolvedReference("protocol GRPC is served as HTTP/1.1 for now"));
}

TEST(Names, KindsAndResourceNames) {
  EXPECT_EQ(expandKind("vs"), "VirtualService");
  EXPECT_EQ(expandKind("DR"), "DestinationRule");
  EXPECT_EQ(expandKind("se"), "ServiceEntry");
  EXPECT_EQ(expandKind("serviceentries"), "serviceentries");
  EXPECT_EQ(expandKind("ALL"), "all");
  auto a = parseResourceName("reviews", "default");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->first, "default");
  EXPECT_EQ(a->second, "reviews");
  auto b = parseResourceName("prod/reviews", "default");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->first, "prod");
  EXPECT_FALSE(parseResourceName("/x", "default"));
  EXPECT_FALSE(parseResourceName("a/b/c", "default"));
  EXPECT_FALSE(parseResourceName("a/", "default"));
  EXPECT_EQ(percentEncode("http://r:9080/a b?x=1&y"), "http%3A%2F%2Fr%3A9080%2Fa%20b%3Fx%3D1%26y");
}

TEST(Failures, OneLineDescriptions) {
  Client client;
  client.server.text = "http://127.0.0.1:1";
  Reply refused;
  refused.error = "connect: Connection refused";
  EXPECT_EQ(describeFailure(client, refused),
            "cannot reach the control plane at http://127.0.0.1:1: connect: Connection refused");
  Reply garbled;
  garbled.error = "bad answer: Expected HTTP/";
  EXPECT_EQ(describeFailure(client, garbled),
            "no valid answer from the control plane at http://127.0.0.1:1: bad answer: Expected "
            "HTTP/");
  Reply unauthorized;
  unauthorized.status = 401;
  unauthorized.body = R"({"error":"missing or unknown bearer token"})";
  std::string d = describeFailure(client, unauthorized);
  EXPECT_EQ(
      d.rfind("the control plane answered 401 Unauthorized: missing or unknown bearer token", 0),
      0u)
      << d;
  EXPECT_EQ(d.find('\n'), std::string::npos);
  Reply listed;
  listed.status = 400;
  listed.body = R"({"errors":["a:1:1: x","a:2:1: y"]})";
  EXPECT_EQ(describeFailure(client, listed),
            "the control plane answered 400 Bad Request: a:1:1: x (and 1 more)");
  EXPECT_EQ(answerErrors(listed.body).size(), 2u);
  EXPECT_TRUE(answerErrors("not json").empty());
}

TEST(Client, ConnectionRefusedIsAnAnswerNotACrash) {
  Client client;
  std::string error;
  client.server = *parseServerUrl("http://127.0.0.1:1", error);
  Reply r = client.call("GET", "/v1/nodes");
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(r.error.empty());
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace weft::control::cli
