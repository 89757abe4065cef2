// UpstreamConnection: client side of one HTTP/1.1 connection (see upstream_connection.h).
#include "upstream/upstream_connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include "tls/tls_stream.h"
#include "upstream/host_pool.h"

namespace weft::upstream {

namespace {
const http::DecoderLimits kResponseLimits{96 * 1024, 200};
TlsFailureLogger tls_failure_logger = nullptr;
}  // namespace

void setTlsFailureLogger(TlsFailureLogger logger) {
  tls_failure_logger = logger;
}

void logTlsFailure(std::string_view endpoint, std::string_view reason) {
  if (tls_failure_logger) tls_failure_logger(endpoint, reason);
}

const char* toString(FailureReason r) {
  switch (r) {
    case FailureReason::kConnectFailure:
      return "connection failure";
    case FailureReason::kConnectionTermination:
      return "connection termination";
    case FailureReason::kRemoteReset:
      return "remote reset";
    case FailureReason::kProtocolError:
      return "protocol error";
  }
  return "unknown";
}

UpstreamConnection::UpstreamConnection(uv_loop_t* loop, HostPool& pool)
    : TcpStream(loop), pool_(pool), decoder_(*this, kResponseLimits) {}

int UpstreamConnection::connect(const sockaddr* addr, uint32_t timeout_ms,
                                const ConnectionOptions& options) {
  connect_req_.data = this;
  connect_timeout_ms_ = timeout_ms;
  tls_ = pool_.tls();
  int rc = uv_tcp_connect(&connect_req_, tcp(), addr, connectCb);
  if (rc != 0) return rc;
  uv_tcp_nodelay(tcp(), 1);
  if (options.keepalive) {
    // libuv sets SO_KEEPALIVE and the idle time; the interval and probe count are Linux options.
    uv_tcp_keepalive(tcp(), 1, options.keepalive_time_s > 0 ? options.keepalive_time_s : 7200);
    uv_os_fd_t fd;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(tcp()), &fd) == 0) {
      int v;
      if (options.keepalive_interval_s > 0) {
        v = static_cast<int>(options.keepalive_interval_s);
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, sizeof v);
      }
      if (options.keepalive_probes > 0) {
        v = static_cast<int>(options.keepalive_probes);
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v, sizeof v);
      }
    }
  }
  armTimer(timeout_ms);
  return 0;
}

void UpstreamConnection::connectCb(uv_connect_t* req, int status) {
  auto* self = static_cast<UpstreamConnection*>(req->data);
  if (status == UV_ECANCELED || self->closing()) return;
  self->disarmTimer();
  if (status < 0) {
    observe::WorkerCounters::inc(self->pool_.counters().upstream_cx_connect_fail);
    self->fail(FailureReason::kConnectFailure);
    return;
  }
  self->startReading();
  if (!self->tls_) {
    self->ready();
    return;
  }
  // The handshake counts as part of connecting: same timeout, and a failure is UF.
  if (!self->tls_->context) {
    self->onTransportFailure(self->tls_->mesh
                                 ? "mutual TLS asked for, but this sidecar has no certificate yet"
                                 : "the DestinationRule's TLS settings could not be loaded");
    return;
  }
  auto stream = std::make_unique<tls::TlsStream>(self->tls_->context, self->pool_.address());
  if (self->tls_->mesh) stream->expectPeerIdentities(self->tls_->peer_identities);
  if (!stream->setServerName(self->tls_->sni, self->tls_->verify_names)) {
    std::string why = stream->failure();
    self->onTransportFailure(why);
    return;
  }
  self->armTimer(self->connect_timeout_ms_);
  self->setTransport(std::move(stream));
}

void UpstreamConnection::ready() {
  state_ = State::kBusy;
  if (handler_) {
    handler_->onUpstreamConnected();
  } else {
    // The request went away while connecting: keep the connection for the next one.
    release(true);
  }
}

void UpstreamConnection::onTransportReady() {
  disarmTimer();
  auto* stream = static_cast<tls::TlsStream*>(transport());
  observe::WorkerCounters& counters = pool_.counters();
  observe::WorkerCounters::inc(counters.upstream_tls_handshakes);
  if (stream->resumed()) observe::WorkerCounters::inc(counters.upstream_tls_resumed);
  peer_identity_ = stream->peerIdentity();
  ready();
}

void UpstreamConnection::onTransportFailure(const std::string& reason) {
  if (state_ == State::kConnecting) {
    observe::WorkerCounters& counters = pool_.counters();
    observe::WorkerCounters::inc(counters.upstream_tls_failures);
    observe::WorkerCounters::inc(counters.upstream_cx_connect_fail);
    logTlsFailure(pool_.address(), reason);
    fail(FailureReason::kConnectFailure);
    return;
  }
  // A corrupt record or an alert after the handshake: the exchange is cut.
  fail(FailureReason::kConnectionTermination);
}

void UpstreamConnection::attach(ResponseHandler* handler, std::string_view method) {
  handler_ = handler;
  ++requests_;
  response_started_ = false;
  response_complete_ = false;
  decoder_.expectResponseTo(method);
  if (state_ == State::kIdle) {
    pool_.removeIdle(this);
    disarmTimer();
    state_ = State::kBusy;
  }
}

void UpstreamConnection::release(bool reusable) {
  handler_ = nullptr;
  if (in_decode_) {
    release_pending_ = true;
    release_reusable_ = reusable;
    return;
  }
  finishRelease(reusable);
}

void UpstreamConnection::finishRelease(bool reusable) {
  if (closing()) return;
  if (!reusable || state_ == State::kTunnel || !decoder_.idle() || !out().empty() ||
      queuedBytes() > 0) {
    close();
    return;
  }
  state_ = State::kIdle;
  idle_since_ns_ = uv_hrtime();
  pool_.addIdle(this);
  armTimer(idle_timeout_ms_ > 0 ? idle_timeout_ms_ : pool_.settings().idle_timeout_ms);
}

void UpstreamConnection::abort() {
  handler_ = nullptr;
  reset();
}

void UpstreamConnection::enterTunnel() {
  state_ = State::kTunnel;
}

bool UpstreamConnection::stillOpen() {
  uv_os_fd_t fd;
  if (closing() || uv_fileno(reinterpret_cast<uv_handle_t*>(tcp()), &fd) != 0) return false;
  char byte;
  ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  // EAGAIN: nothing to read, the connection is open. 0: the server closed it. Data: the
  // server spoke out of turn (e.g. a 408), so the connection is unusable either way.
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void UpstreamConnection::onRead(const char* data, size_t len) {
  if (state_ == State::kTunnel) {
    if (handler_) {
      handler_->onUpstreamTunnelData(data, len);
      if (handler_) handler_->onUpstreamReadDone();
    }
    return;
  }
  if (state_ != State::kBusy || handler_ == nullptr) {
    // Bytes on an idle connection: nothing was asked, so the connection cannot be trusted.
    close();
    return;
  }
  response_started_ = true;
  // The handler is remembered because onResponseComplete may release the connection (and
  // detach the handler) before this read has been fully handled.
  ResponseHandler* handler = handler_;
  in_decode_ = true;
  release_pending_ = false;
  http::DecodeResult r = decoder_.decode(data, len);
  in_decode_ = false;
  switch (r.status) {
    case http::DecodeStatus::kNeedMore:
      break;
    case http::DecodeStatus::kMessageComplete:
      decoder_.resume();
      // onResponseComplete already ran; more bytes would be an unsolicited response.
      if (r.consumed < len) {
        handler_ = nullptr;
        close();
        return;
      }
      break;
    case http::DecodeStatus::kUpgrade:
      state_ = State::kTunnel;
      if (r.consumed < len && handler_) {
        handler_->onUpstreamTunnelData(data + r.consumed, len - r.consumed);
      }
      break;
    case http::DecodeStatus::kError:
      fail(FailureReason::kProtocolError);
      return;
  }
  if (handler_ == handler && handler_ != nullptr) handler_->onUpstreamReadDone();
  if (release_pending_) {
    release_pending_ = false;
    finishRelease(release_reusable_);
  }
}

void UpstreamConnection::onReadEof() {
  if (state_ == State::kTunnel) {
    ResponseHandler* h = handler_;
    handler_ = nullptr;
    close();
    if (h) h->onUpstreamTunnelEnd();
    return;
  }
  if (state_ == State::kBusy && handler_ && response_started_) {
    http::DecodeResult r = decoder_.finish();
    if (r.status == http::DecodeStatus::kMessageComplete) {
      // A body delimited by the close: complete, and the connection is done.
      close();
      return;
    }
  }
  fail(FailureReason::kConnectionTermination);
}

void UpstreamConnection::onReadError(int uv_error) {
  if (state_ == State::kTunnel) {
    onReadEof();
    return;
  }
  fail(uv_error == UV_ECONNRESET ? FailureReason::kRemoteReset
                                 : FailureReason::kConnectionTermination);
}

void UpstreamConnection::onWriteError(int uv_error) {
  if (state_ == State::kTunnel) {
    onReadEof();
    return;
  }
  fail(uv_error == UV_ECONNRESET || uv_error == UV_EPIPE ? FailureReason::kRemoteReset
                                                         : FailureReason::kConnectionTermination);
}

void UpstreamConnection::onDrained() {
  if (handler_) handler_->onUpstreamDrained();
}

void UpstreamConnection::onTimer() {
  if (state_ == State::kConnecting) {
    observe::WorkerCounters::inc(pool_.counters().upstream_cx_connect_fail);
    fail(FailureReason::kConnectFailure);
  } else if (state_ == State::kIdle) {
    close();  // pool idle timeout
  }
}

void UpstreamConnection::fail(FailureReason reason) {
  ResponseHandler* h = handler_;
  handler_ = nullptr;
  bool started = response_started_;
  if (state_ != State::kConnecting && state_ != State::kIdle && !response_complete_) {
    observe::WorkerCounters::inc(pool_.counters().upstream_rq_reset);
  }
  close();
  if (h) h->onUpstreamFailure(reason, started);
}

void UpstreamConnection::onClosed() {
  pool_.connectionClosed(this);
}

void UpstreamConnection::onInformational(http::ResponseHead& head) {
  if (handler_) handler_->onUpstreamInformational(head);
}

void UpstreamConnection::onResponseHead(http::ResponseHead& head) {
  if (handler_) handler_->onUpstreamResponseHead(head);
}

void UpstreamConnection::onResponseBody(std::string_view data) {
  if (handler_) handler_->onUpstreamResponseBody(data);
}

void UpstreamConnection::onResponseTrailers(http::HeaderMap& trailers) {
  if (handler_) handler_->onUpstreamResponseTrailers(trailers);
}

void UpstreamConnection::onResponseComplete() {
  response_complete_ = true;
  // A 101 (or a 2xx to CONNECT) ends the HTTP exchange but the connection lives on as a
  // tunnel: the handler already switched on the head.
  if (state_ == State::kTunnel) return;
  if (handler_) handler_->onUpstreamResponseComplete();
}

}  // namespace weft::upstream
