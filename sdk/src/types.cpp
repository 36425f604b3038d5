// Names, parsing and validation of the SDK value types.
#include "lrm/sdk/types.hpp"

#include <array>
#include <charconv>
#include <utility>
#include <cstdint>

namespace lrm::sdk {
namespace {

constexpr std::array<const char*, 9> kStatusNames = {
    "pending", "done",  "cancelled",   "timeout",      "not_supported",
    "error",   "error_hard", "error_fatal", "not_installed"};

bool isIdChar(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '@' || c == '-';
}

}  // namespace

const char* toString(ExecStatus status) noexcept {
  const auto index = static_cast<std::size_t>(status);
  return index < kStatusNames.size() ? kStatusNames[index] : "unknown";
}

std::optional<ExecStatus> parseExecStatus(std::string_view text) noexcept {
  for (std::size_t i = 0; i < kStatusNames.size(); ++i) {
    if (text == kStatusNames[i]) return static_cast<ExecStatus>(i);
  }
  return std::nullopt;
}

std::optional<LogLevel> parseLogLevel(std::string_view name) noexcept {
  static constexpr std::pair<std::string_view, LogLevel> kLevels[] = {
      {"error", LogLevel::Error}, {"warning", LogLevel::Warning}, {"notice", LogLevel::Notice},
      {"info", LogLevel::Info},   {"debug", LogLevel::Debug},     {"trace", LogLevel::Trace}};
  for (const auto& [label, level] : kLevels) {
    if (name == label) return level;
  }
  return std::nullopt;
}

const char* rcName(int code) noexcept {
  switch (code) {
    case rc::kOk: return "ok";
    case rc::kError: return "error";
    case rc::kInvalidParam: return "invalid parameter";
    case rc::kUnimplemented: return "unimplemented feature";
    case rc::kInsufficientPriv: return "insufficient privileges";
    case rc::kNotInstalled: return "not installed";
    case rc::kNotConfigured: return "not configured";
    case rc::kNotRunning: return "not running";
    case rc::kRunningPromoted: return "promoted";
    case rc::kFailedPromoted: return "promoted failed";
    case rc::kDegraded: return "degraded";
    case rc::kDegradedPromoted: return "degraded promoted";
    default: return "unknown";
  }
}

bool isFailure(const std::string& action, std::uint64_t interval_ms, ExecStatus status, int code) noexcept {
  switch (status) {
    case ExecStatus::Cancelled:
      return false;
    case ExecStatus::Done:
      if (code == rc::kOk || code == rc::kRunningPromoted) return false;
      return !(action == "monitor" && interval_ms == 0 && code == rc::kNotRunning);
    default:
      return true;
  }
}

std::string AgentSpec::toString() const {
  return provider.empty() ? cls + ":" + type : cls + ":" + provider + ":" + type;
}

bool isValidInstanceId(std::string_view id) noexcept {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!isIdChar(c)) return false;
  }
  return true;
}

bool isValidParamName(std::string_view name) noexcept {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_';
    if (!ok) return false;
  }
  return true;
}

bool isValidAgentComponent(std::string_view name) noexcept {
  if (name.empty() || name.size() > 128 || name == "." || name == "..") return false;
  for (char c : name) {
    if (c == '/' || c == ':' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

std::optional<AgentSpec> parseAgentSpec(std::string_view text, std::string& error) {
  std::array<std::string_view, 3> parts;
  std::size_t count = 0;
  std::size_t start = 0;
  while (true) {
    const std::size_t colon = text.find(':', start);
    if (count == parts.size()) {
      error = "agent spec '" + std::string(text) + "' has too many ':' (expected class[:provider]:type)";
      return std::nullopt;
    }
    parts[count++] = text.substr(start, colon == std::string_view::npos ? colon : colon - start);
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (count < 2) {
    error = "agent spec '" + std::string(text) + "' must be class[:provider]:type";
    return std::nullopt;
  }
  AgentSpec spec;
  spec.cls = std::string(parts[0]);
  spec.provider = count == 3 ? std::string(parts[1]) : std::string();
  spec.type = std::string(parts[count - 1]);
  const char* labels[] = {"class", "provider", "type"};
  const std::string* values[] = {&spec.cls, &spec.provider, &spec.type};
  for (int i = 0; i < 3; ++i) {
    if (i == 1 && count == 2) continue;
    if (!isValidAgentComponent(*values[i])) {
      error = "agent spec '" + std::string(text) + "': invalid " + labels[i] + " '" + *values[i] +
              "' (must be 1-128 characters without '/', ':' or control characters, and not '.' or '..')";
      return std::nullopt;
    }
  }
  return spec;
}

}  // namespace lrm::sdk

namespace lrm::sdk {

std::optional<std::uint64_t> parseDurationMs(std::string_view text) noexcept {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return std::nullopt;
  std::uint64_t factor = 0;
  const std::string_view unit = text.substr(digits);
  if (unit.empty() || unit == "ms") {
    factor = 1;
  } else if (unit == "s") {
    factor = 1000;
  } else if (unit == "m") {
    factor = 60 * 1000;
  } else if (unit == "h") {
    factor = 3600 * 1000;
  } else {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  // Only digits here: from_chars fails only when the number overflows.
  if (std::from_chars(text.data(), text.data() + digits, value).ec != std::errc() || value > UINT64_MAX / factor) {
    return UINT64_MAX;
  }
  return value * factor;
}

}  // namespace lrm::sdk
