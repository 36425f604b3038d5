// The kernel's implementation of sdk::Host: spawning through the Spawner,
// logging with instance context, and settings: the config file's keys and
// lrmd's own facts (lrm.*), never a class's (each plugin reads its own).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "lrm/sdk/host.hpp"
#include "spawner.hpp"
#include "worker_pool.hpp"

namespace lrm::kernel {

class HostServices : public sdk::Host {
 public:
  HostServices(EventLoop& loop, Spawner& spawner, WorkerPool& workers, std::map<std::string, std::string> settings)
      : loop_(loop), spawner_(spawner), workers_(workers), settings_(std::move(settings)) {}

  sdk::SpawnId spawn(sdk::SpawnRequest request,
                     std::function<void(const sdk::SpawnResult&)> done) noexcept override;
  bool kill(sdk::SpawnId id) noexcept override;
  sdk::SpawnId adopt(const sdk::LogContext& context,
                     std::function<void(const sdk::SpawnResult&)> done) noexcept override;
  void post(std::function<void()> task) noexcept override;
  void work(std::function<void()> job, std::function<void()> then) noexcept override;
  std::uint64_t startTimer(std::uint32_t delay_ms, std::function<void()> fire) noexcept override;
  void stopTimer(std::uint64_t id) noexcept override;
  std::vector<std::string> baseEnvironment() const noexcept override;
  std::string setting(const std::string& key, const std::string& fallback) const noexcept override;
  void log(sdk::LogLevel level, const sdk::LogContext& context,
           const std::string& message) noexcept override;
  std::uint64_t watch(int fd, std::uint32_t events, std::function<void(std::uint32_t ready)> ready) noexcept override;
  void changeWatch(std::uint64_t id, std::uint32_t events) noexcept override;
  void unwatch(std::uint64_t id) noexcept override;
  /** Descriptors plugins still watch (a plugin that forgot to unwatch before unloading). */
  std::size_t watchCount() const { return watched_.size(); }

 private:
  EventLoop& loop_;
  Spawner& spawner_;
  WorkerPool& workers_;
  std::map<std::string, std::string> settings_;
  std::map<std::uint64_t, int> watched_;  // watch id → the plugin's descriptor
  std::uint64_t next_watch_ = 1;
};

}  // namespace lrm::kernel
