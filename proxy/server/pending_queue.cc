// PendingQueue: requests waiting for an upstream connection (see pending_queue.h).
#include "server/pending_queue.h"

#include <algorithm>
#include <limits>

namespace weft::server {

PendingQueue::PendingQueue(uv_loop_t* loop)
    : loop_(loop),
      dispatch_(loop, &PendingQueue::onDispatch, this),
      deadline_(loop, &PendingQueue::onDeadline, this) {}

void PendingQueue::push(Waiter* w, uint64_t timeout_ms) {
  if (w->queued_) return;
  w->queued_ = true;
  w->deadline_ms_ = uv_now(loop_) + timeout_ms;
  w->next_ = nullptr;
  w->prev_ = tail_;
  if (tail_) {
    tail_->next_ = w;
  } else {
    head_ = w;
  }
  tail_ = w;
  if (!deadline_.armed() || w->deadline_ms_ < deadline_armed_for_) {
    deadline_armed_for_ = w->deadline_ms_;
    deadline_.arm(timeout_ms);
  }
}

void PendingQueue::remove(Waiter* w) {
  if (!w->queued_) return;
  w->queued_ = false;
  if (w->prev_) {
    w->prev_->next_ = w->next_;
  } else {
    head_ = w->next_;
  }
  if (w->next_) {
    w->next_->prev_ = w->prev_;
  } else {
    tail_ = w->prev_;
  }
  w->prev_ = w->next_ = nullptr;
  if (head_ == nullptr) {
    dispatch_.cancel();
    deadline_.cancel();
  }
}

void PendingQueue::onDispatch(void* self) {
  auto* q = static_cast<PendingQueue*>(self);
  // Oldest first. A waiter that goes only ever removes itself, so `next` stays valid; one
  // that stays keeps its place.
  for (Waiter* w = q->head_; w != nullptr;) {
    Waiter* next = w->next_;
    if (w->retryPending() && w->queued_) q->remove(w);
    w = next;
  }
}

void PendingQueue::onDeadline(void* self) {
  auto* q = static_cast<PendingQueue*>(self);
  const uint64_t now = uv_now(q->loop_);
  for (Waiter* w = q->head_; w != nullptr;) {
    Waiter* next = w->next_;
    if (w->deadline_ms_ <= now) {
      w->pendingTimedOut();  // leaves the queue itself (and its bookkeeping with it)
      if (w->queued_) q->remove(w);
    }
    w = next;
  }
  if (q->head_ != nullptr) q->armDeadline();
}

void PendingQueue::armDeadline() {
  uint64_t earliest = std::numeric_limits<uint64_t>::max();
  for (Waiter* w = head_; w != nullptr; w = w->next_)
    earliest = std::min(earliest, w->deadline_ms_);
  const uint64_t now = uv_now(loop_);
  deadline_armed_for_ = earliest;
  deadline_.arm(earliest > now ? earliest - now : 0);
}

}  // namespace weft::server
