// The daemon's shutdown phases (kernel/src/daemon.cpp, docs/architecture.md
// §8): draining ends when the engine reports the last op in flight ended,
// not at a poll or at the bound, and a second signal ends it at once.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <memory>

#include "daemon.hpp"

namespace lrm::test {
namespace {

using sdk::ExecStatus;

// A daemon whose shutdown bound is far away, with a start of @p seconds in
// flight and SIGTERM sent: only the op's end or a second signal can stop it.
class Draining : public ::testing::Test {
 protected:
  sdk::CallId startThenTerminate(const std::string& seconds) {
    DaemonOptions options;
    options.extra_args = {"--shutdown-timeout", "10m"};
    daemon_ = std::make_unique<TestDaemon>(options);
    client_ = daemon_->connect();
    client_->registerInstance(
        registration("s", "ocf:lrmtest:Sleeper", {{"sleep", seconds}, {"state", scratch_.file("s")}}));
    const auto call = client_->exec(operation("s", "start"));
    EXPECT_TRUE(waitUntil([&] { return client_->info("s").busy; }));
    EXPECT_EQ(::kill(daemon_->pid(), SIGTERM), 0);
    EXPECT_TRUE(waitUntil([&] { return daemon_->log().find("SIGTERM: shutting down") != std::string::npos; }));
    return call;
  }
  TempDir scratch_;
  std::unique_ptr<TestDaemon> daemon_;
  std::unique_ptr<client::Client> client_;
};

TEST_F(Draining, TheDaemonExitsOnItsOwnOnceTheLastOpEnds) {
  const auto call = startThenTerminate("2");
  EXPECT_EQ(client_->waitForResult(call, kPatience).status, ExecStatus::Done);
  EXPECT_TRUE(waitUntil([&] { return !daemon_->alive(); })) << daemon_->log();
  const std::string log = daemon_->log();
  EXPECT_NE(log.find("SIGTERM: shutting down; 1 operation(s) in flight"), std::string::npos) << log;
  EXPECT_NE(log.find("lrmd exiting"), std::string::npos) << log;
  EXPECT_EQ(log.find("again: exiting now"), std::string::npos) << log;
}

TEST_F(Draining, ASecondSigtermExitsAtOnceReportingTheOpAbandoned) {
  const auto call = startThenTerminate("5");
  ASSERT_EQ(::kill(daemon_->pid(), SIGTERM), 0);
  const auto event = client_->waitForResult(call, kPatience);
  EXPECT_EQ(event.status, ExecStatus::Error);
  EXPECT_NE(event.exit_reason.find("lrmd was stopped before the agent completed"), std::string::npos)
      << event.exit_reason;
  EXPECT_TRUE(waitUntil([&] { return !daemon_->alive(); })) << daemon_->log();
  EXPECT_NE(daemon_->log().find("SIGTERM again: exiting now"), std::string::npos) << daemon_->log();
  // The agent was left running: it completes on its own (and leaves nothing behind).
  EXPECT_TRUE(waitUntil([&] { return std::filesystem::exists(scratch_.file("s")); }));
}

TEST_F(Draining, AnUpgradeWhileDrainingIsRefused) {
  const auto call = startThenTerminate("2");
  try {
    client_->upgrade();
    ADD_FAILURE() << "an upgrade while draining accepted";
  } catch (const client::Error& e) {
    EXPECT_NE(std::string(e.what()).find("already upgrading or shutting down"), std::string::npos) << e.what();
  }
  EXPECT_EQ(client_->waitForResult(call, kPatience).status, ExecStatus::Done);
  EXPECT_TRUE(waitUntil([&] { return !daemon_->alive(); })) << daemon_->log();
  EXPECT_EQ(daemon_->log().find("upgrading: executing"), std::string::npos) << daemon_->log();
}

}  // namespace
}  // namespace lrm::test
