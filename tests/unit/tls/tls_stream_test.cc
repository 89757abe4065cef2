// TlsStream alone (no sockets): two engines pumped into each other in memory.
#include "tls/tls_stream.h"

#include <gtest/gtest.h>
#include <openssl/err.h>

#include "test_ca.h"

namespace weft::tls {
namespace {

using net::Transport;
using testing::TestCa;

const char* kClientId = "spiffe://cluster.local/ns/default/sa/sleep";
const char* kServerId = "spiffe://cluster.local/ns/default/sa/httpbin";

// Both ends of one connection, and what each has received.
struct Link {
  TlsStream client;
  TlsStream server;
  std::string c2s, s2c;              // bytes in flight
  std::string client_in, server_in;  // plaintext received
  Transport::Status client_status = Transport::Status::kOk;
  Transport::Status server_status = Transport::Status::kOk;

  Link(TlsContextPtr c, TlsContextPtr s, std::string_view key = "10.0.0.1:8080")
      : client(std::move(c), key), server(std::move(s)) {}

  // Starts both and moves bytes until neither side has anything to say, feeding at most
  // `step` bytes per call.
  void run(size_t step = SIZE_MAX) {
    client.start(c2s);
    server.start(s2c);
    for (int i = 0; i < 1'000'000 && (!c2s.empty() || !s2c.empty()); ++i) {
      if (!c2s.empty()) {
        size_t n = std::min(step, c2s.size());
        std::string chunk = c2s.substr(0, n);
        c2s.erase(0, n);
        server_status = server.receive(chunk.data(), chunk.size(), server_in, s2c);
      }
      if (!s2c.empty()) {
        size_t n = std::min(step, s2c.size());
        std::string chunk = s2c.substr(0, n);
        s2c.erase(0, n);
        client_status = client.receive(chunk.data(), chunk.size(), client_in, c2s);
      }
    }
  }
};

class TlsStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    server_ctx_ = TlsContext::makeServer(ca_.identity(kServerId), {}, &error);
    ASSERT_TRUE(server_ctx_) << error;
    client_ctx_ = TlsContext::makeClient(ca_.identity(kClientId), {}, &error);
    ASSERT_TRUE(client_ctx_) << error;
  }
  void TearDown() override { EXPECT_EQ(ERR_peek_error(), 0u); }

  TestCa ca_;
  TlsContextPtr server_ctx_, client_ctx_;
};

TEST_F(TlsStreamTest, HandshakeAndDataBothWays) {
  Link l(client_ctx_, server_ctx_);
  l.run();
  ASSERT_EQ(l.client.state(), TlsStream::State::kEstablished) << l.client.failure();
  ASSERT_EQ(l.server.state(), TlsStream::State::kEstablished) << l.server.failure();
  EXPECT_EQ(l.client.peerIdentity(), kServerId);
  EXPECT_EQ(l.server.peerIdentity(), kClientId);
  EXPECT_EQ(peerSpiffeId(l.server.ssl()), kClientId);
  EXPECT_STREQ(SSL_get_version(l.client.ssl()), "TLSv1.3");
  ASSERT_TRUE(l.client.send("GET / HTTP/1.1\r\n\r\n", 18, l.c2s));
  ASSERT_TRUE(l.server.send("HTTP/1.1 200 OK\r\n\r\n", 19, l.s2c));
  l.run();
  EXPECT_EQ(l.server_in, "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(l.client_in, "HTTP/1.1 200 OK\r\n\r\n");
}

TEST_F(TlsStreamTest, SendBeforeHandshakeIsRefused) {
  Link l(client_ctx_, server_ctx_);
  std::string wire;
  EXPECT_FALSE(l.client.send("x", 1, wire));
  EXPECT_TRUE(wire.empty());
}

TEST_F(TlsStreamTest, HandshakeFedOneByteAtATime) {
  Link l(client_ctx_, server_ctx_);
  l.run(1);
  ASSERT_TRUE(l.client.established()) << l.client.failure();
  ASSERT_TRUE(l.server.established()) << l.server.failure();
  EXPECT_EQ(l.server.peerIdentity(), kClientId);
  std::string body(50'000, 'q');
  ASSERT_TRUE(l.client.send(body.data(), body.size(), l.c2s));
  l.run(1);
  EXPECT_EQ(l.server_in, body);
}

TEST_F(TlsStreamTest, SecureNamingRefusesAnotherServerIdentity) {
  Link l(client_ctx_, server_ctx_);
  l.client.expectPeerIdentities({"spiffe://cluster.local/ns/default/sa/other"});
  l.run();
  EXPECT_EQ(l.client.state(), TlsStream::State::kFailed);
  EXPECT_NE(l.client.failure().find("not the one expected"), std::string::npos);

  Link ok(client_ctx_, server_ctx_);
  ok.client.expectPeerIdentities({"spiffe://cluster.local/ns/default/sa/other", kServerId});
  ok.run();
  EXPECT_TRUE(ok.client.established()) << ok.client.failure();
}

TEST_F(TlsStreamTest, Tls12WhenAllowedOnBothSides) {
  TlsSettings s12;
  s12.min_version = TlsVersion::kTls12;
  std::string error;
  auto server = TlsContext::makeServer(ca_.identity(kServerId), s12, &error);
  auto client = TlsContext::makeClient(ca_.identity(kClientId), s12, &error);
  ASSERT_TRUE(server && client) << error;
  {
    Link l(client, server);
    SSL_set_max_proto_version(l.client.ssl(), TLS1_2_VERSION);
    l.run();
    ASSERT_TRUE(l.server.established()) << l.server.failure();
    EXPECT_STREQ(SSL_get_version(l.server.ssl()), "TLSv1.2");
    EXPECT_STREQ(SSL_get_cipher_name(l.server.ssl()), "ECDHE-ECDSA-AES128-GCM-SHA256");
    EXPECT_EQ(l.server.peerIdentity(), kClientId);
  }
  // The default server (TLS 1.3 only) refuses a TLS 1.2 client.
  Link l(client, server_ctx_);
  SSL_set_max_proto_version(l.client.ssl(), TLS1_2_VERSION);
  l.run();
  EXPECT_EQ(l.server.state(), TlsStream::State::kFailed);
  EXPECT_NE(l.server.failure().find("unsupported protocol"), std::string::npos)
      << l.server.failure();
}

TEST_F(TlsStreamTest, ResumesWithTicketKeysCopiedToARenewedContext) {
  {
    Link first(client_ctx_, server_ctx_);
    first.run();
    ASSERT_TRUE(first.client.established());
    EXPECT_FALSE(first.client.resumed());
    first.client.shutdown(first.c2s);
    first.run();
  }
  ASSERT_EQ(client_ctx_->cachedSessions(), 1u);
  std::string error;
  auto renewed = TlsContext::makeServer(ca_.identity(kServerId), {}, &error);
  ASSERT_TRUE(renewed) << error;
  ASSERT_TRUE(renewed->copyTicketKeysFrom(*server_ctx_, &error)) << error;
  Link second(client_ctx_, renewed);
  second.run();
  ASSERT_TRUE(second.server.established()) << second.server.failure();
  EXPECT_TRUE(second.client.resumed());
  EXPECT_TRUE(second.server.resumed());
  EXPECT_EQ(second.server.peerIdentity(), kClientId);  // kept in the resumed session
}

TEST_F(TlsStreamTest, CloseNotify) {
  Link l(client_ctx_, server_ctx_);
  l.run();
  ASSERT_TRUE(l.client.send("bye", 3, l.c2s));
  l.client.shutdown(l.c2s);
  EXPECT_TRUE(l.client.sentCloseNotify());
  EXPECT_FALSE(l.client.send("more", 4, l.c2s));
  l.run();
  EXPECT_EQ(l.server_in, "bye");
  EXPECT_EQ(l.server_status, Transport::Status::kPeerClosed);
  EXPECT_EQ(l.server.state(), TlsStream::State::kPeerClosed);
  // Half-close: the server may still answer.
  ASSERT_TRUE(l.server.send("ok", 2, l.s2c));
  l.run();
  EXPECT_EQ(l.client_in, "ok");
}

TEST_F(TlsStreamTest, GarbageFailsTheServerWithAnAlert) {
  TlsStream server(server_ctx_);
  std::string plain, wire;
  const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(server.receive(junk, sizeof(junk) - 1, plain, wire), Transport::Status::kFailed);
  EXPECT_FALSE(server.failure().empty());
  EXPECT_TRUE(plain.empty());
  EXPECT_EQ(server.receive("x", 1, plain, wire), Transport::Status::kFailed);

  // A handshake record with a malformed ClientHello is answered with an alert.
  TlsStream other(server_ctx_);
  const char bad_hello[] = "\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00";
  EXPECT_EQ(other.receive(bad_hello, sizeof(bad_hello) - 1, plain, wire),
            Transport::Status::kFailed);
  EXPECT_FALSE(wire.empty());
  EXPECT_EQ(wire[0], '\x15');  // an alert record
}

}  // namespace
}  // namespace weft::tls
