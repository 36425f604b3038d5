// Upgrade in place (docs/operations.md, docs/architecture.md §8): the
// mechanics, not the decision of when (that is the Daemon's phases). start()
// resolves and checks the binary; notCarriable() says which ops in flight
// cannot be handed over and must be waited for; handOver() writes the handover
// file and re-executes the binary with the same pid, the listening socket and
// the state directory's lock; when exec() fails it undoes what it did and the
// daemon falls back to persist-and-restart. On the new image's side,
// takeHandover() reads and removes the file (or a stale one left by an
// upgrade that never reached the new image).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "handover.hpp"

namespace lrm::kernel {

class Engine;
class Server;
class Spawner;
class StateDirLock;
class StateStore;

/** The environment variable naming the handover file for the new image. */
constexpr const char* kHandoverEnv = "LRM_HANDOVER";

/** The handover file of the state directory @p state_dir. */
std::string handoverPath(const std::string& state_dir);
/**
 * The new image, at start: the handover the previous image named in
 * kHandoverEnv, read and removed (nullopt, logged, when it cannot be read:
 * its ops in flight are then reported as interrupted). Without one, a stale
 * handover file in @p state_dir is removed: nobody will take it over, and a
 * later upgrade must not read it.
 */
std::optional<Handover> takeHandover(const std::string& state_dir);

/**
 * The binary to execute: @p requested, or else the running one (@p running,
 * /proc/self/exe's target) without the " (deleted)" the kernel appends once
 * a package upgrade renamed a new file over it: the new one is at that path.
 */
std::string upgradeBinary(const std::string& requested, const std::string& running);
/**
 * The new image's argv: @p binary, then the daemon's own arguments @p args
 * without --inherit-listen-fd and --resume-recurring, then --resume-recurring
 * (a binary that ignores the handover takes recurring ops from the journal)
 * and --inherit-listen-fd @p listen_fd.
 */
std::vector<std::string> upgradeArguments(const std::string& binary, const std::vector<std::string>& args,
                                          int listen_fd);
/** Logs why the upgrade failed and that lrmd exits to be restarted from its journal. */
void logFallBack(const std::string& why);

class Upgrade {
 public:
  using OpKey = std::pair<std::string, sdk::CallId>;  ///< instance id, call id

  Upgrade(Engine& engine, Server& server, Spawner& spawner, StateStore& store, StateDirLock& lock,
          std::string state_dir, std::vector<std::string> args)
      : engine_(engine),
        server_(server),
        spawner_(spawner),
        store_(store),
        lock_(lock),
        state_dir_(std::move(state_dir)),
        args_(std::move(args)) {}

  /** Resolve @p requested (see upgradeBinary()); @return why it cannot run, "" when it can. */
  std::string start(const std::string& requested);
  const std::string& binary() const { return binary_; }
  /**
   * Ops in flight that cannot be handed over: of an unregistered instance, or
   * with no agent process unless their class says they carry over (ABI 1.3).
   */
  std::set<OpKey> notCarriable() const;
  /**
   * Say goodbye to the clients, write the handover and exec() the binary;
   * with @p queue_hangup a SIGHUP is left pending for the new image (it
   * upgrades again). Returns only when it failed, with why, having undone
   * the environment, the lock's inheritance and the handover file.
   */
  std::string handOver(bool queue_hangup);

 private:
  Engine& engine_;
  Server& server_;
  Spawner& spawner_;
  StateStore& store_;
  StateDirLock& lock_;
  const std::string state_dir_;
  const std::vector<std::string> args_;  // main()'s, after argv[0]
  std::string binary_;
};

}  // namespace lrm::kernel
