// Persistent state (docs/operations.md): a daemon that dies or stops comes back with
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
#include "lrm/protocol/records.hpp"

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
  for (const auto& last : info.last) {
    EXPECT_EQ(last.id, "web-1");
    EXPECT_EQ(last.name, "web") << "a restored result names its instance as before the restart";
    EXPECT_EQ(last.agent, "ocf:lrmtest:Sleeper");
  }
  EXPECT_FALSE(info.busy);
  EXPECT_TRUE(std::filesystem::exists(resource)) << "the resource was not stopped";
  EXPECT_EQ(std::filesystem::last_write_time(resource), before) << "nor started or probed";
  // Call ids go on after the restored ones.
  const auto call = client->exec(operation("web-1", "monitor"));
  EXPECT_GT(call, info.last[1].call_id);
  EXPECT_EQ(client->waitForResult(call, kPatience).rc, 0);
}

// Every field of one last result against another's, naming the field that differs.
void expectSameResult(const client::Event& before, const client::Event& after) {
  protocol::forEachField(
      [&](const auto& field, const auto& x, const auto& y) {
        EXPECT_TRUE(x == y) << "field '" << field.name << "' of the " << before.action << " result changed";
      },
      before, after);
}

// The instance's last results as `lrmctl --json info` prints them.
std::string lastAsPrinted(const TestDaemon& daemon, const std::string& id) {
  const auto info = runCommand({binary("lrmctl"), "--socket", daemon.socket(), "--json", "info", id});
  EXPECT_EQ(info.exit_code, 0) << info.err;
  const auto start = info.out.find("\"last\":");
  return start == std::string::npos ? std::string() : info.out.substr(start);
}

// After a kill -9 and after a clean stop, the last results are what they
// were, field by field: names, agent, output and exit reason included.
TEST_F(State, LastResultsAreTheSameFieldByFieldAfterARestart) {
  std::vector<client::Event> before;
  std::string printed;
  auto expectUnchanged = [&](const TestDaemon& daemon) {
    const auto after = daemon.connect()->info("web-1").last;
    ASSERT_EQ(after.size(), before.size());
    for (std::size_t k = 0; k < before.size(); ++k) expectSameResult(before[k], after[k]);
    EXPECT_EQ(lastAsPrinted(daemon, "web-1"), printed);
  };
  {
    TestDaemon daemon(options());
    auto client = daemon.connect();
    client::RegisterRequest request = registration("web-1", "ocf:lrmtest:Fail");
    request.name = "web";
    client->registerInstance(request);
    EXPECT_EQ(client->waitForResult(client->exec(operation("web-1", "start", {{"rc", "0"}})), kPatience).rc, 0);
    auto monitor = operation("web-1", "monitor", {{"rc", "0"}});
    monitor.interval_ms = 3600 * 1000;  // its first run now, the next one long after the test
    EXPECT_EQ(client->waitForResult(client->exec(monitor), kPatience).rc, 0);
    const auto failed = client->waitForResult(client->exec(operation("web-1", "reload")), kPatience);
    EXPECT_EQ(failed.rc, 1);
    EXPECT_EQ(failed.exit_reason, "disk /dev/null is not a filesystem");
    EXPECT_NE(failed.output.find("some diagnostic"), std::string::npos) << failed.output;
    before = client->info("web-1").last;
    ASSERT_EQ(before.size(), 3u);
    for (const auto& result : before) {
      EXPECT_EQ(result.name, "web");
      EXPECT_EQ(result.agent, "ocf:lrmtest:Fail");
      EXPECT_FALSE(result.output.empty()) << result.action;
    }
    printed = lastAsPrinted(daemon, "web-1");
    EXPECT_NE(printed.find("\"exit_reason\":\"disk /dev/null is not a filesystem\""), std::string::npos) << printed;
    daemon.crash();
  }
  {
    TestDaemon again(options());
    expectUnchanged(again);
    EXPECT_EQ(again.stop(), 0);
  }
  TestDaemon third(options());
  expectUnchanged(third);
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

TEST_F(State, UnregisteredInstancesStayGoneAndATornTailIsDropped) {
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
  EXPECT_NE(again.log().find("dropped a torn last record"), std::string::npos) << again.log();
  EXPECT_EQ(again.log().find("damaged"), std::string::npos) << "a torn tail is no damage: " << again.log();
  // Lines without a valid checksum are not trusted.
  { std::ofstream(state_.file("journal"), std::ios::app) << "not json at all\n{\"r\":\"unreg\",\"id\":\"keep\"}\n"; }
  EXPECT_EQ(again.stop(), 0);
  TestDaemon third(options());
  EXPECT_EQ(third.connect()->list().size(), 1u);
  EXPECT_NE(third.log().find("skipped 2 damaged record(s)"), std::string::npos) << third.log();
}

// One flipped byte in the middle of a 100-instance journal costs that one
// record: the other 99 come back, the damaged file is kept aside, and the
// log names the line and the instance lost.
TEST_F(State, ADamagedRecordCostsOnlyItselfAndTheDamagedJournalIsKept) {
  {
    TestDaemon daemon(options());
    auto client = daemon.connect();
    for (int k = 0; k < 100; ++k) client->registerInstance(registration("i" + std::to_string(k), "ocf:lrmtest:Fail"));
    EXPECT_EQ(daemon.stop(), 0);
  }
  std::string text = readFile(state_.file("journal"));
  std::size_t line_start = 0;
  for (int line = 1; line < 51; ++line) line_start = text.find('\n', line_start) + 1;
  const auto id_at = text.find("\"id\":\"", line_start);
  ASSERT_NE(id_at, std::string::npos);
  const std::string lost = text.substr(id_at + 6, text.find('"', id_at + 6) - id_at - 6);
  const auto agent_at = text.find("lrmtest", line_start);
  ASSERT_LT(agent_at, text.find('\n', line_start));
  text[agent_at] ^= 0x20;  // 'l' -> 'L'
  { std::ofstream(state_.file("journal"), std::ios::binary | std::ios::trunc) << text; }
  TestDaemon again(options());
  auto client = again.connect();
  EXPECT_EQ(client->list().size(), 99u);
  EXPECT_THROW(client->info(lost), client::Error);
  const std::string log = again.log();
  EXPECT_NE(log.find("line 51 (checksum mismatch): skipped it; lost a 'reg' record of instance '" + lost + "'"),
            std::string::npos)
      << log;
  std::vector<std::string> copies;
  for (const auto& entry : std::filesystem::directory_iterator(state_.path())) {
    if (entry.path().filename().string().rfind("journal.damaged.", 0) == 0) copies.push_back(entry.path().string());
  }
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(readFile(copies[0]), text) << "the copy is the damaged journal as it was";
  EXPECT_NE(log.find("the damaged journal is kept at " + copies[0]), std::string::npos) << log;
  EXPECT_EQ(readFile(state_.file("journal")).find("LRMtest"), std::string::npos) << "rewritten without it";
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

// A full disk, for real: the state directory is a small tmpfs mounted in a
// private mount namespace of the daemon (the host's mounts are untouched);
// the test reaches it through /proc/PID/root.
class FullDisk : public State {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs in a private mount namespace";
  }
  // sh -c SCRIPT: $0 is the state directory, lrmd's argv follows.
  DaemonOptions onTmpfs(const std::string& script) const {
    DaemonOptions result = options();
    result.launcher = {"/usr/bin/unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                       "mount -t tmpfs -o size=256k tmpfs \"$0\" && " + script, state_.path()};
    return result;
  }
  static void fill(const std::string& path) {
    std::ofstream out(path, std::ios::binary);
    const std::string block(4096, 'x');
    while (out.write(block.data(), block.size()) && out.flush()) {
    }
  }
};

// While the journal cannot be written: changes are refused with
// `unavailable`, reads are served, the result of an op that was running is
// held; when space returns it is journaled and delivered, and nothing
// acknowledged is lost across a kill -9.
TEST_F(FullDisk, ChangesAreRefusedReadsServedAndResultsHeldUntilSpaceReturns) {
  TestDaemon daemon(onTmpfs("exec \"$@\""));
  const std::string inside = "/proc/" + std::to_string(daemon.pid()) + "/root" + state_.path();
  auto client = daemon.connect();
  client->registerInstance(registration("slow", "ocf:lrmtest:Sleeper", {{"sleep", "4"}, {"state", scratch_.file("s")}}));
  client->registerInstance(registration("busy", "native:lrm:Dummy", {{"state", scratch_.file("busy")}}));
  const auto call = client->exec(operation("slow", "start"));
  // A silent monitor every 20 ms appends to the journal: once the tmpfs is
  // full and the journal's last page too, a write fails.
  client::ExecRequest monitor = operation("busy", "monitor");
  monitor.interval_ms = 20;
  monitor.changes_only = true;
  client->waitForResult(client->exec(monitor), kPatience);
  fill(inside + "/filler");
  ASSERT_TRUE(waitUntil([&] { return daemon.log().find("refusing changes") != std::string::npos; })) << daemon.log();
  EXPECT_NE(daemon.log().find("unable to write " + state_.path() + "/journal: No space left on device"),
            std::string::npos)
      << daemon.log();
  auto other = daemon.connect("other");
  try {
    other->registerInstance(registration("new", "ocf:lrmtest:Fail"));
    ADD_FAILURE() << "a change was accepted on a full disk";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code(), "unavailable");
    EXPECT_NE(std::string(e.what()).find(state_.path()), std::string::npos) << e.what();
  }
  EXPECT_THROW(other->exec(operation("slow", "monitor")), client::Error);
  EXPECT_EQ(other->list().size(), 2u);  // reads are served
  EXPECT_EQ(other->ping().instances, 2u);
  // The start ends during the outage: its result is not told before it is on disk.
  ASSERT_TRUE(waitUntil([&] { return !other->info("slow").busy; }));
  EXPECT_THROW(client->waitForResult(call, Millis(500)), client::Error) << "told before it was on disk";
  std::filesystem::remove(inside + "/filler");
  EXPECT_EQ(client->waitForResult(call, kPatience).rc, 0);
  EXPECT_NE(daemon.log().find("written again after"), std::string::npos) << daemon.log();
  other->registerInstance(registration("new", "ocf:lrmtest:Fail"));
  EXPECT_FALSE(std::filesystem::exists(inside + "/journal.tmp"));
  // What was acknowledged is on the tmpfs, which dies with the daemon's
  // namespace: keep it where the next daemon will look.
  std::filesystem::copy_file(inside + "/journal", scratch_.file("journal"));
  daemon.crash();
  std::filesystem::copy_file(scratch_.file("journal"), state_.file("journal"));
  TestDaemon again(options());
  auto check = again.connect();
  EXPECT_EQ(check->list().size(), 3u);
  const auto info = check->info("slow");
  ASSERT_EQ(info.last.size(), 1u);
  EXPECT_EQ(info.last[0].call_id, call);
  EXPECT_EQ(info.last[0].status, ExecStatus::Done);
}

// Starting on a full disk: a clear error where the log goes, exit 1, the
// journal as it was and no journal.tmp.
TEST_F(FullDisk, StartingOnAFullDiskFailsClearlyAndLeavesNoTemporaryFile) {
  {
    TestDaemon daemon(options());
    auto client = daemon.connect();
    for (int k = 0; k < 50; ++k) client->registerInstance(registration("i" + std::to_string(k), "ocf:lrmtest:Fail"));
    EXPECT_EQ(daemon.stop(), 0);
  }
  const std::string journal = readFile(state_.file("journal"));
  std::filesystem::copy_file(state_.file("journal"), scratch_.file("journal"));
  const std::string log_file = scratch_.file("full.log");
  // $0: state dir, $1: the journal to start from, then lrmd's argv; $LISTING: where to list the directory afterwards.
  const std::string script =
      "mount -t tmpfs -o size=256k tmpfs \"$0\" && cp \"$1\" \"$0/journal\" && "
      "{ head -c 1M /dev/zero > \"$0/filler\"; shift 1; \"$@\"; status=$?; }; "
      "ls -A \"$0\" > \"$LISTING\"; cp \"$0/journal\" \"$LISTING.journal\"; exit $status";
  const auto result = runCommand(
      {"/usr/bin/unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, state_.path(),
       scratch_.file("journal"), binary("lrmd"), "--foreground", "--socket", scratch_.file("full.sock"),
       "--plugin-dir", LRM_TEST_PLUGIN_DIR, "--state-dir", state_.path(), "--log-target", log_file},
      {{"LRM_OCF_PATH", fixtureOcfPath()}, {"LISTING", scratch_.file("listing")}});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  const std::string log = readFile(log_file);
  EXPECT_NE(log.find("unable to use the state directory: unable to write " + state_.path() +
                     "/journal.tmp: No space left on device"),
            std::string::npos)
      << log;
  const std::string listing = readFile(scratch_.file("listing"));
  EXPECT_EQ(listing.find("journal.tmp"), std::string::npos) << listing;
  EXPECT_EQ(readFile(scratch_.file("listing.journal")), journal) << "the journal was changed";
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
