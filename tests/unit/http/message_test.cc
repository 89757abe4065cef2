// RequestHead / ResponseHead: clear() restores defaults; hasBody() follows the framing.
#include "http/message.h"

#include <gtest/gtest.h>

namespace weft::http {
namespace {

TEST(RequestHead, ClearRestoresDefaults) {
  RequestHead h;
  h.method = "POST";
  h.target = "http://a/b";
  h.path = "/b";
  h.authority = "a";
  h.absolute_form = true;
  h.version_minor = 0;
  h.headers.add("Host", "a");
  h.keep_alive = false;
  h.chunked = true;
  h.content_length = 5;
  h.upgrade = true;
  h.expect_continue = true;
  h.clear();
  EXPECT_TRUE(h.method.empty());
  EXPECT_TRUE(h.target.empty());
  EXPECT_TRUE(h.path.empty());
  EXPECT_TRUE(h.authority.empty());
  EXPECT_FALSE(h.absolute_form);
  EXPECT_EQ(h.version_minor, 1);
  EXPECT_TRUE(h.headers.empty());
  EXPECT_TRUE(h.keep_alive);
  EXPECT_FALSE(h.chunked);
  EXPECT_FALSE(h.content_length.has_value());
  EXPECT_FALSE(h.upgrade);
  EXPECT_FALSE(h.expect_continue);
}

TEST(RequestHead, ClearKeepsStringCapacity) {
  RequestHead h;
  h.target.assign(200, '/');
  const size_t cap = h.target.capacity();
  h.clear();
  EXPECT_EQ(h.target.capacity(), cap);
}

TEST(RequestHead, HasBody) {
  RequestHead h;
  EXPECT_FALSE(h.hasBody());
  h.content_length = 0;
  EXPECT_FALSE(h.hasBody());
  h.content_length = 1;
  EXPECT_TRUE(h.hasBody());
  h.content_length.reset();
  h.chunked = true;
  EXPECT_TRUE(h.hasBody());
}

TEST(ResponseHead, ClearRestoresDefaults) {
  ResponseHead h;
  h.status = 404;
  h.reason = "Not Found";
  h.version_minor = 0;
  h.headers.add("A", "b");
  h.keep_alive = false;
  h.chunked = true;
  h.content_length = 3;
  h.no_body = true;
  h.until_close = true;
  h.clear();
  EXPECT_EQ(h.status, 0);
  EXPECT_TRUE(h.reason.empty());
  EXPECT_EQ(h.version_minor, 1);
  EXPECT_TRUE(h.headers.empty());
  EXPECT_TRUE(h.keep_alive);
  EXPECT_FALSE(h.chunked);
  EXPECT_FALSE(h.content_length.has_value());
  EXPECT_FALSE(h.no_body);
  EXPECT_FALSE(h.until_close);
}

}  // namespace
}  // namespace weft::http
