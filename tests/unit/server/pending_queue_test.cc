// PendingQueue: waiters are retried oldest first on the loop turn after a wake-up, keep their
// place while they cannot go, and are told when their deadline passes.
#include "server/pending_queue.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "../net/uv_test_loop.h"

namespace weft::server {
namespace {

struct Log {
  std::vector<std::string> events;
};

class TestWaiter final : public PendingQueue::Waiter {
 public:
  TestWaiter(std::string name, Log& log, PendingQueue& q)
      : name_(std::move(name)), log_(log), q_(q) {}
  bool can_go = false;

  bool retryPending() override {
    log_.events.push_back("retry " + name_);
    if (!can_go) return false;
    q_.remove(this);
    return true;
  }
  void pendingTimedOut() override {
    log_.events.push_back("timeout " + name_);
    q_.remove(this);
  }

 private:
  std::string name_;
  Log& log_;
  PendingQueue& q_;
};

TEST(PendingQueue, WakeRetriesOldestFirstOnTheNextLoopTurn) {
  weft::testing::TestLoop loop;
  Log log;
  auto q = std::make_unique<PendingQueue>(loop.get());
  TestWaiter a("a", log, *q), b("b", log, *q), c("c", log, *q);
  q->push(&a, 10'000);
  q->push(&b, 10'000);
  q->push(&c, 10'000);
  b.can_go = true;
  q->wake();
  EXPECT_TRUE(log.events.empty()) << "never from inside the caller's stack";
  ASSERT_TRUE(loop.runUntil([&] { return log.events.size() == 3; }));
  EXPECT_EQ(log.events, (std::vector<std::string>{"retry a", "retry b", "retry c"}));
  EXPECT_TRUE(a.queued());
  EXPECT_FALSE(b.queued());
  EXPECT_TRUE(c.queued());
  // Without a wake-up nothing is retried again.
  loop.runFor(30);
  EXPECT_EQ(log.events.size(), 3u);
  log.events.clear();
  q->wake();
  ASSERT_TRUE(loop.runUntil([&] { return log.events.size() == 2; }));
  EXPECT_EQ(log.events, (std::vector<std::string>{"retry a", "retry c"})) << "a kept its place";
  q->remove(&a);
  q->remove(&c);
  EXPECT_TRUE(q->empty());
  q.reset();
  loop.shutdown();
}

TEST(PendingQueue, DeadlinesExpireEachWaiterOnItsOwnTime) {
  weft::testing::TestLoop loop;
  Log log;
  auto q = std::make_unique<PendingQueue>(loop.get());
  TestWaiter slow("slow", log, *q), fast("fast", log, *q);
  q->push(&slow, 200);
  q->push(&fast, 20);  // an earlier deadline than the one armed
  ASSERT_TRUE(loop.runUntil([&] { return !log.events.empty(); }));
  EXPECT_EQ(log.events, (std::vector<std::string>{"timeout fast"}));
  EXPECT_FALSE(fast.queued());
  EXPECT_TRUE(slow.queued());
  ASSERT_TRUE(loop.runUntil([&] { return log.events.size() == 2; }));
  EXPECT_EQ(log.events[1], "timeout slow");
  EXPECT_TRUE(q->empty());
  q.reset();
  loop.shutdown();
}

TEST(PendingQueue, WakeWithNobodyWaitingDoesNothing) {
  weft::testing::TestLoop loop;
  Log log;
  auto q = std::make_unique<PendingQueue>(loop.get());
  q->wake();
  TestWaiter a("a", log, *q);
  q->push(&a, 10'000);
  loop.runFor(30);
  EXPECT_TRUE(log.events.empty()) << "a wake-up before the push is not carried over";
  q->remove(&a);
  q.reset();
  loop.shutdown();
}

}  // namespace
}  // namespace weft::server
