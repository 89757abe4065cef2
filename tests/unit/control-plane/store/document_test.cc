// Splitting multi-document YAML and reading each document's identity and fields.
#include "store/document.h"

#include <gtest/gtest.h>

namespace weft::control {
namespace {

std::string formatAll(const mesh::ConfigErrors& errors) {
  std::string out;
  for (const auto& e : errors) out += e.format() + "\n";
  return out;
}

TEST(SplitDocuments, KeepsTextAndFirstLine) {
  auto docs =
      mesh::splitYamlDocuments("a: 1\n---\n# only a comment\n---\nb: 2\nc: 3\n...\n--- \nd: 4");
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0].text, "a: 1\n");
  EXPECT_EQ(docs[0].first_line, 0);
  EXPECT_EQ(docs[1].text, "b: 2\nc: 3\n");
  EXPECT_EQ(docs[1].first_line, 4);
  EXPECT_EQ(docs[2].text, "d: 4\n");
  EXPECT_EQ(docs[2].first_line, 8);
}

TEST(SplitDocuments, DashesInsideAValueAreNotASeparator) {
  auto docs = mesh::splitYamlDocuments("a: |\n  ---\n  x\nb: ---x\n");
  ASSERT_EQ(docs.size(), 1u);
}

TEST(ReadDocuments, IdentityAndHosts) {
  const std::string text =
      "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: r\n"
      "  namespace: shop\nspec:\n  hosts: [reviews]\n---\n"
      "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: s}\n"
      "spec:\n  hosts: [Api.Example.com]\n  workloadSelector: {labels: {app: a}}\n";
  ReadResult r = readDocuments(text, "in.yaml");
  ASSERT_TRUE(r.errors.empty()) << formatAll(r.errors);
  ASSERT_EQ(r.documents.size(), 2u);
  EXPECT_EQ(r.documents[0].key(), "VirtualService/shop/r");
  EXPECT_EQ(r.documents[0].hosts, std::vector<std::string>{"reviews.shop.svc.cluster.local"});
  EXPECT_EQ(r.documents[1].key(), "ServiceEntry/default/s");
  EXPECT_EQ(r.documents[1].first_line, 8);
  EXPECT_EQ(r.documents[1].hosts, std::vector<std::string>{"api.example.com"});
  ASSERT_TRUE(r.documents[1].selector.has_value());
  EXPECT_EQ(r.documents[1].selector->at("app"), "a");
}

TEST(ReadDocuments, ErrorsArePositionedInTheWholeText) {
  const std::string text =
      "kind: ServiceEntry\nmetadata: {name: ok}\nspec: {}\n---\n"
      "kind: WorkloadEntry\napiVersion: networking.istio.io/v1\nmetadata: {name: w}\n"
      "spec:\n  address: not-an-ip\n  weight: 0\n";
  ReadResult r = readDocuments(text, "we.yaml");
  std::string all = formatAll(r.errors);
  EXPECT_NE(all.find("we.yaml:9:12: 'address' must be a numeric IP address"), std::string::npos)
      << all;
  EXPECT_NE(all.find("we.yaml:10:11:"), std::string::npos) << all;
}

TEST(ReadDocuments, MissingNameIsAnError) {
  ReadResult r = readDocuments("kind: ServiceEntry\nmetadata: {namespace: x}\n", "a.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].format(), "a.yaml:2:11: 'metadata.name' must be a lower-case DNS name");
  EXPECT_TRUE(r.documents.empty());
}

TEST(ReadDocuments, SyntaxErrorPosition) {
  // yaml-cpp places this error (an unterminated flow sequence) at the input's start; what
  // matters is that the document is rejected under its source name.
  ReadResult r = readDocuments("a: 1\n---\nkind: [\n", "bad.yaml");
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].file, "bad.yaml");
  EXPECT_TRUE(r.documents.empty());
}

TEST(ReadDocuments, SidecarEgressHosts) {
  ReadResult r = readDocuments(
      "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: s, namespace: a}\n"
      "spec:\n  egress:\n  - hosts: [\"./*\", \"b/Reviews.b.svc.cluster.local\", \"bad\"]\n",
      "sc.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << formatAll(r.errors);
  EXPECT_NE(r.errors[0].format().find("sc.yaml:6:"), std::string::npos);
  ASSERT_EQ(r.documents.size(), 1u);
  EXPECT_EQ(r.documents[0].egress_hosts,
            (std::vector<std::string>{"./*", "b/reviews.b.svc.cluster.local"}));
}

TEST(LabelsMatch, SubsetSemantics) {
  EXPECT_TRUE(labelsMatch({}, {{"a", "1"}}));
  EXPECT_TRUE(labelsMatch({{"a", "1"}}, {{"a", "1"}, {"b", "2"}}));
  EXPECT_FALSE(labelsMatch({{"a", "1"}}, {{"a", "2"}}));
  EXPECT_FALSE(labelsMatch({{"c", "1"}}, {{"a", "1"}}));
}

}  // namespace
}  // namespace weft::control
