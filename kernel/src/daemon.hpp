// The daemon: its parts (event loop, spawner, plugins, engine, server,
// journal) and its lifecycle as phases (docs/architecture.md §8). Startup
// locks the state directory, loads the plugins, restores the state and, after
// an upgrade in place, takes over what the previous image handed over; then
// the Daemon serves until an event moves it on: SIGTERM/SIGINT drain it (a
// second one stops it at once), SIGHUP or an `upgrade` request upgrade it
// (upgrade.hpp holds the mechanics). The engine says when an op in flight
// ends, a timer bounds each wait: nothing polls. main.cpp only parses options.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "durability_gate.hpp"
#include "engine.hpp"
#include "event_loop.hpp"
#include "handover.hpp"
#include "host_services.hpp"
#include "server.hpp"
#include "spawner.hpp"
#include "state_dir_lock.hpp"
#include "worker_pool.hpp"

namespace lrm::kernel {

struct DaemonConfig {
  std::string socket_path;
  std::vector<std::string> plugin_dirs;
  std::uint64_t max_children = 0;
  std::uint64_t kill_grace_ms = 0;
  std::uint64_t max_output_bytes = 10 * 1024 * 1024;  ///< per stream of each agent run
  std::string timeout_hook;                           ///< run before a timeout kill
  std::uint64_t shutdown_timeout_ms = 30000;
  std::uint64_t resume_window_ms = 30000;  ///< after an upgrade: how long sessions wait for their clients
  gid_t allowed_gid = static_cast<gid_t>(-1);
  std::uint64_t max_connections = 1024;         ///< of unprivileged peers, in all
  std::uint64_t max_connections_per_uid = 32;   ///< of unprivileged peers, per uid
  std::uint64_t hello_timeout_ms = 10000;       ///< close connections that say no hello by then
  std::uint64_t max_buffered_bytes = 256 * 1024 * 1024;  ///< input and output of all connections
  std::string state_dir;  ///< empty: nothing persisted
  bool resume_recurring = false;  ///< resubmit restored recurring ops
  int inherited_listen_fd = -1;   ///< after an upgrade: the socket to serve on
  std::map<std::string, std::string> settings;  ///< for plugins (sdk::Host::setting)
  std::vector<std::string> args;  ///< main()'s arguments after argv[0]: an upgrade executes them again
};

class JournalOutage;
class StateStore;
class Upgrade;

/**
 * One per process, on the loop's thread. Phases and what moves them
 * (docs/architecture.md §8 has the table):
 *   Serving --SIGTERM/SIGINT--> Draining --nothing in flight | bound--> Stopped
 *   Draining --SIGTERM/SIGINT--> Stopped (ops in flight reported abandoned)
 *   Serving --SIGHUP | upgrade--> Upgrading --nothing left that cannot be handed over | bound--> exec()
 *   Upgrading --SIGHUP--> UpgradeQueued (the new image upgrades again)
 *   Upgrading, UpgradeQueued --SIGTERM/SIGINT--> Draining (the upgrade is given up)
 *   Upgrading, UpgradeQueued --exec() failed--> FallingBack (exit 1: persist-and-restart)
 */
class Daemon {
 public:
  enum class Phase { Invalid = 0, Starting, Serving, Draining, Upgrading, UpgradeQueued, FallingBack, Stopped };

  explicit Daemon(DaemonConfig config);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  /** Start, call @p ready once the socket accepts connections, serve until stopped. @return the exit code. */
  int run(const std::function<void()>& ready);

 private:
  // Startup, in this order; false: the daemon cannot start (logged).
  bool lockStateDir();
  void loadPlugins();
  bool restoreState(std::optional<Handover> handover);
  std::size_t restoreInstances(const Handover* handover);
  void takeOver(Handover& handover);
  void wireJournal();
  bool listen();
  void watchEvents();

  // Events.
  void terminate(const char* signal_name);
  void hangUp();
  std::string requestUpgrade(const std::string& binary);
  void opEnded();
  void deadlineReached();

  // Phase changes and the condition each phase waits for.
  void drain(const char* signal_name);
  void waitFor(Phase phase);
  void settle();
  void handOver();
  void stop(Phase phase);
  bool upgrading() const { return phase_ == Phase::Upgrading || phase_ == Phase::UpgradeQueued; }
  int finish();

  const DaemonConfig config_;
  Phase phase_ = Phase::Starting;
  std::optional<StateDirLock> state_lock_;  // first taken, last released
  EventLoop loop_;
  Spawner spawner_;
  WorkerPool workers_;
  HostServices host_;
  Server server_;
  Engine engine_;
  std::unique_ptr<StateStore> store_;  // with a state directory
  std::unique_ptr<JournalOutage> outage_;
  std::unique_ptr<DurabilityGate> gate_;  // server_ holds it while the loop runs
  std::unique_ptr<Upgrade> upgrade_;
  std::optional<TimerId> deadline_;  // of the wait of Draining or Upgrading
  bool settle_queued_ = false;       // settle() deferred to the next iteration
};

/**
 * Run the daemon until SIGTERM/SIGINT. @p ready is called once the socket
 * accepts connections. @return the process exit code.
 */
int runDaemon(const DaemonConfig& config, const std::function<void()>& ready);

}  // namespace lrm::kernel
