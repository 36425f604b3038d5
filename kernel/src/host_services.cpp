// sdk::Host for plugins; every entry point is noexcept and contains failures.
#include "host_services.hpp"

#include <cerrno>

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

}  // namespace lrm::kernel
