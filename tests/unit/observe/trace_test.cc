// x-request-id (UUIDv4) and W3C traceparent: format, uniqueness, continue/new/invalid rules.
#include "observe/trace.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <thread>

namespace weft::observe {
namespace {

const std::regex kUuidV4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
const std::regex kTraceparent("^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$");

constexpr const char* kTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr const char* kParentId = "00f067aa0ba902b7";

std::string header(const std::string& version, const std::string& trace_id,
                   const std::string& parent_id, const std::string& flags) {
  return version + "-" + trace_id + "-" + parent_id + "-" + flags;
}

std::string traceIdOf(const std::string& tp) {
  return tp.substr(3, 32);
}
std::string parentIdOf(const std::string& tp) {
  return tp.substr(36, 16);
}
std::string flagsOf(const std::string& tp) {
  return tp.substr(53, 2);
}

TEST(RequestId, IsUuidV4Text) {
  std::string id = "previous contents";
  for (int i = 0; i < 1000; ++i) {
    newRequestId(id);
    ASSERT_EQ(id.size(), 36u);
    ASSERT_TRUE(std::regex_match(id, kUuidV4)) << id;
  }
}

TEST(RequestId, UniqueWithinAndAcrossThreads) {
  std::set<std::string> ids;
  std::string id;
  for (int i = 0; i < 20000; ++i) {
    newRequestId(id);
    ids.insert(id);
  }
  std::vector<std::string> other(20000);
  std::thread t([&] {
    for (auto& s : other) newRequestId(s);
  });
  t.join();
  ids.insert(other.begin(), other.end());
  EXPECT_EQ(ids.size(), 40000u);
}

TEST(Random64, ThreadsGetDifferentStreams) {
  uint64_t a = random64();
  uint64_t b = 0;
  std::thread([&] { b = random64(); }).join();
  EXPECT_NE(a, b);
  EXPECT_NE(random64(), random64());
}

TEST(Traceparent, ContinuesValidHeaderWithNewParentId) {
  const std::string in = header("00", kTraceId, kParentId, "01");
  std::string out;
  EXPECT_TRUE(nextTraceparent(in, out));
  EXPECT_TRUE(std::regex_match(out, kTraceparent)) << out;
  EXPECT_EQ(traceIdOf(out), kTraceId);
  EXPECT_NE(parentIdOf(out), kParentId);
  EXPECT_NE(parentIdOf(out), "0000000000000000");
  EXPECT_EQ(flagsOf(out), "01");
}

TEST(Traceparent, KeepsIncomingFlags) {
  std::string out;
  EXPECT_TRUE(nextTraceparent(header("00", kTraceId, kParentId, "00"), out));
  EXPECT_EQ(flagsOf(out), "00");
  EXPECT_TRUE(nextTraceparent(header("00", kTraceId, kParentId, "03"), out));
  EXPECT_EQ(flagsOf(out), "03");
}

TEST(Traceparent, MissingHeaderStartsSampledTrace) {
  std::string out;
  EXPECT_FALSE(nextTraceparent("", out));
  EXPECT_TRUE(std::regex_match(out, kTraceparent)) << out;
  EXPECT_NE(traceIdOf(out), std::string(32, '0'));
  EXPECT_EQ(flagsOf(out), "01");
  std::string again;
  nextTraceparent("", again);
  EXPECT_NE(traceIdOf(out), traceIdOf(again));
}

TEST(Traceparent, InvalidHeadersStartNewTrace) {
  const std::string valid = header("00", kTraceId, kParentId, "00");
  const std::vector<std::string> invalid = {
      valid.substr(0, 54),  // too short
      valid + "0",          // version 00 must be exact
      valid + "-extra",     // ditto
      header("00", "4BF92F3577B34DA6A3CE929D0E0E4736", kParentId, "00"),  // upper-case hex
      header("00", kTraceId, "00F067AA0BA902B7", "00"),
      header("00", kTraceId, kParentId, "0A"),
      header("0A", kTraceId, kParentId, "00"),
      header("00", std::string(32, '0'), kParentId, "00"),  // all-zero trace id
      header("00", kTraceId, std::string(16, '0'), "00"),   // all-zero parent id
      header("ff", kTraceId, kParentId, "00"),              // forbidden version
      header("00", std::string(kTraceId).replace(5, 1, "g"), kParentId, "00"),
      "00_" + valid.substr(3),  // wrong separators
      valid.substr(0, 35) + "_" + valid.substr(36),
      valid.substr(0, 52) + "_" + valid.substr(53),
      std::string(55, '-'),
      " " + valid.substr(0, 54),
  };
  for (const auto& in : invalid) {
    std::string out;
    EXPECT_FALSE(nextTraceparent(in, out)) << in;
    EXPECT_TRUE(std::regex_match(out, kTraceparent)) << out;
    EXPECT_NE(traceIdOf(out), kTraceId) << in;
    EXPECT_EQ(flagsOf(out), "01") << in;
  }
}

TEST(Traceparent, FutureVersionsReadAsVersionZeroPrefix) {
  std::string out;
  EXPECT_TRUE(nextTraceparent(header("01", kTraceId, kParentId, "01"), out));
  EXPECT_EQ(traceIdOf(out), kTraceId);
  EXPECT_EQ(out.substr(0, 3), "00-");  // we send the version we implement
  EXPECT_EQ(flagsOf(out), "01");

  EXPECT_TRUE(
      nextTraceparent(header("cc", kTraceId, kParentId, "01") + "-what-the-future-holds", out));
  EXPECT_EQ(traceIdOf(out), kTraceId);
  EXPECT_EQ(out.size(), 55u);

  // Only the sampled bit is defined for every version.
  EXPECT_TRUE(nextTraceparent(header("cc", kTraceId, kParentId, "0b"), out));
  EXPECT_EQ(flagsOf(out), "01");
  EXPECT_TRUE(nextTraceparent(header("cc", kTraceId, kParentId, "02"), out));
  EXPECT_EQ(flagsOf(out), "00");

  // Longer than 55 characters needs a '-' right after the flags.
  EXPECT_FALSE(nextTraceparent(header("cc", kTraceId, kParentId, "01") + "x", out));
  // The version-00 fields still have to be valid.
  EXPECT_FALSE(nextTraceparent(header("cc", std::string(32, '0'), kParentId, "01"), out));
}

}  // namespace
}  // namespace weft::observe
