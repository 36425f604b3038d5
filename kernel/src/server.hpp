// The daemon's side of the protocol (docs/protocol.md): a Poco Net Unix
// stream socket served from the kernel's event loop, one Connection per
// client, framed XML requests dispatched to the Engine, every request
// answered exactly once, events fanned out to originators and subscribers.
#pragma once

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>
#include <sys/types.h>

#include <deque>
#include <map>
#include <memory>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine.hpp"
#include "event_loop.hpp"
#include "wire/wire.hpp"

namespace lrm::kernel {

struct ServerOptions {
  std::string socket_path;
  std::string version;
  std::string boot_id;
  gid_t allowed_gid = static_cast<gid_t>(-1);  ///< group whose members may change things
  /// Connections of unprivileged peers, in all and per uid; privileged ones are not counted.
  std::size_t max_connections = 1024;
  std::size_t max_connections_per_uid = 32;
  Millis hello_timeout{10000};  ///< a connection that has not said hello by then is closed
  /// Input and output buffered for all connections together; beyond it peers are dropped.
  std::size_t max_buffered_bytes = 256 * 1024 * 1024;
  std::size_t restored = 0;  ///< instances restored from the state dir at start
};

/** What a client asked to be told about. */
struct Subscription {
  bool subscribed = false;
  bool failures_only = false;
  std::set<std::string> instances;  ///< empty: all

  bool wantsExec(const ExecEvent& event) const;
  bool wantsInstance(const std::string& instance_id) const;
};

/**
 * A client's session carried over an upgrade in place: the client library
 * reconnects with its token (hello resume=) and gets its identity (results
 * of its operations), its subscription and every message it has not
 * received yet.
 */
struct CarriedSession {
  ClientId client = 0;
  std::string token;
  uid_t uid = static_cast<uid_t>(-1);
  std::string name;
  Subscription subscription;
  /// Framed messages not delivered yet, in order: what the previous image
  /// could not write to the connection (a frame written in part is here
  /// whole) and what was kept while the client was away. At most the
  /// per-connection output bound.
  std::string outbox;
};

class Server : public Notifier {
 public:
  Server(EventLoop& loop, ServerOptions options);
  ~Server() override;

  /** Must be called before listen(). */
  void attach(Engine& engine) { engine_ = &engine; }

  /**
   * Bind the socket (replacing a stale one) and start accepting.
   * @throws std::runtime_error when another daemon answers there or binding fails.
   */
  void listen(int inherited_fd = -1);
  /** Stop reading requests and accepting (they wait in the socket). */
  void pauseInput();
  /** Queue a goodbye with @p reason for every client (written by the next flushAll()). */
  void goodbyeAll(const std::string& reason);
  /** Hand the listening socket to the next binary: a copy without close-on-exec; -1 on failure. */
  int listenerForExec();
  /** Who to call for an `upgrade` request (the daemon); empty: refused. */
  void setUpgradeHandler(std::function<std::string(const std::string& binary)> handler) {
    upgrade_handler_ = std::move(handler);
  }
  /** Stop accepting and remove the socket file; open connections stay. */
  void stopAccepting();
  std::size_t connectionCount() const { return connections_.size(); }
  /** Write what is queued for every connection now (the loop does it before it sleeps). */
  void flushAll();
  /**
   * Group commit with the journal (docs/operations.md): at the end of each loop
   * iteration @p commit starts making what was journaled durable and returns
   * its batch; output queued in that iteration is held until @p durable (the
   * last batch on disk) reaches it. Call journalDurable() when a batch lands.
   */
  void setJournal(std::function<std::uint64_t()> commit, std::function<std::uint64_t()> durable) {
    commit_ = std::move(commit);
    durable_ = std::move(durable);
  }
  /** A journal batch is on disk: send what waited for it. */
  void journalDurable();
  /**
   * @p why says why changes (register, unregister, exec, cancel, flush,
   * upgrade) are refused now, with code `unavailable`; "" when they are not
   * (the journal cannot be written: reads are still served).
   */
  void setChangesRefusal(std::function<std::string()> why) { changes_refusal_ = std::move(why); }
  void setRestored(std::size_t count) { options_.restored = count; }

  /**
   * Upgrading, after goodbyeAll() and drainOutput(): the sessions of
   * connected clients with what could not be written to them, and of those
   * still awaited since the previous upgrade with what was kept for them.
   */
  std::vector<CarriedSession> handOver() const;
  /** The first client id the next image may hand out. */
  ClientId nextClient() const { return next_client_; }
  /**
   * The next image: sessions waiting for their clients to reconnect, each
   * for @p window; events for them are kept meanwhile. A session not
   * resumed in time ends as a disconnection would.
   */
  void takeOver(const std::vector<CarriedSession>& sessions, ClientId next_client, Millis window);
  /** Write queued output, waiting up to @p limit for slow readers (before an exec()). */
  void drainOutput(Millis limit);

  void publishExec(const ExecEvent& event, ClientId origin, bool originator_only) override;
  void publishInstance(const std::string& type, const InstanceView& instance) override;

 private:
  struct Connection;
  using Handler = void (Server::*)(Connection&, const wire::Message&, wire::Message&);

  /** Make room for max_connections unprivileged peers in RLIMIT_NOFILE, or lower it. */
  void reserveDescriptors();
  void watchListener();
  void onAccept();
  void addConnection(Poco::Net::StreamSocket socket, int fd);
  /** Re-count what @p connection buffers into buffered_; over the budget, shed() peers. */
  void account(Connection& connection);
  void shed(const Connection& offender);
  /** Free what @p connection buffers and close it (after the current event): it holds too much. */
  void evict(Connection& connection, const std::string& reason);
  void onReadable(ClientId id);
  void onWritable(ClientId id);
  void handleFrame(Connection& connection, const std::string& payload);
  void dispatch(Connection& connection, const wire::Message& request);
  void send(Connection& connection, const wire::Message& message);
  void flush(Connection& connection);
  /**
   * Close a connection, logging @p reason at @p level (default: warning when
   * the client is told, it did something wrong; debug otherwise, it left).
   */
  void drop(ClientId id, const std::string& reason, bool tell_client,
            std::optional<sdk::LogLevel> level = std::nullopt);
  /** Queue @p message for every connection and waiting session that @p wanted accepts. */
  void fanOut(const wire::Message& message, const std::function<bool(ClientId, const Subscription&)>& wanted);
  struct Waiting;

  void onHello(Connection&, const wire::Message&, wire::Message&);
  void onPing(Connection&, const wire::Message&, wire::Message&);
  void onClasses(Connection&, const wire::Message&, wire::Message&);
  void onProviders(Connection&, const wire::Message&, wire::Message&);
  void onAgents(Connection&, const wire::Message&, wire::Message&);
  void onRegister(Connection&, const wire::Message&, wire::Message&);
  void onUnregister(Connection&, const wire::Message&, wire::Message&);
  void onList(Connection&, const wire::Message&, wire::Message&);
  void onInfo(Connection&, const wire::Message&, wire::Message&);
  void onExec(Connection&, const wire::Message&, wire::Message&);
  void onCancel(Connection&, const wire::Message&, wire::Message&);
  void onFlush(Connection&, const wire::Message&, wire::Message&);
  void onSubscribe(Connection&, const wire::Message&, wire::Message&);
  void onUpgrade(Connection&, const wire::Message&, wire::Message&);
  void startMetadata(Connection& connection, const wire::Message& request);
  void startValidate(Connection& connection, const wire::Message& request);
  void startDescribe(Connection& connection, const wire::Message& request);

  EventLoop& loop_;
  ServerOptions options_;
  Engine* engine_ = nullptr;
  std::unique_ptr<Poco::Net::ServerSocket> listener_;
  int listen_fd_ = -1;
  Clock::time_point started_;
  ClientId next_client_ = 1;
  std::map<ClientId, std::unique_ptr<Connection>> connections_;
  /** A refusal repeated for every connection is logged once a minute. */
  struct Throttle {
    std::optional<Clock::time_point> logged;
    std::size_t unlogged = 0;
  };
  struct UidUsage {
    std::size_t connections = 0;
    Throttle refusals;  // over max_connections_per_uid
  };
  std::map<uid_t, UidUsage> unprivileged_;  // connections of unprivileged peers, by uid
  std::size_t unprivileged_count_ = 0;
  Throttle refusals_;  // over max_connections
  std::size_t buffered_ = 0;  // sum of Connection::accounted
  std::map<std::string, Waiting> waiting_;  // carried sessions by token, until resumed
  std::vector<ClientId> unflushed_;
  std::function<std::uint64_t()> commit_;
  std::function<std::uint64_t()> durable_;
  std::function<std::string()> changes_refusal_;
  bool replying_to_read_ = false;  // send() is queueing a reply that changed nothing
  struct Gate {
    std::uint64_t batch;  // journal batch that must be on disk first
    ClientId id;
    std::size_t upto;     // bytes of the connection's output it holds back
  };
  std::deque<Gate> gates_;  // in batch order
  void release(std::uint64_t durable);
  std::function<std::string(const std::string&)> upgrade_handler_;
  bool paused_ = false;  // connections with output queued this iteration
  /** Who may send a request: anyone; privileged peers (it reveals secrets); privileged peers, and it changes state. */
  enum class Access { Anyone, Privileged, Change };
  static const std::map<std::string, std::pair<Handler, Access>> kHandlers;
};

}  // namespace lrm::kernel
