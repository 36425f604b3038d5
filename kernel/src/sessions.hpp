// Client sessions (docs/protocol.md, upgrade in place): each connection gets
// a token at hello; at an upgrade the old image hands over every session with
// the messages its client has not received yet, and the new one keeps them
// waiting, collecting events, until the client reconnects with its token
// (hello resume=) or the window passes and the session ends as a
// disconnection would.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine.hpp"
#include "event_loop.hpp"
#include "wire/wire.hpp"

namespace lrm::kernel {

struct Connection;

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

/** How many frames @p framed (whole frames back to back) holds. */
std::uint64_t frameCount(const std::string& framed);
/**
 * The session of @p connection as carried over an upgrade (after the
 * goodbye was queued): every whole message not written yet, the one written
 * in part included, the goodbye not. A connection closing for another reason
 * carries nothing: its session only ends when the window passes.
 */
CarriedSession carriedSession(const Connection& connection);

class Sessions {
 public:
  /** Whether a message is meant for a client with this subscription. */
  using Wanted = std::function<bool(ClientId, const Subscription&)>;
  /** A session ended without its client (called from the loop). */
  using Ended = std::function<void(ClientId)>;

  /** @p max_outbox_bytes: kept for a session at most; beyond it the session ends. */
  Sessions(EventLoop& loop, std::size_t max_outbox_bytes, Ended ended);

  /**
   * Hello on @p connection: it takes back the session that hello's `resume`
   * names (same uid only) with what was kept for it, or starts a new one;
   * @p reply says which.
   */
  void open(Connection& connection, const wire::Message& hello, wire::Message& reply);
  /** Keep @p message for every waiting session that @p wanted accepts. */
  void keep(const wire::Message& message, const Wanted& wanted);
  /** The sessions still waiting (since the previous upgrade), with what was kept for them. */
  void handOver(std::vector<CarriedSession>& sessions) const;
  /** Sessions waiting for their clients, each for @p window. */
  void takeOver(const std::vector<CarriedSession>& sessions, Millis window);

 private:
  struct Waiting {
    CarriedSession session;  // its outbox grows with the events meant for it
    TimerId expiry = 0;
  };

  EventLoop& loop_;
  std::size_t max_outbox_bytes_;
  Ended ended_;
  std::map<std::string, Waiting> waiting_;  // by token, until resumed
};

}  // namespace lrm::kernel
