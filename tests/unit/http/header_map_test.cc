// HeaderMap: lookup rules, mutation, view stability and buffer reuse.
#include "http/header_map.h"

#include <gtest/gtest.h>

#include <string>

namespace weft::http {
namespace {

TEST(EqualsIgnoreCase, AsciiOnly) {
  EXPECT_TRUE(equalsIgnoreCase("Content-Length", "content-length"));
  EXPECT_TRUE(equalsIgnoreCase("", ""));
  EXPECT_FALSE(equalsIgnoreCase("host", "hosts"));
  EXPECT_FALSE(equalsIgnoreCase("a-b", "a_b"));
  // '@' and '`' are 0x20 apart from letters but must not fold.
  EXPECT_FALSE(equalsIgnoreCase("@", "`"));
  EXPECT_FALSE(equalsIgnoreCase("[", "{"));
}

TEST(HeaderMap, AddKeepsOrderAndDuplicates) {
  HeaderMap h;
  EXPECT_TRUE(h.empty());
  h.add("Host", "a");
  h.add("X-Dup", "1");
  h.add("x-dup", "2");
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h.name(0), "Host");
  EXPECT_EQ(h.value(2), "2");
  EXPECT_EQ(h.name(2), "x-dup");  // the name is kept as received
  EXPECT_EQ(h.count("X-DUP"), 2u);
  EXPECT_EQ(h.get("x-dup"), "1");  // the first one
  EXPECT_TRUE(h.has("HOST"));
  EXPECT_FALSE(h.has("hos"));
  EXPECT_EQ(h.get("missing"), std::nullopt);
  EXPECT_EQ(h.byteSize(), 4u + 1 + 5 + 1 + 5 + 1);
}

TEST(HeaderMap, EmptyValuesAreFields) {
  HeaderMap h;
  h.add("X-Empty", "");
  ASSERT_TRUE(h.get("x-empty").has_value());
  EXPECT_EQ(*h.get("x-empty"), "");
}

TEST(HeaderMap, SetReplacesAllInPlaceOfTheFirst) {
  HeaderMap h;
  h.add("A", "1");
  h.add("B", "x");
  h.add("a", "2");
  h.add("C", "y");
  h.set("A", "a-much-longer-value-than-before");
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h.name(0), "A");
  EXPECT_EQ(h.value(0), "a-much-longer-value-than-before");
  EXPECT_EQ(h.name(1), "B");
  EXPECT_EQ(h.name(2), "C");
  EXPECT_EQ(h.byteSize(), 1u + 31 + 1 + 1 + 1 + 1);
  h.set("A", "s");  // shorter: written in place
  EXPECT_EQ(h.value(0), "s");
  EXPECT_EQ(h.byteSize(), 6u);
  h.set("D", "new");  // absent: appended
  EXPECT_EQ(h.name(3), "D");
  EXPECT_EQ(h.value(3), "new");
}

TEST(HeaderMap, RemoveReturnsCountAndKeepsOtherViews) {
  HeaderMap h;
  h.add("Keep", "value-1");
  h.add("Drop", "x");
  h.add("DROP", "y");
  std::string_view kept = h.value(0);
  const char* where = kept.data();
  EXPECT_EQ(h.remove("drop"), 2u);
  EXPECT_EQ(h.remove("drop"), 0u);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h.value(0).data(), where);  // no bytes moved
  EXPECT_EQ(kept, "value-1");
  EXPECT_EQ(h.byteSize(), 4u + 7);
}

TEST(HeaderMap, AddingAViewOfItselfSurvivesGrowth) {
  HeaderMap h;
  h.add("Name", "value");
  for (int i = 0; i < 200; ++i) h.add(h.name(0), h.value(h.size() - 1));
  ASSERT_EQ(h.size(), 201u);
  for (size_t i = 0; i < h.size(); ++i) {
    ASSERT_EQ(h.name(i), "Name");
    ASSERT_EQ(h.value(i), "value");
  }
  h.set("Name", h.value(5));
  EXPECT_EQ(h.size(), 1u);
  EXPECT_EQ(h.value(0), "value");
}

TEST(HeaderMap, ClearKeepsCapacity) {
  HeaderMap h;
  for (int i = 0; i < 20; ++i) h.add("X-Field-" + std::to_string(i), std::string(100, 'v'));
  const char* buffer = h.name(0).data();
  h.clear();
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.byteSize(), 0u);
  for (int i = 0; i < 20; ++i) h.add("X-Field-" + std::to_string(i), std::string(100, 'v'));
  EXPECT_EQ(h.name(0).data(), buffer);  // same storage: nothing was reallocated
  EXPECT_EQ(h.value(19), std::string(100, 'v'));
}

TEST(HeaderMap, RepeatedSetAndRemoveStayCorrect) {
  // Exercises the compaction of dead bytes left behind by growing set() and remove().
  HeaderMap h;
  h.add("Stable", "s");
  std::string v;
  for (int i = 0; i < 3000; ++i) {
    v.push_back(static_cast<char>('a' + i % 26));
    h.set("Grow", v);
    h.add("Tmp", "t");
    h.remove("tmp");
  }
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h.get("stable"), "s");
  EXPECT_EQ(h.get("grow"), v);
  EXPECT_EQ(h.byteSize(), 6u + 1 + 4 + v.size());
}

TEST(HeaderMap, ForEachVisitsInOrder) {
  HeaderMap h;
  h.add("a", "1");
  h.add("b", "2");
  std::string seen;
  h.forEach([&](std::string_view n, std::string_view v) {
    seen.append(n).append(":").append(v).append(",");
  });
  EXPECT_EQ(seen, "a:1,b:2,");
}

}  // namespace
}  // namespace weft::http
