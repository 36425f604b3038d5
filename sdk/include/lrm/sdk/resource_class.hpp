// The interface every resource-class plugin (ocf, lsb, native, third-party)
// implements. The daemon calls it on its event-loop thread only; a plugin that
// needs to wait does so through Host::spawn() callbacks, never by blocking.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "lrm/sdk/host.hpp"
#include "lrm/sdk/types.hpp"

namespace lrm::sdk {

/** @brief Called exactly once when an operation completes. */
using CompletionCallback = std::function<void(const Result&)>;

/** @brief Called exactly once with an agent's metadata XML, or a failure Result. */
using MetadataCallback = std::function<void(const Result& result, const std::string& xml)>;

/**
 * @brief A family of agents sharing one calling convention.
 *
 * Contract:
 * - every method is `noexcept`: a plugin reports failures through Result,
 *   never by throwing across the library boundary;
 * - init() is called once, before anything else, with a Host that outlives
 *   the plugin object;
 * - execute() and metadata() complete asynchronously: the callback is invoked
 *   later, exactly once, on the event-loop thread, and never from inside the
 *   call itself;
 * - the daemon never runs two operations of one instance at once.
 */
class ResourceClass {
 public:
  virtual ~ResourceClass() = default;

  /** @brief The class name used in agent specs (`ocf`). */
  virtual std::string name() const noexcept = 0;

  /**
   * @brief Prepare to serve. @param host the daemon's services.
   * @param error a precise reason when returning false
   * @return false if the plugin cannot work (the daemon then does not offer the class)
   */
  virtual bool init(Host& host, std::string& error) noexcept = 0;

  /** @brief Whether specs of this class must name a provider (true for ocf). */
  virtual bool requiresProvider() const noexcept = 0;

  /** @brief Providers, sorted; only those that have @p type when it is not empty. */
  virtual std::vector<std::string> providers(const std::string& type) noexcept = 0;

  /** @brief Agent types, sorted; only those of @p provider when it is not empty. */
  virtual std::vector<std::string> types(const std::string& provider) noexcept = 0;

  /** @brief Fetch an agent's metadata XML. */
  virtual void metadata(const AgentSpec& agent, MetadataCallback done) noexcept = 0;

  /** @brief Run one operation (one iteration, for recurring ones). */
  virtual void execute(const Operation& op, CompletionCallback done) noexcept = 0;

  /**
   * @brief Stop a running operation as soon as possible; its completion is
   * still reported through its callback. @return false if @p call_id is not running.
   */
  virtual bool cancel(CallId call_id) noexcept = 0;

  /**
   * @brief What identifies the current version of an agent (e.g. its file's
   * path, size and modification time), so the daemon can cache its metadata
   * until it changes. Empty (the default): never cached.
   */
  virtual std::string fingerprint(const AgentSpec& agent) noexcept {
    (void)agent;
    return {};
  }

  // ---- ABI 1.1 ----

  /**
   * @brief Upgrade in place: @p op was running in the previous daemon image,
   * which handed its agent process over to this one. Re-attach to it (for a
   * spawned agent: Host::adopt()) and complete through @p done exactly as
   * execute() would have; cancel() must work for it afterwards.
   * @return false when this class cannot (the default): the daemon then
   * reports the operation as failed with its outcome unknown.
   */
  virtual bool resume(const Operation& op, CompletionCallback done) noexcept {
    (void)op;
    (void)done;
    return false;
  }

  // ---- ABI 1.3 ----
  /**
   * @brief Upgrade in place: can @p op, which runs without a child of
   * Host::spawn, be handed to the next daemon image (which then calls
   * resume())? True for work that lives outside lrmd and survives it, such
   * as a job of a service manager. Default false: the daemon waits for such
   * an op to complete before it re-executes.
   */
  virtual bool carriesOver(const Operation& op) const noexcept {
    (void)op;
    return false;
  }

  // ---- ABI 1.4 ----
  /**
   * @brief The instance @p instance_id of @p agent is unregistered, or
   * registered again with another agent: forget what the class keeps for it
   * (e.g. a file it wrote for it). Called once, on the event-loop thread,
   * after its last operation completed; never at shutdown or at an upgrade in
   * place (the instance lives on). Default: nothing to forget.
   */
  virtual void released(const std::string& instance_id, const AgentSpec& agent) noexcept {
    (void)instance_id;
    (void)agent;
  }
};

}  // namespace lrm::sdk
