// Value types shared by the daemon, plugins and clients: agent specs,
// operations, results, status and OCF return codes (README, Concepts). Plain structs
// and free functions only; nothing here depends on Poco, Boost or tinyxml2.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace lrm::sdk {

/** @brief Instance and operation parameters, name → value (sorted, so output is stable). */
using Params = std::map<std::string, std::string>;

/** @brief Daemon-assigned id of one submitted operation; 0 means "none". */
using CallId = std::uint64_t;

/**
 * @brief Did the execution happen? Kept separate from the agent's rc.
 * The numeric values are part of the ABI: append only.
 */
enum class ExecStatus : int {
  Pending = 0,
  Done,
  Cancelled,
  Timeout,
  NotSupported,
  Error,
  ErrorHard,
  ErrorFatal,
  NotInstalled,
};

/** @brief Wire name of a status (`done`, `not_installed`, ...). */
const char* toString(ExecStatus status) noexcept;
/** @brief Parse a wire name; nullopt when unknown. */
std::optional<ExecStatus> parseExecStatus(std::string_view text) noexcept;

/** @brief OCF return codes (OCF RA API 1.1). Every class maps its exit codes to these. */
namespace rc {
inline constexpr int kOk = 0;
inline constexpr int kError = 1;
inline constexpr int kInvalidParam = 2;
inline constexpr int kUnimplemented = 3;
inline constexpr int kInsufficientPriv = 4;
inline constexpr int kNotInstalled = 5;
inline constexpr int kNotConfigured = 6;
inline constexpr int kNotRunning = 7;
inline constexpr int kRunningPromoted = 8;
inline constexpr int kFailedPromoted = 9;
inline constexpr int kDegraded = 190;
inline constexpr int kDegradedPromoted = 191;
}  // namespace rc

/** @brief Human name of an OCF rc (`ok`, `not running`, ...), "unknown" otherwise. */
const char* rcName(int rc) noexcept;

/**
 * @brief A resource type: `class[:provider]:type` (`ocf:heartbeat:IPaddr2`, `lsb:cron`).
 */
struct AgentSpec {
  std::string cls;       ///< resource class (standard): ocf, lsb, service, native, ...
  std::string provider;  ///< empty for classes without providers
  std::string type;      ///< the agent's name

  /** @brief `class:provider:type`, or `class:type` without a provider. */
  std::string toString() const;
  bool operator==(const AgentSpec& other) const noexcept {
    return cls == other.cls && provider == other.provider && type == other.type;
  }
  bool operator!=(const AgentSpec& other) const noexcept { return !(*this == other); }
};

/**
 * @brief Parse `class[:provider]:type` syntactically (class and provider must be
 * known to the caller to decide whether a provider is required).
 * @param text the spec
 * @param error set to a precise reason when parsing fails
 * @return the spec, or nullopt with @p error filled
 */
std::optional<AgentSpec> parseAgentSpec(std::string_view text, std::string& error);

/** @brief `[A-Za-z0-9._:@-]{1,128}`: a valid instance id. */
bool isValidInstanceId(std::string_view id) noexcept;
/** @brief `[A-Za-z0-9_]{1,128}`: a valid parameter name. */
bool isValidParamName(std::string_view name) noexcept;
/** @brief A class, provider or type name: non-empty, no '/', not "." or "..", no control chars, at most 128 bytes. */
bool isValidAgentComponent(std::string_view name) noexcept;

/** @brief Who an operation's log lines are about. */
struct LogContext {
  std::string instance_id;
  std::string instance_name;
  std::string action;
  CallId call_id = 0;
};

/** @brief One operation as handed to a plugin. */
struct Operation {
  CallId call_id = 0;
  std::string instance_id;
  std::string instance_name;
  AgentSpec agent;
  std::string action;
  std::uint64_t interval_ms = 0;
  std::uint32_t timeout_ms = 0;  ///< 0: no timeout
  Params params;                  ///< registration params overlaid by per-op params

  LogContext context() const { return {instance_id, instance_name, action, call_id}; }
};

/** @brief What a plugin reports when an operation completes. */
struct Result {
  ExecStatus status = ExecStatus::Error;
  int rc = rc::kError;      ///< OCF rc; meaningful for Done and Cancelled
  std::string exit_reason;  ///< one line, may be empty
  std::string output;       ///< stderr if non-empty, else stdout; bounded
};

/**
 * @brief Is this result a failure (`lrmctl watch --failures`)? Any status
 * other than done/cancelled, or done with an rc other than ok/promoted, except
 * a one-shot monitor (a probe) answering "not running".
 */
bool isFailure(const std::string& action, std::uint64_t interval_ms, ExecStatus status, int rc) noexcept;

/** @brief Log severity, most severe first. */
enum class LogLevel : int { Error = 0, Warning, Notice, Info, Debug, Trace };
/** @brief Parse a level name (`error`, `warning`, `notice`, `info`, `debug`, `trace`); nullopt when unknown. */
std::optional<LogLevel> parseLogLevel(std::string_view name) noexcept;

}  // namespace lrm::sdk

namespace lrm::sdk {

/**
 * @brief Longest duration of an operation lrm accepts (interval, start delay,
 * timeout), in ms: 2^32-1, about 49.7 days, what a 32-bit millisecond count
 * (Pacemaker's) holds. The daemon, the client library and lrmctl refuse more.
 */
inline constexpr std::uint64_t kMaxDurationMs = 0xFFFFFFFFu;

/**
 * @brief Parse a duration: a number with an optional `ms`, `s`, `m` or `h`
 * suffix; a bare number is milliseconds. @return milliseconds (UINT64_MAX
 * when more than 64 bits hold, so a range check refuses it), or nullopt when
 * malformed.
 */
std::optional<std::uint64_t> parseDurationMs(std::string_view text) noexcept;

}  // namespace lrm::sdk
