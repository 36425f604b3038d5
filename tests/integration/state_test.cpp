// Persistent state (DESIGN §5): a daemon that dies or stops comes back with
// its instances and last results, starting, stopping and probing nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

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
  // Another lrmd on this state directory, run to its exit (bounded: without
  // the lock it would serve on @p socket for ever).
  CommandResult startAnother(const std::string& socket, const std::string& log_file,
                             bool foreground = true) const {
    std::vector<std::string> argv = {"/usr/bin/timeout", "60", binary("lrmd"), "--socket", socket,
                                     "--plugin-dir", LRM_TEST_PLUGIN_DIR, "--state-dir", state_.path(),
                                     "--log-target", log_file};
    if (foreground) argv.push_back("--foreground");
    return runCommand(argv, {{"LRM_OCF_PATH", fixtureOcfPath()}});
  }
  std::string inUseBy(pid_t pid) const {
    return "state directory " + state_.path() + " is in use by lrmd pid " + std::to_string(pid);
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


TEST_F(State, RecurringOpsAreResumedOnlyWhenAsked) {
  const std::string count = scratch_.file("count");
  {
    TestDaemon daemon(options());
    auto client = daemon.connect();
    client->registerInstance(registration("m", "ocf:lrmtest:Counter", {{"count", count}}));
    client::ExecRequest monitor = operation("m", "monitor");
    monitor.interval_ms = 100;
    client->waitForResult(client->exec(monitor), kPatience);
    client::ExecRequest other = operation("m", "monitor");
    other.interval_ms = 60000;
    const auto cancelled = client->exec(other);
    client->waitForResult(cancelled, kPatience);
    client->cancel("m", "monitor", 60000);  // ended: must not come back
    daemon.crash();
  }
  {
    TestDaemon plain(options());
    EXPECT_TRUE(plain.connect()->info("m").recurring.empty()) << "not resumed without --resume-recurring";
    EXPECT_NE(plain.log().find("not resumed"), std::string::npos);
    plain.crash();  // what was active before this start is what counts
  }
  // The plain start forgot them (documented): register the monitor again and resume this time.
  {
    TestDaemon daemon(options());
    auto client = daemon.connect();
    client::ExecRequest monitor = operation("m", "monitor");
    monitor.interval_ms = 100;
    client->waitForResult(client->exec(monitor), kPatience);
    daemon.crash();
  }
  DaemonOptions resume = options();
  resume.extra_args = {"--resume-recurring"};
  TestDaemon again(resume);
  auto client = again.connect();
  const auto info = client->info("m");
  ASSERT_EQ(info.recurring.size(), 1u);
  EXPECT_EQ(info.recurring[0].interval_ms, 100u);
  const int before = std::atoi(readFile(count).c_str());
  EXPECT_TRUE(waitUntil([&] { return std::atoi(readFile(count).c_str()) >= before + 3; })) << "it runs again";
}


TEST_F(State, SigtermDuringAnOpRecordsItsResult) {
  {
    TestDaemon daemon(options());
    auto client = daemon.connect();
    client->registerInstance(registration("s", "ocf:lrmtest:Sleeper", {{"sleep", "2"}, {"state", scratch_.file("s")}}));
    client->exec(operation("s", "start"));
    ASSERT_TRUE(waitUntil([&] { return client->info("s").busy; }));
    EXPECT_EQ(daemon.stop(), 0);  // SIGTERM: the start finishes first
  }
  TestDaemon again(options());
  const auto info = again.connect()->info("s");
  ASSERT_EQ(info.last.size(), 1u);
  EXPECT_EQ(info.last[0].status, ExecStatus::Done);
  EXPECT_EQ(info.last[0].rc, 0);
}



// The journal is compacted while lrmd runs, not only at start: a monitor
// every millisecond appends thousands of records, without a word to any
// client (notify=changes), and the file stays bounded; a restart after a
// kill -9 still has the instance and its last results.
TEST_F(State, TheJournalIsCompactedWhileRunning) {
  const std::string journal = state_.file("journal");
  {
    TestDaemon daemon(options());
    auto client = daemon.connect();
    client->registerInstance(registration("fast", "native:lrm:Dummy", {{"state", scratch_.file("fast")}}));
    client->waitForResult(client->exec(operation("fast", "start")), kPatience);
    client::ExecRequest monitor = operation("fast", "monitor");
    monitor.interval_ms = 1;
    monitor.changes_only = true;
    client->waitForResult(client->exec(monitor), kPatience);
    ASSERT_TRUE(waitUntil([&] { return daemon.log().find("journal compacted") != std::string::npos; },
                          Millis(120000)));
    // 10,000 records of about 200 bytes at most between two snapshots.
    EXPECT_LT(std::filesystem::file_size(journal), 4u * 1024 * 1024);
    daemon.crash();
  }
  TestDaemon again(options());
  const auto info = again.connect()->info("fast");
  ASSERT_EQ(info.last.size(), 2u);
  EXPECT_EQ(info.last.front().action, "start");
  const auto& monitor = info.last.back();
  EXPECT_EQ(monitor.action, "monitor");
  // The monitor runs every millisecond: the kill usually finds one in flight.
  EXPECT_TRUE((monitor.status == ExecStatus::Done && monitor.rc == 0) ||
              (monitor.status == ExecStatus::Error && monitor.exit_reason.find("restarted") != std::string::npos))
      << sdk::toString(monitor.status) << " rc " << monitor.rc << ": " << monitor.exit_reason;
}

// Kill -9 the daemon at random moments while a client registers instances
// and runs operations; after each restart, every registration and result
// the client was told about must be there.
TEST_F(State, CrashLoopLosesNothingAcknowledged) {
  std::mt19937 random(20261125);
  std::set<std::string> registered;
  std::map<std::string, sdk::CallId> results;  // instance → call id of its acknowledged start
  for (int round = 0; round < 8; ++round) {
    TestDaemon daemon(options());
    {
      auto check = daemon.connect("check");
      for (const auto& id : registered) {
        const auto info = check->info(id);  // throws unknown-instance if lost
        if (const auto it = results.find(id); it != results.end()) {
          ASSERT_FALSE(info.last.empty()) << id << " lost its result";
          EXPECT_EQ(info.last.back().call_id, it->second) << id;
          EXPECT_EQ(info.last.back().status, ExecStatus::Done) << id;
        }
      }
    }
    std::atomic<bool> stop{false};
    std::thread worker([&] {
      try {
        auto client = daemon.connect("worker");
        for (int k = 0; !stop; ++k) {
          const std::string id = "r" + std::to_string(round) + "-" + std::to_string(k);
          client->registerInstance(registration(id, "ocf:lrmtest:Fail", {{"rc", "0"}}));
          registered.insert(id);
          const auto event = client->waitForResult(client->exec(operation(id, "start")), kPatience);
          results[id] = event.call_id;
        }
      } catch (const client::Error&) {
        // the daemon was killed under us: expected
      }
    });
    std::this_thread::sleep_for(Millis(std::uniform_int_distribution<int>(30, 300)(random)));
    daemon.crash();
    stop = true;
    worker.join();
  }
  EXPECT_GT(registered.size(), 8u);
  TestDaemon last(options());
  // Registrations the daemon made durable but died before acknowledging may
  // be there too; none that was acknowledged may be missing.
  EXPECT_GE(last.connect()->ping().restored, registered.size());
}

// A second lrmd on the same socket and state directory is refused before it
// reads anything: the running one's journal stays the file it appends to, so
// what it acknowledges afterwards survives a kill -9.
TEST_F(State, ASecondDaemonOnTheSameStateDirectoryIsRefusedAndChangesNothing) {
  TestDaemon first(options());
  auto client = first.connect();
  client->registerInstance(registration("before", "ocf:lrmtest:Fail"));
  const auto second = startAnother(first.socket(), scratch_.file("second.log"));
  EXPECT_EQ(second.exit_code, 1);
  const std::string log = readFile(scratch_.file("second.log"));
  EXPECT_NE(log.find(inUseBy(first.pid())), std::string::npos) << log << second.err;
  client->registerInstance(registration("after", "ocf:lrmtest:Fail", {{"rc", "0"}}));
  EXPECT_EQ(client->waitForResult(client->exec(operation("after", "monitor")), kPatience).rc, 0);
  first.crash();
  TestDaemon again(options());
  auto check = again.connect();
  EXPECT_EQ(check->list().size(), 2u);
  const auto info = check->info("after");
  ASSERT_EQ(info.last.size(), 1u) << "the result acknowledged after the second start was lost";
  EXPECT_EQ(info.last[0].action, "monitor");
}

// On another socket a second lrmd would share the journal: refused too, also
// detached (the refusal is in --log-target and the exit status is 1).
TEST_F(State, ASecondDaemonOnAnotherSocketIsRefusedEvenDetached) {
  TestDaemon first(options());
  for (const bool foreground : {true, false}) {
    const auto log_file = scratch_.file(foreground ? "fg.log" : "bg.log");
    const auto second = startAnother(scratch_.file("other.sock"), log_file, foreground);
    EXPECT_EQ(second.exit_code, 1) << (foreground ? "foreground" : "detached");
    EXPECT_NE(readFile(log_file).find(inUseBy(first.pid())), std::string::npos) << readFile(log_file);
    EXPECT_FALSE(std::filesystem::exists(scratch_.file("other.sock")));
  }
  first.crash();  // kill -9 releases the lock
  TestDaemon again(options());
}

// The lock survives an upgrade in place (same pid, new image): the new image
// holds it, a third lrmd is still refused.
TEST_F(State, TheLockIsHeldAcrossAnUpgradeInPlace) {
  TestDaemon daemon(options());
  auto client = daemon.connect();
  const std::string boot = client->ping().boot_id;
  client->upgrade();
  ASSERT_TRUE(waitUntil([&] {
    try {
      return daemon.connect("probe")->ping().boot_id != boot;
    } catch (const client::Error&) {
      return false;
    }
  }));
  EXPECT_EQ(daemon.log().find("unable to start"), std::string::npos) << daemon.log();
  const auto third = startAnother(scratch_.file("other.sock"), scratch_.file("third.log"));
  EXPECT_EQ(third.exit_code, 1);
  EXPECT_NE(readFile(scratch_.file("third.log")).find(inUseBy(daemon.pid())), std::string::npos)
      << readFile(scratch_.file("third.log"));
}

// A handover file left by an upgrade killed before the new image started is
// removed at the next plain start, and says so.
TEST_F(State, AStaleHandoverFileIsRemovedAtStart) {
  { std::ofstream(state_.file("handover.json")) << "{\"format\":1}"; }
  TestDaemon daemon(options());
  EXPECT_FALSE(std::filesystem::exists(state_.file("handover.json")));
  EXPECT_NE(daemon.log().find("removed a stale handover file " + state_.file("handover.json")), std::string::npos)
      << daemon.log();
}

}  // namespace
}  // namespace lrm::test
