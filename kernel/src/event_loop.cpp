// epoll + signalfd + an ordered timer map. Events carry (generation, fd) so a
// stale event for a closed and reused descriptor is recognised and dropped.
#include "event_loop.hpp"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <algorithm>
#include <vector>

namespace lrm::kernel {
namespace {

constexpr int kSignalFdTag = -1;
constexpr int kWakeFdTag = -2;

std::uint64_t pack(std::uint32_t generation, int fd) {
  return (std::uint64_t{generation} << 32) | static_cast<std::uint32_t>(fd);
}

}  // namespace

Clock::time_point deadlineAfter(Millis delay) {
  const auto now = Clock::now();
  if (delay <= Millis::zero()) return now;
  return delay < std::chrono::duration_cast<Millis>(Clock::time_point::max() - now) ? now + delay
                                                                                   : Clock::time_point::max();
}

Millis millisOf(std::uint64_t ms) {
  return Millis(static_cast<Millis::rep>(std::min<std::uint64_t>(ms, std::numeric_limits<Millis::rep>::max())));
}

std::uint64_t msSince(Clock::time_point since, Clock::time_point now) {
  const auto ms = std::chrono::duration_cast<Millis>(now - since).count();
  return ms > 0 ? static_cast<std::uint64_t>(ms) : 0;
}

EventLoop::EventLoop() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    throw std::runtime_error(std::string("unable to create epoll instance: ") + std::strerror(errno));
  }
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    throw std::runtime_error(std::string("unable to create eventfd: ") + std::strerror(errno));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = pack(0, kWakeFdTag);
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
}

EventLoop::~EventLoop() {
  if (signal_fd_ >= 0) ::close(signal_fd_);
  ::close(wake_fd_);
  ::close(epoll_fd_);
}

void EventLoop::watch(int fd, std::uint32_t events, FdCallback callback) {
  auto entry = std::make_shared<Watch>(Watch{next_generation_++, std::move(callback)});
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = pack(entry->generation, fd);
  const bool known = watches_.count(fd) != 0;
  if (::epoll_ctl(epoll_fd_, known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0) {
    throw std::runtime_error("unable to watch fd " + std::to_string(fd) + ": " + std::strerror(errno));
  }
  watches_[fd] = std::move(entry);
}

void EventLoop::modify(int fd, std::uint32_t events) {
  const auto it = watches_.find(fd);
  if (it == watches_.end()) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = pack(it->second->generation, fd);
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
}

void EventLoop::unwatch(int fd) {
  if (watches_.erase(fd) != 0) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

TimerId EventLoop::addTimer(Millis delay, Callback callback) {
  const TimerId id = next_timer_++;
  const auto deadline = deadlineAfter(delay);
  timers_.emplace(std::make_pair(deadline, id), std::move(callback));
  timer_deadlines_.emplace(id, deadline);
  return id;
}

void EventLoop::cancelTimer(TimerId id) {
  const auto it = timer_deadlines_.find(id);
  if (it == timer_deadlines_.end()) return;
  timers_.erase(std::make_pair(it->second, id));
  timer_deadlines_.erase(it);
}

void EventLoop::onSignal(int signo, Callback callback) {
  signal_handlers_[signo] = std::move(callback);
  sigset_t mask;
  sigemptyset(&mask);
  for (const auto& [number, unused] : signal_handlers_) sigaddset(&mask, number);
  const bool created = signal_fd_ < 0;
  signal_fd_ = ::signalfd(signal_fd_, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) {
    throw std::runtime_error(std::string("unable to create signalfd: ") + std::strerror(errno));
  }
  if (created) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = pack(0, kSignalFdTag);
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, signal_fd_, &ev);
  }
}

void EventLoop::postFromAnyThread(Callback callback) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    wake = posted_.empty();  // one wakeup per batch: the loop takes them all
    posted_.push_back(std::move(callback));
  }
  if (wake) {
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
  }
}

void EventLoop::runPosted() {
  std::uint64_t count = 0;
  (void)!::read(wake_fd_, &count, sizeof count);
  std::vector<Callback> batch;
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    batch.swap(posted_);
  }
  for (auto& callback : batch) callback();
}

void EventLoop::readSignals() {
  signalfd_siginfo info;
  while (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    const auto it = signal_handlers_.find(static_cast<int>(info.ssi_signo));
    if (it != signal_handlers_.end()) {
      Callback handler = it->second;  // a handler may replace itself
      handler();
    }
  }
}

int EventLoop::nextTimeoutMs() const {
  if (timers_.empty()) return -1;
  const auto wait = std::chrono::duration_cast<Millis>(timers_.begin()->first.first - Clock::now());
  if (wait.count() <= 0) return 0;
  // Round up so a timer is never woken for a fraction of a millisecond early.
  return static_cast<int>(std::min<long long>(wait.count() + 1, 60 * 60 * 1000));
}

void EventLoop::runTimers() {
  // Only timers due when this pass started: a callback that adds a zero-delay
  // timer gets it run on the next iteration, after I/O has been looked at.
  // Timers are extracted one at a time so a callback may cancel later ones.
  const auto now = Clock::now();
  while (!timers_.empty() && timers_.begin()->first.first <= now) {
    auto node = timers_.extract(timers_.begin());
    timer_deadlines_.erase(node.key().second);
    node.mapped()();
  }
}

void EventLoop::run() {
  running_ = true;
  std::vector<epoll_event> events(256);
  while (running_) {
    if (before_sleep_) before_sleep_();
    const int count = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                                   nextTimeoutMs());
    if (count < 0 && errno != EINTR) {
      throw std::runtime_error(std::string("epoll_wait failed: ") + std::strerror(errno));
    }
    for (int i = 0; i < count && running_; ++i) {
      const std::uint64_t data = events[i].data.u64;
      const int fd = static_cast<int>(static_cast<std::uint32_t>(data));
      const auto generation = static_cast<std::uint32_t>(data >> 32);
      if (fd == kSignalFdTag && generation == 0) {
        readSignals();
        continue;
      }
      if (fd == kWakeFdTag && generation == 0) {
        runPosted();
        continue;
      }
      const auto it = watches_.find(fd);
      if (it == watches_.end() || it->second->generation != generation) continue;
      auto watch = it->second;  // keep the callback alive while it runs
      watch->callback(events[i].events);
    }
    runTimers();
  }
}

}  // namespace lrm::kernel
