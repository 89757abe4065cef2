// Logging to stderr (see log.h).
#include "server/log.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

namespace weft::server {

namespace {
std::atomic<int> current_level{static_cast<int>(LogLevel::kInfo)};
constexpr const char* kNames[] = {"trace", "debug", "info", "warning", "error", "off"};
}  // namespace

bool parseLogLevel(std::string_view text, LogLevel& out) {
  for (int i = 0; i <= static_cast<int>(LogLevel::kOff); ++i) {
    if (text == kNames[i]) {
      out = static_cast<LogLevel>(i);
      return true;
    }
  }
  if (text == "warn") {
    out = LogLevel::kWarning;
    return true;
  }
  return false;
}

const char* toString(LogLevel level) {
  return kNames[static_cast<int>(level)];
}
void setLogLevel(LogLevel level) {
  current_level.store(static_cast<int>(level));
}
LogLevel logLevel() {
  return static_cast<LogLevel>(current_level.load());
}
bool logEnabled(LogLevel level) {
  return static_cast<int>(level) >= current_level.load();
}

void logLine(LogLevel level, std::string_view message) {
  if (!logEnabled(level)) return;
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm;
  gmtime_r(&t, &tm);
  char prefix[64];
  int n = std::snprintf(prefix, sizeof(prefix), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ [%s] ",
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                        tm.tm_sec, static_cast<int>(ms.count()), toString(level));
  std::string line(prefix, static_cast<size_t>(n));
  line.append(message);
  line += '\n';
  // One write per line so lines from several threads do not interleave.
  ssize_t rc = ::write(STDERR_FILENO, line.data(), line.size());
  (void)rc;
}

}  // namespace weft::server
