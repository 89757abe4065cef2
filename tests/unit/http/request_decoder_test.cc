// RequestDecoder: head fields, read splitting, pipelining, chunked bodies, upgrades, limits,
// state queries and the absence of per-message allocation.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/codec.h"
#include "recorder.h"

namespace weft::http {
namespace {

using test::drive;
using test::requestLog;
using test::RequestRecorder;

constexpr std::string_view kGet =
    "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t  \t\r\n\r\n";
constexpr std::string_view kPostCl =
    "POST /upload HTTP/1.1\r\nHost: h:8080\r\nContent-Length: 11\r\n\r\nhello world";
constexpr std::string_view kChunked =
    "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;flag;name=\"quoted value\"\r\nhello\r\n6;x=y\r\n world\r\n0\r\nX-Checksum: abc\r\n"
    "X-Other:  two words \r\n\r\n";

TEST(RequestDecoder, SimpleGet) {
  RequestRecorder rec;
  RequestDecoder d(rec, DecoderLimits{});
  const DecodeResult r = d.decode(kGet.data(), kGet.size());
  EXPECT_EQ(r.status, DecodeStatus::kMessageComplete);
  EXPECT_EQ(r.consumed, kGet.size());
  ASSERT_NE(rec.last, nullptr);
  const RequestHead& h = *rec.last;
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "/a?b=c");
  EXPECT_EQ(h.path, "/a?b=c");
  EXPECT_EQ(h.authority, "example.com");
  EXPECT_FALSE(h.absolute_form);
  EXPECT_EQ(h.version_minor, 1);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_FALSE(h.chunked);
  EXPECT_FALSE(h.content_length.has_value());
  EXPECT_FALSE(h.upgrade);
  EXPECT_FALSE(h.expect_continue);
  EXPECT_FALSE(h.hasBody());
  EXPECT_EQ(h.headers.get("user-agent"), "t");  // trailing SP/HTAB trimmed
  EXPECT_EQ(rec.log.back(), 'C');
}

TEST(RequestDecoder, AbsoluteFormTakesAuthorityFromTarget) {
  RequestRecorder rec;
  RequestDecoder d(rec, DecoderLimits{});
  std::string_view in = "GET http://Svc.NS:8080/p/q?x=1 HTTP/1.1\r\nHost: other\r\n\r\n";
  ASSERT_EQ(d.decode(in.data(), in.size()).status, DecodeStatus::kMessageComplete);
  EXPECT_TRUE(rec.last->absolute_form);
  EXPECT_EQ(rec.last->authority, "Svc.NS:8080");
  EXPECT_EQ(rec.last->path, "/p/q?x=1");
  EXPECT_EQ(rec.last->target, "http://Svc.NS:8080/p/q?x=1");
}

TEST(RequestDecoder, AbsoluteFormWithoutPath) {
  EXPECT_NE(requestLog("GET http://h HTTP/1.1\r\nHost: h\r\n\r\n", 0).find("path=/ auth=h abs=1"),
            std::string::npos);
  EXPECT_NE(
      requestLog("GET HTTP://h:1?q HTTP/1.1\r\nHost: h\r\n\r\n", 0).find("path=/?q auth=h:1 abs=1"),
      std::string::npos);
}

TEST(RequestDecoder, AsteriskFormOnlyForOptions) {
  EXPECT_NE(requestLog("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", 0).find("path=* auth=h"),
            std::string::npos);
  EXPECT_EQ(requestLog("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 0), "E400");
}

TEST(RequestDecoder, Http10WithoutHostIsAllowed) {
  RequestRecorder rec;
  RequestDecoder d(rec, DecoderLimits{});
  std::string_view in = "GET / HTTP/1.0\r\n\r\n";
  ASSERT_EQ(d.decode(in.data(), in.size()).status, DecodeStatus::kMessageComplete);
  EXPECT_EQ(rec.last->version_minor, 0);
  EXPECT_FALSE(rec.last->keep_alive);
  EXPECT_EQ(rec.last->authority, "");
}

TEST(RequestDecoder, KeepAliveFollowsVersionAndConnection) {
  EXPECT_NE(requestLog("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0).find("ka=1"),
            std::string::npos);
  EXPECT_NE(requestLog("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 0).find("ka=0"),
            std::string::npos);
}

TEST(RequestDecoder, ExpectContinueIsCaseInsensitive) {
  EXPECT_NE(requestLog("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
                       "Content-Length: 1\r\n\r\nx",
                       0)
                .find("100=1"),
            std::string::npos);
  // Ignored for HTTP/1.0 (RFC 9110 §10.1.1).
  EXPECT_NE(requestLog("PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx", 0)
                .find("100=0"),
            std::string::npos);
}

TEST(RequestDecoder, ContentLengthBody) {
  EXPECT_EQ(requestLog(kPostCl, 0),
            "H[POST /upload path=/upload auth=h:8080 abs=0 v=1.1 ka=1 chunked=0 cl=11 up=0100=0 "
            "Host=h:8080;Content-Length=11;]B{hello world}C@" +
                std::to_string(kPostCl.size()));
}

TEST(RequestDecoder, ChunkedWithExtensionsAndTrailers) {
  EXPECT_EQ(requestLog(kChunked, 0),
            "H[POST /c path=/c auth=h abs=0 v=1.1 ka=1 chunked=1 cl=- up=0100=0 "
            "Host=h;Transfer-Encoding=chunked;]B{hello world}"
            "T[X-Checksum=abc;X-Other=two words;]C@" +
                std::to_string(kChunked.size()));
}

TEST(RequestDecoder, ChunkedWithoutTrailersHasNoTrailerEvent) {
  std::string in = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  EXPECT_EQ(requestLog(in, 0).find("T["), std::string::npos);
  EXPECT_NE(requestLog(in, 0).find("C@"), std::string::npos);
}

// Every way of splitting the input into reads must give the same events and offsets.
TEST(RequestDecoder, SameEventsAtEverySplit) {
  const std::vector<std::string> inputs = {
      std::string(kGet), std::string(kPostCl), std::string(kChunked),
      std::string(kGet) + std::string(kChunked) + std::string(kPostCl),
      "GET http://a.b:1/x HTTP/1.1\r\nHost: a.b:1\r\nX-Empty:\r\nX-Sp:   \r\n\r\n"};
  for (const std::string& in : inputs) {
    const std::string whole = requestLog(in, 0);
    ASSERT_NE(whole.find("C@"), std::string::npos) << whole;
    EXPECT_EQ(requestLog(in, 1), whole) << "one byte per read: " << in;
    for (size_t cut = 1; cut < in.size(); ++cut) {
      RequestRecorder rec;
      RequestDecoder d(rec, DecoderLimits{});
      std::string log;
      // Two reads, [0, cut) and [cut, end), with the driver resuming in between.
      std::string_view sv(in);
      size_t base = 0;
      for (std::string_view piece : {sv.substr(0, cut), sv.substr(cut)}) {
        size_t off = 0;
        while (off < piece.size()) {
          const DecodeResult r = d.decode(piece.data() + off, piece.size() - off);
          off += r.consumed;
          ASSERT_NE(r.status, DecodeStatus::kError) << "cut " << cut;
          if (r.status != DecodeStatus::kMessageComplete) break;
          rec.log += "@" + std::to_string(base + off);
          d.resume();
        }
        base += piece.size();
      }
      EXPECT_EQ(rec.log, whole) << "cut at " << cut;
    }
  }
}

TEST(RequestDecoder, PipelinedRequestsPauseAtEachEnd) {
  const std::string first = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string second = "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string both = first + second;
  RequestRecorder rec;
  RequestDecoder d(rec, DecoderLimits{});
  DecodeResult r = d.decode(both.data(), both.size());
  ASSERT_EQ(r.status, DecodeStatus::kMessageComplete);
  EXPECT_EQ(r.consumed, first.size());
  EXPECT_EQ(rec.last->path, "/1");
  // Without resume() nothing more is parsed.
  r = d.decode(both.data() + first.size(), second.size());
  EXPECT_EQ(r.status, DecodeStatus::kMessageComplete);
  EXPECT_EQ(r.consumed, 0u);
  EXPECT_EQ(rec.last->path, "/1");
  d.resume();
  r = d.decode(both.data() + first.size(), second.size());
  ASSERT_EQ(r.status, DecodeStatus::kMessageComplete);
  EXPECT_EQ(r.consumed, second.size());
  EXPECT_EQ(rec.last->path, "/2");
}

TEST(RequestDecoder, WebSocketUpgradeStopsAtFirstTunnelByte) {
  const std::string head =
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
  const std::string in = head + "RAW-BYTES";
  RequestRecorder rec;
  RequestDecoder d(rec, DecoderLimits{});
  const DecodeResult r = d.decode(in.data(), in.size());
  ASSERT_EQ(r.status, DecodeStatus::kUpgrade);
  EXPECT_EQ(r.consumed, head.size());
  EXPECT_TRUE(rec.last->upgrade);
  EXPECT_EQ(rec.log.back(), 'C');
  // Upgraded: later calls consume nothing.
  EXPECT_EQ(d.decode(in.data() + r.consumed, 3).consumed, 0u);
}

TEST(RequestDecoder, ConnectStopsAtFirstTunnelByte) {
  const std::string head = "CONNECT db.svc:5432 HTTP/1.1\r\nHost: db.svc:5432\r\n\r\n";
  const std::string in = head + "\x16\x03\x01TLS";
  EXPECT_EQ(
      requestLog(in, 0),
      "H[CONNECT db.svc:5432 path= auth=db.svc:5432 abs=0 v=1.1 ka=1 chunked=0 cl=- up=1100=0 "
      "Host=db.svc:5432;]CU@" +
          std::to_string(head.size()));
  EXPECT_EQ(requestLog(in, 1), requestLog(in, 0));
}

TEST(RequestDecoder, UpgradeWithBodyStopsAfterTheBody) {
  const std::string msg =
      "POST /up HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: h2c\r\n"
      "Content-Length: 4\r\n\r\nbody";
  const std::string log = requestLog(msg + "TUNNEL", 0);
  EXPECT_NE(log.find("up=1"), std::string::npos) << log;
  EXPECT_NE(log.find("B{body}CU@" + std::to_string(msg.size())), std::string::npos) << log;
}

TEST(RequestDecoder, ObsFoldSplitRightAfterTheLineBreak) {
  // The continuation line starts a new read: the byte before it is in the previous one.
  for (std::string_view second : {" two\r\n\r\n", "\ttwo\r\n\r\n", "  \t two\r\n\r\n"}) {
    RequestRecorder rec;
    RequestDecoder d(rec, DecoderLimits{});
    std::string_view first = "GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n";
    EXPECT_EQ(d.decode(first.data(), first.size()).status, DecodeStatus::kNeedMore);
    const DecodeResult r = d.decode(second.data(), second.size());
    EXPECT_EQ(r.status, DecodeStatus::kError) << second;
    EXPECT_EQ(r.http_status, 400);
    EXPECT_STREQ(r.reason, "obsolete line folding");
  }
}

TEST(RequestDecoder, ConnectNeedsHostAndPort) {
  EXPECT_EQ(requestLog("CONNECT db.svc HTTP/1.1\r\nHost: db.svc\r\n\r\n", 0), "E400");
  EXPECT_EQ(requestLog("CONNECT /x HTTP/1.1\r\nHost: h\r\n\r\n", 0), "E400");
  EXPECT_EQ(requestLog("CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\nContent-Length: 2\r\n\r\nab", 0),
            "E400");
}

TEST(RequestDecoder, IdleAndHeadCompleteTrackTheMessage) {
  RequestRecorder rec;
  RequestDecoder d(rec, DecoderLimits{});
  EXPECT_TRUE(d.idle());
  EXPECT_FALSE(d.headComplete());
  std::string_view p1 = "POST / HTTP/1.1\r\nHo";
  std::string_view p2 = "st: h\r\nContent-Length: 2\r\n\r\na";
  std::string_view p3 = "b";
  EXPECT_EQ(d.decode(p1.data(), p1.size()).status, DecodeStatus::kNeedMore);
  EXPECT_FALSE(d.idle());
  EXPECT_FALSE(d.headComplete());
  EXPECT_EQ(d.decode(p2.data(), p2.size()).status, DecodeStatus::kNeedMore);
  EXPECT_TRUE(d.headComplete());
  EXPECT_EQ(d.decode(p3.data(), p3.size()).status, DecodeStatus::kMessageComplete);
  EXPECT_TRUE(d.idle());
  d.resume();
  EXPECT_TRUE(d.idle());
  EXPECT_FALSE(d.headComplete());
}

TEST(RequestDecoder, ErrorsAreSticky) {
  RequestRecorder rec;
  RequestDecoder d(rec, DecoderLimits{});
  std::string_view bad = "GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n";
  DecodeResult r = d.decode(bad.data(), bad.size());
  ASSERT_EQ(r.status, DecodeStatus::kError);
  EXPECT_EQ(r.http_status, 400);
  EXPECT_STRNE(r.reason, "");
  std::string_view good = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  d.resume();
  r = d.decode(good.data(), good.size());
  EXPECT_EQ(r.status, DecodeStatus::kError);
  EXPECT_EQ(r.http_status, 400);
  EXPECT_FALSE(rec.head_seen);
}

std::string requestWithHeaderBytes(size_t total) {
  // "GET / HTTP/1.1\r\nHost: h\r\nX: <pad>\r\n\r\n" padded to exactly `total` bytes.
  const std::string prefix = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
  const std::string suffix = "\r\n\r\n";
  return prefix + std::string(total - prefix.size() - suffix.size(), 'p') + suffix;
}

TEST(RequestDecoder, HeaderBytesLimitIsExact) {
  DecoderLimits limits;
  limits.max_header_bytes = 200;
  for (size_t step : {size_t{0}, size_t{1}, size_t{7}}) {
    EXPECT_NE(requestLog(requestWithHeaderBytes(200), step, limits).find("C@200"),
              std::string::npos);
    EXPECT_EQ(requestLog(requestWithHeaderBytes(201), step, limits), "E431") << step;
  }
}

TEST(RequestDecoder, HeaderLimitCountsWhitespaceThatReachesNoCallback) {
  DecoderLimits limits;
  limits.max_header_bytes = 100;
  const std::string in = "GET / HTTP/1.1\r\nHost: h\r\nX:" + std::string(500, ' ') + "\r\n\r\n";
  EXPECT_EQ(requestLog(in, 0, limits), "E431");
}

TEST(RequestDecoder, HeaderLimitDoesNotApplyToTheBody) {
  DecoderLimits limits;
  limits.max_header_bytes = 100;
  const std::string in =
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'b');
  EXPECT_NE(requestLog(in, 0, limits).find("C@"), std::string::npos);
}

std::string requestWithFields(size_t n) {
  std::string in = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (size_t i = 1; i < n; ++i) in += "X-" + std::to_string(i) + ": v\r\n";
  return in + "\r\n";
}

TEST(RequestDecoder, HeaderCountLimit) {
  DecoderLimits limits;
  limits.max_headers = 10;
  EXPECT_NE(requestLog(requestWithFields(10), 0, limits).find("C@"), std::string::npos);
  EXPECT_EQ(requestLog(requestWithFields(11), 0, limits), "E431");
}

TEST(RequestDecoder, TrailerCountLimit) {
  DecoderLimits limits;
  limits.max_headers = 3;
  auto with = [](int n) {
    std::string in = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
    for (int i = 0; i < n; ++i) in += "T" + std::to_string(i) + ": v\r\n";
    return in + "\r\n";
  };
  EXPECT_NE(requestLog(with(3), 0, limits).find("C@"), std::string::npos);
  const std::string log = requestLog(with(4), 0, limits);
  EXPECT_EQ(log.substr(log.size() - 4), "E431");
}

TEST(RequestDecoder, TrailerBytesLimit) {
  DecoderLimits limits;
  limits.max_header_bytes = 100;
  const std::string in =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
      "T: " +
      std::string(200, 'v') + "\r\n\r\n";
  const std::string log = requestLog(in, 0, limits);
  EXPECT_EQ(log.substr(log.size() - 4), "E431");
}

}  // namespace
}  // namespace weft::http
