// libFuzzer target for the TLS engine: arbitrary bytes arrive as the peer's ciphertext at a
// server-side TlsStream (mutual TLS context), in reads of a data-derived size. Checks that
// nothing crashes or leaks (ASan/LSan/UBSan), that the error queue is left empty and that the
// state contract holds: a failure has a reason, and a failed stream stays failed.
//
// Input layout: byte 0: bit 0 set = a genuine ClientHello (made once, at start-up, by a client
// TlsStream) is fed first, so the rest reaches the states after it; bits 1-7 = read size
// (0: everything in one read). The rest = the bytes on the wire.
#include <openssl/err.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "test_ca.h"
#include "tls/context.h"
#include "tls/tls_stream.h"

namespace {

using weft::net::Transport;
using weft::tls::TlsContext;
using weft::tls::TlsContextPtr;
using weft::tls::TlsStream;

void check(bool ok) {
  if (!ok) std::abort();
}

struct Fixture {
  TlsContextPtr server;
  std::string client_hello;

  Fixture() {
    weft::tls::testing::TestCa ca;
    std::string error;
    server =
        TlsContext::makeServer(ca.identity("spiffe://cluster.local/ns/fuzz/sa/server"), {}, &error);
    auto client =
        TlsContext::makeClient(ca.identity("spiffe://cluster.local/ns/fuzz/sa/client"), {}, &error);
    check(server && client);
    TlsStream hello(client);
    hello.start(client_hello);
    check(!client_hello.empty());
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const Fixture& f = fixture();
  bool with_hello = (data[0] & 1) != 0;
  size_t step = data[0] >> 1;
  const char* wire_in = reinterpret_cast<const char*>(data + 1);
  size_t len = size - 1;
  if (step == 0) step = len > 0 ? len : 1;

  TlsStream server(f.server);
  std::string plain, wire;
  Transport::Status status = Transport::Status::kOk;
  server.start(wire);
  if (with_hello) {
    status = server.receive(f.client_hello.data(), f.client_hello.size(), plain, wire);
    check(status == Transport::Status::kOk);  // a genuine hello is accepted
  }
  for (size_t off = 0; off < len; off += step) {
    size_t n = len - off < step ? len - off : step;
    bool was_failed = server.state() == TlsStream::State::kFailed;
    status = server.receive(wire_in + off, n, plain, wire);
    check(!was_failed || status == Transport::Status::kFailed);
    check((status == Transport::Status::kFailed) == !server.failure().empty());
    check(ERR_peek_error() == 0);
  }
  check((server.state() == TlsStream::State::kFailed) == !server.failure().empty());
  // Whatever state it is in, the rest of the API must be safe to call.
  server.send("x", 1, wire);
  server.shutdown(wire);
  (void)server.peerIdentity();
  check(ERR_peek_error() == 0);
  return 0;
}
