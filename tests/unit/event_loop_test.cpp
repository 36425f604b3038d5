// Unit tests for the kernel event loop (kernel/src/event_loop.{hpp,cpp}):
// timers, defer, fd watches, stop, and callbacks posted from other threads
// (run under ThreadSanitizer by tests/tsan.sh).
#include "event_loop.hpp"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace lrm::kernel {
namespace {

using ::testing::ElementsAre;

// A pipe closed on scope exit.
struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() { EXPECT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0); }
  ~Pipe() {
    for (int fd : fds) {
      if (fd >= 0) ::close(fd);
    }
  }
  int readEnd() const { return fds[0]; }
  void write(const std::string& data) const {
    ASSERT_EQ(::write(fds[1], data.data(), data.size()), static_cast<ssize_t>(data.size()));
  }
};

class EventLoopTest : public ::testing::Test {
 protected:
  // Run the loop with a safety deadline so a broken loop fails instead of hanging.
  void runWithDeadline(Millis limit = Millis(30000)) {
    bool expired = false;
    const TimerId guard = loop_.addTimer(limit, [&] {
      expired = true;
      loop_.stop();
    });
    loop_.run();
    loop_.cancelTimer(guard);
    EXPECT_FALSE(expired) << "the loop did not stop by itself";
  }

  EventLoop loop_;
};

TEST_F(EventLoopTest, StopEndsRun) {
  bool ran = false;
  loop_.addTimer(Millis(1), [&] {
    ran = true;
    loop_.stop();
  });
  runWithDeadline();
  EXPECT_TRUE(ran);
}

TEST_F(EventLoopTest, TimersFireInDeadlineOrder) {
  std::vector<int> order;
  loop_.addTimer(Millis(60), [&] {
    order.push_back(60);
    loop_.stop();
  });
  loop_.addTimer(Millis(20), [&] { order.push_back(20); });
  loop_.addTimer(Millis(40), [&] { order.push_back(40); });
  loop_.addTimer(Millis(0), [&] { order.push_back(0); });
  loop_.addTimer(Millis(20), [&] { order.push_back(21); });  // same delay, added later: runs later
  runWithDeadline();
  EXPECT_THAT(order, ElementsAre(0, 20, 21, 40, 60));
}

TEST_F(EventLoopTest, TimerDoesNotFireEarly) {
  const auto start = Clock::now();
  Clock::time_point fired;
  loop_.addTimer(Millis(50), [&] {
    fired = Clock::now();
    loop_.stop();
  });
  runWithDeadline();
  EXPECT_GE(fired - start, Millis(50));
}

// Durations from clients reach the loop as milliseconds; from ~9.2e12 ms up,
// now + delay in nanoseconds wrapped into the past and the timer fired at
// once (a recurring op then reran ~500 times a second).
TEST_F(EventLoopTest, HugeDelaysDoNotFireEarly) {
  std::vector<std::string> fired;
  for (const Millis delay :
       {Millis(9300000000000), millisOf(std::uint64_t{1} << 63), millisOf(UINT64_MAX), Millis::max()}) {
    loop_.addTimer(delay, [&fired, delay] { fired.push_back(std::to_string(delay.count())); });
  }
  loop_.addTimer(Millis(50), [&] { loop_.stop(); });
  runWithDeadline();
  EXPECT_TRUE(fired.empty()) << ::testing::PrintToString(fired);
}

TEST(EventLoopTime, DeadlineAfterSaturatesAndMillisOfClamps) {
  EXPECT_EQ(deadlineAfter(Millis::max()), Clock::time_point::max());
  EXPECT_EQ(deadlineAfter(Millis(9300000000000)), Clock::time_point::max());
  const auto before = Clock::now();
  const auto soon = deadlineAfter(Millis(1000));
  EXPECT_GE(soon, before + Millis(1000));
  EXPECT_LE(soon, Clock::now() + Millis(1000));
  const auto past = deadlineAfter(Millis(-5));
  EXPECT_LE(past, Clock::now());
  EXPECT_EQ(millisOf(4294967295u), Millis(4294967295));
  EXPECT_EQ(millisOf(UINT64_MAX), Millis::max());
  EXPECT_EQ(millisOf(std::uint64_t{1} << 63), Millis::max());
}

TEST_F(EventLoopTest, CancelledTimerNeverFires) {
  bool cancelled_ran = false;
  const TimerId id = loop_.addTimer(Millis(5), [&] { cancelled_ran = true; });
  loop_.addTimer(Millis(40), [&] { loop_.stop(); });
  loop_.cancelTimer(id);
  loop_.cancelTimer(id);      // twice: ignored
  loop_.cancelTimer(987654);  // unknown: ignored
  runWithDeadline();
  EXPECT_FALSE(cancelled_ran);
}

TEST_F(EventLoopTest, TimerCancelledByAnEarlierTimerDueAtTheSameTime) {
  std::vector<std::string> ran;
  TimerId second = 0;
  // Same delay: both are due in the same pass; the first cancels the second.
  loop_.addTimer(Millis(10), [&] {
    ran.push_back("first");
    loop_.cancelTimer(second);
  });
  second = loop_.addTimer(Millis(10), [&] { ran.push_back("second"); });
  loop_.addTimer(Millis(10), [&] { ran.push_back("third"); });
  loop_.addTimer(Millis(50), [&] { loop_.stop(); });
  runWithDeadline();
  EXPECT_THAT(ran, ElementsAre("first", "third"));
}

TEST_F(EventLoopTest, TimerCancelledByAnEarlierTimerWithZeroDelay) {
  std::vector<std::string> ran;
  TimerId later = 0;
  loop_.addTimer(Millis(0), [&] {
    ran.push_back("first");
    loop_.cancelTimer(later);
  });
  later = loop_.addTimer(Millis(0), [&] { ran.push_back("later"); });
  loop_.addTimer(Millis(30), [&] { loop_.stop(); });
  runWithDeadline();
  EXPECT_THAT(ran, ElementsAre("first"));
}

TEST_F(EventLoopTest, CancelOwnTimerWhileRunningIsHarmless) {
  int count = 0;
  TimerId self = 0;
  self = loop_.addTimer(Millis(1), [&] {
    ++count;
    loop_.cancelTimer(self);
  });
  loop_.addTimer(Millis(30), [&] { loop_.stop(); });
  runWithDeadline();
  EXPECT_EQ(count, 1);
}

TEST_F(EventLoopTest, DeferRunsLaterNotInsideTheCaller) {
  bool ran = false;
  loop_.defer([&] {
    ran = true;
    loop_.stop();
  });
  EXPECT_FALSE(ran) << "defer() ran the callback inside the caller";
  runWithDeadline();
  EXPECT_TRUE(ran);
}

TEST_F(EventLoopTest, DeferFromACallbackRunsOnTheNextIterationAfterIo) {
  Pipe pipe;
  std::vector<std::string> order;
  loop_.watch(pipe.readEnd(), EPOLLIN, [&](std::uint32_t) {
    char buffer[16];
    while (::read(pipe.readEnd(), buffer, sizeof buffer) > 0) {
    }
    order.push_back("io");
  });
  loop_.addTimer(Millis(1), [&] {
    order.push_back("timer");
    loop_.defer([&] {
      order.push_back("deferred");
      loop_.stop();
    });
    EXPECT_EQ(order.back(), "timer") << "defer() ran inside the caller";
    pipe.write("x");  // readable before the next iteration looks at I/O
  });
  runWithDeadline();
  EXPECT_THAT(order, ElementsAre("timer", "io", "deferred"));
  loop_.unwatch(pipe.readEnd());
}

TEST_F(EventLoopTest, DeferredCallbacksRunInOrder) {
  std::vector<int> order;
  for (int i = 0; i < 5; ++i) loop_.defer([&order, i] { order.push_back(i); });
  loop_.defer([&] { loop_.stop(); });
  runWithDeadline();
  EXPECT_THAT(order, ElementsAre(0, 1, 2, 3, 4));
}

TEST_F(EventLoopTest, WatchDeliversEpollin) {
  Pipe pipe;
  std::string received;
  std::uint32_t events_seen = 0;
  loop_.watch(pipe.readEnd(), EPOLLIN, [&](std::uint32_t events) {
    events_seen |= events;
    char buffer[64];
    ssize_t n;
    while ((n = ::read(pipe.readEnd(), buffer, sizeof buffer)) > 0) received.append(buffer, static_cast<std::size_t>(n));
    if (received == "hello") loop_.stop();
  });
  loop_.addTimer(Millis(5), [&] { pipe.write("hello"); });
  runWithDeadline();
  EXPECT_EQ(received, "hello");
  EXPECT_TRUE(events_seen & EPOLLIN);
  loop_.unwatch(pipe.readEnd());
}

TEST_F(EventLoopTest, UnwatchStopsDelivery) {
  Pipe watched;
  Pipe dropped;
  int dropped_calls = 0;
  int watched_calls = 0;
  loop_.watch(dropped.readEnd(), EPOLLIN, [&](std::uint32_t) { ++dropped_calls; });
  loop_.watch(watched.readEnd(), EPOLLIN, [&](std::uint32_t) {
    // Level-triggered and never drained: fires on every iteration.
    if (++watched_calls == 3) loop_.stop();
  });
  loop_.unwatch(dropped.readEnd());
  dropped.write("x");
  watched.write("y");
  runWithDeadline();
  EXPECT_EQ(watched_calls, 3);
  EXPECT_EQ(dropped_calls, 0);
  loop_.unwatch(watched.readEnd());
  loop_.unwatch(watched.readEnd());  // twice: ignored
}

TEST_F(EventLoopTest, UnwatchFromACallbackDropsPendingEvents) {
  // Both pipes are readable in the same epoll_wait; whichever callback runs
  // first unwatches the other, whose already-returned event must be dropped.
  Pipe a;
  Pipe b;
  int calls = 0;
  auto callback = [&](std::uint32_t) {
    ++calls;
    loop_.unwatch(a.readEnd());
    loop_.unwatch(b.readEnd());
    loop_.defer([&] { loop_.stop(); });
  };
  loop_.watch(a.readEnd(), EPOLLIN, callback);
  loop_.watch(b.readEnd(), EPOLLIN, callback);
  a.write("1");
  b.write("2");
  runWithDeadline();
  EXPECT_EQ(calls, 1);
}

TEST_F(EventLoopTest, StaleEventForAReusedDescriptorIsDropped) {
  // Both pipes are readable in the same epoll_wait. The first callback closes
  // the other pipe and watches a new, empty pipe that reuses its descriptor
  // number: the already-returned event of the closed pipe must not reach the
  // new watch.
  std::optional<Pipe> a(std::in_place);
  std::optional<Pipe> b(std::in_place);
  std::optional<Pipe> reused;
  int first_calls = 0;
  int stale_calls = 0;
  bool number_reused = false;
  auto first = [&](std::optional<Pipe>& other, std::optional<Pipe>& self) {
    return [&, other_pipe = &other, self_pipe = &self](std::uint32_t) {
      std::optional<Pipe>& other = *other_pipe;
      std::optional<Pipe>& self = *self_pipe;
      ++first_calls;
      const int old_fd = other->readEnd();
      loop_.unwatch(old_fd);
      other.reset();  // closes both ends
      reused.emplace();
      number_reused = reused->readEnd() == old_fd || reused->fds[1] == old_fd;
      loop_.watch(reused->readEnd(), EPOLLIN, [&](std::uint32_t) { ++stale_calls; });
      if (reused->fds[1] == old_fd) loop_.watch(reused->fds[1], EPOLLIN, [&](std::uint32_t) { ++stale_calls; });
      loop_.unwatch(self->readEnd());
      loop_.defer([&] { loop_.stop(); });
    };
  };
  loop_.watch(a->readEnd(), EPOLLIN, first(b, a));
  loop_.watch(b->readEnd(), EPOLLIN, first(a, b));
  a->write("1");
  b->write("2");
  runWithDeadline();
  EXPECT_EQ(first_calls, 1);
  EXPECT_EQ(stale_calls, 0);
  EXPECT_TRUE(number_reused) << "the kernel did not reuse the descriptor number; the test proved less";
  if (reused) {
    loop_.unwatch(reused->readEnd());
    loop_.unwatch(reused->fds[1]);
  }
}

TEST_F(EventLoopTest, WatchAgainReplacesTheCallback) {
  Pipe pipe;
  int old_calls = 0;
  int new_calls = 0;
  loop_.watch(pipe.readEnd(), EPOLLIN, [&](std::uint32_t) { ++old_calls; });
  loop_.watch(pipe.readEnd(), EPOLLIN, [&](std::uint32_t) {
    ++new_calls;
    loop_.stop();
  });
  pipe.write("x");
  runWithDeadline();
  EXPECT_EQ(old_calls, 0);
  EXPECT_EQ(new_calls, 1);
  loop_.unwatch(pipe.readEnd());
}

TEST_F(EventLoopTest, RunCanBeRestartedAfterStop) {
  int count = 0;
  loop_.addTimer(Millis(1), [&] {
    ++count;
    loop_.stop();
  });
  runWithDeadline();
  loop_.addTimer(Millis(1), [&] {
    ++count;
    loop_.stop();
  });
  runWithDeadline();
  EXPECT_EQ(count, 2);
}

// Several threads post at once, while the loop drains earlier batches: every
// callback runs, on the loop thread (the counter is a plain int, touched
// only there; a callback run elsewhere is a data race TSan reports).
TEST_F(EventLoopTest, PostFromAnyThreadRunsEveryCallbackOnTheLoop) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  int ran = 0;
  const auto loop_thread = std::this_thread::get_id();
  bool all_on_loop = true;
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        loop_.postFromAnyThread([&] {
          all_on_loop = all_on_loop && std::this_thread::get_id() == loop_thread;
          if (++ran == kThreads * kPerThread) loop_.stop();
        });
      }
    });
  }
  runWithDeadline();
  for (auto& poster : posters) poster.join();
  EXPECT_EQ(ran, kThreads * kPerThread);
  EXPECT_TRUE(all_on_loop);
}

}  // namespace
}  // namespace lrm::kernel
