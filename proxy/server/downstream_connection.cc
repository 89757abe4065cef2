// DownstreamConnection: the HTTP/1.1 connection manager (see downstream_connection.h).
#include "server/downstream_connection.h"

#include <algorithm>
#include <charconv>

#include "authz/policy.h"
#include "observe/peer_metadata.h"
#include "observe/trace.h"
#include "router/cors.h"
#include "router/router.h"
#include "server/log.h"
#include "server/worker.h"
#include "tls/tls_stream.h"
#include "upstream/host_pool.h"

namespace weft::server {

namespace {

constexpr uint32_t kMillion = 1'000'000;

http::DecoderLimits limitsFor(Worker& w) {
  const mesh::Bootstrap& b = w.runtime()->snapshot->bootstrap;
  return http::DecoderLimits{b.max_request_header_bytes, b.max_request_headers};
}

uint32_t flagFor(upstream::FailureReason r) {
  switch (r) {
    case upstream::FailureReason::kConnectFailure:
      return observe::kUpstreamConnectionFailure;
    case upstream::FailureReason::kConnectionTermination:
      return observe::kUpstreamConnectionTermination;
    case upstream::FailureReason::kRemoteReset:
      return observe::kUpstreamRemoteReset;
    case upstream::FailureReason::kProtocolError:
      return observe::kUpstreamProtocolError;
  }
  return 0;
}

void appendNumber(std::string& out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, end);
}

}  // namespace

DownstreamConnection::DownstreamConnection(Worker& worker, bool inbound)
    : TcpStream(worker.loop()),
      worker_(worker),
      inbound_(inbound),
      decoder_(*this, limitsFor(worker)),
      route_timer_(worker.loop(), &DownstreamConnection::onRouteTimeout, this),
      attempt_timer_(worker.loop(), &DownstreamConnection::onAttemptTimer, this) {}

void DownstreamConnection::start() {
  uv_tcp_nodelay(tcp(), 1);
  remote_address_ = peerAddress();
  worker_.connectionOpened(this);
  if (inbound_ && worker_.runtime()) {
    // PeerAuthentication, decided per connection with the configuration it arrives under.
    const Runtime& rt = *worker_.runtime();
    inbound_mode_ = rt.inbound_mode;
    inbound_tls_ = rt.mesh_server_tls;
    sniff_first_bytes_ = inbound_mode_ != mesh::PeerMtlsMode::kDisable;
  }
  setTimer(TimerMode::kIdle);
  startReading();
}

void DownstreamConnection::drain() {
  close_after_response_ = true;
  if (!in_flight_ && !tunnel_) closeAfterFlush();
}

void DownstreamConnection::shutdown() {
  if (in_flight_) abortExchange(observe::kLocalReset);
  if (upstream_) {
    upstream_->abort();
    upstream_ = nullptr;
  }
  close();
}

// === Timers ===

void DownstreamConnection::setTimer(TimerMode mode) {
  timer_mode_ = mode;
  const mesh::Timeouts& t = worker_.runtime()->snapshot->bootstrap.timeouts;
  switch (mode) {
    case TimerMode::kNone:
      disarmTimer();
      break;
    case TimerMode::kIdle:
      armTimer(t.downstream_idle_ms);
      break;
    case TimerMode::kHeaderRead:
      armTimer(t.header_read_ms);
      break;
  }
}

void DownstreamConnection::onTimer() {
  if (timer_mode_ == TimerMode::kHeaderRead && !in_flight_) {
    // The request head did not arrive in time (a slow or stalled client).
    observe::WorkerCounters::inc(worker_.counters().downstream_protocol_errors);
    http::ResponseHead h;
    h.status = 408;
    h.reason = http::reasonPhrase(408);
    h.headers.add("x-weft-error", "request header timeout");
    h.headers.add("content-length", "0");
    h.headers.add("connection", "close");
    http::encodeResponseHead(h, out());
    closeAfterFlush();
    return;
  }
  if (!in_flight_) close();  // idle keep-alive connection
}

// === Reading ===

bool DownstreamConnection::admitFirstBytes(const char* data, size_t len) {
  sniff_first_bytes_ = false;
  // Every TLS connection opens with a handshake record (content type 22); an HTTP request
  // starts with a method name, never with that byte.
  constexpr char kTlsHandshakeRecord = 0x16;
  const bool tls_hello = len > 0 && data[0] == kTlsHandshakeRecord;
  if (!tls_hello) {
    if (inbound_mode_ != mesh::PeerMtlsMode::kStrict) return true;  // PERMISSIVE: plain text
    // STRICT: no HTTP answer, as Istio (the client sees the connection end).
    observe::WorkerCounters::inc(worker_.counters().downstream_plaintext_refused);
    if (logEnabled(LogLevel::kDebug)) {
      logLine(LogLevel::kDebug,
              "plain text from " + remote_address_ + " refused: PeerAuthentication STRICT");
    }
    close();
    return false;
  }
  if (!inbound_tls_) {
    // A TLS client before this sidecar has its certificate: nothing to answer it with.
    observe::WorkerCounters::inc(worker_.counters().downstream_tls_failures);
    logLine(LogLevel::kWarning,
            "mutual TLS from " + remote_address_ + " refused: this sidecar has no certificate yet");
    close();
    return false;
  }
  setTransport(std::make_unique<tls::TlsStream>(inbound_tls_));
  receiveThroughTransport(data, len);
  return false;
}

void DownstreamConnection::onTransportReady() {
  auto* stream = static_cast<tls::TlsStream*>(transport());
  observe::WorkerCounters& counters = worker_.counters();
  observe::WorkerCounters::inc(counters.downstream_tls_handshakes);
  if (stream->resumed()) observe::WorkerCounters::inc(counters.downstream_tls_resumed);
  peer_principal_ = stream->peerIdentity();
  // spiffe://<trust domain>/ns/<namespace>/sa/<service account>
  std::string_view id(peer_principal_);
  if (size_t ns = id.find("/ns/"); ns != std::string_view::npos) {
    std::string_view rest = id.substr(ns + 4);
    peer_namespace_.assign(rest.substr(0, rest.find('/')));
  }
  // Istio's x-forwarded-client-cert for the app: who verified the client, and who it is.
  const Runtime& rt = *worker_.runtime();
  client_cert_header_ = "By=" + rt.snapshot->bootstrap.node.spiffeId() + ";Hash=" +
                        tls::certificateSha256Hex(SSL_get0_peer_certificate(stream->ssl())) +
                        ";Subject=\"\";URI=" + peer_principal_;
}

void DownstreamConnection::onRead(const char* data, size_t len) {
  if (sniff_first_bytes_ && !admitFirstBytes(data, len)) return;
  if (tunnel_) {
    if (upstream_) {
      upstream_->out().append(data, len);
      upstream_->flush();
      if (upstream_->aboveHighWatermark()) blockReading(kBlockBackpressure);
    }
    return;
  }
  if (!in_flight_ && timer_mode_ != TimerMode::kHeaderRead) setTimer(TimerMode::kHeaderRead);
  if (!pending_input_.empty()) {
    pending_input_.append(data, len);
    scratch_.clear();
    scratch_.swap(pending_input_);
    processInput(scratch_.data(), scratch_.size());
    return;
  }
  processInput(data, len);
}

void DownstreamConnection::processInput(const char* data, size_t len) {
  while (len > 0 && !closing()) {
    if (decoder_paused_) {
      if (in_flight_) {
        // A pipelined request: it waits until the response in flight is complete.
        pending_input_.append(data, len);
        blockReading(kBlockPipeline);
        return;
      }
      decoder_.resume();
      decoder_paused_ = false;
      setTimer(TimerMode::kHeaderRead);
    }
    in_decode_ = true;
    http::DecodeResult r = decoder_.decode(data, len);
    in_decode_ = false;
    if (closing()) return;
    // Request bytes go to the upstream only once the whole read has parsed cleanly, so a
    // request that is malformed within the bytes already read never reaches it.
    if (r.status != http::DecodeStatus::kError) flushPendingToUpstream();
    switch (r.status) {
      case http::DecodeStatus::kNeedMore:
        return;
      case http::DecodeStatus::kMessageComplete:
        decoder_paused_ = true;
        data += r.consumed;
        len -= r.consumed;
        break;
      case http::DecodeStatus::kUpgrade:
        // Bytes after the head belong to the tunnel: the upstream gets them after the head.
        decoder_paused_ = true;
        request_complete_ = true;
        if (r.consumed < len) sendBody(std::string_view(data + r.consumed, len - r.consumed));
        blockReading(kBlockPipeline);
        return;
      case http::DecodeStatus::kError:
        protocolError(r);
        return;
    }
  }
}

void DownstreamConnection::resumeInput() {
  if (closing()) return;
  unblockReading(kBlockPipeline);
  if (pending_input_.empty()) {
    setTimer(TimerMode::kIdle);
    if (decoder_paused_) {
      decoder_.resume();
      decoder_paused_ = false;
    }
    return;
  }
  scratch_.clear();
  scratch_.swap(pending_input_);
  std::string input;
  input.swap(scratch_);
  processInput(input.data(), input.size());
  if (scratch_.empty()) scratch_.swap(input);  // keep the warmed buffer
}

void DownstreamConnection::onReadEof() {
  if (in_flight_) {
    if (request_complete_ && !response_complete_) {
      // The client half-closed after its request: still deliver the response, then close.
      close_after_response_ = true;
      blockReading(kBlockDraining);
      return;
    }
    abortExchange(observe::kDownstreamConnectionTermination);
  }
  close();
}

void DownstreamConnection::onReadError(int) {
  if (in_flight_) abortExchange(observe::kDownstreamConnectionTermination);
  close();
}

void DownstreamConnection::onWriteError(int) {
  if (in_flight_) abortExchange(observe::kDownstreamConnectionTermination);
  close();
}

void DownstreamConnection::onTransportFailure(const std::string& reason) {
  // TLS refused the peer (handshake) or a record failed mid-stream: no HTTP answer is possible.
  if (!transport()->established()) {
    observe::WorkerCounters::inc(worker_.counters().downstream_tls_failures);
  }
  if (logEnabled(LogLevel::kDebug)) {
    logLine(LogLevel::kDebug, "TLS from " + remote_address_ + ": " + reason);
  }
  if (in_flight_) abortExchange(observe::kDownstreamConnectionTermination);
  TcpStream::onTransportFailure(reason);  // the alert goes out, then the connection closes
}

void DownstreamConnection::onDrained() {
  // The client took our queued response bytes: read from the upstream again.
  if (upstream_) upstream_->unblockReading(kBlockBackpressure);
}

void DownstreamConnection::onClosed() {
  leaveQueue();
  releaseMirrors();
  if (upstream_) {
    upstream_->abort();
    upstream_ = nullptr;
  }
  worker_.connectionClosed(this);
}

void DownstreamConnection::protocolError(const http::DecodeResult& r) {
  observe::WorkerCounters::inc(worker_.counters().downstream_protocol_errors);
  uint16_t status = r.http_status ? r.http_status : 400;
  if (in_flight_) {
    // The body turned out malformed after the head was accepted. If no response has started,
    // the client still gets its 400; either way the connection cannot go on.
    close_after_response_ = true;
    if (!response_head_sent_) {
      localReply(status, r.reason, observe::kDownstreamProtocolError);
    } else {
      abortExchange(observe::kDownstreamProtocolError);
      close();
    }
    return;
  }
  http::ResponseHead h;
  h.status = status;
  h.reason = http::reasonPhrase(h.status);
  std::string body = "weft: ";
  body += r.reason;
  body += '\n';
  h.headers.add("content-type", "text/plain");
  std::string len;
  appendNumber(len, body.size());
  h.headers.add("content-length", len);
  h.headers.add("x-weft-error", r.reason);
  h.headers.add("connection", "close");
  http::encodeResponseHead(h, out());
  out() += body;
  closeAfterFlush();
}

// === Request ===

void DownstreamConnection::onRequestHead(http::RequestHead& head) {
  setTimer(TimerMode::kNone);
  in_flight_ = true;
  head_ = &head;
  runtime_ = worker_.runtime();
  start_steady_ = std::chrono::steady_clock::now();
  start_system_ = std::chrono::system_clock::now();
  route_ = nullptr;
  destination_ = nullptr;
  cluster_ = nullptr;
  max_requests_per_connection_ = 0;
  upstream_principal_.clear();
  endpoint_index_ = -1;
  endpoint_held_ = false;
  upstream_ = nullptr;
  upstream_ready_ = false;
  upstream_reused_ = false;
  retried_stale_ = false;
  to_upstream_.clear();
  request_body_.clear();
  body_replayable_ = true;
  attempt_active_ = false;
  attempt_timer_mode_ = AttemptTimer::kNone;
  retries_ = 0;
  retry_counted_ = false;
  cluster_counted_ = false;
  fault_abort_ = false;
  tried_count_ = 0;
  details_ = "";
  overloaded_ = false;
  awaiting_route_ = false;
  route_awaited_ = false;
  set_cookie_.clear();
  cors_headers_.clear();
  matched_ = nullptr;
  request_complete_ = false;
  response_head_sent_ = false;
  response_chunked_ = false;
  response_complete_ = false;
  response_code_ = 0;
  response_flags_ = 0;
  request_body_bytes_ = 0;
  response_body_bytes_ = 0;
  attempts_ = 0;
  series_ = nullptr;
  observe::WorkerCounters::inc(worker_.counters().downstream_rq_total);
  observe::WorkerCounters::add(worker_.counters().downstream_rq_active, 1);

  authority_.assign(head.authority);
  path_.assign(head.path);
  if (!head.keep_alive) close_after_response_ = true;
  if (inbound_ && worker_.draining()) close_after_response_ = true;

  // Correlation: keep the client's x-request-id or make one; continue or start the trace.
  if (auto id = head.headers.get("x-request-id"); id && !id->empty()) {
    request_id_.assign(*id);
  } else {
    observe::newRequestId(request_id_);
    head.headers.set("x-request-id", request_id_);
  }
  std::string_view incoming_trace = head.headers.get("traceparent").value_or(std::string_view());
  observe::nextTraceparent(incoming_trace, traceparent_);
  head.headers.set("traceparent", traceparent_);

  // Peer metadata exchange: an inbound request names the calling workload (for the source_*
  // labels); an outbound one carries ours. The app never sees the header.
  if (inbound_) {
    std::string_view peer = head.headers.get(observe::kPeerHeader).value_or(std::string_view());
    series_ = &peer_series_.inbound(*runtime_->stats, peer, peer_principal_);
    head.headers.remove(observe::kPeerHeader);
    // Only this sidecar vouches for the client's certificate: a client's own claim is dropped.
    head.headers.remove("x-forwarded-client-cert");
    if (!client_cert_header_.empty())
      head.headers.set("x-forwarded-client-cert", client_cert_header_);
  } else {
    head.headers.set(observe::kPeerHeader, runtime_->peer_header);
  }

  // Authorization (Istio's RBAC filter) before the request reaches the app; nothing to do
  // when no AuthorizationPolicy applies to this node.
  if (inbound_ && runtime_->snapshot->authz && !authorize(head)) return;
  if (!routeRequest(head)) return;
  forwardRouted(head);
}

bool DownstreamConnection::authorize(const http::RequestHead& head) {
  const mesh::Snapshot& snap = *runtime_->snapshot;
  authz::RequestAttributes a;
  a.method = head.method;
  a.path = head.path;
  a.host = head.authority;
  a.header_context = &head.headers;
  a.header = [](const void* headers, std::string_view name) {
    return static_cast<const http::HeaderMap*>(headers)->get(name);
  };
  a.destination_port = snap.bootstrap.inbound.port;
  std::string_view peer_ip(remote_address_);
  if (size_t colon = peer_ip.rfind(':'); colon != std::string_view::npos) {
    peer_ip = peer_ip.substr(0, colon);
  }
  if (peer_ip.size() > 1 && peer_ip.front() == '[' && peer_ip.back() == ']') {
    peer_ip = peer_ip.substr(1, peer_ip.size() - 2);
  }
  a.source_ip = authz::parseIp(peer_ip);
  // Istio's principals are the SPIFFE ID without its scheme: "<trust domain>/ns/<ns>/sa/<sa>".
  std::string_view principal(peer_principal_);
  if (principal.substr(0, 9) == "spiffe://") principal.remove_prefix(9);
  a.principal = principal;
  a.peer_namespace = peer_namespace_;
  // remote.ip: the original client, the leftmost X-Forwarded-For entry (the connection's peer
  // without the header).
  a.remote_ip = a.source_ip;
  if (auto xff = head.headers.get("x-forwarded-for")) {
    std::string_view first = xff->substr(0, xff->find(','));
    while (!first.empty() && (first.front() == ' ' || first.front() == '\t'))
      first.remove_prefix(1);
    while (!first.empty() && (first.back() == ' ' || first.back() == '\t')) first.remove_suffix(1);
    a.remote_ip = authz::parseIp(first);
  }
  const authz::Decision d = authz::evaluate(*snap.authz, a);
  observe::AuthzCounters& counters = runtime_->stats->authz(d.policy, worker_.index());
  if (d.allowed) {
    observe::ClusterCounters::inc(counters.allowed);
    return true;
  }
  observe::ClusterCounters::inc(counters.denied);
  details_ = "rbac_access_denied";
  respondLocally(403, "RBAC: access denied", {}, observe::kRbacAccessDenied, nullptr);
  return false;
}

void DownstreamConnection::forwardRouted(http::RequestHead& head) {
  // What the upstream gets: hop-by-hop fields out, forwarding fields in, framing re-stated.
  http::removeHopByHopHeaders(head.headers, head.upgrade);
  std::string_view peer_ip(remote_address_);
  if (size_t colon = peer_ip.rfind(':'); colon != std::string_view::npos) {
    peer_ip = peer_ip.substr(0, colon);
  }
  if (auto xff = head.headers.get("x-forwarded-for")) {
    std::string v(*xff);
    v += ", ";
    v += peer_ip;
    head.headers.set("x-forwarded-for", v);
  } else {
    head.headers.add("x-forwarded-for", peer_ip);
  }
  if (!head.headers.has("x-forwarded-proto")) head.headers.add("x-forwarded-proto", "http");
  request_chunked_ = head.chunked;
  if (head.chunked) {
    head.headers.add("transfer-encoding", "chunked");
  } else if (head.content_length) {
    std::string v;
    appendNumber(v, *head.content_length);
    head.headers.set("content-length", v);
  }
  runtime_generation_ = worker_.runtimeGeneration();

  // Fault injection (VirtualService http[].fault), before anything reaches the upstream:
  // the delay comes first, then the abort, each rolled independently per request.
  if (route_ && route_->fault.active()) {
    const mesh::FaultPolicy& f = route_->fault;
    fault_abort_ = f.abort_ppm > 0 && observe::random64() % kMillion < f.abort_ppm;
    if (f.delay_ppm > 0 && observe::random64() % kMillion < f.delay_ppm) {
      response_flags_ |= observe::kDelayInjected;
      attempt_timer_mode_ = AttemptTimer::kFaultDelay;
      attempt_timer_.arm(f.delay_ms);
      return;
    }
    if (fault_abort_) {
      localReply(f.abort_status, "fault filter abort", observe::kFaultInjected);
      return;
    }
  }
  startAttempt(false);
}

// === Attempts: one per try at the upstream (retries, timeouts, faults) ===

void DownstreamConnection::startAttempt(bool resend_same_endpoint) {
  attempt_timer_mode_ = AttemptTimer::kNone;
  if (runtime_generation_ != worker_.runtimeGeneration()) {
    // The configuration changed during a delay or back-off: the cluster state this request
    // was routed with is gone.
    localReply(503, "configuration changed before the request was sent",
               observe::kNoHealthyUpstream);
    return;
  }
  if (attempts_ == 0) {
    // connectionPool.http.http2MaxRequests (Istio applies it to HTTP/1.1 as well): this
    // worker's requests in flight to the cluster. Overflow is answered at once, never queued.
    const upstream::ClusterState& cs = worker_.cluster(cluster_index_);
    if (cs.active_requests >= cluster_->pool.max_requests) {
      observe::ClusterCounters::inc(clusterCounters().rq_pending_overflow);
      replyOverflow();
      return;
    }
  }
  // Mirroring happens in the router, after fault injection: an aborted request is not copied.
  if (attempts_ == 0 && route_ && !route_->mirrors.empty()) startMirrors();
  if (!resend_same_endpoint && !pickEndpoint()) {
    localReply(503, "no healthy upstream", observe::kNoHealthyUpstream);
    return;
  }
  ++attempts_;
  if (route_) {
    // Istio enables Envoy's attempt count header: the server can tell a retry from a first try.
    char n[12];
    auto [end, ec] = std::to_chars(n, n + sizeof(n), attempts_);
    head_->headers.set("x-envoy-attempt-count", std::string_view(n, end - n));
    if (attempts_ == 1 && route_->timeout_ms > 0) route_timer_.arm(route_->timeout_ms);
    if (route_->retry.per_try_timeout_ms > 0) {
      attempt_timer_mode_ = AttemptTimer::kPerTry;
      attempt_timer_.arm(route_->retry.per_try_timeout_ms);
    }
  }
  to_upstream_.clear();
  http::encodeRequestHead(*head_, to_upstream_);
  to_upstream_.append(request_body_);
  if (request_body_.size() > runtime_->snapshot->bootstrap.retry_buffer_bytes) {
    // Grown past the buffer while no attempt could take it: sent once, never again.
    body_replayable_ = false;
    request_body_.clear();
  }
  attempt_active_ = true;
  unblockReading(kBlockBackpressure);
  connectUpstream(!resend_same_endpoint);
}

bool DownstreamConnection::pickEndpoint() {
  releaseEndpoint();
  upstream::ClusterState& cs = worker_.cluster(cluster_index_);
  // Envoy's previous_hosts predicate, as Istio configures it: a retry prefers an endpoint not
  // tried yet, re-selecting up to five times.
  int pick = -1;
  const uint64_t now = uv_now(worker_.loop());
  uint64_t hash;
  if (!cs.hash_ring.empty() && requestHash(cs.cluster->hash, hash)) {
    // consistentHash: the key decides; retries stay on the key's endpoint (Istio does not set
    // the previous-hosts predicate with consistent hashing).
    pick = cs.hash_ring.pick(hash, [&](int i) { return !cs.endpoints[i].ejectedAt(now); });
  }
  const bool avoid_tried = route_ == nullptr || route_->retry.retry_ignore_previous_hosts;
  for (int selection = 0; pick < 0 && selection < (avoid_tried ? 6 : 1); ++selection) {
    pick = upstream::pickEndpoint(cs, &observe::random64, now);
    if (pick < 0) return false;
    bool tried = std::find(tried_, tried_ + tried_count_, pick) != tried_ + tried_count_;
    if (tried && selection < 5 && avoid_tried) pick = -1;
  }
  if (pick < 0) return false;
  if (tried_count_ < kMaxTried) tried_[tried_count_++] = pick;
  endpoint_index_ = pick;
  upstream::EndpointState& es = cs.endpoints[pick];
  endpoint_snapshot_index_ = es.index;
  endpoint_held_ = true;
  ++es.active_requests;
  es.counters->rq_total.store(es.counters->rq_total.load(std::memory_order_relaxed) + 1,
                              std::memory_order_relaxed);
  observe::WorkerCounters::add(es.counters->rq_active, 1);
  if (!cluster_counted_) {
    ++cs.active_requests;
    cluster_counted_ = true;
  }
  return true;
}

void DownstreamConnection::noteOutcome(upstream::Outcome outcome) {
  if (!endpoint_held_ || runtime_generation_ != worker_.runtimeGeneration()) return;
  if (upstream::recordOutcome(worker_.cluster(cluster_index_), endpoint_index_, outcome,
                              uv_now(worker_.loop()))) {
    observe::WorkerCounters::inc(worker_.counters().outlier_ejections);
    observe::ClusterCounters::inc(clusterCounters().outlier_ejections);
  }
}

namespace {

upstream::ConnectionOptions connectionOptions(const mesh::Cluster& c) {
  upstream::ConnectionOptions o;
  o.connect_timeout_ms = c.pool.connect_timeout_ms;
  o.idle_timeout_ms = c.pool.idle_timeout_ms;
  o.keepalive = c.pool.tcp_keepalive;
  o.keepalive_time_s = c.pool.keepalive_time_s;
  o.keepalive_interval_s = c.pool.keepalive_interval_s;
  o.keepalive_probes = c.pool.keepalive_probes;
  return o;
}

// The value of `name` in a Cookie header ("a=1; b=2"), if present.
std::optional<std::string_view> cookieValue(const http::HeaderMap& headers, std::string_view name) {
  std::optional<std::string_view> found;
  headers.forEach([&](std::string_view n, std::string_view v) {
    if (found || !http::equalsIgnoreCase(n, "cookie")) return;
    while (!v.empty()) {
      size_t end = v.find(';');
      std::string_view item = v.substr(0, end);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      size_t eq = item.find('=');
      if (eq != std::string_view::npos && item.substr(0, eq) == name) {
        found = item.substr(eq + 1);
        return;
      }
      if (end == std::string_view::npos) break;
      v.remove_prefix(end + 1);
    }
  });
  return found;
}

}  // namespace

bool DownstreamConnection::requestHash(const mesh::ConsistentHashPolicy& policy, uint64_t& hash) {
  using Key = mesh::ConsistentHashPolicy::Key;
  std::optional<std::string_view> value;
  switch (policy.key) {
    case Key::kNone:
      return false;
    case Key::kHeader:
      value = head_->headers.get(policy.name);
      break;
    case Key::kCookie:
      value = cookieValue(head_->headers, policy.name);
      if (!value && policy.cookie_ttl_set) {
        // No cookie yet: make one, hash this request by it, and hand it to the client so its
        // next requests land on the same endpoint (Envoy's generated cookie).
        char hex[17];
        uint64_t r = observe::random64();
        for (int i = 15; i >= 0; --i, r >>= 4) hex[i] = "0123456789abcdef"[r & 0xf];
        hex[16] = '\0';
        set_cookie_ = policy.name + "=" + hex;
        if (!policy.cookie_path.empty()) set_cookie_ += "; Path=" + policy.cookie_path;
        if (policy.cookie_ttl_s > 0)
          set_cookie_ += "; Max-Age=" + std::to_string(policy.cookie_ttl_s);
        set_cookie_ += "; HttpOnly";
        hash = upstream::hashKey(std::string_view(hex, 16));
        return true;
      }
      break;
    case Key::kSourceIp: {
      std::string_view ip(remote_address_);
      if (size_t colon = ip.rfind(':'); colon != std::string_view::npos) ip = ip.substr(0, colon);
      value = ip;
      break;
    }
    case Key::kQueryParameter:
      value = router::queryParam(head_->path, policy.name);
      break;
  }
  // No key in this request: the load balancer's ordinary choice (as Envoy falls back).
  if (!value) return false;
  hash = upstream::hashKey(*value);
  return true;
}

void DownstreamConnection::releaseEndpoint() {
  if (!endpoint_held_) return;
  endpoint_held_ = false;
  if (runtime_generation_ != worker_.runtimeGeneration()) return;
  upstream::EndpointState& es = worker_.cluster(cluster_index_).endpoints[endpoint_index_];
  if (es.active_requests > 0) --es.active_requests;
  observe::WorkerCounters::add(es.counters->rq_active, -1);
}

uint32_t DownstreamConnection::retryConditions(const http::ResponseHead& head) const {
  using R = mesh::RetryPolicy;
  const uint16_t s = head.status;
  uint32_t c = 0;
  if (s >= 500) c |= R::k5xx;
  if (s == 502 || s == 503 || s == 504) c |= R::kGatewayError;
  if (s == 409) c |= R::kRetriable4xx;
  const auto& codes = route_->retry.retriable_status_codes;
  if (std::find(codes.begin(), codes.end(), s) != codes.end()) c |= R::kRetriableStatusCodes;
  if (auto grpc = head.headers.get("grpc-status")) {
    if (*grpc == "1") c |= R::kCancelled;
    if (*grpc == "4") c |= R::kDeadlineExceeded;
    if (*grpc == "8") c |= R::kResourceExhausted;
    if (*grpc == "13") c |= R::kInternal;
    if (*grpc == "14") c |= R::kUnavailable;
  }
  return c;
}

bool DownstreamConnection::maybeRetry(uint32_t conditions) {
  if (route_ == nullptr || response_head_sent_) return false;
  const mesh::RetryPolicy& p = route_->retry;
  if ((p.retry_on & conditions) == 0) return false;
  if (retries_ >= p.attempts) {
    response_flags_ |= observe::kUpstreamRetryLimitExceeded;
    observe::ClusterCounters::inc(clusterCounters().rq_retry_limit_exceeded);
    return false;
  }
  if (!body_replayable_) {
    details_ = "retry skipped: request body larger than the retry buffer";
    return false;
  }
  if (runtime_generation_ != worker_.runtimeGeneration()) return false;
  // Retry storms: connectionPool.http.maxRetries and the retry budget (retries may add at
  // most a share of the cluster's active requests) cap concurrent retries. Overflow is
  // counted, and the failure goes to the client as it is.
  upstream::ClusterState& cs = worker_.cluster(cluster_index_);
  const mesh::Cluster& cluster = *cs.cluster;
  auto budget = static_cast<uint32_t>(cluster.retry_budget.percent / 100.0 * cs.active_requests);
  uint32_t allowed = std::max(cluster.retry_budget.min_retry_concurrency, budget);
  allowed = std::min(allowed, cluster.pool.max_retries);
  if (!retry_counted_ && cs.active_retries >= allowed) {
    observe::WorkerCounters::inc(worker_.counters().upstream_rq_retry_overflow);
    observe::ClusterCounters::inc(clusterCounters().rq_retry_overflow);
    details_ = "retry overflow";
    return false;
  }
  if (!retry_counted_) {
    ++cs.active_retries;
    retry_counted_ = true;
  }
  ++retries_;
  observe::WorkerCounters::inc(worker_.counters().upstream_rq_retry);
  observe::ClusterCounters::inc(clusterCounters().rq_retry);
  releaseEndpoint();
  attempt_active_ = false;
  if (upstream_) {
    upstream::UpstreamConnection* u = upstream_;
    upstream_ = nullptr;
    u->abort();
  }
  upstream_ready_ = false;
  // Envoy's back-off: fully jittered exponential, U[0, (2^n - 1) x base), capped at 10 x base.
  uint64_t base = p.backoff_base_ms;
  uint64_t ceiling = std::min(((uint64_t{1} << std::min(retries_, 20u)) - 1) * base, 10 * base);
  attempt_timer_mode_ = AttemptTimer::kBackoff;
  attempt_timer_.arm(ceiling > 0 ? observe::random64() % ceiling : 0);
  return true;
}

void DownstreamConnection::onRouteTimeout(void* owner) {
  auto* self = static_cast<DownstreamConnection*>(owner);
  if (!self->in_flight_ || self->closing()) return;
  self->attempt_timer_.cancel();
  self->attempt_timer_mode_ = AttemptTimer::kNone;
  if (self->response_head_sent_) {
    // Too late for a 504: cut the connection so the partial response cannot look complete.
    self->abortExchange(observe::kUpstreamRequestTimeout);
    self->reset();
    return;
  }
  self->localReply(504, "upstream request timeout", observe::kUpstreamRequestTimeout);
}

void DownstreamConnection::onAttemptTimer(void* owner) {
  auto* self = static_cast<DownstreamConnection*>(owner);
  if (!self->in_flight_ || self->closing()) return;
  AttemptTimer mode = self->attempt_timer_mode_;
  self->attempt_timer_mode_ = AttemptTimer::kNone;
  switch (mode) {
    case AttemptTimer::kNone:
      return;
    case AttemptTimer::kFaultDelay:
      if (self->fault_abort_) {
        self->localReply(self->route_->fault.abort_status, "fault filter abort",
                         observe::kFaultInjected);
      } else {
        self->startAttempt(false);
      }
      return;
    case AttemptTimer::kBackoff:
      self->startAttempt(false);
      return;
    case AttemptTimer::kPerTry: {
      if (self->response_head_sent_) return;
      // Waiting for a connection says nothing about the endpoint's health.
      const bool waited = self->queued();
      self->leaveQueue();
      if (!waited) self->noteOutcome(upstream::Outcome::kLocalFailure);
      // Istio: a per-try timeout is retried only when retryOn has 5xx or gateway-error.
      if (self->maybeRetry(mesh::RetryPolicy::k5xx | mesh::RetryPolicy::kGatewayError)) return;
      self->localReply(504, "upstream request timeout", observe::kUpstreamRequestTimeout);
      return;
    }
  }
}

bool DownstreamConnection::routeRequest(http::RequestHead& head) {
  const mesh::Snapshot& snap = *runtime_->snapshot;
  if (inbound_) {
    cluster_index_ = static_cast<uint32_t>(snap.clusters.size());
    cluster_ = &snap.inbound_app;
    max_requests_per_connection_ = cluster_->pool.max_requests_per_connection;
  } else {
    router::RouteResult rr = router::findRoute(snap.outbound_routes, head);
    if (rr.route == nullptr) {
      if (rr.virtual_host == nullptr && awaitRoute(head)) return false;
      localReply(404, "no route", observe::kNoRoute);
      return false;
    }
    route_ = rr.route;
    matched_ = rr.matched;
    if (!routeActions(head)) return false;
    destination_ = router::pickDestination(*route_, observe::random64());
    if (destination_ == nullptr || destination_->cluster >= snap.clusters.size()) {
      localReply(503, "no cluster", observe::kNoClusterFound);
      return false;
    }
    cluster_index_ = destination_->cluster;
    cluster_ = &snap.clusters[cluster_index_];
    max_requests_per_connection_ = cluster_->pool.max_requests_per_connection;
    router::applyHeaderOperations(route_->request_headers, head.headers);
    router::applyHeaderOperations(destination_->request_headers, head.headers);
    router::rewritePath(*route_, rr.matched, head.path);
    if (route_->rewrite_authority) {
      head.authority = *route_->rewrite_authority;
      head.headers.set("host", head.authority);
    }
  }
  // An absolute-form target becomes origin-form with Host, as an origin server expects.
  if (head.absolute_form) head.headers.set("host", head.authority);
  return true;
}

void DownstreamConnection::connectUpstream(bool allow_reuse, bool from_queue) {
  upstream::ClusterState& cs = worker_.cluster(cluster_index_);
  upstream::HostPool* pool = cs.endpoints[endpoint_index_].pool;
  upstream_ready_ = false;
  upstream_reused_ = false;
  if (mustWaitForConnection(allow_reuse, from_queue)) {
    const mesh::ConnectionPoolPolicy& limits = cluster_->pool;
    observe::ClusterCounters& counters = clusterCounters();
    if (cs.pending_requests >= limits.max_pending_requests) {
      // http1MaxPendingRequests: the wait list is full. Overflow is answered at once, is not
      // retried and says nothing about the endpoint's health.
      observe::ClusterCounters::inc(counters.rq_pending_overflow);
      replyOverflow();
      return;
    }
    ++cs.pending_requests;
    observe::ClusterCounters::inc(counters.rq_pending_total);
    observe::ClusterCounters::add(counters.rq_pending_active, 1);
    // No request waits forever: at most the cluster's connect timeout, as if it were
    // connecting.
    const uint32_t wait_ms = limits.connect_timeout_ms > 0
                                 ? limits.connect_timeout_ms
                                 : runtime_->snapshot->bootstrap.timeouts.upstream_connect_ms;
    worker_.pendingQueue().push(this, wait_ms);
    // Queued only to keep the order: room is there, so the walk can start now.
    if (!mustWaitForConnection(allow_reuse, true)) worker_.pendingQueue().wake();
    return;
  }
  upstream_ = pool->acquire(this, head_->method.c_str(), allow_reuse, connectionOptions(*cluster_));
  if (upstream_ == nullptr) {
    onUpstreamFailure(upstream::FailureReason::kConnectFailure, false);
    return;
  }
  if (upstream_->state() == upstream::UpstreamConnection::State::kBusy) {
    upstream_reused_ = true;
    onUpstreamConnected();
  }
}

bool DownstreamConnection::mustWaitForConnection(bool allow_reuse, bool from_queue) {
  const uint32_t max = cluster_->pool.max_connections;
  if (max == mesh::ConnectionPoolPolicy::kUnlimited) return false;
  upstream::ClusterState& cs = worker_.cluster(cluster_index_);
  // Waiters go first: a newcomer does not overtake them, even to an idle connection.
  if (!from_queue && cs.pending_requests > 0) return true;
  const upstream::HostPool& pool = *cs.endpoints[endpoint_index_].pool;
  if (allow_reuse && pool.idleCount() > 0) return false;
  // As Envoy, an endpoint without any connection may always open one, so a cluster at its
  // limit cannot starve one of its endpoints.
  if (pool.activeCount() == 0) return false;
  return upstream::openConnections(cs) >= max;
}

bool DownstreamConnection::awaitRoute(const http::RequestHead& head) {
  if (awaiting_route_) return true;  // still waiting: a configuration without the host came
  if (!worker_.routesOnDemand() || route_awaited_) return false;
  route_awaited_ = true;
  awaiting_route_ = true;
  awaited_generation_ = worker_.runtimeGeneration();
  std::string_view host;
  uint16_t port;
  router::splitAuthority(head.authority, host, port);
  worker_.requestRoute(host);
  // Bounded like a connection attempt: the control plane answers an interest request at once.
  worker_.pendingQueue().push(this, runtime_->snapshot->bootstrap.timeouts.upstream_connect_ms);
  return true;
}

bool DownstreamConnection::retryPending() {
  if (awaiting_route_) {
    // Only a new configuration can change the answer.
    if (worker_.runtimeGeneration() == awaited_generation_) return false;
    awaited_generation_ = worker_.runtimeGeneration();
    runtime_ = worker_.runtime();
    if (!routeRequest(*head_)) return !queued();  // still waiting, or answered
    leaveQueue();
    forwardRouted(*head_);
    return true;
  }
  if (runtime_generation_ != worker_.runtimeGeneration()) {
    leaveQueue();
    localReply(503, "configuration changed before the request was sent",
               observe::kNoHealthyUpstream);
    return true;
  }
  if (mustWaitForConnection(true, true)) return false;
  leaveQueue();
  connectUpstream(true, true);
  return true;
}

void DownstreamConnection::pendingTimedOut() {
  if (awaiting_route_) {
    leaveQueue();
    details_ = "on-demand configuration for the host did not arrive in time";
    localReply(404, "no route", observe::kNoRoute);
    return;
  }
  leaveQueue();
  observe::ClusterCounters::inc(clusterCounters().rq_pending_overflow);
  replyOverflow();
}

void DownstreamConnection::replyOverflow() {
  // Envoy's circuit-breaker answer: immediate, never retried, flagged UO, and not counted
  // against the endpoint by outlier detection.
  overloaded_ = true;
  localReply(503,
             "upstream connect error or disconnect/reset before headers. reset reason: overflow",
             observe::kUpstreamOverflow);
}

void DownstreamConnection::leaveQueue() {
  if (!queued()) return;
  worker_.pendingQueue().remove(this);
  if (awaiting_route_) {
    awaiting_route_ = false;  // no connection-wait bookkeeping to undo
    return;
  }
  if (runtime_) observe::ClusterCounters::add(clusterCounters().rq_pending_active, -1);
  if (runtime_generation_ == worker_.runtimeGeneration()) {
    upstream::ClusterState& cs = worker_.cluster(cluster_index_);
    if (cs.pending_requests > 0) --cs.pending_requests;
  }
}

observe::ClusterCounters& DownstreamConnection::clusterCounters() const {
  return runtime_->stats->cluster(cluster_index_, worker_.index());
}

void DownstreamConnection::flushPendingToUpstream() {
  if (!in_flight_ || !upstream_ready_ || upstream_ == nullptr || to_upstream_.empty()) return;
  flushToUpstream();
  if (upstream_ && upstream_->aboveHighWatermark()) blockReading(kBlockBackpressure);
}

void DownstreamConnection::sendToUpstream(std::string_view bytes) {
  to_upstream_.append(bytes);
  if (upstream_ready_ && !in_decode_) flushToUpstream();
  // Back-pressure: stop reading the client while the upstream cannot keep up.
  size_t queued = to_upstream_.size() + (upstream_ready_ ? upstream_->queuedBytes() : 0);
  if (queued > kHighWatermark) blockReading(kBlockBackpressure);
}

void DownstreamConnection::flushToUpstream() {
  if (to_upstream_.empty() || upstream_ == nullptr) return;
  upstream_->out().append(to_upstream_);
  to_upstream_.clear();
  upstream_->flush();
}

void DownstreamConnection::startMirrors() {
  // Istio >= 1.28 sends the copy with the request's own authority (no "-shadow" suffix).
  std::string head_bytes;
  const uint64_t now = uv_now(worker_.loop());
  size_t slot = 0;
  for (const mesh::MirrorPolicy& m : route_->mirrors) {
    if (slot == kMaxMirrors) break;
    if (m.ppm < kMillion && observe::random64() % kMillion >= m.ppm) continue;
    if (m.cluster >= runtime_->snapshot->clusters.size()) continue;
    upstream::ClusterState& cs = worker_.cluster(m.cluster);
    int e = upstream::pickEndpoint(cs, &observe::random64, now);
    if (e < 0) continue;
    if (head_bytes.empty()) http::encodeRequestHead(*head_, head_bytes);
    mirrors_[slot] =
        MirrorRequest::start(*cs.endpoints[e].pool, head_->method, head_bytes, &mirrors_[slot]);
    if (mirrors_[slot] == nullptr) continue;
    // Body bytes that arrived before (during an injected delay) go first.
    if (!request_body_.empty()) mirrors_[slot]->send(request_body_);
    if (mirrors_[slot]) ++slot;
  }
}

void DownstreamConnection::releaseMirrors() {
  for (MirrorRequest*& m : mirrors_) {
    if (m == nullptr) continue;
    MirrorRequest* mirror = m;
    m = nullptr;
    if (request_complete_) {
      mirror->detach();
    } else {
      mirror->cancel();
    }
  }
}

void DownstreamConnection::sendBody(std::string_view framed) {
  for (MirrorRequest* m : mirrors_) {
    if (m) m->send(framed);  // may end (and clear its slot)
  }
  // Kept for a retry while it fits the buffer; while no attempt runs (fault delay, back-off)
  // it is the only copy, so it is kept whatever its size and reading stops instead.
  if (body_replayable_) {
    const size_t limit = runtime_->snapshot->bootstrap.retry_buffer_bytes;
    if (!attempt_active_ || request_body_.size() + framed.size() <= limit) {
      request_body_.append(framed);
    } else {
      body_replayable_ = false;
      request_body_.clear();
    }
  }
  if (attempt_active_) {
    sendToUpstream(framed);
  } else if (request_body_.size() > kHighWatermark) {
    blockReading(kBlockBackpressure);
  }
}

void DownstreamConnection::onRequestBody(std::string_view data) {
  request_body_bytes_ += data.size();
  if (!in_flight_ || response_complete_) return;
  if (request_chunked_) {
    framed_.clear();
    http::encodeChunk(data, framed_);
    sendBody(framed_);
  } else {
    sendBody(data);
  }
}

void DownstreamConnection::onRequestTrailers(http::HeaderMap& trailers) {
  if (!in_flight_ || response_complete_ || !request_chunked_) return;
  framed_.clear();
  http::encodeLastChunk(&trailers, framed_);
  request_chunked_ = false;  // the last chunk is written
  sendBody(framed_);
}

void DownstreamConnection::onRequestComplete() {
  if (!in_flight_) return;
  request_complete_ = true;
  if (response_complete_) {
    // The response finished first (e.g. a local reply while the body was still arriving).
    return;
  }
  if (request_chunked_) {
    framed_.clear();
    http::encodeLastChunk(nullptr, framed_);
    request_chunked_ = false;
    sendBody(framed_);
  }
}

// === Upstream events ===

void DownstreamConnection::onUpstreamConnected() {
  upstream_ready_ = true;
  if (in_decode_) return;  // flushed when the read has been parsed
  flushToUpstream();
  if (upstream_ && upstream_->aboveHighWatermark()) {
    blockReading(kBlockBackpressure);
  } else {
    unblockReading(kBlockBackpressure);
  }
}

void DownstreamConnection::onUpstreamDrained() {
  if (!tunnel_ && !in_flight_) return;
  unblockReading(kBlockBackpressure);
}

void DownstreamConnection::onUpstreamInformational(http::ResponseHead& head) {
  if (response_head_sent_) return;
  // 100 Continue and other interim answers pass through to the client as they are.
  http::ResponseHead interim;
  interim.status = head.status;
  interim.reason = head.reason;
  if (head.status != 100) {
    head.headers.forEach(
        [&](std::string_view n, std::string_view v) { interim.headers.add(n, v); });
    http::removeHopByHopHeaders(interim.headers, false);
  }
  http::encodeResponseHead(interim, out());
  flush();
}

void DownstreamConnection::onUpstreamResponseHead(http::ResponseHead& head) {
  if (attempt_timer_mode_ == AttemptTimer::kPerTry) {
    attempt_timer_.cancel();
    attempt_timer_mode_ = AttemptTimer::kNone;
  }
  noteOutcome(head.status < 500                          ? upstream::Outcome::kSuccess
              : head.status >= 502 && head.status <= 504 ? upstream::Outcome::kGatewayError
                                                         : upstream::Outcome::k5xx);
  // A retriable answer is dropped (the upstream connection with it) before any byte of it
  // reaches the client.
  if (route_ != nullptr && head.status >= 200 && maybeRetry(retryConditions(head))) return;
  response_head_sent_ = true;
  response_code_ = head.status;
  // The answer is going to the client: no retry can follow, the body copy is not needed.
  body_replayable_ = false;
  request_body_.clear();
  bool upgrading = head.status == 101;
  http::removeHopByHopHeaders(head.headers, upgrading);
  if (route_) {
    router::applyHeaderOperations(route_->response_headers, head.headers);
    if (destination_) router::applyHeaderOperations(destination_->response_headers, head.headers);
  }
  head.headers.set("x-request-id", request_id_);
  if (!set_cookie_.empty()) head.headers.add("set-cookie", set_cookie_);
  for (const auto& [name, value] : cors_headers_) head.headers.set(name, value);
  if (inbound_) {
    head.headers.set(observe::kPeerHeader, runtime_->peer_header);
  } else {
    std::string_view peer = head.headers.get(observe::kPeerHeader).value_or(std::string_view());
    if (upstream_) {
      upstream_principal_ = upstream_->peerIdentity();
      series_ = &upstream_->peerSeries().outbound(*runtime_->stats, cluster_index_, peer,
                                                  upstream_principal_);
    }
    head.headers.remove(observe::kPeerHeader);
  }
  response_chunked_ = false;
  if (!head.no_body && !upgrading) {
    if (head.chunked) {
      response_chunked_ = true;
    } else if (head.content_length) {
      std::string v;
      appendNumber(v, *head.content_length);
      head.headers.set("content-length", v);
    } else if (head_->version_minor >= 1) {
      response_chunked_ = true;  // close-delimited upstream body, chunked to the client
    } else {
      close_after_response_ = true;
    }
    if (response_chunked_) head.headers.add("transfer-encoding", "chunked");
  }
  if (close_after_response_ && !upgrading) {
    head.headers.set("connection", "close");
  } else if (head_->version_minor == 0 && !upgrading) {
    head.headers.set("connection", "keep-alive");
  }
  head.version_minor = 1;
  // Written with the body bytes of the same read, in one write (see onUpstreamReadDone).
  http::encodeResponseHead(head, out());
  if (upgrading) {
    tunnel_ = true;
    if (upstream_) upstream_->enterTunnel();
    setTimer(TimerMode::kNone);
    unblockReading(kBlockPipeline);
    recordRequest();
  }
}

void DownstreamConnection::onUpstreamResponseBody(std::string_view data) {
  response_body_bytes_ += data.size();
  if (response_chunked_) {
    http::encodeChunk(data, out());
  } else {
    out().append(data);
  }
}

void DownstreamConnection::onUpstreamResponseTrailers(http::HeaderMap& trailers) {
  if (!response_chunked_) return;
  http::encodeLastChunk(&trailers, out());
  response_chunked_ = false;
}

void DownstreamConnection::onUpstreamResponseComplete() {
  if (response_chunked_) {
    http::encodeLastChunk(nullptr, out());
    response_chunked_ = false;
  }
  response_complete_ = true;
  // Recorded before the last bytes leave, so a client that has its answer also finds it in
  // the metrics and the access log.
  recordRequest();
  flush();
  finishExchange();
}

void DownstreamConnection::onUpstreamTunnelData(const char* data, size_t len) {
  out().append(data, len);
}

void DownstreamConnection::onUpstreamReadDone() {
  flush();
  // Back-pressure is decided after the write: only bytes the kernel refused count, and they
  // come back through onDrained() once the client reads them.
  if (aboveHighWatermark() && upstream_) upstream_->blockReading(kBlockBackpressure);
}

void DownstreamConnection::onUpstreamTunnelEnd() {
  upstream_ = nullptr;
  closeAfterFlush();
}

void DownstreamConnection::onUpstreamFailure(upstream::FailureReason reason,
                                             bool response_started) {
  upstream_ = nullptr;
  upstream_ready_ = false;
  attempt_active_ = false;
  if (tunnel_) {
    closeAfterFlush();
    return;
  }
  if (!in_flight_) return;
  if (attempt_timer_mode_ == AttemptTimer::kPerTry) {
    attempt_timer_.cancel();
    attempt_timer_mode_ = AttemptTimer::kNone;
  }
  uint32_t flag = flagFor(reason);
  if (reason == upstream::FailureReason::kConnectFailure && endpoint_held_ &&
      runtime_generation_ == worker_.runtimeGeneration()) {
    auto* c = worker_.cluster(cluster_index_).endpoints[endpoint_index_].counters;
    c->cx_connect_fail.store(c->cx_connect_fail.load(std::memory_order_relaxed) + 1,
                             std::memory_order_relaxed);
  }
  if (!response_head_sent_) {
    if (!response_started && retryOnFreshConnection(reason)) return;
    // Not for the keep-alive race above: a stale pooled connection says nothing about the
    // endpoint's health.
    noteOutcome(upstream::Outcome::kLocalFailure);
    using R = mesh::RetryPolicy;
    uint32_t conditions = R::k5xx | R::kGatewayError;
    if (reason == upstream::FailureReason::kConnectFailure) {
      conditions |= R::kConnectFailure;
    } else if (reason != upstream::FailureReason::kProtocolError) {
      conditions |= R::kReset;
    }
    if (maybeRetry(conditions)) return;
  }
  if (response_head_sent_) {
    // Part of the response is with the client already: the only honest signal left is to
    // cut the connection, so a truncated body can never look complete.
    response_flags_ |= flag;
    abortExchange(flag);
    reset();
    return;
  }
  if (reason == upstream::FailureReason::kProtocolError) {
    localReply(502, "upstream protocol error", flag);
    return;
  }
  std::string reason_text =
      "upstream connect error or disconnect/reset before headers. reset reason: ";
  reason_text += upstream::toString(reason);
  localReply(503, reason_text, flag);
}

bool DownstreamConnection::retryOnFreshConnection(upstream::FailureReason reason) {
  // The keep-alive race: a pooled connection the server closed just as we reused it. No
  // response byte came back, so the server never processed the request: send it again, once,
  // on a fresh connection to the same endpoint, whatever its method, provided every byte sent
  // so far was kept. This is not a retry in the VirtualService sense and counts as none.
  if (!upstream_reused_ || retried_stale_ || !body_replayable_) return false;
  if (reason != upstream::FailureReason::kConnectionTermination &&
      reason != upstream::FailureReason::kRemoteReset) {
    return false;
  }
  retried_stale_ = true;
  observe::WorkerCounters::inc(worker_.counters().upstream_rq_stale_retry);
  startAttempt(true);
  return true;
}

// === Ending an exchange ===

void DownstreamConnection::localReply(uint16_t status, std::string_view reason, uint32_t flags) {
  // An answer the proxy makes because something failed: it says so in x-weft-error and in a
  // one-line body, so it can be told from the app's own answer.
  std::string body(reason);
  body += '\n';
  respondLocally(status, body, reason, flags, nullptr);
}

void DownstreamConnection::respondLocally(uint16_t status, std::string_view body,
                                          std::string_view error, uint32_t flags,
                                          const HeaderList* extra) {
  response_flags_ |= flags;
  response_code_ = status;
  response_head_sent_ = true;
  response_complete_ = true;
  if (upstream_) {
    upstream_->abort();
    upstream_ = nullptr;
  }
  // A request body still arriving cannot be skipped safely: answer, then close.
  if (!requestDone()) close_after_response_ = true;
  http::ResponseHead h;
  h.status = status;
  h.reason = http::reasonPhrase(status);
  if (!body.empty()) h.headers.add("content-type", "text/plain");
  std::string len;
  appendNumber(len, body.size());
  h.headers.add("content-length", len);
  if (!error.empty()) h.headers.add("x-weft-error", error);
  h.headers.add("x-request-id", request_id_);
  if (overloaded_) h.headers.add("x-envoy-overloaded", "true");
  if (extra) {
    for (const auto& [name, value] : *extra) h.headers.set(name, value);
  }
  // The route's response header operations apply to the proxy's own answers too (Envoy's
  // finalizeResponseHeaders), and CORS headers decided for this request.
  if (route_) router::applyHeaderOperations(route_->response_headers, h.headers);
  for (const auto& [name, value] : cors_headers_) h.headers.set(name, value);
  if (close_after_response_) h.headers.add("connection", "close");
  http::encodeResponseHead(h, out());
  if (head_ == nullptr || head_->method != "HEAD") out() += body;
  response_body_bytes_ = body.size();
  recordRequest();
  flush();
  finishExchange();
}

bool DownstreamConnection::routeActions(http::RequestHead& head) {
  // CORS first (Istio's filter order: cors, fault, router): a preflight may be answered here.
  if (route_->cors) {
    router::cors::CorsDecision d = router::cors::evaluate(*route_->cors, head);
    if (d.respond_locally) {
      details_ = "cors_response";
      respondLocally(200, {}, {}, 0, &d.headers);
      return false;
    }
    cors_headers_ = std::move(d.headers);
  }
  if (route_->redirect) {
    HeaderList location{{"location", router::redirectLocation(*route_->redirect, head, matched_)}};
    respondLocally(route_->redirect->code, {}, {}, 0, &location);
    return false;
  }
  if (route_->direct_response) {
    respondLocally(route_->direct_response->status, route_->direct_response->body, {}, 0, nullptr);
    return false;
  }
  return true;
}

bool DownstreamConnection::requestDone() const {
  // A head without a body is the whole request even before the decoder reports the end.
  return request_complete_ || (head_ && !head_->hasBody() && !head_->upgrade);
}

void DownstreamConnection::finishExchange() {
  bool done = requestDone();
  // connectionPool.http.maxRequestsPerConnection: a connection that carried its share closes.
  // Read from the copy taken at routing: recordRequest() has let go of the request's runtime,
  // and with a newer configuration published meanwhile, the snapshot cluster_ points into is
  // gone.
  const uint32_t per_connection = max_requests_per_connection_;
  if (upstream_ && per_connection > 0 && upstream_->requestCount() >= per_connection) {
    upstream::UpstreamConnection* u = upstream_;
    upstream_ = nullptr;
    u->release(false);
  }
  // An upgrade the upstream refused leaves both connections in an unknown state.
  if (head_ && head_->upgrade && !tunnel_) close_after_response_ = true;
  // The upstream connection is kept whether or not the client's connection closes (a client
  // that sends Connection: close must not cost a new upstream connection per request).
  bool upgrade_refused = head_ && head_->upgrade && !tunnel_;
  bool reusable = done && response_complete_ && !upgrade_refused;
  if (upstream_) {
    upstream::UpstreamConnection* u = upstream_;
    upstream_ = nullptr;
    u->release(reusable);
  }
  recordRequest();
  in_flight_ = false;
  head_ = nullptr;
  runtime_.reset();
  if (close_after_response_ || !done) {
    closeAfterFlush();
    return;
  }
  if (!in_decode_)
    resumeInput();
  else
    unblockReading(kBlockPipeline);
}

void DownstreamConnection::abortExchange(uint32_t flags) {
  response_flags_ |= flags;
  if (upstream_) {
    upstream_->abort();
    upstream_ = nullptr;
  }
  recordRequest();
  in_flight_ = false;
  head_ = nullptr;
  runtime_.reset();
}

void DownstreamConnection::endExchange() {
  leaveQueue();
  releaseMirrors();
  route_timer_.cancel();
  attempt_timer_.cancel();
  attempt_timer_mode_ = AttemptTimer::kNone;
  if (runtime_generation_ == worker_.runtimeGeneration() && cluster_counted_) {
    upstream::ClusterState& cs = worker_.cluster(cluster_index_);
    if (cs.active_requests > 0) --cs.active_requests;
    if (retry_counted_ && cs.active_retries > 0) --cs.active_retries;
  }
  cluster_counted_ = false;
  retry_counted_ = false;
  releaseEndpoint();
}

void DownstreamConnection::recordRequest() {
  if (!runtime_) return;
  observe::WorkerCounters::add(worker_.counters().downstream_rq_active, -1);
  const Runtime& rt = *runtime_;
  endExchange();
  if (endpoint_index_ >= 0 && (response_code_ >= 500 || response_code_ == 0)) {
    auto& c = rt.endpoint_counters->at(worker_.index(), cluster_index_, endpoint_snapshot_index_);
    c.rq_error.store(c.rq_error.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  observe::RequestInfo info;
  info.direction = inbound_ ? observe::Direction::kInbound : observe::Direction::kOutbound;
  info.start_time = start_system_;
  info.duration_us = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                               std::chrono::steady_clock::now() - start_steady_)
                                               .count());
  info.response_code = response_code_;
  info.response_flags = response_flags_;
  info.request_bytes = request_body_bytes_;
  info.response_bytes = response_body_bytes_;
  if (head_) {
    info.version_minor = head_->version_minor;
    info.method = head_->method;
    info.user_agent = head_->headers.get("user-agent").value_or(std::string_view());
  }
  info.authority = authority_;
  info.path = path_;
  info.request_id = request_id_;
  info.traceparent = traceparent_;
  if (route_) info.route_name = route_->name;
  std::string& upstream_host = upstream_host_;
  upstream_host.clear();
  if (cluster_) {
    info.cluster_name = cluster_->name;
    if (endpoint_index_ >= 0 && endpoint_snapshot_index_ < cluster_->endpoints.size()) {
      const mesh::Endpoint& e = cluster_->endpoints[endpoint_snapshot_index_];
      upstream_host = e.address;
      upstream_host += ':';
      appendNumber(upstream_host, e.port);
      info.upstream_host = upstream_host;
    }
  }
  info.downstream_remote = remote_address_;
  info.downstream_peer_uri_san = peer_principal_;
  info.upstream_peer_uri_san = upstream_principal_;
  info.attempts = attempts_;
  if (retries_ > 0 && response_code_ > 0 && response_code_ < 500) {
    observe::ClusterCounters::inc(
        rt.stats->cluster(cluster_index_, worker_.index()).rq_retry_success);
  }
  info.details = details_;
  observe::RequestStats* stats;
  if (series_) {
    stats = series_;
  } else if (inbound_) {
    stats = &rt.stats->inbound();
  } else if (cluster_) {
    stats = &rt.stats->outbound(cluster_index_);
  } else {
    stats = &rt.stats->outboundNoRoute();
  }
  stats->record(worker_.index(), info);
  if (auto* log = worker_.accessLog()) log->log(info);
  runtime_.reset();
}

}  // namespace weft::server
