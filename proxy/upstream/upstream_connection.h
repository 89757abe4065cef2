// UpstreamConnection: one pooled HTTP/1.1 client connection to an endpoint, and the
// ResponseHandler interface through which the request using it hears about the response.
//
// A connection is owned by its HostPool while idle (it keeps reading so that a close by the
// server is noticed at once, not at the next request) and lent to one request at a time.
#pragma once

#include <string_view>

#include "http/codec.h"
#include "net/tcp_stream.h"
#include "observe/metrics.h"
#include "upstream/upstream_tls.h"

namespace weft::upstream {

class HostPool;
struct ConnectionOptions;

enum class FailureReason : uint8_t {
  kConnectFailure,         // refused, unreachable, connect timeout (UF)
  kConnectionTermination,  // closed by the upstream before the response ended (UC)
  kRemoteReset,            // reset by the upstream (UR)
  kProtocolError,          // the response could not be parsed (UPE)
};
const char* toString(FailureReason r);

// Implemented by the request that uses the connection. After onUpstreamFailure the
// connection is gone and must not be touched again.
class ResponseHandler {
 public:
  virtual ~ResponseHandler() = default;
  virtual void onUpstreamConnected() = 0;
  virtual void onUpstreamInformational(http::ResponseHead& head) = 0;
  virtual void onUpstreamResponseHead(http::ResponseHead& head) = 0;
  virtual void onUpstreamResponseBody(std::string_view data) = 0;
  virtual void onUpstreamResponseTrailers(http::HeaderMap& trailers) = 0;
  virtual void onUpstreamResponseComplete() = 0;
  // Raw bytes after a 101 Switching Protocols (or a 2xx to CONNECT).
  virtual void onUpstreamTunnelData(const char* data, size_t len) = 0;
  virtual void onUpstreamTunnelEnd() = 0;
  // `response_started`: some response byte had already arrived.
  virtual void onUpstreamFailure(FailureReason reason, bool response_started) = 0;
  // The connection's write queue fell below its low watermark.
  virtual void onUpstreamDrained() = 0;
  // Everything in one read from the upstream has been delivered: the moment to send what the
  // callbacks above produced in one write.
  virtual void onUpstreamReadDone() = 0;
};

class UpstreamConnection final : public net::TcpStream, private http::ResponseDecoder::Callbacks {
 public:
  enum class State : uint8_t { kConnecting, kIdle, kBusy, kTunnel };

  UpstreamConnection(uv_loop_t* loop, HostPool& pool);

  // Starts connecting; the handler attached by then hears onUpstreamConnected.
  int connect(const sockaddr* addr, uint32_t timeout_ms, const ConnectionOptions& options);
  // How long it may stay idle in the pool (0: the pool's default).
  void setIdleTimeout(uint32_t ms) { idle_timeout_ms_ = ms; }
  // Lends the connection to a request whose method is `method`.
  void attach(ResponseHandler* handler, std::string_view method);
  // The request is finished with the connection (or gone): back to the pool if `reusable`,
  // else closed.
  void release(bool reusable);
  // The request gives up on the connection mid-exchange: close it without callbacks.
  void abort();
  // Switches to raw byte relay (after 101).
  void enterTunnel();

  State state() const { return state_; }
  bool reused() const { return requests_ > 1; }
  // Requests this connection has carried (the current one included).
  uint32_t requestCount() const { return requests_; }
  // True if the server has not closed it (a non-blocking peek; for idle connections).
  bool stillOpen();
  HostPool& pool() { return pool_; }
  // The series of the peer behind this connection (one endpoint, so one peer).
  observe::PeerSeriesCache& peerSeries() { return peer_series_; }
  // uv_hrtime() when the connection last went back to the pool.
  uint64_t idleSinceNs() const { return idle_since_ns_; }
  // Mutual TLS to a sidecar: the SPIFFE ID it proved (empty: plain text or TLS origination).
  const std::string& peerIdentity() const { return peer_identity_; }
  bool secured() const { return tls_ != nullptr; }

 private:
  void onRead(const char* data, size_t len) override;
  void onReadEof() override;
  void onReadError(int uv_error) override;
  void onWriteError(int uv_error) override;
  void onDrained() override;
  void onTimer() override;
  void onClosed() override;
  void onTransportReady() override;
  void onTransportFailure(const std::string& reason) override;
  // TCP is up: hand the connection to its request (after the TLS handshake, if any).
  void ready();

  void onInformational(http::ResponseHead& head) override;
  void onResponseHead(http::ResponseHead& head) override;
  void onResponseBody(std::string_view data) override;
  void onResponseTrailers(http::HeaderMap& trailers) override;
  void onResponseComplete() override;

  void fail(FailureReason reason);
  void finishRelease(bool reusable);
  static void connectCb(uv_connect_t* req, int status);

  HostPool& pool_;
  http::ResponseDecoder decoder_;
  ResponseHandler* handler_ = nullptr;
  uv_connect_t connect_req_;
  State state_ = State::kConnecting;
  uint32_t requests_ = 0;
  uint64_t idle_since_ns_ = 0;
  uint32_t idle_timeout_ms_ = 0;
  observe::PeerSeriesCache peer_series_;
  UpstreamTlsPtr tls_;  // the settings this connection started with (null: plain text)
  std::string peer_identity_;
  uint32_t connect_timeout_ms_ = 0;
  bool response_started_ = false;
  bool response_complete_ = false;
  bool in_pool_list_ = false;
  // While the decoder runs, a release() is only recorded: the connection goes back to the pool
  // after the read is fully handled, so it is never handed out with bytes still to parse.
  bool in_decode_ = false;
  bool release_pending_ = false;
  bool release_reusable_ = false;
  friend class HostPool;
  UpstreamConnection* idle_prev_ = nullptr;
  UpstreamConnection* idle_next_ = nullptr;
};

}  // namespace weft::upstream
