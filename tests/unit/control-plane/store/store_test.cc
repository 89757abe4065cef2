// Store: apply/delete all-or-nothing, layers, revision, persistence.
#include "store/store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace weft::control {
namespace {

std::string formatAll(const mesh::ConfigErrors& errors) {
  std::string out;
  for (const auto& e : errors) out += e.format() + "\n";
  return out;
}

std::string serviceEntry(const std::string& name, const std::string& host, int port = 9080,
                         const std::string& ns = "default") {
  return "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: " + name +
         "\n  namespace: " + ns + "\nspec:\n  hosts: [" + host + "]\n  location: MESH_INTERNAL\n" +
         "  resolution: STATIC\n  ports:\n  - {number: " + std::to_string(port) +
         ", name: http, protocol: HTTP}\n  endpoints:\n  - address: 127.0.0.1\n";
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "weft-store-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Store, ApplyCreatesUpdatesAndReportsUnchanged) {
  Store store;
  int changes = 0;
  store.setOnChange([&] { ++changes; });
  ChangeResult r = store.apply(serviceEntry("a", "a.example.com"), "a.yaml");
  ASSERT_TRUE(r.ok) << formatAll(r.errors);
  ASSERT_EQ(r.items.size(), 1u);
  EXPECT_EQ(r.items[0].action, "created");
  EXPECT_EQ(store.revision(), 1u);
  r = store.apply(serviceEntry("a", "a.example.com"), "a.yaml");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.items[0].action, "unchanged");
  EXPECT_EQ(store.revision(), 1u);  // nothing changed: no new revision
  r = store.apply(serviceEntry("a", "a.example.com", 9090), "a.yaml");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.items[0].action, "updated");
  EXPECT_EQ(store.revision(), 2u);
  EXPECT_EQ(changes, 2);
  EXPECT_EQ(store.find("ServiceEntry/default/a")->revision, 2u);
}

TEST(Store, BadApplyIsRejectedWithPositionsAndChangesNothing) {
  Store store;
  ASSERT_TRUE(store.apply(serviceEntry("a", "a.example.com"), "a.yaml").ok);
  // Second document has a bad port; the first is fine: neither is applied.
  std::string text = serviceEntry("b", "b.example.com") + "---\n" +
                     "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
                     "metadata: {name: c}\nspec:\n  hosts: [c.example.com]\n"
                     "  resolution: STATIC\n  ports:\n  - {number: 99999, name: http}\n";
  ChangeResult r = store.apply(text, "bad.yaml");
  EXPECT_FALSE(r.ok);
  std::string all = formatAll(r.errors);
  EXPECT_NE(all.find("bad.yaml:22:"), std::string::npos) << all;
  EXPECT_EQ(store.revision(), 1u);
  EXPECT_EQ(store.find("ServiceEntry/default/b"), nullptr);
}

TEST(Store, CrossResourceErrorsRejectTheApply) {
  Store store;
  ASSERT_TRUE(store.apply(serviceEntry("a", "dup.example.com"), "a.yaml").ok);
  ChangeResult r = store.apply(serviceEntry("b", "dup.example.com"), "b.yaml");
  EXPECT_FALSE(r.ok) << "two ServiceEntries for one host must not compile";
  EXPECT_EQ(store.all().size(), 1u);
}

TEST(Store, DeleteIsAllOrNothing) {
  Store store;
  ASSERT_TRUE(store.apply(serviceEntry("a", "a.example.com"), "a.yaml").ok);
  ChangeResult r = store.remove(
      "kind: ServiceEntry\nmetadata: {name: a}\n---\nkind: ServiceEntry\nmetadata: {name: zz}\n",
      "del.yaml");
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.not_found);
  EXPECT_NE(store.find("ServiceEntry/default/a"), nullptr);
  r = store.remove("kind: ServiceEntry\nmetadata: {name: a}\n", "del.yaml");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.items[0].action, "deleted");
  EXPECT_EQ(store.find("ServiceEntry/default/a"), nullptr);
  EXPECT_EQ(store.revision(), 2u);
}

TEST(Store, FileLayerKeepsLastGoodVersion) {
  Store store;
  ASSERT_TRUE(store.setFile("m.yaml", serviceEntry("a", "a.example.com")).ok);
  ChangeResult bad = store.setFile("m.yaml", "kind: ServiceEntry\nmetadata: {name: a}\nspec: [\n");
  EXPECT_FALSE(bad.ok);
  ASSERT_FALSE(bad.errors.empty());
  EXPECT_EQ(bad.errors[0].file, "m.yaml");
  auto doc = store.find("ServiceEntry/default/a");
  ASSERT_NE(doc, nullptr);
  EXPECT_NE(doc->text.find("a.example.com"), std::string::npos);
  // A new version renaming the resource drops the old name.
  ASSERT_TRUE(store.setFile("m.yaml", serviceEntry("b", "a.example.com")).ok);
  EXPECT_EQ(store.find("ServiceEntry/default/a"), nullptr);
  EXPECT_NE(store.find("ServiceEntry/default/b"), nullptr);
  store.removeFile("m.yaml");
  EXPECT_TRUE(store.all().empty());
}

TEST(Store, AKeyBelongsToOneLayer) {
  Store store;
  ASSERT_TRUE(store.setFile("m.yaml", serviceEntry("a", "a.example.com")).ok);
  ChangeResult r = store.apply(serviceEntry("a", "a.example.com", 9090), "api");
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.conflict);
  EXPECT_NE(formatAll(r.errors).find("config directory file m.yaml"), std::string::npos);
  r = store.remove("kind: ServiceEntry\nmetadata: {name: a}\n", "api");
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.conflict);
}

TEST(Store, PersistsApiResourcesAndRevision) {
  TempDir dir;
  {
    Store store(dir.path());
    mesh::ConfigErrors errors;
    ASSERT_TRUE(store.loadPersisted(errors));
    ASSERT_TRUE(store.apply(serviceEntry("a", "a.example.com"), "a.yaml").ok);
    ASSERT_TRUE(store.apply(serviceEntry("b", "b.example.com"), "b.yaml").ok);
    ASSERT_TRUE(store.setFile("f.yaml", serviceEntry("f", "f.example.com")).ok);
    EXPECT_EQ(store.revision(), 3u);
  }
  Store again(dir.path());
  mesh::ConfigErrors errors;
  ASSERT_TRUE(again.loadPersisted(errors)) << formatAll(errors);
  EXPECT_EQ(again.revision(), 3u);
  EXPECT_NE(again.find("ServiceEntry/default/a"), nullptr);
  EXPECT_NE(again.find("ServiceEntry/default/b"), nullptr);
  EXPECT_EQ(again.find("ServiceEntry/default/f"), nullptr);  // files are not persisted
  ASSERT_TRUE(again.apply(serviceEntry("c", "c.example.com"), "c.yaml").ok);
  EXPECT_EQ(again.revision(), 4u);
}

TEST(Store, RegistryDocumentsBumpTheRevisionOnlyWhenChanged) {
  Store store;
  Document d;
  d.kind = "WorkloadEntry";
  d.name = "n1";
  d.text = "x: 1\n";
  EXPECT_TRUE(store.putRegistryDocument(d));
  EXPECT_FALSE(store.putRegistryDocument(d));
  EXPECT_EQ(store.revision(), 1u);
  EXPECT_TRUE(store.removeRegistryDocument("WorkloadEntry/default/n1"));
  EXPECT_FALSE(store.removeRegistryDocument("WorkloadEntry/default/n1"));
  EXPECT_EQ(store.revision(), 2u);
}

TEST(Store, ValidateReportsWarningsAndChangesNothing) {
  Store store;
  ChangeResult r = store.validate(
      "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: e}\n"
      "spec:\n  hosts: [e.example.com]\n  resolution: STATIC\n  ports: [{number: 80, name: "
      "http}]\n",
      "v.yaml");
  EXPECT_TRUE(r.ok) << formatAll(r.errors);
  EXPECT_FALSE(r.errors.empty());  // a warning: no endpoints
  EXPECT_EQ(store.revision(), 0u);
}

}  // namespace
}  // namespace weft::control
