// Access log: response flag names and order, JSON escaping of hostile strings, the JSON line,
// and the writer (buffering, files shared by workers, a reader that went away).
#include "observe/access_log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "observe/json_escape.h"

namespace weft::observe {
namespace {

std::string escaped(std::string_view s) {
  std::string out;
  appendJsonString(out, s);
  return out;
}

TEST(ResponseFlags, NoneIsDash) {
  EXPECT_EQ(formatResponseFlags(0), "-");
}

TEST(ResponseFlags, EnvoyOrderNotBitOrder) {
  EXPECT_EQ(formatResponseFlags(kUpstreamConnectionFailure | kUpstreamRetryLimitExceeded),
            "UF,URX");
  EXPECT_EQ(formatResponseFlags(kNoRoute), "NR");
  EXPECT_EQ(formatResponseFlags(kUpstreamRequestTimeout | kNoHealthyUpstream), "UH,UT");
  EXPECT_EQ(formatResponseFlags(kDownstreamConnectionTermination | kUpstreamOverflow), "UO,DC");
  EXPECT_EQ(formatResponseFlags(0x3ffff),
            "UH,UT,LR,UR,UF,UC,UO,NR,DI,FI,RL,DC,URX,SI,IH,DPE,UPE,NC");
}

TEST(ResponseFlags, EachFlagHasItsShortName) {
  const std::vector<std::pair<uint32_t, std::string>> names = {
      {kNoHealthyUpstream, "UH"},
      {kUpstreamConnectionFailure, "UF"},
      {kUpstreamOverflow, "UO"},
      {kNoRoute, "NR"},
      {kUpstreamRetryLimitExceeded, "URX"},
      {kNoClusterFound, "NC"},
      {kUpstreamRequestTimeout, "UT"},
      {kLocalReset, "LR"},
      {kUpstreamRemoteReset, "UR"},
      {kUpstreamConnectionTermination, "UC"},
      {kDownstreamConnectionTermination, "DC"},
      {kDelayInjected, "DI"},
      {kFaultInjected, "FI"},
      {kRateLimited, "RL"},
      {kRbacAccessDenied, "RBAC"},
      {kDownstreamProtocolError, "DPE"},
      {kUpstreamProtocolError, "UPE"},
      {kStreamIdleTimeout, "SI"},
      {kInvalidHeader, "IH"},
  };
  for (const auto& [flag, name] : names) EXPECT_EQ(formatResponseFlags(flag), name);
}

TEST(ResponseFlags, UndefinedBitsAreNotShown) {
  EXPECT_EQ(formatResponseFlags(1u << 30), "-");
  EXPECT_EQ(formatResponseFlags((1u << 30) | kNoRoute), "NR");
}

TEST(JsonEscape, PlainAndSpecialCharacters) {
  EXPECT_EQ(escaped(""), "\"\"");
  EXPECT_EQ(escaped("GET /a?b=c"), "\"GET /a?b=c\"");
  EXPECT_EQ(escaped("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(escaped("C:\\dir"), "\"C:\\\\dir\"");
  EXPECT_EQ(escaped("a\nb\rc\td\be\ff"), "\"a\\nb\\rc\\td\\be\\ff\"");
  EXPECT_EQ(escaped(std::string_view("\0\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\\u007f\"");
  EXPECT_EQ(escaped("</script>"), "\"</script>\"");
}

TEST(JsonEscape, ValidUtf8IsKept) {
  EXPECT_EQ(escaped("caf\xc3\xa9"), "\"caf\xc3\xa9\"");            // é
  EXPECT_EQ(escaped("\xe2\x82\xac"), "\"\xe2\x82\xac\"");          // €
  EXPECT_EQ(escaped("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"");  // emoji
  EXPECT_EQ(escaped("\xf4\x8f\xbf\xbf"), "\"\xf4\x8f\xbf\xbf\"");  // U+10FFFF
}

TEST(JsonEscape, InvalidUtf8BecomesReplacementCharacter) {
  EXPECT_EQ(escaped("\xff"), "\"\\ufffd\"");
  EXPECT_EQ(escaped("a\x80z"), "\"a\\ufffdz\"");                    // lone continuation byte
  EXPECT_EQ(escaped("\xe2\x82"), "\"\\ufffd\\ufffd\"");             // truncated at the end
  EXPECT_EQ(escaped("\xe2\x82x"), "\"\\ufffd\\ufffdx\"");           // truncated in the middle
  EXPECT_EQ(escaped("\xc0\xaf"), "\"\\ufffd\\ufffd\"");             // overlong '/'
  EXPECT_EQ(escaped("\xe0\x80\xaf"), "\"\\ufffd\\ufffd\\ufffd\"");  // overlong, 3 bytes
  EXPECT_EQ(escaped("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // UTF-16 surrogate
  EXPECT_EQ(escaped("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // > U+10FFFF
}

TEST(JsonEscape, EveryByteStringParsesAsJson) {
  // All single bytes and a pseudo-random soup of nasty bytes: the result must always parse.
  for (int b = 0; b < 256; ++b) {
    const std::string s(1, static_cast<char>(b));
    EXPECT_TRUE(nlohmann::json::accept(escaped(s))) << b;
  }
  std::string soup;
  uint32_t x = 12345;
  for (int i = 0; i < 4096; ++i) {
    x = x * 1103515245 + 12345;
    soup.push_back(static_cast<char>(x >> 16));
  }
  const auto parsed = nlohmann::json::parse(escaped(soup));
  EXPECT_TRUE(parsed.is_string());
}

RequestInfo sampleInfo() {
  RequestInfo info;
  info.direction = Direction::kOutbound;
  // 2024-02-29T12:34:56.789Z
  info.start_time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1709210096789));
  info.duration_us = 12'345;
  info.response_code = 503;
  info.response_flags = kUpstreamConnectionFailure | kUpstreamRetryLimitExceeded;
  info.request_bytes = 11;
  info.response_bytes = 95;
  info.method = "GET";
  info.authority = "ratings:9080";
  info.path = "/ratings/0?q=\"x\"\n\xff";
  info.user_agent = "curl/8.0";
  info.request_id = "0b5d3c2e-8a1f-4c3b-9d2e-1f2a3b4c5d6e";
  info.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  info.route_name = "ratings.bookinfo";
  info.cluster_name = "outbound|9080||ratings.bookinfo.svc.cluster.local";
  info.upstream_host = "10.0.0.1:9080";
  info.downstream_remote = "127.0.0.1:54321";
  info.upstream_peer_uri_san = "spiffe://cluster.local/ns/bookinfo/sa/ratings";
  info.attempts = 3;
  info.details = "retry skipped: request body larger than the retry buffer";
  return info;
}

TEST(AccessLogJson, AllFieldsOnOneLine) {
  std::string line;
  formatAccessLogJson(sampleInfo(), line);
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["start_time"], "2024-02-29T12:34:56.789Z");
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["authority"], "ratings:9080");
  EXPECT_EQ(j["path"], "/ratings/0?q=\"x\"\n\xef\xbf\xbd");
  EXPECT_EQ(j["protocol"], "HTTP/1.1");
  EXPECT_EQ(j["response_code"], 503);
  EXPECT_EQ(j["response_flags"], "UF,URX");
  EXPECT_EQ(j["duration_ms"], 12);
  EXPECT_EQ(j["bytes_received"], 11);
  EXPECT_EQ(j["bytes_sent"], 95);
  EXPECT_EQ(j["upstream_host"], "10.0.0.1:9080");
  EXPECT_EQ(j["upstream_cluster"], "outbound|9080||ratings.bookinfo.svc.cluster.local");
  EXPECT_EQ(j["route_name"], "ratings.bookinfo");
  EXPECT_EQ(j["x_request_id"], "0b5d3c2e-8a1f-4c3b-9d2e-1f2a3b4c5d6e");
  EXPECT_EQ(j["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_EQ(j["user_agent"], "curl/8.0");
  EXPECT_EQ(j["downstream_remote_address"], "127.0.0.1:54321");
  EXPECT_EQ(j["downstream_peer_uri_san"], nullptr);  // plain text from the app
  EXPECT_EQ(j["upstream_peer_uri_san"], "spiffe://cluster.local/ns/bookinfo/sa/ratings");
  EXPECT_EQ(j["attempts"], 3);
  EXPECT_EQ(j["response_code_details"], "retry skipped: request body larger than the retry buffer");
  EXPECT_EQ(j["direction"], "outbound");
  EXPECT_EQ(j.size(), 22u);
}

TEST(AccessLogJson, AbsentValuesAreNullAndAppends) {
  RequestInfo info;
  info.direction = Direction::kInbound;
  info.version_minor = 0;
  std::string out = "previous line\n";
  formatAccessLogJson(info, out);
  const std::string line = out.substr(std::string("previous line\n").size());
  const auto j = nlohmann::json::parse(line);
  EXPECT_TRUE(j["upstream_host"].is_null());
  EXPECT_TRUE(j["route_name"].is_null());
  EXPECT_TRUE(j["method"].is_null());
  EXPECT_EQ(j["response_code"], 0);
  EXPECT_EQ(j["response_flags"], "-");
  EXPECT_EQ(j["protocol"], "HTTP/1.0");
  EXPECT_EQ(j["direction"], "inbound");
  EXPECT_EQ(j["start_time"], "1970-01-01T00:00:00.000Z");
}

TEST(AccessLogJson, TimestampsAcrossSecondsAndBeforeEpoch) {
  RequestInfo info;
  std::string out;
  info.start_time = std::chrono::system_clock::time_point(std::chrono::milliseconds(999));
  formatAccessLogJson(info, out);
  info.start_time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1000));
  formatAccessLogJson(info, out);
  info.start_time = std::chrono::system_clock::time_point(std::chrono::milliseconds(-1));
  formatAccessLogJson(info, out);
  std::istringstream in(out);
  std::string line;
  std::vector<std::string> times;
  while (std::getline(in, line)) times.push_back(nlohmann::json::parse(line)["start_time"]);
  EXPECT_EQ(times, (std::vector<std::string>{"1970-01-01T00:00:00.999Z", "1970-01-01T00:00:01.000Z",
                                             "1969-12-31T23:59:59.999Z"}));
}

std::string tempPath() {
  char path[] = "/tmp/weft-access-XXXXXX";
  const int fd = mkstemp(path);
  close(fd);
  return path;
}

std::vector<std::string> readLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

TEST(AccessLogWriter, BuffersUntilFlushAndAppends) {
  const std::string path = tempPath();
  std::string error;
  auto file = AccessLogFile::open(path, error);
  ASSERT_TRUE(file) << error;
  {
    AccessLogWriter writer(file);
    writer.log(sampleInfo());
    EXPECT_TRUE(readLines(path).empty());  // still buffered
    writer.flush();
    EXPECT_EQ(readLines(path).size(), 1u);
    writer.log(sampleInfo());
  }  // the destructor flushes
  EXPECT_EQ(readLines(path).size(), 2u);
  unlink(path.c_str());
}

TEST(AccessLogWriter, FlushesOnItsOwnPastThreshold) {
  const std::string path = tempPath();
  std::string error;
  auto file = AccessLogFile::open(path, error);
  ASSERT_TRUE(file) << error;
  AccessLogWriter writer(file);
  std::string one;
  formatAccessLogJson(sampleInfo(), one);
  const size_t needed = 64 * 1024 / one.size() + 1;
  for (size_t i = 0; i < needed; ++i) writer.log(sampleInfo());
  EXPECT_EQ(readLines(path).size(), needed);
  unlink(path.c_str());
}

TEST(AccessLogWriter, WorkersShareAFileWithoutBreakingLines) {
  const std::string path = tempPath();
  std::string error;
  auto file = AccessLogFile::open(path, error);
  ASSERT_TRUE(file) << error;
  constexpr int kLines = 5000;
  auto work = [&] {
    AccessLogWriter writer(file);
    for (int i = 0; i < kLines; ++i) writer.log(sampleInfo());
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  const auto lines = readLines(path);
  ASSERT_EQ(lines.size(), 2u * kLines);
  for (const auto& line : lines) ASSERT_TRUE(nlohmann::json::accept(line)) << line;
  unlink(path.c_str());
}

TEST(AccessLogWriter, LargeWritesThroughAPipeArriveWhole) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::string error;
  auto file = AccessLogFile::open("/dev/fd/" + std::to_string(fds[1]), error);
  ASSERT_TRUE(file) << error;
  close(fds[1]);
  std::string received;
  std::thread reader([&] {
    char buf[1000];  // small reads: the writer sees a full pipe and partial writes
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) received.append(buf, n);
  });
  std::string expected;
  {
    AccessLogWriter writer(file);
    for (int i = 0; i < 2000; ++i) {
      writer.log(sampleInfo());
      formatAccessLogJson(sampleInfo(), expected);
    }
  }
  file.reset();
  reader.join();
  close(fds[0]);
  EXPECT_EQ(received.size(), expected.size());
  EXPECT_TRUE(received == expected);
}

TEST(AccessLogWriter, ReaderGoneIsNotFatal) {
  // Start from the default SIGPIPE action (which kills), whatever the test runner set.
  struct sigaction dfl {
  }, saved{};
  dfl.sa_handler = SIG_DFL;
  ASSERT_EQ(sigaction(SIGPIPE, &dfl, &saved), 0);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::string error;
  auto file = AccessLogFile::open("/dev/fd/" + std::to_string(fds[1]), error);
  ASSERT_TRUE(file) << error;
  close(fds[1]);
  close(fds[0]);  // nobody reads: write() fails with EPIPE (and would raise SIGPIPE)
  AccessLogWriter writer(file);
  for (int i = 0; i < 10; ++i) writer.log(sampleInfo());
  writer.flush();
  writer.flush();
  sigaction(SIGPIPE, &saved, nullptr);
}

TEST(AccessLogFile, OpenErrorsAndStandardStreams) {
  std::string error;
  EXPECT_EQ(AccessLogFile::open("/nonexistent-dir/weft/access.log", error), nullptr);
  EXPECT_NE(error.find("/nonexistent-dir/weft/access.log"), std::string::npos);
  error.clear();
  EXPECT_EQ(AccessLogFile::open("", error), nullptr);
  EXPECT_FALSE(error.empty());
  auto out = AccessLogFile::open("stdout", error);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->fd(), 1);
  auto err = AccessLogFile::open("stderr", error);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->fd(), 2);
  out.reset();
  EXPECT_NE(fcntl(1, F_GETFD), -1);  // not closed: we did not open it
}

}  // namespace
}  // namespace weft::observe
