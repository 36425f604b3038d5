// Framing, output queues and back-pressure of client connections (see
// connection.hpp). Nothing here knows what a request means.
#include "connection.hpp"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "log.hpp"

namespace lrm::kernel {

using wire::Message;

namespace {

// Peers that cannot change anything (and everyone before hello) never need
// large frames: their requests are a few hundred bytes.
constexpr std::size_t kMaxSmallFrameBytes = 64 * 1024;
// Unprivileged peers get no events, only replies: a little unread output is plenty.
constexpr std::size_t kMaxUnprivilegedPendingOutputBytes = 1024 * 1024;
// How long a client told goodbye has to read it before it is closed anyway.
constexpr Millis kGoodbyeLinger{5000};

}  // namespace

const std::size_t Connections::kMaxPendingOutputBytes = 2 * wire::kMaxFrameBytes;

std::string describePeer(ClientId id, const std::string& name, const Peer& peer) {
  return "client " + std::to_string(id) + " (" + (name.empty() ? "?" : name) + ", pid " + std::to_string(peer.pid) +
         ", uid " + std::to_string(peer.uid) + ")";
}

Connections::Connections(EventLoop& loop, Handler& handler, Millis hello_timeout, std::size_t max_buffered_bytes)
    : loop_(loop), handler_(handler), hello_timeout_(hello_timeout), max_buffered_bytes_(max_buffered_bytes) {}

Connections::~Connections() {
  for (auto& [id, connection] : connections_) loop_.unwatch(connection->fd);
}

void Connections::refuse(int fd, const std::string& reason) {
  // A fresh socket has room for a goodbye; if it does not take it at once, never mind.
  Message goodbye("goodbye");
  goodbye.set("reason", reason);
  const std::string framed = wire::frame(wire::encode(goodbye));
  (void)!::send(fd, framed.data(), framed.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void Connections::add(ClientId id, Poco::Net::StreamSocket socket, int fd, const Peer& peer) {
  auto connection = std::make_unique<Connection>();
  connection->id = id;
  connection->client = id;
  connection->socket = std::move(socket);
  connection->socket.setBlocking(false);
  connection->fd = fd;
  connection->peer = peer;
  connection->reader.setMaxFrame(kMaxSmallFrameBytes);
  connection->hello_deadline = loop_.addTimer(hello_timeout_, [this, id] {
    drop(id, "no hello within " + std::to_string(hello_timeout_.count()) + " ms", true, sdk::LogLevel::Notice);
  });
  log(sdk::LogLevel::Debug, "accepted " + connection->who());
  connections_.emplace(id, std::move(connection));
  loop_.watch(fd, EPOLLIN, [this, id](std::uint32_t events) {
    if (events & EPOLLOUT) {
      if (Connection* connection = find(id)) flush(*connection);
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) onReadable(id);
  });
}

Connection* Connections::find(ClientId id) {
  const auto it = connections_.find(id);
  return it == connections_.end() ? nullptr : it->second.get();
}

void Connections::greet(Connection& connection) {
  connection.greeted = true;
  loop_.cancelTimer(connection.hello_deadline);
  if (connection.peer.privileged) connection.reader.setMaxFrame(wire::kMaxFrameBytes);
}

void Connections::onReadable(ClientId id) {
  Connection* found = find(id);
  if (!found) return;
  Connection& connection = *found;
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
    std::string error;
    const auto request = wire::decode(payload, error, wire::kRequestLimits);
    if (!request) {
      drop(connection.id, error, true);
      continue;
    }
    handler_.onRequest(connection, *request);
  }
  if (connections_.count(id)) account(connection);
}

void Connections::send(Connection& connection, const Message& message, bool read_reply) {
  if (connection.evicted) return;
  // A client that does not read must not make the daemon hoard memory: once
  // more than its limit waits unread, it is dropped (one message may go
  // beyond the limit, so that a long reply, e.g. to list, still arrives).
  const bool privileged = connection.peer.privileged;
  const std::size_t limit = privileged ? kMaxPendingOutputBytes : kMaxUnprivilegedPendingOutputBytes;
  if (connection.out.size() - connection.out_offset > limit) {
    evict(connection, "more than " + std::to_string(limit) + " bytes unread, the limit for " +
                          (privileged ? "privileged" : "unprivileged") + " peers");
    return;
  }
  connection.out += wire::frame(wire::encode(message));
  if (!read_reply) connection.needs_journal = true;
  account(connection);
  // Coalesce: everything queued during this loop iteration goes out in one
  // send(2) per connection, just before the loop sleeps again (once the
  // journal has it).
  if (!connection.flush_scheduled) {
    connection.flush_scheduled = true;
    unflushed_.push_back(connection.id);
  }
}

void Connections::deliverCarried(Connection& connection) {
  if (connection.carried_out.empty()) return;
  connection.out += connection.carried_out;
  connection.carried_out.clear();
}

void Connections::flushAll() {
  // Group commit (docs/operations.md, Durability): what clients are told
  // this iteration goes out once the journal has what it depends on.
  if (gate_) gate_->commit();
  std::vector<ClientId> ids;
  ids.swap(unflushed_);
  for (const ClientId id : ids) {
    Connection* connection = find(id);
    if (!connection) continue;
    connection->flush_scheduled = false;
    const bool needs_journal = std::exchange(connection->needs_journal, false);
    connection->released =
        gate_ ? gate_->admit(id, connection->released, connection->out.size(), needs_journal) : connection->out.size();
    flush(*connection);
  }
  if (gate_) gate_->releaseDurable([this](ClientId id, std::size_t upto) { release(id, upto); });
}

void Connections::journalDurable() {
  if (gate_) gate_->journalDurable([this](ClientId id, std::size_t upto) { release(id, upto); });
}

void Connections::release(ClientId id, std::size_t upto) {
  Connection* connection = find(id);
  if (!connection) return;
  connection->released = std::max(connection->released, std::min(upto, connection->out.size()));
  flush(*connection);
}

void Connections::flush(Connection& connection) {
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

void Connections::account(Connection& connection) {
  const std::size_t holding = connection.reader.buffered() + (connection.out.size() - connection.out_offset) +
                              connection.carried_out.size();
  buffered_ = buffered_ - connection.accounted + holding;
  connection.accounted = holding;
  if (buffered_ > max_buffered_bytes_) shed(connection);
}

void Connections::shed(const Connection& offender) {
  // Over the budget: drop whoever holds the most, unprivileged peers first.
  // A privileged peer is dropped only when privileged peers alone fill the
  // budget and one of them asked for more.
  while (buffered_ > max_buffered_bytes_) {
    Connection* victim = nullptr;
    for (const bool privileged_peers : {false, true}) {
      if (privileged_peers && !offender.peer.privileged) break;
      for (auto& [id, connection] : connections_) {
        if (connection->peer.privileged != privileged_peers || connection->accounted == 0) continue;
        if (!victim || connection->accounted > victim->accounted) victim = connection.get();
      }
      if (victim) break;
    }
    if (!victim) return;
    evict(*victim, "holds " + std::to_string(victim->accounted) + " bytes while all connections together hold " +
                       std::to_string(buffered_) + ", more than max-buffered (" +
                       std::to_string(max_buffered_bytes_) + ")");
  }
}

void Connections::evict(Connection& connection, const std::string& reason) {
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

void Connections::drop(ClientId id, const std::string& reason, bool tell_client, std::optional<sdk::LogLevel> level) {
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
    loop_.addTimer(kGoodbyeLinger, [this, id] { drop(id, {}, false); });
    return;
  }
  if (!reason.empty()) log(level.value_or(sdk::LogLevel::Debug), connection.who() + ": " + reason);
  loop_.unwatch(connection.fd);
  loop_.cancelTimer(connection.hello_deadline);
  buffered_ -= connection.accounted;
  std::unique_ptr<Connection> gone = std::move(it->second);
  connections_.erase(it);
  try {
    gone->socket.close();
  } catch (const Poco::Exception&) {
  }
  handler_.onClosed(*gone);
}

void Connections::pause() {
  paused_ = true;
  for (auto& [id, connection] : connections_) {
    const bool pending = connection->out_offset < connection->released;
    loop_.modify(connection->fd, pending ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
  }
}

void Connections::goodbyeAll(const std::string& reason) {
  Message goodbye("goodbye");
  goodbye.set("reason", reason);
  for (auto& [id, connection] : connections_) {
    if (connection->closing) continue;
    connection->goodbye_at = connection->out.size();
    send(*connection, goodbye);
  }
}

void Connections::drainOutput(Millis limit) {
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

}  // namespace lrm::kernel
