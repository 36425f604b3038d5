// Binding and accepting for the Pacemaker Remote endpoint, with the socket
// options Pacemaker's clients rely on (TCP_NODELAY: every message is two
// writes, and Nagle would hold the second).
#include "tcp_listener.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace lrm::pacemaker {
namespace {

// Backlog: cluster connections arrive one per cluster node, rarely at once.
constexpr int kBacklog = 64;

std::string errnoText(int error) { return std::strerror(error); }

}  // namespace

std::string describeAddress(const void* storage, unsigned length) {
  const auto* generic = static_cast<const sockaddr*>(storage);
  char text[INET6_ADDRSTRLEN] = "?";
  if (generic->sa_family == AF_INET && length >= sizeof(sockaddr_in)) {
    const auto* in = static_cast<const sockaddr_in*>(storage);
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (generic->sa_family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
    const auto* in6 = static_cast<const sockaddr_in6*>(storage);
    const std::string port = std::to_string(ntohs(in6->sin6_port));
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      ::inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], text, sizeof text);
      return std::string(text) + ":" + port;
    }
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    return "[" + std::string(text) + "]:" + port;
  }
  return "(unknown address family " + std::to_string(generic->sa_family) + ")";
}

TcpListener::TcpListener(const std::string& address, std::uint16_t port) {
  const std::string where =
      (address.empty() ? std::string("every address") : address) + " port " + std::to_string(port);
  addrinfo hints{};
  hints.ai_flags = AI_PASSIVE;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  const int rc = ::getaddrinfo(address.empty() ? nullptr : address.c_str(), service.c_str(), &hints, &found);
  if (rc != 0) throw std::runtime_error("unable to resolve " + where + ": " + ::gai_strerror(rc));

  std::string reasons;
  for (int family : {AF_INET6, AF_INET}) {
    for (addrinfo* ai = found; ai != nullptr && fd_ < 0; ai = ai->ai_next) {
      if (ai->ai_family != family) continue;
      const std::string candidate = describeAddress(ai->ai_addr, ai->ai_addrlen);
      const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) {
        reasons += "; " + candidate + ": " + errnoText(errno);
        continue;
      }
      const int on = 1;
      const int off = 0;
      // SO_REUSEADDR: a restart must not wait for the old connections' TIME_WAIT.
      const bool ok = ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0 &&
                      (family != AF_INET6 || ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) == 0) &&
                      ::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, kBacklog) == 0;
      if (!ok) {
        reasons += "; " + candidate + ": " + errnoText(errno);
        ::close(fd);
        continue;
      }
      fd_ = fd;
    }
  }
  ::freeaddrinfo(found);
  if (fd_ < 0) {
    throw std::runtime_error("unable to listen on " + where + ": " +
                             (reasons.empty() ? std::string("no IPv4 or IPv6 address") : reasons.substr(2)));
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&bound), &length);
  bound_ = describeAddress(&bound, length);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

TcpListener::~TcpListener() {
  if (fd_ >= 0) ::close(fd_);
}

TcpListener::Accepted TcpListener::accept() {
  Accepted out;
  sockaddr_storage peer{};
  socklen_t length = sizeof peer;
  int fd;
  do {
    fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    // A connection reset before we took it is the peer's business, not ours.
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED) {
      out.status = Accepted::Status::None;
    } else {
      out.status = Accepted::Status::Failed;
      out.error = "unable to accept a connection on " + bound_ + ": " + errnoText(errno);
    }
    return out;
  }
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  out.status = Accepted::Status::Connection;
  out.fd = fd;
  out.peer = describeAddress(&peer, length);
  return out;
}

}  // namespace lrm::pacemaker
