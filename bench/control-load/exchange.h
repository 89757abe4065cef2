// Exchange: one HTTP/1.1 request on a connection of its own (`Connection: close`), as the
// sidecar's control-plane client makes every call. Used by the control-plane load tool for the
// registrations, long-polls, acks and deregistrations of its simulated sidecars.
//
// Why not net::TcpStream: its read buffer is 64 KiB, and a config answer is ~1.5 MB times
// 1,000 sidecars at once; here every connection reads into one shared 1 MiB buffer, so a whole
// answer takes two or three reads. Nothing of a body is kept but its length and its last bytes
// (where the JSON's "version" is, keys being sorted).
//
// Ownership: an Exchange is heap-allocated and deletes itself once libuv has closed its handle.
// The owner learns the outcome exactly once through Owner::onExchangeDone(), unless it calls
// abort() first (then it hears nothing more).
#pragma once

#include <uv.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/codec.h"

namespace weft::bench {

struct ExchangeResult {
  // 0: transport failure (connect, reset, truncated or malformed answer); see `error`.
  uint16_t status = 0;
  std::string error;
  uint64_t body_bytes = 0;
  // The x-weft-version response header, when the server sent one.
  std::optional<uint64_t> version_header;
  // The last bytes of the body (kTailBytes at most); for a non-2xx answer, its first bytes.
  std::string tail;
  // CLOCK_REALTIME when the last byte of the answer was decoded.
  double completed_at = 0;
};

class Exchange final : private http::ResponseDecoder::Callbacks {
 public:
  static constexpr size_t kTailBytes = 64;
  static constexpr size_t kErrorBodyBytes = 200;
  static constexpr size_t kReadBufferSize = 1024 * 1024;

  class Owner {
   public:
    virtual ~Owner() = default;
    virtual void onExchangeDone(Exchange& exchange, ExchangeResult& result) = 0;
  };

  // Connects to `server` and sends `request` (a whole encoded request). Never null; the owner
  // is never called back from inside start(), even when the connection cannot be opened.
  static Exchange* start(uv_loop_t* loop, const sockaddr_storage& server, std::string request,
                         std::string_view method, Owner& owner);

  // Closes the connection; the owner hears nothing more.
  void abort();

 private:
  Exchange(uv_loop_t* loop, std::string request, std::string_view method, Owner& owner);
  ~Exchange() override = default;

  static void connectCb(uv_connect_t* req, int status);
  static void writeCb(uv_write_t* req, int status);
  static void allocCb(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void readCb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void closeCb(uv_handle_t* h);

  void onData(const char* data, size_t len);
  void onEof();
  void fail(std::string error);
  void finish();  // tells the owner, then closes
  void close();

  // http::ResponseDecoder::Callbacks
  void onInformational(http::ResponseHead&) override {}
  void onResponseHead(http::ResponseHead& head) override;
  void onResponseBody(std::string_view data) override;
  void onResponseTrailers(http::HeaderMap&) override {}
  void onResponseComplete() override;

  uv_tcp_t tcp_;
  uv_connect_t connect_req_;
  uv_write_t write_req_;
  std::string request_;
  http::ResponseDecoder decoder_;
  ExchangeResult result_;
  Owner* owner_;
  bool keep_tail_ = true;  // 2xx: keep the body's end; else its start (for the error text)
  bool closing_ = false;
  bool report_on_close_ = false;  // uv_tcp_connect failed: tell the owner from closeCb
};

// Wall-clock seconds (CLOCK_REALTIME) with microseconds.
double realtimeNow();

}  // namespace weft::bench
