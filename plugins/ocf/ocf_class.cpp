// The `ocf` resource class: OCF 1.1 resource agents found under
// $LRM_OCF_PATH and $OCF_ROOT/resource.d, run through the Host's spawner.
// Settings: $LRM_OCF_PATH, else ocf.path (":"-separated, default none);
// $OCF_ROOT, else ocf.root (default /usr/lib/ocf).
#include "lrm/sdk/plugin.hpp"
#include "ocf_agent.hpp"
#include "script_class.hpp"

namespace lrm::plugins::ocf {
namespace {

class OcfClass final : public ScriptClass {
 public:
  std::string name() const noexcept override { return "ocf"; }
  bool requiresProvider() const noexcept override { return true; }

  bool init(sdk::Host& host, std::string& error) noexcept override {
    host_ = &host;
    ocf_root_ = environmentOrSetting("OCF_ROOT", host, "ocf.root", "/usr/lib/ocf");
    if (ocf_root_.empty() || ocf_root_[0] != '/') {
      error = "OCF root '" + ocf_root_ + "' is not an absolute path";
      return false;
    }
    dirs_ = searchDirs(environmentOrSetting("LRM_OCF_PATH", host, "ocf.path", ""), ocf_root_);
    std::string list;
    for (const auto& dir : dirs_) list += (list.empty() ? "" : ":") + dir;
    host.log(sdk::LogLevel::Info, {}, "ocf: searching agents in " + list);
    return true;
  }

  std::vector<std::string> providers(const std::string& type) noexcept override {
    try {
      return memo_.get("providers:" + type, watched(), [&] { return listProviders(dirs_, type); });
    } catch (...) {
      return {};
    }
  }

  std::vector<std::string> types(const std::string& provider) noexcept override {
    try {
      return memo_.get("types:" + provider, watched(), [&] { return listTypes(dirs_, provider); });
    } catch (...) {
      return {};
    }
  }

  void metadata(const sdk::AgentSpec& agent, sdk::MetadataCallback done) noexcept override {
    try {
      const auto path = findAgent(dirs_, agent);
      if (!path) return later(done, notInstalled(missing(agent)));
      sdk::LogContext context;
      context.action = "meta-data of " + agent.toString();
      fetchOutput({{*path, "meta-data"}, metadataEnvironment(host_->baseEnvironment(), ocf_root_, agent)}, context,
                  done);
    } catch (const std::exception& e) {
      sdk::Result result;
      result.exit_reason = e.what();
      later(done, result);
    }
  }

 protected:
  std::optional<Invocation> prepare(const sdk::Operation& op, std::string& reason) override {
    const auto path = findAgent(dirs_, op.agent);
    if (!path) {
      reason = missing(op.agent);
      return std::nullopt;
    }
    return Invocation{{*path, op.action}, buildEnvironment(host_->baseEnvironment(), ocf_root_, op)};
  }

  std::optional<std::string> locate(const sdk::AgentSpec& agent) const override { return findAgent(dirs_, agent); }
  ExitCodeMapper exitCodes() const override { return mapExitCodeOfAction; }
  bool exitReasons() const override { return true; }

 private:
  std::string missing(const sdk::AgentSpec& agent) const {
    std::string where;
    for (const auto& dir : dirs_) where += (where.empty() ? "" : ", ") + dir;
    return "agent " + agent.toString() + " not found: no executable " + agent.provider + "/" + agent.type + " in " +
           where;
  }

  // The directories a listing depends on: the roots and their provider dirs.
  std::vector<std::string> watched() const {
    std::vector<std::string> dirs = dirs_;
    for (const auto& dir : dirs_) {
      for (const auto& provider : listDir(dir)) dirs.push_back(provider.string());
    }
    return dirs;
  }

  std::string ocf_root_;
  std::vector<std::string> dirs_;
  ListingMemo memo_;
};

}  // namespace
}  // namespace lrm::plugins::ocf

LRM_PLUGIN(lrm::plugins::ocf::OcfClass, "ocf", "1.0");
