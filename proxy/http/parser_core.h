// ParserCore: the llhttp driver shared by RequestDecoder and ResponseDecoder.
//
// It owns the llhttp state, the one static settings table, header/trailer accumulation
// (callbacks may deliver a token in several pieces), obs-fold rejection, the header-size and
// header-count limits, pause/resume bookkeeping and sticky errors. The request and response
// decoders add only what differs: how a head is validated and which user callbacks fire.
#pragma once

#include <llhttp.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "http/codec.h"
#include "http/header_map.h"

namespace weft::http {

class ParserCore {
 public:
  ParserCore(llhttp_type_t type, const DecoderLimits& limits);
  virtual ~ParserCore() = default;
  ParserCore(const ParserCore&) = delete;
  ParserCore& operator=(const ParserCore&) = delete;

  // Feeds bytes to llhttp until they run out, a message completes, an upgrade starts or an
  // error occurs.
  DecodeResult run(const char* data, size_t len);
  void resume();
  bool idle() const { return !in_message_ && !awaiting_final_; }
  bool headComplete() const { return head_complete_; }

  // Callback entry points (called from the static llhttp settings).
  int onMessageBegin();
  int onFirstLineSpan(const char* at, size_t len);
  int onHeaderField(const char* at, size_t len);
  int onHeaderFieldComplete();
  int onHeaderValue(const char* at, size_t len);
  int onHeaderValueComplete();
  int onHeadersCompleteCb();
  int onBodyCb(const char* at, size_t len);
  int onChunkHeader();
  int onMessageCompleteCb();

 protected:
  enum class State : uint8_t { kRunning, kPaused, kUpgraded, kError };
  // How on_message_complete paused the parser.
  enum class Pause : uint8_t { kReport, kContinue };

  // Records an error found by the decoder itself; the callback then returns -1.
  int fail(uint16_t status, const char* reason);
  void updateLfTail(const char* data, size_t len);
  // Counts trailer bytes; false once over the limit (the caller then stops accumulating).
  bool keepTrailerBytes(size_t len);
  bool trailersTooLarge() const;
  DecodeResult errorResult(size_t consumed);
  DecodeResult setError(llhttp_errno_t err, size_t consumed);

  // --- What the request/response decoders provide ---
  virtual void beginMessage() = 0;
  // Request-target (requests) or reason phrase (responses), possibly in pieces.
  virtual void appendFirstLine(std::string_view piece) = 0;
  virtual HeaderMap& headers() = 0;
  // Validates the head and fires the head callback; returns an on_headers_complete code
  // (0 body follows, 1 no body, 2 no body then upgrade) or fail(...).
  virtual int headersComplete() = 0;
  virtual void body(std::string_view data) = 0;
  virtual void trailers(HeaderMap& trailers) = 0;
  // Fires the completion callback; returns 0 to let llhttp pause for an upgrade, or
  // HPE_PAUSED after setting pause_.
  virtual int messageComplete() = 0;
  // Status for an error llhttp itself found.
  virtual uint16_t statusFor(llhttp_errno_t err) const = 0;

  llhttp_t parser_;
  const DecoderLimits limits_;
  State state_ = State::kRunning;
  Pause pause_ = Pause::kReport;
  bool in_message_ = false;
  bool head_complete_ = false;
  // A 1xx arrived; the final response is still to come (responses only).
  bool awaiting_final_ = false;

 private:
  // Bytes of the current head seen so far (request/status line and header section).
  size_t head_bytes_ = 0;
  size_t header_count_ = 0;
  size_t trailer_bytes_ = 0;
  bool in_trailers_ = false;
  // Obs-fold detection looks at the bytes before a value span, which may lie in earlier
  // reads: `lf_tail_` says whether everything passed to llhttp so far ends in LF *(SP/HTAB).
  const char* slice_ = nullptr;
  bool lf_tail_ = false;
  std::string field_;
  std::string value_;
  HeaderMap trailers_;
  uint16_t error_status_ = 0;
  const char* error_reason_ = "";
  DecodeResult error_;
};

}  // namespace weft::http
