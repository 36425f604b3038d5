// Where the plugins take their settings from, through the real daemon
// (docs/architecture.md §2, settings): each plugin reads its own, an
// environment variable of lrmd first, then the config file's key, then its
// default; lrmd passes only its own facts (lrm.agent-dirs, lrm.bin-dir).
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "daemon.hpp"

namespace lrm::test {
namespace {

// A daemon with a config file of @p config lines and @p env; the variables
// the test does not set are set empty, which counts as unset.
class PluginSettings : public ::testing::Test {
 protected:
  std::unique_ptr<TestDaemon> start(const std::string& config, std::map<std::string, std::string> env) {
    std::ofstream(files_.file("lrmd.properties")) << config;
    DaemonOptions options;
    options.extra_args = {"--config", files_.file("lrmd.properties")};
    options.env = {{"LRM_OCF_PATH", ""}, {"OCF_ROOT", ""}, {"LRM_LSB_PATH", ""}};
    for (const auto& [name, value] : env) options.env[name] = value;
    return std::make_unique<TestDaemon>(options);
  }

  static void expectLogged(const TestDaemon& daemon, const std::string& line) {
    EXPECT_NE(daemon.log().find(line), std::string::npos) << "missing: " << line << "\n" << daemon.log();
  }

  TempDir files_;
  const std::string config_ = "ocf.path = /config/ocf\nocf.root = /config/root\nlsb.path = /config/lsb:/config/lsb2\n";
};

TEST_F(PluginSettings, TheEnvironmentBeatsTheConfigFile) {
  const auto daemon =
      start(config_, {{"LRM_OCF_PATH", "/env/ocf"}, {"OCF_ROOT", "/env/root"}, {"LRM_LSB_PATH", "/env/lsb"}});
  expectLogged(*daemon, "ocf: searching agents in /env/ocf:/env/root/resource.d");
  expectLogged(*daemon, "lsb: searching init scripts in /env/lsb");
  expectLogged(*daemon, "service: searching init scripts in /env/lsb");
}

TEST_F(PluginSettings, TheConfigFileBeatsTheDefault) {
  const auto daemon = start(config_, {});
  expectLogged(*daemon, "ocf: searching agents in /config/ocf:/config/root/resource.d");
  expectLogged(*daemon, "lsb: searching init scripts in /config/lsb:/config/lsb2");
}

TEST_F(PluginSettings, EachPluginHasItsDefault) {
  const auto daemon = start("", {});
  expectLogged(*daemon, "ocf: searching agents in /usr/lib/ocf/resource.d");
  expectLogged(*daemon, "lsb: searching init scripts in /etc/init.d");
}

// native.agent-host is a config key of its own; lrm-agent-host beside lrmd
// (lrm.bin-dir) is only its default, which the isolation tests use.
TEST_F(PluginSettings, TheNativeAgentHostComesFromTheConfigFile) {
  const auto daemon = start("native.agent-host = /nonexistent/lrm-agent-host\n", {});
  auto client = daemon->connect();
  client->registerInstance(registration(
      "iso", "native:lrm:Dummy", {{"isolation", "process"}, {"state", files_.file("dummy.state")}}));
  const client::Event event = client->waitForResult(client->exec(operation("iso", "monitor")), kPatience);
  EXPECT_EQ(event.status, sdk::ExecStatus::Error);
  EXPECT_EQ(event.exit_reason, "unable to run lrm-agent-host: No such file or directory");
}

}  // namespace
}  // namespace lrm::test
