// Services the daemon offers to resource-class plugins. Plugins never fork,
// open sockets or start threads of their own for running agents: they ask the
// Host, which owns the event loop, the children and the log.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "lrm/sdk/types.hpp"

namespace lrm::sdk {

/** @brief Everything needed to run one child process. */
struct SpawnRequest {
  std::vector<std::string> argv;  ///< argv[0] is the absolute path of the executable
  std::vector<std::string> env;   ///< complete environment, `NAME=value`; nothing else is inherited
  std::string cwd;                ///< working directory; empty: "/"
  std::uint32_t timeout_ms = 0;   ///< 0: none; on expiry the whole process group is killed
  LogContext context;             ///< for the daemon's log lines about this child
};

/** @brief How a spawned child ended. Values are part of the ABI: append only. */
enum class SpawnOutcome : int {
  Exited = 0,   ///< exited by itself; see exit_code
  Signaled,     ///< killed by a signal nobody in the daemon sent; see signal
  TimedOut,     ///< the timeout expired and the group was killed
  Killed,       ///< Host::kill() was called and the group was killed
  SpawnFailed,  ///< could not be started; see spawn_errno
};

/** @brief The completion of one child. */
struct SpawnResult {
  SpawnOutcome outcome = SpawnOutcome::SpawnFailed;
  int exit_code = -1;    ///< for Exited
  int signal = 0;        ///< for Signaled
  int spawn_errno = 0;   ///< for SpawnFailed
  std::string out;       ///< captured stdout (bounded; a truncation marker shows where bytes were dropped)
  std::string err;       ///< captured stderr (bounded likewise)
  std::uint64_t elapsed_ms = 0;
};

/** @brief Identifies a child for Host::kill(); 0 is never a valid id. */
using SpawnId = std::uint64_t;

/**
 * @brief A list of directories as settings give it, separated by `:` (like
 * `PATH`): "a:b:c" → {"a", "b", "c"}; empty parts are dropped, so "" and ":"
 * are no directory at all.
 */
inline std::vector<std::string> splitPath(const std::string& text) {
  std::vector<std::string> parts;
  std::string::size_type start = 0;
  while (start <= text.size()) {
    const auto colon = text.find(':', start);
    std::string part = text.substr(start, colon == std::string::npos ? colon : colon - start);
    if (!part.empty()) parts.push_back(std::move(part));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return parts;
}

/**
 * @brief The daemon, as seen by a plugin.
 *
 * Every Host method must be called on the daemon's event-loop thread (the
 * thread that calls into the plugin), and every callback is invoked on it.
 * Callbacks are never invoked from inside the call that registered them.
 */
class Host {
 public:
  virtual ~Host() = default;

  /**
   * @brief Start a child in its own process group with stdin from /dev/null,
   * stdout and stderr captured, every other descriptor closed, the signal mask
   * and dispositions reset. The result is taken when the child itself exits
   * (grandchildren that keep the pipes open do not delay it).
   * @param request what to run
   * @param done called exactly once, later, with the outcome
   * @return an id for kill()
   */
  virtual SpawnId spawn(SpawnRequest request,
                        std::function<void(const SpawnResult&)> done) noexcept = 0;

  /**
   * @brief Kill the child's whole process group; its completion reports
   * SpawnOutcome::Killed. @return false if the child is unknown or already done.
   */
  virtual bool kill(SpawnId id) noexcept = 0;

  /** @brief Run @p task on the event loop soon, after the current call returns. */
  virtual void post(std::function<void()> task) noexcept = 0;

  /** @brief The base environment every agent gets (`PATH=...`), `NAME=value`. */
  virtual std::vector<std::string> baseEnvironment() const noexcept = 0;

  /** @brief A setting from the daemon's configuration (e.g. `ocf.path`), or @p fallback. */
  virtual std::string setting(const std::string& key,
                              const std::string& fallback) const noexcept = 0;

  /** @brief Log a line; the daemon prefixes it with the instance's name and id. */
  virtual void log(LogLevel level, const LogContext& context,
                   const std::string& message) noexcept = 0;

  /**
   * @brief Run @p job on one of the daemon's worker threads (for work that
   * blocks: native agents), then @p then on the event loop. @p job must not
   * touch the Host.
   */
  virtual void work(std::function<void()> job, std::function<void()> then) noexcept = 0;

  /** @brief Call @p fire on the loop after @p delay_ms, unless stopTimer() is called first. */
  virtual std::uint64_t startTimer(std::uint32_t delay_ms, std::function<void()> fire) noexcept = 0;
  /** @brief Cancel a timer of startTimer(); unknown or fired ids are ignored. */
  virtual void stopTimer(std::uint64_t id) noexcept = 0;

  // ---- ABI 1.1 ----

  /**
   * @brief After an upgrade in place (ResourceClass::resume()): take over the
   * child that the previous daemon image spawned for the operation @p context
   * names (its instance id and call id). Its output so far, its timeout and
   * its process are carried over; @p done is called once when it ends, as
   * for spawn().
   * @return its id for kill(), or 0 when no such child was handed over.
   */
  virtual SpawnId adopt(const LogContext& context,
                        std::function<void(const SpawnResult&)> done) noexcept = 0;

  // ---- ABI 1.2 ----

  /** @brief Readiness bits of watch(): what to wait for, and what is ready. */
  static constexpr std::uint32_t kReadable = 1u << 0;
  static constexpr std::uint32_t kWritable = 1u << 1;
  /** @brief Reported only, whatever was asked: the peer hung up, or the descriptor has an error. */
  static constexpr std::uint32_t kHangUp = 1u << 2;

  /**
   * @brief Call @p ready on the loop each time the plugin's own descriptor
   * @p fd (a bus connection, an inotify descriptor) is ready for @p events
   * (kReadable, kWritable); it gets the bits that are ready, kHangUp among
   * them. Level-triggered: called again on the next loop iteration while the
   * condition holds. The plugin keeps owning @p fd and calls unwatch() before
   * it closes it.
   * @return an id for changeWatch() and unwatch(); 0 when @p fd cannot be
   * watched (not open, or already watched), with the reason logged.
   */
  virtual std::uint64_t watch(int fd, std::uint32_t events,
                              std::function<void(std::uint32_t ready)> ready) noexcept = 0;
  /** @brief Wait for other @p events on a watched descriptor; unknown ids are ignored. */
  virtual void changeWatch(std::uint64_t id, std::uint32_t events) noexcept = 0;
  /** @brief Stop watching; unknown ids are ignored. No call of its callback comes after this returns. */
  virtual void unwatch(std::uint64_t id) noexcept = 0;
};

}  // namespace lrm::sdk
