// The scrape output must pass `promtool check metrics` (skipped when promtool is absent).
//
// promtool lints istio_request_duration_milliseconds for not using the base unit (seconds);
// the name is Istio's and dashboards depend on it, so that one finding is expected and any
// other finding fails the test.
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "observe/metrics.h"
#include "test_snapshot.h"

namespace weft::observe {
namespace {

struct PromtoolResult {
  int exit_code = -1;
  std::string output;
};

bool havePromtool() {
  return std::system("command -v promtool >/dev/null 2>&1") == 0;
}

PromtoolResult checkMetrics(const std::string& text) {
  char path[] = "/tmp/weft-metrics-XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  {
    std::ofstream f(path);
    f << text;
  }
  close(fd);
  PromtoolResult r;
  const std::string cmd = std::string("promtool check metrics < ") + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  unlink(path);
  return r;
}

// Findings other than the expected base-unit one for Istio's duration histogram.
std::vector<std::string> unexpectedFindings(const PromtoolResult& r) {
  std::vector<std::string> out;
  std::istringstream in(r.output);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.find("istio_request_duration_milliseconds") != std::string::npos &&
        line.find("base unit") != std::string::npos) {
      continue;
    }
    out.push_back(line);
  }
  return out;
}

TEST(MetricsPromtool, ScrapeOutputPassesLint) {
  if (!havePromtool()) GTEST_SKIP() << "promtool not installed";
  MetricsRegistry registry(2);
  auto stats = registry.bind(testing::bookinfoSnapshot());
  RequestInfo info;
  info.response_code = 200;
  info.duration_us = 1234;
  info.request_bytes = 10;
  info.response_bytes = 2048;
  stats->outbound(0).record(0, info);
  stats->outbound(1).record(1, info);
  info.response_code = 503;
  info.response_flags = kUpstreamConnectionFailure | kUpstreamRetryLimitExceeded;
  stats->outbound(1).record(0, info);
  info.response_code = 404;
  info.response_flags = kNoRoute;
  stats->outboundNoRoute().record(1, info);
  info.response_code = 0;
  info.response_flags = kDownstreamConnectionTermination;
  stats->inbound().record(0, info);
  stats->outbound(2).tcpOpened(0);
  stats->outbound(2).tcpClosed(0, 10, 20);
  registry.setConfig(3, true);

  const PromtoolResult r = checkMetrics(registry.serialize());
  // 0: clean; 3: lint findings only (1 would be a parse error).
  EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 3) << r.exit_code << "\n" << r.output;
  EXPECT_EQ(unexpectedFindings(r), std::vector<std::string>{}) << r.output;
}

// The harness itself must be able to see a problem.
TEST(MetricsPromtool, HarnessDetectsBadExposition) {
  if (!havePromtool()) GTEST_SKIP() << "promtool not installed";
  const PromtoolResult lint =
      checkMetrics("# HELP weft_things h\n# TYPE weft_things counter\nweft_things 1\n");
  EXPECT_NE(lint.exit_code, 0);
  EXPECT_FALSE(unexpectedFindings(lint).empty());
  const PromtoolResult parse = checkMetrics("weft_broken{ 1\n");
  EXPECT_NE(parse.exit_code, 0);
  EXPECT_NE(parse.exit_code, 3);
}

}  // namespace
}  // namespace weft::observe
