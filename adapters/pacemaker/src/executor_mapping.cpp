// Translations between pacemaker-execd's vocabulary and lrm's (executor_mapping.hpp).
#include "executor_mapping.hpp"

#include <cerrno>

namespace lrm::pacemaker {
namespace {

// enum lrmd_call_options bits of Pacemaker's include/crm/lrmd.h.
constexpr std::uint64_t kDropRecurring = 0x1;
constexpr std::uint64_t kNotifyChangesOnly = 0x4;

}  // namespace

int pcmkExecStatus(sdk::ExecStatus status) {
  switch (status) {
    case sdk::ExecStatus::Pending:
      return -1;
    case sdk::ExecStatus::Done:
      return 0;
    case sdk::ExecStatus::Cancelled:
      return 1;
    case sdk::ExecStatus::Timeout:
      return 2;
    case sdk::ExecStatus::NotSupported:
      return 3;
    case sdk::ExecStatus::Error:
      return 4;
    case sdk::ExecStatus::ErrorHard:
      return 5;
    case sdk::ExecStatus::ErrorFatal:
      return 6;
    case sdk::ExecStatus::NotInstalled:
      return 7;
  }
  return 4;  // a status appended to lrm's enum after this was written: an error
}

bool isLrmdUnreachable(std::string_view code) {
  return code == "disconnected" || code == "unreachable" || code == "timeout";
}

int errnoForLrmError(std::string_view code) {
  if (code == "unknown-instance") return -ENODEV;
  if (code == "invalid-argument" || code == "invalid-spec" || code == "bad-request") return -EINVAL;
  if (code == "not-found" || code == "in-progress") return -EOPNOTSUPP;
  if (code == "unavailable") return -EAGAIN;
  if (code == "permission-denied") return -EACCES;
  if (code == "unknown-class") return -EPROTONOSUPPORT;
  if (code == "protocol" || code == "unknown-request" || code == "version-mismatch") return -EPROTO;
  return -EREMOTEIO;
}

std::string agentSpecOf(std::string_view cls, std::string_view provider, std::string_view type) {
  std::string spec(cls);
  if (!provider.empty()) spec.append(":").append(provider);
  return spec.append(":").append(type);
}

std::string readableInterval(std::uint64_t interval_ms) {
  struct Unit {
    std::uint64_t ms;
    const char* suffix;
  };
  constexpr Unit kUnits[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}};
  std::string text;
  for (const Unit& unit : kUnits) {
    if (interval_ms > unit.ms) {
      text += std::to_string(interval_ms / unit.ms) + unit.suffix;
      interval_ms %= unit.ms;
    }
  }
  if (interval_ms > 1000) {
    text += std::to_string(interval_ms / 1000);
    if (interval_ms % 1000 != 0) {
      const std::string millis = std::to_string(interval_ms % 1000);
      text += "." + std::string(3 - millis.size(), '0') + millis;
    }
    text += "s";
  } else if (interval_ms > 0) {
    text += std::to_string(interval_ms) + "ms";
  } else if (text.empty()) {
    text = "0s";
  }
  return text;
}

std::string timeoutExitReason(std::uint64_t timeout_ms) {
  return "Resource agent did not complete within " + readableInterval(timeout_ms);
}

bool dropRecurringRequested(std::uint64_t callopt) { return (callopt & kDropRecurring) != 0; }

bool changesOnlyRequested(std::uint64_t callopt) { return (callopt & kNotifyChangesOnly) != 0; }

}  // namespace lrm::pacemaker
