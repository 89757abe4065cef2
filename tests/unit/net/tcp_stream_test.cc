// TcpStream on a real loop: reads, buffered writes, close semantics, watermarks, timers.
#include "net/tcp_stream.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "uv_test_loop.h"

namespace weft::net {
namespace {

using weft::testing::patternByte;
using weft::testing::TestLoop;

// What a TestStream saw; it outlives the stream (which deletes itself once closed).
struct Record {
  std::string received;
  int eofs = 0;
  int read_errors = 0;
  int write_errors = 0;
  int drained = 0;
  size_t queued_at_first_drain = 0;
  int timers = 0;
  int closed = 0;
};

class TestStream : public TcpStream {
 public:
  TestStream(uv_loop_t* loop, Record& record) : TcpStream(loop), r_(record) {}

 protected:
  void onRead(const char* data, size_t len) override { r_.received.append(data, len); }
  void onReadEof() override { ++r_.eofs; }
  void onReadError(int) override { ++r_.read_errors; }
  void onWriteError(int) override { ++r_.write_errors; }
  void onDrained() override {
    if (r_.drained++ == 0) r_.queued_at_first_drain = queuedBytes();
  }
  void onTimer() override { ++r_.timers; }
  void onClosed() override { ++r_.closed; }

 private:
  Record& r_;
};

// The peer of the stream under test: a plain non-blocking socket read with recv().
struct Peer {
  int fd = -1;
  uint64_t bytes = 0;      // bytes read so far
  bool pattern_ok = true;  // every byte read matched patternByte(offset)
  bool eof = false;
  int error = 0;

  ~Peer() {
    if (fd >= 0) ::close(fd);
  }
  // Reads whatever is available now; `check_pattern` verifies the bytes.
  void drain(bool check_pattern) {
    char buf[65536];
    for (;;) {
      ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n > 0) {
        for (ssize_t i = 0; check_pattern && i < n; ++i) {
          if (buf[i] != patternByte(bytes + i)) pattern_ok = false;
        }
        bytes += static_cast<uint64_t>(n);
        continue;
      }
      if (n == 0) eof = true;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) error = errno;
      return;
    }
  }
};

class TcpStreamTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (stream_ != nullptr && record_.closed == 0) stream_->close();
    if (reader_started_) {
      uv_close(reinterpret_cast<uv_handle_t*>(&reader_), nullptr);
    }
    EXPECT_EQ(loop_.shutdown(), 0);
  }

  // Connects a new TestStream to a plain accepted socket (peer_).
  void connectPair() {
    int lfd = weft::testing::rawListen();
    ASSERT_GE(lfd, 0);
    sockaddr_in a = weft::testing::loopback(weft::testing::localPort(lfd));
    stream_ = new TestStream(loop_.get(), record_);
    uv_connect_t req;
    int status = 1;
    req.data = &status;
    ASSERT_EQ(uv_tcp_connect(&req, stream_->tcp(), reinterpret_cast<const sockaddr*>(&a),
                             [](uv_connect_t* r, int s) { *static_cast<int*>(r->data) = s; }),
              0);
    EXPECT_TRUE(loop_.runUntil([&] { return status != 1; }));
    peer_.fd = accept(lfd, nullptr, nullptr);
    ::close(lfd);
    ASSERT_EQ(status, 0) << uv_strerror(status);
    ASSERT_GE(peer_.fd, 0);
    weft::testing::setNonBlocking(peer_.fd);
    stream_->startReading();
  }

  // From now on the peer reads (and checks the pattern of) everything it is sent.
  void startPeerReading() {
    uv_timer_init(loop_.get(), &reader_);
    reader_.data = &peer_;
    reader_started_ = true;
    uv_timer_start(
        &reader_, [](uv_timer_t* t) { static_cast<Peer*>(t->data)->drain(true); }, 1, 1);
  }

  // Queues `n` pattern bytes, flushing every megabyte; returns the number queued.
  uint64_t writePattern(uint64_t n, uint64_t offset = 0) {
    constexpr uint64_t kChunk = 1 << 20;
    for (uint64_t done = 0; done < n;) {
      uint64_t len = std::min(kChunk, n - done);
      std::string& out = stream_->out();
      for (uint64_t i = 0; i < len; ++i) out.push_back(patternByte(offset + done + i));
      stream_->flush();
      done += len;
    }
    return n;
  }

  TestLoop loop_;
  Record record_;
  TestStream* stream_ = nullptr;  // owned by itself once created
  Peer peer_;
  uv_timer_t reader_;
  bool reader_started_ = false;
};

TEST_F(TcpStreamTest, ReadsWhatThePeerSendsThenEof) {
  connectPair();
  ASSERT_EQ(send(peer_.fd, "hello ", 6, 0), 6);
  ASSERT_TRUE(loop_.runUntil([&] { return record_.received == "hello "; }));
  ASSERT_EQ(send(peer_.fd, "world", 5, 0), 5);
  shutdown(peer_.fd, SHUT_WR);
  ASSERT_TRUE(loop_.runUntil([&] { return record_.eofs == 1; }));
  EXPECT_EQ(record_.received, "hello world");
  EXPECT_EQ(record_.read_errors, 0);
  EXPECT_EQ(record_.closed, 0);  // EOF alone does not close
}

TEST_F(TcpStreamTest, NothingIsSentBeforeFlush) {
  connectPair();
  stream_->out() += "abc";
  EXPECT_EQ(stream_->queuedBytes(), 3u);
  loop_.runFor(20);
  peer_.drain(false);
  EXPECT_EQ(peer_.bytes, 0u);
  stream_->flush();
  EXPECT_TRUE(stream_->out().empty());
  ASSERT_TRUE(loop_.runUntil([&] {
    peer_.drain(false);
    return peer_.bytes == 3;
  }));
}

TEST_F(TcpStreamTest, BlockedReadingHoldsDataUntilUnblocked) {
  connectPair();
  stream_->blockReading(TcpStream::kBlockPipeline);
  stream_->blockReading(TcpStream::kBlockBackpressure);
  EXPECT_TRUE(stream_->readBlocked(TcpStream::kBlockPipeline));
  ASSERT_EQ(send(peer_.fd, "ping", 4, 0), 4);
  loop_.runFor(30);
  EXPECT_EQ(record_.received, "");
  stream_->unblockReading(TcpStream::kBlockPipeline);
  loop_.runFor(30);
  EXPECT_EQ(record_.received, "");  // still blocked for back-pressure
  EXPECT_FALSE(stream_->readBlocked(TcpStream::kBlockPipeline));
  stream_->unblockReading(TcpStream::kBlockBackpressure);
  ASSERT_TRUE(loop_.runUntil([&] { return record_.received == "ping"; }));
}

TEST_F(TcpStreamTest, CloseDropsUnflushedBytes) {
  connectPair();
  stream_->out() += "never sent";
  stream_->close();
  EXPECT_TRUE(stream_->closing());
  EXPECT_EQ(record_.closed, 1);
  stream_->close();  // idempotent
  EXPECT_EQ(record_.closed, 1);
  ASSERT_TRUE(loop_.runUntil([&] {
    peer_.drain(false);
    return peer_.eof;
  }));
  EXPECT_EQ(peer_.bytes, 0u);
}

TEST_F(TcpStreamTest, CloseAfterFlushDeliversEveryQueuedByte) {
  connectPair();
  // More than the kernel buffers hold while the peer does not read, so bytes stay queued.
  constexpr uint64_t kTotal = 16u << 20;
  writePattern(kTotal);
  ASSERT_GT(stream_->queuedBytes(), 0u);
  stream_->closeAfterFlush();
  EXPECT_EQ(record_.closed, 0);  // waits for the queue to drain
  EXPECT_FALSE(stream_->closing());
  EXPECT_TRUE(stream_->readBlocked(TcpStream::kBlockDraining));

  startPeerReading();
  ASSERT_TRUE(loop_.runUntil([&] { return peer_.eof || peer_.error != 0; }, 1800));
  EXPECT_EQ(peer_.error, 0);
  EXPECT_EQ(peer_.bytes, kTotal);
  EXPECT_TRUE(peer_.pattern_ok);
  EXPECT_EQ(record_.closed, 1);
  EXPECT_EQ(record_.drained, 0);  // closing, not draining for more writes
  EXPECT_EQ(record_.write_errors, 0);
}

TEST_F(TcpStreamTest, SharedWriteKeepsOrderAndItsBufferAlive) {
  connectPair();
  // A head in out(), then a shared body larger than the kernel buffers, then more bytes: the
  // peer gets them in that order, and the body outlives the caller's reference.
  constexpr uint64_t kHead = 1000;
  constexpr uint64_t kBody = 8u << 20;
  writePattern(kHead);
  auto body = std::make_shared<std::string>();
  for (uint64_t i = 0; i < kBody; ++i) body->push_back(patternByte(kHead + i));
  std::weak_ptr<std::string> weak = body;
  stream_->writeShared(std::move(body));
  writePattern(kHead, kHead + kBody);
  EXPECT_FALSE(weak.expired()) << "still queued while the peer does not read";
  stream_->closeAfterFlush();
  startPeerReading();
  ASSERT_TRUE(loop_.runUntil([&] { return peer_.eof || peer_.error != 0; }, 1800));
  EXPECT_EQ(peer_.bytes, kBody + 2 * kHead);
  EXPECT_TRUE(peer_.pattern_ok);
  EXPECT_TRUE(weak.expired()) << "released once written";
  EXPECT_EQ(record_.write_errors, 0);
}

TEST_F(TcpStreamTest, CloseAfterFlushWithSmallPayload) {
  connectPair();
  stream_->out() += "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
  stream_->closeAfterFlush();
  EXPECT_EQ(record_.closed, 1);  // written at once, closed at once
  std::string got;
  ASSERT_TRUE(loop_.runUntil([&] {
    char buf[256];
    ssize_t n = recv(peer_.fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) got.append(buf, static_cast<size_t>(n));
    return n == 0;
  }));
  EXPECT_EQ(got, "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
}

TEST_F(TcpStreamTest, HighWatermarkThenDrainedOnceThePeerReads) {
  connectPair();
  uint64_t written = 0;
  while (!stream_->aboveHighWatermark() && written < (64u << 20)) {
    written += writePattern(1u << 20, written);
  }
  ASSERT_TRUE(stream_->aboveHighWatermark()) << "kernel took " << written << " bytes";
  EXPECT_GT(stream_->queuedBytes(), TcpStream::kHighWatermark);

  // The peer does not read: nothing drains.
  loop_.runFor(50);
  EXPECT_TRUE(stream_->aboveHighWatermark());
  EXPECT_EQ(record_.drained, 0);

  startPeerReading();
  ASSERT_TRUE(loop_.runUntil([&] { return record_.drained > 0; }));
  EXPECT_LT(record_.queued_at_first_drain, TcpStream::kLowWatermark);
  EXPECT_FALSE(stream_->aboveHighWatermark());
  ASSERT_TRUE(loop_.runUntil([&] { return peer_.bytes == written; }));
  EXPECT_TRUE(peer_.pattern_ok);
  EXPECT_EQ(stream_->queuedBytes(), 0u);
  EXPECT_EQ(record_.write_errors, 0);
}

TEST_F(TcpStreamTest, ResetIsSeenAsConnectionReset) {
  connectPair();
  stream_->reset();
  EXPECT_EQ(record_.closed, 1);
  ASSERT_TRUE(loop_.runUntil([&] {
    peer_.drain(false);
    return peer_.eof || peer_.error != 0;
  }));
  EXPECT_EQ(peer_.error, ECONNRESET);
}

TEST_F(TcpStreamTest, WriteToClosedPeerReportsError) {
  connectPair();
  ::close(peer_.fd);  // unread data is not pending, so this is a FIN; the next send gets a RST
  peer_.fd = -1;
  ASSERT_TRUE(loop_.runUntil([&] { return record_.eofs == 1; }));
  ASSERT_TRUE(loop_.runUntil([&] {
    stream_->out() += "x";
    stream_->flush();
    return record_.write_errors > 0;
  }));
}

TEST_F(TcpStreamTest, TimerFiresOnceAndCanBeDisarmed) {
  connectPair();
  stream_->armTimer(20);
  ASSERT_TRUE(loop_.runUntil([&] { return record_.timers == 1; }));
  loop_.runFor(50);
  EXPECT_EQ(record_.timers, 1);

  stream_->armTimer(20);
  stream_->disarmTimer();
  loop_.runFor(60);
  EXPECT_EQ(record_.timers, 1);

  // Re-arming restarts the countdown.
  stream_->armTimer(40);
  loop_.runFor(20);
  stream_->armTimer(40);
  loop_.runFor(30);
  EXPECT_EQ(record_.timers, 1);
  ASSERT_TRUE(loop_.runUntil([&] { return record_.timers == 2; }));
}

TEST_F(TcpStreamTest, PeerAddress) {
  connectPair();
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  ASSERT_EQ(getsockname(peer_.fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  EXPECT_EQ(stream_->peerAddress(), "127.0.0.1:" + std::to_string(ntohs(a.sin_port)));
}

}  // namespace
}  // namespace weft::net
