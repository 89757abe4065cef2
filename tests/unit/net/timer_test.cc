// Timer: fires once, can be cancelled and re-armed, and can be destroyed while armed.
#include "net/timer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "uv_test_loop.h"

namespace weft::net {
namespace {

struct Counter {
  int fired = 0;
  static void fire(void* self) { ++static_cast<Counter*>(self)->fired; }
};

TEST(Timer, FiresOnceAfterItsTimeout) {
  weft::testing::TestLoop loop;
  Counter c;
  Timer t(loop.get(), &Counter::fire, &c);
  t.arm(20);
  EXPECT_TRUE(t.armed());
  ASSERT_TRUE(loop.runUntil([&] { return c.fired == 1; }));
  EXPECT_FALSE(t.armed());
  loop.runFor(50);
  EXPECT_EQ(c.fired, 1) << "a one-shot timer must not repeat";
}

TEST(Timer, CancelPreventsTheCallback) {
  weft::testing::TestLoop loop;
  Counter c;
  Timer t(loop.get(), &Counter::fire, &c);
  t.arm(10);
  t.cancel();
  EXPECT_FALSE(t.armed());
  loop.runFor(50);
  EXPECT_EQ(c.fired, 0);
}

TEST(Timer, RearmingReplacesTheDeadline) {
  weft::testing::TestLoop loop;
  Counter c;
  Timer t(loop.get(), &Counter::fire, &c);
  t.arm(10);
  t.arm(200);
  loop.runFor(60);
  EXPECT_EQ(c.fired, 0) << "the first deadline was replaced";
  ASSERT_TRUE(loop.runUntil([&] { return c.fired == 1; }));
}

TEST(Timer, CancelledThenRearmedForLaterFiresOnceAtTheNewDeadline) {
  // The cancelled handle is still scheduled (lazy cancel): it must neither fire the old
  // deadline nor lose the new one.
  weft::testing::TestLoop loop;
  Counter c;
  Timer t(loop.get(), &Counter::fire, &c);
  t.arm(20);
  t.cancel();
  t.arm(150);
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(loop.runUntil([&] { return c.fired == 1; }));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(140));
  loop.runFor(50);
  EXPECT_EQ(c.fired, 1);
}

TEST(Timer, RearmedSoonerFiresAtTheSoonerDeadline) {
  weft::testing::TestLoop loop;
  Counter c;
  Timer t(loop.get(), &Counter::fire, &c);
  t.arm(5000);
  t.cancel();
  t.arm(10);
  ASSERT_TRUE(loop.runUntil([&] { return c.fired == 1; }, 1000));
}

TEST(Timer, ManyArmCancelCyclesFireNothing) {
  weft::testing::TestLoop loop;
  Counter c;
  Timer t(loop.get(), &Counter::fire, &c);
  for (int i = 0; i < 1000; ++i) {
    t.arm(10);
    t.cancel();
  }
  loop.runFor(60);
  EXPECT_EQ(c.fired, 0);
  EXPECT_FALSE(t.armed());
}

TEST(Timer, DestroyedWhileArmedNeverFires) {
  weft::testing::TestLoop loop;
  Counter c;
  auto t = std::make_unique<Timer>(loop.get(), &Counter::fire, &c);
  t->arm(10);
  t.reset();  // the handle is closed and freed by the loop
  loop.runFor(50);
  EXPECT_EQ(c.fired, 0);
}

}  // namespace
}  // namespace weft::net
