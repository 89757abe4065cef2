// ParserCore: llhttp callbacks -> accumulated header fields, limits, pauses and sticky errors.
#include "http/parser_core.h"

#include <algorithm>

namespace weft::http {

namespace {

ParserCore& core(llhttp_t* p) {
  return *static_cast<ParserCore*>(p->data);
}

int cbMessageBegin(llhttp_t* p) {
  return core(p).onMessageBegin();
}
int cbFirstLine(llhttp_t* p, const char* at, size_t len) {
  return core(p).onFirstLineSpan(at, len);
}
int cbHeaderField(llhttp_t* p, const char* at, size_t len) {
  return core(p).onHeaderField(at, len);
}
int cbHeaderFieldComplete(llhttp_t* p) {
  return core(p).onHeaderFieldComplete();
}
int cbHeaderValue(llhttp_t* p, const char* at, size_t len) {
  return core(p).onHeaderValue(at, len);
}
int cbHeaderValueComplete(llhttp_t* p) {
  return core(p).onHeaderValueComplete();
}
int cbHeadersComplete(llhttp_t* p) {
  return core(p).onHeadersCompleteCb();
}
int cbBody(llhttp_t* p, const char* at, size_t len) {
  return core(p).onBodyCb(at, len);
}
int cbChunkHeader(llhttp_t* p) {
  return core(p).onChunkHeader();
}
int cbMessageComplete(llhttp_t* p) {
  return core(p).onMessageCompleteCb();
}

// llhttp keeps a pointer to its settings for the parser's whole life: one immutable table for
// every parser; per-connection state travels in llhttp_t::data.
const llhttp_settings_t kSettings = [] {
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_message_begin = cbMessageBegin;
  s.on_url = cbFirstLine;
  s.on_status = cbFirstLine;
  s.on_header_field = cbHeaderField;
  s.on_header_field_complete = cbHeaderFieldComplete;
  s.on_header_value = cbHeaderValue;
  s.on_header_value_complete = cbHeaderValueComplete;
  s.on_headers_complete = cbHeadersComplete;
  s.on_body = cbBody;
  s.on_chunk_header = cbChunkHeader;
  s.on_message_complete = cbMessageComplete;
  return s;
}();

// Result of scanning backwards over SP/HTAB from the end of `bytes`.
enum class Before : uint8_t { kLineFeed, kOther, kStart };

Before scanBack(const char* begin, const char* end) {
  while (end != begin) {
    const char c = *--end;
    if (c == '\n') return Before::kLineFeed;
    if (c != ' ' && c != '\t') return Before::kOther;
  }
  return Before::kStart;
}

bool hasForbiddenValueByte(std::string_view v) {
  // A plain loop: find_first_of with a set calls memchr once per byte of the value.
  for (const char c : v) {
    if (c == '\0' || c == '\r' || c == '\n') return true;
  }
  return false;
}

}  // namespace

ParserCore::ParserCore(llhttp_type_t type, const DecoderLimits& limits) : limits_(limits) {
  // No llhttp_set_lenient_* call anywhere: each one re-opens a smuggling vector.
  llhttp_init(&parser_, type, &kSettings);
  parser_.data = this;
}

DecodeResult ParserCore::run(const char* data, size_t len) {
  switch (state_) {
    case State::kError:
      return error_;
    case State::kUpgraded:
      return {DecodeStatus::kUpgrade, 0};
    case State::kPaused:
      // The caller has not resumed after the last message: nothing more is parsed.
      return {DecodeStatus::kMessageComplete, 0};
    case State::kRunning:
      break;
  }
  size_t off = 0;
  while (off < len) {
    size_t n = len - off;
    const bool in_head = !head_complete_;
    if (in_head) {
      // Never let llhttp see more head bytes than the limit allows: that bounds the head
      // exactly, including whitespace that reaches no callback.
      if (head_bytes_ >= limits_.max_header_bytes) {
        fail(431, "header section too large");
        return errorResult(off);
      }
      n = std::min(n, limits_.max_header_bytes - head_bytes_);
    }
    slice_ = data + off;
    const llhttp_errno_t err = llhttp_execute(&parser_, slice_, n);
    size_t used = n;
    if (err != HPE_OK) {
      const char* pos = llhttp_get_error_pos(&parser_);
      used = (pos >= slice_ && pos <= slice_ + n) ? static_cast<size_t>(pos - slice_) : 0;
    }
    updateLfTail(slice_, used);
    if (in_head && !head_complete_) head_bytes_ += used;
    off += used;
    switch (err) {
      case HPE_OK:
        break;
      case HPE_PAUSED:
        if (pause_ == Pause::kContinue) {
          // An interim response: the final one follows in the same byte stream.
          llhttp_resume(&parser_);
          head_complete_ = false;
          head_bytes_ = 0;
          break;
        }
        state_ = State::kPaused;
        return {DecodeStatus::kMessageComplete, off};
      case HPE_PAUSED_UPGRADE:
        state_ = State::kUpgraded;
        return {DecodeStatus::kUpgrade, off};
      default:
        return setError(err, off);
    }
  }
  return {DecodeStatus::kNeedMore, len};
}

void ParserCore::resume() {
  if (state_ != State::kPaused) return;
  llhttp_resume(&parser_);
  state_ = State::kRunning;
  head_complete_ = false;
  head_bytes_ = 0;
}

void ParserCore::updateLfTail(const char* data, size_t len) {
  switch (scanBack(data, data + len)) {
    case Before::kLineFeed:
      lf_tail_ = true;
      break;
    case Before::kOther:
      lf_tail_ = false;
      break;
    case Before::kStart:
      break;  // only whitespace (or nothing): the earlier tail still decides
  }
}

int ParserCore::fail(uint16_t status, const char* reason) {
  if (error_status_ == 0) {
    error_status_ = status;
    error_reason_ = reason;
  }
  return -1;
}

DecodeResult ParserCore::errorResult(size_t consumed) {
  state_ = State::kError;
  // A broken response is answered downstream with 502 whatever the cause; the reason keeps
  // the detail for logs.
  const uint16_t status = parser_.type == HTTP_RESPONSE ? 502 : error_status_;
  error_ = DecodeResult{DecodeStatus::kError, consumed, status, error_reason_};
  return error_;
}

DecodeResult ParserCore::setError(llhttp_errno_t err, size_t consumed) {
  if (error_status_ == 0) {
    error_status_ = statusFor(err);
    const char* reason = llhttp_get_error_reason(&parser_);
    error_reason_ = reason != nullptr ? reason : llhttp_errno_name(err);
  }
  return errorResult(consumed);
}

int ParserCore::onMessageBegin() {
  in_message_ = true;
  head_complete_ = false;
  in_trailers_ = false;
  header_count_ = 0;
  trailer_bytes_ = 0;
  field_.clear();
  value_.clear();
  trailers_.clear();
  beginMessage();
  return 0;
}

int ParserCore::onFirstLineSpan(const char* at, size_t len) {
  appendFirstLine({at, len});
  return 0;
}

bool ParserCore::keepTrailerBytes(size_t len) {
  if (!in_trailers_) return true;
  trailer_bytes_ += len;
  return trailer_bytes_ <= limits_.max_header_bytes;
}

bool ParserCore::trailersTooLarge() const {
  return in_trailers_ && trailer_bytes_ > limits_.max_header_bytes;
}

int ParserCore::onHeaderField(const char* at, size_t len) {
  // Past the trailer limit the bytes are dropped, and the 431 waits for the end of the token:
  // failing mid-token would make the verdict depend on where reads happen to split it.
  if (keepTrailerBytes(len)) field_.append(at, len);
  return 0;
}

int ParserCore::onHeaderFieldComplete() {
  if (trailersTooLarge()) return fail(431, "trailer section too large");
  if (++header_count_ > limits_.max_headers) {
    return fail(431, in_trailers_ ? "too many trailer fields" : "too many header fields");
  }
  if (field_.empty()) return fail(400, "empty field name");
  return 0;
}

int ParserCore::onHeaderValue(const char* at, size_t len) {
  // A value span preceded (across whitespace) by a line break is an obs-fold continuation
  // line (RFC 9112 §5.2); llhttp 8.1.0 accepts it even in strict mode. The whitespace matters
  // for an empty first line ("X:\r\n two"), where llhttp skips it as leading OWS.
  // An empty value is reported as a zero-length span placed after its CRLF: not a fold.
  if (len == 0) return 0;
  Before before = scanBack(slice_, at);
  if (before == Before::kStart) before = lf_tail_ ? Before::kLineFeed : Before::kOther;
  if (before == Before::kLineFeed) return fail(400, "obsolete line folding");
  if (keepTrailerBytes(len)) value_.append(at, len);
  return 0;
}

int ParserCore::onHeaderValueComplete() {
  if (trailersTooLarge()) return fail(431, "trailer section too large");
  // llhttp skips leading OWS but hands over trailing SP/HTAB as part of the value.
  while (!value_.empty() && (value_.back() == ' ' || value_.back() == '\t')) value_.pop_back();
  if (hasForbiddenValueByte(value_)) return fail(400, "invalid byte in field value");
  (in_trailers_ ? trailers_ : headers()).add(field_, value_);
  field_.clear();
  value_.clear();
  return 0;
}

int ParserCore::onHeadersCompleteCb() {
  head_complete_ = true;
  return headersComplete();
}

int ParserCore::onBodyCb(const char* at, size_t len) {
  body({at, len});
  return 0;
}

int ParserCore::onChunkHeader() {
  if (parser_.content_length == 0) {
    // After the last chunk, llhttp reports trailer fields through the header callbacks.
    in_trailers_ = true;
    header_count_ = 0;
  }
  return 0;
}

int ParserCore::onMessageCompleteCb() {
  if (in_trailers_ && !trailers_.empty()) trailers(trailers_);
  in_message_ = false;
  return messageComplete();
}

}  // namespace weft::http
