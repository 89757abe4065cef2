// Encoders: exact wire bytes, and a round trip through the decoders.
#include <gtest/gtest.h>

#include <string>

#include "http/codec.h"
#include "recorder.h"

namespace weft::http {
namespace {

TEST(Encoder, RequestHeadUsesOriginFormPath) {
  RequestHead h;
  h.method = "POST";
  h.target = "http://svc:8080/p?q=1";
  h.path = "/p?q=1";
  h.authority = "svc:8080";
  h.version_minor = 0;  // always written as HTTP/1.1 upstream
  h.headers.add("Host", "svc:8080");
  h.headers.add("Content-Length", "3");
  std::string out = "prefix|";
  encodeRequestHead(h, out);
  EXPECT_EQ(out, "prefix|POST /p?q=1 HTTP/1.1\r\nHost: svc:8080\r\nContent-Length: 3\r\n\r\n");
}

TEST(Encoder, ConnectUsesAuthorityForm) {
  RequestHead h;
  h.method = "CONNECT";
  h.authority = "db:5432";
  h.headers.add("Host", "db:5432");
  std::string out;
  encodeRequestHead(h, out);
  EXPECT_EQ(out, "CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n");
}

TEST(Encoder, ResponseHeadStatusLine) {
  ResponseHead h;
  h.status = 404;
  h.headers.add("Content-Length", "0");
  std::string out;
  encodeResponseHead(h, out);
  EXPECT_EQ(out, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  out.clear();
  h.status = 299;
  h.reason = "Custom";
  h.headers.clear();
  encodeResponseHead(h, out);
  EXPECT_EQ(out, "HTTP/1.1 299 Custom\r\n\r\n");
}

TEST(Encoder, Chunks) {
  std::string out;
  encodeChunk("", out);
  EXPECT_EQ(out, "");  // an empty chunk would end the body
  encodeChunk("hello", out);
  encodeChunk(std::string(26, 'x'), out);
  EXPECT_EQ(out, "5\r\nhello\r\n1a\r\n" + std::string(26, 'x') + "\r\n");
  out.clear();
  encodeLastChunk(nullptr, out);
  EXPECT_EQ(out, "0\r\n\r\n");
  out.clear();
  HeaderMap t;
  t.add("Grpc-Status", "0");
  t.add("Grpc-Message", "ok");
  encodeLastChunk(&t, out);
  EXPECT_EQ(out, "0\r\nGrpc-Status: 0\r\nGrpc-Message: ok\r\n\r\n");
}

TEST(Encoder, RoundTripThroughDecoders) {
  RequestHead h;
  h.method = "PUT";
  h.path = "/obj";
  h.headers.add("Host", "store");
  h.headers.add("Transfer-Encoding", "chunked");
  std::string wire;
  encodeRequestHead(h, wire);
  encodeChunk("abc", wire);
  encodeChunk("defgh", wire);
  HeaderMap t;
  t.add("X-Sum", "9");
  encodeLastChunk(&t, wire);
  EXPECT_EQ(test::requestLog(wire, 0),
            "H[PUT /obj path=/obj auth=store abs=0 v=1.1 ka=1 chunked=1 cl=- up=0100=0 "
            "Host=store;Transfer-Encoding=chunked;]B{abcdefgh}T[X-Sum=9;]C@" +
                std::to_string(wire.size()));

  ResponseHead r;
  r.status = 200;
  r.headers.add("Content-Length", "2");
  std::string rwire;
  encodeResponseHead(r, rwire);
  rwire += "ok";
  EXPECT_EQ(test::responseLog(rwire, 0),
            "H[200 OK v=1.1 ka=1 chunked=0 cl=2 nobody=0 eof=0 Content-Length=2;]B{ok}C@" +
                std::to_string(rwire.size()));
}

}  // namespace
}  // namespace weft::http
