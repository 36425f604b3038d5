// Runs agent processes: posix_spawn into a new process group with a clean
// environment, captures stdout/stderr through non-blocking pipes, reaps on
// SIGCHLD, enforces timeouts by killing the whole group. A child's result is
// taken when the child itself exits, never at pipe EOF: agents that start
// daemons leave the pipes open in grandchildren.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <unordered_map>

#include "event_loop.hpp"
#include "lrm/sdk/host.hpp"

namespace lrm::kernel {

/** Keeps the first bytes of a stream and a window of its last bytes. */
class OutputCapture {
 public:
  static constexpr std::size_t kHeadBytes = 256 * 1024;
  static constexpr std::size_t kTailBytes = 16 * 1024;

  void append(const char* data, std::size_t size);
  /** The captured text, with a marker where bytes were dropped. */
  std::string text() const;
  std::size_t totalBytes() const { return total_; }

 private:
  std::string head_;
  std::string tail_;
  std::size_t total_ = 0;
};

class Spawner {
 public:
  using Done = std::function<void(const sdk::SpawnResult&)>;

  explicit Spawner(EventLoop& loop);
  ~Spawner();

  sdk::SpawnId spawn(sdk::SpawnRequest request, Done done);
  bool kill(sdk::SpawnId id);

  /** With a grace > 0, a timeout sends SIGTERM first and SIGKILL after the grace. */
  void setKillGrace(Millis grace) { kill_grace_ = grace; }
  std::size_t running() const { return children_.size(); }

 private:
  struct Child {
    sdk::SpawnId id = 0;
    pid_t pid = -1;
    int out_fd = -1;
    int err_fd = -1;
    OutputCapture out;
    OutputCapture err;
    TimerId timer = 0;
    bool timed_out = false;
    bool killed = false;
    Clock::time_point started;
    sdk::SpawnRequest request;
    Done done;
  };

  void onTimeout(sdk::SpawnId id);
  void reap();
  void drain(Child& child, int& fd, OutputCapture& capture);
  void finish(Child& child, int wait_status);

  EventLoop& loop_;
  Millis kill_grace_{0};
  sdk::SpawnId next_id_ = 1;
  std::unordered_map<sdk::SpawnId, Child> children_;
  std::unordered_map<pid_t, sdk::SpawnId> by_pid_;
};

}  // namespace lrm::kernel
