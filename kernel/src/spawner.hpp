// Runs agent processes: posix_spawn into a new process group with a clean
// environment, captures stdout/stderr through non-blocking pipes, reaps on
// SIGCHLD, enforces timeouts by killing the whole group. A child's result is
// taken when the child itself exits, never at pipe EOF: agents that start
// daemons leave the pipes open in grandchildren.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "event_loop.hpp"
#include "lrm/sdk/host.hpp"

namespace lrm::kernel {

/**
 * Keeps at most @p limit bytes of a stream: its head and a window of its last
 * bytes (where agents print their exit reason), dropping the middle.
 */
class OutputCapture {
 public:
  static constexpr std::size_t kDefaultLimit = 10 * 1024 * 1024;  // as pacemaker-execd
  static constexpr std::size_t kMinLimit = 4 * 1024;
  static constexpr std::size_t kMaxTailBytes = 16 * 1024;

  explicit OutputCapture(std::size_t limit = kDefaultLimit)
      : tail_keep_(std::min(kMaxTailBytes, std::max(limit, kMinLimit) / 4)),
        head_limit_(std::max(limit, kMinLimit) - tail_keep_) {}

  void append(const char* data, std::size_t size);
  /** The captured text, with a marker where bytes were dropped. */
  std::string text() const;
  std::size_t totalBytes() const { return total_; }
  /** Bytes that text() does not contain. */
  std::size_t droppedBytes() const;
  std::size_t headBytes() const { return head_limit_; }
  std::size_t tailBytes() const { return tail_keep_; }

 private:
  std::size_t tail_keep_;
  std::size_t head_limit_;
  std::string head_;
  std::string tail_;
  std::size_t total_ = 0;
};

/**
 * An agent process carried over an upgrade in place: the previous image
 * hands it to the new one with its pipes left open across exec()
 * (docs/operations.md). Same pid, so it is still our child.
 */
struct HandedChild {
  sdk::LogContext context;  ///< instance id and call id identify it
  pid_t pid = -1;
  int out_fd = -1;  ///< -1: the stream had ended
  int err_fd = -1;
  std::string out;  ///< captured so far
  std::string err;
  std::uint64_t elapsed_ms = 0;
  std::uint32_t timeout_ms = 0;
  bool timed_out = false;  ///< being killed for its timeout
  bool killed = false;     ///< being killed by a cancellation
};

struct SpawnerOptions {
  std::size_t max_output = OutputCapture::kDefaultLimit;  ///< per stream
  Millis kill_grace{0};       ///< > 0: SIGTERM first, SIGKILL after the grace
  std::string timeout_hook;   ///< run before a timeout kill: CMD id name pid
};

class Spawner {
 public:
  using Done = std::function<void(const sdk::SpawnResult&)>;

  Spawner(EventLoop& loop, SpawnerOptions options = {});
  ~Spawner();

  sdk::SpawnId spawn(sdk::SpawnRequest request, Done done);
  bool kill(sdk::SpawnId id);

  /** (instance id, call id) of every operation whose agent process runs: what handOver() would release. */
  std::set<std::pair<std::string, sdk::CallId>> agentsInFlight() const;
  /**
   * Upgrading: release every operation's agent process (not timeout hooks,
   * not metadata fetches) for the next image: its pipes lose close-on-exec
   * and the Spawner forgets it.
   */
  std::vector<HandedChild> handOver();
  /** The new image: children handed over, waiting for adopt() until finishTakeOver(). */
  void takeOver(std::vector<HandedChild> children) { handed_ = std::move(children); }
  /** Take over a handed child of @p context; 0 when there is none. */
  sdk::SpawnId adopt(const sdk::LogContext& context, Done done);
  /** Handed children nobody adopted: watched and reaped, their results only logged. */
  void finishTakeOver();

  /** With a grace > 0, a timeout sends SIGTERM first and SIGKILL after the grace. */
  void setKillGrace(Millis grace) { options_.kill_grace = grace; }
  std::size_t running() const { return children_.size(); }

 private:
  struct Child {
    sdk::SpawnId id = 0;
    pid_t pid = -1;
    int out_fd = -1;
    int err_fd = -1;
    OutputCapture out;
    OutputCapture err;
    bool is_hook = false;  // a timeout hook: never hooked itself
    TimerId timer = 0;
    bool timed_out = false;
    bool killed = false;
    Clock::time_point started;
    sdk::SpawnRequest request;
    Done done;
  };

  sdk::SpawnId start(sdk::SpawnRequest request, Done done, bool is_hook);
  /** An operation's agent process (not a timeout hook, not a metadata fetch)? */
  static bool isAgent(const Child& child) { return !child.is_hook && child.request.context.call_id != 0; }
  Child& track(pid_t pid, int out_fd, int err_fd, sdk::SpawnRequest request, Done done, bool is_hook);
  void onTimeout(sdk::SpawnId id);
  void killGroup(sdk::SpawnId id);
  void logOutput(const Child& child) const;
  void reap();
  void drain(int& fd, OutputCapture& capture);
  void finish(Child& child, int wait_status);

  EventLoop& loop_;
  SpawnerOptions options_;
  sdk::SpawnId next_id_ = 1;
  std::unordered_map<sdk::SpawnId, Child> children_;
  std::unordered_map<pid_t, sdk::SpawnId> by_pid_;
  std::vector<HandedChild> handed_;
};

}  // namespace lrm::kernel
