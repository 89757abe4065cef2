// Access log: the JSON line format and the per-worker buffered writer over a shared file.
#include "observe/access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <charconv>

#include "observe/json_escape.h"

namespace weft::observe {
namespace {

constexpr size_t kFlushThreshold = 64 * 1024;

void appendUint(std::string& out, uint64_t v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

void appendTwoDigits(char* p, int v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

// RFC 3339 in UTC with milliseconds. gmtime_r is not free and requests come in bursts within
// one second, so each thread keeps the text of the last second it formatted.
void appendTimestamp(std::string& out, std::chrono::system_clock::time_point t) {
  const auto ms_total =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  int64_t secs = ms_total / 1000;
  int64_t ms = ms_total % 1000;
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  thread_local int64_t cached_secs = -1;
  thread_local char cached[20];  // "YYYY-MM-DDTHH:MM:SS"
  if (secs != cached_secs) {
    const time_t tt = static_cast<time_t>(secs);
    struct tm tm;
    gmtime_r(&tt, &tm);
    const int year = tm.tm_year + 1900;
    cached[0] = static_cast<char>('0' + (year / 1000) % 10);
    cached[1] = static_cast<char>('0' + (year / 100) % 10);
    appendTwoDigits(cached + 2, year % 100);
    cached[4] = '-';
    appendTwoDigits(cached + 5, tm.tm_mon + 1);
    cached[7] = '-';
    appendTwoDigits(cached + 8, tm.tm_mday);
    cached[10] = 'T';
    appendTwoDigits(cached + 11, tm.tm_hour);
    cached[13] = ':';
    appendTwoDigits(cached + 14, tm.tm_min);
    cached[16] = ':';
    appendTwoDigits(cached + 17, tm.tm_sec);
    cached_secs = secs;
  }
  out.append(cached, 19);
  const char frac[5] = {'.', static_cast<char>('0' + ms / 100),
                        static_cast<char>('0' + (ms / 10) % 10), static_cast<char>('0' + ms % 10),
                        'Z'};
  out.append(frac, sizeof frac);
}

void key(std::string& out, std::string_view name) {
  if (out.back() != '{') out.push_back(',');
  out.push_back('"');
  out.append(name);
  out.append("\":");
}

// Absent values are JSON null rather than "" or "-", so queries can tell "none" from "empty".
void stringField(std::string& out, std::string_view name, std::string_view value) {
  key(out, name);
  if (value.empty()) {
    out.append("null");
  } else {
    appendJsonString(out, value);
  }
}

void numberField(std::string& out, std::string_view name, uint64_t value) {
  key(out, name);
  appendUint(out, value);
}

}  // namespace

void formatAccessLogJson(const RequestInfo& info, std::string& out) {
  out.push_back('{');
  key(out, "start_time");
  out.push_back('"');
  appendTimestamp(out, info.start_time);
  out.push_back('"');
  stringField(out, "method", info.method);
  stringField(out, "authority", info.authority);
  stringField(out, "path", info.path);
  stringField(out, "protocol", info.version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1");
  numberField(out, "response_code", info.response_code);
  stringField(out, "response_flags", formatResponseFlags(info.response_flags));
  numberField(out, "duration_ms", info.duration_us / 1000);
  numberField(out, "bytes_received", info.request_bytes);
  numberField(out, "bytes_sent", info.response_bytes);
  stringField(out, "upstream_host", info.upstream_host);
  stringField(out, "upstream_cluster", info.cluster_name);
  stringField(out, "route_name", info.route_name);
  stringField(out, "x_request_id", info.request_id);
  stringField(out, "traceparent", info.traceparent);
  stringField(out, "user_agent", info.user_agent);
  stringField(out, "downstream_remote_address", info.downstream_remote);
  stringField(out, "downstream_peer_uri_san", info.downstream_peer_uri_san);
  stringField(out, "upstream_peer_uri_san", info.upstream_peer_uri_san);
  numberField(out, "attempts", info.attempts);
  stringField(out, "response_code_details", info.details);
  stringField(out, "direction", info.direction == Direction::kInbound ? "inbound" : "outbound");
  out.append("}\n");
}

std::shared_ptr<AccessLogFile> AccessLogFile::open(const std::string& path, std::string& error) {
  // A reader that goes away (a closed pipe on stdout) must cost log lines, not the process.
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    signal(SIGPIPE, SIG_IGN);
  }
  if (path == "stdout") return std::shared_ptr<AccessLogFile>(new AccessLogFile(1, false));
  if (path == "stderr") return std::shared_ptr<AccessLogFile>(new AccessLogFile(2, false));
  if (path.empty()) {
    error = "access log path is empty";
    return nullptr;
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = "cannot open access log " + path + ": " + strerror(errno);
    return nullptr;
  }
  return std::shared_ptr<AccessLogFile>(new AccessLogFile(fd, true));
}

AccessLogFile::~AccessLogFile() {
  if (owned_ && fd_ >= 0) ::close(fd_);
}

void AccessLogWriter::log(const RequestInfo& info) {
  formatAccessLogJson(info, buffer_);
  if (buffer_.size() >= kFlushThreshold) flush();
}

void AccessLogWriter::flush() {
  if (buffer_.empty() || !file_) return;
  // O_APPEND makes each write land at the end even with every worker sharing the file; a
  // write of whole lines keeps lines intact on regular files.
  const char* p = buffer_.data();
  size_t left = buffer_.size();
  while (left > 0) {
    const ssize_t n = ::write(file_->fd(), p, left);
    if (n > 0) {
      p += n;
      left -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // EPIPE, ENOSPC, EAGAIN on a non-blocking stdout, ...: logging must not stop or stall
    // the proxy, so what could not be written is dropped.
    break;
  }
  buffer_.clear();
}

}  // namespace weft::observe
