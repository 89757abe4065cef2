// libFuzzer target for the HTTP/1.1 codec: drives RequestDecoder and ResponseDecoder over the
// input, once in a single read and once in reads of a data-derived size, and checks that
// (1) nothing crashes (ASan/UBSan do the rest), (2) the DecodeResult contract holds, and
// (3) both ways of reading produce the same events: a split-dependent verdict is exactly the
// kind of desync that request smuggling exploits.
//
// Input layout: byte 0 = read size and response method, byte 1 = header-bytes limit,
// byte 2 = header-count limit, the rest = the bytes on the wire.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/codec.h"

namespace {

using weft::http::DecodeResult;
using weft::http::DecoderLimits;
using weft::http::DecodeStatus;
using weft::http::HeaderMap;
using weft::http::RequestDecoder;
using weft::http::RequestHead;
using weft::http::ResponseDecoder;
using weft::http::ResponseHead;

void check(bool ok) {
  if (!ok) std::abort();
}

void logFields(const HeaderMap& h, std::string& log) {
  h.forEach([&log](std::string_view n, std::string_view v) {
    // Decoded fields never carry line breaks or NUL, nor trailing whitespace.
    check(v.find_first_of(std::string_view("\0\r\n", 3)) == std::string_view::npos);
    check(v.empty() || (v.back() != ' ' && v.back() != '\t'));
    check(!n.empty());
    log.append(n).push_back(':');
    log.append(v).push_back(';');
  });
}

struct Requests : RequestDecoder::Callbacks {
  void onRequestHead(RequestHead& h) override {
    log += "H" + h.method + " " + h.target + " " + h.path + " " + h.authority;
    log += std::to_string(h.keep_alive * 1 + h.chunked * 2 + h.upgrade * 4 + h.expect_continue * 8 +
                          h.absolute_form * 16);
    log += h.content_length ? std::to_string(*h.content_length) : "-";
    logFields(h.headers, log);
    check(!h.chunked || !h.content_length);
    check(h.path.empty() || h.path[0] == '/' || h.path == "*");
  }
  void onRequestBody(std::string_view d) override { log.append(d); }
  void onRequestTrailers(HeaderMap& t) override {
    check(!t.empty());
    log += "T";
    logFields(t, log);
  }
  void onRequestComplete() override { log += "C"; }
  std::string log;
};

struct Responses : ResponseDecoder::Callbacks {
  void onInformational(ResponseHead& h) override {
    check(h.status >= 100 && h.status < 200 && h.status != 101);
    log += "I" + std::to_string(h.status);
  }
  void onResponseHead(ResponseHead& h) override {
    check(h.status >= 100 && h.status <= 599);
    log += "H" + std::to_string(h.status) + h.reason;
    log += std::to_string(h.keep_alive * 1 + h.chunked * 2 + h.no_body * 4 + h.until_close * 8);
    logFields(h.headers, log);
    check(!(h.no_body && (h.chunked || h.until_close)));
  }
  void onResponseBody(std::string_view d) override { log.append(d); }
  void onResponseTrailers(HeaderMap& t) override {
    log += "T";
    logFields(t, log);
  }
  void onResponseComplete() override { log += "C"; }
  std::string log;
};

// Feeds `wire` in reads of `step` bytes the way a connection would, appending the decoder's
// verdicts to `log`. Returns false once the decoder stops (error or upgrade).
template <class Decoder, class Rearm>
void feed(Decoder& d, std::string_view wire, size_t step, std::string& log, Rearm rearm) {
  size_t base = 0;
  while (base < wire.size()) {
    const size_t len = std::min(step, wire.size() - base);
    size_t off = 0;
    while (off < len) {
      const DecodeResult r = d.decode(wire.data() + base + off, len - off);
      check(r.consumed <= len - off);
      off += r.consumed;
      switch (r.status) {
        case DecodeStatus::kNeedMore:
          check(off == len);
          break;
        case DecodeStatus::kMessageComplete:
          log += "@" + std::to_string(base + off);
          d.resume();
          rearm();
          continue;
        case DecodeStatus::kUpgrade:
          log += "U@" + std::to_string(base + off);
          check(d.decode(wire.data(), wire.size()).status == DecodeStatus::kUpgrade);
          return;
        case DecodeStatus::kError: {
          check(r.http_status >= 400 && r.http_status <= 599);
          check(r.reason != nullptr);
          log += "E" + std::to_string(r.http_status);
          // Errors are sticky.
          const DecodeResult again = d.decode(wire.data(), wire.size());
          check(again.status == DecodeStatus::kError && again.http_status == r.http_status);
          return;
        }
      }
    }
    base += len;
  }
}

std::string requestEvents(std::string_view wire, size_t step, const DecoderLimits& limits) {
  Requests cb;
  RequestDecoder d(cb, limits);
  std::string marks;
  feed(d, wire, step, marks, [] {});
  (void)d.idle();
  (void)d.headComplete();
  return cb.log + "|" + marks;
}

std::string responseEvents(std::string_view wire, size_t step, const DecoderLimits& limits,
                           std::string_view method) {
  Responses cb;
  ResponseDecoder d(cb, limits);
  d.expectResponseTo(method);
  std::string marks;
  feed(d, wire, step, marks, [&] { d.expectResponseTo(method); });
  const DecodeResult end = d.finish();
  marks += "F" + std::to_string(static_cast<int>(end.status));
  return cb.log + "|" + marks;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const size_t step = 1 + (data[0] & 0x3f);
  static constexpr std::string_view kMethods[] = {"GET", "HEAD", "CONNECT", "POST"};
  const std::string_view method = kMethods[data[0] >> 6];
  DecoderLimits limits;
  if (data[1] != 0) limits.max_header_bytes = 16 + size_t{data[1]} * 8;
  if (data[2] != 0) limits.max_headers = data[2] % 32;
  const std::string_view wire(reinterpret_cast<const char*>(data + 3), size - 3);

  check(requestEvents(wire, wire.size() + 1, limits) == requestEvents(wire, step, limits));
  check(responseEvents(wire, wire.size() + 1, limits, method) ==
        responseEvents(wire, step, limits, method));
  return 0;
}
