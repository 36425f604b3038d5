// Wiring of the daemon: event loop, spawner, plugins, engine and server, and
// the shutdown sequence (docs/architecture.md §8). main.cpp only parses options.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

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
};

/**
 * Run the daemon until SIGTERM/SIGINT. @p ready is called once the socket
 * accepts connections. @return the process exit code.
 */
int runDaemon(const DaemonConfig& config, const std::function<void()>& ready);

}  // namespace lrm::kernel
