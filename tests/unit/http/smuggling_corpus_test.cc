// Request-smuggling / desync corpus, kept as data: raw request bytes -> expected verdict.
//
// Verdict 0 means every message in the input decodes cleanly; otherwise the decoder must stop
// with that status. Each case is also decoded one byte per read and at every two-read split,
// because several of these attacks (obs-fold, CR tricks) hinge on where a read ends.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/codec.h"
#include "recorder.h"

namespace weft::http {
namespace {

using namespace std::string_literals;

struct Case {
  const char* name;
  std::string raw;
  uint16_t verdict;
};

constexpr std::string_view kHead = "POST / HTTP/1.1\r\nHost: h\r\n";

std::string req(std::string_view fields_and_body) {
  return std::string(kHead) + std::string(fields_and_body);
}

std::string manyFields(size_t n) {
  std::string s = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (size_t i = 1; i < n; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
  return s + "\r\n";
}

const std::vector<Case>& corpus() {
  static const std::vector<Case> cases = {
      // --- accepted shapes (controls: the rejections below must not be over-broad) ---
      {"plain chunked", req("Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), 0},
      {"extra OWS before chunked is fine", req("Transfer-Encoding:   chunked\r\n\r\n0\r\n\r\n"), 0},
      {"chunked is case-insensitive", req("Transfer-Encoding: Chunked\r\n\r\n0\r\n\r\n"), 0},
      {"content-length leading zeros", req("Content-Length: 007\r\n\r\n1234567"), 0},
      {"leading empty line before request", "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 0},
      {"obs-text in value", req("X: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n"), 0},
      {"chunk extensions",
       req("Transfer-Encoding: chunked\r\n\r\n1;a;b=\"c d\";e=f\r\nx\r\n0\r\n\r\n"), 0},
      {"two spaces after method (re-serialized, so harmless)", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
       0},
      {"TE chunked with trailing SP (OWS; llhttp agrees it is chunked)",
       req("Transfer-Encoding: chunked \r\n\r\n0\r\n\r\n"), 0},
      {"pipelined pair", "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n", 0},
      {"100 headers is the limit", manyFields(100), 0},

      // --- CR / LF / NUL tricks ---
      {"CVE-2023-30589 CR-terminated empty header",
       req("x:\rTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"), 400},
      {"bare LF line endings", "GET / HTTP/1.1\nHost: h\n\n", 400},
      {"bare LF after one header", req("Content-Length: 0\n\r\n"), 400},
      {"bare CR inside a value", req("X: a\rb\r\nContent-Length: 0\r\n\r\n"), 400},
      {"NUL in a value", req("X: a\0b\r\nContent-Length: 0\r\n\r\n"s), 400},
      {"NUL in a name", req("X\0Y: a\r\nContent-Length: 0\r\n\r\n"s), 400},

      // --- obs-fold (CVE-2024-27982 shape) ---
      {"obs-fold with SP", req("X-A: one\r\n two\r\nContent-Length: 0\r\n\r\n"), 400},
      {"obs-fold with HTAB", req("X-A: one\r\n\ttwo\r\nContent-Length: 0\r\n\r\n"), 400},
      {"obs-fold hiding chunked",
       req("Transfer-Encoding: gzip\r\n ,chunked\r\nContent-Length: 3\r\n\r\nabc"), 400},
      {"obs-fold of an empty value", req("X-A:\r\n two\r\nContent-Length: 0\r\n\r\n"), 400},
      {"first header line starts with SP", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400},
      {"obs-fold in trailers", req("Transfer-Encoding: chunked\r\n\r\n0\r\nT: a\r\n b\r\n\r\n"),
       400},

      // --- Content-Length / Transfer-Encoding conflicts ---
      {"CL then TE", req("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400},
      {"TE then CL", req("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n"), 400},
      {"CL CL differing", req("Content-Length: 1\r\nContent-Length: 2\r\n\r\nab"), 400},
      {"CL CL identical (rejected like strict proxies)",
       req("Content-Length: 2\r\nContent-Length: 2\r\n\r\nab"), 400},
      {"CL as a list", req("Content-Length: 2, 2\r\n\r\nab"), 400},
      {"negative CL", req("Content-Length: -1\r\n\r\n"), 400},
      {"CL with plus sign", req("Content-Length: +5\r\n\r\nabcde"), 400},
      {"CL hex", req("Content-Length: 0x5\r\n\r\nabcde"), 400},
      {"CL overflow", req("Content-Length: 99999999999999999999999\r\n\r\n"), 400},
      {"CL empty", req("Content-Length: \r\n\r\n"), 400},
      {"CL with inner space", req("Content-Length: 1 2\r\n\r\n"), 400},
      {"Content_Length underscore alias", req("Content_Length: 3\r\n\r\n"), 400},
      {"Transfer_Encoding underscore alias",
       req("Transfer_Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc"), 400},

      // --- obfuscated Transfer-Encoding ---
      {"TE chunked, identity", req("Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"), 400},
      {"TE chunked, gzip", req("Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"), 400},
      {"TE gzip, chunked (unsupported coding)",
       req("Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"), 400},
      {"TE xchunked (unknown coding)", req("Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"), 400},
      {"TE identity (unknown coding)", req("Transfer-Encoding: identity\r\n\r\n"), 400},
      {"TE chunked with trailing HTAB (llhttp does not read it as chunked)",
       req("Transfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n"), 400},
      {"TE chunked twice in two fields",
       req("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400},
      {"TE chunked then a second field",
       req("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n"), 400},
      {"TE with parameters", req("Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n"), 400},
      {"TE with empty list element", req("Transfer-Encoding: chunked,\r\n\r\n0\r\n\r\n"), 400},
      {"TE with vertical tab",
       req("Transfer-Encoding: \x0b"
           "chunked\r\n\r\n0\r\n\r\n"),
       400},
      {"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"space before colon", req("Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"), 400},
      {"HTAB before colon", req("Content-Length\t: 0\r\n\r\n"), 400},
      {"non-token field name", req("X(y): 1\r\nContent-Length: 0\r\n\r\n"), 400},
      {"empty field name", req(": 1\r\nContent-Length: 0\r\n\r\n"), 400},

      // --- chunk framing ---
      {"chunk size 0x5", req("Transfer-Encoding: chunked\r\n\r\n0x5\r\nabcde\r\n0\r\n\r\n"), 400},
      {"chunk size with leading SP",
       req("Transfer-Encoding: chunked\r\n\r\n 5\r\nabcde\r\n0\r\n\r\n"), 400},
      {"chunk size negative", req("Transfer-Encoding: chunked\r\n\r\n-5\r\nabcde\r\n0\r\n\r\n"),
       400},
      {"chunk size overflow",
       req("Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF0\r\nabc\r\n0\r\n\r\n"), 400},
      {"chunk data not followed by CRLF",
       req("Transfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n"), 400},
      {"chunk size line with bare LF", req("Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n"),
       400},
      {"chunk extension control byte",
       req("Transfer-Encoding: chunked\r\n\r\n3;\x01\r\nabc\r\n0\r\n\r\n"), 400},
      {"chunk extension after a token-valued one (llhttp 8.1.0 rejects; fails closed)",
       req("Transfer-Encoding: chunked\r\n\r\n1;a=b;c\r\nx\r\n0\r\n\r\n"), 400},
      {"chunk extension bare CR",
       req("Transfer-Encoding: chunked\r\n\r\n3;a\rb\r\nabc\r\n0\r\n\r\n"), 400},
      {"last chunk missing final CRLF then garbage",
       req("Transfer-Encoding: chunked\r\n\r\n0\r\nGET / HTTP/1.1\r\n\r\n"), 400},

      // --- request line / target ---
      {"HTTP/2 connection preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400},
      {"HTTP/2.0 request line", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
      {"HTTP/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505},
      {"HTTP/0.9 simple request", "GET /\r\n\r\n", 505},
      {"lowercase method", "get / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"unknown method", "FOO / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"space in target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"HTAB in target", "GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"control byte in target", "GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"DEL in target", "GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"fragment in target", "GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"absolute-form https scheme", "GET https://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"absolute-form other scheme", "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"absolute-form userinfo", "GET http://u:p@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"absolute-form empty authority", "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"relative target", "GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", 400},

      // --- Host ---
      {"missing Host on HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400},
      {"two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"two Host fields, same value", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400},
      {"empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 400},
      {"Host with userinfo", "GET / HTTP/1.1\r\nHost: evil@h\r\n\r\n", 400},
      {"Host with path", "GET / HTTP/1.1\r\nHost: h/x\r\n\r\n", 400},
      {"Host with inner space", "GET / HTTP/1.1\r\nHost: h x\r\n\r\n", 400},
      {"Host with bad port", "GET / HTTP/1.1\r\nHost: h:80x\r\n\r\n", 400},

      // --- connection state ---
      {"bytes after Connection: close",
       "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n",
       400},

      // --- limits ---
      {"header section too large", req("X: " + std::string(70 * 1024, 'a') + "\r\n\r\n"), 431},
      {"101 header fields", manyFields(101), 431},
      {"101 trailer fields",
       [] {
         std::string s = req("Transfer-Encoding: chunked\r\n\r\n0\r\n");
         for (int i = 0; i < 101; ++i) s += "T" + std::to_string(i) + ": v\r\n";
         return s + "\r\n";
       }(),
       431},
  };
  return cases;
}

// The verdict after decoding all of `raw` in reads of `step` bytes (0 = one read).
uint16_t verdict(std::string_view raw, size_t step, bool* completed_all = nullptr) {
  test::RequestRecorder rec;
  RequestDecoder d(rec, DecoderLimits{});
  std::string log;
  const DecodeResult r = test::drive(d, raw, step, log);
  if (completed_all != nullptr) {
    *completed_all = !log.empty() && log.rfind('@') != std::string::npos &&
                     log.substr(log.rfind('@') + 1) == std::to_string(raw.size());
  }
  return r.status == DecodeStatus::kError ? r.http_status : 0;
}

TEST(SmugglingCorpus, VerdictsInOneRead) {
  for (const Case& c : corpus()) {
    bool all = false;
    EXPECT_EQ(verdict(c.raw, 0, &all), c.verdict) << c.name;
    if (c.verdict == 0) {
      EXPECT_TRUE(all) << c.name << ": not every message completed";
    }
  }
}

TEST(SmugglingCorpus, VerdictsOneBytePerRead) {
  for (const Case& c : corpus()) {
    EXPECT_EQ(verdict(c.raw, 1), c.verdict) << c.name;
  }
}

TEST(SmugglingCorpus, VerdictsAtEveryTwoReadSplit) {
  for (const Case& c : corpus()) {
    if (c.raw.size() > 400) continue;  // the limit cases are covered by the tests above
    for (size_t cut = 1; cut < c.raw.size(); ++cut) {
      test::RequestRecorder rec;
      RequestDecoder d(rec, DecoderLimits{});
      std::string log;
      std::string_view sv(c.raw);
      DecodeResult r;
      for (std::string_view piece : {sv.substr(0, cut), sv.substr(cut)}) {
        r = test::drive(d, piece, 0, log);
        if (r.status == DecodeStatus::kError) break;
      }
      const uint16_t got = r.status == DecodeStatus::kError ? r.http_status : 0;
      ASSERT_EQ(got, c.verdict) << c.name << " split at " << cut;
    }
  }
}

}  // namespace
}  // namespace weft::http
