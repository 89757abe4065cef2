// Steady-state allocation check for TLS: once a connection is established and its buffers are
// warm, another request and response through TlsStream must not allocate in our code (global
// operator new, replaced in this binary to count), and OpenSSL (its allocator, replaced before
// its first allocation to count) must allocate no buffer: OpenSSL 3.0 itself makes a few
// 40-byte allocations per record it writes (WPACKET bookkeeping, crypto/packet.c), which no
// caller can avoid; anything larger would be a buffer that should have been reused.
#include <gtest/gtest.h>
#include <openssl/crypto.h>

#include <cstdlib>
#include <new>
#include <string>

#include "test_ca.h"
#include "tls/tls_stream.h"

namespace {
size_t g_new_calls = 0;
size_t g_openssl_calls = 0;
size_t g_openssl_largest = 0;

void* countingMalloc(size_t n, const char*, int) {
  ++g_openssl_calls;
  if (n > g_openssl_largest) g_openssl_largest = n;
  return std::malloc(n);
}
void* countingRealloc(void* p, size_t n, const char*, int) {
  ++g_openssl_calls;
  if (n > g_openssl_largest) g_openssl_largest = n;
  return std::realloc(p, n);
}
void countingFree(void* p, const char*, int) {
  std::free(p);
}
// Runs before main(), so before OpenSSL's first allocation.
const bool g_openssl_counted =
    CRYPTO_set_mem_functions(countingMalloc, countingRealloc, countingFree) == 1;
}  // namespace

// The replacement pairs malloc with free; GCC cannot see that across the replaced operators.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t n) {
  ++g_new_calls;
  if (void* p = std::malloc(n != 0 ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
#pragma GCC diagnostic pop

namespace weft::tls {
namespace {

using net::Transport;

// Moves everything in `from_wire` into `to`, which appends plaintext to `plain` and its own
// output to `back_wire`; then empties `from_wire` (capacity kept).
void deliver(TlsStream& to, std::string& from_wire, std::string& plain, std::string& back_wire) {
  if (from_wire.empty()) return;
  ASSERT_NE(to.receive(from_wire.data(), from_wire.size(), plain, back_wire),
            Transport::Status::kFailed)
      << to.failure();
  from_wire.clear();
}

TEST(TlsAllocation, WarmConnectionMovesARequestAndAResponseWithoutBuffersAllocated) {
  if (!g_openssl_counted) GTEST_SKIP() << "OpenSSL allocated before main()";
  testing::TestCa ca;
  std::string error;
  auto server_ctx =
      TlsContext::makeServer(ca.identity("spiffe://cluster.local/ns/a/sa/s"), {}, &error);
  auto client_ctx =
      TlsContext::makeClient(ca.identity("spiffe://cluster.local/ns/a/sa/c"), {}, &error);
  ASSERT_TRUE(server_ctx && client_ctx) << error;
  TlsStream client(client_ctx, "10.0.0.1:9080");
  TlsStream server(server_ctx);
  std::string c2s, s2c, client_in, server_in;
  client.start(c2s);
  server.start(s2c);
  for (int i = 0; i < 10 && (!c2s.empty() || !s2c.empty()); ++i) {
    deliver(server, c2s, server_in, s2c);
    deliver(client, s2c, client_in, c2s);
  }
  ASSERT_TRUE(client.established() && server.established());

  const std::string request =
      "GET /reviews/0 HTTP/1.1\r\nHost: reviews:9080\r\nx-request-id: 0123456789abcdef\r\n"
      "user-agent: weft-test\r\n\r\n";
  const std::string response =
      "HTTP/1.1 200 OK\r\ncontent-length: 4096\r\n\r\n" + std::string(4096, 'r');
  auto exchange = [&] {
    client_in.clear();
    server_in.clear();
    ASSERT_TRUE(client.send(request.data(), request.size(), c2s));
    deliver(server, c2s, server_in, s2c);
    ASSERT_TRUE(server.send(response.data(), response.size(), s2c));
    deliver(client, s2c, client_in, c2s);
    ASSERT_EQ(server_in.size(), request.size());
    ASSERT_EQ(client_in.size(), response.size());
  };
  for (int i = 0; i < 5; ++i) exchange();  // warm-up: tickets, buffers, BIO memory

  size_t new_before = g_new_calls;
  size_t openssl_before = g_openssl_calls;
  g_openssl_largest = 0;
  constexpr size_t kExchanges = 100;
  for (size_t i = 0; i < kExchanges; ++i) exchange();
  EXPECT_EQ(g_new_calls - new_before, 0u) << "operator new calls for 100 exchanges";
  // Two records written per exchange (one each way), a few bookkeeping blocks each.
  EXPECT_LE(g_openssl_calls - openssl_before, kExchanges * 2 * 4);
  EXPECT_LE(g_openssl_largest, 64u) << "OpenSSL allocated a buffer in the steady state";
}

}  // namespace
}  // namespace weft::tls
