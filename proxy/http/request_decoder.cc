// RequestDecoder: validates request heads on top of llhttp (strict build) and reports them.
//
// llhttp already rejects CL+TE, duplicate Content-Length, bare LF, control bytes and bad
// chunk framing. This file adds what it lets through: HTTP versions other than 1.0/1.1,
// Host rules, obfuscated or unsupported Transfer-Encoding, fragments and non-http schemes
// in the target, and bodies on CONNECT.
#include <llhttp.h>

#include "http/codec.h"
#include "http/parser_core.h"
#include "http/syntax.h"

namespace weft::http {

namespace {

bool isTargetByteOk(char c) {
  const auto u = static_cast<unsigned char>(c);
  // No controls, spaces, DEL or non-ASCII (RFC 9112 §3.2); '#' because a fragment is never
  // part of a request-target (RFC 9112 §3.2.1 uses absolute-URI, which has none).
  return u > 0x20 && u < 0x7f && c != '#';
}

// Fills path/authority/absolute_form from head.target. False for a target to reject.
bool parseTarget(RequestHead& head, bool connect) {
  const std::string_view t = head.target;
  if (t.empty()) return false;
  for (char c : t) {
    if (!isTargetByteOk(c)) return false;
  }
  if (connect) {
    // authority-form, the only form CONNECT allows (RFC 9110 §9.3.6).
    if (!isValidAuthority(t, /*require_port=*/true)) return false;
    head.authority.assign(t);
    return true;
  }
  if (t[0] == '/') {
    head.path.assign(t);
    return true;
  }
  if (t == "*") {
    if (head.method != "OPTIONS") return false;
    head.path.assign(t);
    return true;
  }
  // absolute-form. Only "http": the sidecar forwards in origin-form, so any other scheme
  // ("https" asking the proxy to originate TLS, "ftp", ...) would be silently changed.
  constexpr std::string_view kScheme = "http://";
  if (t.size() <= kScheme.size() || !equalsIgnoreCase(t.substr(0, kScheme.size()), kScheme)) {
    return false;
  }
  const std::string_view rest = t.substr(kScheme.size());
  const size_t end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, end);
  if (!isValidAuthority(authority, /*require_port=*/false)) return false;
  head.authority.assign(authority);
  if (end == std::string_view::npos) {
    head.path.assign("/");
  } else {
    if (rest[end] == '?') head.path.assign("/");
    head.path.append(rest.substr(end));
  }
  head.absolute_form = true;
  return true;
}

// "Content_Length" / "Transfer_Encoding": harmless to llhttp, but servers that map '_' to '-'
// (CGI-style environments) would frame the body differently from us.
bool hasUnderscoreFramingName(const HeaderMap& headers) {
  for (size_t i = 0; i < headers.size(); ++i) {
    const std::string_view n = headers.name(i);
    if (n.size() != 14 && n.size() != 17) continue;
    if (n.find('_') == std::string_view::npos) continue;
    std::string_view want = n.size() == 14 ? "content-length" : "transfer-encoding";
    bool same = true;
    for (size_t j = 0; j < n.size() && same; ++j) {
      const char c = n[j] == '_' ? '-' : n[j];
      same = equalsIgnoreCase({&c, 1}, want.substr(j, 1));
    }
    if (same) return true;
  }
  return false;
}

}  // namespace

struct RequestDecoder::Impl final : ParserCore {
  Impl(Callbacks& cb, const DecoderLimits& limits)
      : ParserCore(HTTP_REQUEST, limits), callbacks(cb) {}

  void beginMessage() override { head.clear(); }
  void appendFirstLine(std::string_view piece) override { head.target.append(piece); }
  HeaderMap& headers() override { return head.headers; }

  int headersComplete() override {
    if (parser_.http_major != 1 || parser_.http_minor > 1) {
      return fail(505, "unsupported HTTP version");
    }
    head.version_minor = parser_.http_minor;
    head.method.assign(llhttp_method_name(static_cast<llhttp_method_t>(parser_.method)));
    const bool connect = parser_.method == HTTP_CONNECT;
    if (!parseTarget(head, connect)) return fail(400, "invalid request target");

    const size_t hosts = head.headers.count("host");
    if (hosts > 1) return fail(400, "more than one Host field");
    if (hosts == 0 && head.version_minor == 1) return fail(400, "missing Host field");
    if (hosts == 1) {
      const std::string_view host = *head.headers.get("host");
      if (!isValidAuthority(host, /*require_port=*/false)) return fail(400, "invalid Host");
      // An absolute-form or authority-form target wins over Host (RFC 9112 §3.2.2).
      if (head.authority.empty()) head.authority.assign(host);
    }

    if (hasUnderscoreFramingName(head.headers)) return fail(400, "ambiguous framing field name");

    const bool flag_chunked = (parser_.flags & F_CHUNKED) != 0;
    switch (classifyTransferEncoding(head.headers)) {
      case TransferCodings::kNone:
        break;
      case TransferCodings::kChunkedOnly:
        // Must agree with llhttp's own reading of the field, which frames the body.
        if (!flag_chunked) return fail(400, "invalid Transfer-Encoding");
        // An HTTP/1.0 message with Transfer-Encoding has faulty framing (RFC 9112 §6.1).
        if (head.version_minor == 0) return fail(400, "Transfer-Encoding in HTTP/1.0");
        break;
      case TransferCodings::kChunkedLast:
      case TransferCodings::kNotChunked:
        // Well-formed but not a coding the proxy can pass through unchanged. RFC 9112 allows
        // 501 here; 400 is used because these shapes ("xchunked", "gzip, chunked") are the
        // classic obfuscations of request smuggling, and the client must see them rejected
        // as malformed framing, the same as the other smuggling shapes.
        return fail(400, "unsupported Transfer-Encoding");
      case TransferCodings::kChunkedNotLast:
      case TransferCodings::kMalformed:
        return fail(400, "invalid Transfer-Encoding");
    }
    head.chunked = flag_chunked;
    if (parser_.flags & F_CONTENT_LENGTH) head.content_length = parser_.content_length;
    // A CONNECT body has no defined meaning and llhttp would hand it to the tunnel.
    if (connect && head.hasBody()) return fail(400, "CONNECT with a body");

    head.upgrade = parser_.upgrade != 0;
    head.keep_alive = llhttp_should_keep_alive(&parser_) != 0;
    if (head.version_minor >= 1) {
      const auto expect = head.headers.get("expect");
      head.expect_continue = expect && equalsIgnoreCase(*expect, "100-continue");
    }
    callbacks.onRequestHead(head);
    return 0;
  }

  void body(std::string_view data) override { callbacks.onRequestBody(data); }
  void trailers(HeaderMap& t) override { callbacks.onRequestTrailers(t); }

  int messageComplete() override {
    callbacks.onRequestComplete();
    // llhttp pauses with HPE_PAUSED_UPGRADE by itself after an upgrade/CONNECT request.
    if (parser_.upgrade) return 0;
    pause_ = Pause::kReport;
    return HPE_PAUSED;
  }

  uint16_t statusFor(llhttp_errno_t err) const override {
    switch (err) {
      case HPE_INVALID_VERSION:
        return 505;
      default:
        // Includes HPE_PAUSED_H2_UPGRADE: an HTTP/2 preface on an HTTP/1 listener.
        return 400;
    }
  }

  Callbacks& callbacks;
  RequestHead head;
};

RequestDecoder::RequestDecoder(Callbacks& callbacks, const DecoderLimits& limits)
    : impl_(std::make_unique<Impl>(callbacks, limits)) {}
RequestDecoder::~RequestDecoder() = default;

DecodeResult RequestDecoder::decode(const char* data, size_t len) {
  return impl_->run(data, len);
}
void RequestDecoder::resume() {
  impl_->resume();
}
bool RequestDecoder::idle() const {
  return impl_->idle();
}
bool RequestDecoder::headComplete() const {
  return impl_->headComplete();
}

}  // namespace weft::http
