// OCF 1.1 calling convention (see ocf_agent.hpp).
#include "ocf_agent.hpp"

#include <algorithm>
#include <filesystem>
#include <set>

namespace lrm::plugins::ocf {
namespace fs = std::filesystem;

namespace {

bool isDirectory(const fs::path& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

void addOcfBase(std::vector<std::string>& env, const std::string& ocf_root, const sdk::AgentSpec& agent) {
  env.push_back("OCF_ROOT=" + ocf_root);
  env.push_back("OCF_RA_VERSION_MAJOR=1");
  env.push_back("OCF_RA_VERSION_MINOR=1");
  env.push_back("OCF_RESOURCE_TYPE=" + agent.type);
  env.push_back("OCF_RESOURCE_PROVIDER=" + agent.provider);
  env.push_back("OCF_EXIT_REASON_PREFIX=ocf-exit-reason:");
}

}  // namespace

int mapExitCode(int exit_code) noexcept {
  if ((exit_code >= 0 && exit_code <= 9) || exit_code == sdk::rc::kDegraded ||
      exit_code == sdk::rc::kDegradedPromoted) {
    return exit_code;
  }
  return sdk::rc::kError;
}

std::vector<std::string> buildEnvironment(const std::vector<std::string>& base,
                                          const std::string& ocf_root, const sdk::Operation& op) {
  std::vector<std::string> env = base;
  addOcfBase(env, ocf_root, op.agent);
  env.push_back("OCF_RESOURCE_INSTANCE=" + op.instance_id);
  env.push_back("OCF_RESKEY_CRM_meta_timeout=" + std::to_string(op.timeout_ms));
  env.push_back("OCF_RESKEY_CRM_meta_interval=" + std::to_string(op.interval_ms));
  for (const auto& [name, value] : op.params) {
    if (name == "CRM_meta_timeout" || name == "CRM_meta_interval") continue;  // the op's own values win
    // OCF's monitor depth goes unprefixed, as every executor has done.
    env.push_back((name == "OCF_CHECK_LEVEL" ? name : "OCF_RESKEY_" + name) + "=" + value);
  }
  return env;
}

std::vector<std::string> metadataEnvironment(const std::vector<std::string>& base,
                                             const std::string& ocf_root, const sdk::AgentSpec& agent) {
  std::vector<std::string> env = base;
  addOcfBase(env, ocf_root, agent);
  return env;
}

sdk::Result toResult(const sdk::SpawnResult& spawned, const std::string& agent_path,
                     std::uint32_t timeout_ms) {
  return resultOf(spawned, agent_path, {}, timeout_ms, mapExitCodeOfAction, true);
}

int mapExitCodeOfAction(const std::string&, int exit_code) { return mapExitCode(exit_code); }

std::vector<std::string> searchDirs(const std::string& ocf_path, const std::string& ocf_root) {
  std::vector<std::string> dirs = sdk::splitPath(ocf_path);
  dirs.push_back(ocf_root + "/resource.d");
  return dirs;
}

std::optional<std::string> findAgent(const std::vector<std::string>& dirs, const sdk::AgentSpec& agent) {
  if (!sdk::isValidAgentComponent(agent.provider) || !sdk::isValidAgentComponent(agent.type)) {
    return std::nullopt;  // never build a path from '..' or '/'
  }
  for (const auto& dir : dirs) {
    const fs::path path = fs::path(dir) / agent.provider / agent.type;
    if (isExecutableFile(path)) return path.string();
  }
  return std::nullopt;
}

std::vector<std::string> listProviders(const std::vector<std::string>& dirs, const std::string& type) {
  std::set<std::string> providers;
  for (const auto& dir : dirs) {
    for (const auto& provider : listDir(dir)) {
      if (!isDirectory(provider)) continue;
      if (type.empty() || isExecutableFile(provider / type)) providers.insert(provider.filename().string());
    }
  }
  return {providers.begin(), providers.end()};
}

std::vector<std::string> listTypes(const std::vector<std::string>& dirs, const std::string& provider) {
  std::set<std::string> types;
  for (const auto& dir : dirs) {
    for (const auto& provider_dir : listDir(dir)) {
      if (!isDirectory(provider_dir)) continue;
      if (!provider.empty() && provider_dir.filename() != provider) continue;
      for (const auto& agent : listDir(provider_dir)) {
        if (isExecutableFile(agent)) types.insert(agent.filename().string());
      }
    }
  }
  return {types.begin(), types.end()};
}

}  // namespace lrm::plugins::ocf
