// Client connections: framing requests in, queueing framed replies and
// events out (coalesced into one send(2) per connection per loop iteration,
// behind the durability gate), back-pressure (a client that does not read is
// dropped, and all connections together stay within a buffered-bytes budget,
// shedding the largest unprivileged holders first), and closing with or
// without a goodbye. What a request means is the server's business.
#pragma once

#include <Poco/Net/StreamSocket.h>

#include <algorithm>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "durability_gate.hpp"
#include "engine.hpp"
#include "event_loop.hpp"
#include "listener.hpp"
#include "sessions.hpp"
#include "wire/wire.hpp"

namespace lrm::kernel {

/** "client 7 (name, pid 12, uid 1000)": a peer as the log names it. */
std::string describePeer(ClientId id, const std::string& name, const Peer& peer);

struct Connection {
  ClientId id = 0;      // this connection
  ClientId client = 0;  // who it is: its own id, or a resumed session's
  std::string session;  // token for resuming after an upgrade
  Poco::Net::StreamSocket socket;
  int fd = -1;
  Peer peer;
  wire::FrameReader reader;
  std::string out;
  std::size_t out_offset = 0;
  std::size_t released = 0;  // out[0, released) may be written: its journal records are on disk
  bool greeted = false;
  bool closing = false;  // flush what is queued, then close
  bool evicted = false;  // held too much: closing, and its output was thrown away
  bool write_failed = false;  // its drop is deferred: nothing more is written to it
  bool flush_scheduled = false;  // in Connections::unflushed_
  bool needs_journal = false;  // this iteration's output has more than replies to reads (or refusals)
  std::string client_name;
  std::size_t accounted = 0;  // bytes it buffers, as counted in Connections::buffered_
  TimerId hello_deadline = 0;
  Subscription subscription;
  std::string carried_out;  // a resumed session's events, sent after the hello reply
  std::size_t goodbye_at = std::string::npos;  // where the upgrade's goodbye starts in out

  std::string who() const { return describePeer(id, client_name, peer); }
};

class Connections {
 public:
  /** What the connections tell their owner. */
  class Handler {
   public:
    virtual ~Handler() = default;
    /** A request arrived on @p connection (decoded, within wire::kRequestLimits). */
    virtual void onRequest(Connection& connection, const wire::Message& request) = 0;
    /** @p connection is closed and forgotten. */
    virtual void onClosed(const Connection& connection) = 0;
  };
  using Map = std::map<ClientId, std::unique_ptr<Connection>>;

  /** Bytes a privileged peer may leave unread (an unread session carries at most this). */
  static const std::size_t kMaxPendingOutputBytes;

  Connections(EventLoop& loop, Handler& handler, Millis hello_timeout, std::size_t max_buffered_bytes);
  ~Connections();

  /** The id for the next connection (taken also when it is refused). */
  ClientId takeId() { return next_id_++; }
  ClientId nextId() const { return next_id_; }
  /** After an upgrade: ids below @p next belong to carried sessions. */
  void skipIds(ClientId next) { next_id_ = std::max(next_id_, next); }
  /** Serve @p socket (@p fd) from @p peer as connection @p id; it must say hello in time. */
  void add(ClientId id, Poco::Net::StreamSocket socket, int fd, const Peer& peer);
  /** Say @p reason on a fresh socket @p fd if it takes it at once (it is closed by its owner). */
  static void refuse(int fd, const std::string& reason);

  Connection* find(ClientId id);
  Map& all() { return connections_; }
  const Map& all() const { return connections_; }
  std::size_t size() const { return connections_.size(); }

  /** Hello accepted: no deadline any more, and privileged peers may send large frames. */
  void greet(Connection& connection);
  /**
   * Queue @p message for @p connection. @p read_reply: a reply that changed
   * nothing (a read, a refusal): it needs nothing from the journal.
   */
  void send(Connection& connection, const wire::Message& message, bool read_reply = false);
  /** A resumed session's kept messages follow the hello reply. */
  void deliverCarried(Connection& connection);
  /** Write what may go for every connection with output queued this iteration. */
  void flushAll();
  /** The gate output waits behind (null: nothing is held). */
  void setGate(DurabilityGate* gate) { gate_ = gate; }
  /** A journal batch is on disk: write what waited for it. */
  void journalDurable();
  /**
   * Close a connection, logging @p reason at @p level (default: warning when
   * the client is told, it did something wrong; debug otherwise, it left).
   */
  void drop(ClientId id, const std::string& reason, bool tell_client,
            std::optional<sdk::LogLevel> level = std::nullopt);
  /** Stop reading requests (they wait in the sockets); output still goes out. */
  void pause();
  /** Queue a goodbye with @p reason for every client (written by the next flushAll()). */
  void goodbyeAll(const std::string& reason);
  /** Write queued output, waiting up to @p limit for slow readers (before an exec()). */
  void drainOutput(Millis limit);

 private:
  void onReadable(ClientId id);
  void flush(Connection& connection);
  void release(ClientId id, std::size_t upto);
  /** Re-count what @p connection buffers into buffered_; over the budget, shed() peers. */
  void account(Connection& connection);
  void shed(const Connection& offender);
  /** Free what @p connection buffers and close it (after the current event): it holds too much. */
  void evict(Connection& connection, const std::string& reason);

  EventLoop& loop_;
  Handler& handler_;
  Millis hello_timeout_;
  std::size_t max_buffered_bytes_;
  DurabilityGate* gate_ = nullptr;
  ClientId next_id_ = 1;
  Map connections_;
  std::size_t buffered_ = 0;  // sum of Connection::accounted
  std::vector<ClientId> unflushed_;  // connections with output queued this iteration
  bool paused_ = false;
};

}  // namespace lrm::kernel
