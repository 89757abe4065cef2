// One blocking HTTP/1.1 exchange (see http_call.h).
#include "discovery/http_call.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>

#include "compress/gzip.h"
#include "http/codec.h"

namespace weft::discovery {

namespace {

constexpr size_t kMaxBodyBytes = 64 * 1024 * 1024;

using Clock = std::chrono::steady_clock;

class Collector final : public http::ResponseDecoder::Callbacks {
 public:
  int status = 0;
  bool gzip = false;  // Content-Encoding: gzip
  bool complete = false;
  bool too_large = false;
  std::string body;

  void onInformational(http::ResponseHead&) override {}
  void onResponseHead(http::ResponseHead& head) override {
    status = head.status;
    if (auto v = head.headers.get("content-encoding")) gzip = *v == "gzip";
  }
  void onResponseBody(std::string_view data) override {
    if (body.size() + data.size() > kMaxBodyBytes) {
      too_large = true;
      return;
    }
    body.append(data);
  }
  void onResponseTrailers(http::HeaderMap&) override {}
  void onResponseComplete() override { complete = true; }
};

// Closes the socket however the call ends.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

int msLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Waits until `fd` is ready for `events`, the deadline passes (0), or wake_fd fires (-1).
int waitFor(int fd, short events, int wake_fd, Clock::time_point deadline) {
  while (true) {
    pollfd p[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};
    int n = ::poll(p, wake_fd >= 0 ? 2 : 1, msLeft(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    if (wake_fd >= 0 && (p[1].revents & POLLIN)) return -1;
    return 1;
  }
}

}  // namespace

HttpAnswer performHttp(const HttpCall& call, int wake_fd) {
  HttpAnswer a;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::milliseconds(call.timeout_ms);
  const auto connect_deadline =
      std::min(deadline, start + std::chrono::milliseconds(call.connect_timeout_ms));

  sockaddr_storage ss{};
  socklen_t len;
  if (auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
      inet_pton(AF_INET, call.host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(call.port);
    len = sizeof(sockaddr_in);
  } else if (auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
             inet_pton(AF_INET6, call.host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(call.port);
    len = sizeof(sockaddr_in6);
  } else {
    a.error = "not a numeric address: " + call.host;
    return a;
  }

  Fd sock{::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (sock.fd < 0) {
    a.error = std::string("socket: ") + std::strerror(errno);
    return a;
  }
  int one = 1;
  ::setsockopt(sock.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(sock.fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
    a.error = std::string("connect: ") + std::strerror(errno);
    return a;
  }
  int w = waitFor(sock.fd, POLLOUT, wake_fd, connect_deadline);
  if (w < 0) {
    a.aborted = true;
    return a;
  }
  int so_error = 0;
  socklen_t so_len = sizeof(so_error);
  ::getsockopt(sock.fd, SOL_SOCKET, SO_ERROR, &so_error, &so_len);
  if (w == 0 || so_error != 0) {
    a.error = w == 0 ? "connect: timed out" : std::string("connect: ") + std::strerror(so_error);
    return a;
  }

  http::RequestHead head;
  head.method = call.method;
  head.path = call.path;
  head.target = call.path;
  head.version_minor = 1;
  const bool v6 = call.host.find(':') != std::string::npos;
  head.headers.add("host",
                   (v6 ? "[" + call.host + "]" : call.host) + ":" + std::to_string(call.port));
  for (const auto& [name, value] : call.headers) head.headers.add(name, value);
  head.headers.add("connection", "close");
  if (call.accept_gzip) head.headers.add("accept-encoding", "gzip");
  if (call.body) head.headers.add("content-length", std::to_string(call.body->size()));
  std::string out;
  http::encodeRequestHead(head, out);
  if (call.body) out += *call.body;

  for (size_t sent = 0; sent < out.size();) {
    ssize_t n = ::send(sock.fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int r = waitFor(sock.fd, POLLOUT, wake_fd, deadline);
      if (r < 0) {
        a.aborted = true;
        return a;
      }
      if (r == 0) {
        a.error = "timed out sending the request";
        return a;
      }
      continue;
    }
    a.error = std::string("send: ") + std::strerror(errno);
    return a;
  }

  Collector collector;
  http::ResponseDecoder decoder(collector, http::DecoderLimits{64 * 1024, 100});
  decoder.expectResponseTo(call.method);
  char buf[16 * 1024];
  while (!collector.complete) {
    ssize_t n = ::recv(sock.fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int r = waitFor(sock.fd, POLLIN, wake_fd, deadline);
      if (r < 0) {
        a.aborted = true;
        return a;
      }
      if (r == 0) {
        a.error = "timed out waiting for the answer";
        return a;
      }
      continue;
    }
    if (n < 0) {
      a.error = std::string("recv: ") + std::strerror(errno);
      return a;
    }
    http::DecodeResult d = n == 0 ? decoder.finish() : decoder.decode(buf, static_cast<size_t>(n));
    if (d.status == http::DecodeStatus::kError || collector.too_large) {
      a.error = collector.too_large ? "answer too large" : std::string("bad answer: ") + d.reason;
      return a;
    }
    if (n == 0 && !collector.complete) {
      a.error = "connection closed before the answer was complete";
      return a;
    }
    if (d.status == http::DecodeStatus::kMessageComplete) decoder.resume();
  }
  a.status = collector.status;
  a.body = std::move(collector.body);
  if (collector.gzip) {
    std::string error;
    std::optional<std::string> plain = compress::gunzip(a.body, kMaxBodyBytes, error);
    if (!plain) {
      a.status = 0;
      a.body.clear();
      a.error = "bad gzip answer: " + error;
      return a;
    }
    a.body = std::move(*plain);
  }
  return a;
}

}  // namespace weft::discovery
