// OCF 1.1 calling convention (see ocf_agent.hpp).
#include "ocf_agent.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

namespace lrm::plugins::ocf {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kExitReasonPrefix = "ocf-exit-reason:";

bool isExecutableFile(const fs::path& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

bool isDirectory(const fs::path& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

std::string trim(std::string_view text) {
  const auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  const auto end = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(begin, end - begin + 1));
}

// Entries of a directory, sorted; hidden entries are skipped.
std::vector<fs::path> entries(const fs::path& dir) {
  std::vector<fs::path> result;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.empty() && name[0] != '.') result.push_back(it->path());
  }
  std::sort(result.begin(), result.end());
  return result;
}

void addOcfBase(std::vector<std::string>& env, const std::string& ocf_root, const sdk::AgentSpec& agent) {
  env.push_back("OCF_ROOT=" + ocf_root);
  env.push_back("OCF_RA_VERSION_MAJOR=1");
  env.push_back("OCF_RA_VERSION_MINOR=1");
  env.push_back("OCF_RESOURCE_TYPE=" + agent.type);
  env.push_back("OCF_RESOURCE_PROVIDER=" + agent.provider);
  env.push_back("OCF_EXIT_REASON_PREFIX=" + std::string(kExitReasonPrefix));
}

}  // namespace

int mapExitCode(int exit_code) noexcept {
  if ((exit_code >= 0 && exit_code <= 9) || exit_code == sdk::rc::kDegraded ||
      exit_code == sdk::rc::kDegradedPromoted) {
    return exit_code;
  }
  return sdk::rc::kError;
}

std::string parseExitReason(std::string_view stderr_text) {
  std::string reason;
  std::size_t pos = 0;
  while ((pos = stderr_text.find(kExitReasonPrefix, pos)) != std::string_view::npos) {
    const std::size_t start = pos + kExitReasonPrefix.size();
    const std::size_t end = stderr_text.find('\n', start);
    const std::string candidate = trim(stderr_text.substr(start, end == std::string_view::npos ? end : end - start));
    if (!candidate.empty()) reason = candidate;  // an empty remainder is ignored
    pos = start;
  }
  constexpr std::size_t kMaxReason = 1024;
  if (reason.size() > kMaxReason) reason.resize(kMaxReason);
  return reason;
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
  sdk::Result result;
  result.output = spawned.err.empty() ? spawned.out : spawned.err;
  result.exit_reason = parseExitReason(spawned.err);
  switch (spawned.outcome) {
    case sdk::SpawnOutcome::Exited:
      result.status = sdk::ExecStatus::Done;
      result.rc = mapExitCode(spawned.exit_code);
      break;
    case sdk::SpawnOutcome::TimedOut:
      result.status = sdk::ExecStatus::Timeout;
      result.rc = sdk::rc::kError;
      result.exit_reason = "agent did not complete within " + std::to_string(timeout_ms) +
                           " ms; its process group was killed";
      break;
    case sdk::SpawnOutcome::Killed:
      result.status = sdk::ExecStatus::Cancelled;
      result.rc = sdk::rc::kError;
      break;
    case sdk::SpawnOutcome::Signaled:
      result.status = sdk::ExecStatus::Error;
      result.rc = sdk::rc::kError;
      result.exit_reason = std::string("agent was killed by signal ") + std::to_string(spawned.signal) +
                           " (" + ::strsignal(spawned.signal) + ")";
      break;
    case sdk::SpawnOutcome::SpawnFailed: {
      const int error = spawned.spawn_errno;
      const std::string why = agent_path + ": " + std::strerror(error);
      if (error == ENOENT || error == ENOEXEC || error == EISDIR || error == ENOTDIR) {
        result.status = sdk::ExecStatus::NotInstalled;
        result.rc = sdk::rc::kNotInstalled;
      } else if (error == EACCES || error == EPERM) {
        result.status = sdk::ExecStatus::Error;
        result.rc = sdk::rc::kInsufficientPriv;
      } else {
        result.status = sdk::ExecStatus::Error;
        result.rc = sdk::rc::kError;
      }
      result.exit_reason = "unable to execute " + why;
      break;
    }
  }
  return result;
}

std::vector<std::string> searchDirs(const std::string& ocf_path, const std::string& ocf_root) {
  std::vector<std::string> dirs;
  std::size_t start = 0;
  while (start <= ocf_path.size()) {
    const std::size_t colon = ocf_path.find(':', start);
    const std::string dir = ocf_path.substr(start, colon == std::string::npos ? colon : colon - start);
    if (!dir.empty()) dirs.push_back(dir);
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
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
    for (const auto& provider : entries(dir)) {
      if (!isDirectory(provider)) continue;
      if (type.empty() || isExecutableFile(provider / type)) providers.insert(provider.filename().string());
    }
  }
  return {providers.begin(), providers.end()};
}

std::vector<std::string> listTypes(const std::vector<std::string>& dirs, const std::string& provider) {
  std::set<std::string> types;
  for (const auto& dir : dirs) {
    for (const auto& provider_dir : entries(dir)) {
      if (!isDirectory(provider_dir)) continue;
      if (!provider.empty() && provider_dir.filename() != provider) continue;
      for (const auto& agent : entries(provider_dir)) {
        if (isExecutableFile(agent)) types.insert(agent.filename().string());
      }
    }
  }
  return {types.begin(), types.end()};
}

}  // namespace lrm::plugins::ocf
