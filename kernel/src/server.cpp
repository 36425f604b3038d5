// Connections, request dispatch and event fan-out (see server.hpp).
#include "server.hpp"

#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocketImpl.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <utility>

#include "log.hpp"
#include "metadata_parser.hpp"
#include "protocol/codec.hpp"

namespace lrm::kernel {

using wire::Message;

namespace {

constexpr std::size_t kMaxParams = 256;
constexpr std::size_t kMaxParamValueBytes = 64 * 1024;
constexpr std::size_t kMaxPendingOutputBytes = 2 * wire::kMaxFrameBytes;
// Peers that cannot change anything (and everyone before hello) never need
// large frames: their requests are a few hundred bytes.
constexpr std::size_t kMaxSmallFrameBytes = 64 * 1024;
// Unprivileged peers get no events, only replies: a little unread output is plenty.
constexpr std::size_t kMaxUnprivilegedPendingOutputBytes = 1024 * 1024;
// Longest request element name repeated in an error reply or a log line.
constexpr std::size_t kMaxQuotedKindBytes = 64;
// Descriptors kept for privileged peers, agents' pipes, the journal and the
// loop itself: unprivileged connections may not use them up.
constexpr rlim_t kReservedFds = 256;
constexpr auto kRefusalLogInterval = std::chrono::minutes(1);

std::string requireAttr(const Message& request, const char* name) {
  const std::string* value = request.find(name);
  if (!value || value->empty()) {
    throw RequestError("bad-request", "'" + request.kind + "' needs a non-empty '" + name + "' attribute");
  }
  return *value;
}

std::uint64_t unsignedAttr(const Message& request, const char* name, std::uint64_t fallback,
                           std::uint64_t max = UINT64_MAX) {
  if (!request.has(name)) return fallback;
  const auto value = request.getUnsigned(name);
  if (!value || *value > max) {
    throw RequestError("bad-request", "attribute '" + std::string(name) + "' of '" + request.kind +
                                          "' must be an unsigned integer up to " + std::to_string(max) +
                                          ", not '" + request.get(name) + "'");
  }
  return *value;
}

sdk::Params paramsOf(const Message& request) {
  sdk::Params params = protocol::xml::paramsOf(request);  // names are checked by the engine
  if (params.size() > kMaxParams) {
    throw RequestError("invalid-argument", "more than " + std::to_string(kMaxParams) + " parameters");
  }
  for (const auto& [name, value] : params) {
    if (value.size() > kMaxParamValueBytes) {
      throw RequestError("invalid-argument", "value of parameter '" + name + "' is longer than " +
                                                 std::to_string(kMaxParamValueBytes) + " bytes");
    }
  }
  return params;
}

// @p full: with the agent's output and exit reason, which only privileged
// peers may read (they can hold anything the agent prints, e.g. secrets).
Message eventMessage(const ExecEvent& event, bool full = true) { return protocol::toMessage(event, full); }

// @p full: with the parameters (they may be passwords) and the last results'
// output and exit reason; unprivileged peers get neither.
Message instanceMessage(const InstanceView& instance, bool full) { return protocol::toMessage(instance, full); }

// A register/unregister event: `type` is the event type here, so the agent
// goes in as one spec string only.
Message instanceEvent(const std::string& type, const InstanceView& instance) {
  ExecEvent event;
  event.type = type;
  event.id = instance.id;
  event.name = instance.name;
  event.agent = instance.agent.toString();
  return protocol::toMessage(event);
}

void addItems(Message& reply, const std::vector<std::string>& items) {
  for (const auto& item : items) reply.add(Message("item")).set("value", item);
}

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

Message errorReply(const std::string& id, const std::string& code, const std::string& text) {
  Message reply("reply");
  reply.set("id", id).set("ok", false).set("code", code).set("message", text);
  return reply;
}

// The error reply for metadata that could not be had.
Message metadataFailure(const std::string& id, const sdk::Result& result) {
  return errorReply(id, result.status == sdk::ExecStatus::NotInstalled ? "not-installed" : "failed",
                    result.exit_reason);
}

// A random session token (hello reply `session`): 128 bits, hex.
std::string newToken() {
  unsigned char bytes[16];
  if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
    throw std::runtime_error(std::string("getrandom failed: ") + std::strerror(errno));
  }
  static const char* digits = "0123456789abcdef";
  std::string token;
  for (unsigned char byte : bytes) {
    token += digits[byte >> 4];
    token += digits[byte & 15];
  }
  return token;
}

// Where the frame that starts at @p at in @p framed (frames back to back) ends.
std::size_t frameEnd(const std::string& framed, std::size_t at) {
  std::uint32_t length = 0;
  for (std::size_t i = at; i < at + 4; ++i) length = (length << 8) | static_cast<unsigned char>(framed[i]);
  return at + 4 + length;
}

std::uint64_t frameCount(const std::string& framed) {
  std::uint64_t count = 0;
  for (std::size_t at = 0; at < framed.size(); at = frameEnd(framed, at)) ++count;
  return count;
}

}  // namespace

bool Subscription::wantsExec(const ExecEvent& event) const {
  return subscribed && (instances.empty() || instances.count(event.id)) &&
         (!failures_only || sdk::isFailure(event.action, event.interval_ms, event.status, event.rc));
}

bool Subscription::wantsInstance(const std::string& instance_id) const {
  return subscribed && !failures_only && (instances.empty() || instances.count(instance_id));
}

struct Server::Waiting {
  CarriedSession session;  // its outbox grows with the events meant for it
  TimerId expiry = 0;
};

struct Server::Connection {
  ClientId id = 0;      // this connection
  ClientId client = 0;  // who it is: its own id, or a resumed session's
  std::string session;  // token for resuming after an upgrade
  Poco::Net::StreamSocket socket;
  int fd = -1;
  wire::FrameReader reader;
  std::string out;
  std::size_t out_offset = 0;
  std::size_t released = 0;  // out[0, released) may be written: its journal records are on disk
  bool greeted = false;
  bool closing = false;  // flush what is queued, then close
  bool evicted = false;  // held too much: closing, and its output was thrown away
  bool write_failed = false;  // its drop is deferred: nothing more is written to it
  bool flush_scheduled = false;  // in Server::unflushed_
  bool needs_journal = false;  // this iteration's output has more than replies to reads (or refusals)
  std::string client_name;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  pid_t pid = 0;
  bool privileged = false;  // may change anything and read everything? decided at accept
  std::size_t accounted = 0;  // bytes it buffers, as counted in Server::buffered_
  TimerId hello_deadline = 0;
  Subscription subscription;
  std::string carried_out;  // a resumed session's events, sent after the hello reply
  std::size_t goodbye_at = std::string::npos;  // where the upgrade's goodbye starts in out

  std::string who() const {
    return "client " + std::to_string(id) + " (" + (client_name.empty() ? "?" : client_name) + ", pid " +
           std::to_string(pid) + ", uid " + std::to_string(uid) + ")";
  }
};

const std::map<std::string, std::pair<Server::Handler, Server::Access>> Server::kHandlers = {
    {"hello", {&Server::onHello, Access::Anyone}},
    {"ping", {&Server::onPing, Access::Anyone}},
    {"classes", {&Server::onClasses, Access::Anyone}},
    {"providers", {&Server::onProviders, Access::Anyone}},
    {"agents", {&Server::onAgents, Access::Anyone}},
    {"metadata", {nullptr, Access::Anyone}},       // answered asynchronously by startMetadata()
    {"validate", {nullptr, Access::Privileged}},   // answered asynchronously by startValidate(); quotes values
    {"register", {&Server::onRegister, Access::Change}},
    {"unregister", {&Server::onUnregister, Access::Change}},
    {"list", {&Server::onList, Access::Anyone}},   // redacted for unprivileged peers
    {"info", {&Server::onInfo, Access::Anyone}},   // redacted for unprivileged peers
    {"exec", {&Server::onExec, Access::Change}},
    {"cancel", {&Server::onCancel, Access::Change}},
    {"flush", {&Server::onFlush, Access::Change}},
    {"subscribe", {&Server::onSubscribe, Access::Privileged}},  // events carry agents' output
    {"upgrade", {&Server::onUpgrade, Access::Change}},
};

Server::Server(EventLoop& loop, ServerOptions options)
    : loop_(loop), options_(std::move(options)), started_(Clock::now()) {
  loop_.setBeforeSleep([this] { flushAll(); });
}

Server::~Server() {
  loop_.setBeforeSleep(nullptr);
  for (auto& [id, connection] : connections_) loop_.unwatch(connection->fd);
  stopAccepting();
}

void Server::listen(int inherited_fd) {
  namespace fs = std::filesystem;
  reserveDescriptors();
  if (inherited_fd >= 0) {
    // After an upgrade: the previous binary's listening socket, still bound;
    // clients that connected meanwhile wait in its backlog.
    listen_fd_ = inherited_fd;
    ::fcntl(listen_fd_, F_SETFD, FD_CLOEXEC);
    ::fcntl(listen_fd_, F_SETFL, ::fcntl(listen_fd_, F_GETFL) | O_NONBLOCK);
    watchListener();
    return;
  }
  const fs::path path(options_.socket_path);
  std::error_code ec;
  if (path.has_parent_path() && !fs::exists(path.parent_path(), ec)) {
    fs::create_directories(path.parent_path(), ec);
    if (ec) throw std::runtime_error("unable to create " + path.parent_path().string() + ": " + ec.message());
    ::chmod(path.parent_path().c_str(), 0755);
  }
  if (fs::exists(fs::symlink_status(path, ec))) {
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
  try {
    listener_ = std::make_unique<Poco::Net::ServerSocket>(
        Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, options_.socket_path), 1024);
  } catch (const Poco::Exception& e) {
    throw std::runtime_error("unable to listen on " + options_.socket_path + ": " + e.displayText());
  }
  listen_fd_ = listener_->impl()->sockfd();
  ::fcntl(listen_fd_, F_SETFD, FD_CLOEXEC);  // Poco does not set it; agents must not inherit it
  listener_->setBlocking(false);
  watchListener();
  // Without an allowed group anyone may connect and ask what is not secret
  // (docs/protocol.md §3); with one, only its members (and root, and the
  // daemon's user) may connect at all. Privileges are checked per request
  // against the peer's credentials in both cases.
  if (options_.allowed_gid != static_cast<gid_t>(-1)) {
    if (::chown(options_.socket_path.c_str(), static_cast<uid_t>(-1), options_.allowed_gid) != 0) {
      const std::string why = std::strerror(errno);
      stopAccepting();
      throw std::runtime_error("unable to give " + options_.socket_path + " to group " +
                               std::to_string(options_.allowed_gid) + " (allowed-group): " + why);
    }
    ::chmod(options_.socket_path.c_str(), 0660);
  } else {
    ::chmod(options_.socket_path.c_str(), 0666);
  }
}

void Server::reserveDescriptors() {
  // Unprivileged peers must not take the descriptors root needs to connect:
  // their connections have to fit in RLIMIT_NOFILE with room to spare
  // (systemd's default soft limit is 1024). Raise the soft limit as far as
  // the hard one allows, else serve fewer unprivileged connections.
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t wanted = static_cast<rlim_t>(options_.max_connections) + kReservedFds;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::getrlimit(RLIMIT_NOFILE, &limit);
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

void Server::watchListener() {
  loop_.watch(listen_fd_, EPOLLIN, [this](std::uint32_t) { onAccept(); });
}

void Server::stopAccepting() {
  if (listen_fd_ < 0) return;
  loop_.unwatch(listen_fd_);
  if (listener_) {
    listener_->close();
    listener_.reset();
  } else {
    ::close(listen_fd_);
  }
  listen_fd_ = -1;
  std::error_code ec;
  std::filesystem::remove(options_.socket_path, ec);
}

void Server::onAccept() {
  // Take every pending connection now: while the backlog is full, clients wait.
  while (listen_fd_ >= 0 && !paused_) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EINTR) continue;
      if (errno == EMFILE || errno == ENFILE) {
        // The listener stays readable: try again shortly rather than spin.
        // The connection waits in the backlog meanwhile.
        log(sdk::LogLevel::Warning, std::string("unable to accept a connection: ") + std::strerror(errno) +
                                        "; trying again in 100 ms");
        loop_.unwatch(listen_fd_);
        loop_.addTimer(Millis(100), [this] {
          if (listen_fd_ >= 0 && !paused_) watchListener();
        });
        return;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        log(sdk::LogLevel::Warning, std::string("unable to accept a connection: ") + std::strerror(errno));
      }
      return;
    }
    // Poco owns the descriptor from here on (closed with the last reference).
    addConnection(Poco::Net::StreamSocket(new Poco::Net::StreamSocketImpl(fd)), fd);
  }
}

void Server::addConnection(Poco::Net::StreamSocket socket, int fd) {
  auto connection = std::make_unique<Connection>();
  connection->id = next_client_++;
  connection->client = connection->id;
  connection->socket = std::move(socket);
  connection->socket.setBlocking(false);
  connection->fd = fd;
  ucred credentials{};
  socklen_t length = sizeof credentials;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0) {
    connection->uid = credentials.uid;
    connection->gid = credentials.gid;
    connection->pid = credentials.pid;
  }
  const ClientId id = connection->id;
  // Decided once, here: the limits below depend on it. Root and the daemon's
  // own user cost nothing to check; membership of the allowed group through
  // a supplementary group needs getgrouplist(), which may ask NSS (a file
  // read, or a directory service that can be slow). That is accepted: only
  // peers not already privileged by uid or primary group pay for it.
  connection->privileged = connection->uid == 0 || connection->uid == ::geteuid() ||
                           (options_.allowed_gid != static_cast<gid_t>(-1) &&
                            memberOf(connection->uid, connection->gid, options_.allowed_gid));
  if (!connection->privileged) {
    // Unprivileged peers share max_connections and each uid gets at most
    // max_connections_per_uid of them; privileged peers are always served.
    UidUsage& usage = unprivileged_[connection->uid];
    std::string refusal;
    Throttle* throttle = nullptr;
    if (usage.connections >= options_.max_connections_per_uid) {
      refusal = "uid " + std::to_string(connection->uid) + " already has " + std::to_string(usage.connections) +
                " connections (max-connections-per-uid)";
      throttle = &usage.refusals;
    } else if (unprivileged_count_ >= options_.max_connections) {
      refusal = "unprivileged peers already hold " + std::to_string(unprivileged_count_) +
                " connections (max-connections)";
      throttle = &refusals_;
    }
    if (throttle) {
      const auto now = Clock::now();
      if (!throttle->logged || now - *throttle->logged >= kRefusalLogInterval) {
        const std::string since =
            throttle->unlogged ? " (" + std::to_string(throttle->unlogged) + " more refused since the last line)" : "";
        log(sdk::LogLevel::Notice, "refusing " + connection->who() + ": " + refusal + since +
                                       "; the next such refusal is logged in a minute at the earliest");
        throttle->logged = now;
        throttle->unlogged = 0;
      } else {
        ++throttle->unlogged;
      }
      if (usage.connections == 0) unprivileged_.erase(connection->uid);
      // Say why if the socket takes it at once (a fresh socket has room); then close.
      Message goodbye("goodbye");
      goodbye.set("reason", "too many connections: " + refusal);
      const std::string framed = wire::frame(wire::encode(goodbye));
      (void)!::send(fd, framed.data(), framed.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      return;  // the socket closes with the connection object
    }
    ++usage.connections;
    ++unprivileged_count_;
  }
  connection->reader.setMaxFrame(kMaxSmallFrameBytes);
  connection->hello_deadline = loop_.addTimer(options_.hello_timeout, [this, id] {
    drop(id, "no hello within " + std::to_string(options_.hello_timeout.count()) + " ms", true,
         sdk::LogLevel::Notice);
  });
  log(sdk::LogLevel::Debug, "accepted " + connection->who());
  connections_.emplace(id, std::move(connection));
  loop_.watch(fd, EPOLLIN, [this, id](std::uint32_t events) {
    if (events & EPOLLOUT) onWritable(id);
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) onReadable(id);
  });
}

void Server::account(Connection& connection) {
  const std::size_t holding = connection.reader.buffered() + (connection.out.size() - connection.out_offset) +
                              connection.carried_out.size();
  buffered_ = buffered_ - connection.accounted + holding;
  connection.accounted = holding;
  if (buffered_ > options_.max_buffered_bytes) shed(connection);
}

void Server::shed(const Connection& offender) {
  // Over the budget: drop whoever holds the most, unprivileged peers first.
  // A privileged peer is dropped only when privileged peers alone fill the
  // budget and one of them asked for more.
  while (buffered_ > options_.max_buffered_bytes) {
    Connection* victim = nullptr;
    for (const bool privileged_peers : {false, true}) {
      if (privileged_peers && !offender.privileged) break;
      for (auto& [id, connection] : connections_) {
        if (connection->privileged != privileged_peers || connection->accounted == 0) continue;
        if (!victim || connection->accounted > victim->accounted) victim = connection.get();
      }
      if (victim) break;
    }
    if (!victim) return;
    evict(*victim, "holds " + std::to_string(victim->accounted) + " bytes while all connections together hold " +
                       std::to_string(buffered_) + ", more than max-buffered (" +
                       std::to_string(options_.max_buffered_bytes) + ")");
  }
}

void Server::evict(Connection& connection, const std::string& reason) {
  log(sdk::LogLevel::Notice, "dropping " + connection.who() + ": " + reason);
  // Freed now (the budget must count it gone), closed once the current event is handled.
  std::string().swap(connection.out);
  std::string().swap(connection.carried_out);
  connection.out_offset = 0;
  connection.released = 0;
  connection.reader = wire::FrameReader(kMaxSmallFrameBytes);
  connection.closing = true;
  connection.evicted = true;
  buffered_ -= connection.accounted;
  connection.accounted = 0;
  loop_.defer([this, id = connection.id] { drop(id, {}, false); });
}

void Server::onReadable(ClientId id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  Connection& connection = *it->second;
  char buffer[65536];
  int n = 0;
  try {
    n = connection.socket.receiveBytes(buffer, sizeof buffer);
  } catch (const Poco::Exception& e) {
    drop(id, "read failed: " + e.displayText(), false);
    return;
  }
  if (n < 0) return;  // would block
  if (n == 0) {
    drop(id, "disconnected", false);
    return;
  }
  if (connection.closing) return;  // ignore input while saying goodbye
  connection.reader.feed(buffer, static_cast<std::size_t>(n));
  account(connection);
  std::string payload;
  while (connections_.count(id) && !connection.closing) {
    const auto status = connection.reader.next(payload);
    if (status == wire::FrameReader::Status::NeedMore) break;
    if (status == wire::FrameReader::Status::Error) {
      drop(id, "bad frame: " + connection.reader.error(), true);
      return;
    }
    handleFrame(connection, payload);
  }
  if (connections_.count(id)) account(connection);
}

void Server::handleFrame(Connection& connection, const std::string& payload) {
  std::string error;
  auto request = wire::decode(payload, error, wire::kRequestLimits);
  if (!request) {
    drop(connection.id, error, true);
    return;
  }
  dispatch(connection, *request);
}

void Server::dispatch(Connection& connection, const Message& request) {
  const std::string id = request.get("id");
  // The element name as quoted back: a client's name can be a megabyte long.
  const std::string kind = wire::sanitize(clip(request.kind, kMaxQuotedKindBytes));
  if (!connection.greeted && request.kind != "hello") {
    send(connection, errorReply(id, "bad-request", "the first request must be 'hello'"));
    drop(connection.id, "first request was '" + kind + "', not 'hello'", true);
    return;
  }
  const auto handler = kHandlers.find(request.kind);
  try {
    if (!request.has("id")) {
      throw RequestError("bad-request", "request '" + kind + "' has no 'id' attribute");
    }
    if (handler == kHandlers.end()) {
      throw RequestError("unknown-request", "unknown request type '" + kind + "'");
    }
    if (handler->second.second != Access::Anyone && !connection.privileged) {
      throw RequestError("permission-denied", "uid " + std::to_string(connection.uid) + " may not '" + kind +
                                                  "': only root, the daemon's user and the allowed group may change "
                                                  "anything or read parameters, output and events");
    }
    if (handler->second.second == Access::Change && changes_refusal_) {
      if (const std::string why = changes_refusal_(); !why.empty()) throw RequestError("unavailable", why);
    }
    if (request.kind == "metadata") {
      startMetadata(connection, request);
      return;
    }
    if (request.kind == "validate") {
      startValidate(connection, request);
      return;
    }
    if (request.kind == "agents" && request.getBool("describe")) {
      startDescribe(connection, request);
      return;
    }
    Message reply("reply");
    reply.set("id", id).set("ok", true);
    (this->*handler->second.first)(connection, request, reply);
    replying_to_read_ = handler->second.second != Access::Change;
    send(connection, reply);
    replying_to_read_ = false;
    if (!connection.carried_out.empty()) {  // a resumed session: what happened while it was away
      connection.out += connection.carried_out;
      connection.carried_out.clear();
    }
  } catch (const RequestError& e) {
    // The reason of an unknown request already quotes its name.
    log(sdk::LogLevel::Info, connection.who() + ": " + (e.code() == "unknown-request" ? "request" : kind) +
                                 " refused: " + e.what());
    replying_to_read_ = true;  // a refusal changed nothing
    send(connection, errorReply(id, e.code(), e.what()));
    replying_to_read_ = false;
    if (!connection.greeted) drop(connection.id, std::string("hello refused: ") + e.what(), true);
  } catch (const std::exception& e) {
    log(sdk::LogLevel::Error, connection.who() + ": " + kind + " failed: " + e.what());
    send(connection, errorReply(id, "internal", e.what()));
  }
}

void Server::send(Connection& connection, const Message& message) {
  if (connection.evicted) return;
  // A client that does not read must not make the daemon hoard memory: once
  // more than its limit waits unread, it is dropped (one message may go
  // beyond the limit, so that a long reply, e.g. to list, still arrives).
  const std::size_t limit = connection.privileged ? kMaxPendingOutputBytes : kMaxUnprivilegedPendingOutputBytes;
  if (connection.out.size() - connection.out_offset > limit) {
    evict(connection, "more than " + std::to_string(limit) + " bytes unread, the limit for " +
                          (connection.privileged ? "privileged" : "unprivileged") + " peers");
    return;
  }
  connection.out += wire::frame(wire::encode(message));
  if (!replying_to_read_) connection.needs_journal = true;
  account(connection);
  // Coalesce: everything queued during this loop iteration goes out in one
  // send(2) per connection, just before the loop sleeps again (once the
  // journal has it).
  if (!connection.flush_scheduled) {
    connection.flush_scheduled = true;
    unflushed_.push_back(connection.id);
  }
}

void Server::flushAll() {
  // Group commit (docs/operations.md, Durability): what the journal recorded up to now is handed
  // to its syncer (also when nobody is told anything, e.g. a recurring op
  // with notify=changes), and what clients are told about it this iteration
  // is held until it is on disk. The loop does not wait for the disk.
  const std::uint64_t batch = commit_ ? commit_() : 0;
  const std::uint64_t durable = durable_ ? durable_() : 0;
  // While the journal cannot be written, replies to reads (and refusals) need
  // nothing from it and go out at once (behind what a connection has held).
  const bool unavailable = changes_refusal_ && !changes_refusal_().empty();
  std::vector<ClientId> ids;
  ids.swap(unflushed_);
  for (const ClientId id : ids) {
    const auto it = connections_.find(id);
    if (it == connections_.end()) continue;
    Connection& connection = *it->second;
    connection.flush_scheduled = false;
    const bool held = std::any_of(gates_.begin(), gates_.end(), [id](const Gate& gate) { return gate.id == id; });
    const bool needs_journal = std::exchange(connection.needs_journal, false);
    if ((batch <= durable || (unavailable && !needs_journal)) && !held) {
      connection.released = connection.out.size();
    } else if (connection.out.size() > connection.released) {
      gates_.push_back({batch, id, connection.out.size()});
    }
    flush(connection);
  }
  release(durable);
}

void Server::journalDurable() {
  if (durable_) release(durable_());
}

void Server::release(std::uint64_t durable) {
  while (!gates_.empty() && gates_.front().batch <= durable) {
    const Gate gate = gates_.front();
    gates_.pop_front();
    const auto it = connections_.find(gate.id);
    if (it == connections_.end()) continue;
    Connection& connection = *it->second;
    connection.released = std::max(connection.released, std::min(gate.upto, connection.out.size()));
    flush(connection);
  }
}

void Server::flush(Connection& connection) {
  if (connection.write_failed) return;
  // Plain send(2): Poco's sendBytes() throws on EAGAIN even for a
  // non-blocking socket, and a full socket buffer is normal here.
  while (connection.out_offset < connection.released) {
    const ssize_t n = ::send(connection.fd, connection.out.data() + connection.out_offset,
                             connection.released - connection.out_offset, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0) {
      connection.write_failed = true;
      loop_.defer([this, id = connection.id, text = std::string(std::strerror(errno))] {
        drop(id, "write failed: " + text, false);
      });
      return;
    }
    connection.out_offset += static_cast<std::size_t>(n);
  }
  const bool pending = connection.out_offset < connection.released;  // the socket is full
  if (connection.out_offset == connection.out.size()) {
    if (connection.out.capacity() > kMaxSmallFrameBytes) {
      std::string().swap(connection.out);  // give back what a burst took
    } else {
      connection.out.clear();
    }
    connection.out_offset = 0;
    connection.released = 0;
    if (connection.closing) {
      loop_.defer([this, id = connection.id] { drop(id, {}, false); });
      return;
    }
  }
  const std::uint32_t in = paused_ ? 0u : static_cast<std::uint32_t>(EPOLLIN);
  loop_.modify(connection.fd, pending ? (in | EPOLLOUT) : in);
  account(connection);
}

void Server::pauseInput() {
  paused_ = true;
  if (listen_fd_ >= 0) loop_.unwatch(listen_fd_);
  for (auto& [id, connection] : connections_) {
    const bool pending = connection->out_offset < connection->released;
    loop_.modify(connection->fd, pending ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
  }
}

void Server::goodbyeAll(const std::string& reason) {
  Message goodbye("goodbye");
  goodbye.set("reason", reason);
  for (auto& [id, connection] : connections_) {
    if (connection->closing) continue;
    connection->goodbye_at = connection->out.size();
    send(*connection, goodbye);
  }
}

int Server::listenerForExec() {
  if (listen_fd_ < 0) return -1;
  return ::dup(listen_fd_);  // dup() does not copy close-on-exec
}

void Server::onUpgrade(Connection&, const Message& request, Message& reply) {
  if (!upgrade_handler_) throw RequestError("failed", "this lrmd cannot upgrade");
  const std::string refusal = upgrade_handler_(request.get("binary"));
  if (!refusal.empty()) throw RequestError("failed", refusal);
  reply.set("upgrading", true);
}

void Server::onWritable(ClientId id) {
  auto it = connections_.find(id);
  if (it != connections_.end()) flush(*it->second);
}

void Server::drop(ClientId id, const std::string& reason, bool tell_client, std::optional<sdk::LogLevel> level) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  Connection& connection = *it->second;
  if (tell_client && !connection.closing) {
    // Say why, then close once the goodbye is written (or fails to be).
    log(level.value_or(sdk::LogLevel::Warning), "closing connection of " + connection.who() + ": " + reason);
    connection.closing = true;
    Message goodbye("goodbye");
    goodbye.set("reason", reason);
    send(connection, goodbye);
    loop_.addTimer(Millis(5000), [this, id] { drop(id, {}, false); });
    return;
  }
  if (!reason.empty()) log(level.value_or(sdk::LogLevel::Debug), connection.who() + ": " + reason);
  loop_.unwatch(connection.fd);
  loop_.cancelTimer(connection.hello_deadline);
  buffered_ -= connection.accounted;
  if (!connection.privileged) {
    --unprivileged_count_;
    const auto usage = unprivileged_.find(connection.uid);
    if (--usage->second.connections == 0) unprivileged_.erase(usage);
  }
  std::unique_ptr<Connection> gone = std::move(it->second);
  connections_.erase(it);
  try {
    gone->socket.close();
  } catch (const Poco::Exception&) {
  }
  if (engine_) engine_->clientGone(gone->client);
}

void Server::fanOut(const Message& message, const std::function<bool(ClientId, const Subscription&)>& wanted) {
  std::string framed;
  for (auto& [id, connection] : connections_) {
    // Unprivileged peers cannot subscribe nor exec; this also keeps events
    // from one that resumed a subscription made before they could not.
    if (connection->closing || !connection->greeted || !connection->privileged ||
        !wanted(connection->client, connection->subscription)) {
      continue;
    }
    send(*connection, message);
  }
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    Waiting& waiting = it->second;
    if (!wanted(waiting.session.client, waiting.session.subscription)) {
      ++it;
      continue;
    }
    if (framed.empty()) framed = wire::frame(wire::encode(message));
    waiting.session.outbox += framed;
    if (waiting.session.outbox.size() <= kMaxPendingOutputBytes) {
      ++it;
      continue;
    }
    // As for a connected client that does not read: the session ends.
    const ClientId client = waiting.session.client;
    log(sdk::LogLevel::Warning, "client " + std::to_string(client) + " (" + waiting.session.name +
                                    "): more than " + std::to_string(kMaxPendingOutputBytes) +
                                    " bytes of events kept for it since the upgrade; its session ends");
    loop_.cancelTimer(waiting.expiry);
    it = waiting_.erase(it);
    if (engine_) loop_.defer([this, client] { engine_->clientGone(client); });
  }
}

void Server::publishExec(const ExecEvent& event, ClientId origin, bool originator_only) {
  fanOut(eventMessage(event), [&](ClientId client, const Subscription& subscription) {
    return client == origin || (!originator_only && subscription.wantsExec(event));
  });
}

void Server::publishInstance(const std::string& type, const InstanceView& instance) {
  fanOut(instanceEvent(type, instance),
         [&](ClientId, const Subscription& subscription) { return subscription.wantsInstance(instance.id); });
}

std::vector<CarriedSession> Server::handOver() const {
  std::vector<CarriedSession> sessions;
  for (const auto& [id, connection] : connections_) {
    if (!connection->greeted) continue;
    // Every whole message not written yet, the one written in part
    // included (the client library drops a torn frame), the goodbye not.
    // A connection closing for another reason keeps nothing: its session
    // is carried only to end when the window passes, as a disconnection.
    const std::string& out = connection->out;
    const std::size_t end = connection->closing ? 0 : std::min(connection->goodbye_at, out.size());
    std::size_t start = 0;
    while (start < end && frameEnd(out, start) <= connection->out_offset) start = frameEnd(out, start);
    sessions.push_back({connection->client, connection->session, connection->uid, connection->client_name,
                        connection->subscription, start < end ? out.substr(start, end - start) : std::string()});
  }
  for (const auto& [token, waiting] : waiting_) sessions.push_back(waiting.session);  // not back yet: with its outbox
  return sessions;
}

void Server::takeOver(const std::vector<CarriedSession>& sessions, ClientId next_client, Millis window) {
  next_client_ = std::max(next_client_, next_client);
  for (const auto& session : sessions) {
    Waiting& waiting = waiting_[session.token];
    waiting.session = session;
    waiting.expiry = loop_.addTimer(window, [this, token = session.token, window] {
      const auto it = waiting_.find(token);
      if (it == waiting_.end()) return;
      const ClientId client = it->second.session.client;
      log(sdk::LogLevel::Notice, "client " + std::to_string(client) + " (" + it->second.session.name +
                                     ") did not come back within " + std::to_string(window.count()) +
                                     " ms of the upgrade; its session ends");
      waiting_.erase(it);
      if (engine_) engine_->clientGone(client);
    });
  }
}

void Server::drainOutput(Millis limit) {
  const auto deadline = Clock::now() + limit;
  flushAll();
  while (Clock::now() < deadline) {
    std::vector<pollfd> pending;
    for (auto& [id, connection] : connections_) {
      // A peer that failed a write is dropped once the loop runs again,
      // which it does not in here: it is not waited for.
      if (connection->out_offset < connection->released && !connection->write_failed) {
        pending.push_back({connection->fd, POLLOUT, 0});
      }
    }
    if (pending.empty()) return;
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
    if (::poll(pending.data(), pending.size(), static_cast<int>(std::max<std::int64_t>(left, 1))) <= 0) continue;
    for (auto& [id, connection] : connections_) flush(*connection);
  }
}

void Server::onHello(Connection& connection, const Message& request, Message& reply) {
  if (connection.greeted) throw RequestError("bad-request", "hello was already exchanged");
  const std::uint64_t protocol = unsignedAttr(request, "protocol", 0);
  if (protocol != static_cast<std::uint64_t>(wire::kProtocolVersion)) {
    throw RequestError("version-mismatch", "client speaks protocol " + request.get("protocol", "?") +
                                               ", lrmd speaks " + std::to_string(wire::kProtocolVersion));
  }
  connection.greeted = true;
  loop_.cancelTimer(connection.hello_deadline);
  if (connection.privileged) connection.reader.setMaxFrame(wire::kMaxFrameBytes);
  connection.client_name = wire::sanitize(request.get("client").substr(0, 64));
  reply.set("protocol", wire::kProtocolVersion).set("version", options_.version).set("boot_id", options_.boot_id);
  // After an upgrade: the client takes its session back (same uid only).
  const auto waiting = waiting_.find(request.get("resume"));
  if (request.has("resume") && waiting != waiting_.end() && waiting->second.session.uid == connection.uid) {
    connection.client = waiting->second.session.client;
    connection.session = waiting->second.session.token;
    connection.subscription = waiting->second.session.subscription;
    connection.carried_out = std::move(waiting->second.session.outbox);
    loop_.cancelTimer(waiting->second.expiry);
    waiting_.erase(waiting);
    // The client reads this many messages after the reply before it sends
    // again the request it had pending: its reply may be among them.
    reply.set("resumed", true).set("kept", frameCount(connection.carried_out));
    log(sdk::LogLevel::Info, connection.who() + " resumed its session as client " +
                                 std::to_string(connection.client) + " after the upgrade");
  } else {
    if (request.has("resume")) {
      log(sdk::LogLevel::Info, connection.who() + ": no session to resume; a new one starts");
    }
    connection.session = newToken();
  }
  reply.set("session", connection.session);
  log(sdk::LogLevel::Debug, "hello from " + connection.who());
}

void Server::onPing(Connection&, const Message&, Message& reply) {
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_).count();
  const protocol::PingInfo info{options_.version,
                                wire::kProtocolVersion,
                                static_cast<std::uint64_t>(uptime),
                                options_.boot_id,
                                static_cast<std::uint64_t>(options_.restored),
                                static_cast<std::uint64_t>(engine_->instanceCount()),
                                static_cast<std::uint64_t>(engine_->inFlight())};
  protocol::xml::encodeFields(info, reply, protocol::kLocal);
}

void Server::onClasses(Connection&, const Message&, Message& reply) {
  addItems(reply, engine_->classNames());
}

void Server::onProviders(Connection&, const Message& request, Message& reply) {
  const std::string type = request.get("type");
  if (!type.empty() && !sdk::isValidAgentComponent(type)) {
    throw RequestError("invalid-argument", "invalid type name '" + wire::sanitize(type) + "'");
  }
  // The kernel knows no class by name: providers of every class that has them.
  std::set<std::string> providers;
  for (const auto& name : engine_->classNames()) {
    auto& cls = engine_->resourceClass(name);
    if (!cls.requiresProvider()) continue;
    for (auto& provider : cls.providers(type)) providers.insert(std::move(provider));
  }
  addItems(reply, {providers.begin(), providers.end()});
}

void Server::onAgents(Connection&, const Message& request, Message& reply) {
  const std::string cls = requireAttr(request, "class");
  const std::string provider = request.get("provider");
  if (!provider.empty() && !sdk::isValidAgentComponent(provider)) {
    throw RequestError("invalid-argument", "invalid provider name '" + wire::sanitize(provider) + "'");
  }
  addItems(reply, engine_->resourceClass(cls).types(provider));
}

// agents describe="true": each item also carries its agent's shortdesc,
// from the metadata cache (fetched now for agents not seen before).
void Server::startDescribe(Connection& connection, const Message& request) {
  const std::string id = request.get("id");
  const std::string cls = requireAttr(request, "class");
  const std::string provider = request.get("provider");
  if (!provider.empty() && !sdk::isValidAgentComponent(provider)) {
    throw RequestError("invalid-argument", "invalid provider name '" + wire::sanitize(provider) + "'");
  }
  auto& resource_class = engine_->resourceClass(cls);
  if (resource_class.requiresProvider() && provider.empty()) {
    throw RequestError("bad-request", "describing agents of class '" + cls + "' needs a provider");
  }
  struct Pending {
    std::vector<std::string> types;
    std::map<std::string, std::string> shortdesc;
    std::size_t remaining = 0;
  };
  auto pending = std::make_shared<Pending>();
  pending->types = resource_class.types(provider);
  pending->remaining = pending->types.size();
  const ClientId client = connection.id;
  auto finish = [this, client, id, pending] {
    auto it = connections_.find(client);
    if (it == connections_.end()) return;
    Message reply("reply");
    reply.set("id", id).set("ok", true);
    for (const auto& type : pending->types) {
      reply.add(Message("item")).set("value", type).set("shortdesc", pending->shortdesc[type]);
    }
    send(*it->second, reply);
  };
  if (pending->types.empty()) return finish();
  for (const auto& type : pending->types) {
    engine_->metadata({cls, provider, type}, [pending, type, finish](const sdk::Result& result, const std::string& xml) {
      std::string error;
      const auto parsed = result.status == sdk::ExecStatus::Done ? parseMetadata(xml, error) : std::nullopt;
      if (parsed) pending->shortdesc[type] = parsed->shortdesc;
      if (--pending->remaining == 0) finish();
    });
  }
}

// format="parsed": the metadata as elements (docs/protocol.md).
Message parsedMetadata(const sdk::AgentMetadata& metadata) { return protocol::toMessage(metadata); }

void Server::startMetadata(Connection& connection, const Message& request) {
  const std::string id = request.get("id");
  const sdk::AgentSpec spec = engine_->resolveSpec(requireAttr(request, "agent"));
  const std::string format = request.get("format", "xml");
  if (format != "xml" && format != "parsed" && format != "check") {
    throw RequestError("bad-request",
                       "format must be 'xml', 'parsed' or 'check', not '" + wire::sanitize(format) + "'");
  }
  const ClientId client = connection.id;
  engine_->metadata(spec, [this, client, id, format](const sdk::Result& result, const std::string& xml) {
    auto it = connections_.find(client);
    if (it == connections_.end()) return;  // asked and left
    if (result.status != sdk::ExecStatus::Done) {
      send(*it->second, metadataFailure(id, result));
      return;
    }
    Message reply("reply");
    reply.set("id", id).set("ok", true);
    if (format == "check") {
      for (const auto& warning : checkMetadata(xml)) reply.add(Message("warning")).set("message", warning);
    } else if (format == "parsed") {
      std::string error;
      const auto parsed = parseMetadata(xml, error);
      if (!parsed) {
        send(*it->second, errorReply(id, "failed", error));
        return;
      }
      reply.add(parsedMetadata(*parsed));
    } else {
      reply.add(Message("xml")).text = xml;
    }
    send(*it->second, reply);
  });
}

void Server::startValidate(Connection& connection, const Message& request) {
  const std::string id = request.get("id");
  const InstanceView instance = engine_->info(requireAttr(request, "instance"));
  const ClientId client = connection.id;
  engine_->metadata(instance.agent, [this, client, id, params = instance.params](const sdk::Result& result,
                                                                                  const std::string& xml) {
    auto it = connections_.find(client);
    if (it == connections_.end()) return;
    if (result.status != sdk::ExecStatus::Done) {
      send(*it->second, metadataFailure(id, result));
      return;
    }
    std::string error;
    const auto parsed = parseMetadata(xml, error);
    if (!parsed) {
      send(*it->second, errorReply(id, "failed", error));
      return;
    }
    Message reply("reply");
    reply.set("id", id).set("ok", true);
    for (const auto& problem : checkParameters(*parsed, params)) reply.add(Message("problem")).set("message", problem);
    send(*it->second, reply);
  });
}

void Server::onRegister(Connection& connection, const Message& request, Message& reply) {
  RegisterParams params;
  params.id = requireAttr(request, "instance");
  params.name = request.get("name");
  params.agent = requireAttr(request, "agent");
  params.params = paramsOf(request);
  params.drop_recurring = request.getBool("drop_recurring");
  params.origin = connection.client;
  reply.add(instanceEvent("register", engine_->registerInstance(params)));
}

void Server::onUnregister(Connection&, const Message& request, Message& reply) {
  const std::string id = requireAttr(request, "instance");
  const auto removed = engine_->unregisterInstance(id);
  if (removed) {
    reply.add(instanceEvent("unregister", *removed));
  } else {
    reply.set("unknown", true);
    reply.add(Message("event")).set("type", "unregister").set("id", id).set("name", id);
  }
}

void Server::onList(Connection& connection, const Message&, Message& reply) {
  for (const auto& instance : engine_->list()) reply.add(instanceMessage(instance, connection.privileged));
}

void Server::onInfo(Connection& connection, const Message& request, Message& reply) {
  reply.add(instanceMessage(engine_->info(requireAttr(request, "instance")), connection.privileged));
}

void Server::onExec(Connection& connection, const Message& request, Message& reply) {
  ExecParams params;
  params.id = requireAttr(request, "instance");
  params.action = requireAttr(request, "action");
  params.interval_ms = unsignedAttr(request, "interval_ms", 0, sdk::kMaxDurationMs);
  params.timeout_ms = unsignedAttr(request, "timeout_ms", params.timeout_ms, sdk::kMaxDurationMs);
  params.start_delay_ms = unsignedAttr(request, "start_delay_ms", 0, sdk::kMaxDurationMs);
  params.params = paramsOf(request);
  const std::string notify = request.get("notify", "all");
  if (!protocol::parseNotify(notify, params)) {
    throw RequestError("bad-request", "notify must be 'all' or a list of 'changes' and 'originator', not '" +
                                          wire::sanitize(notify) + "'");
  }
  params.origin = connection.client;
  reply.set("call_id", engine_->exec(params));
}

void Server::onCancel(Connection&, const Message& request, Message& reply) {
  engine_->cancel(requireAttr(request, "instance"), requireAttr(request, "action"),
                  unsignedAttr(request, "interval_ms", 0, sdk::kMaxDurationMs));
  (void)reply;
}

void Server::onFlush(Connection&, const Message& request, Message& reply) {
  reply.set("cancelled", static_cast<std::uint64_t>(engine_->flush(requireAttr(request, "instance"))));
}

void Server::onSubscribe(Connection& connection, const Message& request, Message&) {
  Subscription& subscription = connection.subscription;
  subscription.subscribed = true;
  subscription.failures_only = request.getBool("failures_only");
  subscription.instances.clear();
  for (const auto& child : request.children) {
    if (child.kind == "instance") subscription.instances.insert(child.get("id"));
  }
}

}  // namespace lrm::kernel
