// Test helpers: a libuv loop run in bounded steps, and plain-socket utilities on 127.0.0.1.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>
#include <csignal>

#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>

namespace weft::testing {

class TestLoop {
 public:
  TestLoop() {
    signal(SIGPIPE, SIG_IGN);  // as weft-proxy's main() does: write errors come back as EPIPE
    uv_loop_init(&loop_);
    uv_timer_init(&loop_, &tick_);
  }
  ~TestLoop() {
    if (!closed_) shutdown();
  }
  TestLoop(const TestLoop&) = delete;
  TestLoop& operator=(const TestLoop&) = delete;

  uv_loop_t* get() { return &loop_; }

  // Runs the loop until `done()` holds or `timeout_ms` passes; returns done().
  bool runUntil(const std::function<bool()>& done, int timeout_ms = 1500) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    uv_timer_start(
        &tick_, [](uv_timer_t*) {}, 1, 1);  // bounds each UV_RUN_ONCE
    while (!done() && std::chrono::steady_clock::now() < deadline) uv_run(&loop_, UV_RUN_ONCE);
    uv_timer_stop(&tick_);
    return done();
  }

  void runFor(int ms) {
    runUntil([] { return false; }, ms);
  }

  // Closes the helper's own handle, runs until every handle is closed (bounded), then closes
  // the loop. Returns uv_loop_close's result (0, or UV_EBUSY if a handle was left open).
  int shutdown() {
    closed_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1000);
    while (uv_loop_alive(&loop_) && std::chrono::steady_clock::now() < deadline) {
      if (uv_run(&loop_, UV_RUN_NOWAIT) != 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    uv_walk(
        &loop_,
        [](uv_handle_t* h, void*) {
          ADD_FAILURE() << "handle left open: " << uv_handle_type_name(uv_handle_get_type(h));
        },
        nullptr);
    return uv_loop_close(&loop_);
  }

 private:
  uv_loop_t loop_;
  uv_timer_t tick_;
  bool closed_ = false;
};

inline sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  uv_ip4_addr("127.0.0.1", port, &a);
  return a;
}

inline uint16_t localPort(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return 0;
  return ntohs(a.sin_port);
}

// A blocking listening socket on 127.0.0.1:0 (no SO_REUSEPORT); -1 on error.
inline int rawListen() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = loopback(0);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd, 16) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

// A port on 127.0.0.1 that nothing listens on (bound briefly, then released).
inline uint16_t closedPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = loopback(0);
  uint16_t port = 0;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) port = localPort(fd);
  if (fd >= 0) ::close(fd);
  return port;
}

inline void setNonBlocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// A byte of the test pattern at stream offset `i` (period 251, so misordering shows).
inline char patternByte(uint64_t i) {
  return static_cast<char>((i * 31 + 7) % 251);
}

}  // namespace weft::testing
