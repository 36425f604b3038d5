// lrm::client — the client side of the lrm protocol (docs/protocol.md).
// A Client is one connection to lrmd. It is not thread-safe: use one per
// thread. Requests are synchronous with a per-request timeout; events (op
// results, register/unregister notices) that arrive meanwhile are queued and
// handed out by nextEvent()/waitForResult().
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "lrm/protocol/records.hpp"
#include "lrm/sdk/metadata.hpp"
#include "lrm/sdk/types.hpp"

namespace lrm::client {

using Millis = std::chrono::milliseconds;

/**
 * @brief A failed request. code() is the daemon's error code (`unknown-instance`,
 * `invalid-spec`, `not-found`, ...) or a client-side one: `unreachable`,
 * `timeout`, `disconnected`, `protocol`.
 */
class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const noexcept { return code_; }

 private:
  std::string code_;
};

// The records are the protocol's (lrm/protocol/records.hpp), defined once for
// the client, lrmd and lrmctl.
/** @brief An event from the daemon: `exec` (an op result), `register` or `unregister`. */
using Event = protocol::Event;
/** @brief A queued, delayed or recurring op as shown by info/list. */
using OpInfo = protocol::Op;
/** @brief Everything the daemon knows about one instance. */
using InstanceInfo = protocol::Instance;
using PingInfo = protocol::PingInfo;
using RegisterRequest = protocol::RegisterRequest;
using ExecRequest = protocol::ExecRequest;
using SubscribeRequest = protocol::SubscribeRequest;

/**
 * @brief Socket path used when none is given: `$LRM_SOCKET`, else
 * `/run/lrm/lrmd.sock` for root, else `$XDG_RUNTIME_DIR/lrm/lrmd.sock`, else
 * `/tmp/lrm-$UID/lrmd.sock`.
 */
std::string defaultSocketPath();

/** @brief Is this exec event a failure (for `watch --failures`)? */
bool isFailure(const Event& event);

/**
 * @brief One connection to lrmd. Every call rides over an upgrade in place:
 * it reconnects, resumes the session (subscription, and every message not
 * delivered yet: events are queued, the reply to a request already read
 * answers it) and sends again a request the old daemon image did not read.
 * A connection closed without a goodbye is resumed the same way when lrmd
 * accepts it; otherwise the call throws `disconnected`.
 */
class Client {
 public:
  /**
   * @brief Connect and exchange hellos. @throws Error (`unreachable`,
   * `timeout`, `protocol`, `version-mismatch`).
   */
  static std::unique_ptr<Client> connect(const std::string& socket_path,
                                         const std::string& client_name,
                                         Millis timeout = Millis(30000));
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /** @brief Timeout for each request's reply (default 30 s). */
  void setRequestTimeout(Millis timeout);

  PingInfo ping();
  std::vector<std::string> classes();
  std::vector<std::string> providers(const std::string& type = {});
  std::vector<std::string> agents(const std::string& cls, const std::string& provider = {});
  std::string metadata(const std::string& agent);
  /** @brief Agent types with their shortdesc (class without providers, or a provider given). */
  std::vector<std::pair<std::string, std::string>> describeAgents(const std::string& cls,
                                                                  const std::string& provider = {});
  /** @brief An agent's metadata, parsed by the daemon. */
  sdk::AgentMetadata metadataParsed(const std::string& agent);
  /** @brief Problems of an agent's metadata against the OCF 1.1 API (advisory; empty: none). */
  std::vector<std::string> checkMetadata(const std::string& agent);
  /** @brief Problems of an instance's parameters against its agent's metadata (advisory). */
  std::vector<std::string> validate(const std::string& id);

  /** @brief Add or replace an instance. @return the `register` event. */
  Event registerInstance(const RegisterRequest& request);
  /** @brief Remove an instance (unknown id: success). @return the `unregister` event. */
  Event unregisterInstance(const std::string& id);
  std::vector<InstanceInfo> list();
  InstanceInfo info(const std::string& id);

  /**
   * @brief Submit an op. @return its call id; the result comes as an `exec` event.
   * @throws Error `invalid-argument` (nothing sent) when a duration is above sdk::kMaxDurationMs.
   */
  sdk::CallId exec(const ExecRequest& request);
  /**
   * @brief Cancel a pending or recurring op. @throws Error `not-found` if nothing matched,
   * `invalid-argument` (nothing sent) when @p interval_ms is above sdk::kMaxDurationMs.
   */
  void cancel(const std::string& id, const std::string& action, std::uint64_t interval_ms = 0);
  /** @brief Cancel everything of an instance that can be cancelled. @return how many ops. */
  std::uint64_t flush(const std::string& id);
  /**
   * @brief Receive events of other clients' ops too (replaces an earlier subscription).
   * @throws Error `invalid-argument` (nothing sent) when naming 4,096 instances or more.
   */
  void subscribe(const SubscribeRequest& request);

  /**
   * @brief Upgrade lrmd in place to @p binary (default: its own binary file):
   * it finishes what is queued and running, then re-executes itself with the
   * same pid and socket; this connection is closed by it.
   */
  void upgrade(const std::string& binary = {});

  /**
   * @brief Next event, or nullopt after @p timeout (reconnecting after an
   * upgrade may take up to the request timeout). @throws Error `disconnected`.
   */
  std::optional<Event> nextEvent(Millis timeout);
  /**
   * @brief The connection's socket, for a caller's own poll()/epoll loop: it
   * becomes readable when a message from lrmd may be waiting. Then, and after
   * every other call (events read while waiting for a reply are queued inside
   * the client), take events with nextEvent(Millis(0)) until it returns
   * nullopt. The descriptor changes when the client reconnects after an
   * upgrade in place: ask again before each wait. Never read from or close it.
   */
  int descriptor() const;
  /**
   * @brief Wait for the result of @p call_id; other events stay queued for nextEvent().
   * @throws Error `timeout` or `disconnected`.
   */
  Event waitForResult(sdk::CallId call_id, Millis timeout);

 private:
  class Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lrm::client
