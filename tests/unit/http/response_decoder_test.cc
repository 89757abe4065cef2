// ResponseDecoder: no-body rules (HEAD/204/304/1xx even with Content-Length), interim
// responses, upgrades, close-delimited bodies, truncation on EOF and read splitting.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/codec.h"
#include "recorder.h"

namespace weft::http {
namespace {

using test::responseLog;
using test::ResponseRecorder;

constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

std::string at(size_t n) {
  return "@" + std::to_string(n);
}

TEST(ResponseDecoder, ContentLengthBody) {
  EXPECT_EQ(responseLog(kOk, 0),
            "H[200 OK v=1.1 ka=1 chunked=0 cl=5 nobody=0 eof=0 "
            "Content-Length=5;]B{hello}C" +
                at(kOk.size()));
}

TEST(ResponseDecoder, HeadResponseWithContentLengthHasNoBody) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
  const std::string in = head + std::string(kOk);
  EXPECT_EQ(responseLog(in, 0, {"HEAD", "GET"}),
            "H[200 OK v=1.1 ka=1 chunked=0 cl=5 nobody=1 eof=0 Content-Length=5;]C" +
                at(head.size()) +
                "H[200 OK v=1.1 ka=1 chunked=0 cl=5 nobody=0 eof=0 Content-Length=5;]B{hello}C" +
                at(in.size()));
}

TEST(ResponseDecoder, HeadResponseWithChunkedHasNoBody) {
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string in = head + std::string(kOk);
  const std::string log = responseLog(in, 0, {"HEAD", "GET"});
  EXPECT_NE(log.find("C" + at(head.size())), std::string::npos) << log;
  EXPECT_NE(log.find("B{hello}C" + at(in.size())), std::string::npos) << log;
}

TEST(ResponseDecoder, NoContentAndNotModifiedIgnoreContentLength) {
  for (std::string_view status : {"204 No Content", "304 Not Modified"}) {
    const std::string head = "HTTP/1.1 " + std::string(status) + "\r\nContent-Length: 5\r\n\r\n";
    const std::string in = head + std::string(kOk);
    const std::string log = responseLog(in, 0, {"GET"});
    EXPECT_NE(log.find("nobody=1"), std::string::npos) << log;
    EXPECT_NE(log.find("C" + at(head.size()) + "H[200 OK"), std::string::npos) << log;
    EXPECT_NE(log.find("B{hello}C" + at(in.size())), std::string::npos) << log;
    EXPECT_EQ(responseLog(in, 1, {"GET"}), log);
  }
}

TEST(ResponseDecoder, ContinueThenFinalResponse) {
  const std::string cont = "HTTP/1.1 100 Continue\r\n\r\n";
  const std::string in = cont + std::string(kOk);
  EXPECT_EQ(responseLog(in, 0),
            "I[100 Continue]H[200 OK v=1.1 ka=1 chunked=0 cl=5 nobody=0 eof=0 "
            "Content-Length=5;]B{hello}C" +
                at(in.size()));
  EXPECT_EQ(responseLog(in, 1), responseLog(in, 0));
}

TEST(ResponseDecoder, InterimResponseIsNotIdleAndIgnoresContentLength) {
  ResponseRecorder rec;
  ResponseDecoder d(rec, DecoderLimits{});
  d.expectResponseTo("POST");
  EXPECT_TRUE(d.idle());
  std::string_view early = "HTTP/1.1 103 Early Hints\r\nContent-Length: 3\r\nLink: </a>\r\n\r\n";
  const DecodeResult r = d.decode(early.data(), early.size());
  EXPECT_EQ(r.status, DecodeStatus::kNeedMore);
  EXPECT_EQ(r.consumed, early.size());
  EXPECT_FALSE(d.idle());  // the final response is still owed
  EXPECT_EQ(rec.log, "I[103 Early Hints]");
  EXPECT_EQ(d.finish().status, DecodeStatus::kError);  // closing now truncates the exchange
}

TEST(ResponseDecoder, SwitchingProtocolsIsAnUpgrade) {
  const std::string head =
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
  const std::string in = head + "frames";
  EXPECT_EQ(responseLog(in, 0),
            "H[101 Switching Protocols v=1.1 ka=0 chunked=0 cl=- nobody=0 eof=0 "
            "Connection=Upgrade;Upgrade=websocket;]CU" +
                at(head.size()));
  EXPECT_EQ(responseLog(in, 1), responseLog(in, 0));
}

TEST(ResponseDecoder, SuccessfulConnectIsAnUpgrade) {
  const std::string head = "HTTP/1.1 200 Connection Established\r\nContent-Length: 9\r\n\r\n";
  const std::string in = head + "tunnelled";
  const std::string log = responseLog(in, 0, {"CONNECT"});
  const std::string tail = "CU" + at(head.size());
  ASSERT_GE(log.size(), tail.size());
  EXPECT_EQ(log.substr(log.size() - tail.size()), tail) << log;
  EXPECT_NE(log.find("H[200 Connection Established"), std::string::npos) << log;
}

TEST(ResponseDecoder, RefusedConnectHasABody) {
  const std::string in = "HTTP/1.1 407 Proxy Auth\r\nContent-Length: 2\r\n\r\nno";
  const std::string log = responseLog(in, 0, {"CONNECT"});
  EXPECT_NE(log.find("B{no}C" + at(in.size())), std::string::npos) << log;
}

TEST(ResponseDecoder, CloseDelimitedBodyCompletesOnEof) {
  const std::string in = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart one, part two";
  EXPECT_EQ(responseLog(in, 4, {"GET"}, /*eof=*/true),
            "H[200 OK v=1.1 ka=0 chunked=0 cl=- nobody=0 eof=1 Connection=close;]"
            "B{part one, part two}CEOF-complete");
  // HTTP/1.0 without a length is close-delimited too.
  EXPECT_NE(responseLog("HTTP/1.0 200 OK\r\n\r\nx", 0, {"GET"}, true).find("eof=1"),
            std::string::npos);
}

TEST(ResponseDecoder, UnknownCodingIsCloseDelimited) {
  const std::string in = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzz";
  EXPECT_NE(
      responseLog(in, 0, {"GET"}, true).find("eof=1 Transfer-Encoding=gzip;]B{zzz}CEOF-complete"),
      std::string::npos);
}

TEST(ResponseDecoder, TruncatedResponsesAreErrorsOnEof) {
  for (std::string_view in : {
           std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"),
           std::string_view("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"),
           std::string_view("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"),
           std::string_view("HTTP/1.1 200 OK\r\nContent-Le"),
           std::string_view("HTTP/1.1 100 Continue\r\n\r\n"),
       }) {
    const std::string log = responseLog(in, 0, {"GET"}, true);
    EXPECT_EQ(log.substr(log.size() - 9), "EOF-error") << in;
  }
}

TEST(ResponseDecoder, FinishWhenIdleOrComplete) {
  EXPECT_EQ(responseLog("", 0, {"GET"}, true), "EOF-idle");
  const std::string log = responseLog(kOk, 0, {"GET"}, true);
  EXPECT_EQ(log.substr(log.size() - 8), "EOF-idle");
}

TEST(ResponseDecoder, TruncationErrorIsStickyAnd502) {
  ResponseRecorder rec;
  ResponseDecoder d(rec, DecoderLimits{});
  d.expectResponseTo("GET");
  std::string_view part = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
  EXPECT_EQ(d.decode(part.data(), part.size()).status, DecodeStatus::kNeedMore);
  const DecodeResult r = d.finish();
  EXPECT_EQ(r.status, DecodeStatus::kError);
  EXPECT_EQ(r.http_status, 502);
  EXPECT_EQ(d.decode("defg", 4).status, DecodeStatus::kError);
  EXPECT_EQ(d.finish().status, DecodeStatus::kError);
}

TEST(ResponseDecoder, ChunkedWithTrailers) {
  const std::string in =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\n"
      "Grpc-Status: 0\r\n\r\n";
  EXPECT_EQ(responseLog(in, 0),
            "H[200 OK v=1.1 ka=1 chunked=1 cl=- nobody=0 eof=0 "
            "Transfer-Encoding=chunked;]B{abc}T[Grpc-Status=0;]C" +
                at(in.size()));
}

TEST(ResponseDecoder, TrailerLimitsGive502) {
  DecoderLimits limits;
  limits.max_headers = 2;
  ResponseRecorder rec;
  ResponseDecoder d(rec, limits);
  d.expectResponseTo("GET");
  std::string_view in =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
  const DecodeResult r = d.decode(in.data(), in.size());
  EXPECT_EQ(r.status, DecodeStatus::kError);
  EXPECT_EQ(r.http_status, 502);
  EXPECT_STREQ(r.reason, "too many trailer fields");
}

TEST(ResponseDecoder, SameEventsAtEverySplit) {
  const std::string in = std::string("HTTP/1.1 100 Continue\r\n\r\n") + std::string(kOk) +
                         "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n" +
                         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "a\r\n0123456789\r\n0\r\nT: v\r\n\r\n" +
                         "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlast";
  const std::string whole = responseLog(in, 0, {"GET"});
  ASSERT_NE(whole.find("B{last}C@" + std::to_string(in.size())), std::string::npos) << whole;
  for (size_t step = 1; step < 40; ++step) {
    EXPECT_EQ(responseLog(in, step, {"GET"}), whole) << "reads of " << step;
  }
}

TEST(ResponseDecoder, KeepAliveRules) {
  EXPECT_NE(responseLog("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0).find("ka=0"),
            std::string::npos);
  EXPECT_NE(responseLog("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 0)
                .find("ka=1"),
            std::string::npos);
  EXPECT_NE(responseLog("HTTP/1.1 204 No Content\r\n\r\n", 0).find("ka=1"), std::string::npos);
  EXPECT_NE(responseLog("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 0)
                .find("ka=0"),
            std::string::npos);
}

TEST(ResponseDecoder, MalformedResponsesAre502) {
  for (std::string_view in : {
           std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
           std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: "
                            "chunked\r\n\r\n"),
           std::string_view("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
           std::string_view("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"),
           std::string_view("HTTP/2.0 200 OK\r\n\r\n"),
           std::string_view("HTTP/1.1 600 Nope\r\n\r\n"),
           std::string_view("HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
           std::string_view("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
       }) {
    EXPECT_EQ(responseLog(in, 0).substr(responseLog(in, 0).size() - 4), "E502") << in;
  }
}

}  // namespace
}  // namespace weft::http
