// performHttp: a real exchange over 127.0.0.1 against a scripted one-shot server; timeouts,
// the stop pipe, malformed and truncated answers end the call with a reason, never a hang.
#include "discovery/http_call.h"

#include "compress/gzip.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

namespace weft::discovery {
namespace {

// Accepts one connection, reads the request head, then sends `answer` (unless empty) and
// closes after `hold_ms`.
class OneShotServer {
 public:
  OneShotServer(std::string answer, int hold_ms = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 4);
    thread_ = std::thread([this, answer = std::move(answer), hold_ms] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      while (request_.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof(buf), 0);
        if (n <= 0) break;
        request_.append(buf, static_cast<size_t>(n));
      }
      if (!answer.empty()) ::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
      std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
      ::close(c);
    });
  }
  ~OneShotServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  const std::string& request() const { return request_; }

 private:
  int fd_;
  uint16_t port_ = 0;
  std::string request_;
  std::thread thread_;
};

HttpCall call(uint16_t port, uint32_t timeout_ms = 2000) {
  HttpCall c;
  c.method = "POST";
  c.host = "127.0.0.1";
  c.port = port;
  c.path = "/v1/nodes";
  c.headers = {{"authorization", "Bearer t"}};
  c.timeout_ms = timeout_ms;
  return c;
}

TEST(HttpCall, SendsTheRequestAndReadsTheAnswer) {
  OneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  std::string body = "{\"id\":1}";
  HttpCall c = call(server.port());
  c.body = &body;
  HttpAnswer a = performHttp(c, -1);
  EXPECT_EQ(a.status, 200) << a.error;
  EXPECT_EQ(a.body, "hello");
  EXPECT_FALSE(a.aborted);
  EXPECT_NE(server.request().find("POST /v1/nodes HTTP/1.1\r\n"), std::string::npos);
  EXPECT_NE(server.request().find("authorization: Bearer t\r\n"), std::string::npos);
  EXPECT_NE(server.request().find("content-length: 8\r\n"), std::string::npos);
}

TEST(HttpCall, GzipAnswersAreInflated) {
  const std::string packed = compress::gzip("{\"version\":3,") + compress::gzip("\"x\":1}");
  {
    OneShotServer server("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " +
                         std::to_string(packed.size()) + "\r\n\r\n" + packed);
    HttpAnswer a = performHttp(call(server.port()), -1);
    EXPECT_EQ(a.status, 200) << a.error;
    EXPECT_EQ(a.body, "{\"version\":3,\"x\":1}");
    EXPECT_NE(server.request().find("accept-encoding: gzip\r\n"), std::string::npos);
  }
  {
    OneShotServer server(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope");
    HttpAnswer a = performHttp(call(server.port()), -1);
    EXPECT_EQ(a.status, 0);
    EXPECT_NE(a.error.find("bad gzip answer"), std::string::npos) << a.error;
  }
}

TEST(HttpCall, ChunkedAndCloseDelimitedAnswers) {
  {
    OneShotServer server(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    HttpAnswer a = performHttp(call(server.port()), -1);
    EXPECT_EQ(a.status, 200) << a.error;
    EXPECT_EQ(a.body, "abcde");
  }
  {
    OneShotServer server("HTTP/1.1 304 Not Modified\r\n\r\n");
    HttpAnswer a = performHttp(call(server.port()), -1);
    EXPECT_EQ(a.status, 304) << a.error;
  }
}

TEST(HttpCall, TimesOutWhenNoAnswerComes) {
  OneShotServer server("", 1500);
  auto t0 = std::chrono::steady_clock::now();
  HttpAnswer a = performHttp(call(server.port(), 200), -1);
  EXPECT_EQ(a.status, 0);
  EXPECT_NE(a.error.find("timed out"), std::string::npos) << a.error;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1000));
}

TEST(HttpCall, TheStopPipeEndsTheCallAtOnce) {
  OneShotServer server("", 1500);
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    char b = 1;
    ASSERT_EQ(::write(p[1], &b, 1), 1);
  });
  auto t0 = std::chrono::steady_clock::now();
  HttpAnswer a = performHttp(call(server.port(), 10'000), p[0]);
  stopper.join();
  EXPECT_TRUE(a.aborted);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1000));
  ::close(p[0]);
  ::close(p[1]);
}

TEST(HttpCall, MalformedTruncatedAndRefused) {
  {
    OneShotServer server("HTTX/1.1 200 OK\r\n\r\n");
    HttpAnswer a = performHttp(call(server.port()), -1);
    EXPECT_EQ(a.status, 0);
    EXPECT_NE(a.error.find("bad answer"), std::string::npos) << a.error;
  }
  {
    OneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    HttpAnswer a = performHttp(call(server.port()), -1);
    EXPECT_EQ(a.status, 0);
    EXPECT_FALSE(a.error.empty());
  }
  {
    uint16_t port;
    {
      OneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
      port = server.port();
      performHttp(call(port), -1);
    }
    HttpAnswer a = performHttp(call(port), -1);  // nobody listens any more
    EXPECT_EQ(a.status, 0);
    EXPECT_NE(a.error.find("connect"), std::string::npos) << a.error;
  }
  HttpCall bad = call(1);
  bad.host = "localhost";
  EXPECT_NE(performHttp(bad, -1).error.find("numeric"), std::string::npos);
}

}  // namespace
}  // namespace weft::discovery
