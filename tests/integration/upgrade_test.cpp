// Upgrade in place (docs/operations.md): lrmd re-executes itself
// with the same pid and hands over the listening socket, the agents in
// flight with their pipes, every queued and recurring operation and the
// clients' sessions. Every operation is reported exactly once, to the client
// that asked and to subscribers, as if nothing had happened.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "daemon.hpp"
#include "wire/wire.hpp"

namespace lrm::test {
namespace {

using sdk::ExecStatus;
using Clock = std::chrono::steady_clock;

class Upgrade : public ::testing::Test {
 protected:
  DaemonOptions options() const {
    DaemonOptions result;
    result.state_dir = state_.path();
    return result;
  }
  // With native:lrmtest:Misbehave, whose "overrun" runs 1.5 s in lrmd's process.
  DaemonOptions withMisbehave() const {
    std::filesystem::copy_file(std::string(LRM_TEST_AGENT_DIR) + "/Misbehave.so", agents_.file("Misbehave.so"),
                               std::filesystem::copy_options::overwrite_existing);
    DaemonOptions result = options();
    result.extra_args = {"--agent-dir", agents_.path()};
    return result;
  }
  // SIGHUP, and wait until the upgrade has begun (it waits for an in-process op).
  static void hangUpAndWaitForTheUpgrade(const TestDaemon& daemon) {
    ASSERT_EQ(::kill(daemon.pid(), SIGHUP), 0);
    ASSERT_TRUE(waitUntil([&] { return daemon.log().find(" requested; ") != std::string::npos; }));
  }
  using Connect = std::function<std::unique_ptr<client::Client>(const std::string& name)>;
  // Ask for an upgrade and wait until the new image answers.
  static void upgradeAndWait(const Connect& connect) {
    auto upgrader = connect("upgrader");
    const std::string boot = upgrader->ping().boot_id;
    upgrader->upgrade();
    ASSERT_TRUE(waitUntil([&] {
      try {
        return connect("probe")->ping().boot_id != boot;
      } catch (const client::Error&) {
        return false;
      }
    }));
  }
  static void upgradeAndWait(const TestDaemon& daemon) {
    upgradeAndWait([&](const std::string& name) { return daemon.connect(name); });
  }
  // Lines of the Sleeper fixture's log that record @p what ("begin start", ...).
  static std::size_t count(const std::string& log, const std::string& what) {
    std::size_t found = 0;
    for (std::size_t at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++found;
    return found;
  }
  TempDir state_;
  TempDir scratch_;
  TempDir agents_;
};

TEST_F(Upgrade, UpgradeInPlaceKeepsPidSocketInstancesAndMonitors) {
  TestDaemon daemon(options());
  const pid_t pid = daemon.pid();
  auto client = daemon.connect();
  const std::string count = scratch_.file("count");
  client->registerInstance(registration("m", "ocf:lrmtest:Counter", {{"count", count}}));
  client->registerInstance(registration("s", "ocf:lrmtest:Sleeper", {{"sleep", "1"}, {"state", scratch_.file("s")}}));
  client::ExecRequest monitor = operation("m", "monitor");
  monitor.interval_ms = 100;
  client->waitForResult(client->exec(monitor), kPatience);
  const auto start = client->exec(operation("s", "start"));
  ASSERT_TRUE(waitUntil([&] { return client->info("s").busy; }));
  const std::string boot = client->ping().boot_id;
  auto upgrader = daemon.connect("upgrader");
  upgrader->upgrade();
  // The start in flight is handed over and reported by the new image.
  const auto result = client->waitForResult(start, kPatience);
  EXPECT_EQ(result.status, sdk::ExecStatus::Done);
  EXPECT_EQ(result.rc, 0);
  // Same process, same socket, new boot: reconnect until the new image serves.
  std::unique_ptr<client::Client> after;
  ASSERT_TRUE(waitUntil([&] {
    try {
      after = daemon.connect("after");
      return after->ping().boot_id != boot;
    } catch (const client::Error&) {
      return false;
    }
  }));
  EXPECT_EQ(daemon.pid(), pid);
  EXPECT_TRUE(daemon.alive());
  EXPECT_EQ(after->ping().restored, 2u);
  EXPECT_EQ(after->info("s").last.back().rc, 0);
  ASSERT_EQ(after->info("m").recurring.size(), 1u) << "the recurring monitor was resumed";
  const int runs = std::atoi(readFile(count).c_str());
  EXPECT_TRUE(waitUntil([&] { return std::atoi(readFile(count).c_str()) >= runs + 3; }));
  EXPECT_NE(daemon.log().find("upgrading: executing"), std::string::npos);
  // The original client rides over the upgrade: it reconnects by itself.
  EXPECT_EQ(client->info("s").last.back().rc, 0);
}

TEST_F(Upgrade, ARequestSentDuringAnUpgradeIsAnsweredByTheNewImage) {
  TestDaemon daemon(options());
  auto client = daemon.connect();
  auto watcher = daemon.connect("watcher");
  watcher->subscribe({});
  client->registerInstance(registration("s", "ocf:lrmtest:Sleeper", {{"sleep", "1"}, {"state", scratch_.file("s")}}));
  const auto start = client->exec(operation("s", "start"));
  ASSERT_TRUE(waitUntil([&] { return client->info("s").busy; }));
  const std::string boot = client->ping().boot_id;
  daemon.connect("upgrader")->upgrade();
  // Sent while lrmd drains: it is answered after the re-exec, exactly once.
  client->registerInstance(registration("later", "ocf:lrmtest:Fail"));
  EXPECT_NE(client->ping().boot_id, boot);
  EXPECT_EQ(client->list().size(), 2u);
  EXPECT_EQ(client->waitForResult(start, kPatience).rc, 0);
  // A subscriber resumes its session when it next talks to lrmd: still
  // subscribed, and the events of the meantime were kept for it.
  EXPECT_EQ(watcher->waitForResult(start, kPatience).rc, 0);
  EXPECT_NE(watcher->ping().boot_id, boot);
  const auto call = client->exec(operation("later", "start", {{"rc", "0"}}));
  EXPECT_EQ(watcher->waitForResult(call, kPatience).rc, 0);
}

TEST_F(Upgrade, UpgradeWithoutAStateDirectoryIsRefused) {
  DaemonOptions none;
  none.state_dir = "none";
  TestDaemon daemon(none);
  try {
    daemon.connect()->upgrade();
    FAIL() << "upgrade without state accepted";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code(), "failed");
    EXPECT_NE(std::string(e.what()).find("state directory"), std::string::npos);
  }
}

// Checked before anything stops: the daemon goes on serving, same image.
TEST_F(Upgrade, AnUpgradeToAFileThatCannotBeExecutedIsRefused) {
  const std::string plain = scratch_.file("not-executable");
  { std::ofstream(plain) << "#!/bin/sh\n"; }
  TestDaemon daemon(options());
  auto client = daemon.connect();
  const std::string boot = client->ping().boot_id;
  try {
    client->upgrade(plain);
    FAIL() << "an upgrade to a file without execute permission accepted";
  } catch (const client::Error& e) {
    EXPECT_EQ(e.code(), "failed");
    EXPECT_NE(std::string(e.what()).find("cannot execute '" + plain + "'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(client->ping().boot_id, boot);
}


TEST_F(Upgrade, AnUpgradeThatCannotExecFallsBackToPersistAndRestart) {
  const std::string bogus = scratch_.file("not-a-binary");
  { std::ofstream(bogus) << "garbage, not an executable format\n"; }
  std::filesystem::permissions(bogus, std::filesystem::perms::owner_all);
  {
    TestDaemon daemon(options());
    auto client = daemon.connect();
    client->registerInstance(registration("kept", "ocf:lrmtest:Fail"));
    client->upgrade(bogus);
    EXPECT_TRUE(waitUntil([&] { return !daemon.alive(); })) << "it exits to be restarted";
    EXPECT_NE(daemon.log().find("falling back to persist-and-restart"), std::string::npos) << daemon.log();
    daemon.crash();  // already gone; forget it
  }
  TestDaemon again(options());
  EXPECT_EQ(again.connect()->info("kept").id, "kept");
}

// The heart of it: an agent in flight is not waited for. The new image is
// serving while the agent still runs, takes its pipes over, and reports its
// result once to the client that asked and once to a subscriber that did
// not say a word during the upgrade.
TEST_F(Upgrade, AnAgentInFlightIsHandedOverNotWaitedFor) {
  TestDaemon daemon(options());
  const pid_t pid = daemon.pid();
  auto client = daemon.connect();
  auto watcher = daemon.connect("watcher");
  watcher->subscribe({});
  const std::string log = scratch_.file("log");
  client->registerInstance(registration(
      "s", "ocf:lrmtest:Sleeper", {{"sleep", "3"}, {"state", scratch_.file("s")}, {"log", log}}));
  const auto start = client->exec(operation("s", "start"));
  ASSERT_TRUE(waitUntil([&] { return count(readFile(log), "begin s start") == 1; }));
  upgradeAndWait(daemon);
  auto after = daemon.connect("after");
  EXPECT_EQ(after->ping().in_flight, 1u) << "the new image serves while the agent runs";
  EXPECT_TRUE(after->info("s").busy);
  EXPECT_EQ(count(readFile(log), "end s start"), 0u);

  const auto result = client->waitForResult(start, kPatience);
  EXPECT_EQ(result.status, ExecStatus::Done);
  EXPECT_EQ(result.rc, 0);
  EXPECT_GE(result.exec_ms, 2500u) << "exec time counts from the real start";
  EXPECT_EQ(watcher->waitForResult(start, kPatience).rc, 0);
  EXPECT_EQ(daemon.pid(), pid);
  const std::string agent_log = readFile(log);
  EXPECT_EQ(count(agent_log, "begin s start"), 1u) << "the agent was not run again";
  EXPECT_EQ(count(agent_log, "end s start"), 1u);
  EXPECT_TRUE(std::filesystem::exists(scratch_.file("s")));
  EXPECT_EQ(after->info("s").last.back().call_id, start);
  EXPECT_NE(daemon.log().find("took over pid"), std::string::npos) << daemon.log();
  // Exactly once: no second copy of the result for either client.
  for (auto* c : {client.get(), watcher.get()}) {
    while (auto event = c->nextEvent(Millis(300))) EXPECT_NE(event->call_id, start) << "reported twice";
  }
}

// Several instances busy, ops queued behind them, a delayed op and recurring
// monitors: after the upgrade every one-shot op is reported exactly once,
// queued ones run after the op ahead of them, and the monitors keep going
// with their call ids.
TEST_F(Upgrade, EveryOperationIsReportedExactlyOnce) {
  TestDaemon daemon(options());
  auto client = daemon.connect();
  auto watcher = daemon.connect("watcher");
  watcher->subscribe({});
  const std::string log = scratch_.file("log");
  std::set<sdk::CallId> one_shot;
  for (const std::string id : {"a", "b", "c"}) {
    client->registerInstance(registration(
        id, "ocf:lrmtest:Sleeper", {{"sleep", "1.5"}, {"state", scratch_.file(id)}, {"log", log}}));
    one_shot.insert(client->exec(operation(id, "start")));
    one_shot.insert(client->exec(operation(id, "monitor")));  // queued behind the start
  }
  client::ExecRequest delayed = operation("a", "stop");
  delayed.start_delay_ms = 500;
  one_shot.insert(client->exec(delayed));
  client->registerInstance(registration("m", "ocf:lrmtest:Counter", {{"count", scratch_.file("count")}}));
  client::ExecRequest monitor = operation("m", "monitor");
  monitor.interval_ms = 200;
  const auto recurring = client->exec(monitor);
  ASSERT_TRUE(waitUntil([&] { return count(readFile(log), "begin") == 3; }));
  upgradeAndWait(daemon);

  std::map<sdk::CallId, int> seen_by_client;
  std::map<sdk::CallId, int> seen_by_watcher;
  int recurring_after = 0;
  auto drain = [&](client::Client& c, std::map<sdk::CallId, int>& seen) {
    while (auto event = c.nextEvent(Millis(100))) {
      if (event->type != "exec") continue;
      ++seen[event->call_id];
      if (&c == client.get() && event->call_id == recurring) ++recurring_after;
    }
  };
  ASSERT_TRUE(waitUntil([&] {
    drain(*client, seen_by_client);
    drain(*watcher, seen_by_watcher);
    return std::all_of(one_shot.begin(), one_shot.end(), [&](sdk::CallId call) {
             return seen_by_client.count(call) && seen_by_watcher.count(call);
           }) && recurring_after >= 3;
  }));
  drain(*client, seen_by_client);
  drain(*watcher, seen_by_watcher);
  for (const auto call : one_shot) {
    EXPECT_EQ(seen_by_client[call], 1) << "call " << call;
    EXPECT_EQ(seen_by_watcher[call], 1) << "call " << call;
  }
  // Never two actions of one instance at once, across the upgrade too.
  const std::string agent_log = readFile(log);
  EXPECT_EQ(count(agent_log, "begin"), count(agent_log, "end"));
  for (const std::string id : {"a", "b", "c"}) {
    EXPECT_EQ(count(agent_log, "begin " + id + " start"), 1u) << id;
    EXPECT_EQ(count(agent_log, "begin " + id + " monitor"), 1u) << id;
  }
  const auto m = client->info("m");
  ASSERT_EQ(m.recurring.size(), 1u);
  EXPECT_EQ(m.recurring.front().call_id, recurring);
}

// A timeout keeps counting across the upgrade: the new image kills the
// handed-over agent when its time is up, not later.
TEST_F(Upgrade, AHandedOverAgentStillTimesOut) {
  TestDaemon daemon(options());
  auto client = daemon.connect();
  const std::string log = scratch_.file("log");
  client->registerInstance(registration(
      "s", "ocf:lrmtest:Sleeper", {{"sleep", "60"}, {"state", scratch_.file("s")}, {"log", log}}));
  client::ExecRequest start = operation("s", "start");
  start.timeout_ms = 3000;
  const auto call = client->exec(start);
  ASSERT_TRUE(waitUntil([&] { return count(readFile(log), "begin s start") == 1; }));
  upgradeAndWait(daemon);
  const auto result = client->waitForResult(call, kPatience);
  EXPECT_EQ(result.status, ExecStatus::Timeout);
  EXPECT_LT(result.exec_ms, 20000u);
  EXPECT_EQ(count(readFile(log), "end s start"), 0u) << "killed, not completed";
}

// A client that does not come back within the resume window loses its
// session as a disconnection would: its drop_recurring monitors end.
TEST_F(Upgrade, ARecurringMonitorOfAClientThatLeftDuringTheUpgradeEndsWithItsSession) {
  DaemonOptions short_window = options();
  short_window.extra_args = {"--resume-window", "2s"};
  TestDaemon daemon(short_window);
  auto owner = daemon.connect("owner");
  auto request = registration("m", "ocf:lrmtest:Counter", {{"count", scratch_.file("count")}});
  request.drop_recurring = true;
  owner->registerInstance(request);
  client::ExecRequest monitor = operation("m", "monitor");
  monitor.interval_ms = 200;
  owner->waitForResult(owner->exec(monitor), kPatience);
  upgradeAndWait(daemon);
  auto other = daemon.connect("other");
  EXPECT_EQ(other->info("m").recurring.size(), 1u) << "kept while its client may still come back";
  owner.reset();  // never resumes: its session ends after the window
  EXPECT_TRUE(waitUntil([&] { return other->info("m").recurring.empty(); }));
  EXPECT_NE(daemon.log().find("did not come back"), std::string::npos);
}

// The new image dies (kill -9) while a handed-over agent runs: the next
// lrmd knows the op was in flight and records it as interrupted.
TEST_F(Upgrade, AHandedOverOpInterruptedByACrashIsRecordedAsAnError) {
  const std::string log = scratch_.file("log");
  sdk::CallId call = 0;
  {
    TestDaemon daemon(options());
    auto client = daemon.connect();
    client->registerInstance(registration(
        "s", "ocf:lrmtest:Sleeper", {{"sleep", "2"}, {"state", scratch_.file("s")}, {"log", log}}));
    call = client->exec(operation("s", "start"));
    ASSERT_TRUE(waitUntil([&] { return count(readFile(log), "begin s start") == 1; }));
    upgradeAndWait(daemon);
    daemon.crash();
  }
  TestDaemon again(options());
  const auto last = again.connect()->info("s").last;
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last.front().call_id, call);
  EXPECT_EQ(last.front().status, ExecStatus::Error);
  EXPECT_NE(last.front().exit_reason.find("restarted"), std::string::npos) << last.front().exit_reason;
  EXPECT_TRUE(waitUntil([&] { return count(readFile(log), "end s start") == 1; })) << "the agent was left to finish";
}

// A daemon that detached itself (no --foreground) re-executes without
// detaching again: same pid, so the agent in flight is still its child.
TEST_F(Upgrade, ADetachedDaemonKeepsItsPidAcrossAnUpgrade) {
  TempDir dir;
  const std::string socket = dir.file("lrmd.sock");
  const auto started = runCommand({binary("lrmd"), "--socket", socket, "--state-dir", state_.path(), "--log-target",
                                   dir.file("lrmd.log"), "--log-level", "debug"});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  auto daemons = [&] {  // processes serving this socket
    std::vector<pid_t> found;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      const std::string name = entry.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      if (readFile(entry.path().string() + "/cmdline").find(socket) != std::string::npos) {
        found.push_back(std::stoi(name));
      }
    }
    return found;
  };
  // Whatever happens below, no daemon outlives the test.
  struct Reaper {
    std::function<std::vector<pid_t>()> find;
    ~Reaper() {
      for (const pid_t pid : find()) ::kill(pid, SIGKILL);
    }
  } reaper{daemons};
  const auto before = daemons();
  ASSERT_EQ(before.size(), 1u);
  const pid_t pid = before.front();
  auto connect = [&](const std::string& name) { return client::Client::connect(socket, name); };
  auto client = connect("test");
  // Delay keeps state under /run/resource-agents by instance id: unique, stopped below.
  const std::string id = "upgrade-detached-" + std::to_string(::getpid());
  auto request = registration(id, "ocf:heartbeat:Delay", {{"startdelay", "2"}, {"stopdelay", "0"}, {"mondelay", "0"}});
  client->registerInstance(request);
  const auto start = client->exec(operation(id, "start"));
  ASSERT_TRUE(waitUntil([&] { return client->info(id).busy; }));
  upgradeAndWait(connect);
  EXPECT_EQ(daemons(), std::vector<pid_t>{pid});
  const auto result = client->waitForResult(start, kPatience);
  EXPECT_EQ(result.status, ExecStatus::Done) << result.exit_reason;
  EXPECT_EQ(result.rc, 0);
  EXPECT_EQ(client->waitForResult(client->exec(operation(id, "stop")), kPatience).rc, 0);
  client.reset();
  ::kill(pid, SIGTERM);
  EXPECT_TRUE(waitUntil([&] { return daemons().empty(); }));
}

// Cancelling works on an op the new image took over: the recurring
// monitor running at the upgrade is killed and reported cancelled.
TEST_F(Upgrade, AHandedOverRecurringOpCanBeCancelled) {
  TestDaemon daemon(options());
  auto client = daemon.connect();
  const std::string log = scratch_.file("log");
  client->registerInstance(registration(
      "s", "ocf:lrmtest:Sleeper", {{"sleep", "30"}, {"state", scratch_.file("s")}, {"log", log}}));
  client::ExecRequest monitor = operation("s", "monitor");
  monitor.interval_ms = 1000;
  const auto call = client->exec(monitor);
  ASSERT_TRUE(waitUntil([&] { return count(readFile(log), "begin s monitor") == 1; }));
  upgradeAndWait(daemon);
  client->cancel("s", "monitor", 1000);
  const auto result = client->waitForResult(call, kPatience);
  EXPECT_EQ(result.status, ExecStatus::Cancelled);
  EXPECT_LT(result.exec_ms, 25000u) << "killed, not waited for";
  EXPECT_TRUE(client->info("s").recurring.empty());
}

// Native agents: one isolated in its own process is handed over like a
// script; one running in lrmd's process cannot be, so the upgrade waits for it.
TEST_F(Upgrade, NativeAgentsAreHandedOverWhenIsolatedAndWaitedForOtherwise) {
  TestDaemon daemon(withMisbehave());
  auto client = daemon.connect();
  client->registerInstance(registration("iso", "native:lrmtest:Misbehave", {{"isolation", "process"}}));
  client->registerInstance(registration("in", "native:lrmtest:Misbehave"));
  client::ExecRequest obey = operation("iso", "obey");  // waits until its deadline
  obey.timeout_ms = 4000;
  const auto isolated = client->exec(obey);
  const auto in_process = client->exec(operation("in", "overrun"));  // 1.5 s
  ASSERT_TRUE(waitUntil([&] { return client->info("iso").busy && client->info("in").busy; }));
  upgradeAndWait(daemon);
  const auto waited = client->waitForResult(in_process, kPatience);
  EXPECT_EQ(waited.status, ExecStatus::Done) << waited.exit_reason;
  EXPECT_EQ(waited.rc, 0);
  const auto handed = client->waitForResult(isolated, kPatience);
  // lrm-agent-host cancels the agent at its deadline (rc 1) unless the new
  // image's timeout kills it first: either way it ran its full 4 s.
  EXPECT_TRUE(handed.status == ExecStatus::Timeout || (handed.status == ExecStatus::Done && handed.rc == 1))
      << sdk::toString(handed.status) << " rc " << handed.rc << ": " << handed.exit_reason;
  EXPECT_GE(handed.exec_ms, 3500u);
  const std::string text = daemon.log();
  EXPECT_NE(text.find("2 operation(s) in flight, 1 of them to wait for"), std::string::npos) << text;
  EXPECT_NE(text.find("took over pid"), std::string::npos) << text;
}

// Files lrmd opened without close-on-exec (the log file, its own command
// line) would stay open in the new image, one more of each at every upgrade.
TEST_F(Upgrade, AnUpgradeLeavesNoDescriptorBehind) {
  TestDaemon daemon(options());
  // Everything but sockets, whose inodes change as clients come and go.
  auto descriptors = [&] {
    std::multiset<std::string> targets;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(daemon.pid()) + "/fd")) {
      std::error_code ec;
      const std::string target = std::filesystem::read_symlink(entry.path(), ec).string();
      if (!ec && target.rfind("socket:", 0) != 0) targets.insert(target);
    }
    return targets;
  };
  upgradeAndWait(daemon);  // the first image was started by the test, not by an upgrade
  const auto before = descriptors();
  for (int i = 0; i < 3; ++i) upgradeAndWait(daemon);
  EXPECT_EQ(descriptors(), before);
}

// A client that waits for events briefly, over and over (as one driven by its
// own event loop does), sees the upgrade's goodbye long before the new image
// answers: it must still resume its session and get the result.
TEST_F(Upgrade, AClientWaitingBrieflyForEventsResumesItsSession) {
  TestDaemon daemon(options());
  auto client = daemon.connect();
  client->registerInstance(registration("s", "ocf:lrmtest:Sleeper", {{"sleep", "1"}, {"state", scratch_.file("s")}}));
  const auto start = client->exec(operation("s", "start"));
  ASSERT_TRUE(waitUntil([&] { return client->info("s").busy; }));
  daemon.connect("upgrader")->upgrade();
  std::optional<client::Event> result;
  const auto until = std::chrono::steady_clock::now() + kPatience;
  while (!result && std::chrono::steady_clock::now() < until) result = client->nextEvent(Millis(1));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->call_id, start);
  EXPECT_EQ(result->status, ExecStatus::Done);
}


// A peer that can no longer be written to (here it shut its reading side,
// so lrmd gets no hang-up event, only EPIPE on send) must not hold up the
// upgrade: its goodbye fails and the drain of the other clients' output went
// on retrying it until its 2 s bound, every client waiting.
TEST_F(Upgrade, APeerThatCannotBeWrittenToDoesNotHoldUpTheUpgrade) {
  TestDaemon daemon(options());
  const int peer = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, daemon.socket().c_str(), sizeof address.sun_path - 1);
  ASSERT_EQ(::connect(peer, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  const std::string hello = "<hello id=\"1\" protocol=\"1\" client=\"deaf\"/>";
  const std::string frame = std::string{0, 0, 0, static_cast<char>(hello.size())} + hello;
  ASSERT_EQ(::send(peer, frame.data(), frame.size(), MSG_NOSIGNAL), static_cast<ssize_t>(frame.size()));
  char reply[512];
  ASSERT_GT(::recv(peer, reply, sizeof reply, 0), 0);  // greeted
  ::shutdown(peer, SHUT_RD);
  upgradeAndWait(daemon);
  ::close(peer);
  // From the request to the exec(): nothing to wait for.
  const std::string text = daemon.log();
  auto msOfDay = [&](const std::string& what) {
    const auto at = text.find(what);
    EXPECT_NE(at, std::string::npos) << what << " not in the log:\n" << text;
    if (at == std::string::npos) return 0;
    const auto line = text.rfind('\n', at) + 1;  // npos + 1 = 0 on the first line
    int hours = 0, minutes = 0;
    double seconds = 0;
    std::sscanf(text.c_str() + line, "%*d-%*d-%*d %d:%d:%lf", &hours, &minutes, &seconds);
    return (hours * 60 + minutes) * 60000 + static_cast<int>(seconds * 1000);
  };
  EXPECT_LT(msOfDay("upgrading: executing") - msOfDay("requested;"), 1000) << text;
}

// A client whose hello reaches lrmd just as an upgrade begins gets the
// upgrade's goodbye instead of a reply: Client::connect says hello again to
// the new image (it threw the library's internal code `upgrading`). A fake
// lrmd plays both images, to meet that moment every time.
TEST_F(Upgrade, AClientConnectingAsAnUpgradeBeginsGreetsTheNewImage) {
  const std::string path = scratch_.file("fake.sock");
  const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  auto nextRequest = [](int fd) {
    wire::FrameReader reader;
    std::string payload, error;
    char buffer[4096];
    while (reader.next(payload) != wire::FrameReader::Status::Frame) {
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) return wire::Message("eof");
      reader.feed(buffer, static_cast<std::size_t>(n));
    }
    return wire::decode(payload, error).value_or(wire::Message("unreadable"));
  };
  auto reply = [](int fd, const wire::Message& message) {
    const std::string bytes = wire::frame(wire::encode(message));
    (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  };
  std::thread lrmd([&] {
    const int old_image = ::accept(listener, nullptr, nullptr);
    EXPECT_EQ(nextRequest(old_image).kind, "hello");
    reply(old_image, wire::Message("goodbye").set("reason", "upgrading: lrmd is being replaced; reconnect and send "
                                                             "the request again"));
    ::close(old_image);
    const int new_image = ::accept(listener, nullptr, nullptr);
    const auto hello = nextRequest(new_image);
    EXPECT_EQ(hello.kind, "hello");
    reply(new_image, wire::Message("reply").set("id", hello.get("id")).set("ok", true).set("protocol", 1)
                         .set("boot_id", "new").set("session", "0123456789abcdef0123456789abcdef"));
    nextRequest(new_image);  // until the client closes
    ::close(new_image);
  });
  try {
    client::Client::connect(path, "test", kPatience);
  } catch (const client::Error& e) {
    ADD_FAILURE() << e.code() << ": " << e.what();
    ::shutdown(listener, SHUT_RDWR);  // the fake lrmd waits no longer
  }
  lrmd.join();
  ::close(listener);
}

// Wait until lrmd has finished every upgrade it started (each "upgrading:
// executing" has its "upgraded in place") and serves again.
bool settled(const TestDaemon& daemon) {
  return waitUntil([&] {
    const std::string text = daemon.log();
    auto lines = [&](const std::string& what) {
      std::size_t found = 0;
      for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++found;
      return found;
    };
    if (lines("upgrading: executing") != lines("upgraded in place")) return false;
    try {
      daemon.connect("probe")->ping();
      return true;
    } catch (const client::Error&) {
      return false;
    }
  });
}

// A result kept for a session that has not resumed yet survives a second
// upgrade: the session is carried again with what was kept for it.
TEST_F(Upgrade, ASecondUpgradeKeepsWhatWasKeptForASessionNotYetBack) {
  TestDaemon daemon(options());
  auto client = daemon.connect();
  const std::string log = scratch_.file("log");
  client->registerInstance(registration(
      "s", "ocf:lrmtest:Sleeper", {{"sleep", "1"}, {"state", scratch_.file("s")}, {"log", log}}));
  const auto start = client->exec(operation("s", "start"));
  ASSERT_TRUE(waitUntil([&] { return count(readFile(log), "begin s start") == 1; }));
  upgradeAndWait(daemon);
  // The result comes while the client has not come back: kept for it.
  auto other = daemon.connect("other");
  ASSERT_TRUE(waitUntil([&] { return !other->info("s").busy; }));
  other.reset();
  upgradeAndWait(daemon);
  const auto result = client->waitForResult(start, kPatience);
  EXPECT_EQ(result.status, ExecStatus::Done);
  EXPECT_EQ(result.rc, 0);
  while (auto event = client->nextEvent(Millis(300))) EXPECT_NE(event->call_id, start) << "reported twice";
}

// A client that does not read while lrmd upgrades: what lrmd could not
// write to it before the exec (a frame torn in the middle included) is kept
// for its session and comes, whole and in order, when it resumes.
TEST_F(Upgrade, WhatASlowReaderHadNotReadIsCarriedOverWhole) {
  TestDaemon daemon(options());
  auto client = daemon.connect();
  std::vector<sdk::CallId> calls;
  for (const std::string id : {"f1", "f2", "f3", "f4"}) {
    client->registerInstance(registration(id, "ocf:lrmtest:Flood", {{"mb", "1"}}));
    calls.push_back(client->exec(operation(id, "start")));
  }
  // Done, and their results (1 MiB each) queued for a client that is not reading.
  auto other = daemon.connect("other");
  ASSERT_TRUE(waitUntil([&] {
    for (const std::string id : {"f1", "f2", "f3", "f4"}) {
      const auto info = other->info(id);
      if (info.busy || info.last.empty()) return false;
    }
    return true;
  }));
  other.reset();
  upgradeAndWait(daemon);
  for (const auto call : calls) {
    const auto result = client->waitForResult(call, kPatience);
    EXPECT_EQ(result.status, ExecStatus::Done) << result.exit_reason;
    EXPECT_GE(result.output.size(), 1024u * 1024u);
  }
  while (auto event = client->nextEvent(Millis(300))) ADD_FAILURE() << "call " << event->call_id << " again";
  EXPECT_EQ(client->ping().instances, 4u);
}

// A SIGHUP during an upgrade is queued: the new image, once up, upgrades
// again. This upgrade lasts while it waits for an in-process native agent.
TEST_F(Upgrade, ASighupDuringAnUpgradeIsQueued) {
  TestDaemon daemon(withMisbehave());
  auto client = daemon.connect();
  client->registerInstance(registration("in", "native:lrmtest:Misbehave"));
  const auto in_process = client->exec(operation("in", "overrun"));  // 1.5 s
  ASSERT_TRUE(waitUntil([&] { return client->info("in").busy; }));
  ASSERT_NO_FATAL_FAILURE(hangUpAndWaitForTheUpgrade(daemon));
  ASSERT_EQ(::kill(daemon.pid(), SIGHUP), 0);
  ASSERT_TRUE(waitUntil([&] { return count(daemon.log(), "upgraded in place") == 2; })) << daemon.log();
  ASSERT_TRUE(settled(daemon));
  const std::string text = daemon.log();
  EXPECT_NE(text.find("SIGHUP during an upgrade: queued"), std::string::npos) << text;
  EXPECT_EQ(count(text, "upgrading: executing"), 2u) << text;
  EXPECT_EQ(client->waitForResult(in_process, kPatience).rc, 0);
  while (auto event = client->nextEvent(Millis(300))) EXPECT_NE(event->call_id, in_process) << "reported twice";
}

// A SIGTERM while the upgrade waits for an in-process op gives the upgrade
// up: the daemon drains as on any SIGTERM, waits for the agent process in
// flight too (which the upgrade would have handed over) and exits.
TEST_F(Upgrade, ASigtermDuringAnUpgradeGivesItUpAndDrains) {
  TestDaemon daemon(withMisbehave());
  auto client = daemon.connect();
  client->registerInstance(
      registration("agent", "ocf:lrmtest:Sleeper", {{"sleep", "3"}, {"state", scratch_.file("agent")}}));
  client->registerInstance(registration("in", "native:lrmtest:Misbehave"));
  const auto with_agent = client->exec(operation("agent", "start"));
  const auto in_process = client->exec(operation("in", "overrun"));  // 1.5 s
  ASSERT_TRUE(waitUntil([&] { return client->info("agent").busy && client->info("in").busy; }));
  ASSERT_NO_FATAL_FAILURE(hangUpAndWaitForTheUpgrade(daemon));
  ASSERT_EQ(::kill(daemon.pid(), SIGTERM), 0);
  EXPECT_EQ(client->waitForResult(in_process, kPatience).rc, 0);
  EXPECT_EQ(client->waitForResult(with_agent, kPatience).status, ExecStatus::Done);
  EXPECT_TRUE(waitUntil([&] { return !daemon.alive(); })) << daemon.log();
  const std::string text = daemon.log();
  EXPECT_NE(text.find("SIGTERM: shutting down (the upgrade is given up); 2 operation(s) in flight"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("upgrading: executing"), std::string::npos) << text;
}

// A package upgrade replaces lrmd's file (renames a new one over it): the
// kernel then names the running one "PATH (deleted)", and SIGHUP runs the
// new file at PATH.
TEST_F(Upgrade, ASighupAfterThePackageReplacedTheBinaryRunsTheNewFile) {
  namespace fs = std::filesystem;
  TempDir install;  // bin/lrmd, and lib/ for the libraries it finds at $ORIGIN/../lib
  fs::create_directory(install.file("bin"));
  fs::create_directory_symlink(fs::path(binary("lrmd")).parent_path().parent_path() / "lib", install.file("lib"));
  const std::string lrmd = install.file("bin/lrmd");
  fs::copy_file(binary("lrmd"), lrmd);
  DaemonOptions installed = options();
  installed.lrmd = lrmd;
  TestDaemon daemon(installed);
  auto client = daemon.connect();
  const std::string boot = client->ping().boot_id;
  fs::copy_file(binary("lrmd"), lrmd + ".new");
  fs::rename(lrmd + ".new", lrmd);
  ASSERT_EQ(::kill(daemon.pid(), SIGHUP), 0);
  EXPECT_TRUE(waitUntil([&] { return count(daemon.log(), "upgraded in place") == 1; })) << daemon.log();
  EXPECT_NE(client->ping().boot_id, boot);
}

// The client library's side of a close without a goodbye, against a
// scripted lrmd: the connection closes after the request was read, in the
// middle of a frame; the library resumes the session, takes the kept event
// and the kept reply to its request, and does not send the request again.
TEST_F(Upgrade, TheClientLibraryTakesTheReplyKeptForItsRequestAndDoesNotSendItAgain) {
  const std::string path = scratch_.file("scripted.sock");
  const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  path.copy(address.sun_path, sizeof address.sun_path - 1);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  std::vector<std::string> received;  // kinds of the requests lrmd read, in order
  std::string resumed_with;
  std::thread lrmd([&] {
    int fd = -1;
    wire::FrameReader reader;
    auto read = [&] {
      std::string payload;
      while (reader.next(payload) != wire::FrameReader::Status::Frame) {
        char buffer[4096];
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) return wire::Message("closed");
        reader.feed(buffer, static_cast<std::size_t>(n));
      }
      std::string error;
      auto message = wire::decode(payload, error).value_or(wire::Message("unreadable"));
      received.push_back(message.kind);
      return message;
    };
    auto write = [&](const std::string& bytes) { ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL); };
    auto reply = [&](const wire::Message& request) {
      wire::Message message("reply");
      message.set("id", request.get("id")).set("ok", true).set("session", "t1").set("call_id", "8");
      return message;
    };
    wire::Message event("event");
    event.set("type", "exec").set("id", "x").set("action", "start").set("call_id", "7").set("status", "done");
    const std::string event_frame = wire::frame(wire::encode(event));
    fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    write(wire::frame(wire::encode(reply(read()))));  // hello
    wire::Message exec = read();
    write(event_frame.substr(0, event_frame.size() / 2));  // torn by the exec()
    ::close(fd);
    fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    reader = wire::FrameReader();
    wire::Message hello = read();
    resumed_with = hello.get("resume");
    write(wire::frame(wire::encode(reply(hello).set("resumed", true).set("kept", "2"))));
    write(event_frame + wire::frame(wire::encode(reply(exec).set("call_id", "7"))));
    write(wire::frame(wire::encode(reply(read()))));  // the next request
    ::close(fd);
  });
  try {
    auto client = client::Client::connect(path, "test", kPatience);
    EXPECT_EQ(client->exec(operation("x", "start")), 7u);
    EXPECT_EQ(client->waitForResult(7, Millis(0)).status, ExecStatus::Done);
    client->ping();
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  ::shutdown(listener, SHUT_RDWR);
  lrmd.join();
  ::close(listener);
  EXPECT_EQ(resumed_with, "t1");
  EXPECT_EQ(received, (std::vector<std::string>{"hello", "exec", "hello", "ping"}));
}

// Issue 11: clients keep submitting one-shot operations while lrmd is
// upgraded over and over: ten SIGHUPs 50 ms apart, then a slower series.
// Steady clients submit short ones (and run a recurring monitor each) and
// read all the time; quiet ones submit a few longer ones (one of them with
// 1 MiB of output), then do not read until two more SIGHUPs have been sent,
// so their results wait in the socket, in the session while it is away, and
// across the next upgrade. Every acknowledged call is reported exactly once
// to the client that submitted it, no call fails, and lrmd serves
// throughout.
TEST_F(Upgrade, RepeatedUpgradesUnderLoadLoseNoResult) {
  TestDaemon daemon(options());
  constexpr int kSteady = 3;
  constexpr int kQuiet = 2;
  constexpr std::size_t kWindow = 6;  // unreported ops of a steady client at a time
  auto name = [](const char* prefix, int i, int j = 0) {
    return prefix + std::to_string(i) + "-" + std::to_string(j);
  };
  {
    auto setup = daemon.connect("setup");
    for (int i = 0; i < kSteady; ++i) {
      for (int j = 0; j < 2; ++j) {
        setup->registerInstance(registration(name("f", i, j), "ocf:lrmtest:Fail", {{"rc", "0"}}));
      }
      setup->registerInstance(
          registration(name("m", i), "ocf:lrmtest:Counter", {{"count", scratch_.file(name("c", i))}}));
    }
    for (int i = 0; i < kQuiet; ++i) {
      setup->registerInstance(registration(name("q", i), "ocf:lrmtest:Sleeper",
                                           {{"sleep", "0.2"}, {"state", scratch_.file(name("q", i))}}));
    }
    setup->registerInstance(registration("flood", "ocf:lrmtest:Flood", {{"mb", "1"}}));
  }
  struct Tally {
    std::set<sdk::CallId> acknowledged;
    std::map<sdk::CallId, int> seen;
    std::string failure;
  };
  std::vector<Tally> tallies(kSteady + kQuiet);
  std::atomic<bool> stop{false};
  std::atomic<int> signals{0};
  std::atomic<int> failures{0};  // clients that stopped on an error: no point waiting for them
  std::atomic<std::size_t> reported{0};
  std::atomic<std::size_t> recurring_reported{0};
  // Reads one event for @p tally; @return false if none came within @p wait.
  auto take = [&](client::Client& client, Tally& tally, Millis wait, sdk::CallId recurring, bool* cancelled) {
    const auto event = client.nextEvent(wait);
    if (!event) return false;
    if (recurring != 0 && event->call_id == recurring) {
      *cancelled = *cancelled || event->status == ExecStatus::Cancelled;
      ++recurring_reported;
    } else if (event->type == "exec" && ++tally.seen[event->call_id] == 1) {
      ++reported;
    }
    return true;
  };
  auto unreported = [](const Tally& tally) {
    return static_cast<std::size_t>(std::count_if(tally.acknowledged.begin(), tally.acknowledged.end(),
                                                  [&](sdk::CallId call) { return !tally.seen.count(call); }));
  };
  std::vector<std::thread> load;
  for (int i = 0; i < kSteady; ++i) {
    load.emplace_back([&, i] {
      Tally& tally = tallies[static_cast<std::size_t>(i)];
      try {
        auto client = daemon.connect(name("steady", i));
        client::ExecRequest monitor = operation(name("m", i), "monitor");
        monitor.interval_ms = 150;
        const auto recurring = client->exec(monitor);
        bool cancelled = false;
        for (int n = 0; !stop; ++n) {
          tally.acknowledged.insert(client->exec(operation(name("f", i, n % 2), "start")));
          while (take(*client, tally, Millis(0), recurring, &cancelled)) {
          }
          while (unreported(tally) >= kWindow && take(*client, tally, Millis(5000), recurring, &cancelled)) {
          }
        }
        client->cancel(name("m", i), "monitor", monitor.interval_ms);
        const auto deadline = Clock::now() + kPatience;
        while ((unreported(tally) > 0 || !cancelled) && Clock::now() < deadline) {
          take(*client, tally, Millis(200), recurring, &cancelled);
        }
        while (take(*client, tally, Millis(300), recurring, &cancelled)) {  // a second copy would come now
        }
      } catch (const std::exception& e) {
        tally.failure = e.what();
        ++failures;
      }
    });
  }
  for (int i = 0; i < kQuiet; ++i) {
    load.emplace_back([&, i] {
      Tally& tally = tallies[static_cast<std::size_t>(kSteady + i)];
      try {
        auto client = daemon.connect(name("quiet", i));
        while (!stop) {
          for (int n = 0; n < 3; ++n) tally.acknowledged.insert(client->exec(operation(name("q", i), "start")));
          if (i == 0) tally.acknowledged.insert(client->exec(operation("flood", "start")));
          const int mark = signals;
          waitUntil([&] { return stop || signals >= mark + 2; });
          const auto deadline = Clock::now() + Millis(5000);  // the rest is counted at the end
          while (unreported(tally) > 0 && Clock::now() < deadline) take(*client, tally, Millis(200), 0, nullptr);
        }
        const auto deadline = Clock::now() + kPatience;
        while (unreported(tally) > 0 && Clock::now() < deadline) take(*client, tally, Millis(200), 0, nullptr);
        while (take(*client, tally, Millis(300), 0, nullptr)) {  // a second copy would come now
        }
      } catch (const std::exception& e) {
        tally.failure = e.what();
        ++failures;
      }
    });
  }
  auto upgrades = [&] { return count(daemon.log(), "upgrading: executing"); };
  auto progress = [&](std::size_t more) {
    const std::size_t target = reported + more;
    return waitUntil([&] { return reported >= target || failures > 0; });
  };
  auto sighup = [&] {
    ::kill(daemon.pid(), SIGHUP);
    ++signals;
  };
  EXPECT_TRUE(progress(20));
  for (int n = 0; n < 10; ++n) {
    sighup();
    std::this_thread::sleep_for(Millis(50));  // the pace of the signals, not a wait for anything
  }
  EXPECT_TRUE(settled(daemon)) << daemon.log();
  EXPECT_TRUE(progress(20));
  for (int n = 0; n < 4; ++n) {
    sighup();
    std::this_thread::sleep_for(Millis(700));  // the pace of the signals
  }
  EXPECT_TRUE(settled(daemon)) << daemon.log();
  const std::size_t recurring_before = recurring_reported;
  EXPECT_TRUE(progress(20));
  EXPECT_TRUE(waitUntil([&] { return recurring_reported >= recurring_before + kSteady || failures > 0; }))
      << "the recurring monitors go on";
  stop = true;
  for (auto& thread : load) thread.join();

  std::size_t acknowledged = 0;
  std::size_t lost = 0;
  std::size_t twice = 0;
  for (const auto& tally : tallies) {
    EXPECT_EQ(tally.failure, "") << "a client call failed";
    acknowledged += tally.acknowledged.size();
    for (const auto call : tally.acknowledged) {
      const auto seen = tally.seen.find(call);
      if (seen == tally.seen.end()) {
        ++lost;
      } else if (seen->second > 1) {
        ++twice;
      }
    }
    for (const auto& [call, times] : tally.seen) EXPECT_TRUE(tally.acknowledged.count(call)) << "call " << call;
  }
  std::cout << "[ upgrades ] " << upgrades() << " upgrades, " << acknowledged << " one-shot ops acknowledged, "
            << lost << " lost, " << twice << " reported more than once, " << recurring_reported
            << " recurring results" << std::endl;
  EXPECT_EQ(lost, 0u);
  EXPECT_EQ(twice, 0u);
  EXPECT_GE(upgrades(), 2u);
  EXPECT_TRUE(daemon.alive());
  EXPECT_NO_THROW(daemon.connect("after")->ping());
}

}  // namespace
}  // namespace lrm::test
