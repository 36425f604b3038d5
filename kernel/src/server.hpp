// The daemon's side of the protocol (docs/protocol.md): requests from the
// connections go through one handler table to the Engine, every request is
// answered exactly once, and events are fanned out to originators,
// subscribers and sessions waiting since an upgrade. The parts it is built
// from: Listener (socket, peers, limits), Connections (framing, output,
// back-pressure), Sessions (tokens, upgrade), the request codec and, wired by
// the daemon, the DurabilityGate.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "connection.hpp"
#include "durability_gate.hpp"
#include "engine.hpp"
#include "event_loop.hpp"
#include "listener.hpp"
#include "sessions.hpp"
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

class Server : public Notifier, private Connections::Handler {
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
  void goodbyeAll(const std::string& reason) { connections_.goodbyeAll(reason); }
  /** Hand the listening socket to the next binary: a copy without close-on-exec; -1 on failure. */
  int listenerForExec() const { return listener_.forExec(); }
  /** Who to call for an `upgrade` request (the daemon); empty: refused. */
  void setUpgradeHandler(std::function<std::string(const std::string& binary)> handler) {
    upgrade_handler_ = std::move(handler);
  }
  /** Stop accepting and remove the socket file; open connections stay. */
  void stopAccepting() { listener_.stop(); }
  std::size_t connectionCount() const { return connections_.size(); }
  /** Write queued output now, as far as the gate lets it (the loop does it before it sleeps). */
  void flushAll() { connections_.flushAll(); }
  /**
   * With a journal (docs/operations.md, Durability): output waits behind
   * @p gate, and changes are refused while it says the journal cannot be
   * written. Without one nothing is held. @p gate outlives the server's use.
   */
  void setDurabilityGate(DurabilityGate* gate);
  /** A journal batch is on disk: send what waited for it. */
  void journalDurable() { connections_.journalDurable(); }
  void setRestored(std::size_t count) { options_.restored = count; }

  /**
   * Upgrading, after goodbyeAll() and drainOutput(): the sessions of
   * connected clients with what could not be written to them, and of those
   * still awaited since the previous upgrade with what was kept for them.
   */
  std::vector<CarriedSession> handOver() const;
  /** The first client id the next image may hand out. */
  ClientId nextClient() const { return connections_.nextId(); }
  /**
   * The next image: sessions waiting for their clients to reconnect, each
   * for @p window; events for them are kept meanwhile. A session not
   * resumed in time ends as a disconnection would.
   */
  void takeOver(const std::vector<CarriedSession>& sessions, ClientId next_client, Millis window);
  /** Write queued output, waiting up to @p limit for slow readers (before an exec()). */
  void drainOutput(Millis limit) { connections_.drainOutput(limit); }

  void publishExec(const ExecEvent& event, ClientId origin, bool originator_only) override;
  void publishInstance(const std::string& type, const InstanceView& instance) override;

 private:
  /** Who may send a request: anyone; privileged peers (it reveals secrets); privileged peers, and it changes state. */
  enum class Access { Anyone, Privileged, Change };
  /** Whether a handler filled the reply (sent at once) or will send it itself, later (asked an agent). */
  enum class Answer { Now, Later };
  using Handler = Answer (Server::*)(Connection&, const wire::Message& request, wire::Message& reply);
  struct Entry {
    Handler handler;
    Access access;
  };
  /** Every request kind the daemon serves: the only way a request reaches a handler. */
  static const std::map<std::string, Entry> kHandlers;

  void onAccepted(Poco::Net::StreamSocket socket, int fd, const Peer& peer);
  void onRequest(Connection& connection, const wire::Message& request) override;
  void onClosed(const Connection& connection) override;
  /** The dispatcher's checks: @throws RequestError when @p request may not be served on @p connection. */
  const Entry& admit(const Connection& connection, const wire::Message& request, const std::string& kind) const;
  /** Answered Later: send connection @p id the reply @p make builds, if it has not left meanwhile. */
  template <typename Make>
  void answer(ClientId id, const Make& make) {
    if (Connection* connection = connections_.find(id)) connections_.send(*connection, make());
  }
  /** Queue @p message for every connection and waiting session that @p wanted accepts. */
  void fanOut(const wire::Message& message, const Sessions::Wanted& wanted);

  // Request handlers (server_requests.cpp), one per request kind.
  Answer onHello(Connection&, const wire::Message&, wire::Message&);
  Answer onPing(Connection&, const wire::Message&, wire::Message&);
  Answer onClasses(Connection&, const wire::Message&, wire::Message&);
  Answer onProviders(Connection&, const wire::Message&, wire::Message&);
  Answer onAgents(Connection&, const wire::Message&, wire::Message&);
  Answer onMetadata(Connection&, const wire::Message&, wire::Message&);
  Answer onValidate(Connection&, const wire::Message&, wire::Message&);
  Answer onRegister(Connection&, const wire::Message&, wire::Message&);
  Answer onUnregister(Connection&, const wire::Message&, wire::Message&);
  Answer onList(Connection&, const wire::Message&, wire::Message&);
  Answer onInfo(Connection&, const wire::Message&, wire::Message&);
  Answer onExec(Connection&, const wire::Message&, wire::Message&);
  Answer onCancel(Connection&, const wire::Message&, wire::Message&);
  Answer onFlush(Connection&, const wire::Message&, wire::Message&);
  Answer onSubscribe(Connection&, const wire::Message&, wire::Message&);
  Answer onUpgrade(Connection&, const wire::Message&, wire::Message&);
  /** agents describe="true": each agent with its shortdesc, from the metadata cache. */
  void describeAgents(ClientId id, const std::string& request_id, const std::string& cls,
                      const std::string& provider);

  EventLoop& loop_;
  ServerOptions options_;
  Engine* engine_ = nullptr;
  DurabilityGate* gate_ = nullptr;
  Clock::time_point started_;
  Listener listener_;
  Connections connections_;
  Sessions sessions_;
  std::function<std::string(const std::string&)> upgrade_handler_;
};

}  // namespace lrm::kernel
