// weft-proxy wait-ready: argument parsing, and the poll loop against a real listener.
#include "discovery/wait_ready.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <sstream>
#include <thread>

namespace weft::discovery {
namespace {

TEST(WaitReadyTest, TimeoutDurations) {
  EXPECT_EQ(parseWaitTimeout("500ms"), 500u);
  EXPECT_EQ(parseWaitTimeout("30s"), 30'000u);
  EXPECT_EQ(parseWaitTimeout("1m"), 60'000u);
  EXPECT_EQ(parseWaitTimeout("1m30s"), 90'000u);
  EXPECT_EQ(parseWaitTimeout("1.5s"), 1'500u);
  EXPECT_FALSE(parseWaitTimeout(""));
  EXPECT_FALSE(parseWaitTimeout("0s"));
  EXPECT_FALSE(parseWaitTimeout("30"));  // a unit is required
  EXPECT_FALSE(parseWaitTimeout("soon"));
  EXPECT_FALSE(parseWaitTimeout("-1s"));
}

TEST(WaitReadyTest, AdminAddresses) {
  std::string why;
  auto a = parseAdminTarget("127.0.0.1:15000", why);
  ASSERT_TRUE(a) << why;
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 15000);
  a = parseAdminTarget("localhost:15001", why);
  ASSERT_TRUE(a) << why;
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 15001);
  a = parseAdminTarget("0.0.0.0:15000", why);
  ASSERT_TRUE(a) << why;
  EXPECT_EQ(a->host, "127.0.0.1");
  a = parseAdminTarget("[::]:15000", why);
  ASSERT_TRUE(a) << why;
  EXPECT_EQ(a->host, "::1");
  EXPECT_FALSE(parseAdminTarget("15000", why));
  EXPECT_NE(why, "");
  EXPECT_FALSE(parseAdminTarget("example.com:15000", why));
  EXPECT_FALSE(parseAdminTarget("127.0.0.1:0", why));
}

// Answers GET /ready with 503 for the first `not_ready` connections, then 200.
class ReadyServer {
 public:
  explicit ReadyServer(int not_ready) : not_ready_(not_ready) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] { serve(); });
  }
  ~ReadyServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  int served() const { return served_.load(); }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      std::string head;
      while (head.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::read(c, buf, sizeof(buf));
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      bool ready = served_++ >= not_ready_ && head.rfind("GET /ready ", 0) == 0;
      std::string body = ready ? "LIVE\n" : "PRE_INITIALIZING\n";
      std::string answer = std::string("HTTP/1.1 ") + (ready ? "200 OK" : "503 Unavailable") +
                           "\r\ncontent-length: " + std::to_string(body.size()) +
                           "\r\nconnection: close\r\n\r\n" + body;
      (void)!::write(c, answer.data(), answer.size());
      ::close(c);
    }
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  int not_ready_;
  std::atomic<bool> stop_{false};
  std::atomic<int> served_{0};
  std::thread thread_;
};

TEST(WaitReadyTest, ReturnsZeroOnceReady) {
  ReadyServer server(3);
  WaitReadyOptions options;
  options.admin = {"127.0.0.1", server.port()};
  options.timeout_ms = 10'000;
  std::ostringstream err;
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(waitReady(options, err), 0) << err.str();
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(server.served(), 4);
  // Three 503s ~100 ms apart, then 200: well under a second, and not a busy loop.
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::seconds(3));
}

TEST(WaitReadyTest, TimesOutWithReason) {
  ReadyServer server(1'000'000);
  WaitReadyOptions options;
  options.admin = {"127.0.0.1", server.port()};
  options.timeout_ms = 400;
  std::ostringstream err;
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(waitReady(options, err), 1);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(400));
  EXPECT_LT(took, std::chrono::seconds(2));
  EXPECT_NE(err.str().find("not ready after"), std::string::npos) << err.str();
  EXPECT_NE(err.str().find("503"), std::string::npos) << err.str();
}

TEST(WaitReadyTest, TimesOutWhenNothingListens) {
  uint16_t port;
  {
    ReadyServer gone(0);
    port = gone.port();
  }
  WaitReadyOptions options;
  options.admin = {"127.0.0.1", port};
  options.timeout_ms = 300;
  std::ostringstream err;
  EXPECT_EQ(waitReady(options, err), 1);
  EXPECT_NE(err.str().find("not ready after"), std::string::npos) << err.str();
}

}  // namespace
}  // namespace weft::discovery
