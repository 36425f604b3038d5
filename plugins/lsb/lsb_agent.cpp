// LSB init-script conventions (see lsb_agent.hpp).
#include "lsb_agent.hpp"

#include <set>
#include <sstream>

#include "lrm/sdk/types.hpp"
#include "script_class.hpp"
#include "synthesized_metadata.hpp"

namespace lrm::plugins::lsb {
namespace {

constexpr const char* kHeaderKeys[] = {"Provides",      "Required-Start", "Required-Stop",
                                       "Should-Start",  "Should-Stop",    "Default-Start",
                                       "Default-Stop",  "Short-Description", "Description"};

std::string trim(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return {};
  const auto end = text.find_last_not_of(" \t\r");
  return text.substr(begin, end - begin + 1);
}

bool isStatus(const std::string& action) { return action == "status" || action == "monitor"; }

}  // namespace

int mapExitCode(const std::string& action, int exit_code) {
  if (isStatus(action)) {
    switch (exit_code) {
      case 0: return sdk::rc::kOk;
      case 1:
      case 2:
      case 3: return sdk::rc::kNotRunning;
      case 150: return sdk::rc::kNotInstalled;
      case 151: return sdk::rc::kInsufficientPriv;
      default: return sdk::rc::kError;
    }
  }
  return exit_code >= 0 && exit_code <= 7 ? exit_code : sdk::rc::kError;
}

std::string scriptAction(const std::string& action) { return action == "monitor" ? "status" : action; }

std::map<std::string, std::string> parseInitInfo(std::string_view script) {
  std::map<std::string, std::string> info;
  std::istringstream lines{std::string(script)};
  bool inside = false;
  std::string* continued = nullptr;  // Description continues on "#<tab>" or "#  " lines
  for (std::string line; std::getline(lines, line);) {
    const std::string text = trim(line);
    if (text == "### BEGIN INIT INFO") {
      inside = true;
      continue;
    }
    if (!inside) continue;
    if (text == "### END INIT INFO") break;
    if (line.rfind("#", 0) != 0) continue;
    if (continued && (line.rfind("#\t", 0) == 0 || line.rfind("#  ", 0) == 0)) {
      *continued += " " + trim(line.substr(1));
      continue;
    }
    continued = nullptr;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(line.substr(1, colon - 1));
    for (const char* known : kHeaderKeys) {
      if (key == known) {
        info[key] = trim(line.substr(colon + 1));
        if (key == "Description") continued = &info[key];
      }
    }
  }
  return info;
}

std::string synthesizeMetadata(const std::string& name, const std::map<std::string, std::string>& info) {
  auto field = [&](const char* key) {
    const auto it = info.find(key);
    return it == info.end() ? std::string() : it->second;
  };
  MetadataOutline outline;
  outline.name = name;
  outline.longdesc = field("Description");
  outline.shortdesc = field("Short-Description");
  outline.actions = {{"meta-data", "5s"}, {"start", "15s"},   {"stop", "15s"},   {"status", "15s"},
                     {"restart", "15s"},  {"force-reload", "15s"}, {"monitor", "15s"}};
  outline.monitor_interval = "15s";
  outline.special_tag = "LSB";
  for (const char* key : kHeaderKeys) {
    const std::string value = field(key);
    if (value.empty() || std::string(key).find("Description") != std::string::npos) continue;
    outline.special.emplace_back(key, value);
  }
  return plugins::synthesizeMetadata(outline);
}

std::optional<std::string> findScript(const std::vector<std::string>& dirs, const std::string& name) {
  if (!sdk::isValidAgentComponent(name)) return std::nullopt;  // never a path
  for (const auto& dir : dirs) {
    const std::string path = dir + "/" + name;
    if (isExecutableFile(path)) return path;
  }
  return std::nullopt;
}

std::vector<std::string> listScripts(const std::vector<std::string>& dirs) {
  std::set<std::string> names;
  for (const auto& dir : dirs) {
    for (const auto& entry : listDir(dir)) {
      if (isExecutableFile(entry)) names.insert(entry.filename().string());
    }
  }
  return {names.begin(), names.end()};
}

}  // namespace lrm::plugins::lsb
