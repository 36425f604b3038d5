// Test support: a temporary directory, the real lrmd started on a socket in
// it (ready when it accepts a hello), and running a command (lrmctl) with its
// output captured. Nothing here sleeps for a fixed time: waits poll a
// condition against a generous deadline.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lrm/client/client.hpp"

namespace lrm::test {

using Millis = std::chrono::milliseconds;

/** Generous deadline for anything a loaded 2-core machine should finish. */
inline constexpr Millis kPatience{30000};

/** A directory removed (recursively) on destruction. */
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct DaemonOptions {
  std::string lrmd;        ///< the binary; default: the build's
  std::string socket;      ///< default: lrmd.sock in the daemon's temporary directory
  std::string plugin_dir;  ///< default: the build's plugin directory
  std::string state_dir;   ///< default: state/ in the daemon's temporary directory
  std::vector<std::string> extra_args;
  std::map<std::string, std::string> env;  ///< added to the daemon's environment
  /** Run lrmd through this command, which must exec it (same pid), e.g. to give it a private mount namespace. */
  std::vector<std::string> launcher;
};

/** The real lrmd on a temporary socket, using the fixture agents. */
class TestDaemon {
 public:
  explicit TestDaemon(DaemonOptions options = {});
  ~TestDaemon();

  const std::string& socket() const { return socket_; }
  const TempDir& dir() const { return dir_; }
  pid_t pid() const { return pid_; }
  /** A new connected client. */
  std::unique_ptr<client::Client> connect(const std::string& name = "test") const;
  /** The daemon's log so far. */
  std::string log() const;
  /** SIGTERM and wait; @return the exit status (0 for a clean exit), or -1 if it had to be killed. */
  int stop();
  /** SIGKILL: the daemon dies without cleaning up (socket left behind). */
  void crash();
  /** Is the process still running? */
  bool alive() const;

 private:
  TempDir dir_;
  std::string socket_;
  mutable pid_t pid_ = -1;  // -1 once reaped (by stop(), crash() or alive())
};

/** A registration request (name defaults to the id). */
client::RegisterRequest registration(const std::string& id, const std::string& agent, sdk::Params params = {});
/** A one-shot exec request with the default timeout. */
client::ExecRequest operation(const std::string& id, const std::string& action, sdk::Params params = {});

/**
 * The `cancelled` result of a recurring op: results of iterations that ran
 * before the cancellation took effect are skipped.
 */
client::Event waitForCancelled(client::Client& client, sdk::CallId call);

/** Poll @p condition until it holds or @p deadline passes. */
bool waitUntil(const std::function<bool()>& condition, Millis deadline = kPatience);

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/** Run @p argv (argv[0] absolute) with extra @p env, capturing output. */
CommandResult runCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env = {});

/**
 * Start @p argv (argv[0] a path) with this process's environment plus @p env,
 * stdin from /dev/null, stdout to @p out_fd and stderr to @p err_fd (-1:
 * inherited). @throws std::runtime_error when it cannot be started.
 */
pid_t spawnProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                   int out_fd, int err_fd);

/** Path of a built binary (lrmd, lrmctl). */
std::string binary(const std::string& name);
/** Path of the fixture OCF root for LRM_OCF_PATH. */
std::string fixtureOcfPath();

/** Read a whole file ("" if missing). */
std::string readFile(const std::string& path);
/** Is a process with this pid alive (and not a zombie)? */
bool processAlive(pid_t pid);

}  // namespace lrm::test
