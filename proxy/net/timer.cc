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
  uv_timer_start(handle_, timerCb, timeout_ms, 0);
}

void Timer::cancel() {
  if (!armed_) return;
  armed_ = false;
  uv_timer_stop(handle_);
}

void Timer::timerCb(uv_timer_t* t) {
  auto* self = static_cast<Timer*>(t->data);
  if (self == nullptr) return;
  self->armed_ = false;
  self->fire_(self->owner_);
}

}  // namespace weft::net
