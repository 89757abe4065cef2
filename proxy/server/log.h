// Logging to stderr with a level that can be changed at run time (POST /logging?level=...).
#pragma once

#include <atomic>
#include <string>
#include <string_view>

namespace weft::server {

enum class LogLevel : int { kTrace, kDebug, kInfo, kWarning, kError, kOff };

bool parseLogLevel(std::string_view text, LogLevel& out);
const char* toString(LogLevel level);
void setLogLevel(LogLevel level);
LogLevel logLevel();
bool logEnabled(LogLevel level);
// One line: "<time> [level] message".
void logLine(LogLevel level, std::string_view message);

}  // namespace weft::server
