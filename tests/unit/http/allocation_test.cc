// Steady-state allocation check: once a connection's decoders are warm, decoding another
// message must not touch the heap. Global operator new is replaced in this binary to count.
#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <string>

#include "http/codec.h"

namespace {
size_t g_allocations = 0;
}  // namespace

// The replacement pairs malloc with free; GCC cannot see that across the replaced operators.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t n) {
  ++g_allocations;
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

namespace weft::http {
namespace {

struct QuietRequests : RequestDecoder::Callbacks {
  void onRequestHead(RequestHead& h) override { bytes += h.headers.byteSize() + h.path.size(); }
  void onRequestBody(std::string_view d) override { bytes += d.size(); }
  void onRequestTrailers(HeaderMap& t) override { bytes += t.size(); }
  void onRequestComplete() override { ++complete; }
  size_t bytes = 0;
  size_t complete = 0;
};

struct QuietResponses : ResponseDecoder::Callbacks {
  void onInformational(ResponseHead&) override { ++interim; }
  void onResponseHead(ResponseHead& h) override { bytes += h.headers.byteSize(); }
  void onResponseBody(std::string_view d) override { bytes += d.size(); }
  void onResponseTrailers(HeaderMap& t) override { bytes += t.size(); }
  void onResponseComplete() override { ++complete; }
  size_t bytes = 0;
  size_t interim = 0;
  size_t complete = 0;
};

template <class Decoder, class Before>
void decodeAll(Decoder& d, const std::string& in, Before before) {
  size_t off = 0;
  while (off < in.size()) {
    before();
    const DecodeResult r = d.decode(in.data() + off, in.size() - off);
    off += r.consumed;
    ASSERT_EQ(r.status, DecodeStatus::kMessageComplete);
    d.resume();
  }
}

TEST(Allocation, RequestDecoderIsAllocationFreeOnceWarm) {
  const std::string one =
      "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n"
      "GET http://a.example:80/x?y HTTP/1.1\r\nHost: a.example:80\r\nAccept: */*\r\n\r\n";
  std::string many;
  for (int i = 0; i < 50; ++i) many += one;
  QuietRequests cb;
  RequestDecoder d(cb, DecoderLimits{});
  decodeAll(d, many, [] {});  // warm-up: strings and header maps reach their working size
  const size_t before = g_allocations;
  decodeAll(d, many, [] {});
  EXPECT_EQ(g_allocations - before, 0u);
  EXPECT_EQ(cb.complete, 200u);
}

TEST(Allocation, ResponseDecoderIsAllocationFreeOnceWarm) {
  const std::string one =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: v\r\n\r\n";
  std::string many;
  for (int i = 0; i < 50; ++i) many += one;
  QuietResponses cb;
  ResponseDecoder d(cb, DecoderLimits{});
  auto expect = [&d] { d.expectResponseTo("GET"); };
  decodeAll(d, many, expect);
  const size_t before = g_allocations;
  decodeAll(d, many, expect);
  EXPECT_EQ(g_allocations - before, 0u);
  EXPECT_EQ(cb.complete, 200u);
  EXPECT_EQ(cb.interim, 100u);
}

}  // namespace
}  // namespace weft::http
