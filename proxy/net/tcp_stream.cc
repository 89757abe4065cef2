// TcpStream: libuv plumbing for one TCP connection (see tcp_stream.h).
#include "net/tcp_stream.h"

#include <arpa/inet.h>

#include <vector>

namespace weft::net {

// A uv_write_t with the bytes it sends. Kept on a per-thread free list so that a flush swaps
// buffers instead of allocating: out_ takes the free request's (empty, warmed) string.
struct TcpStream::WriteRequest {
  uv_write_t req;
  std::string data;
  std::shared_ptr<const std::string> shared;  // writeShared(): sent instead of `data`
  TcpStream* owner;
};

namespace {

constexpr size_t kMaxPooledWriteRequests = 256;
constexpr size_t kMaxPooledCapacity = 256 * 1024;

// Recycled write requests of this thread, freed when the thread ends.
struct WriteRequestFreeList {
  std::vector<TcpStream::WriteRequest*> items;
  ~WriteRequestFreeList() {
    for (auto* w : items) delete w;
  }
  bool empty() const { return items.empty(); }
  size_t size() const { return items.size(); }
  TcpStream::WriteRequest* back() const { return items.back(); }
  void pop_back() { items.pop_back(); }
  void push_back(TcpStream::WriteRequest* w) { items.push_back(w); }
};

thread_local WriteRequestFreeList free_write_requests;

// A request from this thread's free list (or a new one) for `owner`.
TcpStream::WriteRequest* takeWriteRequest(TcpStream* owner) {
  TcpStream::WriteRequest* w;
  if (!free_write_requests.empty()) {
    w = free_write_requests.back();
    free_write_requests.pop_back();
  } else {
    w = new TcpStream::WriteRequest();
  }
  w->owner = owner;
  return w;
}
thread_local char read_buffer[TcpStream::kReadBufferSize];
// Plaintext a transport produced from one read, handed to onRead() and then reused.
thread_local std::string transport_plain;

}  // namespace

TcpStream::TcpStream(uv_loop_t* loop) {
  uv_tcp_init(loop, &tcp_);
  uv_timer_init(loop, &timer_);
  tcp_.data = this;
  timer_.data = this;
}

void TcpStream::startReading() {
  reading_started_ = true;
  updateReading();
}

void TcpStream::blockReading(ReadBlock reason) {
  read_blocks_ |= reason;
  updateReading();
}

void TcpStream::unblockReading(ReadBlock reason) {
  read_blocks_ &= static_cast<uint8_t>(~reason);
  updateReading();
}

void TcpStream::updateReading() {
  if (closing_ || !reading_started_) return;
  bool want = read_blocks_ == 0;
  if (want == reading_) return;
  reading_ = want;
  if (want) {
    uv_read_start(stream(), allocCb, readCb);
  } else {
    uv_read_stop(stream());
  }
}

void TcpStream::allocCb(uv_handle_t*, size_t, uv_buf_t* buf) {
  // Data is consumed synchronously in readCb (copied where it must outlive it), so one
  // buffer per thread serves every connection.
  *buf = uv_buf_init(read_buffer, sizeof(read_buffer));
}

void TcpStream::readCb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<TcpStream*>(s->data);
  if (self->closing_) return;
  if (nread > 0) {
    if (self->transport_) {
      self->onWireRead(buf->base, static_cast<size_t>(nread));
    } else {
      self->onRead(buf->base, static_cast<size_t>(nread));
    }
  } else if (nread == UV_EOF) {
    // After a transport's clean end (close_notify) the subclass has had its EOF already.
    // Without one, a TLS stream's EOF is reported the same way: HTTP framing tells a
    // truncated message from a complete one.
    if (!self->transport_eof_) self->onReadEof();
  } else if (nread < 0) {
    self->onReadError(static_cast<int>(nread));
  }
}

size_t TcpStream::queuedBytes() const {
  return out_.size() + wire_.size() + tcp_.write_queue_size;
}

void TcpStream::setTransport(std::unique_ptr<Transport> transport) {
  transport_ = std::move(transport);
  transport_eof_ = false;
  if (!transport_ || closing_) return;
  transport_->start(wire_);
  if (!wire_.empty()) sendBuffer(wire_);
}

void TcpStream::onWireRead(const char* data, size_t len) {
  if (transport_eof_) return;
  // The thread's plaintext buffer is taken (not shared) while in use, so a nested read on
  // another stream would only cost an allocation.
  std::string plain;
  plain.swap(transport_plain);
  plain.clear();
  bool was_established = transport_->established();
  Transport::Status status = transport_->receive(data, len, plain, wire_);
  if (!wire_.empty()) sendBuffer(wire_);
  if (!closing_ && !was_established && transport_->established()) {
    onTransportReady();
    flush();  // what the subclass wrote during the handshake
  }
  if (!closing_ && !plain.empty()) onRead(plain.data(), plain.size());
  if (plain.capacity() > transport_plain.capacity()) {
    plain.clear();
    transport_plain.swap(plain);
  }
  if (closing_) return;
  if (status == Transport::Status::kPeerClosed) {
    transport_eof_ = true;
    onReadEof();
  } else if (status == Transport::Status::kFailed) {
    onTransportFailure(transport_->failure());
  }
  if (!closing_ && close_after_handshake_ &&
      (transport_->established() || !transport_->failure().empty())) {
    close_after_handshake_ = false;
    closeAfterFlush();
  }
}

void TcpStream::flush() {
  if (closing_ || out_.empty()) return;
  if (transport_) {
    if (!transport_->established()) return;  // held until the handshake completes
    bool ok = transport_->send(out_.data(), out_.size(), wire_);
    out_.clear();
    if (!wire_.empty()) sendBuffer(wire_);
    if (!ok && !closing_) onWriteError(UV_EPROTO);
    return;
  }
  sendBuffer(out_);
}

void TcpStream::sendBuffer(std::string& buf) {
  if (closing_ || buf.empty()) return;
  if (tcp_.write_queue_size == 0) {
    // Most writes complete at once; only the remainder needs a request.
    uv_buf_t b = uv_buf_init(buf.data(), static_cast<unsigned>(buf.size()));
    int n = uv_try_write(stream(), &b, 1);
    if (n > 0) {
      if (static_cast<size_t>(n) == buf.size()) {
        buf.clear();
        return;
      }
      buf.erase(0, static_cast<size_t>(n));
    } else if (n < 0 && n != UV_EAGAIN) {
      onWriteError(n);
      return;
    }
  }
  WriteRequest* w = takeWriteRequest(this);
  w->data.swap(buf);
  w->req.data = w;
  uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rc = uv_write(&w->req, stream(), &b, 1, writeCb);
  if (rc != 0) {
    w->data.clear();
    free_write_requests.push_back(w);
    onWriteError(rc);
  }
}

void TcpStream::writeShared(std::shared_ptr<const std::string> data) {
  flush();
  if (closing_ || !data || data->empty()) return;
  if (transport_) {
    // Encrypted per connection: the shared bytes cannot go to the socket as they are.
    if (!transport_->established()) {
      out_.append(*data);  // held until the handshake completes
      return;
    }
    bool ok = transport_->send(data->data(), data->size(), wire_);
    if (!wire_.empty()) sendBuffer(wire_);
    if (!ok && !closing_) onWriteError(UV_EPROTO);
    return;
  }
  size_t offset = 0;
  if (tcp_.write_queue_size == 0) {
    uv_buf_t b = uv_buf_init(const_cast<char*>(data->data()), static_cast<unsigned>(data->size()));
    int n = uv_try_write(stream(), &b, 1);
    if (n > 0) {
      offset = static_cast<size_t>(n);
      if (offset == data->size()) return;
    } else if (n < 0 && n != UV_EAGAIN) {
      onWriteError(n);
      return;
    }
  }
  WriteRequest* w = takeWriteRequest(this);
  w->req.data = w;
  // libuv does not write through the buffer; the cast only fits uv_buf_t's type.
  uv_buf_t b = uv_buf_init(const_cast<char*>(data->data()) + offset,
                           static_cast<unsigned>(data->size() - offset));
  w->shared = std::move(data);
  int rc = uv_write(&w->req, stream(), &b, 1, writeCb);
  if (rc != 0) {
    w->shared.reset();
    free_write_requests.push_back(w);
    onWriteError(rc);
  }
}

void TcpStream::writeCb(uv_write_t* req, int status) {
  auto* w = static_cast<WriteRequest*>(req->data);
  TcpStream* self = w->owner;
  w->data.clear();
  w->shared.reset();
  if (free_write_requests.size() < kMaxPooledWriteRequests &&
      w->data.capacity() <= kMaxPooledCapacity) {
    free_write_requests.push_back(w);
  } else {
    delete w;
  }
  if (self->closing_) return;
  if (status < 0) {
    self->onWriteError(status);
    return;
  }
  if (self->close_after_flush_) {
    if (self->queuedBytes() == 0) self->beginClose();
    return;
  }
  if (self->queuedBytes() < kLowWatermark) self->onDrained();
}

void TcpStream::close() {
  if (closing_) return;
  bool dropping = !out_.empty() || tcp_.write_queue_size > 0;
  out_.clear();
  if (transport_ && transport_->established()) {
    // close_notify marks a TLS session resumable (OpenSSL forgets sessions of connections
    // freed without one). It goes out only if nothing was dropped, so that a peer never sees
    // a clean end after a truncated stream.
    transport_->shutdown(wire_);
    if (!dropping && !wire_.empty()) {
      uv_buf_t b = uv_buf_init(wire_.data(), static_cast<unsigned>(wire_.size()));
      uv_try_write(stream(), &b, 1);
    }
    wire_.clear();
  }
  beginClose();
}

void TcpStream::closeAfterFlush() {
  if (closing_) return;
  if (transport_ && !transport_->established() && transport_->failure().empty()) {
    // The handshake is still running: finish it, send what is held back, then close.
    close_after_handshake_ = true;
    return;
  }
  flush();
  if (closing_) return;
  if (transport_) {
    if (transport_->established()) {
      transport_->shutdown(wire_);
      sendBuffer(wire_);
      if (closing_) return;
    } else {
      out_.clear();  // the transport failed: plaintext held back will never be sent
    }
  }
  if (queuedBytes() == 0) {
    beginClose();
  } else {
    close_after_flush_ = true;
    // Nothing more is read: the connection is finished from our side.
    read_blocks_ |= kBlockDraining;
    updateReading();
  }
}

void TcpStream::reset() {
  if (closing_) return;
  closing_ = true;
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), closeCb);
  if (uv_tcp_close_reset(&tcp_, closeCb) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), closeCb);
  }
  onClosed();
}

void TcpStream::beginClose() {
  closing_ = true;
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), closeCb);
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), closeCb);
  onClosed();
}

void TcpStream::closeCb(uv_handle_t* h) {
  auto* self = static_cast<TcpStream*>(h->data);
  if (--self->open_handles_ == 0) delete self;
}

void TcpStream::armTimer(uint64_t timeout_ms) {
  if (closing_) return;
  uv_timer_start(&timer_, timerCb, timeout_ms, 0);
}

void TcpStream::disarmTimer() {
  uv_timer_stop(&timer_);
}

void TcpStream::timerCb(uv_timer_t* t) {
  auto* self = static_cast<TcpStream*>(t->data);
  if (!self->closing_) self->onTimer();
}

std::string TcpStream::peerAddress() const {
  sockaddr_storage ss{};
  int len = sizeof(ss);
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  char ip[INET6_ADDRSTRLEN] = {0};
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    uv_ip4_name(a, ip, sizeof(ip));
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    uv_ip6_name(a, ip, sizeof(ip));
    port = ntohs(a->sin6_port);
  }
  return std::string(ip) + ":" + std::to_string(port);
}

}  // namespace weft::net
