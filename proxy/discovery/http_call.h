// One blocking HTTP/1.1 exchange for the control-plane client's thread: plain TCP to a numeric
// address, one request per connection (Connection: close), the answer parsed by the project's
// strict codec. Small on purpose: a general HTTP client library would bring some thirty shared
// libraries into every sidecar, several MiB of resident memory for four kinds of calls.
//
// The call is interruptible: when `wake_fd` becomes readable (the client's stop pipe), it ends
// at once with `aborted` set.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace weft::discovery {

struct HttpCall {
  const char* method = "GET";
  std::string host;  // numeric IPv4 or IPv6 address
  uint16_t port = 0;
  std::string path;  // origin-form, already encoded
  std::vector<std::pair<std::string, std::string>> headers;
  const std::string* body = nullptr;  // sent with Content-Length when set
  uint32_t connect_timeout_ms = 2'000;
  uint32_t timeout_ms = 10'000;  // the whole exchange
  // Sends Accept-Encoding: gzip and inflates a gzip answer (a configuration of a large mesh
  // is megabytes of YAML that compress about 25 to 1).
  bool accept_gzip = true;
};

struct HttpAnswer {
  bool aborted = false;  // wake_fd became readable
  int status = 0;        // 0: no answer (see error)
  std::string body;
  std::string error;  // why there is no answer
};

HttpAnswer performHttp(const HttpCall& call, int wake_fd);

}  // namespace weft::discovery
