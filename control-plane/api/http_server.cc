// HttpServer: connections and deferred requests (see http_server.h).
#include "api/http_server.h"

#include "http/codec.h"
#include "http/message.h"
#include "net/tcp_stream.h"
#include "server/log.h"

namespace weft::control {

std::optional<std::string> percentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    int hi = hex(text[i + 1]);
    int lo = hex(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::optional<std::string> HttpRequest::queryParam(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    size_t eq = part.find('=');
    std::string_view key = part.substr(0, eq);
    if (key != name) continue;
    std::string_view value =
        eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
    return percentDecode(value);
  }
  return std::nullopt;
}

std::vector<std::string> HttpRequest::queryParams(std::string_view name) const {
  std::vector<std::string> out;
  std::string_view q = query;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    size_t eq = part.find('=');
    if (part.substr(0, eq) != name) continue;
    auto v = percentDecode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1));
    if (v) out.push_back(std::move(*v));
  }
  return out;
}

class HttpConnection final : public net::TcpStream, private http::RequestDecoder::Callbacks {
 public:
  explicit HttpConnection(HttpServer& server)
      : TcpStream(server.loop_), server_(server), decoder_(*this, http::DecoderLimits{}) {
    server_.connections_.insert(this);
  }

  void start() {
    armTimer(server_.limits_.idle_timeout_ms);
    if (server_.transport_factory_) {
      auto t = server_.transport_factory_();
      tls_ = t.get();
      setTransport(std::move(t));
    }
    startReading();
  }

  // Called by HttpRequest::respond.
  void send(HttpRequest& request, uint16_t status, std::string_view content_type,
            std::string_view body, std::shared_ptr<const std::string> shared,
            const std::vector<std::pair<std::string, std::string>>& extra) {
    write(status, content_type, body, std::move(shared), request.keep_alive_, request.head_only_,
          extra);
    request.connection_ = nullptr;
    pending_.reset();
    if (!request.keep_alive_) {
      closeAfterFlush();
      return;
    }
    armTimer(server_.limits_.idle_timeout_ms);
    if (!input_.empty()) {
      std::string data = std::move(input_);
      input_.clear();
      process(data.data(), data.size());
    }
  }

 private:
  void onRead(const char* data, size_t len) override {
    if (pending_) {
      // A request is being answered: keep what follows (a pipelined request) for later.
      if (input_.size() + len > server_.limits_.max_pending_input) {
        abandon();
        return;
      }
      input_.append(data, len);
      return;
    }
    // A request must arrive whole within request_timeout_ms of its first byte (a client
    // trickling bytes cannot hold the connection forever).
    if (decoder_.idle()) armTimer(server_.limits_.request_timeout_ms);
    process(data, len);
  }

  void process(const char* data, size_t len) {
    while (len > 0 && !closing() && !pending_) {
      http::DecodeResult r = decoder_.decode(data, len);
      if (too_large_) {
        fail(413, "request body too large\n");
        return;
      }
      if (r.status == http::DecodeStatus::kNeedMore) return;
      if (r.status != http::DecodeStatus::kMessageComplete) {
        fail(r.status == http::DecodeStatus::kError && r.http_status != 0 ? r.http_status : 400,
             std::string(r.status == http::DecodeStatus::kUpgrade ? "upgrade not supported"
                                                                  : r.reason) +
                 "\n");
        return;
      }
      data += r.consumed;
      len -= r.consumed;
      HttpRequestPtr request = takeRequest();  // before resume(): the head is still valid
      decoder_.resume();
      dispatch(request);
    }
    if (pending_ && len > 0) input_.append(data, len);
  }

  void onReadEof() override { abandon(); }
  void onReadError(int) override { abandon(); }
  void onWriteError(int) override { abandon(); }
  void onTransportFailure(const std::string& reason) override {
    server::logLine(server::LogLevel::kDebug, "connection from " + peerAddress() + ": " + reason);
    closeAfterFlush();
  }
  void onTimer() override {
    if (pending_) return;
    if (decoder_.idle()) {
      close();
    } else {
      fail(408, "request timeout\n");
    }
  }
  void onClosed() override {
    server_.connections_.erase(this);
    if (pending_) {
      HttpRequestPtr r = std::move(pending_);
      r->connection_ = nullptr;
      if (!r->answered_ && r->on_gone_) {
        auto fn = std::move(r->on_gone_);
        r->on_gone_ = nullptr;
        fn();
      }
    }
  }

  void abandon() { close(); }

  void onRequestHead(http::RequestHead& head) override {
    head_ = &head;
    body_.clear();
    too_large_ = false;
    if (head.content_length && *head.content_length > server_.limits_.max_body_bytes) {
      too_large_ = true;
      return;
    }
    if (head.expect_continue && head.version_minor >= 1) {
      out().append("HTTP/1.1 100 Continue\r\n\r\n");
      flush();
    }
  }
  void onRequestBody(std::string_view data) override {
    if (too_large_) return;
    if (body_.size() + data.size() > server_.limits_.max_body_bytes) {
      too_large_ = true;
      body_.clear();
      return;
    }
    body_.append(data);
  }
  void onRequestTrailers(http::HeaderMap&) override {}
  void onRequestComplete() override {}

  // A whole request has been decoded: the request object the handler gets.
  HttpRequestPtr takeRequest() {
    auto request = std::make_shared<HttpRequest>();
    request->method = head_->method;
    std::string_view target = head_->path;
    size_t q = target.find('?');
    request->path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) request->query = std::string(target.substr(q + 1));
    request->headers = head_->headers;
    request->body = std::move(body_);
    body_.clear();
    request->peer = peerAddress();
    if (tls_) {
      request->peer_identity = tls_->peerIdentity();
      if (!request->peer_identity.empty()) request->peer_serial = tls_->peerSerial();
    }
    request->keep_alive_ = head_->keep_alive;
    request->head_only_ = head_->method == "HEAD";
    return request;
  }

  void dispatch(const HttpRequestPtr& request) {
    request->connection_ = this;
    pending_ = request;
    disarmTimer();
    server_.handler_(request);
    // The handler may have answered at once (pending_ is then reset) or kept the request.
  }

  void fail(uint16_t status, const std::string& body) {
    write(status, "text/plain; charset=utf-8", body, nullptr, false, false, {});
    closeAfterFlush();
  }

  // The body is `body` followed by `shared` (when set, sent without a copy).
  void write(uint16_t status, std::string_view content_type, std::string_view body,
             std::shared_ptr<const std::string> shared, bool keep_alive, bool head_only,
             const std::vector<std::pair<std::string, std::string>>& extra) {
    const size_t body_size = body.size() + (shared ? shared->size() : 0);
    http::ResponseHead h;
    h.status = status;
    h.reason = http::reasonPhrase(status);
    const bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
    if (!no_body) {
      h.headers.add("content-type", content_type);
      h.headers.add("content-length", std::to_string(body_size));
    }
    h.headers.add("cache-control", "no-cache");
    for (const auto& [k, v] : extra) h.headers.add(k, v);
    if (!keep_alive) h.headers.add("connection", "close");
    http::encodeResponseHead(h, out());
    const bool send_body = !no_body && !head_only;
    if (send_body) out().append(body);
    if (send_body && shared) {
      writeShared(std::move(shared));  // flushes out() first
      return;
    }
    flush();
  }

  HttpServer& server_;
  http::RequestDecoder decoder_;
  http::RequestHead* head_ = nullptr;
  std::string body_;
  bool too_large_ = false;
  HttpRequestPtr pending_;
  std::string input_;
  ServerTransport* tls_ = nullptr;  // owned by the stream (setTransport)
};

void HttpRequest::respond(uint16_t status, std::string_view content_type, std::string_view body,
                          const std::vector<std::pair<std::string, std::string>>& extra_headers) {
  if (answered_) return;
  answered_ = true;
  status_ = status;
  on_gone_ = nullptr;
  if (connection_ == nullptr) {
    response_body_ = std::string(body);
    return;
  }
  // Keep this request alive while the connection lets go of it.
  HttpRequestPtr self = shared_from_this();
  connection_->send(*this, status, content_type, body, nullptr, extra_headers);
}

void HttpRequest::respondShared(uint16_t status, std::string_view content_type,
                                std::string_view prefix, std::shared_ptr<const std::string> shared,
                                const std::vector<std::pair<std::string, std::string>>& extra) {
  if (answered_) return;
  if (connection_ == nullptr) {
    respond(status, content_type, std::string(prefix) + (shared ? *shared : std::string()), extra);
    return;
  }
  answered_ = true;
  status_ = status;
  on_gone_ = nullptr;
  HttpRequestPtr self = shared_from_this();
  connection_->send(*this, status, content_type, prefix, std::move(shared), extra);
}

HttpServer::~HttpServer() {
  close();
}

void HttpServer::close() {
  listener_.close();
  while (!connections_.empty()) (*connections_.begin())->close();
}

int HttpServer::listen(const std::string& host, uint16_t port) {
  return listener_.listen(host, port, false, [this](uv_stream_t* server) {
    auto* c = new HttpConnection(*this);
    if (uv_accept(server, c->stream()) != 0 || connections_.size() > limits_.max_connections) {
      c->close();
      return;
    }
    c->start();
  });
}

}  // namespace weft::control
