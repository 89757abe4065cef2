// HTTP/1.1 codec: llhttp (compiled in strict mode) turned into head/body/trailer events, plus
// the encoders that write heads and chunked framing back out.
//
// Decoders never buffer a body: body bytes are handed to the callbacks as they arrive. Every
// decoder pauses after each complete message so the connection can answer pipelined requests
// in order; `resume()` continues with the bytes that follow.
//
// Security: Debian's llhttp 8.1.0 lacks the CVE-2023-30589 and CVE-2024-27982 fixes. Strict
// mode closes the first; the decoder rejects obs-fold itself (RFC 9112 §5.2) for the second.
// Every lenient flag stays off. Request-smuggling shapes (CL+TE, differing duplicate CL,
// obfuscated TE, bare LF, bad chunk sizes, NUL/CR in values) are errors: status 400.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "http/message.h"

namespace weft::http {

struct DecoderLimits {
  size_t max_header_bytes = 60 * 1024;  // request line/status line + header section; 431 past it
  size_t max_headers = 100;             // header fields; 431 past it
};

// How one call to decode() ended.
enum class DecodeStatus : uint8_t {
  kNeedMore,         // all bytes consumed; the message goes on in later reads
  kMessageComplete,  // one message ended at `consumed`; call resume() before decoding more
  kUpgrade,          // the head asked for an upgrade/CONNECT (or 101 answered it); bytes from
                     // `consumed` on belong to the tunnel, not to HTTP
  kError,            // malformed or over a limit: answer `http_status` and close the connection
};

struct DecodeResult {
  DecodeStatus status = DecodeStatus::kNeedMore;
  size_t consumed = 0;       // bytes of the input used
  uint16_t http_status = 0;  // with kError: 400, 413, 431, 501...
  const char* reason = "";   // with kError: a short static text for logs and the error body
};

// Server side: decodes requests arriving from a client.
class RequestDecoder {
 public:
  struct Callbacks {
    virtual ~Callbacks() = default;
    // The head is complete. The reference stays valid until the message completes.
    virtual void onRequestHead(RequestHead& head) = 0;
    virtual void onRequestBody(std::string_view data) = 0;
    // Trailer fields of a chunked body (only called when there are some).
    virtual void onRequestTrailers(HeaderMap& trailers) = 0;
    virtual void onRequestComplete() = 0;
  };

  RequestDecoder(Callbacks& callbacks, const DecoderLimits& limits);
  ~RequestDecoder();
  RequestDecoder(const RequestDecoder&) = delete;
  RequestDecoder& operator=(const RequestDecoder&) = delete;

  DecodeResult decode(const char* data, size_t len);
  // Ready for the next message after kMessageComplete.
  void resume();
  // True while no byte of a new message has been seen (a clean place to close a keep-alive
  // connection, and to tell "idle" from "slow client" for the header-read timeout).
  bool idle() const;
  // True once the head of the current message is complete.
  bool headComplete() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Client side: decodes responses arriving from an upstream.
class ResponseDecoder {
 public:
  struct Callbacks {
    virtual ~Callbacks() = default;
    // An interim 1xx response other than 101 (e.g. 100 Continue); the final one follows.
    virtual void onInformational(ResponseHead& head) = 0;
    virtual void onResponseHead(ResponseHead& head) = 0;
    virtual void onResponseBody(std::string_view data) = 0;
    virtual void onResponseTrailers(HeaderMap& trailers) = 0;
    virtual void onResponseComplete() = 0;
  };

  ResponseDecoder(Callbacks& callbacks, const DecoderLimits& limits);
  ~ResponseDecoder();
  ResponseDecoder(const ResponseDecoder&) = delete;
  ResponseDecoder& operator=(const ResponseDecoder&) = delete;

  // Must be called before the response to each request arrives: HEAD answers have no body,
  // a 2xx answer to CONNECT starts a tunnel.
  void expectResponseTo(std::string_view request_method);
  DecodeResult decode(const char* data, size_t len);
  // The upstream closed the connection: completes a body delimited by close, or reports an
  // error (truncated message). Returns kMessageComplete, kNeedMore (nothing was in progress)
  // or kError.
  DecodeResult finish();
  void resume();
  bool idle() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// === Encoders (append to `out`) ===

// Request line + header fields + blank line. The head's headers are written as they are: the
// caller has already set the framing headers (Content-Length / Transfer-Encoding) it wants.
void encodeRequestHead(const RequestHead& head, std::string& out);
// Status line + header fields + blank line.
void encodeResponseHead(const ResponseHead& head, std::string& out);
// One chunk of a chunked body (nothing for empty data: an empty chunk would end the body).
void encodeChunk(std::string_view data, std::string& out);
// The last chunk, then trailer fields (may be null), then the final CRLF.
void encodeLastChunk(const HeaderMap* trailers, std::string& out);

// Removes hop-by-hop fields (RFC 9110 §7.6.1): Connection and every field it names,
// Keep-Alive, Proxy-Connection, Proxy-Authorization, TE, Trailer, Transfer-Encoding, Upgrade.
// With keep_upgrade, Upgrade and a "Connection: upgrade" are kept (for a tunnel being set up).
void removeHopByHopHeaders(HeaderMap& headers, bool keep_upgrade);

// Reason phrase for a status code ("OK", "Not Found", ...); "Unknown" when not standard.
const char* reasonPhrase(uint16_t status);

}  // namespace weft::http
