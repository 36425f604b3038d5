// The kernel's one event loop (epoll): file descriptors, timers and signals
// (through signalfd) are all events on it, and every piece of kernel state is
// touched only from its thread. Modelled on Redis `ae`: small and explicit.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace lrm::kernel {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;
using TimerId = std::uint64_t;

/**
 * Clock::now() + @p delay, saturated at the end of the clock: the clock
 * counts nanoseconds in 64 bits, so a delay above ~292 years would wrap into
 * the past and fire at once. A negative delay means now.
 */
Clock::time_point deadlineAfter(Millis delay);
/** @p ms as Millis, saturated: Millis is signed, durations from outside are not. */
Millis millisOf(std::uint64_t ms);
/** Whole milliseconds from @p since to @p now; 0 when @p now is not later. */
std::uint64_t msSince(Clock::time_point since, Clock::time_point now = Clock::now());

class EventLoop {
 public:
  using Callback = std::function<void()>;
  using FdCallback = std::function<void(std::uint32_t events)>;

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  /** Watch @p fd for @p events (EPOLLIN, EPOLLOUT, ...), replacing an earlier watch. */
  void watch(int fd, std::uint32_t events, FdCallback callback);
  /** Change the events of a watched fd. */
  void modify(int fd, std::uint32_t events);
  /** Stop watching @p fd (before closing it). Pending events for it are dropped. */
  void unwatch(int fd);
  /** Is @p fd watched? */
  bool watches(int fd) const { return watches_.count(fd) != 0; }

  /** Run @p callback once, @p delay from now (never, in practice, for a delay beyond the clock's end). */
  TimerId addTimer(Millis delay, Callback callback);
  /** Cancel a timer; unknown or already-fired ids are ignored. */
  void cancelTimer(TimerId id);
  /** Run @p callback on the next loop iteration (never inside the caller). */
  void defer(Callback callback) { addTimer(Millis(0), std::move(callback)); }

  /** Run @p callback on the loop thread soon; callable from any thread. */
  void postFromAnyThread(Callback callback);

  /** Deliver @p signo through the loop; the signal must be blocked in every thread. */
  void onSignal(int signo, Callback callback);

  /** Run @p callback every time before the loop waits for events (e.g. to flush output). */
  void setBeforeSleep(Callback callback) { before_sleep_ = std::move(callback); }

  /** Run until stop(). */
  void run();
  void stop() { running_ = false; }

 private:
  struct Watch {
    std::uint32_t generation;
    FdCallback callback;
  };

  void runTimers();
  int nextTimeoutMs() const;
  void readSignals();
  void runPosted();

  int epoll_fd_ = -1;
  int signal_fd_ = -1;
  bool running_ = false;
  std::uint32_t next_generation_ = 1;
  std::unordered_map<int, std::shared_ptr<Watch>> watches_;
  TimerId next_timer_ = 1;
  std::map<std::pair<Clock::time_point, TimerId>, Callback> timers_;
  std::unordered_map<TimerId, Clock::time_point> timer_deadlines_;
  std::unordered_map<int, Callback> signal_handlers_;
  Callback before_sleep_;
  int wake_fd_ = -1;  // eventfd: another thread posted work
  std::mutex posted_mutex_;
  std::vector<Callback> posted_;
};

}  // namespace lrm::kernel
