// removeHopByHopHeaders and reasonPhrase.
#include <gtest/gtest.h>

#include <string>

#include "http/codec.h"

namespace weft::http {
namespace {

std::string dump(const HeaderMap& h) {
  std::string s;
  h.forEach([&](std::string_view n, std::string_view v) {
    s.append(n).append("=").append(v).append(";");
  });
  return s;
}

TEST(HopByHop, RemovesFixedListAndConnectionNominees) {
  HeaderMap h;
  h.add("Host", "h");
  h.add("Connection", "keep-alive, X-Secret ,x-other");
  h.add("Keep-Alive", "timeout=5");
  h.add("X-Secret", "1");
  h.add("Proxy-Connection", "keep-alive");
  h.add("Proxy-Authorization", "Basic Zm9v");
  h.add("TE", "trailers");
  h.add("Trailer", "X-Sum");
  h.add("Transfer-Encoding", "chunked");
  h.add("Upgrade", "websocket");
  h.add("connection", "X-Third");
  h.add("X-Other", "2");
  h.add("X-Third", "3");
  h.add("Accept", "*/*");
  removeHopByHopHeaders(h, /*keep_upgrade=*/false);
  EXPECT_EQ(dump(h), "Host=h;Accept=*/*;");
}

TEST(HopByHop, KeepUpgradeRewritesConnection) {
  HeaderMap h;
  h.add("Host", "h");
  h.add("Connection", "keep-alive, Upgrade, X-Hop");
  h.add("Upgrade", "websocket");
  h.add("X-Hop", "1");
  h.add("Sec-WebSocket-Key", "k");
  removeHopByHopHeaders(h, /*keep_upgrade=*/true);
  EXPECT_EQ(dump(h), "Host=h;Upgrade=websocket;Sec-WebSocket-Key=k;Connection=upgrade;");
}

TEST(HopByHop, KeepUpgradeWithoutUpgradeFieldAddsNothing) {
  HeaderMap h;
  h.add("Connection", "close");
  removeHopByHopHeaders(h, /*keep_upgrade=*/true);
  EXPECT_TRUE(h.empty());
}

TEST(HopByHop, ConnectionCannotStripHost) {
  HeaderMap h;
  h.add("Host", "h");
  h.add("Connection", "host, ,");
  removeHopByHopHeaders(h, false);
  EXPECT_EQ(dump(h), "Host=h;");
}

TEST(ReasonPhrase, KnownAndUnknown) {
  EXPECT_STREQ(reasonPhrase(200), "OK");
  EXPECT_STREQ(reasonPhrase(101), "Switching Protocols");
  EXPECT_STREQ(reasonPhrase(431), "Request Header Fields Too Large");
  EXPECT_STREQ(reasonPhrase(502), "Bad Gateway");
  EXPECT_STREQ(reasonPhrase(505), "HTTP Version Not Supported");
  EXPECT_STREQ(reasonPhrase(299), "Unknown");
  EXPECT_STREQ(reasonPhrase(0), "Unknown");
}

}  // namespace
}  // namespace weft::http
