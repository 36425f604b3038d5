// The pure translations between pacemaker-execd's vocabulary and lrm's that
// ExecutorBridge applies: op status codes, lrmd's error codes as the negative
// errno execd answers, agent specs, and the bits of `lrmd_callopt`. Kept
// apart from the bridge so that each rule is tested on its own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "lrm/sdk/types.hpp"

namespace lrm::pacemaker {

/** Pacemaker's PCMK_EXEC_* value of an lrm status: pending -1, done 0, ... not installed 7. */
int pcmkExecStatus(sdk::ExecStatus status);

/**
 * Does a client::Error code say lrmd cannot be reached (`disconnected`,
 * `unreachable`, `timeout`)? Those are not answers to a request: the bridge
 * lets them through for lrm-remoted to reconnect.
 */
bool isLrmdUnreachable(std::string_view code);

/**
 * The negative errno pacemaker-execd answers where lrmd refuses a request
 * with @p code (docs/protocol.md §7):
 * `unknown-instance` -ENODEV; `invalid-argument`, `invalid-spec`,
 * `bad-request` -EINVAL; `not-found`, `in-progress` -EOPNOTSUPP (execd cannot
 * cancel a running one-shot op either); `unavailable` (lrmd's journal cannot
 * be written) -EAGAIN; `permission-denied` -EACCES; `unknown-class`
 * -EPROTONOSUPPORT; `protocol`, `unknown-request`, `version-mismatch`
 * -EPROTO; anything else -EREMOTEIO.
 */
int errnoForLrmError(std::string_view code);

/** lrm's agent spec of a Pacemaker resource: `class:provider:type`, or `class:type` without a provider. */
std::string agentSpecOf(std::string_view cls, std::string_view provider, std::string_view type);

/**
 * Does a register's `lrmd_callopt` ask for drop_recurring? Pacemaker 2.1
 * sends 0x3 (its constant overlapped notify_orig_only), 3.0 sends 0x1: bit 0
 * is set in both.
 */
bool dropRecurringRequested(std::uint64_t callopt);

/** Does an exec's `lrmd_callopt` ask to be notified of changed results only (0x4)? */
bool changesOnlyRequested(std::uint64_t callopt);

}  // namespace lrm::pacemaker
