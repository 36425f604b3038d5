// Persistent state (DESIGN §5): a daemon that dies or stops comes back with
// its instances and last results, starting, stopping and probing nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "daemon.hpp"

namespace lrm::test {
namespace {

using sdk::ExecStatus;

class State : public ::testing::Test {
 protected:
  DaemonOptions options() const {
    DaemonOptions result;
    result.state_dir = state_.path();
    return result;
  }
  TempDir state_;
  TempDir scratch_;
};

TEST_F(State, AKilledDaemonRestoresInstancesAndLastResultsAndTouchesNothing) {
  const std::string resource = scratch_.file("web.state");
  std::string boot;
  {
    TestDaemon daemon(options());
    auto client = daemon.connect();
    client::RegisterRequest request = registration("web-1", "ocf:lrmtest:Sleeper", {{"sleep", "0"}, {"state", resource}});
    request.name = "web";
    client->registerInstance(request);
    EXPECT_EQ(client->waitForResult(client->exec(operation("web-1", "start")), kPatience).rc, 0);
    EXPECT_EQ(client->waitForResult(client->exec(operation("web-1", "monitor")), kPatience).rc, 0);
    boot = client->ping().boot_id;
    daemon.crash();  // kill -9: no shutdown, no flush
  }
  ASSERT_TRUE(std::filesystem::exists(resource));
  const auto before = std::filesystem::last_write_time(resource);
  TestDaemon again(options());
  auto client = again.connect();
  const auto ping = client->ping();
  EXPECT_EQ(ping.restored, 1u);
  EXPECT_NE(ping.boot_id, boot);
  const auto info = client->info("web-1");
  EXPECT_EQ(info.name, "web");
  EXPECT_EQ(info.agent.toString(), "ocf:lrmtest:Sleeper");
  EXPECT_EQ(info.params.at("state"), resource);
  ASSERT_EQ(info.last.size(), 2u);
  EXPECT_EQ(info.last[0].action, "start");
  EXPECT_EQ(info.last[1].action, "monitor");
  EXPECT_EQ(info.last[1].rc, 0);
  EXPECT_FALSE(info.busy);
  EXPECT_TRUE(std::filesystem::exists(resource)) << "the resource was not stopped";
  EXPECT_EQ(std::filesystem::last_write_time(resource), before) << "nor started or probed";
  // Call ids go on after the restored ones.
  const auto call = client->exec(operation("web-1", "monitor"));
  EXPECT_GT(call, info.last[1].call_id);
  EXPECT_EQ(client->waitForResult(call, kPatience).rc, 0);
}

TEST_F(State, AnOpInFlightWhenTheDaemonDiedIsRecordedAsAnError) {
  {
    TestDaemon daemon(options());
    auto client = daemon.connect();
    client->registerInstance(registration("slow", "ocf:lrmtest:Sleeper", {{"sleep", "3"}, {"state", scratch_.file("s")}}));
    client->exec(operation("slow", "start"));
    ASSERT_TRUE(waitUntil([&] { return client->info("slow").busy; }));
    daemon.crash();
  }
  TestDaemon again(options());
  const auto info = again.connect()->info("slow");
  ASSERT_EQ(info.last.size(), 1u);
  EXPECT_EQ(info.last[0].action, "start");
  EXPECT_EQ(info.last[0].status, ExecStatus::Error);
  EXPECT_NE(info.last[0].exit_reason.find("lrmd restarted"), std::string::npos) << info.last[0].exit_reason;
}

TEST_F(State, UnregisteredInstancesStayGoneAndACorruptTailIsRepaired) {
  {
    TestDaemon daemon(options());
    auto client = daemon.connect();
    client->registerInstance(registration("keep", "ocf:lrmtest:Fail"));
    client->registerInstance(registration("drop", "ocf:lrmtest:Fail"));
    client->unregisterInstance("drop");
    EXPECT_EQ(daemon.stop(), 0);
  }
  { std::ofstream(state_.file("journal"), std::ios::app) << "{\"r\":\"reg\",\"id\":\"torn"; }
  TestDaemon again(options());
  auto client = again.connect();
  const auto instances = client->list();
  ASSERT_EQ(instances.size(), 1u);
  EXPECT_EQ(instances[0].id, "keep");
  EXPECT_NE(again.log().find("torn or corrupt tail"), std::string::npos) << again.log();
  { std::ofstream(state_.file("journal"), std::ios::app) << "not json at all\n{\"r\":\"unreg\",\"id\":\"keep\"}\n"; }
  EXPECT_EQ(again.stop(), 0);
  TestDaemon third(options());
  EXPECT_EQ(third.connect()->list().size(), 1u) << "records after a corrupt one are not trusted";
  EXPECT_NE(third.log().find("is corrupt"), std::string::npos) << third.log();
}

}  // namespace
}  // namespace lrm::test
