// HttpServer: immediate and deferred answers, keep-alive, body limit, malformed requests, and
// a held request learning that its client went away.
#include "api/http_server.h"

#include <gtest/gtest.h>

#include "net/uv_test_loop.h"

namespace weft::control {
namespace {

using weft::testing::TestLoop;

// A plain client socket whose reads never block (the loop runs between them).
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = weft::testing::loopback(port);
    EXPECT_EQ(connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    weft::testing::setNonBlocking(fd_);
  }
  ~Client() { closeNow(); }
  void send(const std::string& data) {
    ASSERT_EQ(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(data.size()));
  }
  // Sends without checking (the server may have closed already).
  void trySend(const std::string& data) {
    (void)::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
  }
  // Reads what is there; returns false once the server closed.
  bool pump() {
    char buf[65536];
    for (;;) {
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n > 0) {
        received += std::string(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) closed = true;
      return !closed;
    }
  }
  size_t count(const std::string& needle) const {
    size_t n = 0;
    for (size_t pos = received.find(needle); pos != std::string::npos;
         pos = received.find(needle, pos + 1)) {
      ++n;
    }
    return n;
  }
  void closeNow() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  std::string received;
  bool closed = false;

 private:
  int fd_ = -1;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void start(HttpServerLimits limits = {}) {
    server_ = std::make_unique<HttpServer>(
        loop_.get(), [this](const HttpRequestPtr& r) { onRequest(r); }, limits);
    ASSERT_EQ(server_->listen("127.0.0.1", 0), 0);
  }
  void TearDown() override {
    server_.reset();
    held_.clear();
    EXPECT_EQ(loop_.shutdown(), 0);
  }
  void onRequest(const HttpRequestPtr& r) {
    seen_.push_back(r->method + " " + r->path + "?" + r->query + " " + r->body);
    if (r->path == "/hold") {
      r->onGone([this] { ++gone_; });
      held_.push_back(r);
      return;
    }
    r->respond(200, "text/plain", "ok:" + r->body);
  }
  bool runUntilReceived(Client& c, const std::string& needle, size_t times = 1) {
    return loop_.runUntil([&] {
      c.pump();
      return c.count(needle) >= times;
    });
  }

  TestLoop loop_;
  std::unique_ptr<HttpServer> server_;
  std::vector<std::string> seen_;
  std::vector<HttpRequestPtr> held_;
  int gone_ = 0;
};

TEST_F(HttpServerTest, AnswersAndKeepsTheConnection) {
  start();
  Client c(server_->port());
  c.send(
      "GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\n"
      "Content-Length: 3\r\n\r\nabc");
  ASSERT_TRUE(runUntilReceived(c, "HTTP/1.1 200", 2)) << c.received;
  EXPECT_NE(c.received.find("ok:abc"), std::string::npos);
  EXPECT_FALSE(c.closed);
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_EQ(seen_[0], "GET /a?x=1 ");
  EXPECT_EQ(seen_[1], "POST /b? abc");
}

TEST_F(HttpServerTest, DeferredAnswerAndPipelinedRequestAfterIt) {
  start();
  Client c(server_->port());
  c.send("GET /hold HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n");
  loop_.runFor(100);
  c.pump();
  EXPECT_TRUE(c.received.empty());
  ASSERT_EQ(held_.size(), 1u);
  EXPECT_EQ(seen_.size(), 1u) << "the pipelined request waits for the held one";
  held_[0]->respond(200, "application/json", "{\"late\":true}");
  ASSERT_TRUE(runUntilReceived(c, "HTTP/1.1 200", 2)) << c.received;
  EXPECT_LT(c.received.find("late"), c.received.find("ok:")) << "answers stay in order";
  held_[0]->respond(500, "text/plain", "twice");  // ignored
  loop_.runFor(50);
  c.pump();
  EXPECT_EQ(c.count("HTTP/1.1"), 2u);
}

TEST_F(HttpServerTest, HeldRequestLearnsTheClientWentAway) {
  start();
  {
    Client c(server_->port());
    c.send("GET /hold HTTP/1.1\r\nHost: h\r\n\r\n");
    ASSERT_TRUE(loop_.runUntil([&] { return held_.size() == 1; }));
  }
  ASSERT_TRUE(loop_.runUntil([&] { return gone_ == 1; }));
  EXPECT_TRUE(held_[0]->gone());
  held_[0]->respond(200, "text/plain", "too late");  // harmless
  EXPECT_EQ(server_->connectionCount(), 0u);
}

TEST_F(HttpServerTest, BodyOverTheLimitIs413) {
  HttpServerLimits limits;
  limits.max_body_bytes = 10;
  start(limits);
  Client c(server_->port());
  c.send("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n01234567890");
  ASSERT_TRUE(runUntilReceived(c, "HTTP/1.1 413"));
  EXPECT_TRUE(seen_.empty());
  Client chunked(server_->port());
  chunked.send(
      "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n");
  ASSERT_TRUE(runUntilReceived(chunked, "HTTP/1.1 413"));
  EXPECT_TRUE(seen_.empty());
}

TEST_F(HttpServerTest, MalformedRequestsAre400AndClose) {
  start();
  const char* bad[] = {"GARBAGE\r\n\r\n",
                       "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n",
                       "GET / HTTP/1.1\r\n Folded: x\r\n\r\n", "\x01\x02\x03\r\n\r\n"};
  for (const char* b : bad) {
    Client c(server_->port());
    c.send(b);
    ASSERT_TRUE(loop_.runUntil([&] {
      c.pump();
      return c.closed;
    })) << b;
    EXPECT_EQ(c.received.rfind("HTTP/1.1 4", 0), 0u) << b << " -> " << c.received;
  }
  EXPECT_TRUE(seen_.empty());
}

TEST_F(HttpServerTest, ExpectContinue) {
  start();
  Client c(server_->port());
  c.send("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_TRUE(runUntilReceived(c, "HTTP/1.1 100 Continue"));
  c.send("hi");
  ASSERT_TRUE(runUntilReceived(c, "ok:hi"));
}

TEST_F(HttpServerTest, ARequestTricklingInIsCutOffWith408) {
  HttpServerLimits limits;
  limits.request_timeout_ms = 200;
  start(limits);
  Client c(server_->port());
  c.send("GET /slow HTTP/1.1\r\n");
  for (int i = 0; i < 6; ++i) {
    loop_.runFor(50);
    c.pump();
    c.trySend("X-A: b\r\n");  // bytes keep coming, but the request never ends
  }
  ASSERT_TRUE(loop_.runUntil([&] {
    c.pump();
    return c.closed;
  }));
  EXPECT_EQ(c.received.rfind("HTTP/1.1 408", 0), 0u) << c.received;
  EXPECT_TRUE(seen_.empty());
}

TEST_F(HttpServerTest, ConnectionsBeyondTheLimitAreClosed) {
  HttpServerLimits limits;
  limits.max_connections = 2;
  start(limits);
  Client a(server_->port());
  Client b(server_->port());
  ASSERT_TRUE(loop_.runUntil([&] { return server_->connectionCount() == 2; }));
  Client c(server_->port());
  ASSERT_TRUE(loop_.runUntil([&] {
    c.pump();
    return c.closed;
  }));
  EXPECT_EQ(server_->connectionCount(), 2u);
  a.send("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(runUntilReceived(a, "HTTP/1.1 200"));
}

TEST(PercentDecode, Escapes) {
  EXPECT_EQ(percentDecode("a%2Fb%20c"), "a/b c");
  EXPECT_FALSE(percentDecode("%2"));
  EXPECT_FALSE(percentDecode("%zz"));
}

TEST(QueryParam, FindsDecodedValues) {
  HttpRequest r;
  r.query = "version=12&wait=30s&x=a%3Db&flag";
  EXPECT_EQ(r.queryParam("version"), "12");
  EXPECT_EQ(r.queryParam("x"), "a=b");
  EXPECT_EQ(r.queryParam("flag"), "");
  EXPECT_FALSE(r.queryParam("missing"));
}

}  // namespace
}  // namespace weft::control
