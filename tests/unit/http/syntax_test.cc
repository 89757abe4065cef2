// Grammar helpers: tokens, OWS, lists, authorities, Transfer-Encoding classification.
#include "http/syntax.h"

#include <gtest/gtest.h>

#include <string>

namespace weft::http {
namespace {

TEST(Syntax, Tokens) {
  EXPECT_TRUE(isToken("chunked"));
  EXPECT_TRUE(isToken("x-a.b~c!#$%&'*+^_`|"));
  EXPECT_FALSE(isToken(""));
  EXPECT_FALSE(isToken("a b"));
  EXPECT_FALSE(isToken("a;b"));
  EXPECT_FALSE(isToken("a\"b"));
  EXPECT_FALSE(isToken("\x0b"));
}

TEST(Syntax, TrimOws) {
  EXPECT_EQ(trimOws(" \t a b \t"), "a b");
  EXPECT_EQ(trimOws("   "), "");
  EXPECT_EQ(trimOws("\x0b"
                    "a"),
            "\x0b"
            "a");  // only SP and HTAB are OWS
}

TEST(Syntax, ListElements) {
  std::string seen;
  forEachListElement(" a ,b,, c\t",
                     [&](std::string_view e) { seen.append("[").append(e).append("]"); });
  EXPECT_EQ(seen, "[a][b][][c]");
}

TEST(Syntax, Authorities) {
  EXPECT_TRUE(isValidAuthority("example.com", false));
  EXPECT_TRUE(isValidAuthority("example.com:8080", false));
  EXPECT_TRUE(isValidAuthority("[::1]:443", true));
  EXPECT_TRUE(isValidAuthority("[2001:db8::1]", false));
  EXPECT_FALSE(isValidAuthority("example.com", true));
  EXPECT_FALSE(isValidAuthority("", false));
  EXPECT_FALSE(isValidAuthority(":80", false));
  EXPECT_FALSE(isValidAuthority("h:", false));
  EXPECT_FALSE(isValidAuthority("h:123456", false));
  EXPECT_FALSE(isValidAuthority("h:8a", false));
  EXPECT_FALSE(isValidAuthority("u@h", false));
  EXPECT_FALSE(isValidAuthority("h/p", false));
  EXPECT_FALSE(isValidAuthority("[::1", false));
  EXPECT_FALSE(isValidAuthority("[]", false));
  EXPECT_FALSE(isValidAuthority("[::1]x", false));
  EXPECT_FALSE(isValidAuthority("h h", false));
}

TransferCodings classify(std::initializer_list<std::string_view> values) {
  HeaderMap h;
  h.add("Host", "x");
  for (std::string_view v : values) h.add("Transfer-Encoding", v);
  return classifyTransferEncoding(h);
}

TEST(Syntax, TransferEncodingClassification) {
  EXPECT_EQ(classify({}), TransferCodings::kNone);
  EXPECT_EQ(classify({"chunked"}), TransferCodings::kChunkedOnly);
  EXPECT_EQ(classify({"CHUNKED"}), TransferCodings::kChunkedOnly);
  EXPECT_EQ(classify({"gzip, chunked"}), TransferCodings::kChunkedLast);
  EXPECT_EQ(classify({"gzip", "chunked"}), TransferCodings::kChunkedLast);
  EXPECT_EQ(classify({"gzip"}), TransferCodings::kNotChunked);
  EXPECT_EQ(classify({"xchunked"}), TransferCodings::kNotChunked);
  EXPECT_EQ(classify({"chunked, gzip"}), TransferCodings::kChunkedNotLast);
  EXPECT_EQ(classify({"chunked", "gzip"}), TransferCodings::kChunkedNotLast);
  EXPECT_EQ(classify({"chunked", "chunked"}), TransferCodings::kMalformed);
  EXPECT_EQ(classify({"chunked,"}), TransferCodings::kMalformed);
  EXPECT_EQ(classify({"chunked;q=1"}), TransferCodings::kMalformed);
  EXPECT_EQ(classify({""}), TransferCodings::kMalformed);
}

}  // namespace
}  // namespace weft::http
