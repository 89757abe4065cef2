// HostPool and UpstreamConnection against a real HTTP/1.1 keep-alive server on 127.0.0.1.
#include "upstream/host_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../net/uv_test_loop.h"
#include "upstream/upstream_connection.h"

namespace weft::upstream {
namespace {

using weft::testing::TestLoop;

// An HTTP/1.1 server on the test's loop: answers every request head with "200 ok" and keeps
// the connection open unless told otherwise.
class KeepAliveServer {
 public:
  explicit KeepAliveServer(uv_loop_t* loop) {
    uv_tcp_init(loop, &listener_);
    listener_.data = this;
    sockaddr_in a = weft::testing::loopback(0);
    int rc = uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&a), 0);
    if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 16, onConnection);
    EXPECT_EQ(rc, 0) << uv_strerror(rc);
    sockaddr_storage ss{};
    int len = sizeof(ss);
    uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&ss), &len);
    port_ = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }
  ~KeepAliveServer() { close(); }

  uint16_t port() const { return port_; }
  int accepted() const { return accepted_; }
  int requests() const { return requests_; }
  int peerCloses() const { return peer_closes_; }
  size_t openConnections() const { return conns_.size(); }

  // Closes every accepted connection (the fd is closed at once, so the peer sees a FIN).
  void closeConnections() {
    while (!conns_.empty()) closeConn(conns_.back());
  }
  void close() {
    closeConnections();
    if (!closed_) {
      closed_ = true;
      uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    }
  }

 private:
  struct Conn {
    uv_tcp_t tcp;
    KeepAliveServer* server;
    std::string buf;
  };

  static void onConnection(uv_stream_t* s, int status) {
    auto* self = static_cast<KeepAliveServer*>(s->data);
    if (status < 0) return;
    auto* c = new Conn{};
    c->server = self;
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(s, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp),
               [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
      return;
    }
    ++self->accepted_;
    self->conns_.push_back(c);
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->tcp),
        [](uv_handle_t*, size_t, uv_buf_t* b) {
          static char buf[4096];
          *b = uv_buf_init(buf, sizeof(buf));
        },
        onRead);
  }

  static void onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
    auto* c = static_cast<Conn*>(s->data);
    KeepAliveServer* self = c->server;
    if (n < 0) {
      ++self->peer_closes_;
      self->closeConn(c);
      return;
    }
    c->buf.append(b->base, static_cast<size_t>(n));
    size_t end;
    while ((end = c->buf.find("\r\n\r\n")) != std::string::npos) {
      c->buf.erase(0, end + 4);
      ++self->requests_;
      static const char kResponse[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
      uv_buf_t out = uv_buf_init(const_cast<char*>(kResponse), sizeof(kResponse) - 1);
      EXPECT_EQ(uv_try_write(s, &out, 1), static_cast<int>(sizeof(kResponse) - 1));
    }
  }

  void closeConn(Conn* c) {
    conns_.erase(std::remove(conns_.begin(), conns_.end(), c), conns_.end());
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp),
             [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
  }

  uv_tcp_t listener_;
  uint16_t port_ = 0;
  bool closed_ = false;
  int accepted_ = 0;
  int requests_ = 0;
  int peer_closes_ = 0;
  std::vector<Conn*> conns_;
};

// One request's view of its upstream connection.
class TestRequest : public ResponseHandler {
 public:
  UpstreamConnection* conn = nullptr;
  int connected = 0;
  int status = 0;
  std::string body;
  bool complete = false;
  bool failed = false;
  FailureReason reason = FailureReason::kProtocolError;
  bool response_started = false;
  bool release_on_complete = true;
  bool send_on_connect = true;

  void send() {
    conn->out() += "GET / HTTP/1.1\r\nHost: upstream\r\n\r\n";
    conn->flush();
  }
  bool done() const { return complete || failed; }

  void onUpstreamConnected() override {
    ++connected;
    if (send_on_connect) send();
  }
  void onUpstreamInformational(http::ResponseHead&) override {}
  void onUpstreamResponseHead(http::ResponseHead& head) override { status = head.status; }
  void onUpstreamResponseBody(std::string_view data) override { body.append(data); }
  void onUpstreamResponseTrailers(http::HeaderMap&) override {}
  void onUpstreamResponseComplete() override {
    complete = true;
    if (release_on_complete) {
      conn->release(true);
      conn = nullptr;
    }
  }
  void onUpstreamTunnelData(const char*, size_t) override {}
  void onUpstreamTunnelEnd() override {}
  void onUpstreamReadDone() override {}
  void onUpstreamFailure(FailureReason r, bool started) override {
    failed = true;
    reason = r;
    response_started = started;
    conn = nullptr;
  }
  void onUpstreamDrained() override {}
};

class HostPoolTest : public ::testing::Test {
 protected:
  void SetUp() override { server_ = std::make_unique<KeepAliveServer>(loop_.get()); }

  void TearDown() override {
    pool_.reset();
    if (server_) server_->close();
    EXPECT_EQ(loop_.shutdown(), 0);
    server_.reset();
  }

  HostPool& pool(uint16_t port, PoolSettings settings = {}) {
    sockaddr_in a = weft::testing::loopback(port);
    sockaddr_storage ss{};
    std::memcpy(&ss, &a, sizeof(a));
    pool_ = std::make_unique<HostPool>(loop_.get(), ss, "127.0.0.1:" + std::to_string(port),
                                       settings, counters_);
    return *pool_;
  }

  // Sends one GET through `p` and runs the loop until the response (or a failure).
  UpstreamConnection* roundTrip(HostPool& p, TestRequest& r) {
    UpstreamConnection* c = p.acquire(&r, "GET", true);
    EXPECT_NE(c, nullptr);
    if (c == nullptr) return nullptr;
    r.conn = c;
    if (c->state() == UpstreamConnection::State::kBusy) r.send();  // reused: ready at once
    EXPECT_TRUE(loop_.runUntil([&] { return r.done(); }));
    return c;
  }

  TestLoop loop_;
  std::unique_ptr<KeepAliveServer> server_;
  observe::WorkerCounters counters_;
  std::unique_ptr<HostPool> pool_;
};

TEST_F(HostPoolTest, SequentialRequestsReuseOneConnection) {
  HostPool& p = pool(server_->port());
  TestRequest first;
  UpstreamConnection* c1 = roundTrip(p, first);
  ASSERT_TRUE(first.complete);
  EXPECT_EQ(first.connected, 1);
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "ok");
  EXPECT_EQ(p.idleCount(), 1u);
  EXPECT_EQ(p.activeCount(), 1u);
  EXPECT_EQ(counters_.upstream_cx_idle.load(), 1);

  TestRequest second;
  UpstreamConnection* c2 = p.acquire(&second, "GET", true);
  ASSERT_NE(c2, nullptr);
  EXPECT_EQ(c2, c1);
  EXPECT_EQ(c2->state(), UpstreamConnection::State::kBusy);
  EXPECT_TRUE(c2->reused());
  EXPECT_EQ(p.idleCount(), 0u);
  second.conn = c2;
  second.send();
  ASSERT_TRUE(loop_.runUntil([&] { return second.done(); }));
  ASSERT_TRUE(second.complete);
  EXPECT_EQ(second.connected, 0);  // a reused connection is not "connected" again
  EXPECT_EQ(second.body, "ok");

  EXPECT_EQ(server_->accepted(), 1);
  EXPECT_EQ(server_->requests(), 2);
  EXPECT_EQ(p.idleCount(), 1u);
  EXPECT_EQ(p.activeCount(), 1u);
  EXPECT_EQ(counters_.upstream_cx_total.load(), 1u);
  EXPECT_EQ(counters_.upstream_cx_pool_reuse.load(), 1u);
}

TEST_F(HostPoolTest, NoReuseWhenNotAllowed) {
  HostPool& p = pool(server_->port());
  TestRequest first;
  roundTrip(p, first);
  ASSERT_TRUE(first.complete);
  TestRequest second;
  UpstreamConnection* c = p.acquire(&second, "GET", /*allow_reuse=*/false);
  ASSERT_NE(c, nullptr);
  second.conn = c;
  ASSERT_TRUE(loop_.runUntil([&] { return second.done(); }));
  EXPECT_TRUE(second.complete);
  EXPECT_EQ(second.connected, 1);
  EXPECT_EQ(server_->accepted(), 2);
  EXPECT_EQ(p.idleCount(), 2u);
}

TEST_F(HostPoolTest, ConnectionClosedWhileIdleIsNotHandedOutAgain) {
  HostPool& p = pool(server_->port());
  TestRequest first;
  UpstreamConnection* c1 = roundTrip(p, first);
  ASSERT_TRUE(first.complete);
  ASSERT_EQ(p.idleCount(), 1u);

  // The server closes the idle connection; the loop has not run since, so only the check made
  // at acquire time can notice.
  server_->closeConnections();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  TestRequest second;
  UpstreamConnection* c2 = p.acquire(&second, "GET", true);
  ASSERT_NE(c2, nullptr);
  EXPECT_NE(c2, c1);
  EXPECT_EQ(c2->state(), UpstreamConnection::State::kConnecting);
  EXPECT_EQ(p.idleCount(), 0u);
  second.conn = c2;
  ASSERT_TRUE(loop_.runUntil([&] { return second.done(); }));
  EXPECT_TRUE(second.complete) << toString(second.reason);
  EXPECT_EQ(second.connected, 1);
  EXPECT_EQ(server_->accepted(), 2);
  EXPECT_EQ(counters_.upstream_cx_pool_reuse.load(), 0u);
  EXPECT_EQ(p.activeCount(), 1u);
}

TEST_F(HostPoolTest, IdleConnectionClosedByServerLeavesThePool) {
  HostPool& p = pool(server_->port());
  TestRequest first;
  roundTrip(p, first);
  ASSERT_TRUE(first.complete);
  ASSERT_EQ(p.idleCount(), 1u);

  server_->closeConnections();
  ASSERT_TRUE(loop_.runUntil([&] { return p.idleCount() == 0; }, 500));
  EXPECT_EQ(p.activeCount(), 0u);
  EXPECT_EQ(counters_.upstream_cx_idle.load(), 0);
  EXPECT_EQ(counters_.upstream_cx_active.load(), 0);
  // Closing an idle connection is not a request reset.
  EXPECT_EQ(counters_.upstream_rq_reset.load(), 0u);

  TestRequest second;
  UpstreamConnection* c2 = p.acquire(&second, "GET", true);
  ASSERT_NE(c2, nullptr);
  EXPECT_EQ(c2->state(), UpstreamConnection::State::kConnecting);
  second.conn = c2;
  ASSERT_TRUE(loop_.runUntil([&] { return second.done(); }));
  EXPECT_TRUE(second.complete);
  EXPECT_EQ(server_->accepted(), 2);
}

TEST_F(HostPoolTest, IdleTimeoutClosesIdleConnections) {
  PoolSettings settings;
  settings.idle_timeout_ms = 150;
  HostPool& p = pool(server_->port(), settings);
  TestRequest first;
  roundTrip(p, first);
  ASSERT_TRUE(first.complete);
  auto idle_since = std::chrono::steady_clock::now();
  ASSERT_EQ(p.idleCount(), 1u);

  loop_.runFor(50);
  EXPECT_EQ(p.idleCount(), 1u);  // not yet
  EXPECT_EQ(server_->peerCloses(), 0);

  ASSERT_TRUE(loop_.runUntil([&] { return p.activeCount() == 0 && server_->peerCloses() == 1; }));
  auto elapsed = std::chrono::steady_clock::now() - idle_since;
  EXPECT_GE(elapsed, std::chrono::milliseconds(140));
  EXPECT_EQ(p.idleCount(), 0u);
  EXPECT_EQ(server_->openConnections(), 0u);
}

TEST_F(HostPoolTest, ReuseRearmsNoIdleTimeoutWhileBusy) {
  PoolSettings settings;
  settings.idle_timeout_ms = 100;
  HostPool& p = pool(server_->port(), settings);
  TestRequest first;
  roundTrip(p, first);
  ASSERT_TRUE(first.complete);

  // Borrow the idle connection and hold it past the idle timeout without sending anything.
  TestRequest second;
  second.release_on_complete = false;
  UpstreamConnection* c = p.acquire(&second, "GET", true);
  ASSERT_NE(c, nullptr);
  second.conn = c;
  loop_.runFor(250);
  EXPECT_FALSE(second.failed);
  EXPECT_EQ(p.activeCount(), 1u);
  EXPECT_EQ(server_->peerCloses(), 0);
  second.send();
  ASSERT_TRUE(loop_.runUntil([&] { return second.done(); }));
  EXPECT_TRUE(second.complete);
  c->release(true);
  EXPECT_EQ(p.idleCount(), 1u);
  EXPECT_EQ(server_->accepted(), 1);
}

TEST_F(HostPoolTest, ConnectFailureIsReported) {
  uint16_t port = weft::testing::closedPort();
  ASSERT_NE(port, 0);
  HostPool& p = pool(port);
  TestRequest r;
  UpstreamConnection* c = p.acquire(&r, "GET", true);
  if (c != nullptr) {
    r.conn = c;
    ASSERT_TRUE(loop_.runUntil([&] { return r.done(); }));
  } else {
    r.failed = true;
    r.reason = FailureReason::kConnectFailure;
  }
  EXPECT_TRUE(r.failed);
  EXPECT_FALSE(r.complete);
  EXPECT_EQ(r.reason, FailureReason::kConnectFailure) << toString(r.reason);
  EXPECT_FALSE(r.response_started);
  EXPECT_EQ(r.connected, 0);
  EXPECT_EQ(p.activeCount(), 0u);
  EXPECT_EQ(p.idleCount(), 0u);
  EXPECT_EQ(counters_.upstream_cx_connect_fail.load(), 1u);
  EXPECT_EQ(counters_.upstream_cx_active.load(), 0);
  EXPECT_EQ(counters_.upstream_rq_reset.load(), 0u);
}

TEST_F(HostPoolTest, ClosedByServerMidResponseIsConnectionTermination) {
  HostPool& p = pool(server_->port());
  TestRequest r;
  r.send_on_connect = false;  // nothing unread at the server, so its close is a FIN
  UpstreamConnection* c = p.acquire(&r, "GET", true);
  ASSERT_NE(c, nullptr);
  r.conn = c;
  ASSERT_TRUE(loop_.runUntil([&] { return r.connected == 1 && server_->openConnections() == 1; }));
  server_->closeConnections();
  ASSERT_TRUE(loop_.runUntil([&] { return r.done(); }));
  EXPECT_TRUE(r.failed);
  EXPECT_EQ(r.reason, FailureReason::kConnectionTermination) << toString(r.reason);
  EXPECT_FALSE(r.response_started);
  EXPECT_EQ(p.activeCount(), 0u);
  EXPECT_EQ(counters_.upstream_rq_reset.load(), 1u);
}

TEST_F(HostPoolTest, ResetByServerIsRemoteReset) {
  HostPool& p = pool(server_->port());
  TestRequest r;
  r.send_on_connect = false;
  UpstreamConnection* c = p.acquire(&r, "GET", true);
  ASSERT_NE(c, nullptr);
  r.conn = c;
  ASSERT_TRUE(loop_.runUntil([&] { return r.connected == 1 && server_->openConnections() == 1; }));
  // A request head without its end stays unread at the server, so its close is a reset.
  c->out() += "GET / HTTP/1.1\r\nHost: upstream\r\n";
  c->flush();
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  server_->closeConnections();
  ASSERT_TRUE(loop_.runUntil([&] { return r.done(); }));
  EXPECT_TRUE(r.failed);
  EXPECT_EQ(r.reason, FailureReason::kRemoteReset) << toString(r.reason);
  EXPECT_FALSE(r.response_started);
  EXPECT_EQ(p.activeCount(), 0u);
}

TEST_F(HostPoolTest, CloseIdleClosesEveryIdleConnection) {
  HostPool& p = pool(server_->port());
  TestRequest a, b;
  UpstreamConnection* ca = p.acquire(&a, "GET", false);
  UpstreamConnection* cb = p.acquire(&b, "GET", false);
  ASSERT_NE(ca, nullptr);
  ASSERT_NE(cb, nullptr);
  a.conn = ca;
  b.conn = cb;
  ASSERT_TRUE(loop_.runUntil([&] { return a.done() && b.done(); }));
  ASSERT_EQ(p.idleCount(), 2u);
  p.closeIdle();
  EXPECT_EQ(p.idleCount(), 0u);
  EXPECT_EQ(p.activeCount(), 0u);
  ASSERT_TRUE(loop_.runUntil([&] { return server_->peerCloses() == 2; }));
}

}  // namespace
}  // namespace weft::upstream
