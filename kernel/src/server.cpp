// The server: its parts wired together, the dispatcher and the fan-out of
// events (see server.hpp). Every request goes through kHandlers; a handler
// answers at once or, when it must ask an agent first, later.
#include "server.hpp"

#include <utility>

#include "log.hpp"
#include "request_codec.hpp"

namespace lrm::kernel {

using wire::Message;

namespace {

// Longest request element name repeated in an error reply or a log line.
constexpr std::size_t kMaxQuotedKindBytes = 64;

ListenerOptions listenerOptions(const ServerOptions& options) {
  ListenerOptions listener;
  listener.socket_path = options.socket_path;
  listener.allowed_gid = options.allowed_gid;
  listener.max_connections = options.max_connections;
  listener.max_connections_per_uid = options.max_connections_per_uid;
  return listener;
}

}  // namespace

const std::map<std::string, Server::Entry> Server::kHandlers = {
    {"hello", {&Server::onHello, Access::Anyone}},
    {"ping", {&Server::onPing, Access::Anyone}},
    {"classes", {&Server::onClasses, Access::Anyone}},
    {"providers", {&Server::onProviders, Access::Anyone}},
    {"agents", {&Server::onAgents, Access::Anyone}},        // describe="true": answered later
    {"metadata", {&Server::onMetadata, Access::Anyone}},    // answered later
    {"validate", {&Server::onValidate, Access::Privileged}},  // answered later; quotes values
    {"register", {&Server::onRegister, Access::Change}},
    {"unregister", {&Server::onUnregister, Access::Change}},
    {"list", {&Server::onList, Access::Anyone}},  // redacted for unprivileged peers
    {"info", {&Server::onInfo, Access::Anyone}},  // redacted for unprivileged peers
    {"exec", {&Server::onExec, Access::Change}},
    {"cancel", {&Server::onCancel, Access::Change}},
    {"flush", {&Server::onFlush, Access::Change}},
    {"subscribe", {&Server::onSubscribe, Access::Privileged}},  // events carry agents' output
    {"upgrade", {&Server::onUpgrade, Access::Change}},
};

Server::Server(EventLoop& loop, ServerOptions options)
    : loop_(loop),
      options_(std::move(options)),
      started_(Clock::now()),
      listener_(loop, listenerOptions(options_),
                [this](Poco::Net::StreamSocket socket, int fd, const Peer& peer) {
                  onAccepted(std::move(socket), fd, peer);
                }),
      connections_(loop, *this, options_.hello_timeout, options_.max_buffered_bytes),
      sessions_(loop, Connections::kMaxPendingOutputBytes, [this](ClientId client) {
        if (engine_) engine_->clientGone(client);
      }) {
  loop_.setBeforeSleep([this] { flushAll(); });
}

Server::~Server() { loop_.setBeforeSleep(nullptr); }

void Server::listen(int inherited_fd) { listener_.listen(inherited_fd); }

void Server::pauseInput() {
  listener_.pause();
  connections_.pause();
}

void Server::setDurabilityGate(DurabilityGate* gate) {
  gate_ = gate;
  connections_.setGate(gate);
}

void Server::onAccepted(Poco::Net::StreamSocket socket, int fd, const Peer& peer) {
  const ClientId id = connections_.takeId();
  const std::string refusal = listener_.admit(peer, describePeer(id, {}, peer));
  if (!refusal.empty()) {
    Connections::refuse(fd, "too many connections: " + refusal);
    return;  // the socket closes as it goes
  }
  connections_.add(id, std::move(socket), fd, peer);
}

void Server::onClosed(const Connection& connection) {
  listener_.release(connection.peer);
  if (engine_) engine_->clientGone(connection.client);
}

const Server::Entry& Server::admit(const Connection& connection, const Message& request,
                                   const std::string& kind) const {
  if (!request.has("id")) throw RequestError("bad-request", "request '" + kind + "' has no 'id' attribute");
  const auto found = kHandlers.find(request.kind);
  if (found == kHandlers.end()) throw RequestError("unknown-request", "unknown request type '" + kind + "'");
  const Entry& entry = found->second;
  if (entry.access != Access::Anyone && !connection.peer.privileged) {
    throw RequestError("permission-denied", "uid " + std::to_string(connection.peer.uid) + " may not '" + kind +
                                                "': only root, the daemon's user and the allowed group may change "
                                                "anything or read parameters, output and events");
  }
  if (entry.access == Access::Change && gate_) {
    if (const std::string why = gate_->refusal(); !why.empty()) throw RequestError("unavailable", why);
  }
  return entry;
}

void Server::onRequest(Connection& connection, const Message& request) {
  const std::string id = request.get("id");
  // The element name as quoted back: a client's name can be a megabyte long.
  const std::string kind = wire::sanitize(clip(request.kind, kMaxQuotedKindBytes));
  if (!connection.greeted && request.kind != "hello") {
    connections_.send(connection, errorReply(id, "bad-request", "the first request must be 'hello'"));
    connections_.drop(connection.id, "first request was '" + kind + "', not 'hello'", true);
    return;
  }
  try {
    const Entry& entry = admit(connection, request, kind);
    Message reply("reply");
    reply.set("id", id).set("ok", true);
    if ((this->*entry.handler)(connection, request, reply) == Answer::Later) return;
    connections_.send(connection, reply, entry.access != Access::Change);
    connections_.deliverCarried(connection);  // a resumed session: what happened while it was away
  } catch (const RequestError& e) {
    // The reason of an unknown request already quotes its name.
    log(sdk::LogLevel::Info, connection.who() + ": " + (e.code() == "unknown-request" ? "request" : kind) +
                                 " refused: " + e.what());
    connections_.send(connection, errorReply(id, e.code(), e.what()), true);  // a refusal changed nothing
    if (!connection.greeted) connections_.drop(connection.id, std::string("hello refused: ") + e.what(), true);
  } catch (const std::exception& e) {
    log(sdk::LogLevel::Error, connection.who() + ": " + kind + " failed: " + e.what());
    connections_.send(connection, errorReply(id, "internal", e.what()));
  }
}

void Server::fanOut(const Message& message, const Sessions::Wanted& wanted) {
  for (auto& [id, connection] : connections_.all()) {
    // Unprivileged peers cannot subscribe nor exec; this also keeps events
    // from one that resumed a subscription made before they could not.
    if (connection->closing || !connection->greeted || !connection->peer.privileged ||
        !wanted(connection->client, connection->subscription)) {
      continue;
    }
    connections_.send(*connection, message);
  }
  sessions_.keep(message, wanted);
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
  for (const auto& [id, connection] : connections_.all()) {
    if (connection->greeted) sessions.push_back(carriedSession(*connection));
  }
  sessions_.handOver(sessions);
  return sessions;
}

void Server::takeOver(const std::vector<CarriedSession>& sessions, ClientId next_client, Millis window) {
  connections_.skipIds(next_client);
  sessions_.takeOver(sessions, window);
}

}  // namespace lrm::kernel
