// The TCP listener of the Pacemaker Remote endpoint: binds where Pacemaker's
// own remote daemon binds (PCMK_remote_address, default every address, IPv6
// preferred and serving IPv4 through mapped addresses) and accepts
// non-blocking, close-on-exec sockets with TCP_NODELAY, for an event loop.
#pragma once

#include <cstdint>
#include <string>

namespace lrm::pacemaker {

/**
 * A listening TCP socket (plain sockets: Poco's ServerSocket cannot accept
 * with SOCK_NONBLOCK | SOCK_CLOEXEC in one call, and every fd here goes into
 * our own event loop anyway). Owns its fd.
 */
class TcpListener {
 public:
  struct Accepted {
    enum class Status { Invalid = 0, Connection, None, Failed };
    Status status = Status::Invalid;
    int fd = -1;        // with Connection: the caller owns it
    std::string peer;   // with Connection: "10.0.0.1:40212" or "[fe80::1]:40212"
    std::string error;  // with Failed
  };

  /**
   * Bind @p address (empty = every address) and @p port (0 = any, for tests)
   * and listen. Of the addresses the name resolves to, the first IPv6 one
   * that binds is used (IPV6_V6ONLY off, so IPv4 clients reach it too), else
   * the first IPv4 one: a host without IPv6 gets an IPv4 listener.
   * @throws std::runtime_error naming the address, the port and why.
   */
  TcpListener(const std::string& address, std::uint16_t port);
  ~TcpListener();
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;

  int fd() const { return fd_; }
  /** The bound address and port ("[::]:3121", "0.0.0.0:3121"). */
  const std::string& boundAddress() const { return bound_; }
  std::uint16_t port() const { return port_; }

  /**
   * Accept one pending connection, non-blocking: None when nothing is
   * pending; Failed for an error the caller should log (e.g. out of fds,
   * EMFILE: the listener stays readable, so back off before trying again).
   */
  Accepted accept();

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::string bound_;
};

/** "10.0.0.1:40212" (an IPv4-mapped IPv6 address is shown as IPv4) or "[::1]:40212". */
std::string describeAddress(const void* sockaddr_storage, unsigned length);

}  // namespace lrm::pacemaker
