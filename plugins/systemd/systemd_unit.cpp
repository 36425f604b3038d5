// The systemd class's rules apart from the bus (see systemd_unit.hpp).
#include "systemd_unit.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "synthesized_metadata.hpp"

namespace lrm::plugins::systemd {
namespace {

constexpr std::array<const char*, 11> kUnitSuffixes = {".service", ".socket", ".target", ".timer",
                                                       ".mount",   ".automount", ".path", ".slice",
                                                       ".scope",   ".device", ".swap"};

bool endsWith(const std::string& text, const std::string& tail) {
  return text.size() >= tail.size() && text.compare(text.size() - tail.size(), tail.size(), tail) == 0;
}

bool hasUnitSuffix(const std::string& name) {
  return std::any_of(kUnitSuffixes.begin(), kUnitSuffixes.end(),
                     [&](const char* suffix) { return endsWith(name, suffix) && name.size() > std::string(suffix).size(); });
}

bool unitChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' || c == '_' ||
         c == '.' || c == '@' || c == '-' || c == '\\';
}

sdk::Result done(int rc, std::string reason = {}) {
  sdk::Result result;
  result.status = sdk::ExecStatus::Done;
  result.rc = rc;
  result.exit_reason = std::move(reason);
  return result;
}

std::string failedReason(const std::string& unit, const UnitState& state) {
  return "unit " + unit + " failed" + (state.result.empty() ? "" : " (" + state.result + ")");
}

}  // namespace

std::optional<std::string> unitName(const std::string& type) {
  if (type.empty() || !std::all_of(type.begin(), type.end(), unitChar)) return std::nullopt;
  std::string unit = hasUnitSuffix(type) ? type : type + ".service";
  const auto at = unit.find('@');
  // A template itself (foo@.service) is not a unit systemd can start.
  if (at != std::string::npos && (at == 0 || unit[at + 1] == '.')) return std::nullopt;
  return unit;
}

std::optional<sdk::Result> verdict(const std::string& action, const std::string& unit, const UnitState& state) {
  if (state.load == "not-found") {
    sdk::Result result;
    result.status = sdk::ExecStatus::NotInstalled;
    result.rc = sdk::rc::kNotInstalled;
    result.exit_reason = "unit " + unit + " not found";
    return result;
  }
  const std::string& active = state.active;
  if (action == "monitor" || action == "status") {
    if (active == "active" || active == "reloading") return done(sdk::rc::kOk);
    if (active == "inactive") return done(sdk::rc::kNotRunning);
    if (active == "failed") return done(sdk::rc::kNotRunning, failedReason(unit, state));
    return std::nullopt;
  }
  if (action == "start") {
    // A start that did not leave the unit running answers what a monitor
    // would, "not running", as Pacemaker's follow-up monitor does.
    if (active == "active" || active == "reloading") return done(sdk::rc::kOk);
    if (active == "failed") return done(sdk::rc::kNotRunning, failedReason(unit, state));
    if (active == "inactive" && !state.job_result.empty()) {
      return done(sdk::rc::kNotRunning, "unit " + unit + " is inactive after its start job (" + state.job_result + ")");
    }
    return std::nullopt;
  }
  if (action == "stop") {
    if (active == "inactive" || active == "failed") return done(sdk::rc::kOk);
    return std::nullopt;
  }
  sdk::Result unsupported;
  unsupported.status = sdk::ExecStatus::NotSupported;
  unsupported.rc = sdk::rc::kUnimplemented;
  unsupported.exit_reason = "the systemd class has no action '" + action + "'";
  return unsupported;
}

std::string dropInText() {
  return "# Written by lrm's systemd class before it started this unit, removed when its instance goes:\n"
         "# lrm alone restarts the unit, and systemd stops it after lrmd at shutdown.\n"
         "[Unit]\n"
         "Before=lrmd.service\n"
         "\n"
         "[Service]\n"
         "Restart=no\n";
}

std::optional<std::string> listedType(const std::string& unit_or_file) {
  const std::string name = unit_or_file.substr(unit_or_file.rfind('/') + 1);
  const std::string suffix = ".service";
  if (!endsWith(name, suffix) || name.size() == suffix.size()) return std::nullopt;
  return name.substr(0, name.size() - suffix.size());
}

std::string synthesizeMetadata(const std::string& type, const std::string& unit, const std::string& description) {
  MetadataOutline outline;
  outline.name = type;
  outline.longdesc = "systemd unit " + unit + (description.empty() ? "" : ": " + description);
  outline.shortdesc = description.empty() ? unit : description;
  // Pacemaker's defaults for systemd units.
  outline.actions = {{"start", "100s"}, {"stop", "100s"}, {"status", "100s"}, {"monitor", "100s"}, {"meta-data", "5s"}};
  outline.monitor_interval = "60s";
  outline.special_tag = "systemd";
  return plugins::synthesizeMetadata(outline);
}

}  // namespace lrm::plugins::systemd
