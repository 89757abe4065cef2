// One blocking HTTP/1.1 exchange for the control-plane client's thread: TCP to a numeric
// address, TLS when `tls` is set (tls_client.h: the server verified against the given roots and
// its SPIFFE ID checked, a client certificate presented if the context has one), one request
// per connection (Connection: close), the answer parsed by the project's strict codec. Small on
// purpose: a general HTTP client library would bring some thirty shared libraries into every
// sidecar, several MiB of resident memory for four kinds of calls.
//
// The call is interruptible: when `wake_fd` becomes readable (the client's stop pipe), it ends
// at once with `aborted` set.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace weft::discovery {

class ClientTls;

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
  // Set: the exchange runs over TLS with this context (https://).
  std::shared_ptr<const ClientTls> tls;
};

struct HttpAnswer {
  bool aborted = false;  // wake_fd became readable
  int status = 0;        // 0: no answer (see error)
  std::string body;
  std::string error;  // why there is no answer
  // The TLS handshake failed or the server refused our certificate (a TLS alert): worth trying
  // again without a client certificate.
  bool tls_failure = false;
};

HttpAnswer performHttp(const HttpCall& call, int wake_fd);

}  // namespace weft::discovery
