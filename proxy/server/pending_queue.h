// PendingQueue: a worker's requests waiting for an upstream connection (DestinationRule
// connectionPool.tcp.maxConnections, with http.http1MaxPendingRequests bounding the wait list).
//
// A request that finds its cluster at maxConnections waits here, oldest first. When a pooled
// connection becomes idle or closes, the queue is walked on the next loop turn (never from
// inside the connection's release) and each waiter tries again, in order. A waiter still
// waiting at its deadline is told so, and answers 503 itself.
#pragma once

#include <uv.h>

#include <cstdint>

#include "net/timer.h"

namespace weft::server {

class PendingQueue {
 public:
  class Waiter {
   public:
    // Room may have appeared: true when the waiter has left the queue (it took a connection
    // or gave up); false to keep its place.
    virtual bool retryPending() = 0;
    // The deadline passed: the waiter must leave the queue (remove() itself).
    virtual void pendingTimedOut() = 0;
    bool queued() const { return queued_; }

   protected:
    ~Waiter() = default;

   private:
    friend class PendingQueue;
    Waiter* prev_ = nullptr;
    Waiter* next_ = nullptr;
    uint64_t deadline_ms_ = 0;  // loop time
    bool queued_ = false;
  };

  explicit PendingQueue(uv_loop_t* loop);
  PendingQueue(const PendingQueue&) = delete;
  PendingQueue& operator=(const PendingQueue&) = delete;

  // Appends `w`, to wait at most `timeout_ms`.
  void push(Waiter* w, uint64_t timeout_ms);
  void remove(Waiter* w);
  // Capacity changed (a connection went idle or closed, or the configuration changed): the
  // waiters try again on the next loop turn. Cheap when nobody waits.
  void wake() {
    if (head_ != nullptr && !dispatch_.armed()) dispatch_.arm(0);
  }
  bool empty() const { return head_ == nullptr; }

 private:
  static void onDispatch(void* self);
  static void onDeadline(void* self);
  void armDeadline();

  uv_loop_t* loop_;
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
  net::Timer dispatch_;
  net::Timer deadline_;
  uint64_t deadline_armed_for_ = 0;  // loop time the deadline timer fires at
};

}  // namespace weft::server
