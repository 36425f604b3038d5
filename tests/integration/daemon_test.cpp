// The daemon as a whole: readiness, hello/ping, listing, metadata, socket
// lifecycle and shutdown.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "daemon.hpp"

namespace lrm::test {
namespace {

TEST(Daemon, PingReportsVersionProtocolAndBootId) {
  TestDaemon daemon;
  auto client = daemon.connect();
  const auto first = client->ping();
  EXPECT_FALSE(first.version.empty());
  EXPECT_EQ(first.protocol, 1);
  EXPECT_EQ(first.boot_id.size(), 36u);
  EXPECT_EQ(first.restored, 0u);
  TestDaemon other;
  EXPECT_NE(other.connect()->ping().boot_id, first.boot_id);
}

TEST(Daemon, SocketExistsWhileServingAndIsRemovedOnCleanExit) {
  TestDaemon daemon;
  struct stat st{};
  ASSERT_EQ(::stat(daemon.socket().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(daemon.stop(), 0);
  EXPECT_FALSE(std::filesystem::exists(daemon.socket()));
}

TEST(Daemon, ReplacesStaleSocketAndRefusesToRunTwice) {
  TempDir dir;
  const std::string socket = dir.file("lrmd.sock");
  {
    DaemonOptions options;
    options.socket = socket;
    TestDaemon first(options);
    // A second daemon on the same socket must refuse and leave the first serving.
    // --state-dir none: as root the default would be the host's /var/lib/lrm.
    const auto second = runCommand({binary("lrmd"), "--foreground", "--socket", socket, "--state-dir", "none",
                                    "--log-target", "stderr"});
    EXPECT_EQ(second.exit_code, 1);
    EXPECT_NE(second.err.find("another lrmd is already serving"), std::string::npos) << second.err;
    EXPECT_NO_THROW(client::Client::connect(socket, "t")->ping());
    first.crash();  // dies without removing its socket
  }
  ASSERT_TRUE(std::filesystem::exists(socket));
  DaemonOptions options;
  options.socket = socket;
  TestDaemon again(options);
  EXPECT_NO_THROW(client::Client::connect(socket, "t")->ping());
  EXPECT_NE(again.log().find("replacing stale socket"), std::string::npos);
}

TEST(Daemon, ListsClassesProvidersAndAgents) {
  TestDaemon daemon;
  auto client = daemon.connect();
  EXPECT_EQ(client->classes(), (std::vector<std::string>{"lsb", "native", "ocf", "service", "systemd"}));
  const auto providers = client->providers();
  EXPECT_NE(std::find(providers.begin(), providers.end(), "lrmtest"), providers.end());
  EXPECT_EQ(client->providers("Sleeper"), std::vector<std::string>{"lrmtest"});
  const auto agents = client->agents("ocf", "lrmtest");
  EXPECT_NE(std::find(agents.begin(), agents.end(), "Sleeper"), agents.end());
  // Not executable: not an agent.
  EXPECT_EQ(std::find(agents.begin(), agents.end(), "NotExecutable"), agents.end());
  EXPECT_TRUE(client->agents("ocf", "no-such-provider").empty());
  try {
    client->agents("nosuchclass");
    FAIL() << "unknown class accepted";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code(), "unknown-class");
  }
}

TEST(Daemon, ServesAgentMetadata) {
  TestDaemon daemon;
  auto client = daemon.connect();
  const std::string xml = client->metadata("ocf:lrmtest:Sleeper");
  EXPECT_NE(xml.find("<resource-agent name=\"Sleeper\""), std::string::npos);
  try {
    client->metadata("ocf:lrmtest:Missing");
    FAIL() << "metadata of a missing agent succeeded";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code(), "not-installed");
    EXPECT_NE(std::string(e.what()).find("Missing"), std::string::npos);
  }
}

TEST(Daemon, ServesMetadataOfDebianDummy) {
  if (!std::filesystem::exists("/usr/lib/ocf/resource.d/heartbeat/Dummy")) {
    GTEST_SKIP() << "resource-agents is not installed";
  }
  TestDaemon daemon;
  const std::string xml = daemon.connect()->metadata("ocf:heartbeat:Dummy");
  EXPECT_NE(xml.find("resource-agent name=\"Dummy\""), std::string::npos);
}

TEST(Daemon, ReportsABadPluginByNameAndKeepsServing) {
  TempDir plugins;
  // One real plugin, one file that is not a shared object, one library
  // without the descriptor.
  std::filesystem::copy_file(std::string(LRM_TEST_PLUGIN_DIR) + "/ocf.so", plugins.file("ocf.so"));
  std::filesystem::copy_file(std::string(LRM_TEST_PLUGIN_DIR) + "/ocf.so", plugins.file("ocf2.so"));
  { std::ofstream(plugins.file("garbage.so")) << "not an ELF file"; }
  std::filesystem::copy_file(std::string(LRM_TEST_BAD_PLUGIN_DIR) + "/future_abi.so", plugins.file("future_abi.so"));
  std::filesystem::copy_file(std::string(LRM_TEST_BAD_PLUGIN_DIR) + "/no_descriptor.so",
                             plugins.file("no_descriptor.so"));
  DaemonOptions options;
  options.plugin_dir = plugins.path();
  TestDaemon daemon(options);
  EXPECT_EQ(daemon.connect()->classes(), std::vector<std::string>{"ocf"});
  const std::string log = daemon.log();
  EXPECT_NE(log.find("unable to load plugin " + plugins.file("garbage.so")), std::string::npos) << log;
  EXPECT_NE(log.find("unable to load plugin " + plugins.file("ocf2.so") + ": class 'ocf' is already provided by " +
                     plugins.file("ocf.so")),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("unable to load plugin " + plugins.file("future_abi.so") +
                     ": built for SDK ABI 2.0, this lrmd provides ABI 1.4"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("unable to load plugin " + plugins.file("no_descriptor.so") +
                     ": it does not export 'lrm_plugin_info'"),
            std::string::npos)
      << log;
}

}  // namespace
}  // namespace lrm::test
