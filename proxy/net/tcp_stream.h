// TcpStream: one TCP connection on a worker's libuv loop, with buffered writes, counted
// read-disable and watermark back-pressure. The base of downstream and upstream connections.
//
// Ownership: a TcpStream is heap-allocated and owns itself once open. close() asks libuv to
// close its handles; the object deletes itself when libuv has finished with all of them, so
// every pointer to it must be dropped in onClosed().
//
// Back-pressure vocabulary (after Envoy's flow control): bytes appended with out() and
// flush()ed but not yet taken by the kernel are "queued". Above kHighWatermark the owner of
// the *other* side stops reading (blockReading(kBackpressure)); when the queue falls under
// kLowWatermark, onDrained() tells it to read again.
//
// Transport (TLS): setTransport() puts a filter between the socket and the subclass. Reads go
// through it before onRead() (which then sees plaintext only), and out()/flush()/writeShared()
// go through it before the socket, so the HTTP code is the same with and without TLS. Bytes
// appended to out() before the handshake completes are held back and sent once it has.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "net/transport.h"

namespace weft::net {

class TcpStream {
 public:
  static constexpr size_t kHighWatermark = 256 * 1024;
  static constexpr size_t kLowWatermark = 64 * 1024;
  static constexpr size_t kReadBufferSize = 64 * 1024;

  // Reasons to stop reading; reading runs only while none is set.
  enum ReadBlock : uint8_t {
    kBlockBackpressure = 1,  // the peer's write queue is above its high watermark
    kBlockPipeline = 2,      // a request is in flight; later pipelined ones wait
    kBlockDraining = 4,      // the connection is closing
  };

  explicit TcpStream(uv_loop_t* loop);
  virtual ~TcpStream() = default;
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;

  uv_tcp_t* tcp() { return &tcp_; }
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }
  uv_loop_t* loop() const { return tcp_.loop; }

  // Starts reading (after accept or connect).
  void startReading();
  void blockReading(ReadBlock reason);
  void unblockReading(ReadBlock reason);
  bool readBlocked(ReadBlock reason) const { return (read_blocks_ & reason) != 0; }

  // Bytes to send: append to out(), then flush(). Nothing is sent before flush().
  std::string& out() { return out_; }
  void flush();
  // Flushes out(), then sends `data` without copying it: the stream keeps a reference until
  // the bytes are written (one large body answered to many connections).
  void writeShared(std::shared_ptr<const std::string> data);
  size_t queuedBytes() const;
  bool aboveHighWatermark() const { return queuedBytes() > kHighWatermark; }

  // Closes now; queued bytes not yet written are dropped. Safe to call more than once.
  void close();
  // Sends what is queued, then closes (used after an error response). With a transport: after
  // its handshake completes, and ending with its close_notify.
  void closeAfterFlush();
  // Closes with a TCP RST (the peer sees a reset, not a clean end).
  void reset();
  bool closing() const { return closing_; }

  // One general-purpose timer per connection, for the owner's timeouts.
  void armTimer(uint64_t timeout_ms);
  void disarmTimer();

  // "ip:port" of the peer (empty if unknown).
  std::string peerAddress() const;

  // Runs `transport` between the socket and this stream's reads and writes from now on (after
  // accept or connect, before the first byte is read or written). Starts its handshake.
  void setTransport(std::unique_ptr<Transport> transport);
  Transport* transport() const { return transport_.get(); }

 protected:
  virtual void onRead(const char* data, size_t len) = 0;
  virtual void onReadEof() = 0;
  virtual void onReadError(int uv_error) = 0;
  virtual void onWriteError(int /*uv_error*/) {}
  virtual void onDrained() {}
  virtual void onTimer() {}
  virtual void onClosed() {}
  // Bytes already read (before a transport was attached, e.g. sniffed to choose it) handed to
  // the transport as if just read from the socket.
  void receiveThroughTransport(const char* data, size_t len) { onWireRead(data, len); }
  // The transport's handshake completed (held-back out() bytes are flushed right after).
  virtual void onTransportReady() {}
  // The transport failed (handshake refused, corrupt record). Its alert has been queued; the
  // default closes once that is written. A clean close_notify from the peer is onReadEof().
  virtual void onTransportFailure(const std::string& /*reason*/) { closeAfterFlush(); }

 public:
  struct WriteRequest;  // internal: a uv_write_t with its buffer, recycled per thread

 private:
  static void allocCb(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void readCb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void writeCb(uv_write_t* req, int status);
  static void closeCb(uv_handle_t* h);
  static void timerCb(uv_timer_t* t);
  void updateReading();
  void beginClose();
  // Writes `buf` (try_write, then a recycled write request for the rest); `buf` is left empty
  // unless the write failed.
  void sendBuffer(std::string& buf);
  void onWireRead(const char* data, size_t len);

  uv_tcp_t tcp_;
  uv_timer_t timer_;
  std::string out_;
  std::unique_ptr<Transport> transport_;
  std::string wire_;            // transport output not yet handed to libuv (empty between calls)
  bool transport_eof_ = false;  // the transport reported the peer's clean end
  bool close_after_handshake_ = false;
  uint8_t read_blocks_ = 0;
  bool reading_started_ = false;
  bool reading_ = false;
  bool closing_ = false;
  bool close_after_flush_ = false;
  int open_handles_ = 2;
};

}  // namespace weft::net
