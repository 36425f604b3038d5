// Binding, accepting and admitting connections (see listener.hpp). Every
// system call that sets the socket up is checked: a listening socket that
// agents would inherit, that blocks the loop or that the allowed group cannot
// open is an error at start, not a surprise later.
#include "listener.hpp"

#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocketImpl.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <utility>
#include <vector>

#include "log.hpp"

namespace lrm::kernel {

namespace {

// Descriptors kept for privileged peers, agents' pipes, the journal and the
// loop itself: unprivileged connections may not use them up.
constexpr rlim_t kReservedFds = 256;
constexpr auto kRefusalLogInterval = std::chrono::minutes(1);
constexpr Millis kAcceptRetry{100};

// Is @p uid (primary group @p primary) a member of @p group, also through
// its supplementary groups? SO_PEERCRED only reports the primary one.
bool memberOf(uid_t uid, gid_t primary, gid_t group) {
  if (primary == group) return true;
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) != 0 || !found) return false;
  int count = 64;
  std::vector<gid_t> groups(static_cast<std::size_t>(count));
  if (::getgrouplist(found->pw_name, found->pw_gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<std::size_t>(count));
    if (::getgrouplist(found->pw_name, found->pw_gid, groups.data(), &count) < 0) return false;
  }
  groups.resize(static_cast<std::size_t>(count));
  return std::find(groups.begin(), groups.end(), group) != groups.end();
}

std::string lastError() { return std::strerror(errno); }

// Close-on-exec (agents must not inherit the listening socket) and
// non-blocking (accepting must never block the loop).
void setUp(int fd, const std::string& what) {
  if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
    throw std::runtime_error("unable to set close-on-exec on " + what + ": " + lastError());
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    throw std::runtime_error("unable to make " + what + " non-blocking: " + lastError());
  }
}

}  // namespace

Listener::Listener(EventLoop& loop, ListenerOptions options, Accepted accepted)
    : loop_(loop), options_(std::move(options)), accepted_(std::move(accepted)) {}

Listener::~Listener() { stop(); }

void Listener::listen(int inherited_fd) {
  reserveDescriptors();
  if (inherited_fd >= 0) {
    inherit(inherited_fd);
    return;
  }
  replaceStale();
  bind();
  try {
    setMode();
  } catch (const std::exception&) {
    stop();
    throw;
  }
}

void Listener::inherit(int fd) {
  // After an upgrade: the previous binary's listening socket, still bound;
  // clients that connected meanwhile wait in its backlog.
  setUp(fd, "the inherited listening socket (fd " + std::to_string(fd) + ")");
  fd_ = fd;
  watch();
}

void Listener::replaceStale() {
  namespace fs = std::filesystem;
  const fs::path path(options_.socket_path);
  std::error_code ec;
  if (path.has_parent_path() && !fs::exists(path.parent_path(), ec)) {
    fs::create_directories(path.parent_path(), ec);
    if (ec) throw std::runtime_error("unable to create " + path.parent_path().string() + ": " + ec.message());
    // Clients of any user must reach the socket inside it.
    if (::chmod(path.parent_path().c_str(), 0755) != 0) {
      throw std::runtime_error("unable to make " + path.parent_path().string() + " reachable (mode 0755): " +
                               lastError());
    }
  }
  if (!fs::exists(fs::symlink_status(path, ec))) return;
  if (!fs::is_socket(fs::symlink_status(path, ec))) {
    throw std::runtime_error(options_.socket_path + " exists and is not a socket; refusing to replace it");
  }
  try {
    Poco::Net::StreamSocket probe;
    probe.connect(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, options_.socket_path),
                  Poco::Timespan(2, 0));
    throw std::runtime_error("another lrmd is already serving on " + options_.socket_path);
  } catch (const Poco::Exception&) {
    log(sdk::LogLevel::Notice, "replacing stale socket " + options_.socket_path);
    fs::remove(path, ec);
  }
}

void Listener::bind() {
  try {
    socket_ = std::make_unique<Poco::Net::ServerSocket>(
        Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, options_.socket_path), 1024);
  } catch (const Poco::Exception& e) {
    throw std::runtime_error("unable to listen on " + options_.socket_path + ": " + e.displayText());
  }
  fd_ = socket_->impl()->sockfd();
  try {
    setUp(fd_, "the listening socket " + options_.socket_path);  // Poco sets neither
  } catch (const std::exception&) {
    stop();
    throw;
  }
  watch();
}

void Listener::setMode() {
  // Without an allowed group anyone may connect and ask what is not secret
  // (docs/protocol.md §3); with one, only its members (and root, and the
  // daemon's user) may connect at all. Privileges are checked per request
  // against the peer's credentials in both cases.
  mode_t mode = 0666;
  const char* mode_text = "0666";
  if (options_.allowed_gid != static_cast<gid_t>(-1)) {
    if (::chown(options_.socket_path.c_str(), static_cast<uid_t>(-1), options_.allowed_gid) != 0) {
      throw std::runtime_error("unable to give " + options_.socket_path + " to group " +
                               std::to_string(options_.allowed_gid) + " (allowed-group): " + lastError());
    }
    mode = 0660;
    mode_text = "0660";
  }
  if (::chmod(options_.socket_path.c_str(), mode) != 0) {
    throw std::runtime_error("unable to set the mode of " + options_.socket_path + " to " + mode_text + ": " +
                             lastError());
  }
}

void Listener::reserveDescriptors() {
  // Unprivileged peers must not take the descriptors root needs to connect:
  // their connections have to fit in RLIMIT_NOFILE with room to spare
  // (systemd's default soft limit is 1024). Raise the soft limit as far as
  // the hard one allows, else serve fewer unprivileged connections. Failing
  // to read or raise the limit is a warning: the daemon still serves, as if
  // the limit were what it is.
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    log(sdk::LogLevel::Warning, "unable to read RLIMIT_NOFILE: " + lastError() +
                                    "; max-connections is not checked against it");
    return;
  }
  const rlim_t wanted = static_cast<rlim_t>(options_.max_connections) + kReservedFds;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      limit = raised;
    } else {
      log(sdk::LogLevel::Warning, "unable to raise RLIMIT_NOFILE from " + std::to_string(limit.rlim_cur) +
                                      " to " + std::to_string(raised.rlim_cur) + ": " + lastError());
    }
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    const std::size_t fitting =
        static_cast<std::size_t>(limit.rlim_cur > 2 * kReservedFds ? limit.rlim_cur - kReservedFds : limit.rlim_cur / 2);
    log(sdk::LogLevel::Warning, "only " + std::to_string(limit.rlim_cur) +
                                    " file descriptors (RLIMIT_NOFILE): unprivileged peers get at most " +
                                    std::to_string(fitting) + " connections, not " +
                                    std::to_string(options_.max_connections) + " (max-connections)");
    options_.max_connections = fitting;
  }
}

void Listener::watch() {
  loop_.watch(fd_, EPOLLIN, [this](std::uint32_t) { onAccept(); });
}

void Listener::pause() {
  paused_ = true;
  if (fd_ >= 0) loop_.unwatch(fd_);
}

void Listener::stop() {
  if (fd_ < 0) return;
  loop_.unwatch(fd_);
  if (socket_) {
    socket_->close();
    socket_.reset();
  } else {
    ::close(fd_);
  }
  fd_ = -1;
  std::error_code ec;
  std::filesystem::remove(options_.socket_path, ec);
}

int Listener::forExec() const {
  if (fd_ < 0) return -1;
  return ::dup(fd_);  // dup() does not copy close-on-exec
}

void Listener::onAccept() {
  // Take every pending connection now: while the backlog is full, clients wait.
  while (fd_ >= 0 && !paused_) {
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EINTR) continue;
      if (errno == EMFILE || errno == ENFILE) {
        // The listener stays readable: try again shortly rather than spin.
        // The connection waits in the backlog meanwhile.
        log(sdk::LogLevel::Warning, "unable to accept a connection: " + lastError() + "; trying again in " +
                                        std::to_string(kAcceptRetry.count()) + " ms");
        loop_.unwatch(fd_);
        loop_.addTimer(kAcceptRetry, [this] {
          if (fd_ >= 0 && !paused_) watch();
        });
        return;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        log(sdk::LogLevel::Warning, "unable to accept a connection: " + lastError());
      }
      return;
    }
    // Poco owns the descriptor from here on (closed with the last reference).
    accepted_(Poco::Net::StreamSocket(new Poco::Net::StreamSocketImpl(fd)), fd, peerOf(fd));
  }
}

Peer Listener::peerOf(int fd) const {
  Peer peer;
  ucred credentials{};
  socklen_t length = sizeof credentials;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0) {
    peer.uid = credentials.uid;
    peer.gid = credentials.gid;
    peer.pid = credentials.pid;
  }
  // Decided once, here: the limits depend on it. Root and the daemon's
  // own user cost nothing to check; membership of the allowed group through
  // a supplementary group needs getgrouplist(), which may ask NSS (a file
  // read, or a directory service that can be slow). That is accepted: only
  // peers not already privileged by uid or primary group pay for it.
  peer.privileged = peer.uid == 0 || peer.uid == ::geteuid() ||
                    (options_.allowed_gid != static_cast<gid_t>(-1) &&
                     memberOf(peer.uid, peer.gid, options_.allowed_gid));
  return peer;
}

std::string Listener::admit(const Peer& peer, const std::string& who) {
  if (peer.privileged) return {};
  // Unprivileged peers share max_connections and each uid gets at most
  // max_connections_per_uid of them; privileged peers are always served.
  UidUsage& usage = unprivileged_[peer.uid];
  std::string refusal;
  if (usage.connections >= options_.max_connections_per_uid) {
    refusal = "uid " + std::to_string(peer.uid) + " already has " + std::to_string(usage.connections) +
              " connections (max-connections-per-uid)";
    logRefusal(usage.refusals, who, refusal);
  } else if (unprivileged_count_ >= options_.max_connections) {
    refusal = "unprivileged peers already hold " + std::to_string(unprivileged_count_) +
              " connections (max-connections)";
    logRefusal(refusals_, who, refusal);
  }
  if (!refusal.empty()) {
    if (usage.connections == 0) unprivileged_.erase(peer.uid);
    return refusal;
  }
  ++usage.connections;
  ++unprivileged_count_;
  return {};
}

void Listener::logRefusal(Throttle& throttle, const std::string& who, const std::string& refusal) {
  const auto now = Clock::now();
  if (!throttle.logged || now - *throttle.logged >= kRefusalLogInterval) {
    const std::string since =
        throttle.unlogged ? " (" + std::to_string(throttle.unlogged) + " more refused since the last line)" : "";
    log(sdk::LogLevel::Notice, "refusing " + who + ": " + refusal + since +
                                   "; the next such refusal is logged in a minute at the earliest");
    throttle.logged = now;
    throttle.unlogged = 0;
  } else {
    ++throttle.unlogged;
  }
}

void Listener::release(const Peer& peer) {
  if (peer.privileged) return;
  --unprivileged_count_;
  const auto usage = unprivileged_.find(peer.uid);
  if (--usage->second.connections == 0) unprivileged_.erase(usage);
}

}  // namespace lrm::kernel
