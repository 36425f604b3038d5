// Test support: a real systemd manager booted by the test as PID 1 of fresh
// private namespaces (pid, mount, uts, ipc, cgroup) in a cgroup of its own,
// with a hermetic unit set (a few copies from /lib/systemd/system, the units
// of tests/fixtures/systemd, and the caller's), so that tests drive real
// units over a real system bus without touching the host's systemd, units,
// /run or journal. How it works and how to debug it: docs/systemd.md,
// "Testing against a real systemd manager".
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "daemon.hpp"

/** Skip the current test, with SystemdManager::skipReason(), where no manager can be booted. */
#define LRM_SKIP_WITHOUT_SYSTEMD()                                                  \
  do {                                                                              \
    const std::string lrm_skip_reason = ::lrm::test::SystemdManager::skipReason(); \
    if (!lrm_skip_reason.empty()) GTEST_SKIP() << lrm_skip_reason;                  \
  } while (false)

namespace lrm::test {

/**
 * One systemd manager. start() boots it and returns once its SystemState is
 * `running`; stop() (and the destructor) asks it to exit, kills it if it
 * does not, waits for every process and removes its cgroup. Its bus address
 * and runtime unit directory stay the same across stop()/start() and
 * restart(), so that a daemon configured with them once follows the manager.
 * Not thread safe.
 */
class SystemdManager {
 public:
  /** Units by name (e.g. "x.service") and their text. */
  using Units = std::map<std::string, std::string>;

  /** Why no manager can be booted here, in one line; "" when it can. */
  static std::string skipReason();

  SystemdManager();
  ~SystemdManager();
  SystemdManager(const SystemdManager&) = delete;
  SystemdManager& operator=(const SystemdManager&) = delete;

  /**
   * Boot with the fixture units plus @p units (same name: @p units wins).
   * @throws std::runtime_error with the manager's output if it does not
   * reach `running`.
   */
  void start(const Units& units = {});
  /** Manager.Exit, SIGKILL after a deadline; waits; removes the cgroup. */
  void stop();
  /** stop() then start() with the same units and the same runtime unit directory (drop-ins survive). */
  void restart();
  /** `systemctl daemon-reexec` through the bus: returns once the new image owns the bus name and runs. */
  void reexec();
  /** `systemctl daemon-reload` through the bus (after addUnit() or a drop-in). */
  void reload();
  /** Write (or replace) a unit in the manager's unit directory; reload() makes it known. */
  void addUnit(const std::string& name, const std::string& text);

  /** unix:path=… of its system bus, for DBUS_SYSTEM_BUS_ADDRESS. */
  std::string busAddress() const;
  /** Host path of its /run/systemd/system (highest priority unit directory): drop-ins go here. */
  std::string unitDir() const;
  /** Host pid of its PID 1 (systemd), -1 when not running. */
  pid_t pid() const { return systemd_pid_; }
  /** Host path of its cgroup (cgroup2). */
  const std::string& cgroup() const { return cgroup_; }

  /** Run `busctl --address=<bus> ARGS...`. */
  CommandResult busctl(const std::vector<std::string>& args) const;
  /** Run `systemctl ARGS...` inside its mount and pid namespaces (nsenter -t PID -m -p). */
  CommandResult systemctl(const std::vector<std::string>& args) const;
  /**
   * A property of a unit (loaded first) on org.freedesktop.systemd1.@p interface, e.g.
   * unitProperty("x.service", "ActiveState") → "active", or ("x.service", "Result", "Service"); "" on error.
   */
  std::string unitProperty(const std::string& unit, const std::string& property,
                           const std::string& interface = "Unit") const;
  /** Host pids of the processes in a unit's cgroup (system.slice/<unit>). */
  std::vector<pid_t> unitProcesses(const std::string& unit) const;
  /** Its journal (journalctl -D …) and the output of its PID 1, for failure messages. */
  std::string log() const;

 private:
  void launch();
  void waitRunning(const std::string& what);
  void discardCgroup();
  std::string managerProperty(const std::string& property) const;
  std::string busOwner() const;

  TempDir dir_;
  Units units_;
  std::string cgroup_;
  pid_t unshare_pid_ = -1;  // parent of PID 1 in the host's pid namespace, our child
  pid_t systemd_pid_ = -1;
};

}  // namespace lrm::test
