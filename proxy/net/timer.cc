// Timer: one-shot libuv timer owned by value (see timer.h).
#include "net/timer.h"

namespace weft::net {

Timer::Timer(uv_loop_t* loop, Callback fire, void* owner)
    : handle_(new uv_timer_t), fire_(fire), owner_(owner) {
  uv_timer_init(loop, handle_);
  handle_->data = this;
}

Timer::~Timer() {
  uv_timer_stop(handle_);
  handle_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(handle_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

void Timer::arm(uint64_t timeout_ms) {
  armed_ = true;
  deadline_ms_ = uv_now(handle_->loop) + timeout_ms;
  // A handle still scheduled at or before the new deadline is left alone: it wakes up, sees
  // the later deadline and sleeps again for the rest.
  if (scheduled_ && scheduled_for_ms_ <= deadline_ms_) return;
  schedule(timeout_ms);
}

void Timer::cancel() {
  // Lazy: the handle stays scheduled and is ignored when it fires (see timer.h).
  armed_ = false;
}

void Timer::schedule(uint64_t timeout_ms) {
  scheduled_ = true;
  scheduled_for_ms_ = uv_now(handle_->loop) + timeout_ms;
  uv_timer_start(handle_, timerCb, timeout_ms, 0);
}

void Timer::timerCb(uv_timer_t* t) {
  auto* self = static_cast<Timer*>(t->data);
  if (self == nullptr) return;
  self->scheduled_ = false;
  if (!self->armed_) return;
  const uint64_t now = uv_now(t->loop);
  if (self->deadline_ms_ > now) {
    self->schedule(self->deadline_ms_ - now);
    return;
  }
  self->armed_ = false;
  self->fire_(self->owner_);
}

}  // namespace weft::net
