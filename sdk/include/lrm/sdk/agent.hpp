// Native agents: C++ resource agents that run inside lrmd (class `native`),
// each a shared library exporting one descriptor, loaded by the native
// plugin from --agent-dir. Much faster than a script (no fork), at the price
// of isolation: an agent that crashes takes the daemon with it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "lrm/sdk/plugin.hpp"
#include "lrm/sdk/types.hpp"

namespace lrm::sdk {

/** @brief What an action can ask while it runs: stop early? log? */
class ActionContext {
 public:
  virtual ~ActionContext() = default;
  /** @brief True once the action was cancelled or its deadline passed: return soon. */
  virtual bool cancelled() const noexcept = 0;
  /** @brief When the action times out (steady clock). */
  virtual std::chrono::steady_clock::time_point deadline() const noexcept = 0;
  /** @brief Log a line about this instance (thread-safe). */
  virtual void log(LogLevel level, const std::string& message) noexcept = 0;
};

/**
 * @brief A native agent: one object per agent type, shared by every
 * instance of that type.
 *
 * Contract: run() is called on a worker thread, never on the event loop;
 * never twice at once for one instance, but possibly at once for different
 * instances, so an agent keeps per-instance state keyed by
 * Operation::instance_id (or in files). It may block, but should return by
 * the context's deadline and soon after cancelled() turns true; a result
 * returned after the deadline is discarded (the op was reported `timeout`).
 * An exception escaping run() is reported as `status=error` with its text.
 */
class Agent {
 public:
  virtual ~Agent() = default;
  /** @brief OCF-style metadata XML of this agent. */
  virtual std::string metadata() const = 0;
  /** @brief Perform one action. */
  virtual Result run(const Operation& op, ActionContext& context) = 0;
};

}  // namespace lrm::sdk

/** @brief Name of the symbol an agent library exports. */
#define LRM_AGENT_SYMBOL "lrm_agent_info"

extern "C" {

/** @brief The agent descriptor; append-only, like lrm_plugin_descriptor. */
struct lrm_agent_descriptor {
  std::uint32_t abi_major;    ///< LRM_SDK_ABI_MAJOR the agent was built with
  std::uint32_t abi_minor;    ///< LRM_SDK_ABI_MINOR the agent was built with
  std::uint32_t struct_size;  ///< sizeof(lrm_agent_descriptor) it was built with
  const char* provider;       ///< e.g. "lrm": the agent is native:<provider>:<type>
  const char* type;           ///< e.g. "Dummy"
  const char* version;        ///< the agent's own version
  lrm::sdk::Agent* (*create)();
  void (*destroy)(lrm::sdk::Agent*);
};

}  // extern "C"

/** @brief Size of the ABI 1.0 agent descriptor: the smallest a loader accepts. */
#define LRM_AGENT_DESCRIPTOR_MIN_SIZE \
  (offsetof(lrm_agent_descriptor, destroy) + sizeof(lrm_agent_descriptor::destroy))

/** @brief Export @p CLASS (an lrm::sdk::Agent) as native:@p PROVIDER:@p TYPE. */
#define LRM_AGENT(CLASS, PROVIDER, TYPE, VERSION)                                     \
  LRM_SDK_EXPORT const lrm_agent_descriptor lrm_agent_info;                           \
  extern "C" const lrm_agent_descriptor lrm_agent_info = {                            \
      LRM_SDK_ABI_MAJOR,                                                              \
      LRM_SDK_ABI_MINOR,                                                              \
      sizeof(lrm_agent_descriptor),                                                   \
      PROVIDER,                                                                       \
      TYPE,                                                                           \
      VERSION,                                                                        \
      LRM_DETAIL_FACTORY(lrm::sdk::Agent, CLASS)}
