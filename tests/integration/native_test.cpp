// The native class through the real daemon: the shipped native:lrm:Dummy and
// a fixture agent that throws, overruns and obeys cancellation.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "daemon.hpp"

namespace lrm::test {
namespace {

using client::Event;
using sdk::ExecStatus;

DaemonOptions nativeOptions(const TempDir& agents) {
  // The real agents, the fixture, and a library that is not an agent.
  for (const auto& entry : std::filesystem::directory_iterator(LRM_TEST_REAL_AGENT_DIR)) {
    std::filesystem::copy_file(entry.path(), agents.file(entry.path().filename().string()));
  }
  std::filesystem::copy_file(std::string(LRM_TEST_AGENT_DIR) + "/Misbehave.so", agents.file("Misbehave.so"));
  std::filesystem::copy_file(std::string(LRM_TEST_BAD_PLUGIN_DIR) + "/no_descriptor.so", agents.file("broken.so"));
  DaemonOptions options;
  options.extra_args = {"--agent-dir", agents.path()};
  return options;
}

class Native : public ::testing::Test {
 protected:
  void SetUp() override { client_ = daemon_.connect(); }

  Event run(const std::string& id, const std::string& action, std::uint64_t timeout_ms = 20000) {
    client::ExecRequest request = operation(id, action);
    request.timeout_ms = timeout_ms;
    return client_->waitForResult(client_->exec(request), kPatience);
  }

  TempDir agents_;
  TempDir scratch_;
  TestDaemon daemon_{nativeOptions(agents_)};
  std::unique_ptr<client::Client> client_;
};

TEST_F(Native, AgentsAreListedAndABrokenLibraryIsReported) {
  const auto classes = client_->classes();
  EXPECT_NE(std::find(classes.begin(), classes.end(), "native"), classes.end());
  EXPECT_EQ(client_->agents("native", "lrm"),
            (std::vector<std::string>{"Dummy", "HttpCheck", "Process", "Stateful", "TcpCheck"}));
  EXPECT_EQ(client_->agents("native", "lrmtest"), std::vector<std::string>{"Misbehave"});
  EXPECT_NE(daemon_.log().find("unable to load agent " + agents_.file("broken.so") +
                               ": it does not export 'lrm_agent_info'"),
            std::string::npos)
      << daemon_.log();
  EXPECT_NE(client_->metadata("native:lrm:Dummy").find("<resource-agent name=\"Dummy\""), std::string::npos);
}

TEST_F(Native, DummyStartMonitorStop) {
  const std::string state = scratch_.file("dummy.state");
  client_->registerInstance(registration("d", "native:lrm:Dummy", {{"state", state}}));
  EXPECT_EQ(run("d", "monitor").rc, sdk::rc::kNotRunning);
  EXPECT_EQ(run("d", "start").rc, sdk::rc::kOk);
  EXPECT_TRUE(std::filesystem::exists(state));
  EXPECT_EQ(run("d", "monitor").rc, sdk::rc::kOk);
  EXPECT_EQ(run("d", "stop").rc, sdk::rc::kOk);
  EXPECT_FALSE(std::filesystem::exists(state));
  EXPECT_EQ(run("d", "frobnicate").rc, sdk::rc::kUnimplemented);
}

TEST_F(Native, RecurringMonitorCancelAndStopImpliesCancel) {
  client_->registerInstance(registration("d", "native:lrm:Dummy", {{"state", scratch_.file("s")}}));
  EXPECT_EQ(run("d", "start").rc, 0);
  client::ExecRequest monitor = operation("d", "monitor");
  monitor.interval_ms = 50;
  const auto call = client_->exec(monitor);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(client_->waitForResult(call, kPatience).rc, 0);
  const auto stop = client_->exec(operation("d", "stop"));
  const Event cancelled = waitForCancelled(*client_, call);
  EXPECT_EQ(client_->waitForResult(stop, kPatience).rc, 0);
  EXPECT_EQ(run("d", "monitor").rc, sdk::rc::kNotRunning);
}

TEST_F(Native, AThrowingAgentIsAnErrorWithItsMessage) {
  client_->registerInstance(registration("m", "native:lrmtest:Misbehave"));
  const Event event = run("m", "throw");
  EXPECT_EQ(event.status, ExecStatus::Error);
  EXPECT_EQ(event.exit_reason, "boom: the agent threw on purpose");
  EXPECT_EQ(run("m", "start").rc, 0) << "the daemon and the agent keep working";
}

TEST_F(Native, AnOverrunIsATimeoutAndTheInstanceWaitsForTheAgent) {
  client_->registerInstance(registration("m", "native:lrmtest:Misbehave"));
  client::ExecRequest overrun = operation("m", "overrun");
  overrun.timeout_ms = 100;
  const auto late = client_->exec(overrun);
  const auto next = client_->exec(operation("m", "start"));
  const Event timed_out = client_->waitForResult(late, kPatience);
  EXPECT_EQ(timed_out.status, ExecStatus::Timeout);
  EXPECT_NE(timed_out.exit_reason.find("late result will be discarded"), std::string::npos);
  // The next op of the instance only runs once the overrunning code returned.
  const Event after = client_->waitForResult(next, kPatience);
  EXPECT_EQ(after.rc, 0);
  EXPECT_GE(timed_out.exec_ms + after.exec_ms + after.queue_ms, 1000u)
      << "the start did not wait for the overrunning run";
  EXPECT_TRUE(waitUntil([&] { return daemon_.log().find("late result discarded") != std::string::npos; }));
  EXPECT_NE(daemon_.log().find("overrunning on purpose"), std::string::npos) << "agent log lines reach the log";
}

TEST_F(Native, CancelReachesTheAgentThroughItsToken) {
  client_->registerInstance(registration("m", "native:lrmtest:Misbehave", {{"obey", "1"}}));
  client::ExecRequest monitor = operation("m", "monitor");
  monitor.interval_ms = 1000;
  const auto call = client_->exec(monitor);
  ASSERT_TRUE(waitUntil([&] { return client_->info("m").busy; }));
  client_->cancel("m", "monitor", 1000);
  const Event event = client_->waitForResult(call, kPatience);
  EXPECT_EQ(event.status, ExecStatus::Cancelled);
  EXPECT_EQ(run("m", "start").rc, 0) << "the obeying run returned and freed the instance";
}

TEST_F(Native, IsolationProcessSurvivesACrashingAgent) {
  client_->registerInstance(registration("iso", "native:lrmtest:Misbehave", {{"isolation", "process"}}));
  const Event crashed = run("iso", "crash");
  EXPECT_EQ(crashed.status, ExecStatus::Error);
  EXPECT_NE(crashed.exit_reason.find("signal 9"), std::string::npos) << crashed.exit_reason;
  const Event thrown = run("iso", "throw");
  EXPECT_EQ(thrown.status, ExecStatus::Error);
  EXPECT_EQ(thrown.exit_reason, "boom: the agent threw on purpose");
  const Event overrun = run("iso", "overrun", 200);
  EXPECT_EQ(overrun.status, ExecStatus::Timeout);
  EXPECT_EQ(run("iso", "start").rc, 0) << "the daemon is still there, the instance free";
  const std::string state = scratch_.file("iso.state");
  client_->registerInstance(registration("d", "native:lrm:Dummy", {{"isolation", "process"}, {"state", state}}));
  EXPECT_EQ(run("d", "start").rc, 0);
  EXPECT_TRUE(std::filesystem::exists(state));
  EXPECT_EQ(run("d", "monitor").rc, 0);
  EXPECT_EQ(run("d", "stop").rc, 0);
  EXPECT_EQ(run("d", "monitor").rc, sdk::rc::kNotRunning);
}

TEST_F(Native, MissingAgentIsNotInstalled) {
  client_->registerInstance(registration("x", "native:lrm:Nope"));
  const Event event = run("x", "start");
  EXPECT_EQ(event.status, ExecStatus::NotInstalled);
  EXPECT_EQ(event.rc, sdk::rc::kNotInstalled);
}

}  // namespace
}  // namespace lrm::test
