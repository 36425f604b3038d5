// Sessions, their tokens and their carrying over an upgrade in place (see
// sessions.hpp). An outbox is whole frames back to back, as written to a
// connection, so that a resumed client reads it like any other output.
#include "sessions.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "connection.hpp"
#include "log.hpp"

namespace lrm::kernel {

using wire::Message;

namespace {

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

}  // namespace

bool Subscription::wantsExec(const ExecEvent& event) const {
  return subscribed && (instances.empty() || instances.count(event.id)) &&
         (!failures_only || sdk::isFailure(event.action, event.interval_ms, event.status, event.rc));
}

bool Subscription::wantsInstance(const std::string& instance_id) const {
  return subscribed && !failures_only && (instances.empty() || instances.count(instance_id));
}

std::uint64_t frameCount(const std::string& framed) {
  std::uint64_t count = 0;
  for (std::size_t at = 0; at < framed.size(); at = frameEnd(framed, at)) ++count;
  return count;
}

CarriedSession carriedSession(const Connection& connection) {
  // The client library drops a torn frame: the one written in part goes again whole.
  const std::string& out = connection.out;
  const std::size_t end = connection.closing ? 0 : std::min(connection.goodbye_at, out.size());
  std::size_t start = 0;
  while (start < end && frameEnd(out, start) <= connection.out_offset) start = frameEnd(out, start);
  return {connection.client, connection.session, connection.peer.uid, connection.client_name,
          connection.subscription, start < end ? out.substr(start, end - start) : std::string()};
}

Sessions::Sessions(EventLoop& loop, std::size_t max_outbox_bytes, Ended ended)
    : loop_(loop), max_outbox_bytes_(max_outbox_bytes), ended_(std::move(ended)) {}

void Sessions::open(Connection& connection, const Message& hello, Message& reply) {
  // After an upgrade: the client takes its session back (same uid only).
  const auto waiting = waiting_.find(hello.get("resume"));
  if (hello.has("resume") && waiting != waiting_.end() && waiting->second.session.uid == connection.peer.uid) {
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
    if (hello.has("resume")) {
      log(sdk::LogLevel::Info, connection.who() + ": no session to resume; a new one starts");
    }
    connection.session = newToken();
  }
  reply.set("session", connection.session);
}

void Sessions::keep(const Message& message, const Wanted& wanted) {
  std::string framed;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    Waiting& waiting = it->second;
    if (!wanted(waiting.session.client, waiting.session.subscription)) {
      ++it;
      continue;
    }
    if (framed.empty()) framed = wire::frame(wire::encode(message));
    waiting.session.outbox += framed;
    if (waiting.session.outbox.size() <= max_outbox_bytes_) {
      ++it;
      continue;
    }
    // As for a connected client that does not read: the session ends.
    const ClientId client = waiting.session.client;
    log(sdk::LogLevel::Warning, "client " + std::to_string(client) + " (" + waiting.session.name +
                                    "): more than " + std::to_string(max_outbox_bytes_) +
                                    " bytes of events kept for it since the upgrade; its session ends");
    loop_.cancelTimer(waiting.expiry);
    it = waiting_.erase(it);
    loop_.defer([this, client] { ended_(client); });
  }
}

void Sessions::handOver(std::vector<CarriedSession>& sessions) const {
  for (const auto& [token, waiting] : waiting_) sessions.push_back(waiting.session);  // not back yet: with its outbox
}

void Sessions::takeOver(const std::vector<CarriedSession>& sessions, Millis window) {
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
      ended_(client);
    });
  }
}

}  // namespace lrm::kernel
