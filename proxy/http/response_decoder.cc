// ResponseDecoder: response heads, interim 1xx responses, no-body rules and EOF handling.
//
// llhttp alone would read a body for a 204/304/HEAD answer that carries Content-Length (it
// only applies the no-body rule when there is no length), desyncing every later response on
// the connection; on_headers_complete therefore decides the body rule itself.
#include <llhttp.h>

#include "http/codec.h"
#include "http/parser_core.h"
#include "http/syntax.h"

namespace weft::http {

namespace {

// on_headers_complete return codes (llhttp.h).
constexpr int kBodyFollows = 0;
constexpr int kNoBody = 1;
constexpr int kNoBodyThenUpgrade = 2;

}  // namespace

struct ResponseDecoder::Impl final : ParserCore {
  Impl(Callbacks& cb, const DecoderLimits& limits)
      : ParserCore(HTTP_RESPONSE, limits), callbacks(cb) {}

  void beginMessage() override { head.clear(); }
  void appendFirstLine(std::string_view piece) override { head.reason.append(piece); }
  HeaderMap& headers() override { return head.headers; }

  int headersComplete() override {
    if (parser_.http_major != 1 || parser_.http_minor > 1) {
      return fail(502, "unsupported HTTP version");
    }
    const uint16_t status = parser_.status_code;
    if (status < 100 || status > 599) return fail(502, "invalid status code");
    head.status = status;
    head.version_minor = parser_.http_minor;

    const bool flag_chunked = (parser_.flags & F_CHUNKED) != 0;
    switch (classifyTransferEncoding(head.headers)) {
      case TransferCodings::kNone:
      case TransferCodings::kNotChunked:  // llhttp reads such a body until close
        if (flag_chunked) return fail(502, "invalid Transfer-Encoding");
        break;
      case TransferCodings::kChunkedOnly:
      case TransferCodings::kChunkedLast:
        if (!flag_chunked) return fail(502, "invalid Transfer-Encoding");
        break;
      case TransferCodings::kChunkedNotLast:
      case TransferCodings::kMalformed:
        return fail(502, "invalid Transfer-Encoding");
    }

    interim = status / 100 == 1 && status != 101;
    const bool upgrade = status == 101 || (to_connect && status / 100 == 2);
    head.no_body = interim || status == 204 || status == 304 || to_head;
    const bool framed = !head.no_body && !upgrade;
    head.chunked = framed && flag_chunked;
    if (parser_.flags & F_CONTENT_LENGTH) head.content_length = parser_.content_length;
    head.until_close = framed && llhttp_message_needs_eof(&parser_) != 0;
    // llhttp_should_keep_alive() would count a no-body answer without a length as
    // close-delimited, so derive persistence from the version and Connection instead.
    const bool persistent = parser_.http_minor >= 1
                                ? (parser_.flags & F_CONNECTION_CLOSE) == 0
                                : (parser_.flags & F_CONNECTION_KEEP_ALIVE) != 0;
    head.keep_alive = persistent && !head.until_close && !upgrade;

    if (interim) {
      awaiting_final_ = true;
      callbacks.onInformational(head);
      return kNoBody;
    }
    callbacks.onResponseHead(head);
    if (upgrade) return kNoBodyThenUpgrade;
    return head.no_body ? kNoBody : kBodyFollows;
  }

  void body(std::string_view data) override { callbacks.onResponseBody(data); }
  void trailers(HeaderMap& t) override { callbacks.onResponseTrailers(t); }

  int messageComplete() override {
    if (interim) {
      pause_ = Pause::kContinue;
      return HPE_PAUSED;
    }
    awaiting_final_ = false;
    callbacks.onResponseComplete();
    if (parser_.upgrade) return 0;  // llhttp pauses with HPE_PAUSED_UPGRADE by itself
    pause_ = Pause::kReport;
    return HPE_PAUSED;
  }

  uint16_t statusFor(llhttp_errno_t) const override { return 502; }

  DecodeResult finish() {
    if (state_ == State::kError) return run(nullptr, 0);
    if (state_ != State::kRunning || idle()) return {DecodeStatus::kNeedMore, 0};
    if (in_message_ && head_complete_ && head.until_close) {
      const llhttp_errno_t err = llhttp_finish(&parser_);
      if (err == HPE_PAUSED) {
        state_ = State::kPaused;
        return {DecodeStatus::kMessageComplete, 0};
      }
      if (err != HPE_OK) return setError(err, 0);
    }
    fail(502, "response truncated by connection close");
    return errorResult(0);
  }

  Callbacks& callbacks;
  ResponseHead head;
  bool to_head = false;
  bool to_connect = false;
  bool interim = false;
};

ResponseDecoder::ResponseDecoder(Callbacks& callbacks, const DecoderLimits& limits)
    : impl_(std::make_unique<Impl>(callbacks, limits)) {}
ResponseDecoder::~ResponseDecoder() = default;

void ResponseDecoder::expectResponseTo(std::string_view request_method) {
  impl_->to_head = request_method == "HEAD";
  impl_->to_connect = request_method == "CONNECT";
}

DecodeResult ResponseDecoder::decode(const char* data, size_t len) {
  return impl_->run(data, len);
}
DecodeResult ResponseDecoder::finish() {
  return impl_->finish();
}
void ResponseDecoder::resume() {
  impl_->resume();
}
bool ResponseDecoder::idle() const {
  return impl_->idle();
}

}  // namespace weft::http
