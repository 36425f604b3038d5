// The daemon's shutdown phases (kernel/src/daemon.cpp, docs/architecture.md
// §8): draining ends when the engine reports the last op in flight ended,
// not at a poll or at the bound, and a second signal ends it at once.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>

#include "daemon.hpp"

namespace lrm::test {
namespace {

using sdk::ExecStatus;

// No second signal and a bound far away: only the op's end can stop it.
TEST(Shutdown, ADrainingDaemonExitsOnItsOwnOnceTheLastOpEnds) {
  TempDir scratch;
  DaemonOptions options;
  options.extra_args = {"--shutdown-timeout", "10m"};
  TestDaemon daemon(options);
  auto client = daemon.connect();
  client->registerInstance(registration("s", "ocf:lrmtest:Sleeper", {{"sleep", "1"}, {"state", scratch.file("s")}}));
  const auto call = client->exec(operation("s", "start"));
  ASSERT_TRUE(waitUntil([&] { return client->info("s").busy; }));
  ASSERT_EQ(::kill(daemon.pid(), SIGTERM), 0);
  const auto event = client->waitForResult(call, kPatience);
  EXPECT_EQ(event.status, ExecStatus::Done);
  EXPECT_TRUE(waitUntil([&] { return !daemon.alive(); })) << daemon.log();
  const std::string log = daemon.log();
  EXPECT_NE(log.find("SIGTERM: shutting down; 1 operation(s) in flight"), std::string::npos) << log;
  EXPECT_NE(log.find("lrmd exiting"), std::string::npos) << log;
  EXPECT_EQ(log.find("again: exiting now"), std::string::npos) << log;
}

TEST(Shutdown, ASecondSigtermExitsAtOnceReportingTheOpAbandoned) {
  TempDir scratch;
  DaemonOptions options;
  options.extra_args = {"--shutdown-timeout", "10m"};
  TestDaemon daemon(options);
  auto client = daemon.connect();
  client->registerInstance(registration("s", "ocf:lrmtest:Sleeper", {{"sleep", "5"}, {"state", scratch.file("s")}}));
  const auto call = client->exec(operation("s", "start"));
  ASSERT_TRUE(waitUntil([&] { return client->info("s").busy; }));
  ASSERT_EQ(::kill(daemon.pid(), SIGTERM), 0);
  ASSERT_TRUE(waitUntil([&] { return daemon.log().find("SIGTERM: shutting down") != std::string::npos; }));
  ASSERT_EQ(::kill(daemon.pid(), SIGTERM), 0);
  const auto event = client->waitForResult(call, kPatience);
  EXPECT_EQ(event.status, ExecStatus::Error);
  EXPECT_NE(event.exit_reason.find("lrmd was stopped before the agent completed"), std::string::npos)
      << event.exit_reason;
  EXPECT_TRUE(waitUntil([&] { return !daemon.alive(); })) << daemon.log();
  EXPECT_NE(daemon.log().find("SIGTERM again: exiting now"), std::string::npos) << daemon.log();
  // The agent was left running: it completes on its own (and leaves nothing behind).
  EXPECT_TRUE(waitUntil([&] { return std::filesystem::exists(scratch.file("s")); }));
}

}  // namespace
}  // namespace lrm::test
