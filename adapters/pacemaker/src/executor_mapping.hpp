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

/**
 * A duration as Pacemaker writes it in exit reasons: days, hours, minutes,
 * then seconds with milliseconds (`1h1m2s`, `1.500s`), or milliseconds alone
 * (`300ms`); `0s` for 0. Each unit is taken only when the rest is strictly
 * more than one of it, as Pacemaker does: 60000 ms is `60s`, 1000 ms `1000ms`.
 */
std::string readableInterval(std::uint64_t interval_ms);

/** The exit reason pacemaker-execd gives an agent that timed out after @p timeout_ms. */
std::string timeoutExitReason(std::uint64_t timeout_ms);

/** Does an exec's `lrmd_callopt` ask to be notified of changed results only (0x4)? */
bool changesOnlyRequested(std::uint64_t callopt);

}  // namespace lrm::pacemaker
