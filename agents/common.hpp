// Small helpers shared by the native agents shipped with lrm (header-only,
// so each agent library stays self-contained).
#pragma once

#include <chrono>
#include <string>
#include <thread>

#include "lrm/sdk/agent.hpp"

namespace lrm::agents {

inline sdk::Result result(int rc, std::string reason = {}) {
  sdk::Result r;
  r.status = sdk::ExecStatus::Done;
  r.rc = rc;
  r.exit_reason = std::move(reason);
  return r;
}

inline std::string param(const sdk::Operation& op, const char* name, const std::string& fallback = {}) {
  const auto it = op.params.find(name);
  return it == op.params.end() ? fallback : it->second;
}

/** Sleep up to @p ms, waking early when the action is cancelled; false if cancelled. */
inline bool pause(sdk::ActionContext& context, long ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) {
    if (context.cancelled()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

/** Milliseconds left before the action's deadline (at most @p cap). */
inline long msLeft(sdk::ActionContext& context, long cap) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(context.deadline() -
                                                                          std::chrono::steady_clock::now());
  return left.count() < cap ? std::max<long>(left.count(), 0) : cap;
}

}  // namespace lrm::agents
