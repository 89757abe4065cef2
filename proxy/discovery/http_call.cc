// One blocking HTTP/1.1 exchange (see http_call.h).
#include "discovery/http_call.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "compress/gzip.h"
#include "discovery/tls_client.h"
#include "http/codec.h"
#include "tls/context.h"

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

// OpenSSL writes to the socket with write(), not send(MSG_NOSIGNAL): a peer that closed would
// raise SIGPIPE, which kills a process that does not ignore it (the CLI). The signal is
// blocked on this thread for the call, and one raised meanwhile is consumed before unblocking.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeGuard() {
    if (sigismember(&old_, SIGPIPE)) return;  // it was blocked before: leave it as it was
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE)) {
      const timespec zero{0, 0};
      sigtimedwait(&pipe_, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
};

std::string tlsError(SSL* ssl, const char* what) {
  std::string text = what;
  long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    text += ": the control plane's certificate: ";
    text += X509_verify_cert_error_string(verify);
    ERR_clear_error();
    return text;
  }
  return tls::drainOpensslErrors(text);
}

// One read or write: bytes moved, or what to wait for, or the end, or an error.
struct IoResult {
  size_t bytes = 0;
  short wait_events = 0;  // POLLIN / POLLOUT: try again when ready
  bool eof = false;
  bool after_data = false;  // the error came after part of the answer
  std::string error;
};

// The socket, plain or through TLS.
struct Conn {
  int fd;
  SSL* ssl;
  bool received_data = false;

  IoResult send(const char* data, size_t len) {
    IoResult r;
    if (!ssl) {
      ssize_t n = ::send(fd, data, len, MSG_NOSIGNAL);
      if (n > 0) {
        r.bytes = static_cast<size_t>(n);
      } else if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
        r.wait_events = POLLOUT;
      } else {
        r.error = std::string("send: ") + std::strerror(errno);
      }
      return r;
    }
    size_t written = 0;
    ERR_clear_error();
    if (SSL_write_ex(ssl, data, len, &written) == 1) {
      r.bytes = written;
      return r;
    }
    return sslWait(SSL_get_error(ssl, 0), "TLS write");
  }

  IoResult recv(char* buf, size_t len) {
    IoResult r;
    if (!ssl) {
      ssize_t n = ::recv(fd, buf, len, 0);
      if (n > 0) {
        r.bytes = static_cast<size_t>(n);
      } else if (n == 0) {
        r.eof = true;
      } else if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
        r.wait_events = POLLIN;
      } else {
        r.error = std::string("recv: ") + std::strerror(errno);
      }
      return r;
    }
    size_t got = 0;
    ERR_clear_error();
    int rc = SSL_read_ex(ssl, buf, len, &got);
    if (rc == 1) {
      r.bytes = got;
      return r;
    }
    int err = SSL_get_error(ssl, rc);
    if (err == SSL_ERROR_ZERO_RETURN) {
      r.eof = true;
      return r;
    }
    if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
      r.eof = true;  // a close without close_notify: the HTTP framing tells if it was complete
      return r;
    }
    r = sslWait(err, "TLS read");
    r.after_data = received_data;
    return r;
  }

  IoResult sslWait(int err, const char* what) {
    IoResult r;
    if (err == SSL_ERROR_WANT_READ) {
      r.wait_events = POLLIN;
    } else if (err == SSL_ERROR_WANT_WRITE) {
      r.wait_events = POLLOUT;
    } else {
      r.error = tls::drainOpensslErrors(what);
    }
    return r;
  }
};

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

  Conn conn{sock.fd, nullptr};
  std::optional<SigpipeGuard> no_sigpipe;
  tls::OpensslPtr<SSL> ssl;  // freed before the guard ends (SSL_free may write an alert)
  if (call.tls) {
    no_sigpipe.emplace();
    ERR_clear_error();
    ssl.reset(SSL_new(call.tls->get()));
    if (!ssl || SSL_set_fd(ssl.get(), sock.fd) != 1) {
      a.error = tls::drainOpensslErrors("TLS setup");
      return a;
    }
    SSL_set_connect_state(ssl.get());
    conn.ssl = ssl.get();
    while (true) {
      ERR_clear_error();
      int rc = SSL_do_handshake(ssl.get());
      if (rc == 1) break;
      int err = SSL_get_error(ssl.get(), rc);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        int r = waitFor(sock.fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, wake_fd, deadline);
        if (r < 0) {
          a.aborted = true;
          return a;
        }
        if (r == 0) {
          a.error = "TLS handshake: timed out";
          return a;
        }
        continue;
      }
      a.error = tlsError(ssl.get(), "TLS handshake");
      a.tls_failure = true;
      return a;
    }
    std::string why = call.tls->checkServer(tls::peerSpiffeId(ssl.get()));
    if (!why.empty()) {
      a.error = "TLS: " + why;
      return a;
    }
  }

  for (size_t sent = 0; sent < out.size();) {
    IoResult n = conn.send(out.data() + sent, out.size() - sent);
    if (n.bytes > 0) {
      sent += n.bytes;
      continue;
    }
    if (n.wait_events != 0) {
      int r = waitFor(sock.fd, n.wait_events, wake_fd, deadline);
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
    a.error = n.error;
    a.tls_failure = conn.ssl != nullptr;
    return a;
  }

  Collector collector;
  http::ResponseDecoder decoder(collector, http::DecoderLimits{64 * 1024, 100});
  decoder.expectResponseTo(call.method);
  char buf[16 * 1024];
  while (!collector.complete) {
    IoResult n = conn.recv(buf, sizeof(buf));
    if (n.wait_events != 0) {
      int r = waitFor(sock.fd, n.wait_events, wake_fd, deadline);
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
    if (!n.error.empty()) {
      a.error = n.error;
      a.tls_failure = conn.ssl != nullptr && !n.after_data;
      return a;
    }
    http::DecodeResult d =
        n.eof ? decoder.finish() : decoder.decode(buf, static_cast<size_t>(n.bytes));
    if (d.status == http::DecodeStatus::kError || collector.too_large) {
      a.error = collector.too_large ? "answer too large" : std::string("bad answer: ") + d.reason;
      return a;
    }
    if (n.eof && !collector.complete) {
      a.error = "connection closed before the answer was complete";
      return a;
    }
    if (d.status == http::DecodeStatus::kMessageComplete) decoder.resume();
    conn.received_data = true;
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
