// The lsb and service classes (see lsb_class.hpp).
#include "lsb_class.hpp"

#include <algorithm>
#include <fstream>
#include <memory>

#include "lsb_agent.hpp"

namespace lrm::plugins::lsb {

bool LsbClass::init(sdk::Host& host, std::string& error) noexcept {
  host_ = &host;
  dirs_ = sdk::splitPath(environmentOrSetting("LRM_LSB_PATH", host, "lsb.path", "/etc/init.d"));
  if (dirs_.empty()) {
    error = "no directory to search for init scripts (lsb.path is empty)";
    return false;
  }
  std::string list;
  for (const auto& dir : dirs_) list += (list.empty() ? "" : ":") + dir;
  host.log(sdk::LogLevel::Info, {}, name_ + ": searching init scripts in " + list);
  return true;
}

std::vector<std::string> LsbClass::providers(const std::string&) noexcept { return {}; }

std::vector<std::string> LsbClass::types(const std::string& provider) noexcept {
  try {
    return provider.empty() ? memo_.get("types", dirs_, [&] { return listScripts(dirs_); }) : std::vector<std::string>{};
  } catch (...) {
    return {};
  }
}

std::string LsbClass::missing(const sdk::AgentSpec& agent) const {
  std::string where;
  for (const auto& dir : dirs_) where += (where.empty() ? "" : ", ") + dir;
  std::string reason = "agent " + agent.toString() + " not found: no executable init script " + agent.type + " in " + where;
  if (name_ == "service") reason += " (systemd is not PID 1 here: service runs init scripts)";
  return reason;
}

void LsbClass::metadata(const sdk::AgentSpec& agent, sdk::MetadataCallback done) noexcept {
  try {
    const auto path = findScript(dirs_, agent.type);
    if (!path) return later(done, notInstalled(missing(agent)));
    // Synthesized from the script's header, read on a worker: file I/O never
    // runs on the event loop.
    auto xml = std::make_shared<std::string>();
    host_->work(
        [xml, path = *path, type = agent.type] {
          constexpr std::size_t kMaxHeaderBytes = 64 * 1024;
          std::ifstream in(path, std::ios::binary);
          std::string head(kMaxHeaderBytes, '\0');
          in.read(head.data(), static_cast<std::streamsize>(head.size()));
          head.resize(static_cast<std::size_t>(std::max<std::streamsize>(in.gcount(), 0)));
          *xml = synthesizeMetadata(type, parseInitInfo(head));
        },
        [done, xml] {
          sdk::Result ok;
          ok.status = sdk::ExecStatus::Done;
          ok.rc = sdk::rc::kOk;
          done(ok, *xml);
        });
  } catch (const std::exception& e) {
    sdk::Result result;
    result.exit_reason = std::string("unable to read the init script: ") + e.what();
    later(done, result);
  }
}

ExitCodeMapper LsbClass::exitCodes() const { return mapExitCode; }

std::optional<std::string> LsbClass::locate(const sdk::AgentSpec& agent) const { return findScript(dirs_, agent.type); }

std::optional<Invocation> LsbClass::prepare(const sdk::Operation& op, std::string& reason) {
  const auto path = findScript(dirs_, op.agent.type);
  if (!path) {
    reason = missing(op.agent);
    return std::nullopt;
  }
  // Init scripts take no parameters: the clean base environment only.
  return Invocation{{*path, scriptAction(op.action)}, host_->baseEnvironment()};
}

}  // namespace lrm::plugins::lsb
