// DownstreamConnection: the connection manager of one client connection (the local app's on
// the outbound listener, a peer sidecar's on the inbound listener).
//
// It owns keep-alive, pipelining order, limits and timeouts, and runs each request through the
// steps in order: correlation ids -> route -> load balancer -> upstream pool -> response back.
// One request is in flight at a time: pipelined requests wait, unparsed, until the response to
// the one before is complete, so answers always go back in order.
#pragma once

#include <chrono>
#include <string>

#include "http/codec.h"
#include "net/tcp_stream.h"
#include "net/timer.h"
#include "observe/metrics.h"
#include "observe/request_info.h"
#include "server/mirror_request.h"
#include "server/pending_queue.h"
#include "server/runtime.h"
#include "upstream/load_balancer.h"
#include "upstream/upstream_connection.h"

namespace weft::server {

class Worker;

class DownstreamConnection final : public net::TcpStream,
                                   private http::RequestDecoder::Callbacks,
                                   private upstream::ResponseHandler,
                                   private PendingQueue::Waiter {
 public:
  DownstreamConnection(Worker& worker, bool inbound);
  // After accept: start reading and timing.
  void start();
  // Graceful drain: close now if idle, else after the current response.
  void drain();
  // Worker shutdown: close now.
  void shutdown();
  bool inbound() const { return inbound_; }

  DownstreamConnection* prev_ = nullptr;  // the worker's list of connections
  DownstreamConnection* next_ = nullptr;

 private:
  enum class TimerMode : uint8_t { kNone, kIdle, kHeaderRead };

  // --- net::TcpStream
  void onRead(const char* data, size_t len) override;
  void onReadEof() override;
  void onReadError(int uv_error) override;
  void onWriteError(int uv_error) override;
  void onDrained() override;
  void onTimer() override;
  void onClosed() override;
  void onTransportFailure(const std::string& reason) override;
  void onTransportReady() override;
  // Inbound, first bytes: PeerAuthentication decides between TLS and plain text. False when
  // the connection was refused or the bytes went to TLS (nothing left for the HTTP code).
  bool admitFirstBytes(const char* data, size_t len);

  // --- http::RequestDecoder::Callbacks
  void onRequestHead(http::RequestHead& head) override;
  void onRequestBody(std::string_view data) override;
  void onRequestTrailers(http::HeaderMap& trailers) override;
  void onRequestComplete() override;

  // --- upstream::ResponseHandler
  void onUpstreamConnected() override;
  void onUpstreamInformational(http::ResponseHead& head) override;
  void onUpstreamResponseHead(http::ResponseHead& head) override;
  void onUpstreamResponseBody(std::string_view data) override;
  void onUpstreamResponseTrailers(http::HeaderMap& trailers) override;
  void onUpstreamResponseComplete() override;
  void onUpstreamTunnelData(const char* data, size_t len) override;
  void onUpstreamTunnelEnd() override;
  void onUpstreamFailure(upstream::FailureReason reason, bool response_started) override;
  void onUpstreamDrained() override;
  void onUpstreamReadDone() override;

  // --- PendingQueue::Waiter (connectionPool.tcp.maxConnections)
  bool retryPending() override;
  void pendingTimedOut() override;

  // --- request steps
  void processInput(const char* data, size_t len);
  void resumeInput();
  bool routeRequest(http::RequestHead& head);
  // Inbound, when AuthorizationPolicies apply: false after answering 403 (RBAC).
  bool authorize(const http::RequestHead& head);
  // After routing: forwarding headers, fault injection, then the first attempt.
  void forwardRouted(http::RequestHead& head);
  // On-demand scope: an unknown host waits for the control plane to send its configuration.
  // True when the request waits (or keeps waiting).
  bool awaitRoute(const http::RequestHead& head);
  // `from_queue`: the request leaves the wait list now (it does not queue behind others).
  void connectUpstream(bool allow_reuse, bool from_queue = false);
  // connectionPool.tcp.maxConnections: true when the attempt must wait for a connection.
  bool mustWaitForConnection(bool allow_reuse, bool from_queue);
  void leaveQueue();
  void replyOverflow();  // 503 UO
  observe::ClusterCounters& clusterCounters() const;
  void sendToUpstream(std::string_view bytes);
  void flushToUpstream();
  void flushPendingToUpstream();
  using HeaderList = std::vector<std::pair<std::string, std::string>>;
  // An error answer made by the proxy (x-weft-error and a one-line body naming `reason`).
  void localReply(uint16_t status, std::string_view reason, uint32_t flags);
  // Any answer made by the proxy: `error` non-empty marks it as an error; `extra` headers set.
  void respondLocally(uint16_t status, std::string_view body, std::string_view error,
                      uint32_t flags, const HeaderList* extra);
  // CORS, redirect and direct response of the matched route; false when answered here.
  bool routeActions(http::RequestHead& head);
  void finishExchange();
  bool requestDone() const;
  void abortExchange(uint32_t flags);
  void recordRequest();
  void setTimer(TimerMode mode);
  bool retryOnFreshConnection(upstream::FailureReason reason);
  void startAttempt(bool resend_same_endpoint);
  bool pickEndpoint();
  void releaseEndpoint();
  void noteOutcome(upstream::Outcome outcome);  // outlier detection
  // consistentHash: the request's key hashed; false when the request has no key.
  bool requestHash(const mesh::ConsistentHashPolicy& policy, uint64_t& hash);
  uint32_t retryConditions(const http::ResponseHead& head) const;
  bool maybeRetry(uint32_t conditions);
  void sendBody(std::string_view framed);
  void startMirrors();
  void releaseMirrors();  // detach when the request is complete, else drop the copies
  void endExchange();
  static void onRouteTimeout(void* owner);
  static void onAttemptTimer(void* owner);
  void protocolError(const http::DecodeResult& r);

  Worker& worker_;
  const bool inbound_;
  http::RequestDecoder decoder_;
  std::string pending_input_;  // bytes read but not yet parsed (pipelined requests)
  std::string scratch_;
  std::string remote_address_;
  TimerMode timer_mode_ = TimerMode::kNone;
  bool in_decode_ = false;
  bool decoder_paused_ = false;
  bool close_after_response_ = false;
  bool tunnel_ = false;
  observe::PeerSeriesCache peer_series_;  // inbound: the peer sidecar behind this connection
  // Inbound: the first bytes still decide TLS or plain text (set at start from the mode).
  bool sniff_first_bytes_ = false;
  tls::TlsContextPtr inbound_tls_;  // the server context for this connection, if any
  mesh::PeerMtlsMode inbound_mode_ = mesh::PeerMtlsMode::kPermissive;
  // Mutual TLS: the client's SPIFFE ID (empty: plain text) and the XFCC value sent to the app.
  std::string peer_principal_;
  std::string peer_namespace_;
  std::string client_cert_header_;
  // Outbound: the SPIFFE ID the upstream proved for the current response (empty: none).
  std::string upstream_principal_;

  // === The exchange in flight ===
  bool in_flight_ = false;
  http::RequestHead* head_ = nullptr;  // the decoder's head, valid until resume()
  RuntimePtr runtime_;                 // the config the request started with
  uint64_t runtime_generation_ = 0;
  std::chrono::steady_clock::time_point start_steady_;
  std::chrono::system_clock::time_point start_system_;
  std::string request_id_;
  std::string traceparent_;
  std::string authority_;      // as the client sent it, for logs
  std::string path_;           // as the client sent it, for logs
  std::string upstream_host_;  // "ip:port" of the endpoint, for logs
  const mesh::Route* route_ = nullptr;
  const mesh::RouteDestination* destination_ = nullptr;
  uint32_t cluster_index_ = 0;
  int endpoint_index_ = -1;                   // into the worker's ClusterState::endpoints
  uint32_t endpoint_snapshot_index_ = 0;      // into mesh::Cluster::endpoints
  bool endpoint_held_ = false;                // counted in that endpoint's active requests
  const mesh::Cluster* cluster_ = nullptr;    // valid while runtime_ is held
  uint32_t max_requests_per_connection_ = 0;  // cluster_'s, kept past the runtime's release
  upstream::UpstreamConnection* upstream_ = nullptr;
  bool upstream_ready_ = false;
  bool upstream_reused_ = false;
  bool retried_stale_ = false;
  std::string to_upstream_;      // request bytes not yet handed to the upstream connection
  std::string request_body_;     // the request body as sent upstream, kept for another attempt
  bool body_replayable_ = true;  // false once the body outgrew the buffer
  std::string framed_;           // scratch for chunk framing

  // === Attempts: retries, timeouts, fault injection ===
  enum class AttemptTimer : uint8_t { kNone, kFaultDelay, kPerTry, kBackoff };
  static constexpr uint8_t kMaxTried = 8;
  net::Timer route_timer_;    // VirtualService timeout: the whole request, retries included
  net::Timer attempt_timer_;  // fault delay, per-try timeout or back-off, one at a time
  AttemptTimer attempt_timer_mode_ = AttemptTimer::kNone;
  bool attempt_active_ = false;  // an upstream attempt is connecting or running
  uint32_t retries_ = 0;
  bool retry_counted_ = false;    // holds one of the cluster's active retries
  bool cluster_counted_ = false;  // counted in the cluster's active requests
  bool fault_abort_ = false;      // abort after the injected delay
  bool overloaded_ = false;       // circuit breaker overflow: x-envoy-overloaded on the reply
  bool awaiting_route_ = false;   // queued for a host's configuration (on-demand scope)
  bool route_awaited_ = false;    // asked once already for this request
  uint64_t awaited_generation_ = 0;
  std::string set_cookie_;   // a generated consistent-hash cookie for the response
  HeaderList cors_headers_;  // CORS headers for this request's response
  const mesh::RouteMatch* matched_ = nullptr;  // the match entry that selected route_
  static constexpr size_t kMaxMirrors = 4;
  MirrorRequest* mirrors_[kMaxMirrors] = {};  // copies of this request in flight (not owned)
  int tried_[kMaxTried] = {};
  uint8_t tried_count_ = 0;
  const char* details_ = "";  // why the exchange ended as it did (access log)
  bool request_chunked_ = false;
  bool request_complete_ = false;
  bool response_head_sent_ = false;
  bool response_chunked_ = false;
  bool response_complete_ = false;
  uint16_t response_code_ = 0;
  uint32_t response_flags_ = 0;
  uint64_t request_body_bytes_ = 0;
  uint64_t response_body_bytes_ = 0;
  uint32_t attempts_ = 0;
  observe::RequestStats* series_ = nullptr;  // set when the peer's metadata names the series
};

}  // namespace weft::server
