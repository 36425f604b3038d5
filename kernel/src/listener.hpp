// The listening side of the daemon's socket: binding it (replacing a stale
// socket file, never a live daemon's), or taking the one an upgrade handed
// over; accepting with a back-off when descriptors run out; who each peer is
// (SO_PEERCRED) and whether it is privileged; and how many connections
// unprivileged peers may hold, in all and per uid, within RLIMIT_NOFILE.
#pragma once

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>
#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "event_loop.hpp"

namespace lrm::kernel {

/** Who is on the other end of a connection, as the kernel told at accept. */
struct Peer {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  pid_t pid = 0;
  bool privileged = false;  ///< may change anything and read everything? decided once, at accept
};

struct ListenerOptions {
  std::string socket_path;
  gid_t allowed_gid = static_cast<gid_t>(-1);  ///< group whose members are privileged
  /// Connections of unprivileged peers, in all and per uid; privileged ones are not counted.
  std::size_t max_connections = 1024;
  std::size_t max_connections_per_uid = 32;
};

class Listener {
 public:
  /** A connection was accepted: @p socket owns @p fd. */
  using Accepted = std::function<void(Poco::Net::StreamSocket socket, int fd, const Peer& peer)>;

  Listener(EventLoop& loop, ListenerOptions options, Accepted accepted);
  ~Listener();

  /**
   * Bind the socket (replacing a stale one), or take @p inherited_fd, and start accepting.
   * @throws std::runtime_error when another daemon answers there or the socket cannot be set up.
   */
  void listen(int inherited_fd = -1);
  /** Stop accepting for good (connections wait in the backlog, for the next image). */
  void pause();
  /** Stop accepting and remove the socket file. */
  void stop();
  /** A copy of the listening socket without close-on-exec, for the next image; -1 on failure. */
  int forExec() const;
  /**
   * May @p peer (described as @p who in the log) hold one more connection?
   * "" when it may (it is counted until release()); else why not, logged at
   * most once a minute per limit. Privileged peers always may.
   */
  std::string admit(const Peer& peer, const std::string& who);
  /** A connection admitted for @p peer is closed. */
  void release(const Peer& peer);

 private:
  /** A refusal repeated for every connection is logged once a minute. */
  struct Throttle {
    std::optional<Clock::time_point> logged;
    std::size_t unlogged = 0;
  };
  struct UidUsage {
    std::size_t connections = 0;
    Throttle refusals;  // over max_connections_per_uid
  };

  /** Make room for max_connections unprivileged peers in RLIMIT_NOFILE, or lower it. */
  void reserveDescriptors();
  void inherit(int fd);
  void replaceStale();
  void bind();
  void setMode();
  void watch();
  void onAccept();
  Peer peerOf(int fd) const;
  void logRefusal(Throttle& throttle, const std::string& who, const std::string& refusal);

  EventLoop& loop_;
  ListenerOptions options_;
  Accepted accepted_;
  std::unique_ptr<Poco::Net::ServerSocket> socket_;
  int fd_ = -1;
  bool paused_ = false;
  std::map<uid_t, UidUsage> unprivileged_;  // connections of unprivileged peers, by uid
  std::size_t unprivileged_count_ = 0;
  Throttle refusals_;  // over max_connections
};

}  // namespace lrm::kernel
