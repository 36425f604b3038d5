// The `ocf` resource class: OCF 1.1 resource agents found under
// $LRM_OCF_PATH and $OCF_ROOT/resource.d, run through the Host's spawner.
#include <map>

#include "lrm/sdk/plugin.hpp"
#include "ocf_agent.hpp"

namespace lrm::plugins::ocf {
namespace {

constexpr std::uint32_t kMetadataTimeoutMs = 30000;

class OcfClass final : public sdk::ResourceClass {
 public:
  std::string name() const noexcept override { return "ocf"; }
  bool requiresProvider() const noexcept override { return true; }

  bool init(sdk::Host& host, std::string& error) noexcept override {
    host_ = &host;
    ocf_root_ = host.setting("ocf.root", "/usr/lib/ocf");
    if (ocf_root_.empty() || ocf_root_[0] != '/') {
      error = "OCF root '" + ocf_root_ + "' is not an absolute path";
      return false;
    }
    dirs_ = searchDirs(host.setting("ocf.path", ""), ocf_root_);
    std::string list;
    for (const auto& dir : dirs_) list += (list.empty() ? "" : ":") + dir;
    host.log(sdk::LogLevel::Info, {}, "ocf: searching agents in " + list);
    return true;
  }

  std::vector<std::string> providers(const std::string& type) noexcept override {
    try {
      return listProviders(dirs_, type);
    } catch (...) {
      return {};
    }
  }

  std::vector<std::string> types(const std::string& provider) noexcept override {
    try {
      return listTypes(dirs_, provider);
    } catch (...) {
      return {};
    }
  }

  void metadata(const sdk::AgentSpec& agent, sdk::MetadataCallback done) noexcept override {
    const auto path = findAgent(dirs_, agent);
    if (!path) {
      sdk::Result result = notInstalled(agent);
      host_->post([done, result] { done(result, {}); });
      return;
    }
    sdk::SpawnRequest request;
    request.argv = {*path, "meta-data"};
    request.env = metadataEnvironment(host_->baseEnvironment(), ocf_root_, agent);
    request.timeout_ms = kMetadataTimeoutMs;
    request.context.action = "meta-data of " + agent.toString();
    const std::string agent_path = *path;
    host_->spawn(std::move(request), [done, agent_path](const sdk::SpawnResult& spawned) {
      sdk::Result result = toResult(spawned, agent_path, kMetadataTimeoutMs);
      if (result.status == sdk::ExecStatus::Done && result.rc != sdk::rc::kOk) {
        result.status = sdk::ExecStatus::Error;
        result.exit_reason = agent_path + " meta-data exited with " + std::to_string(spawned.exit_code) +
                             (result.exit_reason.empty() ? "" : ": " + result.exit_reason);
      } else if (result.status == sdk::ExecStatus::Done && spawned.out.empty()) {
        result.status = sdk::ExecStatus::Error;
        result.exit_reason = agent_path + " meta-data printed nothing";
      }
      done(result, result.status == sdk::ExecStatus::Done ? spawned.out : std::string());
    });
  }

  void execute(const sdk::Operation& op, sdk::CompletionCallback done) noexcept override {
    const auto path = findAgent(dirs_, op.agent);
    if (!path) {
      sdk::Result result = notInstalled(op.agent);
      host_->post([done, result] { done(result); });
      return;
    }
    sdk::SpawnRequest request;
    request.argv = {*path, op.action};
    request.env = buildEnvironment(host_->baseEnvironment(), ocf_root_, op);
    request.timeout_ms = op.timeout_ms;
    request.context = op.context();
    const sdk::CallId call_id = op.call_id;
    const std::uint32_t timeout_ms = op.timeout_ms;
    const std::string agent_path = *path;
    const sdk::SpawnId spawn_id = host_->spawn(
        std::move(request), [this, call_id, timeout_ms, agent_path, done](const sdk::SpawnResult& spawned) {
          running_.erase(call_id);
          done(toResult(spawned, agent_path, timeout_ms));
        });
    if (spawn_id != 0) running_[call_id] = spawn_id;
  }

  bool cancel(sdk::CallId call_id) noexcept override {
    const auto it = running_.find(call_id);
    return it != running_.end() && host_->kill(it->second);
  }

 private:
  sdk::Result notInstalled(const sdk::AgentSpec& agent) const {
    sdk::Result result;
    result.status = sdk::ExecStatus::NotInstalled;
    result.rc = sdk::rc::kNotInstalled;
    std::string where;
    for (const auto& dir : dirs_) where += (where.empty() ? "" : ", ") + dir;
    result.exit_reason = "agent " + agent.toString() + " not found: no executable " + agent.provider +
                         "/" + agent.type + " in " + where;
    return result;
  }

  sdk::Host* host_ = nullptr;
  std::string ocf_root_;
  std::vector<std::string> dirs_;
  std::map<sdk::CallId, sdk::SpawnId> running_;
};

}  // namespace
}  // namespace lrm::plugins::ocf

LRM_PLUGIN(lrm::plugins::ocf::OcfClass, "ocf", "1.0");
