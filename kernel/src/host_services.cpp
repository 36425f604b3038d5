// sdk::Host for plugins; every entry point is noexcept and contains failures.
#include "host_services.hpp"

#include <sys/epoll.h>

#include <cerrno>
#include <stdexcept>

#include "log.hpp"

namespace lrm::kernel {

sdk::SpawnId HostServices::spawn(sdk::SpawnRequest request,
                                 std::function<void(const sdk::SpawnResult&)> done) noexcept {
  const sdk::LogContext context = request.context;
  try {
    return spawner_.spawn(std::move(request), done);
  } catch (const std::exception& e) {
    // Keep the contract: the callback still runs exactly once, later.
    kernel::log(sdk::LogLevel::Error, context, std::string("unable to spawn: ") + e.what());
    sdk::SpawnResult result;
    result.outcome = sdk::SpawnOutcome::SpawnFailed;
    result.spawn_errno = EAGAIN;
    loop_.defer([done, result] { done(result); });
    return 0;
  }
}

bool HostServices::kill(sdk::SpawnId id) noexcept { return spawner_.kill(id); }

sdk::SpawnId HostServices::adopt(const sdk::LogContext& context,
                                 std::function<void(const sdk::SpawnResult&)> done) noexcept {
  try {
    return spawner_.adopt(context, std::move(done));
  } catch (const std::exception& e) {
    kernel::log(sdk::LogLevel::Error, context, std::string("unable to take over the agent process: ") + e.what());
    return 0;
  }
}

void HostServices::post(std::function<void()> task) noexcept { loop_.defer(std::move(task)); }

void HostServices::work(std::function<void()> job, std::function<void()> then) noexcept {
  workers_.submit(std::move(job), std::move(then));
}

std::uint64_t HostServices::startTimer(std::uint32_t delay_ms, std::function<void()> fire) noexcept {
  return loop_.addTimer(Millis(delay_ms), std::move(fire));
}

void HostServices::stopTimer(std::uint64_t id) noexcept { loop_.cancelTimer(id); }

std::vector<std::string> HostServices::baseEnvironment() const noexcept {
  return {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
}

std::string HostServices::setting(const std::string& key, const std::string& fallback) const noexcept {
  const auto it = settings_.find(key);
  return it == settings_.end() ? fallback : it->second;
}

void HostServices::log(sdk::LogLevel level, const sdk::LogContext& context,
                       const std::string& message) noexcept {
  try {
    if (context.instance_id.empty()) {
      kernel::log(level, message);
    } else {
      kernel::log(level, context, message);
    }
  } catch (...) {
    // Logging must never take a plugin call down.
  }
}

namespace {

std::uint32_t epollEvents(std::uint32_t events) {
  return ((events & sdk::Host::kReadable) ? EPOLLIN : 0u) | ((events & sdk::Host::kWritable) ? EPOLLOUT : 0u);
}

std::uint32_t readiness(std::uint32_t epoll_events) {
  return ((epoll_events & EPOLLIN) ? sdk::Host::kReadable : 0u) |
         ((epoll_events & EPOLLOUT) ? sdk::Host::kWritable : 0u) |
         ((epoll_events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) ? sdk::Host::kHangUp : 0u);
}

}  // namespace

std::uint64_t HostServices::watch(int fd, std::uint32_t events,
                                  std::function<void(std::uint32_t ready)> ready) noexcept {
  try {
    for (const auto& [id, watched] : watched_) {
      if (watched == fd) throw std::runtime_error("it is already watched");
    }
    if (loop_.watches(fd)) throw std::runtime_error("lrmd itself watches it");
    loop_.watch(fd, epollEvents(events), [ready = std::move(ready)](std::uint32_t happened) { ready(readiness(happened)); });
    const std::uint64_t id = next_watch_++;
    watched_[id] = fd;
    return id;
  } catch (const std::exception& e) {
    log(sdk::LogLevel::Error, {}, "unable to watch descriptor " + std::to_string(fd) + " for a plugin: " + e.what());
    return 0;
  }
}

void HostServices::changeWatch(std::uint64_t id, std::uint32_t events) noexcept {
  const auto it = watched_.find(id);
  if (it != watched_.end()) loop_.modify(it->second, epollEvents(events));
}

void HostServices::unwatch(std::uint64_t id) noexcept {
  const auto it = watched_.find(id);
  if (it == watched_.end()) return;
  loop_.unwatch(it->second);
  watched_.erase(it);
}

}  // namespace lrm::kernel
