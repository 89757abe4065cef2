// Tokens file parsing and bearer authentication.
#include "api/tokens.h"

#include <gtest/gtest.h>

namespace weft::control {
namespace {

TEST(Tokens, ParsesAndAuthenticates) {
  mesh::ConfigErrors errors;
  auto set = TokenSet::parse(
      "- {token: s3cr3t-ops}\n- {token: t-reviews, namespace: default, service_account: "
      "reviews}\n",
      "tokens.yaml", errors);
  ASSERT_TRUE(set) << (errors.empty() ? "" : errors[0].format());
  EXPECT_EQ(set->size(), 2u);
  const Token* ops = set->authenticate("Bearer s3cr3t-ops");
  ASSERT_NE(ops, nullptr);
  EXPECT_TRUE(ops->isOperator());
  const Token* reviews = set->authenticate("bearer t-reviews");
  ASSERT_NE(reviews, nullptr);
  EXPECT_FALSE(reviews->isOperator());
  EXPECT_TRUE(reviews->allows("default", "reviews"));
  EXPECT_FALSE(reviews->allows("default", "ratings"));
  EXPECT_FALSE(reviews->allows("other", "reviews"));
  EXPECT_EQ(set->authenticate("Bearer nope"), nullptr);
  EXPECT_EQ(set->authenticate("Basic s3cr3t-ops"), nullptr);
  EXPECT_EQ(set->authenticate("Bearer "), nullptr);
  EXPECT_EQ(set->authenticate(""), nullptr);
  EXPECT_EQ(set->authenticate("Bearer s3cr3t-op"), nullptr);
}

TEST(Tokens, ErrorsArePositioned) {
  mesh::ConfigErrors errors;
  auto set = TokenSet::parse("- {token: a}\n- {tokn: b}\n- {token: a}\n", "t.yaml", errors);
  EXPECT_FALSE(set);
  ASSERT_GE(errors.size(), 2u);
  EXPECT_EQ(errors[0].file, "t.yaml");
  EXPECT_EQ(errors[0].line, 2);
  EXPECT_EQ(errors.back().line, 3);
  EXPECT_NE(errors.back().message.find("duplicate token"), std::string::npos);
}

}  // namespace
}  // namespace weft::control
