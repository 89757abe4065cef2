// Listener: bind, accept, address in use, SO_REUSEPORT, close.
#include "net/listener.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "uv_test_loop.h"

namespace weft::net {
namespace {

using weft::testing::TestLoop;

// A plain client socket connected to 127.0.0.1:`port` (blocking connect); -1 on failure.
int rawConnect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = weft::testing::loopback(port);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) return fd;
  if (fd >= 0) ::close(fd);
  return -1;
}

// A connection accepted from the listener, with what it has read so far.
struct Accepted {
  uv_tcp_t tcp;
  std::string received;
};

class ListenerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (Accepted* a : accepted_) {
      uv_close(reinterpret_cast<uv_handle_t*>(&a->tcp),
               [](uv_handle_t* h) { delete static_cast<Accepted*>(h->data); });
    }
    accepted_.clear();
    for (int fd : fds_) ::close(fd);
    EXPECT_EQ(loop_.shutdown(), 0);
  }

  Listener::AcceptFn acceptInto() {
    return [this](uv_stream_t* server) {
      auto* a = new Accepted;
      a->tcp.data = a;
      uv_tcp_init(loop_.get(), &a->tcp);
      ASSERT_EQ(uv_accept(server, reinterpret_cast<uv_stream_t*>(&a->tcp)), 0);
      accepted_.push_back(a);
      uv_read_start(
          reinterpret_cast<uv_stream_t*>(&a->tcp),
          [](uv_handle_t*, size_t, uv_buf_t* b) {
            static char buf[1024];
            *b = uv_buf_init(buf, sizeof(buf));
          },
          [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
            if (n > 0) static_cast<Accepted*>(s->data)->received.append(b->base, n);
          });
    };
  }

  int track(int fd) {
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }

  TestLoop loop_;
  std::vector<Accepted*> accepted_;
  std::vector<int> fds_;
};

TEST_F(ListenerTest, ListensOnPortZeroAndReportsTheBoundPort) {
  Listener l(loop_.get());
  EXPECT_FALSE(l.listening());
  EXPECT_EQ(l.port(), 0);
  ASSERT_EQ(l.listen("127.0.0.1", 0, false, acceptInto()), 0);
  EXPECT_TRUE(l.listening());
  uint16_t port = l.port();
  ASSERT_NE(port, 0);

  // The reported port is the one bound: a client connecting to it is accepted.
  int fd = track(rawConnect(port));
  ASSERT_GE(fd, 0);
  ASSERT_EQ(send(fd, "hi", 2, 0), 2);
  ASSERT_TRUE(
      loop_.runUntil([&] { return accepted_.size() == 1 && accepted_[0]->received == "hi"; }));
}

TEST_F(ListenerTest, AcceptsSeveralConnections) {
  Listener l(loop_.get());
  ASSERT_EQ(l.listen("127.0.0.1", 0, false, acceptInto()), 0);
  for (int i = 0; i < 3; ++i) ASSERT_GE(track(rawConnect(l.port())), 0);
  ASSERT_TRUE(loop_.runUntil([&] { return accepted_.size() == 3; }));
}

TEST_F(ListenerTest, AddressInUseIsAnError) {
  Listener first(loop_.get());
  ASSERT_EQ(first.listen("127.0.0.1", 0, false, acceptInto()), 0);
  Listener second(loop_.get());
  int rc = second.listen("127.0.0.1", first.port(), false, acceptInto());
  EXPECT_EQ(rc, UV_EADDRINUSE) << uv_strerror(rc);
  // Even with SO_REUSEPORT the port is taken when the first socket did not set it.
  Listener third(loop_.get());
  rc = third.listen("127.0.0.1", first.port(), true, acceptInto());
  EXPECT_EQ(rc, UV_EADDRINUSE) << uv_strerror(rc);
}

TEST_F(ListenerTest, AddressInUseByAPlainSocket) {
  int lfd = track(weft::testing::rawListen());
  ASSERT_GE(lfd, 0);
  Listener l(loop_.get());
  int rc = l.listen("127.0.0.1", weft::testing::localPort(lfd), false, acceptInto());
  EXPECT_EQ(rc, UV_EADDRINUSE) << uv_strerror(rc);
}

TEST_F(ListenerTest, FailedListenIsNotListening) {
  Listener first(loop_.get());
  ASSERT_EQ(first.listen("127.0.0.1", 0, false, acceptInto()), 0);
  Listener second(loop_.get());
  ASSERT_EQ(second.listen("127.0.0.1", first.port(), false, acceptInto()), UV_EADDRINUSE);
  EXPECT_FALSE(second.listening());
}

TEST_F(ListenerTest, ReusePortLetsTwoListenersShareAPort) {
  Listener a(loop_.get());
  ASSERT_EQ(a.listen("127.0.0.1", 0, true, acceptInto()), 0);
  Listener b(loop_.get());
  ASSERT_EQ(b.listen("127.0.0.1", a.port(), true, acceptInto()), 0);
  EXPECT_EQ(b.port(), a.port());
  for (int i = 0; i < 8; ++i) ASSERT_GE(track(rawConnect(a.port())), 0);
  ASSERT_TRUE(loop_.runUntil([&] { return accepted_.size() == 8; }));
}

TEST_F(ListenerTest, InvalidHost) {
  Listener l(loop_.get());
  EXPECT_EQ(l.listen("not-an-ip", 0, false, acceptInto()), UV_EINVAL);
  EXPECT_FALSE(l.listening());
  EXPECT_EQ(l.port(), 0);
}

TEST_F(ListenerTest, CloseStopsAccepting) {
  Listener l(loop_.get());
  ASSERT_EQ(l.listen("127.0.0.1", 0, false, acceptInto()), 0);
  uint16_t port = l.port();
  l.close();
  EXPECT_FALSE(l.listening());
  EXPECT_EQ(l.port(), 0);
  l.close();  // idempotent
  loop_.runFor(10);
  EXPECT_EQ(rawConnect(port), -1);
  EXPECT_TRUE(accepted_.empty());
}

TEST_F(ListenerTest, Ipv6Loopback) {
  Listener l(loop_.get());
  int rc = l.listen("::1", 0, false, acceptInto());
  if (rc == UV_EADDRNOTAVAIL || rc == UV_EAFNOSUPPORT) GTEST_SKIP() << "no IPv6 loopback";
  ASSERT_EQ(rc, 0) << uv_strerror(rc);
  EXPECT_NE(l.port(), 0);
}

TEST(ParseSocketAddressTest, Ipv4AndIpv6) {
  sockaddr_storage ss;
  ASSERT_EQ(parseSocketAddress("10.1.2.3", 8080, ss), 0);
  ASSERT_EQ(ss.ss_family, AF_INET);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  EXPECT_EQ(ntohs(v4->sin_port), 8080);
  EXPECT_EQ(ntohl(v4->sin_addr.s_addr), 0x0A010203u);

  ASSERT_EQ(parseSocketAddress("::1", 443, ss), 0);
  ASSERT_EQ(ss.ss_family, AF_INET6);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  EXPECT_EQ(ntohs(v6->sin6_port), 443);
  EXPECT_TRUE(IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr));

  EXPECT_NE(parseSocketAddress("localhost", 80, ss), 0);
  EXPECT_NE(parseSocketAddress("", 80, ss), 0);
  EXPECT_NE(parseSocketAddress("1.2.3.4.5", 80, ss), 0);
}

}  // namespace
}  // namespace weft::net
