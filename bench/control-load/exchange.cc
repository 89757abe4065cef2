// Exchange (see exchange.h).
#include "exchange.h"

#include <charconv>
#include <ctime>

namespace weft::bench {

namespace {

// Every connection reads into this buffer: the bytes are decoded (and forgotten) before the
// next read, and the tool runs one loop on one thread.
char read_buffer[Exchange::kReadBufferSize];

}  // namespace

double realtimeNow() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec / 1000) / 1e6;
}

Exchange::Exchange(uv_loop_t* loop, std::string request, std::string_view method, Owner& owner)
    : request_(std::move(request)), decoder_(*this, http::DecoderLimits{}), owner_(&owner) {
  uv_tcp_init(loop, &tcp_);
  tcp_.data = this;
  connect_req_.data = this;
  write_req_.data = this;
  decoder_.expectResponseTo(method);
}

Exchange* Exchange::start(uv_loop_t* loop, const sockaddr_storage& server, std::string request,
                          std::string_view method, Owner& owner) {
  auto* self = new Exchange(loop, std::move(request), method, owner);
  uv_tcp_nodelay(&self->tcp_, 1);
  int rc = uv_tcp_connect(&self->connect_req_, &self->tcp_,
                          reinterpret_cast<const sockaddr*>(&server), connectCb);
  if (rc != 0) {
    // Out of descriptors or ports: reported like a refused connection, but from closeCb, so
    // the owner never hears of an exchange before start() has returned it.
    self->result_.error = std::string("connect: ") + uv_strerror(rc);
    self->report_on_close_ = true;
    self->close();
  }
  return self;
}

void Exchange::abort() {
  owner_ = nullptr;
  close();
}

void Exchange::close() {
  if (closing_) return;
  closing_ = true;
  // Pending connect and write requests are cancelled before closeCb runs.
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), closeCb);
}

void Exchange::closeCb(uv_handle_t* h) {
  auto* self = static_cast<Exchange*>(h->data);
  if (self->report_on_close_ && self->owner_) {
    self->result_.completed_at = realtimeNow();
    self->owner_->onExchangeDone(*self, self->result_);
  }
  delete self;
}

void Exchange::connectCb(uv_connect_t* req, int status) {
  auto* self = static_cast<Exchange*>(req->data);
  if (self->closing_) return;
  if (status < 0) {
    self->fail(std::string("connect: ") + uv_strerror(status));
    return;
  }
  uv_buf_t b = uv_buf_init(self->request_.data(), static_cast<unsigned>(self->request_.size()));
  int rc = uv_write(&self->write_req_, reinterpret_cast<uv_stream_t*>(&self->tcp_), &b, 1, writeCb);
  if (rc == 0) rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&self->tcp_), allocCb, readCb);
  if (rc != 0) self->fail(std::string("write: ") + uv_strerror(rc));
}

void Exchange::writeCb(uv_write_t* req, int status) {
  auto* self = static_cast<Exchange*>(req->data);
  if (self->closing_ || status >= 0) return;
  self->fail(std::string("write: ") + uv_strerror(status));
}

void Exchange::allocCb(uv_handle_t*, size_t, uv_buf_t* buf) {
  *buf = uv_buf_init(read_buffer, sizeof(read_buffer));
}

void Exchange::readCb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Exchange*>(s->data);
  if (self->closing_) return;
  if (nread > 0) {
    self->onData(buf->base, static_cast<size_t>(nread));
  } else if (nread == UV_EOF) {
    self->onEof();
  } else if (nread < 0) {
    self->fail(std::string("read: ") + uv_strerror(static_cast<int>(nread)));
  }
}

void Exchange::onData(const char* data, size_t len) {
  http::DecodeResult r = decoder_.decode(data, len);
  if (closing_) return;  // finished from a callback
  if (r.status == http::DecodeStatus::kMessageComplete) {
    finish();
  } else if (r.status == http::DecodeStatus::kError || r.status == http::DecodeStatus::kUpgrade) {
    fail(std::string("malformed answer: ") + r.reason);
  }
}

void Exchange::onEof() {
  http::DecodeResult r = decoder_.finish();
  if (closing_) return;
  if (r.status == http::DecodeStatus::kMessageComplete) {
    finish();
  } else {
    fail("connection closed before the answer was complete");
  }
}

void Exchange::onResponseHead(http::ResponseHead& head) {
  result_.status = head.status;
  keep_tail_ = head.status >= 200 && head.status < 300;
  if (auto v = head.headers.get("x-weft-version")) {
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec == std::errc() && end == v->data() + v->size()) result_.version_header = n;
  }
}

void Exchange::onResponseBody(std::string_view data) {
  result_.body_bytes += data.size();
  std::string& tail = result_.tail;
  if (!keep_tail_) {
    if (tail.size() < kErrorBodyBytes) {
      tail.append(data.substr(0, kErrorBodyBytes - tail.size()));
    }
    return;
  }
  if (data.size() >= kTailBytes) {
    tail.assign(data.substr(data.size() - kTailBytes));
  } else {
    tail.append(data);
    if (tail.size() > 2 * kTailBytes) tail.erase(0, tail.size() - kTailBytes);
  }
}

void Exchange::onResponseComplete() {
  result_.completed_at = realtimeNow();
}

void Exchange::fail(std::string error) {
  result_.status = 0;
  result_.error = std::move(error);
  finish();
}

void Exchange::finish() {
  if (result_.completed_at == 0) result_.completed_at = realtimeNow();
  Owner* owner = owner_;
  owner_ = nullptr;
  close();
  if (owner) owner->onExchangeDone(*this, result_);
}

}  // namespace weft::bench
