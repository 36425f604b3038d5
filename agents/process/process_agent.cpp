// native:lrm:Process — supervises a long-running command that has no agent.
//   command         shell command line to run (required)
//   pidfile         default /run/lrm-native/Process-<instance>.pid
//   port            optional: monitor also checks this TCP port on 127.0.0.1
//   stop_grace_ms   SIGTERM, then SIGKILL after this long (default 5000)
// start spawns the command detached in its own session (posix_spawn, safe
// from a worker thread) and records its pid; monitor checks the pid is alive
// (and the port answers); stop sends TERM, then KILL after the grace.
#include <Poco/Exception.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "../common.hpp"

namespace {

namespace fs = std::filesystem;
using lrm::agents::param;
using lrm::agents::pause;
using lrm::agents::result;
namespace rc = lrm::sdk::rc;

// Alive and not a zombie (a zombie waits to be reaped by lrmd's loop). Read
// with read(2): the process may vanish mid-read (ESRCH), which libstdc++'s
// streams turn into an exception.
bool alive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buffer[1024];
  const ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
  ::close(fd);
  if (n <= 0) return false;  // gone meanwhile
  const std::string stat(buffer, static_cast<std::size_t>(n));
  const auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

class Process final : public lrm::sdk::Agent {
 public:
  std::string metadata() const override {
    return R"(<?xml version="1.0"?>
<resource-agent name="Process" version="1.0">
<version>1.1</version>
<longdesc lang="en">Runs a long-running command detached in its own session and supervises it through its pid (and optionally a TCP port).</longdesc>
<shortdesc lang="en">Supervises a command</shortdesc>
<parameters>
<parameter name="command" required="1"><shortdesc lang="en">Command line (run by /bin/sh)</shortdesc><content type="string"/></parameter>
<parameter name="pidfile"><shortdesc lang="en">Pid file</shortdesc><content type="string" default="/run/lrm-native/Process-INSTANCE.pid"/></parameter>
<parameter name="port"><shortdesc lang="en">TCP port on 127.0.0.1 that must answer</shortdesc><content type="integer"/></parameter>
<parameter name="stop_grace_ms"><shortdesc lang="en">Grace between SIGTERM and SIGKILL (ms)</shortdesc><content type="integer" default="5000"/></parameter>
</parameters>
<actions>
<action name="start" timeout="20s"/>
<action name="stop" timeout="20s"/>
<action name="monitor" timeout="20s" interval="10s"/>
<action name="meta-data" timeout="5s"/>
<action name="validate-all" timeout="5s"/>
</actions>
</resource-agent>
)";
  }

  lrm::sdk::Result run(const lrm::sdk::Operation& op, lrm::sdk::ActionContext& context) override {
    const std::string command = param(op, "command");
    if (command.empty() && op.action != "stop") return result(rc::kNotConfigured, "parameter 'command' is required");
    const fs::path pidfile = param(op, "pidfile", "/run/lrm-native/Process-" + op.instance_id + ".pid");
    pid_t pid = 0;
    {
      std::ifstream in(pidfile);
      in >> pid;
    }
    std::error_code ec;
    if (op.action == "start") {
      if (alive(pid)) return result(rc::kOk);
      fs::create_directories(pidfile.parent_path(), ec);
      posix_spawnattr_t attr;
      posix_spawnattr_init(&attr);
      posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
      sigset_t none, all;
      sigemptyset(&none);
      sigfillset(&all);
      posix_spawnattr_setsigmask(&attr, &none);
      posix_spawnattr_setsigdefault(&attr, &all);
      posix_spawn_file_actions_t files;
      posix_spawn_file_actions_init(&files);
      for (int fd = 0; fd <= 2; ++fd) posix_spawn_file_actions_addopen(&files, fd, "/dev/null", O_RDWR, 0);
      posix_spawn_file_actions_addclosefrom_np(&files, 3);
      const std::string script = "exec " + command;
      char* argv[] = {const_cast<char*>("/bin/sh"), const_cast<char*>("-c"), const_cast<char*>(script.c_str()), nullptr};
      char* envp[] = {const_cast<char*>("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), nullptr};
      const int error = ::posix_spawn(&pid, "/bin/sh", &files, &attr, argv, envp);
      posix_spawn_file_actions_destroy(&files);
      posix_spawnattr_destroy(&attr);
      if (error != 0) return result(rc::kError, "cannot run /bin/sh: " + std::string(std::strerror(error)));
      std::ofstream(pidfile) << pid << "\n";
      context.log(lrm::sdk::LogLevel::Info, "started pid " + std::to_string(pid));
      return result(rc::kOk);
    }
    if (op.action == "stop") {
      if (alive(pid)) {
        ::kill(-pid, SIGTERM);  // its own session and group: the whole group
        const long grace = std::stol(param(op, "stop_grace_ms", "5000"));
        for (long waited = 0; alive(pid) && waited < grace; waited += 20) {
          if (!pause(context, 20)) break;
        }
        if (alive(pid)) {
          context.log(lrm::sdk::LogLevel::Warning, "pid " + std::to_string(pid) + " ignored SIGTERM: SIGKILL");
          ::kill(-pid, SIGKILL);
          while (alive(pid) && pause(context, 20)) {
          }
        }
      }
      fs::remove(pidfile, ec);
      return alive(pid) ? result(rc::kError, "pid " + std::to_string(pid) + " did not die") : result(rc::kOk);
    }
    if (op.action == "monitor" || op.action == "status") {
      if (!alive(pid)) return result(rc::kNotRunning, pid ? "pid " + std::to_string(pid) + " is gone" : "");
      const std::string port = param(op, "port");
      if (!port.empty()) {
        try {
          Poco::Net::StreamSocket socket;
          socket.connect(Poco::Net::SocketAddress("127.0.0.1:" + port), Poco::Timespan(2, 0));
        } catch (const Poco::Exception& e) {
          return result(rc::kError, "pid " + std::to_string(pid) + " runs but port " + port + " does not answer: " +
                                        e.displayText());
        }
      }
      return result(rc::kOk);
    }
    if (op.action == "validate-all") return result(rc::kOk);
    return result(rc::kUnimplemented, "action '" + op.action + "' is not implemented");
  }
};

}  // namespace

LRM_AGENT(Process, "lrm", "Process", "1.0");
