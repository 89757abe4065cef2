// HttpServer: the control plane's HTTP/1.1 server, on one libuv loop with the project's strict
// codec. Unlike the admin server, a handler may keep a request and answer it later (long-poll):
// the request is a shared object that stays answerable until the client goes away, and its
// owner can learn of that through onGone().
//
// One request per connection at a time: bytes of a pipelined request that arrive while one is
// pending are kept (up to a limit) and decoded once it has been answered. Bodies are read whole,
// up to a limit (413 beyond it). Malformed requests get 400 (or the codec's 413/431/501) and the
// connection is closed.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "http/header_map.h"
#include "net/listener.h"
#include "net/transport.h"

namespace weft::control {

class HttpConnection;

// A transport run on every accepted connection (TLS: api/tls_server.h) that can name the
// verified client certificate's SPIFFE ID.
class ServerTransport : public net::Transport {
 public:
  // The verified client certificate's SPIFFE ID; empty without one.
  virtual std::string peerIdentity() const = 0;
  // Its serial number (upper-case hex); empty without one.
  virtual std::string peerSerial() const = 0;
};
using TransportFactory = std::function<std::unique_ptr<ServerTransport>()>;

struct HttpServerLimits {
  size_t max_body_bytes = 4 * 1024 * 1024;
  size_t max_pending_input = 64 * 1024;  // pipelined bytes kept while a request is pending
  uint64_t idle_timeout_ms = 120'000;    // keep-alive connection with no request in progress
  uint64_t request_timeout_ms = 30'000;  // from a request's first byte to its last (408)
  size_t max_connections = 10'000;       // beyond: accepted and closed at once
};

class HttpRequest : public std::enable_shared_from_this<HttpRequest> {
 public:
  std::string method;
  std::string path;   // without the query string, percent-decoding not applied
  std::string query;  // after '?', empty if none
  http::HeaderMap headers;
  std::string body;
  std::string peer;
  // The SPIFFE ID of the client certificate the connection presented (verified against the
  // trust bundle during the handshake); empty without TLS or without a client certificate.
  std::string peer_identity;
  std::string peer_serial;  // that certificate's serial (upper-case hex)

  // The value of query parameter `name` (percent-decoded), or nullopt.
  std::optional<std::string> queryParam(std::string_view name) const;
  // Every value of query parameter `name`, in order (percent-decoded; bad escapes skipped).
  std::vector<std::string> queryParams(std::string_view name) const;

  // Sends the response. Only the first call counts; nothing happens if the client is gone.
  void respond(uint16_t status, std::string_view content_type, std::string_view body,
               const std::vector<std::pair<std::string, std::string>>& extra_headers = {});
  void respondJson(uint16_t status, std::string_view json) {
    respond(status, "application/json", json);
  }
  // Like respond(), for a body shared by many answers: `prefix` (copied) followed by `shared`,
  // which is sent without being copied.
  void respondShared(uint16_t status, std::string_view content_type, std::string_view prefix,
                     std::shared_ptr<const std::string> shared,
                     const std::vector<std::pair<std::string, std::string>>& extra_headers = {});
  bool answered() const { return answered_; }
  // The status answered (0: not yet).
  uint16_t status() const { return status_; }
  const std::string& responseBody() const { return response_body_; }
  // True once the client closed the connection (or it failed) before the answer.
  bool gone() const { return connection_ == nullptr && !answered_; }
  // Called once if the client goes away before the answer (replaces any earlier callback).
  void onGone(std::function<void()> fn) { on_gone_ = std::move(fn); }

 private:
  friend class HttpConnection;
  HttpConnection* connection_ = nullptr;
  bool keep_alive_ = true;
  bool head_only_ = false;
  bool answered_ = false;
  uint16_t status_ = 0;
  std::string response_body_;  // kept only for requests without a connection (tests)
  std::function<void()> on_gone_;
};

using HttpRequestPtr = std::shared_ptr<HttpRequest>;

class HttpServer {
 public:
  using Handler = std::function<void(const HttpRequestPtr& request)>;

  HttpServer(uv_loop_t* loop, Handler handler, HttpServerLimits limits = {})
      : loop_(loop), handler_(std::move(handler)), limits_(limits) {}
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Runs a transport made by `factory` on every connection accepted from now on (TLS).
  void setTransportFactory(TransportFactory factory) { transport_factory_ = std::move(factory); }

  // Returns 0 or a libuv error.
  int listen(const std::string& host, uint16_t port);
  // Stops listening and closes every connection (pending requests become gone).
  void close();
  uint16_t port() const { return listener_.port(); }
  size_t connectionCount() const { return connections_.size(); }

 private:
  friend class HttpConnection;
  uv_loop_t* loop_;
  Handler handler_;
  HttpServerLimits limits_;
  TransportFactory transport_factory_;
  net::Listener listener_{loop_};
  std::unordered_set<HttpConnection*> connections_;
};

// Percent-decodes `text` ('+' stays '+'); nullopt on a bad escape.
std::optional<std::string> percentDecode(std::string_view text);

}  // namespace weft::control
