// Sample resource class `exec`, built out of tree against the installed SDK:
// its agents are the executables in one directory (setting `exec.path`, else
// $LRM_EXEC_PATH, else /usr/local/libexec/lrm-exec), called with the action
// name as their only argument and the parameters as LRM_PARAM_<name>. Exit
// codes are read as OCF codes. A minimal but useful convention for wrapping
// existing tools.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <dirent.h>
#include <algorithm>
#include <map>
#include <optional>

#include "lrm/sdk/plugin.hpp"

namespace {

using namespace lrm;

class ExecClass final : public sdk::ResourceClass {
 public:
  std::string name() const noexcept override { return "exec"; }
  bool requiresProvider() const noexcept override { return false; }

  bool init(sdk::Host& host, std::string&) noexcept override {
    host_ = &host;
    const char* env = std::getenv("LRM_EXEC_PATH");
    dir_ = host.setting("exec.path", env && *env ? env : "/usr/local/libexec/lrm-exec");
    host.log(sdk::LogLevel::Info, {}, "exec: agents are the executables in " + dir_);
    return true;
  }

  std::vector<std::string> providers(const std::string&) noexcept override { return {}; }

  std::vector<std::string> types(const std::string&) noexcept override {
    std::vector<std::string> names;
    if (DIR* dir = ::opendir(dir_.c_str())) {
      while (const dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] != '.' && find(entry->d_name)) names.push_back(entry->d_name);
      }
      ::closedir(dir);
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  void metadata(const sdk::AgentSpec& agent, sdk::MetadataCallback done) noexcept override {
    sdk::Result result;
    result.status = find(agent.type) ? sdk::ExecStatus::Done : sdk::ExecStatus::NotInstalled;
    result.rc = find(agent.type) ? sdk::rc::kOk : sdk::rc::kNotInstalled;
    const std::string xml = "<?xml version=\"1.0\"?><resource-agent name=\"" + agent.type +
                            "\"><version>1.1</version><shortdesc lang=\"en\">executable " + agent.type +
                            "</shortdesc><parameters/><actions/></resource-agent>";
    host_->post([done, result, xml] { done(result, result.status == sdk::ExecStatus::Done ? xml : ""); });
  }

  void execute(const sdk::Operation& op, sdk::CompletionCallback done) noexcept override {
    const auto path = find(op.agent.type);
    if (!path) {
      sdk::Result result;
      result.status = sdk::ExecStatus::NotInstalled;
      result.rc = sdk::rc::kNotInstalled;
      result.exit_reason = "no executable " + op.agent.type + " in " + dir_;
      host_->post([done, result] { done(result); });
      return;
    }
    sdk::SpawnRequest request;
    request.argv = {*path, op.action};
    request.env = host_->baseEnvironment();
    request.env.push_back("LRM_INSTANCE=" + op.instance_id);
    for (const auto& [name, value] : op.params) request.env.push_back("LRM_PARAM_" + name + "=" + value);
    request.timeout_ms = op.timeout_ms;
    request.context = op.context();
    const sdk::CallId call = op.call_id;
    running_[call] = host_->spawn(std::move(request), [this, call, done](const sdk::SpawnResult& spawned) {
      running_.erase(call);
      sdk::Result result;
      result.output = spawned.err.empty() ? spawned.out : spawned.err;
      switch (spawned.outcome) {
        case sdk::SpawnOutcome::Exited:
          result.status = sdk::ExecStatus::Done;
          result.rc = spawned.exit_code <= 9 ? spawned.exit_code : sdk::rc::kError;
          break;
        case sdk::SpawnOutcome::TimedOut:
          result.status = sdk::ExecStatus::Timeout;
          break;
        case sdk::SpawnOutcome::Killed:
          result.status = sdk::ExecStatus::Cancelled;
          break;
        default:
          result.status = sdk::ExecStatus::Error;
          result.exit_reason = "the executable did not run to completion";
      }
      done(result);
    });
  }

  bool cancel(sdk::CallId call_id) noexcept override {
    const auto it = running_.find(call_id);
    return it != running_.end() && host_->kill(it->second);
  }

 private:
  std::optional<std::string> find(const std::string& name) const {
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") return std::nullopt;
    const std::string path = dir_ + "/" + name;
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || ::access(path.c_str(), X_OK) != 0) return std::nullopt;
    return path;
  }

  sdk::Host* host_ = nullptr;
  std::string dir_;
  std::map<sdk::CallId, sdk::SpawnId> running_;
};

}  // namespace

LRM_PLUGIN(ExecClass, "exec", "1.0");
