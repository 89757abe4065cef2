// TLS over TcpStream on a real libuv loop: two streams joined by a loopback TCP connection,
// each with a TlsStream transport (client and server contexts from a test CA).
#include <gtest/gtest.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <memory>
#include <string>

#include "../net/uv_test_loop.h"
#include "net/tcp_stream.h"
#include "test_ca.h"
#include "tls/tls_stream.h"

namespace weft::tls {
namespace {

using testing::TestCa;
using weft::testing::patternByte;
using weft::testing::TestLoop;

const char* kClientId = "spiffe://cluster.local/ns/default/sa/sleep";
const char* kServerId = "spiffe://cluster.local/ns/default/sa/httpbin";

// What one stream saw; it outlives the stream (which deletes itself once closed).
struct Record {
  std::string received;
  int ready = 0;
  int eofs = 0;
  int failures = 0;
  int closed = 0;
  int io_errors = 0;
  std::string failure;
  std::string peer;
  bool resumed = false;
  TlsStream::State state_at_eof = TlsStream::State::kHandshaking;
};

class TlsTestStream final : public net::TcpStream {
 public:
  TlsTestStream(uv_loop_t* loop, Record& r) : TcpStream(loop), r_(r) {}
  TlsStream* tls() const { return static_cast<TlsStream*>(transport()); }

 private:
  void onRead(const char* data, size_t len) override { r_.received.append(data, len); }
  void onReadEof() override {
    ++r_.eofs;
    r_.state_at_eof = tls()->state();
  }
  void onReadError(int) override { ++r_.io_errors; }
  void onWriteError(int) override { ++r_.io_errors; }
  void onTransportReady() override {
    ++r_.ready;
    r_.peer = tls()->peerIdentity();
    r_.resumed = tls()->resumed();
  }
  void onTransportFailure(const std::string& reason) override {
    ++r_.failures;
    r_.failure = reason;
    TcpStream::onTransportFailure(reason);
  }
  void onClosed() override { ++r_.closed; }

  Record& r_;
};

class TlsTcpStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ctx_ = serverContext(ca_.identity(kServerId));
    client_ctx_ = clientContext(ca_.identity(kClientId));
    ASSERT_TRUE(server_ctx_ && client_ctx_);
  }
  void TearDown() override {
    closeAll();
    EXPECT_EQ(loop_.shutdown(), 0);
    EXPECT_EQ(ERR_peek_error(), 0u);
  }

  static TlsContextPtr serverContext(const identity::WorkloadIdentity& id) {
    std::string error;
    auto c = TlsContext::makeServer(id, {}, &error);
    EXPECT_TRUE(c) << error;
    return c;
  }
  static TlsContextPtr clientContext(const identity::WorkloadIdentity& id) {
    std::string error;
    auto c = TlsContext::makeClient(id, {}, &error);
    EXPECT_TRUE(c) << error;
    return c;
  }

  // One connection: client_ and server_ joined over 127.0.0.1, both reading, TLS started.
  // `no_client_cert`: the client presents no certificate.
  void connect(const TlsContextPtr& client_ctx, const TlsContextPtr& server_ctx,
               bool no_client_cert = false) {
    closeAll();
    cr_ = std::make_unique<Record>();
    sr_ = std::make_unique<Record>();
    int lfd = weft::testing::rawListen();
    ASSERT_GE(lfd, 0);
    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = weft::testing::loopback(weft::testing::localPort(lfd));
    ASSERT_EQ(::connect(cfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    int sfd = accept(lfd, nullptr, nullptr);
    ::close(lfd);
    ASSERT_GE(sfd, 0);
    weft::testing::setNonBlocking(cfd);
    weft::testing::setNonBlocking(sfd);
    server_ = new TlsTestStream(loop_.get(), *sr_);
    client_ = new TlsTestStream(loop_.get(), *cr_);
    ASSERT_EQ(uv_tcp_open(server_->tcp(), sfd), 0);
    ASSERT_EQ(uv_tcp_open(client_->tcp(), cfd), 0);
    server_->setTransport(std::make_unique<TlsStream>(server_ctx));
    auto client_tls = std::make_unique<TlsStream>(client_ctx, "127.0.0.1:15006");
    if (no_client_cert) SSL_certs_clear(client_tls->ssl());
    client_->setTransport(std::move(client_tls));
    server_->startReading();
    client_->startReading();
  }

  void closeAll() {
    if (client_ && cr_->closed == 0) client_->close();
    if (server_ && sr_->closed == 0) server_->close();
    client_ = server_ = nullptr;
    loop_.runFor(5);
  }

  bool bothReady() { return cr_->ready == 1 && sr_->ready == 1; }
  bool bothClosed() { return cr_->closed == 1 && sr_->closed == 1; }

  TestLoop loop_;
  TestCa ca_;
  TlsContextPtr server_ctx_, client_ctx_;
  TlsTestStream* client_ = nullptr;
  TlsTestStream* server_ = nullptr;
  std::unique_ptr<Record> cr_, sr_;
};

TEST_F(TlsTcpStreamTest, HandshakeAndDataBothWays) {
  connect(client_ctx_, server_ctx_);
  // Written before the handshake completes: held back, then sent.
  client_->out() = "GET /ip HTTP/1.1\r\n\r\n";
  client_->flush();
  ASSERT_TRUE(loop_.runUntil([&] { return sr_->received.size() == 20; }));
  EXPECT_EQ(sr_->received, "GET /ip HTTP/1.1\r\n\r\n");
  server_->out() = "HTTP/1.1 204 No Content\r\n\r\n";
  server_->flush();
  ASSERT_TRUE(loop_.runUntil([&] { return cr_->received.size() == 27; }));
  EXPECT_EQ(cr_->ready, 1);
  EXPECT_EQ(sr_->ready, 1);
  EXPECT_EQ(cr_->peer, kServerId);
  EXPECT_EQ(sr_->peer, kClientId);
  EXPECT_EQ(peerSpiffeId(server_->tls()->ssl()), kClientId);
  EXPECT_EQ(server_->queuedBytes(), 0u);
}

TEST_F(TlsTcpStreamTest, ServerFromAnUnknownCaIsRefused) {
  TestCa other("another root");
  // The server's certificate comes from `other`; it trusts our CA, so only the client refuses.
  auto server = serverContext(other.identity(kServerId, -60, 3600, &ca_));
  connect(client_ctx_, server);
  ASSERT_TRUE(loop_.runUntil([&] { return bothClosed(); }));
  EXPECT_EQ(cr_->ready, 0);
  EXPECT_EQ(cr_->failures, 1);
  EXPECT_NE(cr_->failure.find("unable to get local issuer certificate"), std::string::npos)
      << cr_->failure;
  EXPECT_EQ(sr_->ready, 0);  // the server heard the client's alert
  EXPECT_EQ(sr_->failures, 1);
  EXPECT_NE(sr_->failure.find("unknown ca"), std::string::npos) << sr_->failure;
}

TEST_F(TlsTcpStreamTest, ExpiredCertificatesAreRefused) {
  auto expired_server = serverContext(ca_.identity(kServerId, -7200, -3600));
  connect(client_ctx_, expired_server);
  ASSERT_TRUE(loop_.runUntil([&] { return bothClosed(); }));
  EXPECT_EQ(cr_->failures, 1);
  EXPECT_NE(cr_->failure.find("certificate has expired"), std::string::npos) << cr_->failure;

  auto expired_client = clientContext(ca_.identity(kClientId, -7200, -3600));
  connect(expired_client, server_ctx_);
  ASSERT_TRUE(loop_.runUntil([&] { return bothClosed(); }));
  EXPECT_EQ(sr_->ready, 0);
  EXPECT_EQ(sr_->failures, 1);
  EXPECT_NE(sr_->failure.find("certificate has expired"), std::string::npos) << sr_->failure;
}

TEST_F(TlsTcpStreamTest, ClientWithoutCertificateIsRefused) {
  connect(client_ctx_, server_ctx_, /*no_client_cert=*/true);
  client_->out() = "GET / HTTP/1.1\r\n\r\n";
  client_->flush();
  ASSERT_TRUE(loop_.runUntil([&] { return bothClosed(); }));
  EXPECT_EQ(sr_->ready, 0);
  EXPECT_EQ(sr_->failures, 1);
  EXPECT_NE(sr_->failure.find("peer did not return a certificate"), std::string::npos)
      << sr_->failure;
  EXPECT_TRUE(sr_->received.empty());
  // In TLS 1.3 the client finishes first, then hears the server's alert.
  EXPECT_EQ(cr_->failures, 1);
  EXPECT_NE(cr_->failure.find("certificate required"), std::string::npos) << cr_->failure;
}

TEST_F(TlsTcpStreamTest, SecondConnectionResumesTheSession) {
  connect(client_ctx_, server_ctx_);
  client_->out() = "one";
  client_->flush();
  ASSERT_TRUE(loop_.runUntil([&] { return sr_->received == "one"; }));
  server_->out() = "two";
  server_->flush();
  // Reading the answer also processes the server's NewSessionTicket.
  ASSERT_TRUE(loop_.runUntil([&] { return cr_->received == "two"; }));
  EXPECT_FALSE(cr_->resumed);
  EXPECT_EQ(client_ctx_->cachedSessions(), 1u);
  client_->close();  // sends close_notify: the session stays resumable

  connect(client_ctx_, server_ctx_);
  ASSERT_TRUE(loop_.runUntil([&] { return bothReady(); }));
  EXPECT_TRUE(cr_->resumed);
  EXPECT_TRUE(sr_->resumed);
  EXPECT_EQ(sr_->peer, kClientId);
  EXPECT_EQ(cr_->peer, kServerId);
}

TEST_F(TlsTcpStreamTest, CloseNotifyEndsThePeersStreamOnce) {
  connect(client_ctx_, server_ctx_);
  client_->out() = "last words";
  client_->closeAfterFlush();
  ASSERT_TRUE(loop_.runUntil([&] { return sr_->eofs == 1; }));
  EXPECT_EQ(sr_->received, "last words");
  EXPECT_EQ(sr_->state_at_eof, TlsStream::State::kPeerClosed);
  loop_.runFor(30);  // the TCP FIN that follows is not a second EOF
  EXPECT_EQ(sr_->eofs, 1);
  EXPECT_EQ(cr_->closed, 1);
}

TEST_F(TlsTcpStreamTest, HandshakeArrivingOneByteAtATime) {
  // The server is a TLS TcpStream; the client an engine on a raw socket that writes one byte
  // per loop turn, so the server's handshake advances through one-byte reads.
  sr_ = std::make_unique<Record>();
  cr_ = std::make_unique<Record>();
  int lfd = weft::testing::rawListen();
  ASSERT_GE(lfd, 0);
  int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = weft::testing::loopback(weft::testing::localPort(lfd));
  ASSERT_EQ(::connect(cfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  int sfd = accept(lfd, nullptr, nullptr);
  ::close(lfd);
  ASSERT_GE(sfd, 0);
  int one = 1;
  setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  weft::testing::setNonBlocking(cfd);
  weft::testing::setNonBlocking(sfd);
  server_ = new TlsTestStream(loop_.get(), *sr_);
  ASSERT_EQ(uv_tcp_open(server_->tcp(), sfd), 0);
  server_->setTransport(std::make_unique<TlsStream>(server_ctx_));
  server_->startReading();

  TlsStream client(client_ctx_, "127.0.0.1:15006");
  std::string c2s, plain;
  client.start(c2s);
  auto pumpFromServer = [&] {
    char buf[4096];
    ssize_t n;
    while ((n = recv(cfd, buf, sizeof(buf), 0)) > 0) {
      ASSERT_NE(client.receive(buf, static_cast<size_t>(n), plain, c2s),
                net::Transport::Status::kFailed)
          << client.failure();
    }
  };
  size_t bytes_sent = 0;
  for (int turn = 0; turn < 20'000 && !(client.established() && sr_->ready == 1); ++turn) {
    if (!c2s.empty()) {
      ASSERT_EQ(send(cfd, c2s.data(), 1, MSG_NOSIGNAL), 1);
      c2s.erase(0, 1);
      ++bytes_sent;
    }
    uv_run(loop_.get(), UV_RUN_NOWAIT);
    pumpFromServer();
  }
  ASSERT_TRUE(client.established()) << client.failure();
  ASSERT_EQ(sr_->ready, 1) << sr_->failure;
  EXPECT_GT(bytes_sent, 500u);  // ClientHello, then certificate, verify and finished
  EXPECT_EQ(sr_->peer, kClientId);
  EXPECT_EQ(client.peerIdentity(), kServerId);

  server_->out() = "hello, one byte at a time";
  server_->flush();
  // Time-bounded: the small record may wait for a delayed ACK (Nagle on the server socket).
  EXPECT_TRUE(loop_.runUntil([&] {
    pumpFromServer();
    return plain.size() >= 25;
  }));
  EXPECT_EQ(plain, "hello, one byte at a time");
  ::close(cfd);
}

TEST_F(TlsTcpStreamTest, OneMegabyteEachWay) {
  connect(client_ctx_, server_ctx_);
  constexpr size_t kSize = 1 << 20;
  std::string data(kSize, '\0');
  for (size_t i = 0; i < kSize; ++i) data[i] = patternByte(i);
  client_->out() = data;
  client_->flush();
  ASSERT_TRUE(loop_.runUntil([&] { return sr_->ready == 1; }));
  server_->out() = data;
  server_->flush();
  ASSERT_TRUE(loop_.runUntil(
      [&] { return sr_->received.size() >= kSize && cr_->received.size() >= kSize; }, 5000));
  EXPECT_TRUE(sr_->received == data);
  EXPECT_TRUE(cr_->received == data);
  EXPECT_EQ(cr_->io_errors + sr_->io_errors + cr_->failures + sr_->failures, 0);
}

}  // namespace
}  // namespace weft::tls
