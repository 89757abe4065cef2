// Access log: one JSON line per request, buffered per worker and written without blocking the
// request path for long (a write per event-loop turn at most).
#pragma once

#include <memory>
#include <string>

#include "observe/request_info.h"

namespace weft::observe {

// Appends the JSON line (with trailing '\n') for one request to `out`. Fields:
// start_time (RFC 3339, UTC, ms), method, authority, path, protocol, response_code,
// response_flags, duration_ms, bytes_received, bytes_sent, upstream_host, upstream_cluster,
// route_name, x_request_id, traceparent, user_agent, downstream_remote_address, attempts,
// response_code_details (why it ended as it did, when that needs saying; null otherwise),
// direction ("outbound"|"inbound").
void formatAccessLogJson(const RequestInfo& info, std::string& out);

// A sink shared by all workers; each worker owns one AccessLogWriter that batches lines.
class AccessLogFile {
 public:
  // "stdout", "stderr" or a path (opened for append). Returns nullptr and sets `error`.
  static std::shared_ptr<AccessLogFile> open(const std::string& path, std::string& error);
  ~AccessLogFile();
  int fd() const { return fd_; }

 private:
  explicit AccessLogFile(int fd, bool owned) : fd_(fd), owned_(owned) {}
  int fd_;
  bool owned_;
};

class AccessLogWriter {
 public:
  explicit AccessLogWriter(std::shared_ptr<AccessLogFile> file) : file_(std::move(file)) {}
  ~AccessLogWriter() { flush(); }
  void log(const RequestInfo& info);
  // Writes what is buffered (called once per loop turn, and when the buffer passes 64 KiB).
  void flush();

 private:
  std::shared_ptr<AccessLogFile> file_;
  std::string buffer_;
};

}  // namespace weft::observe
