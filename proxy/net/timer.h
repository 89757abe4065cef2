// Timer: a one-shot libuv timer that its owner can destroy at any time.
//
// The uv_timer_t lives on the heap and is freed by libuv's close callback, so an object that
// owns several timers (a connection with a route timeout and a per-try timeout) is not held
// alive by them: destroying the Timer stops it and hands the handle to libuv to free.
#pragma once

#include <uv.h>

#include <cstdint>

namespace weft::net {

class Timer {
 public:
  // `fire(owner)` is called on expiry (never after cancel() or destruction).
  using Callback = void (*)(void* owner);

  Timer(uv_loop_t* loop, Callback fire, void* owner);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void arm(uint64_t timeout_ms);
  void cancel();
  bool armed() const { return armed_; }

 private:
  static void timerCb(uv_timer_t* t);
  uv_timer_t* handle_;
  Callback fire_;
  void* owner_;
  bool armed_ = false;
};

}  // namespace weft::net
