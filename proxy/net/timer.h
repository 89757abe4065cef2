// Timer: a one-shot libuv timer that its owner can destroy at any time.
//
// The uv_timer_t lives on the heap and is freed by libuv's close callback, so an object that
// owns several timers (a connection with a route timeout and a per-try timeout) is not held
// alive by them: destroying the Timer stops it and hands the handle to libuv to free.
//
// Cancelling is lazy, as in nginx and HAProxy: a request's timeout is armed and cancelled once
// per request, and libuv's timer heap costs a removal and an insertion each time. Instead the
// handle stays scheduled; when it fires it does nothing if the timer was cancelled, and sleeps
// again if the timer was re-armed for later. On a keep-alive connection the heap is touched
// about once per timeout period instead of twice per request.
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
  void schedule(uint64_t timeout_ms);
  uv_timer_t* handle_;
  Callback fire_;
  void* owner_;
  bool armed_ = false;        // the owner wants a callback at deadline_ms_
  bool scheduled_ = false;    // the libuv handle is running, due at scheduled_for_ms_
  uint64_t deadline_ms_ = 0;  // loop time
  uint64_t scheduled_for_ms_ = 0;
};

}  // namespace weft::net
