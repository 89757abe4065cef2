// AdminServer: connections of the admin port (see admin_server.h).
#include "admin/admin_server.h"

#include "http/codec.h"
#include "net/tcp_stream.h"

namespace weft::admin {

namespace {

constexpr uint64_t kAdminIdleMs = 60'000;

class AdminConnection final : public net::TcpStream, private http::RequestDecoder::Callbacks {
 public:
  AdminConnection(uv_loop_t* loop, const AdminServer::Handler& handler,
                  std::unordered_set<net::TcpStream*>& registry)
      : TcpStream(loop),
        handler_(handler),
        registry_(registry),
        decoder_(*this, http::DecoderLimits{}) {
    registry_.insert(this);
  }

  void start() {
    armTimer(kAdminIdleMs);
    startReading();
  }

 private:
  void onRead(const char* data, size_t len) override {
    armTimer(kAdminIdleMs);
    while (len > 0 && !closing()) {
      http::DecodeResult r = decoder_.decode(data, len);
      if (r.status == http::DecodeStatus::kNeedMore) return;
      if (r.status != http::DecodeStatus::kMessageComplete) {
        respond(r.status == http::DecodeStatus::kError ? r.http_status : 400, "bad request\n",
                "text/plain", false);
        closeAfterFlush();
        return;
      }
      data += r.consumed;
      len -= r.consumed;
      decoder_.resume();
    }
  }
  void onReadEof() override { close(); }
  void onReadError(int) override { close(); }
  void onWriteError(int) override { close(); }
  void onTimer() override { close(); }
  void onClosed() override { registry_.erase(this); }

  void onRequestHead(http::RequestHead& head) override { head_ = &head; }
  void onRequestBody(std::string_view) override {}
  void onRequestTrailers(http::HeaderMap&) override {}
  void onRequestComplete() override {
    AdminResponse response;
    handler_(*head_, response);
    bool keep = head_->keep_alive;
    respond(response.status, response.body, response.content_type, keep, head_->method == "HEAD");
    if (!keep) closeAfterFlush();
  }

  void respond(uint16_t status, std::string_view body, std::string_view type, bool keep_alive,
               bool head_only = false) {
    http::ResponseHead h;
    h.status = status == 0 ? 400 : status;
    h.reason = http::reasonPhrase(h.status);
    h.headers.add("content-type", type);
    h.headers.add("content-length", std::to_string(body.size()));
    h.headers.add("cache-control", "no-cache");
    if (!keep_alive) h.headers.add("connection", "close");
    http::encodeResponseHead(h, out());
    if (!head_only) out().append(body);
    flush();
  }

  const AdminServer::Handler& handler_;
  std::unordered_set<net::TcpStream*>& registry_;
  http::RequestDecoder decoder_;
  http::RequestHead* head_ = nullptr;
};

}  // namespace

void AdminServer::close() {
  listener_.close();
  while (!connections_.empty()) (*connections_.begin())->close();
}

int AdminServer::listen(const std::string& host, uint16_t port) {
  return listener_.listen(host, port, false, [this](uv_stream_t* server) {
    auto* c = new AdminConnection(loop_, handler_, connections_);
    if (uv_accept(server, c->stream()) != 0) {
      c->close();
      return;
    }
    c->start();
  });
}

}  // namespace weft::admin
